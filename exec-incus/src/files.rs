//! Looking at files in an instance through the daemon's files API: what a
//! path is, where its symlinks lead, where a program is. The transport asks
//! before it runs a command, so that a confined work dir and a whitelisted
//! program are the ones the config allows, resolved in the instance.

use crate::client::REQUEST_TIMEOUT;
use crate::error::IncusError;
use crate::process::Target;
use exec_core::backend::PreparedCommand;
use std::path::{Path, PathBuf};

/// The most symlinks followed when a path is resolved in the instance.
const MAX_SYMLINKS: usize = 40;

/// The `PATH` the daemon gives a command whose environment has none.
pub(crate) const INCUS_DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What `path` is in the target's instance (`directory`, `file`,
/// `symlink`, not followed), `None` if it does not exist: `HEAD` on the
/// files API.
pub(crate) async fn file_type(target: &Target, path: &Path) -> Result<Option<String>, IncusError> {
    let client = &target.client;
    let files = target.files_url(path);
    let head = client
        .request(hyper::Method::HEAD, &files, None, REQUEST_TIMEOUT)
        .await?;
    match head.status {
        200 => Ok(Some(
            head.headers
                .get("x-incus-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("file")
                .to_owned(),
        )),
        404 => Ok(None),
        status => Err(client.api_error(status, &format!("HEAD {files}"), head.error)),
    }
}

/// `path` with its symlinks followed in the instance, through the files
/// API (`HEAD`, then `GET` for a link's target).
pub(crate) async fn resolve(target: &Target, path: &Path) -> Result<PathBuf, IncusError> {
    let client = &target.client;
    let mut pending: Vec<String> = components(path);
    let mut resolved = PathBuf::from("/");
    let mut links = 0;
    while let Some(part) = pending.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                resolved.pop();
                continue;
            }
            _ => {}
        }
        let candidate = resolved.join(&part);
        match file_type(target, &candidate).await? {
            None => {
                return Err(no_dir(
                    target,
                    path,
                    &format!("{candidate:?} does not exist"),
                ));
            }
            Some(kind) if kind != "symlink" => {
                resolved = candidate;
                continue;
            }
            Some(_) => {}
        }
        links += 1;
        if links > MAX_SYMLINKS {
            return Err(IncusError::ExecFailed {
                instance: target.instance.clone(),
                message: format!("work dir {path:?}: more than {MAX_SYMLINKS} symlinks"),
            });
        }
        let files = target.files_url(&candidate);
        let link = client
            .request(hyper::Method::GET, &files, None, REQUEST_TIMEOUT)
            .await?;
        let link_target = String::from_utf8_lossy(&link.raw)
            .trim_end_matches('\n')
            .to_owned();
        if link_target.starts_with('/') {
            resolved = PathBuf::from("/");
        }
        pending.extend(components(Path::new(&link_target)));
    }
    Ok(resolved)
}

/// Checks that `dir` is a directory in the instance (following a symlink).
pub(crate) async fn check_dir(target: &Target, dir: &Path) -> Result<(), IncusError> {
    match file_type(target, dir).await?.as_deref() {
        Some("directory") => Ok(()),
        Some("symlink") => {
            let resolved = resolve(target, dir).await?;
            match file_type(target, &resolved).await?.as_deref() {
                Some("directory") => Ok(()),
                _ => Err(no_dir(target, dir, "it is not a directory")),
            }
        }
        Some(_) => Err(no_dir(target, dir, "it is not a directory")),
        None => Err(no_dir(target, dir, "it does not exist")),
    }
}

/// A work dir a call chose on a confined executor, resolved in the
/// instance (symlinks followed): it must still lie in the roots, and is
/// sent resolved.
pub(crate) async fn confined_work_dir(
    target: &Target,
    command: &PreparedCommand,
) -> Result<Option<PathBuf>, IncusError> {
    let (Some(dir), Some(confinement)) = (command.work_dir(), command.work_dir_confinement())
    else {
        return Ok(command.work_dir().map(Path::to_owned));
    };
    let resolved = resolve(target, dir).await?;
    if file_type(target, &resolved).await?.as_deref() != Some("directory") {
        return Err(no_dir(target, dir, "it is not a directory"));
    }
    // In the roots' order: check_resolved asks for each root in turn.
    let mut roots = Vec::new();
    for root in confinement.roots() {
        roots.push(resolve(target, root).await.ok());
    }
    let mut roots = roots.into_iter();
    confinement
        .check_resolved(&resolved, |_| roots.next().flatten())
        .map_err(|e| IncusError::WorkDir(Box::new(e)))?;
    Ok(Some(resolved))
}

/// On an executor with a whitelist whose call set its own `PATH` (which
/// `env_allow` must name exactly), the daemon would look the program up
/// in the call's `PATH`: it is looked up in the entry's own here (through
/// the files API) and sent by its full path.
pub(crate) async fn program_from_config_path(
    target: &Target,
    command: &PreparedCommand,
) -> Result<Option<String>, IncusError> {
    let program = command.program();
    let call_path = command.env().get("PATH").map(String::as_str);
    if program.contains('/') || command.search_path() == call_path {
        return Ok(None);
    }
    let search_path = command.search_path().unwrap_or(INCUS_DEFAULT_PATH);
    for dir in search_path.split(':').filter(|d| d.starts_with('/')) {
        let candidate = Path::new(dir).join(program);
        // A directory of that name is not the program (symlinks are:
        // busybox's applets are links).
        if matches!(
            file_type(target, &candidate).await?.as_deref(),
            Some("file" | "symlink")
        ) {
            return Ok(Some(candidate.to_string_lossy().into_owned()));
        }
    }
    Err(IncusError::NotFound {
        what: format!(
            "program {program:?} (the entry's PATH {search_path:?}) in instance {:?}",
            target.instance
        ),
        address: target.client.address().to_owned(),
        message: "not in any directory of the PATH".to_owned(),
    })
}

/// Whether `program` is a file in the instance: the path it names (from
/// `cwd` when relative), or a name found in `search_path`. A lookup that
/// fails counts as found (the exit code is then reported as it is).
pub(crate) async fn program_exists(
    target: &Target,
    program: &str,
    search_path: &str,
    cwd: Option<&Path>,
) -> bool {
    let exists = |path: PathBuf| async move { !matches!(file_type(target, &path).await, Ok(None)) };
    if program.contains('/') {
        let path = match cwd {
            Some(cwd) if !program.starts_with('/') => cwd.join(program),
            _ => PathBuf::from(program),
        };
        return exists(path).await;
    }
    for dir in search_path.split(':').filter(|d| d.starts_with('/')) {
        if exists(Path::new(dir).join(program)).await {
            return true;
        }
    }
    false
}

/// `NotFound` for a work dir that is not a directory in the instance.
pub(crate) fn no_dir(target: &Target, dir: &Path, why: &str) -> IncusError {
    IncusError::NotFound {
        what: format!("work dir {dir:?} in instance {:?}", target.instance),
        address: target.client.address().to_owned(),
        message: why.to_owned(),
    }
}

fn components(path: &Path) -> Vec<String> {
    let mut parts: Vec<String> = path
        .to_string_lossy()
        .split('/')
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    parts.reverse();
    parts
}
