//! The conformance suite every backend runs against itself (feature `conformance`).
//!
//! Each case is a public async function that takes a [`Backend`] — something
//! that builds an executor of that backend from [`ExecutorSettings`] — and
//! panics with a message saying what broke. [`conformance_tests!`](crate::conformance_tests!)
//! turns the whole suite into one `#[test]` per case in the backend's own test
//! crate, so each case passes or fails on its own. The macro brings its own
//! tokio runtime: the calling crate needs nothing but `exec-core` with this
//! feature.
//!
//! ```text
//! fn backend() -> Option<impl exec_core::conformance::Backend> {
//!     Some(|settings| Ok(Arc::new(MyExecutor::new(settings)) as Arc<dyn Executor>))
//! }
//! exec_core::conformance_tests!(backend());
//! ```
//!
//! The expression given to the macro is evaluated in every test, inside the
//! runtime; `None` skips the case. A backend that needs a daemon gets it with
//! [`daemon_or_skip`]: skipped with a printed reason under plain `cargo test`,
//! a failure when [`REQUIRE_DAEMONS`] is set (as `cargo xtask test-all` sets it).
//!
//! What a backend can do beyond the common contract it declares in
//! [`Executor::capabilities`]; the suite checks each claim both ways (a pid is
//! reported if and only if `host_pid` is declared; without `signals`,
//! `signal()` must refuse; with `oom_killed`, an out-of-memory kill must be
//! reported, using [`Backend::memory_limited`]).
//!
//! The commands used are `echo`, `sh`, `cat`, `wc`, `head`, `sleep`, `env`,
//! `pwd`, `true`, `printf`, and for terminals `stty` and `tty`, found on the `PATH`
//! `/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`: a busybox image is enough.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::{
    CommandSpec, ErrorKind, ExecOptions, Executor, ExecutorSettings, Output, OutputReader,
    ProcessState, Result, Whitelist,
};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// The `PATH` every case sets in `default_env`.
pub const PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

/// The environment variable that makes a missing daemon fail a test instead
/// of skipping it (any value but empty or `0`).
pub const REQUIRE_DAEMONS: &str = "EXEC_REQUIRE_DAEMONS";

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

    /// An executor whose commands may use at most `bytes` of memory, for
    /// backends that declare [`oom_killed`](crate::Capabilities::oom_killed);
    /// `None` (the default) where the backend cannot limit memory.
    fn memory_limited(
        &self,
        settings: ExecutorSettings,
        bytes: u64,
    ) -> Option<Result<Arc<dyn Executor>>> {
        let _ = (settings, bytes);
        None
    }
}

impl<F> Backend for F
where
    F: Fn(ExecutorSettings) -> Result<Arc<dyn Executor>> + Send + Sync,
{
    fn executor(&self, settings: ExecutorSettings) -> Result<Arc<dyn Executor>> {
        self(settings)
    }
}

/// The daemon (or other outside service) a backend's tests need: `probe`'s
/// value when it is there. When it is not, the tests are skipped with the
/// reason printed — unless [`REQUIRE_DAEMONS`] is set, and then this panics
/// with the reason, so a missing daemon fails loudly.
///
/// ```
/// use exec_core::conformance::daemon_or_skip;
///
/// let probe: Result<&str, String> = Err("no socket at /run/docker.sock".into());
/// # unsafe { std::env::remove_var("EXEC_REQUIRE_DAEMONS") };
/// assert_eq!(daemon_or_skip("dockerd", probe), None);
/// assert_eq!(daemon_or_skip("dockerd", Ok::<_, String>("client")), Some("client"));
/// ```
///
/// # Panics
///
/// When the daemon is missing and [`REQUIRE_DAEMONS`] is set.
pub fn daemon_or_skip<T, E: std::fmt::Display>(
    daemon: &str,
    probe: std::result::Result<T, E>,
) -> Option<T> {
    match probe {
        Ok(value) => Some(value),
        Err(reason) => {
            let required = std::env::var(REQUIRE_DAEMONS).is_ok_and(|v| !v.is_empty() && v != "0");
            assert!(
                !required,
                "{daemon} is required ({REQUIRE_DAEMONS} is set) but not available: {reason}"
            );
            eprintln!(
                "skipped: {daemon} is not available: {reason} (set {REQUIRE_DAEMONS}=1 to fail instead)"
            );
            None
        }
    }
}

/// Runs one case on a runtime of the suite's own (two worker threads), so
/// the calling test needs no tokio set-up. Used by
/// [`conformance_tests!`](crate::conformance_tests!).
///
/// # Panics
///
/// When the runtime cannot be built, or the case fails.
pub fn block_on<F: std::future::Future>(case: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("building the conformance suite's tokio runtime")
        .block_on(case)
}

