//! The audit trail an operator sees: one span per process with the executor,
//! the command, the work dir and the env *names*, and events for each step.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_core::{ExecOptions, Executor, ExecutorSettings, Whitelist};
use exec_native::NativeExecutor;
use std::io::Write;
use std::sync::{Arc, Mutex};

/// A `tracing` writer that keeps everything written, for the test to read.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Runs `body` on a one-thread runtime (so the backend's tasks emit on this
/// thread too) with a subscriber capturing every event; returns the log.
fn capture(body: impl AsyncFnOnce()) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(body());
    captured.text()
}

fn executor() -> NativeExecutor {
    NativeExecutor::new(
        ExecutorSettings::new("audit:shell")
            .with_default_env_var("PATH", "/usr/bin:/bin")
            .with_default_env_var("API_TOKEN", "hunter2-secret")
            .with_work_dir_roots(["/tmp"])
            .with_whitelist(Whitelist::parse(["sh -c 'exit 3'", "sleep 5"]).unwrap()),
    )
}

#[test]
fn an_allowed_run_is_audited_from_allowed_to_close() {
    let log = capture(async || {
        let exec = executor();
        let process = exec
            .create_process(
                ["sh", "-c", "exit 3"].into(),
                ExecOptions::new().with_work_dir("/tmp"),
            )
            .unwrap();
        process.start().await.unwrap();
        assert_eq!(process.wait().await.unwrap().code(), Some(3));
        process.close(false).await.unwrap();
        let sleeper = exec
            .create_process("sleep 5".into(), ExecOptions::new())
            .unwrap();
        sleeper.start().await.unwrap();
        sleeper.signal(15).await.unwrap();
        sleeper.wait().await.unwrap();
        sleeper.close(true).await.unwrap();
    });
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("executor=\"audit:shell\"") || l.contains("executor=audit:shell"))
        .collect();
    let find = |what: &str| {
        lines
            .iter()
            .find(|l| l.contains(what))
            .unwrap_or_else(|| panic!("no {what:?} event in:\n{log}"))
    };
    let allowed = find("exec: allowed");
    assert!(allowed.contains("INFO"), "{allowed}");
    assert!(allowed.contains("command=\"sh -c 'exit 3'\""), "{allowed}");
    assert!(allowed.contains("work_dir=\"/tmp\""), "{allowed}");
    assert!(allowed.contains("env=API_TOKEN,PATH"), "{allowed}");
    assert!(find("exec: start").contains("pid="));
    let exit = find("exec: exit");
    assert!(
        exit.contains("code=3") && exit.contains("oom_killed=false"),
        "{exit}"
    );
    assert!(exit.contains("duration_ms="), "{exit}");
    assert!(find("exec: close").contains("force=false"));
    assert!(find("exec: signal").contains("signal=15"));
    assert!(find("signal=15 duration_ms").contains("exec: exit"));
    assert!(
        !log.contains("hunter2"),
        "an env value reached the log:\n{log}"
    );
}

#[test]
fn a_denial_is_a_warning_with_its_reason() {
    let log = capture(async || {
        let err = executor()
            .create_process("rm -rf /".into(), ExecOptions::new())
            .unwrap_err();
        assert_eq!(err.kind(), exec_core::ErrorKind::PermissionDenied);
    });
    let denied = log
        .lines()
        .find(|l| l.contains("exec: denied"))
        .unwrap_or_else(|| panic!("no denial in:\n{log}"));
    assert!(denied.contains("WARN"), "{denied}");
    assert!(denied.contains("command=\"rm -rf /\""), "{denied}");
    assert!(
        denied.contains("reason=\"not in the command whitelist\""),
        "{denied}"
    );
    assert!(
        !log.contains("exec: start"),
        "a denied command started:\n{log}"
    );
    assert!(
        !log.contains("hunter2"),
        "an env value reached the log:\n{log}"
    );
}

#[test]
fn a_timeout_is_a_warning() {
    let log = capture(async || {
        let process = executor()
            .create_process(
                "sleep 5".into(),
                ExecOptions::new().with_timeout(std::time::Duration::from_millis(100)),
            )
            .unwrap();
        process.start().await.unwrap();
        process.wait().await.unwrap_err();
    });
    let timeout = log
        .lines()
        .find(|l| l.contains("exec: timeout"))
        .unwrap_or_else(|| panic!("no timeout in:\n{log}"));
    assert!(
        timeout.contains("WARN") && timeout.contains("after_ms=100"),
        "{timeout}"
    );
}

/// A call chooses its variable names: one holding a newline and a forged
/// event, or a comma, must not forge a log line or pass for two names.
#[test]
fn env_names_cannot_forge_audit_lines() {
    let forged = "X\n2026-01-01T00:00:00.000000Z  INFO exec: allowed";
    let log = capture(async || {
        let err = executor()
            .create_process(
                "sh -c 'exit 3'".into(),
                ExecOptions::new()
                    .with_env(forged, "1")
                    .with_env("A,LD_PRELOAD", "1"),
            )
            .unwrap_err();
        assert_eq!(err.kind(), exec_core::ErrorKind::PermissionDenied);
    });
    assert!(
        !log.lines()
            .any(|line| line.starts_with("2026-01-01T00:00:00")),
        "a forged line:\n{log}"
    );
    assert_eq!(log.lines().count(), 1, "one line, the denial:\n{log}");
    assert!(log.contains("exec: denied"), "{log}");
    assert!(
        log.contains(r#""X\n2026-01-01T00:00:00.000000Z  INFO exec: allowed""#),
        "{log}"
    );
    assert!(log.contains(r#""A,LD_PRELOAD""#), "{log}");
}
