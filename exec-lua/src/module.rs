//! The `exec` module (`exec.get`) and the `Executor` it hands out
//! (`executor:exec`, `executor:release`).

use crate::errors::{Outcome, ScriptError, returns};
use crate::options;
use crate::process::Process;
use exec_config::Registry;
use exec_core::Executor as CoreExecutor;
use mlua::{Lua, MetaMethod, UserData, UserDataMethods, Value};
use std::sync::{Arc, Mutex};

/// Registers on `lua`, backed by `registry`: the global `errors` table, the
/// module `exec` (`require("exec")`), and Wippy's concurrency —
/// `coroutine.spawn`, `channel` and `time` (each both a global and a module
/// for `require`).
///
/// This adds; it removes nothing. For a state that also keeps scripts from
/// going around the whitelist, use [`new_state`](crate::new_state) or call
/// [`sandbox`](fn@crate::sandbox) too.
///
/// It also wraps `coroutine.resume` and `coroutine.wrap` (loading the
/// coroutine library if it is not there, as mlua would for async calls): an
/// exec call, channel operation or timer that has to wait inside a coroutine
/// the script made itself is abandoned, and the resumer gets an `INVALID`
/// error value saying so instead of mlua's internal "pending" value. Such
/// calls belong in the script's main flow, which the host drives with
/// `call_async`/`exec_async`, or in coroutines `coroutine.spawn` started,
/// which run while the host drives any async call into the state (see
/// [`stop_spawned`](crate::stop_spawned) for when the main chunk has ended).
///
/// # Errors
///
/// Only if Lua cannot allocate, or `package.loaded` is missing.
pub fn register(lua: &Lua, registry: Arc<Registry>) -> mlua::Result<()> {
    crate::errors::register_errors(lua)?;
    crate::scheduler::Scheduler::install(lua);
    crate::coroutines::guard(lua)?;
    let exec = lua.create_table()?;
    exec.set(
        "get",
        lua.create_function(move |lua, id: Value| {
            let outcome = acquire(&registry, &id);
            returns(lua, outcome)
        })?,
    )?;
    lua.register_module("exec", exec)?;
    let channel = crate::channel::module(lua)?;
    lua.globals().set("channel", &channel)?;
    lua.register_module("channel", channel)?;
    let time = crate::time::module(lua)?;
    lua.globals().set("time", &time)?;
    lua.register_module("time", time)
}

fn acquire(registry: &Registry, id: &Value) -> Outcome<Executor> {
    let id = match id {
        Value::String(s) => s.to_string_lossy(),
        other => {
            return Err(ScriptError::invalid(format!(
                "exec.get needs an executor id such as \"app:shell\", got {}",
                crate::errors::lua_type(other)
            )));
        }
    };
    if id.is_empty() {
        return Err(ScriptError::invalid("resource id is required".to_owned()));
    }
    let executor = registry.get(&id)?;
    Ok(Executor {
        id,
        executor: Mutex::new(Some(executor)),
    })
}

/// An acquired executor. `release()` lets go of it; the processes it made
/// live on.
#[derive(Debug)]
struct Executor {
    id: String,
    executor: Mutex<Option<Arc<dyn CoreExecutor>>>,
}

impl Executor {
    fn executor(&self) -> Option<Arc<dyn CoreExecutor>> {
        match self.executor.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn exec(&self, command: &Value, options: &Value) -> Outcome<Process> {
        let executor = self
            .executor()
            .ok_or_else(|| ScriptError::invalid(format!("executor {} was released", self.id)))?;
        let command = options::command(command)?;
        let options = options::exec_options(options, &self.id)?;
        let display = command.display();
        let host_pid = executor.capabilities().host_pid;
        let process = executor.create_process(command, options)?;
        Ok(Process::new(display, process, host_pid))
    }

    /// What `terminal(cmd, opts)` works with, read now (before any await).
    fn terminal_call(
        &self,
        command: &Value,
        options: &Value,
    ) -> Outcome<(
        Arc<dyn CoreExecutor>,
        exec_core::CommandSpec,
        exec_core::ExecOptions,
    )> {
        let executor = self
            .executor()
            .ok_or_else(|| ScriptError::invalid(format!("executor {} was released", self.id)))?;
        let command = options::command(command)?;
        let options = options::exec_options(options, &self.id)?;
        Ok((executor, command, options))
    }
}

impl UserData for Executor {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("exec", |lua, this, (command, options): (Value, Value)| {
            returns(lua, this.exec(&command, &options))
        });
        // Wippy's `executor:terminal(cmd, opts)`: the command in a terminal
        // the host's own terminal is attached to (see `terminal_process`).
        methods.add_async_method(
            "terminal",
            |lua, this, (command, options): (Value, Value)| {
                let prepared = this.terminal_call(&command, &options);
                drop(this);
                let caller = crate::scheduler::Caller::new(lua);
                async move {
                    #[cfg(feature = "terminal")]
                    let outcome = match prepared {
                        Ok((executor, command, options)) => {
                            crate::terminal_process::open(executor, command, options, &caller)
                                .await?
                        }
                        Err(e) => Err(e),
                    };
                    #[cfg(not(feature = "terminal"))]
                    let outcome: Outcome<bool> = prepared.and_then(|_| {
                        Err(ScriptError::invalid(
                            "this build of exec-lua has no terminal support (feature \"terminal\")"
                                .to_owned(),
                        ))
                    });
                    returns(&caller.lua()?, outcome)
                }
            },
        );
        methods.add_method("release", |_, this, ()| {
            match this.executor.lock() {
                Ok(mut guard) => guard.take(),
                Err(poisoned) => poisoned.into_inner().take(),
            };
            Ok(true)
        });
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("exec.Executor({})", this.id))
        });
    }
}
