//! Refused handshakes with a Docker daemon over TLS: each refused, with a
//! message that says what was expected and what was found. The server-side
//! faults come from fake TLS servers presenting certificates made here;
//! the client-side ones from the real daemon `cargo xtask test-all` runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_core::conformance::daemon_or_skip;
use exec_core::{ExecutorSettings, report};
use exec_docker::{DockerExecutor, Pull};
use exec_test_support::daemons;
use exec_test_support::outcomes::{self, assert_refused};
use exec_test_support::tls::{Authority, EXPIRED, Identity, NOT_YET, NOW, Server, Versions};
use std::path::Path;
use std::time::Duration;

/// What the fake daemon answers once a handshake got through.
const ANSWER: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n\
Content-Length: 26\r\nConnection: close\r\n\r\n{\"message\":\"fake daemon\"}\n";

/// The error `start` gives on a daemon at `address` trusting `ca`, with
/// the client certificate `client`.
async fn start_error(address: &str, ca: &Path, client: &Identity) -> exec_core::Error {
    let executor = DockerExecutor::builder("busybox")
        .with_host(format!("tcp://{address}"))
        .with_tls_ca(ca)
        .with_tls_cert(&client.cert_file)
        .with_tls_key(&client.key_file)
        .with_pull(Pull::Never)
        .build(ExecutorSettings::new("tls:test"))
        .unwrap();
    outcomes::start_error(&executor, Duration::from_secs(30)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_certificates_other_than_tls_ca_signed_valid_ones_are_refused_saying_why() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new(dir.path(), "exec test ca");
    let other_ca = Authority::new(dir.path(), "exec test other ca");
    let client = ca.issue(dir.path(), "client", &[], NOW);
    let ca_file = ca.identity.cert_file.display().to_string();
    let cases = [
        (
            "another CA's certificate for the right address",
            other_ca.issue(dir.path(), "other", &["127.0.0.1"], NOW),
            vec![
                "UnknownIssuer",
                "signed by tls_ca",
                &ca_file,
                "issued by \"CN=exec test other ca\"",
            ],
        ),
        (
            "an expired certificate",
            ca.issue(dir.path(), "expired", &["127.0.0.1"], EXPIRED),
            vec![
                "expired",
                "valid from 2015-01-01 00:00:00 UTC to 2020-01-01 00:00:00 UTC",
            ],
        ),
        (
            "a certificate not valid yet",
            ca.issue(dir.path(), "not-yet", &["127.0.0.1"], NOT_YET),
            vec!["not valid yet", "valid from 2090-01-01 00:00:00 UTC"],
        ),
        (
            "a certificate for another name",
            ca.issue(dir.path(), "elsewhere", &["daemon.example"], NOW),
            vec!["not valid for name", "127.0.0.1", "daemon.example"],
        ),
    ];
    for (what, identity, words) in cases {
        let server = Server::start(&identity, &[], Versions::Both, None, ANSWER).await;
        let error = start_error(&server.address.to_string(), &ca.identity.cert_file, &client).await;
        let mut words = words;
        words.push("expected a certificate for 127.0.0.1");
        assert_refused(&error, &words);
        eprintln!("{what}: {}", report(&error));
    }

    // The control: a valid certificate of that CA gets through to the
    // fake daemon's answer.
    let valid = ca.issue(dir.path(), "valid", &["127.0.0.1"], NOW);
    let server = Server::start(&valid, &[], Versions::Both, None, ANSWER).await;
    let error = start_error(&server.address.to_string(), &ca.identity.cert_file, &client).await;
    assert!(report(&error).contains("fake daemon"), "{}", report(&error));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_speaks_only_tls_1_2_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new(dir.path(), "exec test ca");
    let client = ca.issue(dir.path(), "client", &[], NOW);
    let valid = ca.issue(dir.path(), "valid", &["127.0.0.1"], NOW);
    let server = Server::start(&valid, &[], Versions::Tls12Only, None, ANSWER).await;
    let error = start_error(&server.address.to_string(), &ca.identity.cert_file, &client).await;
    assert_refused(
        &error,
        &["does not speak TLS 1.3", &server.address.to_string()],
    );
}

/// bollard's own TLS added the system's roots to `tls_ca`: a certificate
/// any CA the system trusts issued for the daemon's address was accepted.
/// The parent runs this test's body again in a child process whose system
/// store (`SSL_CERT_FILE`) holds the other CA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ca_the_system_trusts_is_not_trusted_in_place_of_tls_ca() {
    const CHILD: &str = "EXEC_TEST_SYSTEM_ROOTS_CHILD";
    if let Ok(dir) = std::env::var(CHILD) {
        let dir = Path::new(&dir);
        let server_cert = Identity::load(dir, "system-issued");
        let server = Server::start(&server_cert, &[], Versions::Both, None, ANSWER).await;
        let client = Identity::load(dir, "client");
        let error = start_error(
            &server.address.to_string(),
            &dir.join("exec test ca.crt"),
            &client,
        )
        .await;
        assert_refused(
            &error,
            &["UnknownIssuer", "issued by \"CN=exec test system ca\""],
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ca = Authority::new(dir.path(), "exec test ca");
    let system_ca = Authority::new(dir.path(), "exec test system ca");
    ca.issue(dir.path(), "client", &[], NOW);
    system_ca.issue(dir.path(), "system-issued", &["127.0.0.1"], NOW);
    let child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_ca_the_system_trusts_is_not_trusted_in_place_of_tls_ca",
            "--nocapture",
        ])
        .env(CHILD, dir.path())
        .env("SSL_CERT_FILE", &system_ca.identity.cert_file)
        .output()
        .unwrap();
    assert!(
        child.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&child.stdout),
        String::from_utf8_lossy(&child.stderr)
    );
}

/// The real daemon (`--tlsverify`) refuses a client certificate another CA
/// signed; the message names the certificate presented.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_client_certificate_is_refused_naming_it() {
    let Some(t) = daemon_or_skip("dockerd (TLS)", daemons::docker_tls()) else {
        return;
    };
    let executor = DockerExecutor::builder(&t.image)
        .with_host(&t.host)
        .with_tls_ca(t.file("ca.pem"))
        .with_tls_cert(t.file("wrong-cert.pem"))
        .with_tls_key(t.file("wrong-key.pem"))
        .with_pull(Pull::Never)
        .build(ExecutorSettings::new("tls:stranger"))
        .unwrap();
    let error = outcomes::start_error(&executor, Duration::from_secs(30)).await;
    let cert = t.file("wrong-cert.pem").display().to_string();
    assert_refused(
        &error,
        &[
            "refused the client certificate",
            &cert,
            "issued by \"CN=exec test wrong-ca\"",
            "expects one signed by a CA it trusts",
        ],
    );
}
