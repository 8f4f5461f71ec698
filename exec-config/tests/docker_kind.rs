//! `exec.docker` entries: every field maps, every bad form is a load error
//! naming the file, line, entry and field. No daemon is needed to load.

#![cfg(feature = "docker")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_config::Registry;
use exec_core::ErrorKind;
use std::path::Path;

const GOOD: &str = r#"
namespace: app
entries:
  - name: sandbox
    kind: exec.docker
    image: busybox:1.36
    host: unix:///var/run/docker.sock
    default_work_dir: /work
    default_env: { PATH: /bin }
    command_whitelist: ["echo *"]
    env_allow: [TENANT]
    network_mode: none
    volumes: ["/srv/data:/data:ro", "cache:/cache"]
    user: "1000:1000"
    memory_limit: 67108864
    cpu_quota: 50000
    auto_remove: true
    read_only_rootfs: true
    no_new_privileges: true
    cap_drop: [ALL]
    cap_add: [NET_BIND_SERVICE]
    pids_limit: 64
    tmpfs: { /tmp: "rw,size=16m" }
    labels: { team: infra }
    labels_from_env: { tenant: TENANT }
    init: true
    pull: never
    mount_roots: [/srv/shared]
"#;

#[test]
fn a_full_docker_entry_loads_without_a_daemon() {
    let registry = Registry::from_yaml(GOOD, Path::new("docker.yaml"), None).unwrap();
    let sandbox = registry.get("app:sandbox").unwrap();
    let caps = sandbox.capabilities();
    assert!(caps.signals && caps.oom_killed && caps.mounts && !caps.host_pid);
}

#[test]
fn bad_docker_fields_name_the_entry_and_field() {
    let cases = [
        ("", "invalid image: an exec.docker entry needs the image"),
        ("image: \"\"", "invalid image: it is empty"),
        (
            "image: b\n    network_mode: \"wi fi\"",
            "invalid network_mode",
        ),
        (
            "image: b\n    volumes: [\"/a\"]",
            "invalid volumes: \"/a\" is not two or three parts",
        ),
        (
            "image: b\n    memory_limit: 1000",
            "invalid memory_limit: 1000 bytes is below",
        ),
        ("image: b\n    memory_limit: -1", "memory_limit"),
        ("image: b\n    cpu_quota: 5", "invalid cpu_quota"),
        ("image: b\n    cap_drop: [net_raw]", "invalid cap_drop"),
        ("image: b\n    tmpfs: { tmp: rw }", "invalid tmpfs"),
        (
            "image: b\n    pull: sometimes",
            "invalid pull: \"sometimes\" is not a pull policy (never, missing, always)",
        ),
        ("image: b\n    host: ftp://x", "invalid host"),
        (
            "image: b\n    host: tcp://h:2376\n    tls_ca: /nonexistent/ca.pem",
            "tls_ca, tls_cert and tls_key go together",
        ),
        (
            "image: b\n    tls_ca: /nonexistent/ca.pem\n    tls_cert: /nonexistent/c.pem\n    tls_key: /nonexistent/k.pem",
            "invalid tls_ca: cannot read /nonexistent/ca.pem",
        ),
        (
            "image: b\n    labels: { exec.owner.pid: \"1\" }",
            "exec-docker's own",
        ),
        (
            "image: b\n    command_whitelist: [ls]\n    labels_from_env: { tenant: TENANT }",
            "add TENANT to env_allow",
        ),
        ("image: b\n    mount_roots: [srv]", "invalid mount_roots"),
        (
            "image: b\n    imgae: c",
            "unknown field \"imgae\"; did you mean \"image\"?",
        ),
        ("image: [b]", "field \"image\": invalid type"),
        (
            "image: b\n    read_only_rootfs: yes-please",
            "read_only_rootfs",
        ),
    ];
    for (fields, expected) in cases {
        let yaml = format!(
            "namespace: app\nentries:\n  - name: box\n    kind: exec.docker\n    {fields}\n"
        );
        let err = Registry::from_yaml(&yaml, Path::new("docker.yaml"), None)
            .err()
            .unwrap_or_else(|| panic!("{fields:?} loaded"));
        let message = exec_core::report(&err);
        assert!(message.starts_with("docker.yaml:"), "{message}");
        assert!(message.contains("entry app:box"), "{message}");
        assert!(
            message.contains(expected),
            "{fields:?}: {message}\n(expected {expected:?})"
        );
        assert_eq!(err.kind(), ErrorKind::Invalid, "{message}");
    }
}
