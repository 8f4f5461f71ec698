//! Host paths mounted into a container for one call (Wippy's `mounts` option).
//!
//! A call asks for mounts with [`ExecOptions::with_mount`](crate::ExecOptions::with_mount);
//! [`ExecutorSettings::prepare`](crate::ExecutorSettings::prepare) checks their form
//! (absolute paths, no NUL byte, one mount per target). Whether a mount is
//! *allowed* is the backend's business: only a backend that declares
//! [`Capabilities::mounts`](crate::Capabilities::mounts) takes them, and it
//! decides which host paths a call may reach (exec-docker: only under its
//! configured `mount_roots`). Every other backend refuses a call with mounts
//! through [`PreparedCommand::refuse_unsupported`](crate::backend::PreparedCommand::refuse_unsupported).

use crate::error::{Error, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One host path mounted into the command's container.
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
}
