//! What an executor is configured with, what one call asks for, and the checked
//! command that results from the two.
//!
//! Every backend turns a command into a [`PreparedCommand`] with
//! [`ExecutorSettings::prepare`]: split (or take the words), whitelist,
//! environment merge, policy. Only what `prepare` returns is run, so a backend
//! cannot forget a check.
//!
//! Naming: builders that consume and return `Self` start with `with_`;
//! getters are the bare name, as in std.

use crate::audit::Audit;
use crate::command_line::CommandSpec;
use crate::confine::{self, EnvAllow, WorkDirConfinement};
use crate::decode::OutputEncoding;
use crate::env::{self, Env};
use crate::error::{Error, Result};
use crate::executor::Capabilities;
use crate::mount::{self, Mount};
use crate::pipes::{BackendPipes, Pipes};
use crate::policy::{CommandRequest, Policy};
use crate::pty::Pty;
use crate::whitelist::Whitelist;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How much output a process may produce that nobody has read yet, per stream,
/// before the process blocks on a full pipe: 1 MiB.
pub const DEFAULT_OUTPUT_BUFFER: usize = 1024 * 1024;

/// How long `close(false)` waits after SIGTERM before it sends SIGKILL, on
/// every backend: 3 seconds.
pub const DEFAULT_CLOSE_GRACE: Duration = Duration::from_secs(3);

/// The settings every executor kind shares, as configured in YAML
/// (`default_work_dir`, `default_env`, `command_whitelist`, `output_encoding`)
/// plus the executor's id and the embedder's policy.
///
/// ```
/// use exec_core::{ExecOptions, ExecutorSettings, Whitelist};
///
/// let settings = ExecutorSettings::new("app:git")
///     .with_default_env_var("PATH", "/usr/bin:/bin")
///     .with_env_allow(exec_core::confine::EnvAllow::parse(["GIT_PAGER"])?)
///     .with_whitelist(Whitelist::parse(["git status"])?);
/// let prepared = settings.prepare("git  'status'".into(), ExecOptions::new().with_env("GIT_PAGER", "cat"))?;
/// assert_eq!(prepared.argv(), ["git", "status"]);
/// assert_eq!(prepared.env().len(), 2);
/// assert!(settings.prepare("git push".into(), ExecOptions::new()).is_err());
/// # Ok::<(), exec_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    id: String,
    default_work_dir: Option<PathBuf>,
    default_env: Env,
    whitelist: Whitelist,
    output_encoding: Option<&'static OutputEncoding>,
    output_buffer: usize,
    policy: Option<Arc<dyn Policy>>,
    env_allow: Option<EnvAllow>,
    work_dir_roots: Vec<PathBuf>,
    close_grace: Duration,
    config_mount_targets: Vec<PathBuf>,
}

