//! What one command's container is created with: the executor's settings,
//! the prepared command, its labels and its mounts, as the Engine API's
//! create body.

use crate::builder::{ContainerConfig, MAX_LABEL_VALUE};
use crate::client::Host;
use crate::mounts::HeldSources;
use crate::sweep::Owner;
use bollard::models::{ContainerCreateBody, HostConfig};
use exec_core::Error;
use exec_core::backend::PreparedCommand;
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

/// The CPU period `cpu_quota` is counted in: 100 ms.
const CPU_PERIOD: i64 = 100_000;

/// Everything `start` sends: checked at `create_process`, so a bad call
/// fails before anything reaches the daemon.
#[derive(Debug)]
pub(crate) struct ContainerSpec {
    pub(crate) body: ContainerCreateBody,
    /// The call's mount sources, held open until the container started.
    pub(crate) held: HeldSources,
}

impl ContainerSpec {
    /// The create body for `command` on an executor with `config`.
    pub(crate) fn new(
        config: &ContainerConfig,
        host: &Host,
        command: &PreparedCommand,
    ) -> Result<Self, Error> {
        let labels = labels(config, command)?;
        let (mounts, held) = crate::mounts::hold(config, host, command)?;
        let mut argv = command.argv().to_vec();
        // On a confined executor a relative program (`./build.sh`) is the one
        // in default_work_dir, never one in a work dir the call chose.
        if let (Some(dir), Some(program)) = (command.program_dir(), argv.first_mut()) {
            if program.contains('/') && !program.starts_with('/') {
                *program = utf8(dir.join(&*program), "work_dir")?;
            }
        }
        let env = command
            .env()
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let working_dir = command
            .work_dir()
            .map(|dir| utf8(dir.to_owned(), "work_dir"))
            .transpose()?;
        let memory = i64::try_from(config.memory_limit).unwrap_or(i64::MAX);
        let host_config = HostConfig {
            network_mode: config.network_mode.clone(),
            binds: (!config.volumes.is_empty()).then(|| config.volumes.clone()),
            mounts: (!mounts.is_empty()).then_some(mounts),
            memory: (memory > 0).then_some(memory),
            // Swap equal to memory: no swap on top of the limit.
            memory_swap: (memory > 0).then_some(memory),
            cpu_quota: (config.cpu_quota > 0)
                .then(|| i64::try_from(config.cpu_quota).unwrap_or(i64::MAX)),
            cpu_period: (config.cpu_quota > 0).then_some(CPU_PERIOD),
            pids_limit: (config.pids_limit > 0)
                .then(|| i64::try_from(config.pids_limit).unwrap_or(i64::MAX)),
            readonly_rootfs: Some(config.read_only_rootfs),
            security_opt: config
                .no_new_privileges
                .then(|| vec!["no-new-privileges:true".to_owned()]),
            cap_add: (!config.cap_add.is_empty()).then(|| config.cap_add.clone()),
            cap_drop: (!config.cap_drop.is_empty()).then(|| config.cap_drop.clone()),
            tmpfs: (!config.tmpfs.is_empty())
                .then(|| config.tmpfs.clone().into_iter().collect::<HashMap<_, _>>()),
            init: Some(config.init),
            auto_remove: Some(config.auto_remove),
            // Daemons from 23.0 size the terminal before the command runs;
            // older ones ignore it, and the size is set right after start.
            console_size: command.pty().map(|pty| {
                vec![
                    usize::from(pty.size().height()),
                    usize::from(pty.size().width()),
                ]
            }),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(config.image.clone()),
            cmd: Some(argv),
            env: Some(env),
            working_dir,
            user: config.user.clone(),
            labels: Some(labels.into_iter().collect()),
            attach_stdin: Some(true),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            // All three, or the daemon closes the client's output on stdin EOF
            // instead of the container's stdin.
            open_stdin: Some(true),
            stdin_once: Some(true),
            // A terminal: one output stream, not multiplexed.
            tty: Some(command.pty().is_some()),
            host_config: Some(host_config),
            ..Default::default()
        };
        Ok(Self { body, held })
    }
}

pub(crate) fn utf8(path: PathBuf, field: &str) -> Result<String, Error> {
    path.into_os_string()
        .into_string()
        .map_err(|path| Error::InvalidArgument {
            field: field.to_owned(),
            reason: format!("{path:?} is not valid UTF-8, which a container path must be"),
        })
}

/// The owner's labels, the config's labels, and those a call gives through
/// `labels_from_env`.
fn labels(
    config: &ContainerConfig,
    command: &PreparedCommand,
) -> Result<BTreeMap<String, String>, Error> {
    let mut labels = config.labels.clone();
    for (label, variable) in &config.labels_from_env {
        let Some(value) = command.env().get(variable) else {
            return Err(Error::InvalidArgument {
                field: "env".to_owned(),
                reason: format!(
                    "executor {} labels each container {label:?} from the variable {variable}, which this call does not set",
                    command.executor_id()
                ),
            });
        };
        if value.len() > MAX_LABEL_VALUE {
            return Err(Error::InvalidArgument {
                field: "env".to_owned(),
                reason: format!(
                    "{variable} is {} bytes; as the value of label {label:?} it may be at most {MAX_LABEL_VALUE}",
                    value.len()
                ),
            });
        }
        labels.insert(label.clone(), value.clone());
    }
    // Ours last: no config or call can forge them.
    labels.extend(Owner::current().labels(command.executor_id()));
    Ok(labels)
}
