//! Side-by-side measurement for `cargo xtask bench`: each figure alternates
//! ours with its baseline (after one untimed round each to warm caches), so
//! machine noise hits both alike, and prints the two medians, the spread of
//! ours and their ratio against the goal the issues set.
//!
//! Each figure is also written, one tab-separated line, to the file named by
//! [`RESULTS`] when it is set: `cargo xtask bench` collects them into
//! `BENCHMARKS.md` and `docs/bench.svg`. With [`QUICK`] set, [`runs`] and
//! [`bytes`] scale every figure down (for CI, which proves the benchmarks
//! work and never judges speed).

use std::future::Future;
use std::io::Write as _;
use std::time::{Duration, Instant};

/// The environment variable naming the file figures are appended to.
pub const RESULTS: &str = "EXEC_BENCH_RESULTS";

/// The environment variable that makes every figure short.
pub const QUICK: &str = "EXEC_BENCH_QUICK";

/// The width of the figure's name column.
const NAME_WIDTH: usize = 60;

/// Whether the benchmarks run short ([`QUICK`]).
pub fn quick() -> bool {
    std::env::var(QUICK).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `n` runs, or a tenth (at least 3) when quick.
pub fn runs(n: usize) -> usize {
    if quick() { (n / 10).max(3) } else { n }
}

/// `n` bytes, or a sixteenth when quick.
pub fn bytes(n: u64) -> u64 {
    if quick() { n / 16 } else { n }
}

/// What a figure should reach.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// Ours takes at most this many times the baseline's time.
    AtMostTime(f64),
    /// Ours moves at least this many times the baseline's bytes per second.
    AtLeastThroughput(f64),
    /// A value (a size in MiB) below this.
    Below(f64),
    /// No goal: shown for reference.
    Reference(&'static str),
}

impl Goal {
    fn text(self) -> String {
        match self {
            Goal::AtMostTime(x) => format!("<= {x}x time"),
            Goal::AtLeastThroughput(x) => format!(">= {x}x throughput"),
            Goal::Below(x) => format!("< {x} MiB"),
            Goal::Reference(why) => format!("({why})"),
        }
    }

    /// Whether `value` (a ratio, or a size) meets it; `None` without a goal.
    fn met(self, value: f64) -> Option<bool> {
        match self {
            Goal::AtMostTime(x) => Some(value <= x),
            Goal::AtLeastThroughput(x) => Some(value >= x),
            Goal::Below(x) => Some(value < x),
            Goal::Reference(_) => None,
        }
    }

    fn fields(self) -> (&'static str, f64) {
        match self {
            Goal::AtMostTime(x) => ("time<=", x),
            Goal::AtLeastThroughput(x) => ("throughput>=", x),
            Goal::Below(x) => ("below", x),
            Goal::Reference(_) => ("reference", 0.0),
        }
    }
}

/// Prints the header of a table of figures: what `ours` is called. It also
/// starts a section of the results file.
pub fn header(ours: &str) {
    println!(
        "{:<NAME_WIDTH$} {:>12} {:>12} {:>7} {:>7}  goal",
        "figure", ours, "baseline", "spread", "ratio"
    );
    SECTION.with(|section| *section.borrow_mut() = ours.to_owned());
}

thread_local! {
    static SECTION: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Appends one figure to the results file, if one is named.
fn record(name: &str, ours: &str, baseline: &str, spread: &str, value: f64, goal: Goal) {
    let Ok(path) = std::env::var(RESULTS) else {
        return;
    };
    let section = SECTION.with(|section| section.borrow().clone());
    let (op, target) = goal.fields();
    let met = match goal.met(value) {
        Some(true) => "yes",
        Some(false) => "no",
        None => "-",
    };
    let line = format!(
        "{section}\t{name}\t{ours}\t{baseline}\t{spread}\t{value:.3}\t{op}\t{target}\t{met}\t{}\n",
        goal.text()
    );
    if let Ok(mut file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        let _ = file.write_all(line.as_bytes());
    }
}

/// The medians of one figure, and how far ours spread.
#[derive(Debug, Clone, Copy)]
pub struct Medians {
    /// Ours.
    pub ours: Duration,
    /// The baseline's.
    pub baseline: Duration,
    /// Ours' interquartile range over its median.
    pub spread: f64,
}

impl Medians {
    /// Ours over the baseline: below 1 is faster.
    pub fn time_ratio(&self) -> f64 {
        self.ours.as_secs_f64() / self.baseline.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    fn spread_text(&self) -> String {
        format!("±{:.0}%", self.spread * 50.0)
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
    let spread = spread(&mut a);
    Medians {
        ours: median(a),
        baseline: median(b),
        spread,
    }
}

/// Measures a time figure and prints one line: the medians and ours /
/// baseline, with the goal.
pub async fn figure<A, AF, B, BF>(name: &str, goal: Goal, runs: usize, ours: A, baseline: B)
where
    A: FnMut() -> AF,
    AF: Future<Output = ()>,
    B: FnMut() -> BF,
    BF: Future<Output = ()>,
{
    let m = measure(runs, ours, baseline).await;
    let (a, b) = (format!("{:.3?}", m.ours), format!("{:.3?}", m.baseline));
    let ratio = m.time_ratio();
    println!(
        "{name:<NAME_WIDTH$} {a:>12} {b:>12} {:>7} {ratio:>7.2}  {}",
        m.spread_text(),
        goal.text()
    );
    record(name, &a, &b, &m.spread_text(), ratio, goal);
}

/// Measures a throughput figure over `bytes` and prints one line: the
/// medians and the throughput ratio, ours / baseline (above 1 is faster).
pub async fn throughput_figure<A, AF, B, BF>(
    name: &str,
    goal: Goal,
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
    let rate = |d: Duration| format!("{:.0}MB/s", bytes as f64 / d.as_secs_f64() / 1e6);
    let (a, b) = (rate(m.ours), rate(m.baseline));
    let ratio = 1.0 / m.time_ratio();
    println!(
        "{name:<NAME_WIDTH$} {a:>12} {b:>12} {:>7} {ratio:>7.2}  {}",
        m.spread_text(),
        goal.text()
    );
    record(name, &a, &b, &m.spread_text(), ratio, goal);
}

/// Prints a figure that has no baseline: a size in MiB.
pub fn size_figure(name: &str, mib: f64, goal: Goal) {
    let value = format!("{mib:.1} MiB");
    println!(
        "{name:<NAME_WIDTH$} {value:>12} {:>12} {:>7} {:>7}  {}",
        "",
        "",
        "",
        goal.text()
    );
    record(name, &value, "", "", mib, goal);
}

/// Prints a figure that stands alone: `value` as it reads, with the number
/// the goal judges (a rate, a count).
pub fn single_figure(name: &str, value: &str, judged: f64, goal: Goal) {
    println!(
        "{name:<NAME_WIDTH$} {value:>12} {:>12} {:>7} {:>7}  {}",
        "",
        "",
        "",
        goal.text()
    );
    record(name, value, "", "", judged, goal);
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

/// The interquartile range over the median (0 for fewer than 4 samples).
fn spread(samples: &mut [Duration]) -> f64 {
    if samples.len() < 4 {
        return 0.0;
    }
    samples.sort();
    let at = |q: usize| samples[(samples.len() - 1) * q / 4].as_secs_f64();
    (at(3) - at(1)) / at(2).max(f64::MIN_POSITIVE)
}

/// The baselines a user would pick instead: `std::process::Command` (with
/// blocking reads on a thread of their own, or on the calling thread),
/// Python's `subprocess`, and the shell's pipe — the floor the machine allows.
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

    /// Runs `head -c BYTES /dev/zero` and reads its stdout to the end in
    /// 64 KiB reads on the calling thread (a plain loop, the default pipe
    /// size), as the simplest Rust program would; returns the bytes read.
    pub fn read_stdout_here(bytes: u64) -> u64 {
        let mut child = head(bytes);
        let mut stdout = child.stdout.take().expect("piped stdout");
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            match stdout.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => panic!("reading head's stdout: {e}"),
            }
        }
        assert!(child.wait().expect("waiting for head").success());
        total
    }

    /// The floor: `head -c BYTES /dev/zero | cat > /dev/null` in a shell, the
    /// bytes through one pipe with nothing but the kernel's copies.
    pub async fn pipe_floor(bytes: u64) {
        let status = tokio::task::spawn_blocking(move || {
            Command::new("/bin/sh")
                .args([
                    "-c",
                    &format!("head -c {bytes} /dev/zero | cat > /dev/null"),
                ])
                .status()
        })
        .await
        .expect("the baseline thread")
        .expect("running the shell pipe");
        assert!(status.success());
    }

    /// The interpreter `python3` on the `PATH` runs (its `sys.executable`),
    /// if there is one. Not the `PATH` entry itself: a version manager's shim
    /// (pyenv's is a shell script that runs `pyenv`) adds ~70 ms to every
    /// run, which is the shim's time, not Python's.
    pub fn python() -> Option<std::path::PathBuf> {
        let output = Command::new("python3")
            .args(["-c", "import sys; print(sys.executable)"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let path = String::from_utf8(output.stdout).ok()?;
        let path = std::path::PathBuf::from(path.trim());
        (output.status.success() && path.is_file()).then_some(path)
    }

    /// Runs `program` with `args` to the end (stdout and stderr discarded)
    /// on a blocking thread; panics unless it succeeds. For whole-process
    /// comparisons: a script under `exec-lua` against the same under Python.
    pub async fn run_process(program: std::path::PathBuf, args: Vec<String>) {
        let status = tokio::task::spawn_blocking(move || {
            Command::new(&program)
                .args(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
        })
        .await
        .expect("the baseline thread")
        .expect("running a process");
        assert!(status.success(), "{status}");
    }
}