impl ExecutorSettings {
    /// Settings for the executor `id`: no default work dir, an empty environment,
    /// an empty whitelist (everything allowed), no decoding, no policy.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            default_work_dir: None,
            default_env: Env::new(),
            whitelist: Whitelist::default(),
            output_encoding: None,
            output_buffer: DEFAULT_OUTPUT_BUFFER,
            policy: None,
            env_allow: None,
            work_dir_roots: Vec::new(),
            close_grace: DEFAULT_CLOSE_GRACE,
            config_mount_targets: Vec::new(),
        }
    }

    /// Sets how long `close(false)` waits after SIGTERM before it sends
    /// SIGKILL (default [`DEFAULT_CLOSE_GRACE`]); the same on every backend.
    ///
    /// ```
    /// use exec_core::ExecutorSettings;
    /// use std::time::Duration;
    ///
    /// let settings = ExecutorSettings::new("app:shell").with_close_grace(Duration::from_millis(500));
    /// assert_eq!(settings.close_grace(), Duration::from_millis(500));
    /// ```
    #[must_use]
    pub fn with_close_grace(mut self, grace: Duration) -> Self {
        self.close_grace = grace;
        self
    }

    /// How long `close(false)` waits after SIGTERM before SIGKILL.
    pub fn close_grace(&self) -> Duration {
        self.close_grace
    }

    /// Sets which variables a call may set (config field `env_allow`; see
    /// [`confine`]). Without it, a call may set none on an executor with a
    /// whitelist and any on one without.
    #[must_use]
    pub fn with_env_allow(mut self, allow: EnvAllow) -> Self {
        self.env_allow = Some(allow);
        self
    }

    /// Sets the directories, besides `default_work_dir`, a call's `work_dir`
    /// may lie in (config field `work_dir_roots`; see [`confine`]). Setting
    /// any confines the work dir even without a whitelist.
    #[must_use]
    pub fn with_work_dir_roots<I, P>(mut self, roots: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.work_dir_roots = roots.into_iter().map(Into::into).collect();
        self
    }

    /// Sets where the backend's own config mounts something into the command's
    /// container (exec-docker: the targets of `volumes` and `tmpfs`). On an
    /// executor with a whitelist a call's mount may not go on, above or
    /// inside one of them (see [`Mount`](crate::Mount)); backends set this
    /// when they are built.
    #[must_use]
    pub fn with_config_mount_targets<I, P>(mut self, targets: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.config_mount_targets = targets
            .into_iter()
            .map(|t| confine::normalize(&t.into()))
            .collect();
        self
    }

    /// Sets the work dir used when a call names none.
    #[must_use]
    pub fn with_default_work_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.default_work_dir = Some(dir.into());
        self
    }

    /// Replaces the default environment.
    #[must_use]
    pub fn with_default_env(mut self, env: Env) -> Self {
        self.default_env = env;
        self
    }

    /// Adds one variable to the default environment.
    #[must_use]
    pub fn with_default_env_var(
        mut self,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.default_env.insert(name.into(), value.into());
        self
    }

    /// Sets the command whitelist.
    #[must_use]
    pub fn with_whitelist(mut self, whitelist: Whitelist) -> Self {
        self.whitelist = whitelist;
        self
    }

    /// Decodes stdout and stderr from this encoding into UTF-8
    /// (see [`decode::encoding_for_label`](crate::decode::encoding_for_label)).
    #[must_use]
    pub fn with_output_encoding(mut self, encoding: Option<&'static OutputEncoding>) -> Self {
        self.output_encoding = encoding;
        self
    }

    /// Sets how much unread output is buffered per stream
    /// (default [`DEFAULT_OUTPUT_BUFFER`]; at least 4 KiB is used).
    #[must_use]
    pub fn with_output_buffer(mut self, bytes: usize) -> Self {
        self.output_buffer = bytes.max(4096);
        self
    }

    /// Sets the policy consulted for every command.
    #[must_use]
    pub fn with_policy(mut self, policy: Arc<dyn Policy>) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The executor's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The work dir used when a call names none.
    pub fn default_work_dir(&self) -> Option<&Path> {
        self.default_work_dir.as_deref()
    }

    /// The default environment.
    pub fn default_env(&self) -> &Env {
        &self.default_env
    }

    /// The command whitelist.
    pub fn whitelist(&self) -> &Whitelist {
        &self.whitelist
    }

    /// The output encoding, if output is decoded.
    pub fn output_encoding(&self) -> Option<&'static OutputEncoding> {
        self.output_encoding
    }

    /// Unread output buffered per stream.
    pub fn output_buffer(&self) -> usize {
        self.output_buffer
    }

    /// The policy, if one is set.
    pub fn policy(&self) -> Option<&Arc<dyn Policy>> {
        self.policy.as_ref()
    }

    /// The variables a call may set, as configured (`None`: see
    /// [`with_env_allow`](ExecutorSettings::with_env_allow)).
    pub fn env_allow(&self) -> Option<&EnvAllow> {
        self.env_allow.as_ref()
    }

    /// The directories a call's work dir may lie in besides `default_work_dir`.
    pub fn work_dir_roots(&self) -> &[PathBuf] {
        &self.work_dir_roots
    }

    /// Where the backend's own config mounts something (`..` resolved; see
    /// [`with_config_mount_targets`](ExecutorSettings::with_config_mount_targets)).
    pub fn config_mount_targets(&self) -> &[PathBuf] {
        &self.config_mount_targets
    }

    /// Whether the executor runs only what its config lists: it has a
    /// whitelist. Then a call cannot move the program lookup, set variables
    /// the config does not allow, or leave the configured work dirs.
    pub fn is_confined(&self) -> bool {
        !self.whitelist.is_empty()
    }

    /// The call's variables held to `env_allow` (see [`confine`]).
    fn check_call_env(&self, options: &ExecOptions) -> Result<()> {
        let none;
        let (allow, configured) = match (&self.env_allow, self.is_confined()) {
            (Some(allow), _) => (allow, true),
            (None, true) => {
                none = EnvAllow::none();
                (&none, false)
            }
            (None, false) => return Ok(()),
        };
        for name in options.env.keys() {
            if let Some(reason) = allow.refusal(name, configured) {
                return Err(Error::EnvNotAllowed {
                    executor: self.id.clone(),
                    name: name.clone(),
                    reason,
                });
            }
        }
        Ok(())
    }

    /// The work dir to use and, when a call chose it on a confined executor,
    /// the roots the backend checks it against once symlinks are resolved.
    fn work_dir_for(
        &self,
        asked: Option<PathBuf>,
    ) -> Result<(Option<PathBuf>, Option<WorkDirConfinement>)> {
        let Some(asked) = asked else {
            return Ok((self.default_work_dir.clone(), None));
        };
        if !self.is_confined() && self.work_dir_roots.is_empty() {
            return Ok((Some(asked), None));
        }
        let confinement = self.work_dir_confinement();
        // A relative work dir is taken from default_work_dir, never from
        // wherever the host process happens to be.
        let absolute = match (&self.default_work_dir, asked.is_absolute()) {
            (_, true) => asked,
            (Some(base), false) => base.join(asked),
            (None, false) => {
                return Err(Error::InvalidArgument {
                    field: "work_dir".to_owned(),
                    reason: format!(
                        "{asked:?} is relative and executor {} has no default_work_dir to take it from",
                        self.id
                    ),
                });
            }
        };
        let dir = confine::normalize(&absolute);
        if !confinement.contains_lexically(&dir) {
            return Err(confinement.refusal(&dir, ""));
        }
        Ok((Some(dir), Some(confinement)))
    }

    /// Where a call's mounts may go (see [`Mount`](crate::Mount)): on an
    /// executor with a whitelist only where it could point its work dir
    /// (`default_work_dir`, `work_dir_roots`) — a mount over `/bin`, `/lib` or
    /// `/etc` would change what the whitelisted program is, or what it
    /// loads, as `PATH` or `LD_PRELOAD` would — and never where the container
    /// would resolve another mount, the program or the work dir through what
    /// a source holds. Where a call chose a confined work dir, it must not
    /// lie inside a mount either.
    fn check_mounts(
        &self,
        mounts: &[Mount],
        argv: &[String],
        env: &Env,
        work_dir: Option<&Path>,
        call_chose_work_dir: bool,
    ) -> Result<()> {
        let confined = self.is_confined();
        let work_dir_confined = confined || !self.work_dir_roots.is_empty();
        if mounts.is_empty() || !work_dir_confined {
            return Ok(());
        }
        let work_dir = work_dir.map(confine::normalize);
        if !confined {
            // Only the work dir the call chose is held to its roots.
            let fixed = mount::Fixed {
                work_dir: work_dir.filter(|_| call_chose_work_dir).map(|w| (w, true)),
                ..mount::Fixed::default()
            };
            return mount::check_placement(&self.id, mounts, &fixed);
        }
        let confinement = self.work_dir_confinement();
        for mount in mounts {
            let target = confine::normalize(mount.target());
            if !confinement.contains_lexically(&target) {
                return Err(Error::MountTargetNotAllowed {
                    executor: self.id.clone(),
                    target,
                    reason: confinement.reason(""),
                });
            }
        }
        let program = argv.first().map_or("", String::as_str);
        let bare = !program.contains('/');
        let program = if program.starts_with('/') {
            Some(confine::normalize(Path::new(program)))
        } else if program.contains('/') {
            self.default_work_dir
                .as_deref()
                .filter(|d| d.is_absolute())
                .map(|d| confine::normalize(&d.join(program)))
        } else {
            None
        };
        // A bare program is found in the entry's PATH (the host, Incus) or
        // the container's, which is the merged one (Docker): both count.
        let mut path_dirs: Vec<PathBuf> = Vec::new();
        if bare {
            let paths = [self.default_env.get("PATH"), env.get("PATH")];
            for dir in paths.into_iter().flatten().flat_map(|p| p.split(':')) {
                let dir = match &work_dir {
                    Some(base) if !dir.starts_with('/') => base.join(dir),
                    _ => PathBuf::from(dir),
                };
                let dir = confine::normalize(&dir);
                if dir.is_absolute() && !path_dirs.contains(&dir) {
                    path_dirs.push(dir);
                }
            }
        }
        let fixed = mount::Fixed {
            confined,
            config_targets: &self.config_mount_targets,
            program,
            path_dirs,
            work_dir: work_dir.map(|w| (w, call_chose_work_dir)),
        };
        mount::check_placement(&self.id, mounts, &fixed)
    }

    /// The roots a call's work dir (and mount targets) must stay in.
    fn work_dir_confinement(&self) -> WorkDirConfinement {
        WorkDirConfinement {
            executor: self.id.clone(),
            roots: self
                .default_work_dir
                .iter()
                .chain(&self.work_dir_roots)
                .cloned()
                .collect(),
        }
    }

    /// Checks that the settings themselves are usable: the default environment's
    /// names and values can be passed to a process.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming `default_env`.
    pub fn validate(&self) -> Result<()> {
        env::validate("default_env", &self.default_env)
    }

    /// Turns a command (a line or its words) and one call's options into the
    /// command to run: splits the line, checks the whitelist, merges the
    /// environment (`default_env`, then the call's `env`), picks the work dir
    /// and asks the policy. Nothing runs here. Emits the `allowed` or `denied`
    /// audit event (see [`audit`](crate::audit)).
    ///
    /// # Errors
    ///
    /// `Invalid` for a command line that cannot be split, an empty list of
    /// words, a NUL byte or bad options; `PermissionDenied` when the whitelist
    /// or the policy refuses.
    pub fn prepare(&self, command: CommandSpec, options: ExecOptions) -> Result<PreparedCommand> {
        let argv = command.argv()?;
        let display = command.display();
        self.validate()?;
        env::validate("env", &options.env)?;
        mount::validate(&options.mounts)?;
        if let Some(pty) = &options.pty {
            pty.validate()?;
        }
        if options.timeout == Some(Duration::ZERO) {
            return Err(Error::InvalidArgument {
                field: "timeout".to_owned(),
                reason: "it must be greater than zero".to_owned(),
            });
        }
        if options
            .work_dir
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            return Err(Error::InvalidArgument {
                field: "work_dir".to_owned(),
                reason: "it is empty".to_owned(),
            });
        }
        let mut env = env::merge(&self.default_env, &options.env);
        if let Some(pty) = &options.pty {
            env.insert("TERM".to_owned(), pty.term().to_owned());
        }
        let env_names: Vec<&str> = env.keys().map(String::as_str).collect();
        let asked_dir = options.work_dir.clone();
        let shown_dir = asked_dir.as_deref().or(self.default_work_dir.as_deref());
        let audit = Audit::for_command(&self.id, &display, shown_dir, &env_names, &options.mounts);
        if !self.whitelist.allows(&argv) {
            audit.denied("not in the command whitelist");
            return Err(Error::NotWhitelisted {
                executor: self.id.clone(),
                command: display,
            });
        }
        let call_chose_work_dir = asked_dir.is_some();
        let confined = self
            .check_call_env(&options)
            .and_then(|()| self.work_dir_for(asked_dir))
            .and_then(|found| {
                self.check_mounts(
                    &options.mounts,
                    &argv,
                    &env,
                    found.0.as_deref(),
                    call_chose_work_dir,
                )?;
                Ok(found)
            });
        let (work_dir, work_dir_confinement) = match confined {
            Ok(found) => found,
            Err(error) => {
                audit.denied(&error.to_string());
                return Err(error);
            }
        };
        // With a whitelist the program is the one the config names: looked up
        // in the entry's own PATH, a relative one from default_work_dir.
        // A relative program on a confined executor needs an absolute
        // default_work_dir to be found from; otherwise the backend would find
        // it from the work dir, which a call chooses.
        let program = argv.first().map_or("", String::as_str);
        let relative_program = program.contains('/') && !program.starts_with('/');
        let anchored = self
            .default_work_dir
            .as_deref()
            .is_some_and(Path::is_absolute);
        if self.is_confined() && relative_program && !anchored {
            let error = Error::InvalidArgument {
                field: "command".to_owned(),
                reason: format!(
                    "executor {} has a command whitelist and no absolute default_work_dir to find \
                     the relative program {program:?} in (it would be found from the call's work dir)",
                    self.id
                ),
            };
            audit.denied(&error.to_string());
            return Err(error);
        }
        let (search_path, program_dir) = if self.is_confined() {
            (
                self.default_env.get("PATH").cloned(),
                self.default_work_dir.clone(),
            )
        } else {
            (env.get("PATH").cloned(), work_dir.clone())
        };
        if let Some(policy) = &self.policy {
            let request = CommandRequest {
                executor_id: &self.id,
                argv: &argv,
                work_dir: work_dir.as_deref(),
                env_names: &env_names,
            };
            if let Err(denial) = policy.check_command(&request) {
                audit.denied(denial.reason());
                return Err(Error::PolicyDenied {
                    executor: self.id.clone(),
                    action: format!("run {display:?}"),
                    reason: denial.reason().to_owned(),
                });
            }
        }
        audit.allowed();
        Ok(PreparedCommand {
            executor_id: self.id.clone(),
            display,
            argv,
            env,
            work_dir,
            work_dir_confinement,
            search_path,
            program_dir,
            timeout: options.timeout,
            mounts: options.mounts,
            pty: options.pty,
            output_encoding: self.output_encoding,
            output_buffer: self.output_buffer,
            close_grace: self.close_grace,
            audit,
        })
    }

    /// Asks the policy whether this executor may be acquired. Registries call it
    /// from their `get`.
    ///
    /// # Errors
    ///
    /// [`Error::PolicyDenied`] when the policy refuses.
    pub fn check_acquire(&self) -> Result<()> {
        match &self.policy {
            Some(policy) => crate::policy::check_acquire(policy.as_ref(), &self.id),
            None => Ok(()),
        }
    }
}

