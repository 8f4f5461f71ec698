//! The conformance suite every backend runs against itself (feature `conformance`).
//!
//! Each case is a public async function that takes a [`Backend`] — something
//! that builds an executor of that backend from [`ExecutorSettings`] — and
//! panics with a message saying what broke. [`conformance_tests!`](crate::conformance_tests!) turns the
//! whole suite into one `#[tokio::test]` per case in the backend's own test
//! crate, so each case passes or fails on its own:
//!
//! ```text
//! fn backend() -> Option<impl exec_core::conformance::Backend> {
//!     Some(|settings| Ok(Arc::new(MyExecutor::new(settings)) as Arc<dyn Executor>))
//! }
//! exec_core::conformance_tests!(backend());
//! ```
//!
//! The expression given to the macro is evaluated in every test; `None` skips
//! the case (a backend whose daemon is absent prints why and returns `None`
//! unless it was told the daemon is required).
//!
//! The commands used are `echo`, `sh`, `cat`, `wc`, `head`, `sleep`, `env`,
//! `pwd` and `printf`, found on the `PATH` `/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`:
//! a busybox image is enough.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{ErrorKind, ExecOptions, Executor, ExecutorSettings, Output, Result, Whitelist};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The `PATH` every case sets in `default_env`.
pub const PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

/// How long any one step may take before the case fails instead of hanging.
const STEP: Duration = Duration::from_secs(60);

/// Builds executors of the backend under test.
pub trait Backend: Send + Sync {
    /// An executor of this backend with these settings (and whatever the backend
    /// itself needs, such as an image or an instance).
    ///
    /// # Errors
    ///
    /// Whatever building the executor can fail with.
    fn executor(&self, settings: ExecutorSettings) -> Result<Arc<dyn Executor>>;
}

impl<F> Backend for F
where
    F: Fn(ExecutorSettings) -> Result<Arc<dyn Executor>> + Send + Sync,
{
    fn executor(&self, settings: ExecutorSettings) -> Result<Arc<dyn Executor>> {
        self(settings)
    }
}

/// Generates one `#[tokio::test]` per conformance case. The argument is an
/// expression of type `Option<impl Backend>`; `None` skips the case.
/// The calling crate needs `tokio` with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! conformance_tests {
    ($backend:expr) => {
        $crate::conformance_tests!(@cases ($backend)
            echo_prints_its_arguments
            stdout_and_stderr_are_kept_apart
            exit_codes_are_reported
            environment_is_clean_and_merged
            work_dir_is_used
            stdin_written_then_closed_reaches_eof
            large_output_arrives_complete
            streams_can_be_taken_before_start
            output_is_kept_when_wait_runs_before_reading
            signal_15_gives_143
            close_force_returns_promptly_and_reaps
            timeout_ends_the_command
            start_twice_and_wait_before_start_are_invalid
            close_before_start_is_fine
            whitelist_denial_happens_before_anything_runs
            bad_command_lines_are_invalid
            output_is_decoded
            many_processes_at_once
            output_collects_everything_and_closes_stdin
        );
    };
    (@cases ($backend:expr) $($case:ident)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                if let Some(backend) = $backend {
                    $crate::conformance::$case(&backend).await;
                }
            }
        )*
    };
}

fn settings(case: &str) -> ExecutorSettings {
    ExecutorSettings::new(format!("conformance:{case}")).default_env_var("PATH", PATH)
}

fn executor(backend: &dyn Backend, settings: ExecutorSettings) -> Arc<dyn Executor> {
    let id = settings.id().to_owned();
    backend
        .executor(settings)
        .unwrap_or_else(|e| panic!("building executor {id}: {e}"))
}

async fn step<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(STEP, future).await {
        Ok(value) => value,
        Err(_) => panic!("{what} did not finish within {STEP:?}"),
    }
}

async fn read_all(stream: Option<crate::ProcessOutput>) -> Vec<u8> {
    let mut stream = stream.expect("the output stream was already taken");
    let mut bytes = Vec::new();
    stream
        .read_to_end(&mut bytes)
        .await
        .expect("reading output");
    bytes
}

async fn run(executor: &dyn Executor, command: &str, options: ExecOptions) -> Output {
    let process = executor
        .create_process(command, options)
        .unwrap_or_else(|e| panic!("creating {command:?}: {e}"));
    let output = step(&format!("running {command:?}"), process.output())
        .await
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    step("closing", process.close(false)).await.expect("close");
    output
}

