//! The registry: executors by id, handed out as `Arc<dyn Executor>`.

use crate::error::ConfigError;
use crate::loader::Loader;
use crate::suggest::nearest;
use exec_core::policy::{CommandRequest, PolicyDenial};
use exec_core::{Error, Executor, Policy, Result};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};

/// Executors by id (`namespace:name`), each an `Arc<dyn Executor>`, and the
/// policy: asked when an executor is acquired and, for every executor loaded
/// from a config, for each of its commands — whenever it was set (see
/// [`set_policy`](Registry::set_policy)). Cloning is cheap: executors, and
/// the policy they consult, are shared.
///
/// ```
/// # #[cfg(feature = "native")] {
/// use exec_config::Registry;
/// use exec_core::ErrorKind;
///
/// let registry = Registry::from_yaml(
///     "namespace: app\nentries:\n  - { name: shell, kind: exec.native }\n",
///     std::path::Path::new("inline.yaml"),
///     None,
/// )?;
/// assert_eq!(registry.ids().collect::<Vec<_>>(), ["app:shell"]);
/// let err = registry.get("app:shel").unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert_eq!(err.to_string(), "no executor with id \"app:shel\"; did you mean \"app:shell\"?");
/// # }
/// # Ok::<(), exec_config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Registry {
    executors: BTreeMap<String, Arc<dyn Executor>>,
    policy: Arc<PolicySlot>,
}

/// The registry's policy, as the executors loaded into it hold it: a slot
/// the registry fills, so that a policy set after loading governs their
/// commands too.
#[derive(Debug, Default)]
pub(crate) struct PolicySlot(RwLock<Option<Arc<dyn Policy>>>);

impl PolicySlot {
    fn get(&self) -> Option<Arc<dyn Policy>> {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, policy: Arc<dyn Policy>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = Some(policy);
    }
}

impl Policy for PolicySlot {
    fn check_acquire(&self, executor_id: &str) -> Result<(), PolicyDenial> {
        match self.get() {
            Some(policy) => policy.check_acquire(executor_id),
            None => Ok(()),
        }
    }

    fn check_command(&self, request: &CommandRequest<'_>) -> Result<(), PolicyDenial> {
        match self.get() {
            Some(policy) => policy.check_command(request),
            None => Ok(()),
        }
    }
}

impl Registry {
    /// An empty registry with no policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads one config file with the kinds of the enabled features; a
    /// shorthand for [`Loader::new`] and [`Loader::load_file`]. Use a
    /// [`Loader`] for several files, kinds of one's own or a policy.
    ///
    /// ```no_run
    /// let registry = exec_config::Registry::from_file("config/executors.yaml", None)?;
    /// let shell = registry.get("app:shell")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// The file's [`ConfigError`].
    pub fn from_file(
        path: impl AsRef<Path>,
        default_namespace: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let mut loader = Loader::new();
        loader.load_file(path, default_namespace)?;
        Ok(loader.into_registry())
    }

    /// Loads config text (`source` names the file it stands for, in errors) with the
    /// kinds of the enabled features; a shorthand for [`Loader::new`] and
    /// [`Loader::load_str`].
    ///
    /// # Errors
    ///
    /// The text's [`ConfigError`].
    pub fn from_yaml(
        text: &str,
        source: &Path,
        default_namespace: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let mut loader = Loader::new();
        loader.load_str(text, source, default_namespace)?;
        Ok(loader.into_registry())
    }

