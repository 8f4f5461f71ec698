//! Side-by-side measurement for `cargo xtask bench`: each figure alternates
//! ours with its baseline (after one untimed round each to warm caches), so
//! machine noise hits both alike, and prints the two medians and their ratio
//! against the goal the issue set.

use std::future::Future;
use std::time::{Duration, Instant};

/// The width of the figure's name column.
const NAME_WIDTH: usize = 52;

/// Prints the header of a table of figures: what `ours` is called.
pub fn header(ours: &str) {
    println!(
        "{:<NAME_WIDTH$} {:>12} {:>12} {:>7}  goal",
        "figure", ours, "baseline", "ratio"
    );
}

/// The medians of one figure.
#[derive(Debug, Clone, Copy)]
pub struct Medians {
    /// Ours.
    pub ours: Duration,
    /// The baseline's.
    pub baseline: Duration,
}

impl Medians {
    /// Ours over the baseline: below 1 is faster.
    pub fn time_ratio(&self) -> f64 {
        self.ours.as_secs_f64() / self.baseline.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// Runs `ours` and `baseline` `runs` times each, alternating, and returns
/// the medians.
pub async fn measure<A, AF, B, BF>(runs: usize, mut ours: A, mut baseline: B) -> Medians
where
    A: FnMut() -> AF,
    AF: Future<Output = ()>,
    B: FnMut() -> BF,
    BF: Future<Output = ()>,
{
    ours().await;
    baseline().await;
    let (mut a, mut b) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        a.push(time(ours()).await);
        b.push(time(baseline()).await);
    }
    Medians {
        ours: median(a),
        baseline: median(b),
    }
}

/// Measures a time figure and prints one line: the medians and ours /
/// baseline, with the goal (e.g. `"<= 1.15x time"`).
pub async fn figure<A, AF, B, BF>(name: &str, goal: &str, runs: usize, ours: A, baseline: B)
where
    A: FnMut() -> AF,
    AF: Future<Output = ()>,
    B: FnMut() -> BF,
    BF: Future<Output = ()>,
{
    let m = measure(runs, ours, baseline).await;
    println!(
        "{name:<NAME_WIDTH$} {:>12.3?} {:>12.3?} {:>7.2}  {goal}",
        m.ours,
        m.baseline,
        m.time_ratio()
    );
}

/// Measures a throughput figure over `bytes` and prints one line: the
/// medians and the throughput ratio, ours / baseline (above 1 is faster).
pub async fn throughput_figure<A, AF, B, BF>(
    name: &str,
    goal: &str,
    bytes: u64,
    runs: usize,
    ours: A,
    baseline: B,
) where
    A: FnMut() -> AF,
    AF: Future<Output = ()>,
    B: FnMut() -> BF,
    BF: Future<Output = ()>,
{
    let m = measure(runs, ours, baseline).await;
    let rate = |d: Duration| bytes as f64 / d.as_secs_f64() / 1e6;
    println!(
        "{name:<NAME_WIDTH$} {:>9.0}MB/s {:>9.0}MB/s {:>7.2}  {goal}",
        rate(m.ours),
        rate(m.baseline),
        1.0 / m.time_ratio()
    );
}

/// Prints a figure that has no baseline, such as a peak memory size.
pub fn single_figure(name: &str, value: &str, goal: &str) {
    println!(
        "{name:<NAME_WIDTH$} {value:>12} {:>12} {:>7}  {goal}",
        "", ""
    );
}

async fn time<F: Future<Output = ()>>(f: F) -> Duration {
    let started = Instant::now();
    f.await;
    started.elapsed()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples.get(samples.len() / 2).copied().unwrap_or_default()
}

/// The baselines the issue names: `std::process::Command` with blocking
/// reads on a thread of their own, as a plain Rust program would do it.
pub mod std_baseline {
    use std::io::Read;
    use std::process::{Command, Stdio};

    /// Spawns `program` (no environment, piped stdio, own process group, as
    /// the backends do) and waits for it; on a blocking thread.
    pub async fn spawn_and_wait(program: &'static str) {
        let status = tokio::task::spawn_blocking(move || {
            std::os::unix::process::CommandExt::process_group(
                Command::new(program)
                    .env_clear()
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped()),
                0,
            )
            .status()
        })
        .await
        .expect("the baseline thread")
        .expect("spawning the baseline");
        assert!(status.success());
    }

    /// `head -c BYTES /dev/zero` with its stdout piped.
    fn head(bytes: u64) -> std::process::Child {
        Command::new("/usr/bin/head")
            .args(["-c", &bytes.to_string(), "/dev/zero"])
            .env_clear()
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning head")
    }

    /// Runs `head` on a blocking thread, hands its stdout to `read`, waits.
    async fn with_head(bytes: u64, read: fn(std::process::ChildStdout) -> u64) -> u64 {
        tokio::task::spawn_blocking(move || {
            let mut child = head(bytes);
            let total = read(child.stdout.take().expect("piped stdout"));
            assert!(child.wait().expect("waiting for head").success());
            total
        })
        .await
        .expect("the baseline thread")
    }

    /// Runs `head -c BYTES /dev/zero` and collects its stdout into one
    /// `Vec` with `read_to_end`: what any "read everything into one value"
    /// costs on this machine (fresh memory for every byte); returns the length.
    pub async fn read_stdout_to_end(bytes: u64) -> u64 {
        with_head(bytes, |mut stdout| {
            let mut all = Vec::new();
            stdout.read_to_end(&mut all).expect("reading head's stdout");
            all.len() as u64
        })
        .await
    }

    /// Runs `head -c BYTES /dev/zero` and reads its stdout to the end in
    /// blocking 64 KiB reads; returns the bytes read.
    pub async fn read_stdout(bytes: u64) -> u64 {
        with_head(bytes, |mut stdout| {
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0u64;
            loop {
                match stdout.read(&mut buf) {
                    Ok(0) => return total,
                    Ok(n) => total += n as u64,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => panic!("reading head's stdout: {e}"),
                }
            }
        })
        .await
    }
}