/// The options of one call: a work dir, extra environment variables and a timeout.
///
/// ```
/// use exec_core::ExecOptions;
/// use std::time::Duration;
///
/// let options = ExecOptions::new()
///     .with_work_dir("/srv/app")
///     .with_env("RUST_LOG", "debug")
///     .with_timeout(Duration::from_secs(30));
/// assert_eq!(options.env()["RUST_LOG"], "debug");
/// assert_eq!(options.timeout(), Some(Duration::from_secs(30)));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    work_dir: Option<PathBuf>,
    env: Env,
    timeout: Option<Duration>,
    mounts: Vec<Mount>,
    pty: Option<Pty>,
}

impl ExecOptions {
    /// No work dir, no extra environment, no timeout.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the work dir; the executor's `default_work_dir` is used without one.
    #[must_use]
    pub fn with_work_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.work_dir = Some(dir.into());
        self
    }

    /// Adds an environment variable (added to, and overriding, the
    /// executor's `default_env`).
    #[must_use]
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Adds environment variables.
    #[must_use]
    pub fn with_envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Sets how long the process may run after `start` before it is killed
    /// and `wait` reports a `Timeout` error.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Adds a host path to mount into the command's container. Only backends
    /// that declare [`Capabilities::mounts`](crate::Capabilities::mounts) take
    /// mounts, and only where their config allows; the others refuse the
    /// call as `Invalid`.
    #[must_use]
    pub fn with_mount(mut self, mount: Mount) -> Self {
        self.mounts.push(mount);
        self
    }

    /// The mounts the call asks for.
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// Runs the command in a terminal instead of pipes (see [`Pty`]). Only
    /// backends that declare [`Capabilities::pty`](crate::Capabilities::pty)
    /// take one; the others refuse the call as `Invalid`. The command's
    /// `TERM` is the terminal's.
    #[must_use]
    pub fn with_pty(mut self, pty: Pty) -> Self {
        self.pty = Some(pty);
        self
    }

    /// The terminal the call asks for, if any.
    pub fn pty(&self) -> Option<&Pty> {
        self.pty.as_ref()
    }

    /// The work dir, if the call names one.
    pub fn work_dir(&self) -> Option<&Path> {
        self.work_dir.as_deref()
    }

    /// The call's own environment variables.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The timeout, if any.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

