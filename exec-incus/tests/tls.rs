//! Refused handshakes with an Incus daemon over HTTPS: each refused, with
//! a message that says what was expected and what was found. The server
//! side comes from fake TLS servers presenting certificates made here (the
//! untrusted client certificate, from the real daemon, is in incus.rs).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_core::{ErrorKind, ExecutorSettings, report};
use exec_incus::IncusBuilder;
use exec_test_support::outcomes::{self, assert_refused};
use exec_test_support::tls::{EXPIRED, Identity, NOT_YET, NOW, Server, Versions, self_signed};
use std::time::Duration;

/// What the fake daemon answers once a handshake got through.
const ANSWER: &[u8] = b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n\
Content-Length: 48\r\nConnection: close\r\n\r\n{\"type\":\"error\",\"error\":\"fake daemon\",\"code\":1}";

/// The error `start` gives against `server`, the certificate `pin` pinned.
async fn start_error(server: &Server, pin: &Identity, client: &Identity) -> exec_core::Error {
    let executor = IncusBuilder::new("c1")
        .with_host(format!("https://{}", server.address))
        .with_server_cert(&pin.cert_file)
        .with_client_cert(&client.cert_file, &client.key_file)
        .build(ExecutorSettings::new("tls:test"))
        .unwrap();
    outcomes::start_error(&executor, Duration::from_secs(30)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_pinned_certificate_within_its_dates_over_tls_1_3_is_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let client = self_signed(dir.path(), "client", &[], NOW);
    let pinned = self_signed(dir.path(), "pinned", &["127.0.0.1"], NOW);
    let pinned_fingerprint = exec_incus::fingerprint(&pinned.der);

    // Another certificate, valid for the address and dates: not the pin.
    let other = self_signed(dir.path(), "other", &["127.0.0.1"], NOW);
    let server = Server::start(&other, &[], Versions::Both, None, ANSWER).await;
    let error = start_error(&server, &pinned, &client).await;
    assert_refused(
        &error,
        &[
            &pinned_fingerprint,
            &exec_incus::fingerprint(&other.der),
            "pinned",
        ],
    );

    // The pinned certificate itself, expired or not valid yet.
    for (years, words) in [
        (
            EXPIRED,
            "valid from 2015-01-01 00:00:00 UTC to 2020-01-01 00:00:00 UTC",
        ),
        (
            NOT_YET,
            "valid from 2090-01-01 00:00:00 UTC to 2095-01-01 00:00:00 UTC",
        ),
    ] {
        let dated = self_signed(dir.path(), "dated", &["127.0.0.1"], years);
        let server = Server::start(&dated, &[], Versions::Both, None, ANSWER).await;
        let error = start_error(&server, &dated, &client).await;
        assert_refused(
            &error,
            &[
                words,
                "not valid now",
                &exec_incus::fingerprint(&dated.der),
                "and it is 20",
            ],
        );
    }

    // The pinned, valid certificate, from a server that speaks only TLS 1.2.
    let server = Server::start(&pinned, &[], Versions::Tls12Only, None, ANSWER).await;
    let error = start_error(&server, &pinned, &client).await;
    assert_refused(
        &error,
        &["does not speak TLS 1.3", &server.address.to_string()],
    );

    // The control: the pinned, valid certificate over TLS 1.3 gets through
    // to the fake daemon's answer.
    let server = Server::start(&pinned, &[], Versions::Both, None, ANSWER).await;
    let error = start_error(&server, &pinned, &client).await;
    assert!(report(&error).contains("fake daemon"), "{}", report(&error));
}

#[test]
fn a_remote_host_without_a_pin_is_a_load_error_saying_what_is_needed() {
    let error = IncusBuilder::new("c1")
        .with_host("https://127.0.0.1:8443")
        .build(ExecutorSettings::new("tls:no-pin"))
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Invalid, "{error}");
    let text = error.to_string();
    for word in [
        "server_cert",
        "server_fingerprint",
        "needs its certificate pinned",
    ] {
        assert!(text.contains(word), "{word:?} missing from: {text}");
    }
}
