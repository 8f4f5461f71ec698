//! What one call may change on an executor: its environment variables and its
//! work dir. The config is trusted, the call is not, so on an executor with a
//! command whitelist a call may only set the variables the config lets it set
//! and only run in the directories the config names — otherwise a per-call
//! `LD_PRELOAD`, `PATH`, `GIT_CONFIG_*` or a work dir holding a hostile
//! `.git/config` would run what the whitelist never allowed.
//!
//! - **Env**: [`EnvAllow`] (config field `env_allow`): exact names, prefixes
//!   (`APP_*`) or `*`. With a whitelist and no `env_allow`, a call may set no
//!   variable; without a whitelist (every command allowed anyway) any. A
//!   loader or interpreter hook ([`is_hook`]: `LD_*`, `PATH`, `GIT_*`, `HOME`,
//!   `PAGER`, `PYTHONSTARTUP`, …) is allowed only when `env_allow` names it
//!   exactly: no pattern lets one through.
//! - **Work dir**: with a whitelist (or `work_dir_roots` set), a call's
//!   `work_dir` must lie inside `default_work_dir` or one of `work_dir_roots`.
//!   [`ExecutorSettings::prepare`](crate::ExecutorSettings::prepare) checks the
//!   path as written (`..` resolved); a backend checks it again once symlinks
//!   are resolved where the command runs ([`WorkDirConfinement::check_resolved`]).
//! - **Programs**: with a whitelist, the program is looked up in the entry's own
//!   `PATH` and a relative program (`./build.sh`) against `default_work_dir`:
//!   see [`PreparedCommand::search_path`](crate::backend::PreparedCommand::search_path).

use crate::error::{Error, Result};
use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

/// Variables that make a program load code or run commands of the caller's
/// choosing, or look for its configuration elsewhere. A pattern ending in `*`
/// is a prefix.
pub const HOOKS: &[&str] = &[
    // The dynamic loader and libc.
    "LD_*",
    "GCONV_PATH",
    "LOCPATH",
    "NLSPATH",
    "HOSTALIASES",
    "RESOLV_HOST_CONF",
    "MALLOC_*",
    "GLIBC_TUNABLES",
    "TZDIR",
    // Where programs and their configuration are found.
    "PATH",
    "HOME",
    "XDG_*",
    "TMPDIR",
    // Shells, and the shell other programs run commands with.
    "SHELL",
    "ZDOTDIR",
    "INPUTRC",
    "BASH_ENV",
    "ENV",
    "IFS",
    "CDPATH",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "PROMPT_COMMAND",
    "BASH_FUNC_*",
    // Interpreters.
    "PYTHON*",
    "PERL*",
    "RUBY*",
    "GEM_*",
    "BUNDLE_*",
    "NODE_*",
    "NPM_CONFIG_*",
    "LUA_*",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "PHPRC",
    "PHP_INI_SCAN_DIR",
    "TCLLIBPATH",
    "PIP_*",
    "MAVEN_OPTS",
    "GRADLE_OPTS",
    "JAVA_OPTS",
    "ANT_OPTS",
    "CORECLR_*",
    "DOTNET_*",
    // Build tools: the compilers they run and the options they pass.
    "MAKE*",
    "MFLAGS",
    "CC",
    "CXX",
    "CPP",
    "LD",
    "AR",
    "AS",
    "CFLAGS",
    "CXXFLAGS",
    "CPPFLAGS",
    "LDFLAGS",
    "CARGO_*",
    "RUSTC*",
    "RUSTFLAGS",
    "RUSTDOCFLAGS",
    "GOFLAGS",
    "GOTOOLCHAIN",
    "GOENV",
    "GOROOT",
    "GCC_EXEC_PREFIX",
    "COMPILER_PATH",
    // Tools that run other programs.
    "GIT_*",
    "SSH_*",
    "SUDO_ASKPASS",
    "PAGER",
    "MANPAGER",
    "LESSOPEN",
    "LESSCLOSE",
    "EDITOR",
    "VISUAL",
    "BROWSER",
    "OPENSSL_CONF",
    "OPENSSL_ENGINES",
    "SSLKEYLOGFILE",
    "CURL_HOME",
    "WGETRC",
    "DOCKER_*",
    "KUBECONFIG",
    "TERMINFO*",
    "GNUPGHOME",
    "TAR_OPTIONS",
    "RSYNC_RSH",
    "RSYNC_CONNECT_PROG",
    "OPENSSL_MODULES",
    "GTK_MODULES",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "VIMINIT",
    "EXINIT",
    "MYVIMRC",
    "TF_CLI_ARGS*",
];