/// A command that passed every check — the whitelist, the confinement of
/// its environment, work dir and mounts, and the policy — made only by
/// [`ExecutorSettings::prepare`]: what a backend runs, and all it may run.
/// Its parts are read-only.
#[derive(Debug, Clone)]
pub struct PreparedCommand {
    executor_id: String,
    display: String,
    argv: Vec<String>,
    env: Env,
    work_dir: Option<PathBuf>,
    work_dir_confinement: Option<WorkDirConfinement>,
    search_path: Option<String>,
    program_dir: Option<PathBuf>,
    timeout: Option<Duration>,
    mounts: Vec<Mount>,
    pty: Option<Pty>,
    output_encoding: Option<&'static OutputEncoding>,
    output_buffer: usize,
    close_grace: Duration,
    audit: Audit,
}

impl PreparedCommand {
    /// The id of the executor that prepared it.
    pub fn executor_id(&self) -> &str {
        &self.executor_id
    }

    /// The argument vector; never empty.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// The merged environment: the only variables the child gets.
    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The work dir, if any.
    pub fn work_dir(&self) -> Option<&Path> {
        self.work_dir.as_deref()
    }

    /// When a call chose the work dir on a confined executor: the roots it
    /// must stay in once the backend resolved its symlinks
    /// ([`WorkDirConfinement::check_resolved`]).
    pub fn work_dir_confinement(&self) -> Option<&WorkDirConfinement> {
        self.work_dir_confinement.as_ref()
    }

