//! The policy hook: an embedder's own say on which executors are acquired and
//! which commands run.
//!
//! A [`Policy`] is asked twice: when an executor is acquired (by a registry's
//! `get`) and when a command is about to be created, after the whitelist allowed
//! it. For a command it sees the split argument vector, the work dir and the
//! *names* of the environment variables, never their values, so a policy can be
//! logged or shared without leaking secrets.

use crate::error::{Error, Result};
use std::fmt;
use std::path::Path;

/// A refusal from a [`Policy`], with the reason shown to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDenial {
    reason: String,
}

impl PolicyDenial {
    /// A refusal for `reason`.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
        }
    }

    /// Why the policy refused.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for PolicyDenial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// What a policy sees of a command about to be created.
#[derive(Debug, Clone, Copy)]
pub struct CommandRequest<'a> {
    pub(crate) executor_id: &'a str,
    pub(crate) argv: &'a [String],
    pub(crate) work_dir: Option<&'a Path>,
    pub(crate) env_names: &'a [&'a str],
}

impl<'a> CommandRequest<'a> {
    /// A request, for policies' own tests.
    pub fn new(
        executor_id: &'a str,
        argv: &'a [String],
        work_dir: Option<&'a Path>,
        env_names: &'a [&'a str],
    ) -> Self {
        Self {
            executor_id,
            argv,
            work_dir,
            env_names,
        }
    }

    /// The executor's id (`namespace:name` when it came from a config).
    pub fn executor_id(&self) -> &'a str {
        self.executor_id
    }

    /// The split argument vector: exactly what would run.
    pub fn argv(&self) -> &'a [String] {
        self.argv
    }

    /// The work dir the command would run in, if one is set.
    pub fn work_dir(&self) -> Option<&'a Path> {
        self.work_dir
    }

    /// The names of the merged environment's variables, sorted. Values are not shown.
    pub fn env_names(&self) -> &'a [&'a str] {
        self.env_names
    }
}

/// An embedder's hook, consulted before an executor is handed out and before a
/// command is created. Both checks allow by default.
///
/// ```
/// use exec_core::policy::{CommandRequest, Policy, PolicyDenial};
///
/// /// Refuses any command that asks for the variable `AWS_SECRET_ACCESS_KEY`.
/// #[derive(Debug)]
/// struct NoAwsSecrets;
///
/// impl Policy for NoAwsSecrets {
///     fn check_command(&self, request: &CommandRequest<'_>) -> Result<(), PolicyDenial> {
///         if request.env_names().contains(&"AWS_SECRET_ACCESS_KEY") {
///             return Err(PolicyDenial::new("AWS secrets are not passed to commands"));
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Policy: Send + Sync + fmt::Debug + 'static {
    /// Called when the executor `executor_id` is acquired.
    ///
    /// # Errors
    ///
    /// A [`PolicyDenial`] refuses the acquisition.
    fn check_acquire(&self, executor_id: &str) -> Result<(), PolicyDenial> {
        let _ = executor_id;
        Ok(())
    }

    /// Called when a command is created, after the whitelist allowed it.
    ///
    /// # Errors
    ///
    /// A [`PolicyDenial`] refuses the command; nothing runs.
    fn check_command(&self, request: &CommandRequest<'_>) -> Result<(), PolicyDenial> {
        let _ = request;
        Ok(())
    }
}

/// Asks `policy` whether the executor `executor_id` may be acquired, and turns a
/// refusal into [`Error::PolicyDenied`]. Registries call it from their `get`.
///
/// # Errors
///
/// [`Error::PolicyDenied`] when the policy refuses.
pub fn check_acquire(policy: &dyn Policy, executor_id: &str) -> Result<()> {
    policy
        .check_acquire(executor_id)
        .map_err(|denial| Error::PolicyDenied {
            executor: executor_id.to_owned(),
            action: "acquire the executor".to_owned(),
            reason: denial.reason().to_owned(),
        })
}