    /// Sets the policy (it replaces one set before): asked by
    /// [`Registry::get`] for every executor, and for each command of every
    /// executor loaded from a config into this registry (or a clone of it),
    /// loaded before or after this call. An executor added with
    /// [`insert`](Registry::insert) keeps the policy of its own settings for
    /// its commands.
    ///
    /// ```
    /// # #[cfg(feature = "native")] {
    /// use exec_config::Registry;
    /// use exec_core::policy::{CommandRequest, Policy, PolicyDenial};
    /// use exec_core::{ErrorKind, ExecOptions};
    /// use std::sync::Arc;
    ///
    /// #[derive(Debug)]
    /// struct NoRm;
    /// impl Policy for NoRm {
    ///     fn check_command(&self, request: &CommandRequest<'_>) -> Result<(), PolicyDenial> {
    ///         match request.argv()[0].as_str() {
    ///             "rm" => Err(PolicyDenial::new("no deleting")),
    ///             _ => Ok(()),
    ///         }
    ///     }
    /// }
    ///
    /// let registry = Registry::from_yaml("- { name: shell, kind: exec.native }", "inline.yaml".as_ref(), Some("app"))?
    ///     .with_policy(Arc::new(NoRm));
    /// let shell = registry.get("app:shell")?;
    /// let err = shell.create_process("rm -rf /".into(), ExecOptions::new()).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_policy(&mut self, policy: Arc<dyn Policy>) {
        self.policy.set(policy);
    }

    /// The registry with this policy (see [`set_policy`](Registry::set_policy)).
    #[must_use]
    pub fn with_policy(mut self, policy: Arc<dyn Policy>) -> Self {
        self.set_policy(policy);
        self
    }

    /// The policy, if one is set.
    pub fn policy(&self) -> Option<Arc<dyn Policy>> {
        self.policy.get()
    }

    /// The slot executors loaded into this registry consult.
    pub(crate) fn policy_slot(&self) -> Arc<dyn Policy> {
        self.policy.clone()
    }

    /// Adds an executor built in code under `id` (usually its own
    /// [`id`](Executor::id)). [`get`](Registry::get) asks the registry's policy
    /// for it like for any other.
    ///
    /// ```
    /// use exec_config::Registry;
    /// use exec_core::{ErrorKind, Executor, ExecutorSettings};
    /// use std::sync::Arc;
    ///
    /// # #[cfg(feature = "native")] {
    /// let mut registry = Registry::new();
    /// let scratch: Arc<dyn Executor> =
    ///     Arc::new(exec_native::NativeExecutor::new(ExecutorSettings::new("code:scratch")));
    /// registry.insert("code:scratch", scratch.clone())?;
    /// assert_eq!(registry.insert("code:scratch", scratch).unwrap_err().kind(), ErrorKind::Invalid);
    /// assert_eq!(registry.get("code:scratch")?.id(), "code:scratch");
    /// # }
    /// # Ok::<(), exec_core::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// `Invalid` if the id is empty or taken (the registry is unchanged).
    pub fn insert(&mut self, id: impl Into<String>, executor: Arc<dyn Executor>) -> Result<()> {
        let id = id.into();
        if id.is_empty() {
            return Err(Error::InvalidArgument {
                field: "executor id".to_owned(),
                reason: "it is empty".to_owned(),
            });
        }
        if self.executors.contains_key(&id) {
            return Err(Error::InvalidArgument {
                field: "executor id".to_owned(),
                reason: format!("{id:?} is already registered"),
            });
        }
        self.executors.insert(id, executor);
        Ok(())
    }

    /// Makes every process of every executor now in the registry count
    /// against `limit` (over an entry's own `max_running`): a start past it
    /// fails with [`Error::TooManyProcesses`](exec_core::Error::TooManyProcesses).
    /// The `exec-lua` runner's `--max-processes` is this.
    ///
    /// ```
    /// # #[cfg(feature = "native")] {
    /// use exec_core::ProcessLimit;
    ///
    /// let mut registry = exec_config::Registry::from_yaml(
    ///     "- { name: a, kind: exec.native }\n- { name: b, kind: exec.native }",
    ///     std::path::Path::new("inline.yaml"),
    ///     Some("app"),
    /// )?;
    /// let limit = ProcessLimit::new("this program (--max-processes)", 64);
    /// registry.limit_processes(&limit);
    /// assert_eq!(registry.get("app:a")?.id(), "app:a");
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn limit_processes(&mut self, limit: &Arc<exec_core::ProcessLimit>) {
        for executor in self.executors.values_mut() {
            let limited = exec_core::LimitedExecutor::new(executor.clone(), Arc::clone(limit));
            *executor = Arc::new(limited);
        }
    }

    pub(crate) fn insert_unchecked(&mut self, id: String, executor: Arc<dyn Executor>) {
        self.executors.insert(id, executor);
    }

    /// The executor `id`, if the registry's policy allows acquiring it.
    ///
    /// ```
    /// # #[cfg(feature = "native")] {
    /// let registry = exec_config::Registry::from_yaml("- { name: shell, kind: exec.native }", std::path::Path::new("inline.yaml"), Some("app"))?;
    /// let shell = registry.get("app:shell")?;
    /// assert_eq!(shell.id(), "app:shell");
    /// # }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::ExecutorNotFound`] (with the nearest id) or
    /// [`Error::PolicyDenied`].
    pub fn get(&self, id: &str) -> Result<Arc<dyn Executor>> {
        let Some(executor) = self.executors.get(id) else {
            return Err(Error::ExecutorNotFound {
                id: id.to_owned(),
                suggestion: nearest(id, self.ids()),
            });
        };
        if let Err(error) = exec_core::policy::check_acquire(self.policy.as_ref(), id) {
            if let exec_core::Error::PolicyDenied { reason, .. } = &error {
                exec_core::audit::acquire_denied(id, reason);
            }
            return Err(error);
        }
        exec_core::audit::acquired(id);
        Ok(executor.clone())
    }

    /// Whether `id` is registered (the policy is not asked).
    pub fn contains(&self, id: &str) -> bool {
        self.executors.contains_key(id)
    }

    /// The registered ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.executors.keys().map(String::as_str)
    }

    /// How many executors are registered.
    pub fn len(&self) -> usize {
        self.executors.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.executors.is_empty()
    }
}
