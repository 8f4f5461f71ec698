//! exec-native beside its baseline, `std::process::Command` with blocking
//! reads on a thread, in one run (release; `cargo xtask bench`).
//!
//! Each figure alternates the two sides run by run (so machine noise hits both
//! alike) and prints the medians and their ratio, with the goal of issue 7.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
// One raw fcntl on the bench's own descriptors (see `clean_descriptors`).
#![allow(unsafe_code)]

use exec_core::{ExecOptions, Executor, ExecutorSettings};
use exec_native::NativeExecutor;
use exec_test_support::bench::{
    Goal, bytes, figure, header, runs, single_figure, size_figure, std_baseline, throughput_figure,
};
use exec_test_support::procfs::{peak_rss, reset_peak_rss};
use tokio::io::AsyncReadExt;

const GIB: u64 = 1024 * 1024 * 1024;

async fn native_true(exec: &NativeExecutor) {
    native_true_with(exec, ExecOptions::new()).await;
}

async fn native_true_with(exec: &NativeExecutor, options: ExecOptions) {
    let process = exec.create_process(["true"].into(), options).unwrap();
    process.start().await.unwrap();
    assert!(process.wait().await.unwrap().success());
    process.close(false).await.unwrap();
}

/// 1 GiB read with the zero-copy `read_chunk(64 KiB)`, each piece given back
/// with `recycle` once used, as the docs advise.
async fn native_chunks(exec: &NativeExecutor) {
    let size = bytes(GIB);
    let process = exec
        .create_process(
            format!("head -c {size} /dev/zero").into(),
            ExecOptions::new(),
        )
        .unwrap();
    let mut stdout = process.take_stdout().unwrap();
    process.start().await.unwrap();
    let mut total = 0u64;
    while let Some(chunk) = stdout.read_chunk(64 * 1024).await.unwrap() {
        total += chunk.len() as u64;
        stdout.recycle(chunk);
    }
    assert_eq!(total, size);
    assert!(process.wait().await.unwrap().success());
}

/// 1 GiB read through `AsyncRead` into one 64 KiB buffer.
async fn native_async_read(exec: &NativeExecutor) {
    let size = bytes(GIB);
    let process = exec
        .create_process(
            format!("head -c {size} /dev/zero").into(),
            ExecOptions::new(),
        )
        .unwrap();
    let mut stdout = process.take_stdout().unwrap();
    process.start().await.unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    loop {
        let n = stdout.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    assert_eq!(total, size);
    assert!(process.wait().await.unwrap().success());
}

/// 256 `sleep 0.5` at once; the fds this process has are the same after.
async fn many_at_once(exec: &NativeExecutor, count: usize) {
    // What earlier figures left closing first.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let fds = exec_test_support::procfs::open_fds();
    let processes: Vec<_> = (0..count)
        .map(|_| {
            exec.create_process(["sleep", "0.5"].into(), ExecOptions::new())
                .unwrap()
        })
        .collect();
    for process in &processes {
        process.start().await.unwrap();
    }
    for process in &processes {
        assert!(process.wait().await.unwrap().success());
        process.close(false).await.unwrap();
    }
    drop(processes);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let after = exec_test_support::procfs::open_fds();
    assert!(
        after <= fds,
        "{after} fds after {count} at once, {fds} before"
    );
}

/// Marks the descriptors this bench inherited from whoever launched it (a
/// shell, a CI runner) close-on-exec, so the first figure measures the usual
/// process — one with no descriptor to pass on. exec-native checks for such
/// descriptors at each spawn and, when one is open, forks to close it in the
/// child (the second figure); `std::process::Command` passes it on.
fn clean_descriptors() {
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd >= 3)
        .collect();
    for fd in fds {
        // SAFETY: F_SETFD on a descriptor number of this process, no memory.
        unsafe {
            nix::libc::fcntl(fd, nix::libc::F_SETFD, nix::libc::FD_CLOEXEC);
        }
    }
}

async fn std_gib() {
    let size = bytes(GIB);
    assert_eq!(std_baseline::read_stdout(size).await, size);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let exec = NativeExecutor::new(
        ExecutorSettings::new("bench:native").with_default_env_var("PATH", "/usr/bin:/bin"),
    );
    println!(
        "medians; baselines: std::process::Command (blocking 64 KiB reads on a thread of \
         their own, or on the calling thread), the shell's pipe"
    );
    header("exec-native");
    clean_descriptors();
    figure(
        "spawn + wait `true` vs std::process (500 runs)",
        Goal::AtMostTime(1.05),
        runs(500),
        || native_true(&exec),
        || std_baseline::spawn_and_wait("/usr/bin/true"),
    )
    .await;
    // A descriptor opened without close-on-exec: exec-native keeps it from
    // the child (posix_spawn's closefrom), std passes it on.
    let inheritable = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDONLY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    figure(
        "spawn + wait `true`, an inheritable fd open (500)",
        Goal::AtMostTime(1.05),
        runs(500),
        || native_true(&exec),
        || std_baseline::spawn_and_wait("/usr/bin/true"),
    )
    .await;
    drop(inheritable);
    figure(
        "`true` in a terminal vs with pipes (500)",
        Goal::Reference("terminal latency"),
        runs(500),
        || {
            native_true_with(
                &exec,
                ExecOptions::new().with_pty(exec_core::Pty::new(80, 24)),
            )
        },
        || native_true(&exec),
    )
    .await;
    let size = bytes(GIB);
    figure(
        "1 GiB stdout, read_chunk(64 KiB) vs the pipe floor (7 runs)",
        Goal::AtMostTime(1.1),
        runs(7),
        || native_chunks(&exec),
        || std_baseline::pipe_floor(size),
    )
    .await;
    figure(
        "1 GiB stdout, std read loop on the calling thread vs the floor (7)",
        Goal::Reference("what a plain Rust loop gets"),
        runs(7),
        || async {
            let read = tokio::task::block_in_place(|| std_baseline::read_stdout_here(size));
            assert_eq!(read, size);
        },
        || std_baseline::pipe_floor(size),
    )
    .await;
    throughput_figure(
        "1 GiB stdout, read_chunk(64 KiB) vs std on a thread (7 runs)",
        Goal::AtLeastThroughput(0.9),
        size,
        runs(7),
        || native_chunks(&exec),
        std_gib,
    )
    .await;
    throughput_figure(
        "1 GiB stdout, AsyncRead 64 KiB vs std on a thread (7 runs)",
        Goal::AtLeastThroughput(0.9),
        size,
        runs(7),
        || native_async_read(&exec),
        std_gib,
    )
    .await;
    reset_peak_rss();
    native_chunks(&exec).await;
    let peak = peak_rss().unwrap_or(0);
    size_figure(
        "peak RSS, 1 GiB read_chunk loop",
        peak as f64 / 1048576.0,
        Goal::Below(64.0),
    );
    let count = if exec_test_support::bench::quick() {
        32
    } else {
        256
    };
    let started = std::time::Instant::now();
    many_at_once(&exec, count).await;
    let wall = started.elapsed();
    // One after another they would take count x 0.5 s.
    single_figure(
        &format!("{count} `sleep 0.5` at once: wall time vs one after another"),
        &format!("{wall:.2?}"),
        wall.as_secs_f64() / (count as f64 * 0.5),
        Goal::AtMostTime(0.05),
    );
}