/// Generates one `#[test]` per conformance case. The argument is an
/// expression of type `Option<impl Backend>`, evaluated inside the suite's
/// runtime; `None` skips the case. The calling crate needs no tokio set-up.
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
            signals_work_as_declared
            close_force_returns_promptly_and_reaps
            timeout_ends_the_command
            start_twice_and_wait_before_start_are_invalid
            close_before_start_is_fine
            whitelist_denial_happens_before_anything_runs
            bad_command_lines_are_invalid
            words_and_lines_are_the_same_command
            messages_quote_long_commands_briefly
            state_follows_the_life_cycle
            host_pid_is_reported_as_declared
            oom_kill_is_reported_as_declared
            mounts_are_refused_unless_declared
            output_is_decoded
            many_processes_at_once
            output_collects_everything_and_closes_stdin
            close_during_start_kills_what_started
            close_from_two_tasks_at_once
            drop_during_start_leaves_nothing_in_flight
            exit_143_of_its_own_is_a_code
            signal_after_exit_does_nothing
            three_waiters_and_a_close_agree
            timeout_shorter_than_the_start
            close_begins_before_it_is_awaited
            close_keeps_its_grace_period
            pty_is_refused_unless_declared
            pty_has_the_size_asked_for
            pty_resize_reaches_the_command
            pty_is_a_terminal
            pty_ctrl_c_interrupts_the_command
            pty_ctrl_d_ends_the_input
            pty_exit_codes_and_close_are_as_with_pipes
        );
    };
    (@cases ($backend:expr) $($case:ident)*) => {
        $(
            #[test]
            fn $case() {
                $crate::conformance::block_on(async {
                    if let ::std::option::Option::Some(backend) = $backend {
                        $crate::conformance::$case(&backend).await;
                    }
                });
            }
        )*
    };
}

