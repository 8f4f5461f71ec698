//! Host paths mounted into a container for one call (Wippy's `mounts` option).
//!
//! A call asks for mounts with [`ExecOptions::with_mount`](crate::ExecOptions::with_mount);
//! [`ExecutorSettings::prepare`](crate::ExecutorSettings::prepare) checks their form
//! (absolute paths, no NUL byte, one mount per target) and, on an executor with
//! a whitelist, where they go (see [`Mount`]). Which host paths a call may reach is the
//! backend's business: only a backend that declares
//! [`Capabilities::mounts`](crate::Capabilities::mounts) takes mounts, and it
//! decides (exec-docker: only under its configured `mount_roots`, each source
//! held open from its check until the container started). Every other backend
//! refuses a call with mounts through
//! [`PreparedCommand::refuse_unsupported`](crate::backend::PreparedCommand::refuse_unsupported).

use crate::error::{Error, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One host path mounted into the command's container.
///
/// # Where a confined call's mounts may go
///
/// On an executor with a whitelist, the call's mounts must not change what
/// the whitelisted command is. The container resolves every path it is given
/// — a mount's target, the work dir, the program — component by component,
/// following symlinks, through the mounts already in place. The image's own
/// symlinks are the config's to trust (it chose the image); what a mounted
/// source holds is not (a call chooses it, and a command may have written
/// links into it). So every path the container resolves for a confined call
/// must go through the image alone, and a mount may not sit where the program
/// is found:
///
/// 1. a target lies where the call could point its work dir (`default_work_dir`,
///    `work_dir_roots`), never over `/bin`, `/lib` or `/etc`;
/// 2. no target lies inside another mount's target (the call's, or the
///    executor's own: Docker's `volumes` and `tmpfs`), nor on or above one of
///    the executor's own: the container would reach it through what the outer
///    source holds, where a symlink could lead anywhere;
/// 3. no target is on or above the program's path, nor on, above or inside a
///    directory of `PATH` a bare program is looked up in;
/// 4. the work dir (the call's, or `default_work_dir`) does not lie inside a
///    mount's target: the container would follow what that source holds to
///    get there.
///
/// Each refusal is `PermissionDenied` naming the mount (its number in the
/// call, its source and target) and the rule. Together they leave nothing the
/// container resolves for the command to a source's contents: targets,
/// program and work dir are reached through the image only, and a mount's
/// own root is the directory the backend checked.
///
/// ```
/// use exec_core::{ExecOptions, Mount};
///
/// let options = ExecOptions::new()
///     .with_mount(Mount::new("/srv/data", "/data").with_read_only(true));
/// assert_eq!(options.mounts()[0].target(), std::path::Path::new("/data"));
/// assert!(options.mounts()[0].read_only());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mount {
    source: PathBuf,
    target: PathBuf,
    read_only: bool,
}

impl Mount {
    /// Mounts the host path `source` at `target` inside the container, writable.
    pub fn new(source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Self {
        Self {
            source: source.into(),
            target: target.into(),
            read_only: false,
        }
    }

    /// Makes the mount read-only (or writable again).
    #[must_use]
    pub fn with_read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// The host path.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// Where it appears inside the container.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Whether the command may only read it.
    pub fn read_only(&self) -> bool {
        self.read_only
    }
}

/// Checks the form of a call's mounts: both paths absolute and free of NUL
/// bytes, and no two mounts on one target.
pub(crate) fn validate(mounts: &[Mount]) -> Result<()> {
    let mut targets = BTreeSet::new();
    for (index, mount) in mounts.iter().enumerate() {
        let n = index + 1;
        for (what, path) in [("source", &mount.source), ("target", &mount.target)] {
            let bad = if path.as_os_str().is_empty() {
                Some("is empty")
            } else if path.as_os_str().as_encoded_bytes().contains(&0) {
                Some("contains a NUL byte")
            } else if !path.is_absolute() {
                Some("is not an absolute path")
            } else {
                None
            };
            if let Some(bad) = bad {
                return Err(Error::InvalidArgument {
                    field: "mounts".to_owned(),
                    reason: format!("mount {n}: {what} {path:?} {bad}"),
                });
            }
        }
        if !targets.insert(crate::confine::normalize(&mount.target)) {
            return Err(Error::InvalidArgument {
                field: "mounts".to_owned(),
                reason: format!(
                    "mount {n}: target {:?} is already the target of another mount",
                    mount.target
                ),
            });
        }
    }
    Ok(())
}

/// What a confined call's mounts must leave alone: what the container
/// resolves for the command besides the mounts (see [`Mount`]).
#[derive(Debug, Default)]
pub(crate) struct Fixed<'a> {
    /// Rules 1 to 3 apply (the executor has a whitelist); else only rule 4.
    pub(crate) confined: bool,
    /// Where the executor's own config mounts something (exec-docker's
    /// `volumes` and `tmpfs`), `..` resolved.
    pub(crate) config_targets: &'a [PathBuf],
    /// The program, when it has a `/`: absolute, `..` resolved.
    pub(crate) program: Option<PathBuf>,
    /// The directories a bare program is looked up in.
    pub(crate) path_dirs: Vec<PathBuf>,
    /// The work dir in effect (`..` resolved), and whether the call chose it.
    pub(crate) work_dir: Option<(PathBuf, bool)>,
}

