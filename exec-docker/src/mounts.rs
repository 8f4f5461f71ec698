//! A call's mounts as the daemon gets them: each source opened once, checked
//! as the directory it is, and handed to the daemon as that open directory —
//! never as a path the daemon would follow again.
//!
//! # The race this closes (issue 21)
//!
//! A path checked when the call is made is followed again by the daemon when
//! the container starts, some 150 ms later. A container that can write where
//! the path leads (any command with a writable mount under a mount root)
//! flips a directory on it between a directory and a symlink to `/`; a
//! second call mounting that path got the host's `/` about every other try.
//! Checking the path more carefully cannot help: whatever is checked, the
//! daemon resolves the path again.
//!
//! So the source is opened (`O_PATH | O_DIRECTORY`, following its links) and
//! the *open directory* is what is checked: the kernel's name for it
//! (`/proc/self/fd/N`) must lie under a mount root, resolved when the
//! executor was built. The daemon is handed an anonymous volume of its
//! `local` driver binding `/proc/<this pid>/fd/<N>`: dockerd mounts it at the
//! start, in its own mount namespace, where the kernel resolves that magic
//! link to the open directory itself, whatever its path has become. The
//! directory is held open until the container started, then let go. Measured
//! against dockerd 20.10.24 with runc 1.1.5 on Linux 6.18:
//!
//! - a *bind* mount from `/proc/<pid>/fd/<N>` reaches runc unchanged (dockerd
//!   does not resolve it to a path), but runc's mount fails with `EINVAL`:
//!   runc mounts in the container's new mount namespace, and the kernel binds
//!   only from mounts of the caller's own namespace;
//! - the `local` volume binding the same path mounts the held directory — also
//!   when its path was meanwhile renamed away and replaced by a symlink to
//!   `/` — and fails (`ENOENT`) once the holder closed it.
//!
//! The volume (`NoCopy`, labelled like our containers) goes with its
//! container: the daemon removes anonymous volumes with an `auto_remove`
//! container, [`sweep`](crate::sweep()) and exec-docker's own removals pass `v`.
//!
//! # Which daemons take call mounts
//!
//! Only a daemon on a local socket whose process shares this process's pid
//! namespace: it must resolve `/proc/<this pid>` to this process (checked
//! through the socket's peer, `SO_PEERCRED`). On a `tcp://` daemon the host
//! paths are another machine's, which this process can neither resolve nor
//! hold open, so `mount_roots` is refused when the executor is built. A
//! daemon in another mount namespace fails the mount (the kernel refuses the
//! bind), never mounts something else.
//!
//! A call mounts directories: the `local` driver binds onto a directory, so
//! a held file could not be handed over (Docker 20.10 has no volume subpath).

use crate::builder::ContainerConfig;
use crate::client::Host;
use crate::container::utf8;
use crate::error::DockerError;
use crate::sweep::Owner;
use bollard::models::{
    Mount as ApiMount, MountType, MountVolumeOptions, MountVolumeOptionsDriverConfig,
};
use exec_core::Error;
use exec_core::backend::PreparedCommand;
use exec_core::confine::normalize;
use nix::fcntl::OFlag;
use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The suffix the kernel gives the name of a removed directory.
const DELETED: &str = " (deleted)";

/// The sources of a call's mounts, held open from their check until the
/// container started (then dropped: the daemon's mounts hold them).
#[derive(Debug, Default)]
pub(crate) struct HeldSources {
    held: Vec<Held>,
}

#[derive(Debug)]
struct Held {
    /// The mount's number in the call (from 1), its source and target.
    number: usize,
    source: PathBuf,
    target: String,
    /// `/proc/<pid>/fd/<n>`: what the daemon is handed.
    device: String,
    _dir: File,
}

impl HeldSources {
    /// The call's mount a daemon's message is about (by its target or the
    /// held directory it names), as messages name it.
    pub(crate) fn named_in(&self, message: &str) -> Option<String> {
        self.held
            .iter()
            .find(|h| message.contains(&h.device) || message.contains(&format!("{:?}", h.target)))
            .map(|h| format!("mount {} ({:?} at {:?})", h.number, h.source, h.target))
    }
}