/// Whether a call may set `name` only when `env_allow` names it exactly (see
/// [`HOOKS`]). Compared without regard to ASCII case: some programs read
/// lower-case forms too (npm's `npm_config_*`).
///
/// ```
/// use exec_core::confine::is_hook;
///
/// assert!(is_hook("LD_PRELOAD") && is_hook("PATH") && is_hook("GIT_CONFIG_COUNT"));
/// assert!(!is_hook("LANG") && !is_hook("APP_MODE"));
/// ```
pub fn is_hook(name: &str) -> bool {
    let name = name.to_ascii_uppercase();
    HOOKS.iter().any(|pattern| matches_pattern(pattern, &name))
}

fn matches_pattern(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// Which environment variables a call may set (config field `env_allow`).
///
/// ```
/// use exec_core::confine::EnvAllow;
///
/// let allow = EnvAllow::parse(["LANG", "APP_*", "PATH"])?;
/// assert!(allow.allows("LANG") && allow.allows("APP_MODE") && allow.allows("PATH"));
/// assert!(!allow.allows("HOME"));
/// // A pattern never lets a hook through: it must be named.
/// assert!(!EnvAllow::parse(["*"])?.allows("LD_PRELOAD"));
/// assert!(!EnvAllow::parse(["GIT_*"])?.allows("GIT_CONFIG_COUNT"));
/// # Ok::<(), exec_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvAllow {
    exact: BTreeSet<String>,
    prefixes: Vec<String>,
    /// No restriction at all: an executor without whitelist or `env_allow`.
    unrestricted: bool,
}

impl EnvAllow {
    /// No variable may be set by a call.
    pub fn none() -> Self {
        Self {
            exact: BTreeSet::new(),
            prefixes: Vec::new(),
            unrestricted: false,
        }
    }

    /// Every variable may be set, hooks included: what an executor without a
    /// whitelist allows (it may run any command anyway).
    pub fn unrestricted() -> Self {
        Self {
            unrestricted: true,
            ..Self::none()
        }
    }

    /// Names (`LANG`), prefixes (`APP_*`) or `*` (every name but the hooks).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming `env_allow[N]` for an empty entry, one
    /// with `=` or a NUL byte, or a `*` anywhere but at the end.
    pub fn parse<I, S>(patterns: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut allow = Self::none();
        for (index, pattern) in patterns.into_iter().enumerate() {
            let pattern = pattern.as_ref();
            let invalid = |reason: &str| Error::InvalidArgument {
                field: format!("env_allow[{index}]"),
                reason: format!("{pattern:?} {reason}"),
            };
            let (stem, prefix) = match pattern.strip_suffix('*') {
                Some(stem) => (stem, true),
                None => (pattern, false),
            };
            if pattern.is_empty() {
                return Err(invalid("is empty"));
            }
            if stem.contains(['=', '\0', '*']) {
                return Err(invalid(
                    "is not a variable name or a prefix ending in `*` (no `=`, NUL or inner `*`)",
                ));
            }
            if prefix {
                allow.prefixes.push(stem.to_owned());
            } else {
                allow.exact.insert(stem.to_owned());
            }
        }
        Ok(allow)
    }

    /// Whether a call may set `name`.
    pub fn allows(&self, name: &str) -> bool {
        if self.unrestricted || self.exact.contains(name) {
            return true;
        }
        !is_hook(name) && self.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    }

    /// Why `name` is refused, for the message; `None` when it is allowed.
    pub(crate) fn refusal(&self, name: &str, configured: bool) -> Option<String> {
        if self.allows(name) {
            return None;
        }
        Some(if is_hook(name) {
            format!(
                "{name} can make a program load code or run commands, so a call may set it \
                 only when env_allow names it exactly"
            )
        } else if configured {
            format!("env_allow does not list it (add {name:?} to env_allow to allow it)")
        } else {
            format!(
                "the executor has a command whitelist and no env_allow (add {name:?} to env_allow \
                 to allow it)"
            )
        })
    }
}

/// Where a call's work dir must lie, carried by a
/// [`PreparedCommand`](crate::backend::PreparedCommand) for the backend's second check
/// once symlinks are resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkDirConfinement {
    pub(crate) executor: String,
    pub(crate) roots: Vec<PathBuf>,
}

impl WorkDirConfinement {
    /// The directories a work dir must lie in (`default_work_dir` and
    /// `work_dir_roots`, as written in the config).
    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Checks a work dir after the backend resolved its symlinks where the
    /// command runs; `resolve` does the same to each root (a root it cannot
    /// resolve is skipped).
    ///
    /// # Errors
    ///
    /// [`Error::WorkDirNotAllowed`] when the resolved dir is outside every
    /// resolved root.
    pub fn check_resolved(
        &self,
        resolved: &Path,
        mut resolve: impl FnMut(&Path) -> Option<PathBuf>,
    ) -> Result<()> {
        let inside = self
            .roots
            .iter()
            .filter_map(|root| resolve(root))
            .any(|root| resolved.starts_with(&root));
        if inside {
            Ok(())
        } else {
            Err(self.refusal(resolved, " (once its symlinks are followed)"))
        }
    }