/// `echo hello 'two words'` prints `hello two words` and exits 0.
pub async fn echo_prints_its_arguments(backend: &dyn Backend) {
    let exec = executor(backend, settings("echo"));
    let out = run(exec.as_ref(), "echo hello 'two words'", ExecOptions::new()).await;
    assert_eq!(out.stdout_lossy(), "hello two words\n");
    assert_eq!(out.stderr_lossy(), "");
    assert!(out.status.success(), "{}", out.status);
}

/// What goes to stdout and what goes to stderr arrive on their own streams.
pub async fn stdout_and_stderr_are_kept_apart(backend: &dyn Backend) {
    let exec = executor(backend, settings("apart"));
    let out = run(
        exec.as_ref(),
        "sh -c 'echo out; echo err >&2; echo out2'",
        ExecOptions::new(),
    )
    .await;
    assert_eq!(out.stdout_lossy(), "out\nout2\n");
    assert_eq!(out.stderr_lossy(), "err\n");
}

/// Exit codes 0, 1, 42 and 255 come back as they were; non-zero is not an error.
pub async fn exit_codes_are_reported(backend: &dyn Backend) {
    let exec = executor(backend, settings("exit-codes"));
    for code in [0, 1, 42, 255] {
        let out = run(
            exec.as_ref(),
            &format!("sh -c 'exit {code}'"),
            ExecOptions::new(),
        )
        .await;
        assert_eq!(out.status.code(), code, "{}", out.status);
        assert_eq!(out.status.exit_code(), Some(code));
        assert_eq!(out.status.signal(), None);
        assert_eq!(out.status.success(), code == 0);
    }
}

/// Variables the backend itself always sets; everything else the child sees
/// must come from the configuration.
const BACKEND_VARIABLES: &[&str] = &[
    "PATH",
    "HOME",
    "HOSTNAME",
    "TERM",
    "LANG",
    "USER",
    "PWD",
    "SHLVL",
    "_",
    "container",
];

/// The child sees `default_env` overridden by the call's `env`, and nothing of
/// the host's environment.
pub async fn environment_is_clean_and_merged(backend: &dyn Backend) {
    let exec = executor(
        backend,
        settings("env")
            .default_env_var("EXEC_A", "from-default")
            .default_env_var("EXEC_B", "from-default"),
    );
    let options = ExecOptions::new()
        .env("EXEC_B", "from-call")
        .env("EXEC_C", "from call");
    let out = run(exec.as_ref(), "env", options).await;
    let child: BTreeMap<String, String> = out
        .stdout_lossy()
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(
        child.get("EXEC_A").map(String::as_str),
        Some("from-default")
    );
    assert_eq!(child.get("EXEC_B").map(String::as_str), Some("from-call"));
    assert_eq!(child.get("EXEC_C").map(String::as_str), Some("from call"));
    assert_eq!(child.get("PATH").map(String::as_str), Some(PATH));
    for (name, _) in std::env::vars() {
        if !BACKEND_VARIABLES.contains(&name.as_str()) {
            assert!(
                !child.contains_key(&name),
                "the host's {name} leaked into the child: {child:?}"
            );
        }
    }
}

/// `default_work_dir` is used, and a call's `work_dir` overrides it.
pub async fn work_dir_is_used(backend: &dyn Backend) {
    let exec = executor(backend, settings("work-dir").default_work_dir("/"));
    let out = run(exec.as_ref(), "pwd", ExecOptions::new()).await;
    assert_eq!(out.stdout_lossy(), "/\n");
    let out = run(exec.as_ref(), "pwd", ExecOptions::new().work_dir("/tmp")).await;
    assert_eq!(out.stdout_lossy(), "/tmp\n");
}

