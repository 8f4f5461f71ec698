//! What the fault and TLS tests ask of a failure: it comes within a bound,
//! is of the kind expected and says what it should; a cut stream is an
//! error saying so.

use exec_core::{ErrorKind, ExecOptions, Executor, OutputReader, report};
use std::time::Duration;

/// The error `start` gives for `true` on `executor`, within `bound`
/// (panics if it hangs or succeeds).
pub async fn start_error(executor: &dyn Executor, bound: Duration) -> exec_core::Error {
    let process = executor
        .create_process("true".into(), ExecOptions::new())
        .expect("create the process");
    tokio::time::timeout(bound, process.start())
        .await
        .unwrap_or_else(|_| panic!("the start must end within {bound:?}"))
        .expect_err("the start must fail")
}

/// Asserts `error` is of `kind` and its report holds each of `words`;
/// returns the report.
pub fn assert_error(error: &exec_core::Error, kind: ErrorKind, words: &[&str]) -> String {
    let text = report(error);
    assert_eq!(error.kind(), kind, "{text}");
    for word in words {
        assert!(text.contains(word), "{word:?} missing from: {text}");
    }
    text
}

/// Reads `reader` until what it gave contains `marker` (60 s at most).
pub async fn read_until(reader: &mut OutputReader, marker: &str) {
    let mut seen = Vec::new();
    while !String::from_utf8_lossy(&seen).contains(marker) {
        let chunk = tokio::time::timeout(Duration::from_secs(60), reader.read_chunk(4096))
            .await
            .expect("output within 60 s")
            .expect("output, not an error")
            .expect("more output");
        seen.extend_from_slice(&chunk);
    }
}

/// The error the rest of `reader` ends with, within `bound`: it must say
/// the stream was cut (a cut stream must not end as EOF).
pub async fn read_cut(reader: &mut OutputReader, bound: Duration) -> String {
    let rest = tokio::time::timeout(bound, reader.read_to_vec())
        .await
        .unwrap_or_else(|_| panic!("the output must end within {bound:?}"));
    let cut = rest
        .expect_err("cut output must not end as EOF")
        .to_string();
    assert!(cut.contains("was cut"), "{cut}");
    cut
}

/// After its daemon failed under `process`: `wait` is `Unavailable` naming
/// `daemon`, within `bound`; the rest of `stdout` is an error saying it was
/// cut; `close` returns within `bound`; no launch, close or kill is left in
/// flight. Returns how long `wait` took and the report of its error.
pub async fn fails_cleanly(
    process: &dyn exec_core::Process,
    mut stdout: OutputReader,
    daemon: &str,
    bound: Duration,
) -> (Duration, String) {
    let started = std::time::Instant::now();
    let error = tokio::time::timeout(bound, process.wait())
        .await
        .unwrap_or_else(|_| panic!("wait must end within {bound:?}"))
        .expect_err("wait must fail");
    let waited = started.elapsed();
    let text = assert_error(&error, ErrorKind::Unavailable, &[daemon]);
    let cut = read_cut(&mut stdout, bound).await;
    tokio::time::timeout(bound, process.close(true))
        .await
        .unwrap_or_else(|_| panic!("close must end within {bound:?}"))
        .ok();
    assert_eq!(exec_core::settle(bound).await, 0, "work left in flight");
    (waited, format!("{text}; {cut}"))
}

/// Waits (up to `bound`) until the runtime has no more tasks alive than
/// `before`, and asserts it came to that.
pub async fn tasks_back_to(before: usize, bound: Duration) {
    let metrics = tokio::runtime::Handle::current().metrics();
    let deadline = std::time::Instant::now() + bound;
    while metrics.num_alive_tasks() > before && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let alive = metrics.num_alive_tasks();
    assert!(alive <= before, "{alive} tasks alive, {before} before");
}

/// Asserts `error` is a refusal (`PermissionDenied`) whose report holds
/// each of `words`.
pub fn assert_refused(error: &exec_core::Error, words: &[&str]) {
    assert_error(error, ErrorKind::PermissionDenied, words);
}