fn settings(case: &str) -> ExecutorSettings {
    ExecutorSettings::new(format!("conformance:{case}")).with_default_env_var("PATH", PATH)
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

async fn read_all(stream: Option<OutputReader>) -> Vec<u8> {
    let mut stream = stream.expect("the output stream was already taken");
    stream.read_to_vec().await.expect("reading output")
}

async fn run(
    executor: &dyn Executor,
    command: impl Into<CommandSpec>,
    options: ExecOptions,
) -> Output {
    let command = command.into();
    let process = executor
        .create_process(command.clone(), options)
        .unwrap_or_else(|e| panic!("creating {command:?}: {e}"));
    let output = step(&format!("running {command:?}"), process.output())
        .await
        .unwrap_or_else(|e| panic!("running {command:?}: {e}"));
    step("closing", process.close(false)).await.expect("close");
    output
}

/// Waits until the backend reports `state` by itself (nobody calls `wait`).
async fn until_state(process: &dyn crate::Process, state: ProcessState) {
    let started = Instant::now();
    while process.state() != state {
        assert!(
            started.elapsed() < STEP,
            "the process stayed {} instead of becoming {state}",
            process.state()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
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
        assert_eq!(out.status.code(), Some(code), "{}", out.status);
        assert_eq!(out.status.shell_code(), code);
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
            .with_default_env_var("EXEC_A", "from-default")
            .with_default_env_var("EXEC_B", "from-default"),
    );
    let options = ExecOptions::new()
        .with_env("EXEC_B", "from-call")
        .with_env("EXEC_C", "from call");
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
    let exec = executor(backend, settings("work-dir").with_default_work_dir("/"));
    let out = run(exec.as_ref(), "pwd", ExecOptions::new()).await;
    assert_eq!(out.stdout_lossy(), "/\n");
    let out = run(
        exec.as_ref(),
        "pwd",
        ExecOptions::new().with_work_dir("/tmp"),
    )
    .await;
    assert_eq!(out.stdout_lossy(), "/tmp\n");
}

/// What is written to stdin reaches the command, and closing stdin is EOF, both
/// through `write_stdin`/`close_stdin` and through the taken writer.
pub async fn stdin_written_then_closed_reaches_eof(backend: &dyn Backend) {
    let exec = executor(backend, settings("stdin"));

    let process = exec
        .create_process("cat".into(), ExecOptions::new())
        .unwrap();
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

    let process = exec
        .create_process("wc -c".into(), ExecOptions::new())
        .unwrap();
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
        format!("head -c {SIZE} /dev/zero"),
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
            "sh -c 'read line; echo \"got $line\"; echo done >&2'".into(),
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
            "sh -c 'head -c 300000 /dev/zero; echo end; echo err >&2'".into(),
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

/// Without [`mounts`](crate::Capabilities::mounts) declared, a call that
/// asks for a mount is refused as `Invalid` naming `mounts` before anything
/// runs; with it, a mount of a bad form (a relative target) is still
/// `Invalid`.
pub async fn mounts_are_refused_unless_declared(backend: &dyn Backend) {
    let exec = executor(backend, settings("mounts"));
    let mount = crate::Mount::new("/tmp", "/mnt/data").with_read_only(true);
    if !exec.capabilities().mounts {
        let err = exec
            .create_process("true".into(), ExecOptions::new().with_mount(mount))
            .expect_err("a backend that does not declare mounts must refuse them");
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
        assert!(err.to_string().contains("mounts"), "{err}");
    }
    let relative = crate::Mount::new("/tmp", "data");
    let err = exec
        .create_process("true".into(), ExecOptions::new().with_mount(relative))
        .expect_err("a relative mount target");
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
}

/// With [`signals`](crate::Capabilities::signals) declared, `signal(15)`
/// ends a sleeping command, reported as signal 15 (shell code 143); without
/// it, `signal()` refuses with an error and the command runs on.
pub async fn signals_work_as_declared(backend: &dyn Backend) {
    let exec = executor(backend, settings("signal"));
    let declared = exec.capabilities().signals;
    let process = exec
        .create_process("sleep 30".into(), ExecOptions::new())
        .unwrap();
    let err = process.signal(15).await.expect_err("signal before start");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    process.start().await.expect("start");
    if !declared {
        process
            .signal(15)
            .await
            .expect_err("a backend that does not declare signals must refuse signal()");
        assert_eq!(process.state(), ProcessState::Running);
        step("close", process.close(true)).await.expect("close");
        return;
    }
    process.signal(15).await.expect("signal 15");
    let status = step("wait after SIGTERM", process.wait())
        .await
        .expect("wait");
    assert_eq!(status.signal(), Some(15), "{status}");
    assert_eq!(status.code(), None, "{status}");
    assert_eq!(status.shell_code(), 143, "{status}");
    assert!(!status.oom_killed(), "{status}");
    process
        .signal(15)
        .await
        .expect("signalling an exited process does nothing");
    process.close(false).await.expect("close");
}

/// `close(true)` kills a running command promptly, reaps it, and may be repeated.
pub async fn close_force_returns_promptly_and_reaps(backend: &dyn Backend) {
    let exec = executor(backend, settings("close"));
    let process = exec
        .create_process("sleep 30".into(), ExecOptions::new())
        .unwrap();
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
    let options = ExecOptions::new().with_timeout(Duration::from_millis(500));
    let process = exec.create_process("sleep 30".into(), options).unwrap();
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
    let process = exec
        .create_process("true".into(), ExecOptions::new())
        .unwrap();
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
        .create_process("echo never".into(), ExecOptions::new())
        .unwrap();
    let stdout = process.take_stdout();
    process.close(false).await.expect("close before start");
    assert_eq!(process.state(), ProcessState::Closed);
    let err = process.start().await.expect_err("start after close");
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    let out = step(
        "reading a stream of a process closed unstarted",
        read_all(stdout),
    )
    .await;
    assert!(out.is_empty());
}

/// A command outside the whitelist is refused by `create_process`, before any
/// process exists; a different spelling of a listed command is allowed.
pub async fn whitelist_denial_happens_before_anything_runs(backend: &dyn Backend) {
    let whitelist = Whitelist::parse(["echo allowed", "echo 'two words'"]).unwrap();
    let exec = executor(backend, settings("whitelist").with_whitelist(whitelist));
    for denied in [
        "sh -c 'echo ran'",
        "echo allowed extra",
        "echo two words",
        "echo",
    ] {
        let err = exec
            .create_process(denied.into(), ExecOptions::new())
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
        let err = exec
            .create_process(bad.into(), ExecOptions::new())
            .expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    }
}

/// With `output_encoding: cp949`, EUC-KR output arrives as UTF-8.
pub async fn output_is_decoded(backend: &dyn Backend) {
    let encoding = crate::decode::encoding_for_label("cp949").unwrap();
    let exec = executor(
        backend,
        settings("decode").with_output_encoding(Some(encoding)),
    );
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
                format!("sh -c 'echo {i}; exit {}'", i % 4),
                ExecOptions::new(),
            )
            .await;
            (i, out)
        }
    });
    for (i, out) in futures_join_all(runs).await {
        assert_eq!(out.stdout_lossy(), format!("{i}\n"));
        assert_eq!(out.status.code(), Some(i % 4));
    }
}

