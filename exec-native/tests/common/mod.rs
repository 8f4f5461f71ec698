//! Helpers shared by the native backend's tests.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use exec_core::{ExecOptions, Executor, ExecutorSettings, Process};
use exec_native::NativeExecutor;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

pub const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

pub fn executor(name: &str) -> NativeExecutor {
    NativeExecutor::new(
        ExecutorSettings::new(format!("test:{name}")).with_default_env_var("PATH", PATH),
    )
}

/// Starts `sh -c '<background> & echo $!; <rest>'` and returns the process and the
/// background grandchild's pid.
pub async fn with_grandchild(
    executor: &dyn Executor,
    rest: &str,
    options: ExecOptions,
) -> (Box<dyn Process>, i32) {
    let line = format!("sh -c 'sleep 300 & echo $!; {rest}'");
    let process = executor
        .create_process(line.as_str().into(), options)
        .unwrap();
    let stdout = process.take_stdout().unwrap();
    process.start().await.unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let pid = lines
        .next_line()
        .await
        .unwrap()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Keep draining so the pipe never blocks the child.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    assert!(is_alive(pid), "the grandchild {pid} should be running");
    (process, pid)
}

pub use exec_test_support::procfs::is_alive;

/// Waits up to 5 s for `pid` to die.
pub async fn assert_dies(pid: i32, what: &str) {
    assert!(
        exec_test_support::procfs::ends_within_async(pid, Duration::from_secs(5)).await,
        "grandchild {pid} still alive after {what}"
    );
}