/// Opens and checks each of the call's sources and describes them for the
/// daemon (see the module docs).
///
/// # Errors
///
/// `PermissionDenied` ([`DockerError::MountNotAllowed`]) for a source outside
/// `mount_roots` as written or as opened, or a daemon that cannot be handed
/// a held directory; `NotFound` for a source that does not exist; `Invalid`
/// for one that is not a directory.
pub(crate) fn hold(
    config: &ContainerConfig,
    host: &Host,
    command: &PreparedCommand,
) -> Result<(Vec<ApiMount>, HeldSources), Error> {
    let mut mounts = Vec::with_capacity(command.mounts().len());
    let mut held = HeldSources::default();
    if command.mounts().is_empty() {
        return Ok((mounts, held));
    }
    let denied = |error: DockerError| -> Error {
        command.audit().denied(&error.to_string());
        error.into()
    };
    let refused = |path: &Path, reason: String| {
        denied(DockerError::MountNotAllowed {
            executor: command.executor_id().to_owned(),
            path: path.to_owned(),
            reason,
        })
    };
    let first = command.mounts()[0].source();
    if config.mount_roots.is_empty() {
        return Err(refused(
            first,
            "it lets a call mount no host path (mount_roots is empty)".to_owned(),
        ));
    }
    let Host::Unix(socket) = host else {
        return Err(refused(
            first,
            format!(
                "the daemon at {host} is not on this machine, so it cannot be handed a checked directory"
            ),
        ));
    };
    if let Err(why) = daemon_sees_this_process(socket) {
        return Err(refused(
            first,
            format!(
                "the daemon at {host} cannot be handed a checked directory: {why}; a call's mounts \
                 need a daemon on this machine that shares this process's pid namespace"
            ),
        ));
    }
    let roots_text = roots_text(&config.mount_roots);
    for (index, mount) in command.mounts().iter().enumerate() {
        let asked = normalize(mount.source());
        let as_written = config.mount_roots.iter().map(|r| normalize(r));
        if !inside(&asked, as_written) {
            return Err(refused(
                mount.source(),
                format!("it is outside mount_roots ({roots_text})"),
            ));
        }
        let dir = match open_dir(&asked) {
            Ok(dir) => dir,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(denied(DockerError::MountSourceNotFound {
                    executor: command.executor_id().to_owned(),
                    path: mount.source().to_owned(),
                    reason: "it does not exist".to_owned(),
                }));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => {
                return Err(denied(DockerError::MountSourceNotDirectory {
                    executor: command.executor_id().to_owned(),
                    path: mount.source().to_owned(),
                }));
            }
            Err(e) => {
                return Err(refused(mount.source(), format!("it cannot be opened: {e}")));
            }
        };
        let fd = dir.as_raw_fd();
        // The kernel's name for what was opened: links followed, at this
        // instant. The daemon gets this very directory, whatever the path
        // becomes.
        let opened = std::fs::read_link(format!("/proc/self/fd/{fd}")).map_err(|e| {
            refused(
                mount.source(),
                format!("the directory it opened cannot be named: {e}"),
            )
        })?;
        if opened
            .as_os_str()
            .as_encoded_bytes()
            .ends_with(DELETED.as_bytes())
        {
            return Err(denied(DockerError::MountSourceNotFound {
                executor: command.executor_id().to_owned(),
                path: mount.source().to_owned(),
                reason: "it was removed as it was opened".to_owned(),
            }));
        }
        if !opened.is_absolute() || !inside(&opened, config.resolved_mount_roots.iter().cloned()) {
            return Err(refused(
                mount.source(),
                format!("it resolves to {opened:?}, outside mount_roots ({roots_text})"),
            ));
        }
        let device = format!("/proc/{}/fd/{fd}", std::process::id());
        let target = utf8(normalize(mount.target()), "mounts")?;
        mounts.push(volume(&device, &target, mount.read_only(), command));
        held.held.push(Held {
            number: index + 1,
            source: mount.source().to_owned(),
            target,
            device,
            _dir: dir,
        });
    }
    Ok((mounts, held))
}

