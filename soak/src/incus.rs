//! The Incus soak: commands in an instance, and what is left of them there
//! and in the daemon.

use crate::mix::{Run, on_daemon, until_nothing_left};
use exec_core::{ExecOptions, Executor, ExecutorSettings};
use exec_incus::IncusBuilder;
use exec_test_support::incus::IncusDaemon;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

const KINDS: &[Run] = &[Run::Plain, Run::Killed, Run::TimedOut, Run::Dropped];

/// How many runs go at once.
const PARALLEL: usize = 4;

pub(crate) async fn soak(runs: usize) -> Result<(), String> {
    let daemon = IncusDaemon::from_env()?;
    let executor: Arc<dyn Executor> = Arc::new(
        IncusBuilder::new(&daemon.instance)
            .with_host(daemon.unix_host())
            .build(
                ExecutorSettings::new("soak:incus")
                    .with_default_env_var("PATH", "/bin")
                    .with_close_grace(Duration::from_millis(500)),
            )
            .map_err(|e| e.to_string())?,
    );
    let marker = format!("9{}", std::process::id());
    println!(
        "incus soak: {runs} commands in instance {:?}, {PARALLEL} at a time, on {}",
        daemon.instance,
        daemon.unix_host()
    );
    let running_before = running_operations(&daemon)?;
    let (tally, elapsed, unsettled) =
        on_daemon(executor.clone(), KINDS, runs, PARALLEL, &marker).await?;
    let still = until_nothing_left(|| async {
        let left = left_in_instance(&*executor, &marker).await?;
        let operations = running_operations(&daemon)?;
        Ok((left > 0 || operations > running_before).then_some((left, operations)))
    })
    .await?;
    let (left, operations) = still.unwrap_or((0, running_before));
    println!("runs ({runs} in {elapsed:.1?}):");
    tally.print();
    println!("work in flight after settle: {unsettled}");
    println!("commands of the soak still running in the instance: {left}");
    println!("operations running on the daemon: {running_before} before, {operations} after");
    if left > 0 || operations > running_before || unsettled > 0 {
        return Err("incus soak: something was left behind (see above)".to_owned());
    }
    println!("incus soak: nothing left behind");
    Ok(())
}

/// How many processes in the instance carry `marker` in their command line.
async fn left_in_instance(executor: &dyn Executor, marker: &str) -> Result<usize, String> {
    let process = executor
        .create_process("ps -o args".into(), ExecOptions::new())
        .map_err(|e| e.to_string())?;
    let output = process.output().await.map_err(|e| exec_core::report(&e))?;
    Ok(output
        .stdout_lossy()
        .lines()
        .filter(|line| line.contains(marker))
        .count())
}

/// How many operations the daemon lists as running (`GET /1.0/operations`,
/// over its unix socket).
fn running_operations(daemon: &IncusDaemon) -> Result<usize, String> {
    let fail = |e: std::io::Error| format!("GET /1.0/operations on {}: {e}", daemon.unix_host());
    let mut socket = std::os::unix::net::UnixStream::connect(&daemon.socket).map_err(fail)?;
    socket
        .write_all(b"GET /1.0/operations HTTP/1.0\r\nHost: incus\r\n\r\n")
        .map_err(fail)?;
    let mut answer = Vec::new();
    socket.read_to_end(&mut answer).map_err(fail)?;
    let body = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|at| &answer[at + 4..])
        .ok_or("GET /1.0/operations: no body")?;
    let json: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("GET /1.0/operations: {e}"))?;
    Ok(json["metadata"]["running"].as_array().map_or(0, Vec::len))
}