/// Checks rules 2 to 4 of [`Mount`]'s docs for a call's mounts (rule 1 is
/// the work dir roots' own check).
///
/// # Errors
///
/// [`Error::MountTargetNotAllowed`] naming the mount, or
/// [`Error::WorkDirNotAllowed`] for a work dir the call chose inside a mount.
pub(crate) fn check_placement(executor: &str, mounts: &[Mount], fixed: &Fixed<'_>) -> Result<()> {
    let targets: Vec<PathBuf> = mounts
        .iter()
        .map(|m| crate::confine::normalize(&m.target))
        .collect();
    let refuse = |n: usize, reason: String| Error::MountTargetNotAllowed {
        executor: executor.to_owned(),
        target: targets[n].clone(),
        reason: format!("mount {} (from {:?}) {reason}", n + 1, mounts[n].source),
    };
    for (n, target) in targets.iter().enumerate() {
        if fixed.confined {
            if let Some(outer) = targets.iter().position(|o| inside(target, o)) {
                return Err(refuse(
                    n,
                    format!(
                        "lies inside the target {:?} of mount {}: the container would reach it \
                         through what that source holds, where a symlink could lead anywhere",
                        targets[outer],
                        outer + 1
                    ),
                ));
            }
            for own in fixed.config_targets {
                if target.starts_with(own) {
                    return Err(refuse(
                        n,
                        format!(
                            "lies on or inside the executor's own mount at {own:?}: the container \
                             would reach it through what that mount holds"
                        ),
                    ));
                }
                if own.starts_with(target) {
                    return Err(refuse(
                        n,
                        format!(
                            "would cover the executor's own mount at {own:?}, which the container \
                             would then place through what the call's source holds"
                        ),
                    ));
                }
            }
            if let Some(program) = fixed.program.as_ref().filter(|p| p.starts_with(target)) {
                return Err(refuse(
                    n,
                    format!(
                        "would hold the program {program:?}, so another file would answer to \
                         the whitelisted command"
                    ),
                ));
            }
            let in_path = fixed
                .path_dirs
                .iter()
                .find(|dir| dir.starts_with(target) || target.starts_with(dir));
            if let Some(dir) = in_path {
                return Err(refuse(
                    n,
                    format!(
                        "is on, above or inside {dir:?}, a directory of PATH the program is \
                         looked up in, so another program could answer to its name"
                    ),
                ));
            }
        }
        if let Some((work_dir, chosen)) = &fixed.work_dir {
            if !inside(work_dir, target) {
                continue;
            }
            let why = "the container would follow what that source holds to reach it, and a \
                       symlink there leads anywhere";
            if *chosen {
                return Err(Error::WorkDirNotAllowed {
                    executor: executor.to_owned(),
                    work_dir: work_dir.clone(),
                    reason: format!(
                        "it lies inside the target {target:?} of mount {} (from {:?}): {why}",
                        n + 1,
                        mounts[n].source
                    ),
                });
            }
            if fixed.confined {
                return Err(refuse(
                    n,
                    format!("would hold default_work_dir {work_dir:?} below its target: {why}"),
                ));
            }
        }
    }
    Ok(())
}

