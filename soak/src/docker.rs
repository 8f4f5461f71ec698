//! The Docker soak: containers with `auto_remove`, and what is left of them.

use crate::mix::{Run, many};
use exec_core::ExecutorSettings;
use exec_docker::{DockerExecutor, Pull};
use exec_test_support::daemons;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    let started = Instant::now();
    let tally = many(Arc::new(executor), KINDS, runs, PARALLEL, &marker, |done| {
        if done % 100 == 0 {
            eprintln!("  {done} of {runs} runs");
        }
    })
    .await?;
    let elapsed = started.elapsed();
    let unsettled = exec_core::settle(Duration::from_secs(30)).await;
    // The daemon removes each container as its command ends: give the
    // last ones a moment.
    let deadline = Instant::now() + Duration::from_secs(30);
    let left = loop {
        let left = daemons::docker_containers(&daemon.host, &label).await;
        if left.is_empty() || Instant::now() > deadline {
            break left;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
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
