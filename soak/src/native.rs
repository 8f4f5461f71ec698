//! The native soak: host processes, and what they leave in this process.

use crate::mix::{Run, many};
use exec_core::ExecutorSettings;
use exec_native::NativeExecutor;
use exec_test_support::procfs;
use std::sync::Arc;
use std::time::{Duration, Instant};

const KINDS: &[Run] = &[
    Run::Plain,
    Run::Killed,
    Run::TimedOut,
    Run::Dropped,
    Run::Background,
];

/// How many runs go at once.
const PARALLEL: usize = 8;

pub(crate) async fn soak(runs: usize) -> Result<(), String> {
    let pid1 = std::process::id() == 1;
    if pid1 {
        // Orphans (the background children once their shell exits) come
        // to PID 1: they are this process's to reap.
        exec_native::become_subreaper().map_err(|e| format!("become a subreaper: {e}"))?;
    }
    // Unique to this soak: its long commands are `sleep MARKER`.
    let marker = format!("9{}", std::process::id());
    let executor = NativeExecutor::new(
        ExecutorSettings::new("soak:native")
            .with_default_env_var("PATH", exec_native::DEFAULT_PATH)
            .with_close_grace(Duration::from_millis(200)),
    );
    let executor: Arc<dyn exec_core::Executor> = Arc::new(executor);
    println!(
        "native soak: {runs} runs, {PARALLEL} at a time, as {}",
        if pid1 {
            "PID 1 of a pid namespace"
        } else {
            "an ordinary process"
        }
    );
    // A first tenth warms up allocator and runtime; the figures are taken
    // from there.
    let warm_up = (runs / 10).max(1);
    let tally = many(executor.clone(), KINDS, warm_up, PARALLEL, &marker, |_| {}).await?;
    let _ = exec_core::settle(Duration::from_secs(10)).await;
    let (fds_before, rss_before) = (procfs::open_fds(), procfs::rss().unwrap_or(0));
    let started = Instant::now();
    let rest = runs - warm_up;
    let tally_rest = many(executor, KINDS, rest, PARALLEL, &marker, |done| {
        if done % 1000 == 0 {
            eprintln!(
                "  {done} of {rest} runs, rss {} KiB, fds {}",
                procfs::rss().unwrap_or(0) / 1024,
                procfs::open_fds()
            );
        }
    })
    .await?;
    let elapsed = started.elapsed();
    let unsettled = exec_core::settle(Duration::from_secs(10)).await;
    // Whatever is left to reap comes within a moment.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (zombies, left) = loop {
        let zombies = if pid1 {
            procfs::processes()
                .into_iter()
                .filter(|s| s.state == 'Z')
                .count()
        } else {
            procfs::zombie_children().len()
        };
        let left = procfs::processes_running(&marker).len();
        if (zombies == 0 && left == 0) || Instant::now() > deadline {
            break (zombies, left);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let (fds_after, rss_after) = (procfs::open_fds(), procfs::rss().unwrap_or(0));
    println!("runs (first {warm_up} to warm up):");
    tally.print();
    println!("runs after that ({rest} in {elapsed:.1?}):");
    tally_rest.print();
    println!("zombies: {zombies}");
    println!("processes of the runs still alive: {left}");
    println!("work in flight after settle: {unsettled}");
    println!("open descriptors: {fds_before} before, {fds_after} after");
    println!(
        "resident memory: {} KiB before, {} KiB after",
        rss_before / 1024,
        rss_after / 1024
    );
    // Flat: within a quarter, plus 4 MiB of slack for the allocator.
    let rss_flat = rss_after <= rss_before + rss_before / 4 + 4 * 1024 * 1024;
    if zombies > 0 || left > 0 || unsettled > 0 || fds_after != fds_before || !rss_flat {
        return Err("native soak: something was left behind (see above)".to_owned());
    }
    println!("native soak: nothing left behind");
    Ok(())
}