/// Whether `path` lies strictly below `outer` (both `..` resolved).
fn inside(path: &Path, outer: &Path) -> bool {
    path != outer && path.starts_with(outer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn bad_mounts_are_invalid_and_name_the_mount_and_path() {
        let cases = [
            (Mount::new("", "/data"), "mount 1: source \"\" is empty"),
            (
                Mount::new("data", "/data"),
                "mount 1: source \"data\" is not an absolute path",
            ),
            (
                Mount::new("/srv", "data"),
                "mount 1: target \"data\" is not an absolute path",
            ),
            (
                Mount::new("/srv\0x", "/data"),
                "mount 1: source \"/srv\\0x\" contains a NUL byte",
            ),
        ];
        for (mount, reason) in cases {
            let err = validate(&[mount]).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Invalid);
            assert_eq!(err.to_string(), format!("invalid mounts: {reason}"));
        }
        let twice = [Mount::new("/a", "/data"), Mount::new("/b", "/data/")];
        assert!(
            validate(&twice)
                .unwrap_err()
                .to_string()
                .contains("mount 2: target")
        );
        assert!(validate(&[Mount::new("/a", "/x"), Mount::new("/a", "/y")]).is_ok());
    }
    /// Prepares `command` with `mounts` (source, target) and maybe a work
    /// dir; the error's text, or `None` when it is allowed.
    fn refusal(
        settings: &crate::ExecutorSettings,
        command: &str,
        mounts: &[(&str, &str)],
        work_dir: Option<&str>,
    ) -> Option<(ErrorKind, String)> {
        let mut options = crate::ExecOptions::new();
        for (source, target) in mounts {
            options = options.with_mount(Mount::new(source, target));
        }
        if let Some(dir) = work_dir {
            options = options.with_work_dir(dir);
        }
        settings
            .prepare(command.into(), options)
            .err()
            .map(|e| (e.kind(), e.to_string()))
    }

    fn confined() -> crate::ExecutorSettings {
        crate::ExecutorSettings::new("app:box")
            .with_default_work_dir("/work")
            .with_work_dir_roots(["/data"])
            .with_default_env_var("PATH", "/bin:/work/bin")
            .with_whitelist(
                crate::Whitelist::parse(["echo hello", "./build.sh", "/work/tools/run"]).unwrap(),
            )
    }

    #[test]
    fn a_confined_call_cannot_place_a_mount_inside_another() {
        let settings = confined().with_config_mount_targets(["/data/cache", "/work/tmp/"]);
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("/s/repo", "/work/repo"), ("/s/evil", "/work/repo/tools")],
                "anything at \"/work/repo/tools\": mount 2 (from \"/s/evil\") lies inside the \
                 target \"/work/repo\" of mount 1",
            ),
            (
                &[("/s/evil", "/work/repo/tools"), ("/s/repo", "/work/repo")],
                "mount 1 (from \"/s/evil\") lies inside the target \"/work/repo\" of mount 2",
            ),
            (
                &[
                    ("/s/repo", "/work/repo"),
                    ("/s/evil", "/work/repo/x/../tools/"),
                ],
                "mount 2 (from \"/s/evil\") lies inside the target \"/work/repo\" of mount 1",
            ),
            (
                &[("/s/evil", "/data/cache/tools")],
                "mount 1 (from \"/s/evil\") lies on or inside the executor's own mount at \
                 \"/data/cache\"",
            ),
            (
                &[("/s/evil", "/work/tmp")],
                "lies on or inside the executor's own mount at \"/work/tmp\"",
            ),
            (
                &[("/s/repo", "/data")],
                "mount 1 (from \"/s/repo\") would cover the executor's own mount at \"/data/cache\"",
            ),
        ];
        for (mounts, expected) in cases {
            let (kind, text) = refusal(&settings, "echo hello", mounts, None)
                .unwrap_or_else(|| panic!("{mounts:?} was allowed"));
            assert_eq!(kind, ErrorKind::PermissionDenied, "{text}");
            assert!(text.contains(expected), "{text}\nexpected: {expected}");
        }
        // Side by side, each on its own: allowed.
        let siblings = [
            ("/s/a", "/work/a"),
            ("/s/b", "/work/b"),
            ("/s/c", "/data/c"),
        ];
        assert_eq!(refusal(&settings, "echo hello", &siblings, None), None);
        // Without a whitelist the container is the boundary: nesting is the call's.
        let open = crate::ExecutorSettings::new("app:open");
        let nested = [("/s/repo", "/work/repo"), ("/s/evil", "/work/repo/tools")];
        assert_eq!(refusal(&open, "echo hello", &nested, None), None);
    }

    #[test]
    fn a_confined_call_cannot_mount_over_the_program_or_its_path() {
        let settings = confined();
        let cases: &[(&str, (&str, &str), &str)] = &[
            (
                "./build.sh",
                ("/s/checkout", "/work"),
                "mount 1 (from \"/s/checkout\") would hold the program \"/work/build.sh\"",
            ),
            (
                "./build.sh",
                ("/s/checkout", "/work/build.sh"),
                "would hold the program \"/work/build.sh\"",
            ),
            (
                "/work/tools/run",
                ("/s/evil", "/work/tools"),
                "would hold the program \"/work/tools/run\"",
            ),
            (
                "echo hello",
                ("/s/evil", "/work/bin"),
                "is on, above or inside \"/work/bin\", a directory of PATH",
            ),
            (
                "echo hello",
                ("/s/evil", "/work/bin/echo"),
                "is on, above or inside \"/work/bin\"",
            ),
            (
                "echo hello",
                ("/s/evil", "/work"),
                "is on, above or inside \"/work/bin\"",
            ),
        ];
        for (command, mount, expected) in cases {
            let (kind, text) = refusal(&settings, command, &[*mount], None)
                .unwrap_or_else(|| panic!("{command} with {mount:?} was allowed"));
            assert_eq!(kind, ErrorKind::PermissionDenied, "{text}");
            assert!(text.contains(expected), "{text}\nexpected: {expected}");
        }
        // Beside the program, or under a PATH a call may set but the
        // container does not search for this program: data.
        for (command, mount) in [
            ("./build.sh", ("/s/src", "/work/src")),
            ("/work/tools/run", ("/s/src", "/work/src")),
            ("echo hello", ("/s/src", "/work/src")),
        ] {
            assert_eq!(
                refusal(&settings, command, &[mount], None),
                None,
                "{command}"
            );
        }
    }

    #[test]
    fn a_work_dir_cannot_lie_inside_a_mount_on_a_confined_executor() {
        let mounts = [("/s/repo", "/work/repo")];
        let (kind, text) =
            refusal(&confined(), "echo hello", &mounts, Some("/work/repo/tools")).unwrap();
        assert_eq!(kind, ErrorKind::PermissionDenied);
        assert!(
            text.starts_with(
                "executor app:box does not let a call use the work dir \"/work/repo/tools\": it \
                 lies inside the target \"/work/repo\" of mount 1 (from \"/s/repo\")"
            ),
            "{text}"
        );
        // At the mount's own root: the directory that was checked.
        assert_eq!(
            refusal(&confined(), "echo hello", &mounts, Some("/work/repo")),
            None
        );
        // default_work_dir below a call's mount (under a work_dir_root).
        let deeper = confined()
            .with_default_work_dir("/work/app")
            .with_work_dir_roots(["/work"])
            .with_default_env_var("PATH", "/bin");
        let (_, text) = refusal(&deeper, "echo hello", &[("/s/repo", "/work")], None).unwrap();
        assert!(
            text.contains("mount 1 (from \"/s/repo\") would hold default_work_dir \"/work/app\""),
            "{text}"
        );
        // work_dir_roots without a whitelist confine the call's work dir too.
        let rooted = crate::ExecutorSettings::new("app:rooted").with_work_dir_roots(["/work"]);
        let (kind, _) = refusal(&rooted, "ls", &mounts, Some("/work/repo/tools")).unwrap();
        assert_eq!(kind, ErrorKind::PermissionDenied);
        let open = crate::ExecutorSettings::new("app:open");
        assert_eq!(
            refusal(&open, "ls", &mounts, Some("/work/repo/tools")),
            None
        );
    }
}
