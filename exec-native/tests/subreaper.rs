//! `become_subreaper` and `kill_and_reap_all`: what leaves a child's process
//! group comes back to us and is killed and reaped. One test in its own
//! binary: being a subreaper is a setting of the whole process, and the
//! reaper takes every child exec-native did not start.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::with_grandchild;
use exec_core::ExecOptions;
use exec_test_support::procfs::{processes, stat};
use std::time::{Duration, Instant};

/// The children of this process, as `(pid, state)`.
fn children() -> Vec<(i32, char)> {
    let me = i32::try_from(std::process::id()).unwrap();
    processes()
        .into_iter()
        .filter(|s| s.ppid == me)
        .map(|s| (s.pid, s.state))
        .collect()
}

/// Waits up to 5 s for `pid` to be gone altogether: dead and reaped.
async fn assert_reaped(pid: i32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while stat(pid).is_some() {
        assert!(
            Instant::now() < deadline,
            "{what} {pid} is still there: {:?}",
            stat(pid)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subreaper_kills_and_reaps_what_escapes_the_group_and_kill_and_reap_all_leaves_no_child()
{
    exec_native::become_subreaper().unwrap();
    exec_native::become_subreaper().unwrap(); // twice is fine
    let exec = common::executor("subreaper");

    // A background child that leaves the group: close() cannot reach it, but
    // once its parent is killed it comes to us, and the reaper takes it.
    let (process, escapee) = {
        // The pid is printed once the new session is made.
        let line = r#"sh -c 'setsid sh -c "echo \$\$; exec sleep 300" & wait'"#;
        let process =
            exec_core::Executor::create_process(&exec, line.into(), ExecOptions::new()).unwrap();
        let mut stdout = process.take_stdout().unwrap();
        process.start().await.unwrap();
        let mut text = String::new();
        while !text.ends_with('\n') {
            let mut buf = [0u8; 64];
            let n = tokio::io::AsyncReadExt::read(&mut stdout, &mut buf)
                .await
                .unwrap();
            assert!(n > 0, "no pid from the command");
            text.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        (process, text.trim().parse::<i32>().unwrap())
    };
    assert!(common::is_alive(escapee));
    process.close(true).await.unwrap();
    assert_reaped(escapee, "the setsid escapee").await;

    // At the end: everything still running is killed, and every child reaped.
    let (running, grandchild) = with_grandchild(&exec, "wait", ExecOptions::new()).await;
    let left = exec_native::kill_and_reap_all(Duration::from_secs(5)).await;
    assert_eq!(left, Vec::<u32>::new());
    assert_eq!(children(), [], "children left after kill_and_reap_all");
    assert_reaped(grandchild, "the grandchild").await;
    assert_eq!(running.wait().await.unwrap().signal(), Some(9));
}