/// What is written to stdin reaches the command, and closing stdin is EOF, both
/// through `write_stdin`/`close_stdin` and through the taken writer.
pub async fn stdin_written_then_closed_reaches_eof(backend: &dyn Backend) {
    let exec = executor(backend, settings("stdin"));

    let process = exec.create_process("cat", ExecOptions::new()).unwrap();
    let stdout = process.take_stdout();
    process.start().await.expect("start cat");
    process.write_stdin(b"hello\n").await.expect("write");
    process
        .write_stdin(b"")
        .await
        .expect("an empty write is no EOF");
    process.write_stdin(b"world\n").await.expect("write");
    process.close_stdin().await.expect("close stdin");
    process
        .close_stdin()
        .await
        .expect("closing stdin twice is fine");
    let out = step("cat to end", read_all(stdout)).await;
    assert_eq!(String::from_utf8_lossy(&out), "hello\nworld\n");
    assert!(
        step("wait cat", process.wait())
            .await
            .expect("wait")
            .success()
    );
    let err = process
        .write_stdin(b"late")
        .await
        .expect_err("writing after close_stdin");
    assert_eq!(err.kind(), ErrorKind::Invalid);

    let process = exec.create_process("wc -c", ExecOptions::new()).unwrap();
    let mut stdin = process.take_stdin().expect("stdin");
    assert!(process.take_stdin().is_none(), "stdin can be taken once");
    let stdout = process.take_stdout();
    process.start().await.expect("start wc");
    stdin.write_all(&[b'x'; 100_000]).await.expect("write");
    stdin.shutdown().await.expect("shutdown is EOF");
    let out = step("wc to end", read_all(stdout)).await;
    assert_eq!(String::from_utf8_lossy(&out).trim(), "100000");
    assert!(
        step("wait wc", process.wait())
            .await
            .expect("wait")
            .success()
    );
}

/// 64 MiB of output arrive complete.
pub async fn large_output_arrives_complete(backend: &dyn Backend) {
    const SIZE: usize = 64 * 1024 * 1024;
    let exec = executor(backend, settings("large-output"));
    let started = Instant::now();
    let out = run(
        exec.as_ref(),
        &format!("head -c {SIZE} /dev/zero"),
        ExecOptions::new(),
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(out.stdout.len(), SIZE);
    assert!(out.stdout.iter().all(|b| *b == 0));
    assert!(out.status.success());
    eprintln!("64 MiB of output in {elapsed:?}");
}

/// stdin, stdout and stderr can all be taken before `start`, once each.
pub async fn streams_can_be_taken_before_start(backend: &dyn Backend) {
    let exec = executor(backend, settings("take-before-start"));
    let process = exec
        .create_process(
            "sh -c 'read line; echo \"got $line\"; echo done >&2'",
            ExecOptions::new(),
        )
        .unwrap();
    let mut stdin = process.take_stdin().expect("stdin before start");
    let stdout = process.take_stdout();
    let stderr = process.take_stderr();
    assert!(stdout.is_some() && stderr.is_some());
    assert!(process.take_stdout().is_none() && process.take_stderr().is_none());
    // Written before the process exists: held until it starts.
    stdin
        .write_all(b"early\n")
        .await
        .expect("write before start");
    process.start().await.expect("start");
    drop(stdin);
    let (out, err) = step("reading", async {
        tokio::join!(read_all(stdout), read_all(stderr))
    })
    .await;
    assert_eq!(String::from_utf8_lossy(&out), "got early\n");
    assert_eq!(String::from_utf8_lossy(&err), "done\n");
    assert!(step("wait", process.wait()).await.unwrap().success());
}

/// Output produced before `wait` returns stays readable after it, up to the
/// output buffer (here 300 kB, more than a pipe holds).
pub async fn output_is_kept_when_wait_runs_before_reading(backend: &dyn Backend) {
    let exec = executor(backend, settings("wait-first"));
    let process = exec
        .create_process(
            "sh -c 'head -c 300000 /dev/zero; echo end; echo err >&2'",
            ExecOptions::new(),
        )
        .unwrap();
    process.start().await.expect("start");
    let status = step("wait before reading", process.wait())
        .await
        .expect("wait");
    assert!(status.success());
    let stdout = step("stdout", read_all(process.take_stdout())).await;
    let stderr = step("stderr", read_all(process.take_stderr())).await;
    assert_eq!(stdout.len(), 300_004);
    assert!(stdout.ends_with(b"end\n"));
    assert_eq!(String::from_utf8_lossy(&stderr), "err\n");
}

/// `signal(15)` ends a sleeping command, reported as 143.
pub async fn signal_15_gives_143(backend: &dyn Backend) {
    let exec = executor(backend, settings("signal"));
    let process = exec.create_process("sleep 30", ExecOptions::new()).unwrap();
    let err = process.signal(15).await.expect_err("signal before start");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    process.start().await.expect("start");
    process.signal(15).await.expect("signal 15");
    let status = step("wait after SIGTERM", process.wait())
        .await
        .expect("wait");
    assert_eq!(status.code(), 143, "{status}");
    assert_eq!(status.signal(), Some(15));
    process
        .signal(15)
        .await
        .expect("signalling an exited process does nothing");
    process.close(false).await.expect("close");
}

/// `close(true)` kills a running command promptly, reaps it, and may be repeated.
pub async fn close_force_returns_promptly_and_reaps(backend: &dyn Backend) {
    let exec = executor(backend, settings("close"));
    let process = exec.create_process("sleep 30", ExecOptions::new()).unwrap();
    process.start().await.expect("start");
    let started = Instant::now();
    step("close(true)", process.close(true))
        .await
        .expect("close");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(10),
        "close(true) took {elapsed:?}"
    );
    let status = step("wait after close", process.wait())
        .await
        .expect("wait after close");
    assert!(!status.success(), "{status}");
    step("close again", process.close(true))
        .await
        .expect("closing twice is fine");
}

