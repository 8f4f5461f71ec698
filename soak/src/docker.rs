//! The Docker soak: containers with `auto_remove`, and what is left of them.

use crate::mix::{Run, on_daemon, until_nothing_left};
use exec_core::ExecutorSettings;
use exec_docker::{DockerExecutor, Pull};
use exec_test_support::daemons;
use std::sync::Arc;
use std::time::Duration;

const KINDS: &[Run] = &[Run::Plain, Run::Killed, Run::TimedOut, Run::Dropped];

/// How many runs go at once.
const PARALLEL: usize = 4;

pub(crate) async fn soak(runs: usize) -> Result<(), String> {
    let daemon = daemons::docker()?;
    let id = format!("soak:docker-{}", std::process::id());
    let executor = DockerExecutor::builder(&daemon.image)
        .with_host(&daemon.host)
        .with_network_mode("none")
        .with_pull(Pull::Never)
        .with_auto_remove(true)
        .build(
            ExecutorSettings::new(&id)
                .with_default_env_var("PATH", "/bin")
                .with_close_grace(Duration::from_millis(500)),
        )
        .map_err(|e| e.to_string())?;
    let label = format!("{}={id}", exec_docker::LABEL_EXECUTOR);
    let marker = format!("9{}", std::process::id());
    println!(
        "docker soak: {runs} runs with auto_remove, {PARALLEL} at a time, on {}",
        daemon.host
    );
    let (tally, elapsed, unsettled) =
        on_daemon(Arc::new(executor), KINDS, runs, PARALLEL, &marker).await?;
    let left = until_nothing_left(|| async {
        let left = daemons::docker_containers(&daemon.host, &label).await;
        Ok((!left.is_empty()).then_some(left))
    })
    .await?
    .unwrap_or_default();
    println!("runs ({runs} in {elapsed:.1?}):");
    tally.print();
    println!("work in flight after settle: {unsettled}");
    println!("containers left (label {label}): {}", left.len());
    if !left.is_empty() || unsettled > 0 {
        return Err(format!("docker soak: left behind: {left:?}"));
    }
    println!("docker soak: nothing left behind");
    Ok(())
}