    /// The `PATH` to look the program up in (`None`: the backend's safe
    /// default). On an executor with a whitelist it is the entry's own
    /// `default_env` `PATH`, never one a call set; otherwise the merged
    /// environment's.
    pub fn search_path(&self) -> Option<&str> {
        self.search_path.as_deref()
    }

    /// The directory a relative program (`./build.sh`) is found from: on an
    /// executor with a whitelist its `default_work_dir`, never a call's work
    /// dir; otherwise the work dir. `None`: the host process's own.
    pub fn program_dir(&self) -> Option<&Path> {
        self.program_dir.as_deref()
    }

    /// The timeout, counted from `start`.
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// Host paths the call asks to mount (form checked, permission not: that
    /// is the backend's, see [`refuse_unsupported`](PreparedCommand::refuse_unsupported)).
    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// How long `close(false)` waits after SIGTERM before SIGKILL.
    pub fn close_grace(&self) -> Duration {
        self.close_grace
    }

    /// The terminal the command runs in instead of pipes, if the call asked
    /// for one (its `TERM` is in [`env`](PreparedCommand::env) already).
    pub fn pty(&self) -> Option<&Pty> {
        self.pty.as_ref()
    }

    /// The audit trail: the life cycle reports start, signals, exit, timeout
    /// and close; a backend may add its own events in its span.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// The program: the first word.
    pub fn program(&self) -> &str {
        self.argv.first().map_or("", String::as_str)
    }