/// `output()` closes stdin, collects both streams and reports a non-zero exit
/// as a status.
pub async fn output_collects_everything_and_closes_stdin(backend: &dyn Backend) {
    let exec = executor(backend, settings("output"));
    let process = exec
        .create_process(
            "sh -c 'cat; echo done; echo oops >&2; exit 3'".into(),
            ExecOptions::new(),
        )
        .unwrap();
    let out = step("output()", process.output()).await.expect("output");
    assert_eq!(out.stdout_lossy(), "done\n");
    assert_eq!(out.stderr_lossy(), "oops\n");
    assert_eq!(out.status.code(), Some(3));
    let err = step("output() again", process.output())
        .await
        .expect_err("a second start");
    assert_eq!(err.kind(), ErrorKind::Invalid);
}

/// A list of words is the same command as the line that splits into them:
/// the whitelist compares the same argument vector, and words are passed as
/// they are (no splitting, no expansion). An empty list and a NUL byte are
/// `Invalid`.
pub async fn words_and_lines_are_the_same_command(backend: &dyn Backend) {
    let whitelist = Whitelist::parse(["echo 'a b'", "printf '%s|' '$HOME' '*' 'x y'"]).unwrap();
    let exec = executor(backend, settings("words").with_whitelist(whitelist));
    let out = run(exec.as_ref(), ["echo", "a b"], ExecOptions::new()).await;
    assert_eq!(out.stdout_lossy(), "a b\n");
    let out = run(
        exec.as_ref(),
        ["printf", "%s|", "$HOME", "*", "x y"],
        ExecOptions::new(),
    )
    .await;
    assert_eq!(out.stdout_lossy(), "$HOME|*|x y|");
    for denied in [
        vec!["echo", "a", "b"],
        vec!["echo", "'a b'"],
        vec!["echo a b"],
    ] {
        let err = exec
            .create_process(denied.clone().into(), ExecOptions::new())
            .expect_err("words outside the whitelist");
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{denied:?}: {err}");
    }
    let open = executor(backend, settings("words-open"));
    for bad in [Vec::<&str>::new(), vec!["echo", "a\0b"], vec!["\0"]] {
        let err = open
            .create_process(bad.clone().into(), ExecOptions::new())
            .expect_err("bad words");
        assert_eq!(err.kind(), ErrorKind::Invalid, "{bad:?}: {err}");
    }
}

/// Errors quote a few hundred bytes of a command at most, however long it is.
pub async fn messages_quote_long_commands_briefly(backend: &dyn Backend) {
    let whitelist = Whitelist::parse(["echo short"]).unwrap();
    let exec = executor(backend, settings("long-messages").with_whitelist(whitelist));
    let huge = "x".repeat(3 * 1024 * 1024);
    let err = exec
        .create_process(format!("echo {huge}").into(), ExecOptions::new())
        .expect_err("not whitelisted");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(
        err.to_string().len() < 1024,
        "a {}-byte message",
        err.to_string().len()
    );
    let err = exec
        .create_process(
            vec!["echo".to_owned(), huge.clone()].into(),
            ExecOptions::new(),
        )
        .expect_err("not whitelisted");
    assert!(
        err.to_string().len() < 1024,
        "a {}-byte message",
        err.to_string().len()
    );
    let err = exec
        .create_process(format!("echo '{huge}").into(), ExecOptions::new())
        .expect_err("unclosed quote");
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(
        err.to_string().len() < 1024,
        "a {}-byte message",
        err.to_string().len()
    );
}

/// The state goes created → running → exited (seen by the backend without a
/// `wait`) → closed; a timeout leaves it exited; `close` of a running or an
/// unstarted process makes it closed.
pub async fn state_follows_the_life_cycle(backend: &dyn Backend) {
    let exec = executor(backend, settings("state"));
    let process = exec
        .create_process("cat".into(), ExecOptions::new())
        .unwrap();
    assert_eq!(process.state(), ProcessState::Created);
    process.start().await.expect("start");
    assert_eq!(process.state(), ProcessState::Running);
    process.close_stdin().await.expect("close stdin");
    until_state(process.as_ref(), ProcessState::Exited).await;
    assert!(step("wait", process.wait()).await.unwrap().success());
    assert_eq!(process.state(), ProcessState::Exited);
    process.close(false).await.expect("close");
    assert_eq!(process.state(), ProcessState::Closed);
    process.close(true).await.expect("close again");
    assert_eq!(process.state(), ProcessState::Closed);

    let process = exec
        .create_process("sleep 30".into(), ExecOptions::new())
        .unwrap();
    process.start().await.expect("start");
    step("close(true)", process.close(true))
        .await
        .expect("close");
    assert_eq!(process.state(), ProcessState::Closed);

    let options = ExecOptions::new().with_timeout(Duration::from_millis(300));
    let process = exec.create_process("sleep 30".into(), options).unwrap();
    process.start().await.expect("start");
    until_state(process.as_ref(), ProcessState::Exited).await;
    assert_eq!(
        step("wait", process.wait()).await.unwrap_err().kind(),
        ErrorKind::Timeout
    );
    process.close(false).await.expect("close");

    let process = exec
        .create_process("true".into(), ExecOptions::new())
        .unwrap();
    process.close(false).await.expect("close unstarted");
    assert_eq!(process.state(), ProcessState::Closed);
}

