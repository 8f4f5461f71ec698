//! 256 MiB of output arrive complete, over both transports, with the
//! memory of this process bounded (its own test binary, so no other test's
//! memory counts). Skipped without the daemon unless `EXEC_REQUIRE_DAEMONS`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_core::conformance::{PATH, daemon_or_skip};
use exec_core::{ExecOptions, Executor, ExecutorSettings, report};
use exec_incus::IncusBuilder;
use exec_test_support::incus::IncusDaemon;
use exec_test_support::procfs;
use std::time::{Duration, Instant};

const SIZE: u64 = 256 * 1024 * 1024;
/// Growth of the peak resident size allowed while the output streams: the
/// pipe holds 1 MiB unread, the websocket's buffers a few frames.
const MEMORY_LIMIT: u64 = 48 * 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_of_256_mib_arrives_complete_with_bounded_memory() {
    let Some(daemon) = daemon_or_skip("incusd", IncusDaemon::from_env()) else {
        return;
    };
    let settings = || ExecutorSettings::new("incus-test:large").with_default_env_var("PATH", PATH);
    let executors = [
        IncusBuilder::new(&daemon.instance)
            .with_host(daemon.unix_host())
            .build(settings())
            .unwrap(),
        IncusBuilder::new(&daemon.instance)
            .with_host(&daemon.https)
            .with_server_cert(&daemon.server_cert)
            .with_client_cert(&daemon.client_cert, &daemon.client_key)
            .build(settings())
            .unwrap(),
    ];
    for executor in executors {
        let before = procfs::peak_rss().unwrap();
        let process = executor
            .create_process(
                format!("head -c {SIZE} /dev/zero").into(),
                ExecOptions::new(),
            )
            .unwrap();
        let mut stdout = process.take_stdout().unwrap();
        let started = Instant::now();
        process.start().await.unwrap();
        let mut total = 0u64;
        let read = async {
            while let Some(chunk) = stdout.read_chunk(usize::MAX).await.unwrap() {
                assert!(chunk.iter().all(|b| *b == 0));
                total += chunk.len() as u64;
                stdout.recycle(chunk);
            }
        };
        tokio::time::timeout(Duration::from_secs(120), read)
            .await
            .expect("256 MiB within 2 minutes");
        let status = process
            .wait()
            .await
            .unwrap_or_else(|e| panic!("{}", report(&e)));
        let elapsed = started.elapsed();
        assert!(status.success(), "{status}");
        assert_eq!(total, SIZE);
        let grown = procfs::peak_rss().unwrap().saturating_sub(before);
        eprintln!(
            "{}: 256 MiB in {elapsed:?} ({:.0} MB/s), peak resident size grew {} KiB",
            executor.address(),
            SIZE as f64 / elapsed.as_secs_f64() / 1e6,
            grown / 1024
        );
        assert!(
            grown < MEMORY_LIMIT,
            "the peak resident size grew {grown} bytes"
        );
    }
}