    /// The command as a user would type it (words joined, quoted where
    /// needed), shortened to a few hundred bytes: what messages quote.
    pub fn display(&self) -> &str {
        &self.display
    }

    /// The pipes for this command: the user's side (decoding applied) and
    /// the backend's side.
    pub(crate) fn pipes(&self) -> (Pipes, BackendPipes) {
        Pipes::new(self.output_encoding, self.output_buffer)
    }

    /// Refuses, as `Invalid` (with the `denied` audit event), what the call
    /// asks for and the backend cannot do: mounts without
    /// [`Capabilities::mounts`](crate::Capabilities::mounts), a terminal
    /// without [`Capabilities::pty`](crate::Capabilities::pty). Every backend
    /// calls it with its capabilities after [`ExecutorSettings::prepare`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] naming `mounts` or `pty` and the backend.
    pub fn refuse_unsupported(&self, backend: &str, capabilities: Capabilities) -> Result<()> {
        let refused = if !self.mounts.is_empty() && !capabilities.mounts {
            Some((
                "mounts",
                "cannot mount host paths into a command; mounts work on Docker executors",
            ))
        } else if self.pty.is_some() && !capabilities.pty {
            Some(("pty", "cannot run a command in a terminal"))
        } else {
            None
        };
        let Some((field, why)) = refused else {
            return Ok(());
        };
        let error = Error::InvalidArgument {
            field: field.to_owned(),
            reason: format!("executor {} ({backend}) {why}", self.executor_id),
        };
        self.audit.denied(&error.to_string());
        Err(error)
    }

