//! End to end: executors loaded from a file run host processes with the
//! environment, work dir, whitelist and output encoding the file gives.

#![cfg(feature = "native")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_config::Registry;
use exec_core::{ErrorKind, ExecOptions, Executor};

async fn output_of(executor: &dyn Executor, line: &str) -> String {
    let output = executor
        .create_process(line.into(), ExecOptions::new())
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    output.stdout_lossy()
}

#[tokio::test]
async fn loaded_executors_run_with_the_files_settings() {
    let registry = Registry::from_file("tests/good/executors.yaml", None).unwrap();

    let shell = registry.get("app:shell").unwrap();
    assert_eq!(
        output_of(shell.as_ref(), "env").await,
        "DEBUG=true\nLANG=C.UTF-8\nPATH=/usr/local/bin:/usr/bin:/bin\nPORT=8080\n"
    );

    let restricted = registry.get("app:restricted").unwrap();
    assert_eq!(output_of(restricted.as_ref(), "pwd").await, "/tmp\n");
    assert_eq!(
        output_of(restricted.as_ref(), r#"printf "%s\n" "a b""#).await,
        "a b\n"
    );
    let err = restricted
        .create_process("echo bye".into(), ExecOptions::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);

    let legacy = registry.get("app:legacy").unwrap();
    assert_eq!(
        output_of(legacy.as_ref(), r"printf '\307\321\261\333'").await,
        "한글"
    );
}
