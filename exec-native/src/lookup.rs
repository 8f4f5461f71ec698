//! Finding a program in the child's search path, never the host's.

use exec_core::backend::PreparedCommand;
use exec_core::{Error, Result};
use nix::unistd::{AccessFlags, access};
use std::path::{Path, PathBuf};

/// The search path used when the child's environment has no `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Resolves the program of `command` to the file to execute.
///
/// A program with a `/` is used as it is, a relative one taken from
/// [`PreparedCommand::program_dir`] (on an executor with a whitelist its
/// `default_work_dir`, never a call's work dir). Otherwise each directory of
/// [`PreparedCommand::search_path`] (on an executor with a whitelist the
/// entry's own `PATH`, never a call's) or [`DEFAULT_PATH`] is tried in order;
/// empty and relative entries are skipped, since they would make the result
/// depend on the host's current directory.
pub(crate) fn resolve_program(command: &PreparedCommand) -> Result<PathBuf> {
    let program = command.program();
    if program.contains('/') {
        let path = Path::new(program);
        return Ok(match command.program_dir() {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_owned(),
        });
    }
    let search_path = command.search_path().unwrap_or(DEFAULT_PATH);
    search_path
        .split(':')
        .map(Path::new)
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable_file(candidate))
        .ok_or_else(|| Error::ProgramNotFound {
            program: program.to_owned(),
            path: search_path.to_owned(),
        })
}

fn is_executable_file(path: &Path) -> bool {
    path.is_file() && access(path, AccessFlags::X_OK).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use exec_core::{ErrorKind, ExecOptions, ExecutorSettings};

    fn prepared(line: &str, path: Option<&str>) -> PreparedCommand {
        let mut settings = ExecutorSettings::new("t:lookup");
        if let Some(path) = path {
            settings = settings.with_default_env_var("PATH", path);
        }
        settings.prepare(line.into(), ExecOptions::new()).unwrap()
    }

    #[test]
    fn uses_the_childs_path_in_order() {
        let found = resolve_program(&prepared("sh", Some("/nonexistent:/bin:/usr/bin"))).unwrap();
        assert_eq!(found, Path::new("/bin/sh"));
    }

    #[test]
    fn falls_back_to_the_default_path_not_the_hosts() {
        let found = resolve_program(&prepared("sh", None)).unwrap();
        assert!(
            DEFAULT_PATH.split(':').any(|d| found.starts_with(d)),
            "{found:?}"
        );
        let err = resolve_program(&prepared("cargo", None)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            format!("program \"cargo\" not found in PATH {DEFAULT_PATH:?}")
        );
    }

    #[test]
    fn skips_relative_and_empty_entries() {
        let err = resolve_program(&prepared("sh", Some(":.:bin"))).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }

    #[test]
    fn a_path_with_a_slash_is_used_as_is() {
        let found = resolve_program(&prepared("./run.sh", Some("/bin"))).unwrap();
        assert_eq!(found, Path::new("./run.sh"));
    }

    #[test]
    fn a_whitelisted_program_is_found_from_the_config_not_the_call() {
        let settings = ExecutorSettings::new("t:pinned")
            .with_default_env_var("PATH", "/bin:/usr/bin")
            .with_default_work_dir("/srv/app")
            .with_work_dir_roots(["/tmp"])
            .with_env_allow(exec_core::confine::EnvAllow::parse(["PATH"]).unwrap())
            .with_whitelist(exec_core::Whitelist::parse(["sh", "./build.sh"]).unwrap());
        let call = ExecOptions::new()
            .with_env("PATH", "/tmp/evil")
            .with_work_dir("/tmp");
        let sh = settings.prepare("sh".into(), call.clone()).unwrap();
        assert_eq!(
            sh.env()["PATH"],
            "/tmp/evil",
            "the child still gets the call's PATH"
        );
        assert_eq!(resolve_program(&sh).unwrap(), Path::new("/bin/sh"));
        let script = settings.prepare("./build.sh".into(), call).unwrap();
        assert_eq!(
            resolve_program(&script).unwrap(),
            Path::new("/srv/app/./build.sh")
        );
    }
}