    /// A [`Error::Timeout`] for this command.
    pub fn timeout_error(&self, after: Duration) -> Error {
        Error::Timeout {
            command: self.display.clone(),
            after,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::policy::PolicyDenial;
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct Recorder {
        seen: Mutex<Vec<String>>,
    }

    impl Policy for Recorder {
        fn check_acquire(&self, executor_id: &str) -> Result<(), PolicyDenial> {
            Err(PolicyDenial::new(format!("{executor_id} is closed today")))
        }
        fn check_command(&self, request: &CommandRequest<'_>) -> Result<(), PolicyDenial> {
            let line = format!(
                "{} {:?} {:?} {:?}",
                request.executor_id(),
                request.argv(),
                request.work_dir(),
                request.env_names()
            );
            self.seen.lock().unwrap().push(line);
            if request.argv()[0] == "rm" {
                return Err(PolicyDenial::new("no deleting"));
            }
            Ok(())
        }
    }

    #[test]
    fn per_call_options_override_defaults() {
        let settings = ExecutorSettings::new("t:x")
            .with_default_work_dir("/a")
            .with_default_env_var("A", "1")
            .with_default_env_var("B", "1");
        let p = settings
            .prepare(
                "ls".into(),
                ExecOptions::new().with_work_dir("/b").with_env("B", "2"),
            )
            .unwrap();
        assert_eq!(p.work_dir(), Some(std::path::Path::new("/b")));
        assert_eq!(
            *p.env(),
            Env::from([("A".into(), "1".into()), ("B".into(), "2".into())])
        );
        let p = settings.prepare("ls".into(), ExecOptions::new()).unwrap();
        assert_eq!(p.work_dir(), Some(std::path::Path::new("/a")));
    }

    #[test]
    fn the_policy_sees_names_not_values_and_can_refuse() {
        let recorder = Arc::new(Recorder::default());
        let settings = ExecutorSettings::new("t:x")
            .with_default_env_var("SECRET", "hunter2")
            .with_policy(recorder.clone());
        settings
            .prepare("ls -l".into(), ExecOptions::new().with_work_dir("/w"))
            .unwrap();
        let err = settings
            .prepare("rm -rf /".into(), ExecOptions::new())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        assert_eq!(
            err.to_string(),
            "policy refused to run \"rm -rf /\" on executor t:x: no deleting"
        );
        let seen = recorder.seen.lock().unwrap();
        assert_eq!(seen[0], "t:x [\"ls\", \"-l\"] Some(\"/w\") [\"SECRET\"]");
        assert!(seen.iter().all(|l| !l.contains("hunter2")));
        let err = settings.check_acquire().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("t:x is closed today"), "{err}");
    }

    #[test]
    fn the_whitelist_is_checked_before_the_policy() {
        let recorder = Arc::new(Recorder::default());
        let settings = ExecutorSettings::new("t:x")
            .with_whitelist(Whitelist::parse(["ls"]).unwrap())
            .with_policy(recorder.clone());
        let err = settings
            .prepare("cat /etc/shadow".into(), ExecOptions::new())
            .unwrap_err();
        assert!(matches!(err, Error::NotWhitelisted { .. }));
        assert!(recorder.seen.lock().unwrap().is_empty());
    }

    #[test]
    fn bad_options_are_invalid_and_named() {
        let settings = ExecutorSettings::new("t:x");
        for (options, field) in [
            (ExecOptions::new().with_env("A=B", "x"), "invalid env"),
            (
                ExecOptions::new().with_timeout(Duration::ZERO),
                "invalid timeout",
            ),
            (ExecOptions::new().with_work_dir(""), "invalid work_dir"),
        ] {
            let err = settings.prepare("ls".into(), options).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Invalid);
            assert!(err.to_string().starts_with(field), "{err}");
        }
        let bad_defaults = ExecutorSettings::new("t:x").with_default_env_var("", "x");
        let err = bad_defaults
            .prepare("ls".into(), ExecOptions::new())
            .unwrap_err();
        assert!(err.to_string().starts_with("invalid default_env"), "{err}");
    }