/// A command that outlives its timeout is killed and `wait` reports `Timeout`.
pub async fn timeout_ends_the_command(backend: &dyn Backend) {
    let exec = executor(backend, settings("timeout"));
    let options = ExecOptions::new().timeout(Duration::from_millis(500));
    let process = exec.create_process("sleep 30", options).unwrap();
    let started = Instant::now();
    process.start().await.expect("start");
    let err = step("wait for the timeout", process.wait())
        .await
        .expect_err("timeout");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(err.to_string().contains("sleep 30"), "{err}");
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(15),
        "the timeout took {elapsed:?}"
    );
    assert_eq!(
        process.wait().await.expect_err("again").kind(),
        ErrorKind::Timeout
    );
    process.close(true).await.expect("close");
}

/// Starting twice, and waiting or signalling before start, are `Invalid`.
pub async fn start_twice_and_wait_before_start_are_invalid(backend: &dyn Backend) {
    let exec = executor(backend, settings("misuse"));
    let process = exec.create_process("true", ExecOptions::new()).unwrap();
    let err = process.wait().await.expect_err("wait before start");
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    process.start().await.expect("start");
    let err = process.start().await.expect_err("start twice");
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(step("wait", process.wait()).await.unwrap().success());
    process.close(false).await.unwrap();
}

/// Closing a process that never started releases it; it cannot start after.
pub async fn close_before_start_is_fine(backend: &dyn Backend) {
    let exec = executor(backend, settings("close-before-start"));
    let process = exec
        .create_process("echo never", ExecOptions::new())
        .unwrap();
    process.close(false).await.expect("close before start");
    let err = process.start().await.expect_err("start after close");
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
}

/// A command outside the whitelist is refused by `create_process`, before any
/// process exists; a different spelling of a listed command is allowed.
pub async fn whitelist_denial_happens_before_anything_runs(backend: &dyn Backend) {
    let whitelist = Whitelist::parse(["echo allowed", "echo 'two words'"]).unwrap();
    let exec = executor(backend, settings("whitelist").whitelist(whitelist));
    for denied in [
        "sh -c 'echo ran'",
        "echo allowed extra",
        "echo two words",
        "echo",
    ] {
        let err = exec
            .create_process(denied, ExecOptions::new())
            .expect_err("a command outside the whitelist");
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        assert!(err.to_string().contains(&format!("{denied:?}")), "{err}");
    }
    let out = run(exec.as_ref(), "echo \"two words\"", ExecOptions::new()).await;
    assert_eq!(out.stdout_lossy(), "two words\n");
    let out = run(exec.as_ref(), "'echo'   allowed", ExecOptions::new()).await;
    assert_eq!(out.stdout_lossy(), "allowed\n");
}

/// Unclosed quotes and empty commands are `Invalid` at `create_process`.
pub async fn bad_command_lines_are_invalid(backend: &dyn Backend) {
    let exec = executor(backend, settings("bad-lines"));
    for bad in ["echo 'unclosed", "echo \"unclosed", "", "   "] {
        let err = exec.create_process(bad, ExecOptions::new()).expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    }
}

