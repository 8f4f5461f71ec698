//! `exec-lua --sweep-docker`: removes the containers exec processes left
//! behind on the Docker daemons a config names (feature `docker`).

use exec_config::{DockerSpec, ExecutorKind, Loader};
use exec_docker::DockerExecutor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

/// `exec.docker` as exec-config builds it, each executor also kept here so
/// the sweep can reach its daemon.
#[derive(Debug, Clone, Default)]
struct Recorded(Arc<Mutex<Vec<DockerExecutor>>>);

impl ExecutorKind for Recorded {
    type Spec = DockerSpec;

    fn build(
        &self,
        settings: exec_core::ExecutorSettings,
        spec: DockerSpec,
    ) -> exec_core::Result<Arc<dyn exec_core::Executor>> {
        let executor = exec_config::docker_executor(settings, spec)?;
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(executor.clone());
        Ok(Arc::new(executor))
    }
}

/// Sweeps each daemon the configs' `exec.docker` entries name (each once);
/// without configs, the default daemon (`DOCKER_HOST`, else the local
/// socket). Prints one line per daemon; the exit code is 0 when every sweep
/// worked, 1 when one failed, 2 for a bad config.
pub(crate) fn sweep_docker(mut loader: Loader, configs: &[PathBuf]) -> u8 {
    let recorded = Recorded::default();
    loader.register_kind("exec.docker", recorded.clone());
    for config in configs {
        if let Err(e) = loader.load_file(config, Some("app")) {
            eprintln!("exec-lua: {}", exec_core::report(&e));
            return 2;
        }
    }
    let mut executors =
        std::mem::take(&mut *recorded.0.lock().unwrap_or_else(PoisonError::into_inner));
    if configs.is_empty() {
        match DockerExecutor::builder("sweep").build(exec_core::ExecutorSettings::new("sweep")) {
            Ok(default) => executors.push(default),
            Err(e) => {
                eprintln!("exec-lua: {}", exec_core::report(&e));
                return 2;
            }
        }
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("exec-lua: cannot start the async runtime: {e}");
            return 1;
        }
    };
    let mut swept: Vec<String> = Vec::new();
    let mut failed = false;
    for executor in executors {
        let host = executor.host().to_owned();
        if swept.contains(&host) {
            continue;
        }
        match runtime.block_on(exec_docker::sweep(&executor)) {
            Ok(report) => println!(
                "{host}: removed {}{}; left {} with a live owner, {} of other hosts",
                report.removed.len(),
                if report.removed.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", report.removed.join(", "))
                },
                report.owner_alive,
                report.other_hosts
            ),
            Err(e) => {
                eprintln!("exec-lua: sweeping {host}: {}", exec_core::report(&e));
                failed = true;
            }
        }
        swept.push(host);
    }
    if swept.is_empty() {
        println!("no exec.docker entry in {}", names(configs));
    }
    u8::from(failed)
}

fn names(configs: &[PathBuf]) -> String {
    configs
        .iter()
        .map(|c| Path::display(c).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