    pub(crate) fn refusal(&self, work_dir: &Path, how: &str) -> Error {
        Error::WorkDirNotAllowed {
            executor: self.executor.clone(),
            work_dir: work_dir.to_owned(),
            reason: self.reason(how),
        }
    }

    /// Why a path outside the roots is refused, and what would allow it.
    pub(crate) fn reason(&self, how: &str) -> String {
        if self.roots.is_empty() {
            return format!(
                "the executor has a command whitelist and neither default_work_dir nor \
                 work_dir_roots{how}"
            );
        }
        let roots: Vec<String> = self.roots.iter().map(|r| r.display().to_string()).collect();
        format!(
            "it is outside default_work_dir and work_dir_roots ({}){how}",
            roots.join(", ")
        )
    }

    /// Whether `dir` (absolute, `..` resolved) lies in a root as written.
    pub(crate) fn contains_lexically(&self, dir: &Path) -> bool {
        self.roots
            .iter()
            .any(|root| dir.starts_with(normalize(root)))
    }
}

/// `path` with `.` removed and `..` applied, without touching the file system
/// (`/app/../etc` is `/etc`; `..` above `/` stays at `/`).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            // `..` above `/` stays at `/`; a relative path keeps its leading `..`s.
            Component::ParentDir => {
                let above_start = matches!(
                    out.components().next_back(),
                    None | Some(Component::ParentDir)
                );
                if above_start {
                    out.push(component);
                } else if out.has_root() && out.parent().is_none() {
                    // At `/`: nothing above it.
                } else {
                    out.pop();
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hooks_need_their_exact_name() {
        let star = EnvAllow::parse(["*"]).unwrap();
        for hook in [
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "GCONV_PATH",
            "BASH_ENV",
            "ENV",
            "PYTHONSTARTUP",
            "GIT_CONFIG_COUNT",
            "GIT_CONFIG_KEY_0",
            "PATH",
            "HOME",
            "PAGER",
            // make/man run commands through SHELL; zsh reads ZDOTDIR's files;
            // MAKEFLAGS can --eval; CFLAGS can -fplugin; RUSTC_WRAPPER and
            // GOFLAGS=-toolexec run programs; GOTOOLCHAIN downloads one.
            "SHELL",
            "ZDOTDIR",
            "MAKEFLAGS",
            "CC",
            "CFLAGS",
            "RUSTC_WRAPPER",
            "CARGO_BUILD_RUSTC_WRAPPER",
            "GOFLAGS",
            "GOTOOLCHAIN",
            "PIP_INDEX_URL",
            // Found in review: tar --to-command, rsync's remote shell, JVM
            // -javaagent through build tools' options, gcc's helper lookup,
            // AWS credential_process, vim's startup commands, npm's lower case.
            "TAR_OPTIONS",
            "RSYNC_RSH",
            "MAVEN_OPTS",
            "GRADLE_OPTS",
            "GCC_EXEC_PREFIX",
            "AWS_CONFIG_FILE",
            "VIMINIT",
            "TF_CLI_ARGS_plan",
            "npm_config_script_shell",
            "ld_preload",
        ] {
            assert!(!star.allows(hook), "{hook}");
            assert!(EnvAllow::parse([hook]).unwrap().allows(hook), "{hook}");
        }
        assert!(star.allows("LANG") && star.allows("APP_X"));
        assert!(!EnvAllow::none().allows("LANG"));
        assert!(EnvAllow::unrestricted().allows("LD_PRELOAD"));
    }

    #[test]
    fn bad_patterns_are_invalid_and_named() {
        for bad in ["", "A=B", "A*B*", "*A", "A\0"] {
            let err = EnvAllow::parse(["OK", bad]).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::Invalid);
            assert!(err.to_string().starts_with("invalid env_allow[1]"), "{err}");
        }
    }

    #[test]
    fn normalize_applies_dot_dot_lexically() {
        assert_eq!(normalize(Path::new("/app/../etc")), Path::new("/etc"));
        assert_eq!(normalize(Path::new("/app/./repo/")), Path::new("/app/repo"));
        assert_eq!(normalize(Path::new("/../..")), Path::new("/"));
        assert_eq!(normalize(Path::new("/..")), Path::new("/"));
        assert_eq!(normalize(Path::new("/../etc")), Path::new("/etc"));
        assert_eq!(normalize(Path::new("a/../..")), Path::new(".."));
        assert_eq!(normalize(Path::new("../../a")), Path::new("../../a"));
    }
}
