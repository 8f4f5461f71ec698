//! The audit trail of a Docker call names what it mounts: each source,
//! target and `ro`/`rw` in the process span, so every event of the call —
//! a refusal included — says it (and never an env value). A test binary of
//! its own: other tests' events would race this one's subscriber.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_core::conformance::daemon_or_skip;
use exec_core::{ExecOptions, Executor, ExecutorSettings, Mount};
use exec_docker::{DockerExecutor, Pull};
use exec_test_support::daemons;
use std::io::{Read, Seek};
use std::sync::Mutex;

#[test]
fn a_docker_calls_events_name_its_mounts_and_no_env_value() {
    let Some(d) = daemon_or_skip("dockerd", daemons::docker()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let data = root.join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("note.txt"), "note\n").unwrap();
    let outside = tempfile::tempdir().unwrap();
    // The log goes to a file this test reads back.
    let mut log = tempfile::tempfile().unwrap();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(Mutex::new(log.try_clone().unwrap()))
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let exec = DockerExecutor::builder(&d.image)
                .with_host(&d.host)
                .with_network_mode("none")
                .with_pull(Pull::Never)
                .with_mount_root(&root)
                .build(
                    ExecutorSettings::new(format!("test:audit-{}", std::process::id()))
                        .with_default_env_var("PATH", exec_core::conformance::PATH)
                        .with_default_env_var("API_TOKEN", "hunter2-secret"),
                )
                .unwrap();
            let read_only =
                ExecOptions::new().with_mount(Mount::new(&data, "/m").with_read_only(true));
            let process = exec
                .create_process("cat /m/note.txt".into(), read_only)
                .unwrap();
            let out = process.output().await.unwrap();
            assert_eq!(out.stdout, b"note\n");
            let refused = ExecOptions::new().with_mount(Mount::new(outside.path(), "/o"));
            assert!(exec.create_process("true".into(), refused).is_err());
        });
    });
    let mut text = String::new();
    log.rewind().unwrap();
    log.read_to_string(&mut text).unwrap();
    let ran = format!("mounts={:?}:\"/m\":ro", data);
    let start = text
        .lines()
        .find(|l| l.contains(" start") && l.contains(&ran));
    assert!(start.is_some(), "no start event naming the mount:\n{text}");
    let denied = format!("mounts={:?}:\"/o\":rw", outside.path());
    let refusal = text
        .lines()
        .find(|l| l.contains("denied") && l.contains(&denied));
    assert!(
        refusal.is_some(),
        "no denied event naming the mount:\n{text}"
    );
    assert!(!text.contains("hunter2"), "{text}");
}
