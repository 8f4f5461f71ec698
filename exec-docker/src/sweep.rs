//! The labels that mark a container as ours, and the sweep that removes
//! containers whose owner is gone.
//!
//! Every container carries `exec.managed-by=exec-docker`, `exec.executor`
//! (the executor's id) and its owner: `exec.owner.host` (this machine's host
//! name), `exec.owner.pid` and `exec.owner.start` (the owning process's start
//! time in clock ticks since boot, so a reused pid is not taken for the
//! owner). With `auto_remove` (the default) the daemon removes a container
//! when its command ends, even if its owner was killed; what can be left is a
//! container whose owner died between create and start, or one kept with
//! `auto_remove: false`. [`sweep`] removes those whose owner is gone.

use crate::DockerExecutor;
use crate::error::DockerError;
use bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};
use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

/// The prefix of exec-docker's own labels; a config may not set labels under it.
pub const LABEL_PREFIX: &str = "exec.";
/// Marks a container as made by exec-docker.
pub const LABEL_MANAGED_BY: &str = "exec.managed-by";
/// The executor's id (`namespace:name`).
pub const LABEL_EXECUTOR: &str = "exec.executor";
/// The host name of the machine the owning process runs on.
pub const LABEL_OWNER_HOST: &str = "exec.owner.host";
/// The owning process's pid.
pub const LABEL_OWNER_PID: &str = "exec.owner.pid";
/// The owning process's start time (clock ticks since boot, `/proc/PID/stat`).
pub const LABEL_OWNER_START: &str = "exec.owner.start";
const MANAGED_BY: &str = "exec-docker";

/// This process, as the owner labels name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Owner {
    host: String,
    pid: u32,
    start: Option<u64>,
}

impl Owner {
    /// This process (looked up once).
    pub(crate) fn current() -> &'static Owner {
        static OWNER: OnceLock<Owner> = OnceLock::new();
        OWNER.get_or_init(|| {
            let pid = std::process::id();
            Owner {
                host: host_name(),
                pid,
                start: start_time(pid),
            }
        })
    }

    /// The labels for a container of `executor`.
    pub(crate) fn labels(&self, executor: &str) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        labels.insert(LABEL_MANAGED_BY.to_owned(), MANAGED_BY.to_owned());
        labels.insert(LABEL_EXECUTOR.to_owned(), executor.to_owned());
        labels.insert(LABEL_OWNER_HOST.to_owned(), self.host.clone());
        labels.insert(LABEL_OWNER_PID.to_owned(), self.pid.to_string());
        if let Some(start) = self.start {
            labels.insert(LABEL_OWNER_START.to_owned(), start.to_string());
        }
        labels
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// Field 22 of `/proc/PID/stat` (after the command name, which may hold
/// spaces and parentheses, so counted from the last `)`).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    // After the name: state is field 3, so start time (22) is the 20th.
    after_name.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the process the labels name still runs on this machine. `None`
/// when the labels name another machine (nothing can be said from here).
fn owner_alive(labels: &HashMap<String, String>, here: &str) -> Option<bool> {
    if labels.get(LABEL_OWNER_HOST).map(String::as_str) != Some(here) {
        return None;
    }
    let Some(pid) = labels
        .get(LABEL_OWNER_PID)
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return Some(false);
    };
    let recorded = labels
        .get(LABEL_OWNER_START)
        .and_then(|s| s.parse::<u64>().ok());
    Some(match (start_time(pid), recorded) {
        (None, _) => false,
        (Some(now), Some(then)) => now == then,
        (Some(_), None) => true,
    })
}

/// What a [`sweep`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SweepReport {
    /// The containers removed (short ids), their owner gone.
    pub removed: Vec<String>,
    /// Containers whose owner still runs: left alone.
    pub owner_alive: usize,
    /// Containers of owners on other machines: left alone (their owner
    /// cannot be checked from here; sweep from their machine).
    pub other_hosts: usize,
}

/// Removes (forcibly: a running one is killed) every container made by
/// exec-docker on `executor`'s daemon whose owning process on this machine
/// is gone, whichever executor made it. Containers of live owners and of
/// owners on other machines are left alone.
///
/// `exec-lua --sweep-docker --config FILE` does the same for every Docker
/// daemon a config names.
///
/// # Errors
///
/// The daemon's errors: `UNAVAILABLE` when it cannot be reached.
pub async fn sweep(executor: &DockerExecutor) -> Result<SweepReport, DockerError> {
    let client = executor.client();
    let mut filters = HashMap::new();
    filters.insert(
        "label".to_owned(),
        vec![format!("{LABEL_MANAGED_BY}={MANAGED_BY}")],
    );
    let options = ListContainersOptions {
        all: true,
        filters: Some(filters),
        ..Default::default()
    };
    let containers = client
        .call("list containers", |d| async move {
            d.list_containers(Some(options)).await
        })
        .await?;
    let here = &Owner::current().host;
    let mut report = SweepReport::default();
    for container in containers {
        let Some(id) = container.id else { continue };
        let labels = container.labels.unwrap_or_default();
        match owner_alive(&labels, here) {
            None => report.other_hosts += 1,
            Some(true) => report.owner_alive += 1,
            Some(false) => {
                let options = RemoveContainerOptions {
                    force: true,
                    v: true,
                    ..Default::default()
                };
                let removed = client
                    .call("remove a leftover container", |d| async move {
                        d.remove_container(&id, Some(options)).await.map(|()| id)
                    })
                    .await;
                match removed {
                    Ok(id) => report.removed.push(short(&id).to_owned()),
                    // Gone meanwhile (auto-removed): nothing left to do.
                    Err(DockerError::Refused {
                        status: 404 | 409, ..
                    }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
    }
    Ok(report)
}

/// A container id as `docker ps` shows it.
pub(crate) fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_its_own_live_owner() {
        let owner = Owner::current();
        assert_eq!(owner.pid, std::process::id());
        assert!(owner.start.is_some());
        let labels: HashMap<String, String> = owner.labels("app:x").into_iter().collect();
        assert_eq!(owner_alive(&labels, &owner.host), Some(true));
        assert_eq!(owner_alive(&labels, "elsewhere"), None);
        let mut reused = labels.clone();
        reused.insert(LABEL_OWNER_START.to_owned(), "1".to_owned());
        assert_eq!(
            owner_alive(&reused, &owner.host),
            Some(false),
            "a reused pid is not the owner"
        );
        let mut gone = labels;
        gone.insert(LABEL_OWNER_PID.to_owned(), "999999999".to_owned());
        assert_eq!(owner_alive(&gone, &owner.host), Some(false));
    }
}