/// With [`host_pid`](crate::Capabilities::host_pid) declared, `id()` is the
/// command's pid once it started (and `None` before); without it, `id()` is
/// always `None`.
pub async fn host_pid_is_reported_as_declared(backend: &dyn Backend) {
    let exec = executor(backend, settings("pid"));
    let declared = exec.capabilities().host_pid;
    let process = exec
        .create_process("sh -c 'echo $$'".into(), ExecOptions::new())
        .unwrap();
    assert_eq!(process.id(), None, "a pid before start");
    let stdout = process.take_stdout();
    process.start().await.expect("start");
    let id = process.id();
    let printed = String::from_utf8_lossy(&step("stdout", read_all(stdout)).await)
        .trim()
        .to_owned();
    step("wait", process.wait()).await.expect("wait");
    if declared {
        let id = id.expect("host_pid is declared but id() is None after start");
        assert_eq!(
            printed,
            id.to_string(),
            "the reported pid is not the command's"
        );
    } else {
        assert_eq!(id, None, "host_pid is not declared but id() reports {id:?}");
    }
    process.close(false).await.expect("close");
}

/// With [`oom_killed`](crate::Capabilities::oom_killed) declared, a command
/// that runs out of memory under [`Backend::memory_limited`] ends with shell
/// code 137 and the OOM flag; every backend reports an ordinary exit without it.
pub async fn oom_kill_is_reported_as_declared(backend: &dyn Backend) {
    let exec = executor(backend, settings("oom"));
    let out = run(exec.as_ref(), "true", ExecOptions::new()).await;
    assert!(!out.status.oom_killed(), "{}", out.status);
    if !exec.capabilities().oom_killed {
        return;
    }
    let limited = backend
        .memory_limited(settings("oom-limited"), 32 * 1024 * 1024)
        .expect("oom_killed is declared but Backend::memory_limited gives no executor")
        .expect("building the memory-limited executor");
    let out = run(
        limited.as_ref(),
        "sh -c 'x=0123456789abcdef; while true; do x=\"$x$x\"; done'",
        ExecOptions::new(),
    )
    .await;
    assert!(out.status.oom_killed(), "{}", out.status);
    assert_eq!(out.status.shell_code(), 137, "{}", out.status);
}

