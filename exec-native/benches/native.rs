//! exec-native beside its baseline, raw `tokio::process`, in one run.
//!
//! Each figure alternates the two sides run by run (so machine noise hits both
//! alike) and prints the medians and their ratio. Run with `cargo xtask bench`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exec_core::conformance::bench::{figure, header};

use exec_core::{ExecOptions, Executor, ExecutorSettings};
use exec_native::NativeExecutor;
use tokio::io::AsyncReadExt;

const BIG: usize = 64 * 1024 * 1024;

async fn native_true(exec: &NativeExecutor) {
    let process = exec.create_process("true", ExecOptions::new()).unwrap();
    process.start().await.unwrap();
    assert!(process.wait().await.unwrap().success());
    process.close(false).await.unwrap();
}

async fn tokio_true() {
    let status = tokio::process::Command::new("/bin/true")
        .env_clear()
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .status()
        .await
        .unwrap();
    assert!(status.success());
}

async fn native_big(exec: &NativeExecutor) {
    let process = exec
        .create_process(&format!("head -c {BIG} /dev/zero"), ExecOptions::new())
        .unwrap();
    let mut stdout = process.take_stdout().unwrap();
    process.start().await.unwrap();
    let mut bytes = Vec::with_capacity(BIG);
    stdout.read_to_end(&mut bytes).await.unwrap();
    assert_eq!(bytes.len(), BIG);
    assert!(process.wait().await.unwrap().success());
}

async fn tokio_big() {
    let mut child = tokio::process::Command::new("/usr/bin/head")
        .args(["-c", &BIG.to_string(), "/dev/zero"])
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut bytes = Vec::with_capacity(BIG);
    stdout.read_to_end(&mut bytes).await.unwrap();
    assert_eq!(bytes.len(), BIG);
    assert!(child.wait().await.unwrap().success());
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let exec = NativeExecutor::new(
        ExecutorSettings::new("bench:native").default_env_var("PATH", "/usr/bin:/bin"),
    );
    println!(
        "medians; baseline = tokio::process with the same pipes; ratio = exec-native / baseline"
    );
    header("exec-native");
    figure(
        "spawn + wait `true` (500 runs)",
        500,
        || native_true(&exec),
        tokio_true,
    )
    .await;
    figure(
        "64 MiB of stdout (15 runs)",
        15,
        || native_big(&exec),
        tokio_big,
    )
    .await;
}
