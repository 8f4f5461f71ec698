//! `exec.incus` entries: every field checked at load, each bad form a load
//! error that names the entry and the field. Nothing here talks to a daemon.

#![cfg(feature = "incus")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_config::Registry;
use exec_core::{ErrorKind, report};
use std::path::Path;

const CERT: &str = "tests/incus/client.crt";
const KEY: &str = "tests/incus/client.key";
const FINGERPRINT: &str = "3D:6F:04:F3:B4:B2:11:38:FD:E3:33:D9:48:2B:D1:FD:F7:C3:8B:D6:31:A3:22:90:8F:5C:AE:B0:E4:C0:4B:83";

fn load(fields: &str) -> Result<Registry, exec_config::ConfigError> {
    let yaml = format!("- name: box\n  kind: exec.incus\n{fields}");
    Registry::from_yaml(&yaml, Path::new("incus.yaml"), Some("app"))
}

/// The whole message of a load that must fail, with its chain.
fn refused(fields: &str) -> (String, ErrorKind) {
    let err = load(fields).expect_err(fields);
    assert!(err.location().is_some(), "{err}");
    (report(&err), err.kind())
}

#[test]
fn good_entries_load_without_a_daemon() {
    for fields in [
        "  instance: c1\n".to_owned(),
        "  instance: c1\n  host: unix:///var/lib/incus/unix.socket\n  project: staging\n  user: 1000\n  group: 1000\n".to_owned(),
        "  instance: c1\n  host: /run/incus/unix.socket\n".to_owned(),
        format!("  instance: c1\n  host: https://127.0.0.1:8443\n  server_cert: {CERT}\n  client_cert: {CERT}\n  client_key: {KEY}\n"),
        format!("  instance: c1\n  host: https://incus.example.org:8443\n  server_fingerprint: \"{FINGERPRINT}\"\n  client_cert: {CERT}\n  client_key: {KEY}\n"),
        format!("  instance: c1\n  host: https://[::1]:8443\n  server_fingerprint: {}\n  client_cert: {CERT}\n  client_key: {KEY}\n", FINGERPRINT.replace(':', "").to_lowercase()),
    ] {
        let registry = load(&fields).unwrap_or_else(|e| panic!("{fields}: {}", report(&e)));
        assert_eq!(registry.get("app:box").unwrap().id(), "app:box");
    }
}

#[test]
fn each_bad_field_is_a_load_error_naming_it() {
    let https = "  instance: c1\n  host: https://127.0.0.1:8443\n";
    let cases: Vec<(String, &str, &str)> = vec![
        ("  host: /x\n".to_owned(), "missing field \"instance\"", ""),
        (
            "  instance: \"\"\n".to_owned(),
            "invalid instance",
            "is not an Incus instance name",
        ),
        (
            "  instance: a/b\n".to_owned(),
            "invalid instance",
            "\"a/b\"",
        ),
        (
            "  instance: c1\n  project: \"x y\"\n".to_owned(),
            "invalid project",
            "\"x y\"",
        ),
        (
            "  instnce: c1\n".to_owned(),
            "unknown field \"instnce\"",
            "did you mean \"instance\"",
        ),
        (
            "  instance: c1\n  user: -1\n".to_owned(),
            "field \"user\"",
            "expected u32",
        ),
        (
            "  instance: c1\n  group: root\n".to_owned(),
            "field \"group\"",
            "invalid type",
        ),
        (
            "  instance: c1\n  host: http://127.0.0.1:8443\n".to_owned(),
            "invalid host",
            "plain HTTP",
        ),
        (
            "  instance: c1\n  host: ftp://x\n".to_owned(),
            "invalid host",
            "neither a unix socket",
        ),
        (
            "  instance: c1\n  host: relative/unix.socket\n".to_owned(),
            "invalid host",
            "neither a unix socket",
        ),
        (
            "  instance: c1\n  host: https://h:0\n".to_owned(),
            "invalid host",
            "not a port number",
        ),
        (
            "  instance: c1\n  host: https://h:8443/1.0\n".to_owned(),
            "invalid host",
            "no path",
        ),
        (
            https.to_owned(),
            "invalid server_cert",
            "needs its certificate pinned",
        ),
        (
            format!("{https}  server_cert: {CERT}\n"),
            "invalid client_cert",
            "needs a client certificate",
        ),
        (
            format!(
                "{https}  server_cert: {CERT}\n  server_fingerprint: \"{FINGERPRINT}\"\n  client_cert: {CERT}\n  client_key: {KEY}\n"
            ),
            "invalid server_fingerprint",
            "not both",
        ),
        (
            format!(
                "{https}  server_fingerprint: abc\n  client_cert: {CERT}\n  client_key: {KEY}\n"
            ),
            "invalid server_fingerprint",
            "64 hex digits",
        ),
        (
            format!("{https}  server_fingerprint: \"{FINGERPRINT}\"\n  client_cert: {CERT}\n"),
            "invalid client_key",
            "without its key",
        ),
        (
            format!("{https}  server_fingerprint: \"{FINGERPRINT}\"\n  client_key: {KEY}\n"),
            "invalid client_cert",
            "without its certificate",
        ),
        (
            format!(
                "{https}  server_cert: tests/incus/absent.crt\n  client_cert: {CERT}\n  client_key: {KEY}\n"
            ),
            "invalid server_cert",
            "tests/incus/absent.crt\" cannot be read",
        ),
        (
            format!(
                "{https}  server_cert: tests/incus/not-pem.txt\n  client_cert: {CERT}\n  client_key: {KEY}\n"
            ),
            "invalid server_cert",
            "holds no PEM certificate",
        ),
        (
            format!(
                "{https}  server_cert: {CERT}\n  client_cert: tests/incus/not-pem.txt\n  client_key: {KEY}\n"
            ),
            "invalid client_cert",
            "holds no PEM certificate",
        ),
        (
            format!("{https}  server_cert: {CERT}\n  client_cert: {CERT}\n  client_key: {CERT}\n"),
            "invalid client_key",
            "holds no PEM private key",
        ),
        (
            format!("  instance: c1\n  client_cert: {CERT}\n  client_key: {KEY}\n"),
            "invalid client_cert",
            "only used with an https:// host",
        ),
        (
            format!(
                "  instance: c1\n  host: unix:///x.socket\n  server_fingerprint: \"{FINGERPRINT}\"\n"
            ),
            "invalid server_fingerprint",
            "only used with an https:// host",
        ),
        (
            "  instance: c1\n  default_env: { \"A=B\": x }\n".to_owned(),
            "default_env",
            "",
        ),
    ];
    for (fields, field, detail) in cases {
        let (message, kind) = refused(&fields);
        assert!(message.starts_with("incus.yaml:"), "{message}");
        assert!(message.contains("entry app:box"), "{message}");
        assert!(
            message.contains(field),
            "{fields}: {message} (wanted {field})"
        );
        assert!(
            message.contains(detail),
            "{fields}: {message} (wanted {detail})"
        );
        assert_eq!(kind, ErrorKind::Invalid, "{message}");
    }
}