/// Runs futures concurrently on the current task (no extra dependency).
/// Polls `future` once where it stands: a start begun, not finished.
fn poll_once<F: std::future::Future + Unpin>(future: &mut F) -> std::task::Poll<F::Output> {
    std::pin::Pin::new(future).poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// `close` while `start` is still in flight (begun, not returned): the close
/// waits for the start and kills what it started at once; that `start`
/// returns `Ok` (it won the race) or `Invalid`; `wait` then reports a death
/// by signal, promptly, and the process is `Closed`.
pub async fn close_during_start_kills_what_started(backend: &dyn Backend) {
    let exec = executor(backend, settings("close-during-start"));
    let process = exec
        .create_process("sleep 30".into(), ExecOptions::new())
        .unwrap();
    let mut start = process.start();
    let started = Instant::now();
    let early = match poll_once(&mut start) {
        std::task::Poll::Ready(result) => Some(result),
        std::task::Poll::Pending => None,
    };
    step("close during start", process.close(false))
        .await
        .expect("close during start");
    let result = match early {
        Some(result) => result,
        None => step("the start closed under it", start).await,
    };
    if let Err(err) = result {
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    }
    assert_eq!(process.state(), ProcessState::Closed);
    match step("wait after a close during start", process.wait()).await {
        Ok(status) => assert!(
            matches!(status.signal(), Some(9 | 15)),
            "killed by the close: {status}"
        ),
        Err(err) => assert_eq!(err.kind(), ErrorKind::Invalid, "{err}"),
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(10),
        "close during start took {elapsed:?}"
    );
}

/// Two tasks close at once: both return `Ok`, once the command has ended.
pub async fn close_from_two_tasks_at_once(backend: &dyn Backend) {
    let exec = executor(backend, settings("close-twice-at-once"));
    let process: Arc<dyn crate::Process> = exec
        .create_process("sleep 30".into(), ExecOptions::new())
        .unwrap()
        .into();
    process.start().await.expect("start");
    let closes = (0..2).map(|n| {
        let process = process.clone();
        tokio::spawn(async move { (n, process.close(n == 1).await) })
    });
    for close in futures_join_all(closes).await {
        let (n, result) = close.expect("the close task");
        result.unwrap_or_else(|e| panic!("close {n}: {e}"));
        assert_eq!(process.state(), ProcessState::Closed);
    }
    let status = step("wait after two closes", process.wait())
        .await
        .expect("wait");
    assert!(matches!(status.signal(), Some(9 | 15)), "{status}");
}

/// Dropping a process while its start is in flight: the launch finishes in
/// the background and kills what it started; nothing stays in flight.
pub async fn drop_during_start_leaves_nothing_in_flight(backend: &dyn Backend) {
    let exec = executor(backend, settings("drop-during-start"));
    let process = exec
        .create_process("sleep 30".into(), ExecOptions::new())
        .unwrap();
    let mut start = process.start();
    let _ = poll_once(&mut start);
    drop(start);
    drop(process);
    // What other cases have in flight counts too, and ends too.
    assert_eq!(
        crate::backend::in_flight::idle(STEP).await,
        0,
        "the launch of a dropped process did not finish"
    );
}

/// A command that exits 143 by itself exited with code 143: it was not
/// killed by signal 15, which nobody sent.
pub async fn exit_143_of_its_own_is_a_code(backend: &dyn Backend) {
    let exec = executor(backend, settings("exit-143"));
    for code in [129, 137, 143] {
        let output = run(
            exec.as_ref(),
            ["sh", "-c", &format!("exit {code}")],
            ExecOptions::new(),
        )
        .await;
        let status = output.status;
        assert_eq!(status.code(), Some(code), "{status}");
        assert_eq!(status.signal(), None, "{status}");
        assert_eq!(status.shell_code(), code, "{status}");
    }
}

/// Signalling a command that has ended does nothing, and is not an error.
pub async fn signal_after_exit_does_nothing(backend: &dyn Backend) {
    let exec = executor(backend, settings("signal-after-exit"));
    if !exec.capabilities().signals {
        return;
    }
    let process = exec
        .create_process(["sh", "-c", "exit 3"].into(), ExecOptions::new())
        .unwrap();
    process.start().await.expect("start");
    let status = step("wait", process.wait()).await.expect("wait");
    assert_eq!(status.code(), Some(3));
    for signal in [15, 9, 1] {
        process
            .signal(signal)
            .await
            .unwrap_or_else(|e| panic!("signal {signal} after exit: {e}"));
    }
    assert_eq!(process.wait().await.expect("wait again"), status);
    process.close(false).await.expect("close");
}

/// Three tasks wait while a fourth closes: every waiter gets the same status,
/// a death by the close's signal.
pub async fn three_waiters_and_a_close_agree(backend: &dyn Backend) {
    let exec = executor(backend, settings("waiters"));
    let process: Arc<dyn crate::Process> = exec
        .create_process("sleep 30".into(), ExecOptions::new())
        .unwrap()
        .into();
    process.start().await.expect("start");
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let process = process.clone();
            tokio::spawn(async move { process.wait().await })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(50)).await;
    step("close", process.close(true)).await.expect("close");
    let statuses: Vec<_> = step("the waiters", futures_join_all(waiters))
        .await
        .into_iter()
        .map(|joined| joined.expect("waiter task").expect("wait"))
        .collect();
    assert_eq!(statuses[0].signal(), Some(9), "{}", statuses[0]);
    assert!(statuses.iter().all(|s| *s == statuses[0]), "{statuses:?}");
}

/// A timeout shorter than the start itself counts from `start`: the command
/// is killed as soon as it runs and `wait` reports `Timeout`.
pub async fn timeout_shorter_than_the_start(backend: &dyn Backend) {
    let exec = executor(backend, settings("timeout-in-start"));
    let options = ExecOptions::new().with_timeout(Duration::from_millis(1));
    let process = exec.create_process("sleep 30".into(), options).unwrap();
    let started = Instant::now();
    process.start().await.expect("start");
    let err = step("wait for a timeout that fired during start", process.wait())
        .await
        .expect_err("timeout");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    process.close(false).await.expect("close");
}

/// Calling `close` begins the close before its future is polled: the
/// process is `Closed` at once, and the command ends even though the future
/// is dropped unpolled (what a caller that cannot wait, such as a script's
/// `proc:close()`, relies on).
pub async fn close_begins_before_it_is_awaited(backend: &dyn Backend) {
    let exec = executor(backend, settings("close-begins"));
    for force in [true, false] {
        let process = exec
            .create_process("sleep 30".into(), ExecOptions::new())
            .unwrap();
        process.start().await.expect("start");
        drop(process.close(force));
        assert_eq!(process.state(), ProcessState::Closed, "force {force}");
        let status = step("the end of a close nobody awaited", process.wait())
            .await
            .expect("wait");
        let expected = if force { 9 } else { 15 };
        assert_eq!(status.signal(), Some(expected), "force {force}: {status}");
    }
}

