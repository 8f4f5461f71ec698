//! The kinds of run a soak mixes, the same on every backend, and their tally.

use exec_core::{ErrorKind, ExecOptions, Executor, ExitStatus};
use std::collections::BTreeMap;
use std::time::Duration;

/// How long any one run may take before the soak calls it a hang.
const RUN_LIMIT: Duration = Duration::from_secs(120);

/// One kind of run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Run {
    /// `echo`: its output and exit code 0.
    Plain,
    /// A long command killed with SIGKILL: death by signal 9.
    Killed,
    /// A long command past its timeout: `Timeout`.
    TimedOut,
    /// A command writing without end, whose process is dropped after the
    /// first piece of output is read.
    Dropped,
    /// A shell that starts a background child and exits (native only).
    Background,
}

impl Run {
    /// The run number `n` of a soak that mixes `kinds`.
    pub(crate) fn nth(kinds: &[Run], n: usize) -> Run {
        kinds[n % kinds.len()]
    }
}

/// What the runs gave, kind by kind.
#[derive(Debug, Default)]
pub(crate) struct Tally(BTreeMap<String, usize>);

impl Tally {
    fn count(&mut self, what: String) {
        *self.0.entry(what).or_default() += 1;
    }

    /// The tally, one `what: count` per line.
    pub(crate) fn print(&self) {
        for (what, count) in &self.0 {
            println!("  {what}: {count}");
        }
    }
}

/// Runs `run` (number `n`) on `executor`; `marker` is a number the long
/// commands carry (`sleep MARKER`), so what is left of them can be found.
pub(crate) async fn one(
    executor: &dyn Executor,
    run: Run,
    n: usize,
    marker: &str,
) -> Result<String, String> {
    tokio::time::timeout(RUN_LIMIT, run_once(executor, run, n, marker))
        .await
        .map_err(|_| format!("run {n} ({run:?}) did not end within {RUN_LIMIT:?}"))?
}

async fn run_once(
    executor: &dyn Executor,
    run: Run,
    n: usize,
    marker: &str,
) -> Result<String, String> {
    let fail = |what: &str, e: &dyn std::fmt::Display| format!("run {n} ({run:?}): {what}: {e}");
    let create = |line: String, options: ExecOptions| {
        executor
            .create_process(line.as_str().into(), options)
            .map_err(|e| fail("create", &exec_core::report(&e)))
    };
    match run {
        Run::Plain => {
            let process = create(format!("echo run-{n}"), ExecOptions::new())?;
            let output = process
                .output()
                .await
                .map_err(|e| fail("output", &exec_core::report(&e)))?;
            let text = output.stdout_lossy();
            if text != format!("run-{n}\n") || output.status.code() != Some(0) {
                return Err(fail("output", &format!("{text:?}, {}", output.status)));
            }
            Ok("plain: output and exit 0".to_owned())
        }
        Run::Killed => {
            let process = create(format!("sleep {marker}"), ExecOptions::new())?;
            process.start().await.map_err(|e| fail("start", &e))?;
            process.signal(9).await.map_err(|e| fail("signal", &e))?;
            let status = process.wait().await.map_err(|e| fail("wait", &e))?;
            process.close(true).await.map_err(|e| fail("close", &e))?;
            Ok(format!("killed: {}", describe(&status)))
        }
        Run::TimedOut => {
            let options = ExecOptions::new().with_timeout(Duration::from_millis(50));
            let process = create(format!("sleep {marker}"), options)?;
            process.start().await.map_err(|e| fail("start", &e))?;
            let waited = process.wait().await;
            process.close(true).await.map_err(|e| fail("close", &e))?;
            match waited {
                Err(e) if e.kind() == ErrorKind::Timeout => Ok("timed out: Timeout".to_owned()),
                other => Err(fail("wait", &format!("{other:?}, not Timeout"))),
            }
        }
        Run::Dropped => {
            let process = create("yes soak".to_owned(), ExecOptions::new())?;
            let mut stdout = process.take_stdout().ok_or("stdout taken")?;
            process.start().await.map_err(|e| fail("start", &e))?;
            let first = stdout
                .read_chunk(4096)
                .await
                .map_err(|e| fail("read", &e))?;
            drop(process);
            drop(stdout);
            match first {
                Some(chunk) if !chunk.is_empty() => Ok("dropped mid-read".to_owned()),
                other => Err(fail("read", &format!("{other:?}"))),
            }
        }
        Run::Background => {
            let line = format!("sh -c 'sleep {marker} & echo started'");
            let process = create(line, ExecOptions::new())?;
            let output = process
                .output()
                .await
                .map_err(|e| fail("output", &exec_core::report(&e)))?;
            process.close(false).await.map_err(|e| fail("close", &e))?;
            if output.stdout_lossy() != "started\n" {
                return Err(fail("output", &output.stdout_lossy()));
            }
            Ok(format!("background child: {}", describe(&output.status)))
        }
    }
}

fn describe(status: &ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (_, Some(signal)) => format!("signal {signal}"),
        (Some(code), None) => format!("exit {code}"),
        (None, None) => "no code".to_owned(),
    }
}

/// Runs `runs` runs of `kinds` on `executor`, `parallel` at a time;
/// their tally, or the first failure.
pub(crate) async fn many(
    executor: std::sync::Arc<dyn Executor>,
    kinds: &'static [Run],
    runs: usize,
    parallel: usize,
    marker: &str,
    mut progress: impl FnMut(usize),
) -> Result<Tally, String> {
    let mut tally = Tally::default();
    let mut running = tokio::task::JoinSet::new();
    let mut next = 0;
    let mut done = 0;
    while done < runs {
        while next < runs && running.len() < parallel {
            let (executor, marker) = (executor.clone(), marker.to_owned());
            let n = next;
            running.spawn(async move { one(&*executor, Run::nth(kinds, n), n, &marker).await });
            next += 1;
        }
        if let Some(result) = running.join_next().await {
            let what = result.map_err(|e| format!("a run panicked: {e}"))??;
            tally.count(what);
            done += 1;
            progress(done);
        }
    }
    Ok(tally)
}

/// Runs `runs` runs of `kinds` on a daemon's `executor`, `parallel` at a
/// time, printing progress every 100; then settles. Their tally, how long
/// they took, and how much was still in flight after settling.
pub(crate) async fn on_daemon(
    executor: std::sync::Arc<dyn Executor>,
    kinds: &'static [Run],
    runs: usize,
    parallel: usize,
    marker: &str,
) -> Result<(Tally, Duration, usize), String> {
    let started = std::time::Instant::now();
    let tally = many(executor, kinds, runs, parallel, marker, |done| {
        if done % 100 == 0 {
            eprintln!("  {done} of {runs} runs");
        }
    })
    .await?;
    let elapsed = started.elapsed();
    let unsettled = exec_core::settle(Duration::from_secs(30)).await;
    Ok((tally, elapsed, unsettled))
}

/// Asks `left` until it says nothing is left (`None`), 30 s at most (the
/// daemon finishes removing what ended a moment ago); what it said last.
pub(crate) async fn until_nothing_left<T, F, Fut>(mut left: F) -> Result<Option<T>, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, String>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found = left().await?;
        if found.is_none() || std::time::Instant::now() > deadline {
            return Ok(found);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