/// An anonymous `local` volume binding the held directory `device`.
fn volume(device: &str, target: &str, read_only: bool, command: &PreparedCommand) -> ApiMount {
    // Recursive, as a bind mount from `docker run --mount` is. Read-only
    // through the driver: the daemon refuses `ReadOnly` on an anonymous
    // volume, and remounts a bind with `ro` read-only (runc's bind of it
    // keeps that).
    let bind = if read_only { "rbind,ro" } else { "rbind" };
    let options = HashMap::from([
        ("type".to_owned(), "none".to_owned()),
        ("o".to_owned(), bind.to_owned()),
        ("device".to_owned(), device.to_owned()),
    ]);
    ApiMount {
        typ: Some(MountType::VOLUME),
        target: Some(target.to_owned()),
        volume_options: Some(MountVolumeOptions {
            // An empty volume would get the image's files at the target
            // copied into it: into the host directory.
            no_copy: Some(true),
            labels: Some(
                Owner::current()
                    .labels(command.executor_id())
                    .into_iter()
                    .collect(),
            ),
            driver_config: Some(MountVolumeOptionsDriverConfig {
                name: Some("local".to_owned()),
                options: Some(options),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Opens `path` as a directory, following its links, without reading it
/// (`O_PATH`: only search permission on the way is needed).
fn open_dir(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlag::O_PATH | OFlag::O_DIRECTORY).bits())
        .open(path)
}

/// Whether the daemon behind `socket` resolves `/proc/<this pid>` to this
/// process: the socket's peer must be in this process's pid namespace (its
/// pid here is not 0, and `/proc` shows it as deep as this process).
fn daemon_sees_this_process(socket: &Path) -> Result<(), String> {
    let stream = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| format!("connecting to {} to check it failed: {e}", socket.display()))?;
    let peer = nix::sys::socket::getsockopt(&stream, nix::sys::socket::sockopt::PeerCredentials)
        .map_err(|e| format!("its peer credentials cannot be read: {e}"))?;
    let pid = peer.pid();
    if pid <= 0 {
        return Err(
            "the process listening on its socket is not in this process's pid namespace".to_owned(),
        );
    }
    match (ns_depth("self"), ns_depth(&pid.to_string())) {
        (Some(ours), Some(theirs)) if ours == theirs => Ok(()),
        (Some(_), Some(_)) => Err(format!(
            "the process listening on its socket (pid {pid} here) runs in a pid namespace below \
             this process's"
        )),
        _ => Err(format!(
            "/proc does not tell the pid namespaces of this process and of pid {pid}"
        )),
    }
}

/// How many pid namespaces `/proc/<which>/status` lists the process in.
fn ns_depth(which: &str) -> Option<usize> {
    let status = std::fs::read_to_string(format!("/proc/{which}/status")).ok()?;
    ns_depth_of(&status)
}

fn ns_depth_of(status: &str) -> Option<usize> {
    let line = status.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    Some(line.split_whitespace().count()).filter(|n| *n > 0)
}

fn inside(path: &Path, mut roots: impl Iterator<Item = PathBuf>) -> bool {
    roots.any(|root| path.starts_with(root))
}

fn roots_text(roots: &[PathBuf]) -> String {
    roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pid_namespace_depth_comes_from_nspid() {
        assert_eq!(ns_depth_of("Name:\tx\nNSpid:\t42\n"), Some(1));
        assert_eq!(ns_depth_of("NSpid:\t4419\t7\n"), Some(2));
        assert_eq!(ns_depth_of("Name:\tx\n"), None);
        assert!(ns_depth("self").is_some());
    }

    #[test]
    fn a_held_directory_is_named_by_the_kernel_where_it_is_now() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("d");
        std::fs::create_dir(&dir).unwrap();
        let held = open_dir(&dir).unwrap();
        let moved = root.path().join("moved");
        std::fs::rename(&dir, &moved).unwrap();
        std::os::unix::fs::symlink("/", &dir).unwrap();
        let name = std::fs::read_link(format!("/proc/self/fd/{}", held.as_raw_fd())).unwrap();
        assert_eq!(name, std::fs::canonicalize(&moved).unwrap());
        assert_eq!(
            open_dir(&root.path().join("nothing")).unwrap_err().kind(),
            std::io::ErrorKind::NotFound
        );
        let file = root.path().join("f");
        std::fs::write(&file, "").unwrap();
        assert_eq!(
            open_dir(&file).unwrap_err().kind(),
            std::io::ErrorKind::NotADirectory
        );
    }
}
