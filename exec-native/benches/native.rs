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
use exec_test_support::bench::{figure, header, single_figure, std_baseline, throughput_figure};
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
    let process = exec
        .create_process(
            format!("head -c {GIB} /dev/zero").into(),
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
    assert_eq!(total, GIB);
    assert!(process.wait().await.unwrap().success());
}

/// 1 GiB read through `AsyncRead` into one 64 KiB buffer.
async fn native_async_read(exec: &NativeExecutor) {
    let process = exec
        .create_process(
            format!("head -c {GIB} /dev/zero").into(),
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
    assert_eq!(total, GIB);
    assert!(process.wait().await.unwrap().success());
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
    assert_eq!(std_baseline::read_stdout(GIB).await, GIB);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let exec = NativeExecutor::new(
        ExecutorSettings::new("bench:native").with_default_env_var("PATH", "/usr/bin:/bin"),
    );
    println!("medians; baseline = std::process::Command, blocking 64 KiB reads on a thread");
    header("exec-native");
    clean_descriptors();
    figure(
        "spawn + wait `true` (500 runs)",
        "<= 1.15x time",
        500,
        || native_true(&exec),
        || std_baseline::spawn_and_wait("/usr/bin/true"),
    )
    .await;
    // A descriptor opened without close-on-exec: exec-native keeps it from
    // the child (fork + close_range), std passes it on (posix_spawn).
    let inheritable = nix::fcntl::open(
        "/dev/null",
        nix::fcntl::OFlag::O_RDONLY,
        nix::sys::stat::Mode::empty(),
    )
    .unwrap();
    figure(
        "spawn + wait `true`, an inheritable fd open (500)",
        "(closing it costs a fork)",
        500,
        || native_true(&exec),
        || std_baseline::spawn_and_wait("/usr/bin/true"),
    )
    .await;
    drop(inheritable);
    figure(
        "`true` in a terminal vs with pipes (500)",
        "(terminal latency)",
        500,
        || {
            native_true_with(
                &exec,
                ExecOptions::new().with_pty(exec_core::Pty::new(80, 24)),
            )
        },
        || native_true(&exec),
    )
    .await;
    throughput_figure(
        "1 GiB stdout, read_chunk(64 KiB) (7 runs)",
        ">= 0.9x throughput",
        GIB,
        7,
        || native_chunks(&exec),
        std_gib,
    )
    .await;
    throughput_figure(
        "1 GiB stdout, AsyncRead 64 KiB (7 runs)",
        ">= 0.9x throughput",
        GIB,
        7,
        || native_async_read(&exec),
        std_gib,
    )
    .await;
    reset_peak_rss();
    native_chunks(&exec).await;
    let peak = peak_rss().unwrap_or(0);
    single_figure(
        "peak RSS, 1 GiB read_chunk loop",
        &format!("{:.1} MiB", peak as f64 / 1048576.0),
        "< 64 MiB",
    );
}
