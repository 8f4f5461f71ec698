//! Host processes for exec-core (work in progress).
use exec_core::{ExecOptions, Executor, ExecutorSettings, Process, Result};

/// Runs commands as host processes.
#[derive(Debug)]
pub struct NativeExecutor {
    settings: ExecutorSettings,
}

impl NativeExecutor {
    /// An executor with these settings.
    pub fn new(settings: ExecutorSettings) -> Self {
        Self { settings }
    }
}

impl Executor for NativeExecutor {
    fn id(&self) -> &str {
        self.settings.id()
    }
    fn create_process(&self, command_line: &str, options: ExecOptions) -> Result<Box<dyn Process>> {
        let _ = self.settings.prepare(command_line, options)?;
        Err(exec_core::Error::other(exec_core::ErrorKind::Other, "in progress"))
    }
}
