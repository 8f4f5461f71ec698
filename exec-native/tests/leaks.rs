//! Nothing is left behind: no zombie and no file descriptor after many runs.
//! One test in its own binary, so no other test's children are counted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use exec_core::{ExecOptions, Executor};
use exec_test_support::procfs::{open_fds, zombie_children};
use std::sync::Arc;
use std::time::{Duration, Instant};

async fn run_once(exec: &dyn Executor, line: &str) {
    let process = exec
        .create_process(line.into(), ExecOptions::new())
        .unwrap();
    process.start().await.unwrap();
    process.wait().await.unwrap();
    process.close(false).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_runs_leave_no_zombie_and_no_open_fd() {
    const RUNS: usize = 2000;
    const AT_ONCE: usize = 8;
    let exec = Arc::new(common::executor("leaks"));
    // Warm up: the runtime's signal handling opens its fds on the first child.
    run_once(exec.as_ref(), "true").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fds_before = open_fds();

    let started = Instant::now();
    for _ in 0..RUNS / AT_ONCE {
        let mut batch = tokio::task::JoinSet::new();
        for i in 0..AT_ONCE {
            let exec = exec.clone();
            batch.spawn(async move {
                let exec = exec.as_ref();
                // Mix in commands that are killed, that leave a grandchild
                // behind, and that run in a terminal.
                match i % 4 {
                    0 => run_once(exec, "true").await,
                    1 => run_once(exec, "sh -c 'sleep 30 & exit 3'").await,
                    2 => {
                        let p = exec
                            .create_process("sleep 30".into(), ExecOptions::new())
                            .unwrap();
                        p.start().await.unwrap();
                        p.close(true).await.unwrap();
                    }
                    _ if i % 8 == 3 => {
                        let p = exec
                            .create_process("sleep 30".into(), ExecOptions::new())
                            .unwrap();
                        p.start().await.unwrap();
                        drop(p);
                    }
                    _ => {
                        let terminal = ExecOptions::new().with_pty(exec_core::Pty::new(80, 24));
                        let p = exec
                            .create_process("sh -c 'echo hi; sleep 30 & exit 3'".into(), terminal)
                            .unwrap();
                        let output = p.output().await.unwrap();
                        assert_eq!(output.status.code(), Some(3));
                        assert_eq!(output.stdout, b"hi\r\n");
                        p.close(false).await.unwrap();
                    }
                }
            });
        }
        while let Some(joined) = batch.join_next().await {
            joined.unwrap();
        }
    }
    let elapsed = started.elapsed();

    // Dropped processes are reaped by their supervisor shortly after the kill.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let zombies = zombie_children();
        let fds = open_fds();
        if (zombies.is_empty() && fds == fds_before) || Instant::now() > deadline {
            assert!(
                zombies.is_empty(),
                "zombie children after {RUNS} runs: {zombies:?}"
            );
            assert_eq!(fds, fds_before, "open fds before and after {RUNS} runs");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "{RUNS} runs in {elapsed:?} ({:?} per run, {AT_ONCE} at once); 0 zombies; {fds_before} fds before and after",
        elapsed / RUNS as u32
    );
}