/// With `output_encoding: cp949`, EUC-KR output arrives as UTF-8.
pub async fn output_is_decoded(backend: &dyn Backend) {
    let encoding = crate::decode::encoding_for_label("cp949").unwrap();
    let exec = executor(backend, settings("decode").output_encoding(Some(encoding)));
    let out = run(
        exec.as_ref(),
        r"printf '\307\321\261\333\n'",
        ExecOptions::new(),
    )
    .await;
    assert_eq!(out.stdout_lossy(), "한글\n");
}

/// 32 processes at once each get their own output and exit code.
pub async fn many_processes_at_once(backend: &dyn Backend) {
    let exec = executor(backend, settings("many"));
    let runs = (0..32).map(|i| {
        let exec = exec.clone();
        async move {
            let out = run(
                exec.as_ref(),
                &format!("sh -c 'echo {i}; exit {}'", i % 4),
                ExecOptions::new(),
            )
            .await;
            (i, out)
        }
    });
    for (i, out) in futures_join_all(runs).await {
        assert_eq!(out.stdout_lossy(), format!("{i}\n"));
        assert_eq!(out.status.code(), i % 4);
    }
}

/// `output()` closes stdin, collects both streams and reports a non-zero exit
/// as a status.
pub async fn output_collects_everything_and_closes_stdin(backend: &dyn Backend) {
    let exec = executor(backend, settings("output"));
    let process = exec
        .create_process(
            "sh -c 'cat; echo done; echo oops >&2; exit 3'",
            ExecOptions::new(),
        )
        .unwrap();
    let out = step("output()", process.output()).await.expect("output");
    assert_eq!(out.stdout_lossy(), "done\n");
    assert_eq!(out.stderr_lossy(), "oops\n");
    assert_eq!(out.status.code(), 3);
    let err = step("output() again", process.output())
        .await
        .expect_err("a second start");
    assert_eq!(err.kind(), ErrorKind::Invalid);
}

/// Runs futures concurrently on the current task (no extra dependency).
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    for (index, future) in futures.into_iter().enumerate() {
        set.spawn(async move { (index, future.await) });
    }
    let mut results: Vec<(usize, F::Output)> = Vec::new();
    while let Some(joined) = set.join_next().await {
        results.push(joined.expect("a run panicked"));
    }
    results.sort_by_key(|(index, _)| *index);
    results.into_iter().map(|(_, output)| output).collect()
}

/// What a process holds that must not leak, for tests that run many commands
/// and compare before with after (Linux `/proc`).
pub mod leaks {
    /// How many file descriptors this process has open.
    pub fn open_fds() -> usize {
        std::fs::read_dir("/proc/self/fd").map_or(0, Iterator::count)
    }

    /// The pids of this process's children that exited and were not reaped.
    pub fn zombie_children() -> Vec<i32> {
        let me = std::process::id().to_string();
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let mut zombies = Vec::new();
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // Fields after the command name, which may itself hold ") ".
            let Some((_, rest)) = stat.rsplit_once(')') else {
                continue;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.first() == Some(&"Z") && fields.get(1) == Some(&me.as_str()) {
                zombies.push(pid);
            }
        }
        zombies
    }
}

/// Side-by-side measurement for `cargo xtask bench`: each figure alternates a
/// backend's run with its baseline's (so machine noise hits both alike) and
/// prints the two medians and their ratio.
pub mod bench {
    use std::future::Future;
    use std::time::{Duration, Instant};

    /// The width of the figure's name column.
    const NAME_WIDTH: usize = 42;

    /// Prints the header of a table of figures: what `ours` is called.
    pub fn header(ours: &str) {
        println!(
            "{:<NAME_WIDTH$} {:>12} {:>12} {:>7}",
            "figure", ours, "baseline", "ratio"
        );
    }

    /// Runs `ours` and `baseline` `runs` times each, alternating (after one
    /// untimed round each to warm caches), and prints one line of medians and
    /// their ratio (ours / baseline).
    pub async fn figure<A, AF, B, BF>(name: &str, runs: usize, mut ours: A, mut baseline: B)
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
        let (a, b) = (median(a), median(b));
        println!(
            "{name:<NAME_WIDTH$} {a:>12.3?} {b:>12.3?} {:>7.2}",
            a.as_secs_f64() / b.as_secs_f64()
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
}