/// `close(false)` gives a command that ignores SIGTERM its grace period, then
/// SIGKILL; the grace is the one setting every backend shares.
pub async fn close_keeps_its_grace_period(backend: &dyn Backend) {
    let grace = Duration::from_millis(400);
    let exec = executor(backend, settings("close-grace").with_close_grace(grace));
    if !exec.capabilities().signals {
        return;
    }
    let process = exec
        .create_process(
            ["sh", "-c", "trap '' TERM; echo ready; sleep 30 & wait"].into(),
            ExecOptions::new(),
        )
        .unwrap();
    let mut stdout = process.take_stdout().unwrap();
    process.start().await.expect("start");
    let mut ready = vec![0; 6];
    step(
        "ready",
        tokio::io::AsyncReadExt::read_exact(&mut stdout, &mut ready),
    )
    .await
    .expect("read ready");
    let started = Instant::now();
    step("close(false)", process.close(false))
        .await
        .expect("close");
    let elapsed = started.elapsed();
    assert!(elapsed >= grace, "closed in {elapsed:?}, before the grace");
    assert!(
        elapsed < grace + Duration::from_secs(8),
        "closed in {elapsed:?}"
    );
    let status = process.wait().await.expect("wait");
    assert_eq!(status.signal(), Some(9), "{status}");
}