    #[test]
    fn a_whitelisted_executor_takes_mounts_only_where_a_work_dir_may_go() {
        let confined = ExecutorSettings::new("app:box")
            .with_default_work_dir("/work")
            .with_work_dir_roots(["/data"])
            .with_whitelist(Whitelist::parse(["echo hello"]).unwrap());
        let mount =
            |target: &str| ExecOptions::new().with_mount(crate::Mount::new("/srv/shared", target));
        for allowed in ["/work", "/work/in", "/data/x"] {
            assert!(
                confined
                    .prepare("echo hello".into(), mount(allowed))
                    .is_ok(),
                "{allowed}"
            );
        }
        // Over the program, its libraries or /etc/ld.so.preload: another program.
        for refused in [
            "/bin",
            "/usr/local/bin",
            "/lib",
            "/etc",
            "/work/../etc",
            "/",
        ] {
            let err = confined
                .prepare("echo hello".into(), mount(refused))
                .unwrap_err();
            assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{refused}: {err}");
            assert!(
                err.to_string()
                    .starts_with("executor app:box does not let a call mount anything at "),
                "{err}"
            );
            assert!(err.to_string().contains("/work, /data"), "{err}");
        }
        // Without a whitelist the container is the boundary: any target.
        let open = ExecutorSettings::new("app:open");
        assert!(open.prepare("echo hello".into(), mount("/bin")).is_ok());
    }

    #[test]
    fn a_relative_program_needs_an_absolute_default_work_dir_on_a_whitelisted_executor() {
        let whitelist = Whitelist::parse(["./build.sh"]).unwrap();
        let call = || ExecOptions::new().with_work_dir("/srv/checkouts/attacker");
        for (settings, options) in [
            (
                ExecutorSettings::new("app:build")
                    .with_work_dir_roots(["/srv/checkouts"])
                    .with_whitelist(whitelist.clone()),
                call(),
            ),
            (
                ExecutorSettings::new("app:build")
                    .with_default_work_dir("srv")
                    .with_whitelist(whitelist.clone()),
                ExecOptions::new(),
            ),
        ] {
            let err = settings.prepare("./build.sh".into(), options).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
            assert!(
                err.to_string().contains("no absolute default_work_dir"),
                "{err}"
            );
        }
        let anchored = ExecutorSettings::new("app:build")
            .with_default_work_dir("/srv/checkouts")
            .with_whitelist(whitelist);
        let prepared = anchored.prepare("./build.sh".into(), call()).unwrap();
        assert_eq!(prepared.program_dir(), Some(Path::new("/srv/checkouts")));
    }
}