/// Reads `stream` until what came so far contains `needle`; all of it.
async fn read_until(stream: &mut OutputReader, needle: &str) -> String {
    let mut seen = Vec::new();
    let found = tokio::time::timeout(STEP, async {
        let mut buffer = [0u8; 4096];
        loop {
            let n = tokio::io::AsyncReadExt::read(stream, &mut buffer)
                .await
                .expect("reading the terminal");
            if n == 0 {
                return false;
            }
            seen.extend_from_slice(&buffer[..n]);
            if String::from_utf8_lossy(&seen).contains(needle) {
                return true;
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(
        matches!(found, Ok(true)),
        "{needle:?} never came from the terminal; it said {text:?}"
    );
    text
}

/// A process in a terminal of `width` x `height`, started, with its output.
async fn in_terminal(
    exec: &dyn Executor,
    words: &[&str],
    width: u16,
    height: u16,
) -> (Box<dyn crate::Process>, OutputReader) {
    let options = ExecOptions::new().with_pty(crate::Pty::new(width, height));
    let process = exec
        .create_process(words.into(), options)
        .unwrap_or_else(|e| panic!("creating {words:?} in a terminal: {e}"));
    let stdout = process.take_stdout().expect("stdout");
    step("start in a terminal", process.start())
        .await
        .unwrap_or_else(|e| panic!("starting {words:?} in a terminal: {e}"));
    (process, stdout)
}

/// A backend without terminals refuses a call asking for one, naming `pty`;
/// every backend refuses to resize a process without a terminal.
pub async fn pty_is_refused_unless_declared(backend: &dyn Backend) {
    let exec = executor(backend, settings("pty-refused"));
    let options = ExecOptions::new().with_pty(crate::Pty::new(80, 24));
    let created = exec.create_process("true".into(), options);
    if !exec.capabilities().pty {
        let err = created.expect_err("a terminal on a backend without terminals");
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
        assert!(err.to_string().contains("pty"), "{err}");
    } else {
        created.expect("a terminal on a backend that declares them");
    }
    let process = exec
        .create_process("sleep 30".into(), ExecOptions::new())
        .unwrap();
    process.start().await.expect("start");
    let err = process
        .resize(crate::PtySize::new(100, 30))
        .await
        .expect_err("resizing pipes");
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    process.close(true).await.expect("close");
}

/// `stty size` in a terminal of 100 x 30 says `30 100`, and `TERM` is the
/// terminal's. (A moment passes first: Docker before 23.0 can size the
/// terminal only once the container runs.)
pub async fn pty_has_the_size_asked_for(backend: &dyn Backend) {
    let exec = executor(backend, settings("pty-size"));
    if !exec.capabilities().pty {
        return;
    }
    let (process, mut stdout) = in_terminal(
        exec.as_ref(),
        &["sh", "-c", "sleep 0.5; stty size; echo \"term=$TERM\""],
        100,
        30,
    )
    .await;
    let text = read_until(&mut stdout, "term=xterm-256color").await;
    assert!(text.contains("30 100"), "stty size said {text:?}");
    let status = step("wait", process.wait()).await.expect("wait");
    assert!(status.success(), "{status}");
    process.close(false).await.expect("close");
}

/// A resize changes the terminal's size and the command gets SIGWINCH.
pub async fn pty_resize_reaches_the_command(backend: &dyn Backend) {
    let exec = executor(backend, settings("pty-resize"));
    if !exec.capabilities().pty {
        return;
    }
    let (process, mut stdout) = in_terminal(
        exec.as_ref(),
        &[
            "sh",
            "-c",
            "trap 'echo winch; stty size' WINCH; echo ready; while :; do sleep 0.1; done",
        ],
        80,
        24,
    )
    .await;
    read_until(&mut stdout, "ready").await;
    step("resize", process.resize(crate::PtySize::new(50, 20)))
        .await
        .expect("resize");
    let text = read_until(&mut stdout, "20 50").await;
    assert!(text.contains("winch"), "no SIGWINCH: {text:?}");
    let err = process
        .resize(crate::PtySize::new(0, 20))
        .await
        .expect_err("a size of 0");
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    step("close", process.close(true)).await.expect("close");
    process
        .resize(crate::PtySize::new(60, 20))
        .await
        .expect("resizing an ended command does nothing");
}

/// `tty` names the terminal; the stderr stream ends at once (a terminal
/// has one output, which comes on stdout).
pub async fn pty_is_a_terminal(backend: &dyn Backend) {
    let exec = executor(backend, settings("pty-tty"));
    if !exec.capabilities().pty {
        return;
    }
    let options = ExecOptions::new().with_pty(crate::Pty::new(80, 24));
    let process = exec
        .create_process(["sh", "-c", "tty; echo to-stderr >&2"].into(), options)
        .unwrap();
    let output = step("tty", process.output()).await.expect("tty");
    let text = output.stdout_lossy();
    assert!(text.starts_with("/dev/"), "tty said {text:?}");
    assert!(text.contains("to-stderr"), "{text:?}");
    assert!(output.stderr.is_empty(), "{:?}", output.stderr_lossy());
    assert!(output.status.success(), "{}", output.status);
    process.close(false).await.expect("close");
}

/// `^C` typed into the terminal interrupts the command (SIGINT: 130).
pub async fn pty_ctrl_c_interrupts_the_command(backend: &dyn Backend) {
    let exec = executor(backend, settings("pty-ctrl-c"));
    if !exec.capabilities().pty {
        return;
    }
    let (process, mut stdout) = in_terminal(
        exec.as_ref(),
        &["sh", "-c", "echo ready; exec sleep 30"],
        80,
        24,
    )
    .await;
    read_until(&mut stdout, "ready").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    process.write_stdin(b"\x03").await.expect("type ^C");
    let status = step("the end of an interrupted sleep", process.wait())
        .await
        .expect("wait");
    assert_eq!(status.shell_code(), 130, "{status}");
    process.close(false).await.expect("close");
}

/// `^D` at the start of a line is the end of input: `cat` ends, 0.
pub async fn pty_ctrl_d_ends_the_input(backend: &dyn Backend) {
    let exec = executor(backend, settings("pty-ctrl-d"));
    if !exec.capabilities().pty {
        return;
    }
    let (process, mut stdout) = in_terminal(exec.as_ref(), &["cat"], 80, 24).await;
    process.write_stdin(b"hello\n").await.expect("type a line");
    read_until(&mut stdout, "hello").await;
    process.write_stdin(b"\x04").await.expect("type ^D");
    let status = step("cat after ^D", process.wait()).await.expect("wait");
    assert!(status.success(), "{status}");
    process.close(false).await.expect("close");
}

/// In a terminal as with pipes: an exit code is the command's; close,
/// the timeout and a drop end the command.
pub async fn pty_exit_codes_and_close_are_as_with_pipes(backend: &dyn Backend) {
    let exec = executor(backend, settings("pty-life"));
    if !exec.capabilities().pty {
        return;
    }
    let (process, _stdout) = in_terminal(exec.as_ref(), &["sh", "-c", "exit 7"], 80, 24).await;
    let status = step("exit 7", process.wait()).await.expect("wait");
    assert_eq!(status.code(), Some(7), "{status}");
    process.close(false).await.expect("close");

    let (process, _stdout) = in_terminal(exec.as_ref(), &["sleep", "30"], 80, 24).await;
    step("close(true)", process.close(true))
        .await
        .expect("close");
    let status = step("wait after close", process.wait())
        .await
        .expect("wait");
    assert_eq!(status.signal(), Some(9), "{status}");

    let options = ExecOptions::new()
        .with_pty(crate::Pty::new(80, 24))
        .with_timeout(Duration::from_millis(300));
    let process = exec.create_process("sleep 30".into(), options).unwrap();
    process.start().await.expect("start");
    let err = step("timeout", process.wait()).await.expect_err("timeout");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    process.close(false).await.expect("close");

    let (process, _stdout) = in_terminal(exec.as_ref(), &["sleep", "30"], 80, 24).await;
    drop(process);
    assert_eq!(crate::backend::in_flight::idle(STEP).await, 0);
}

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
