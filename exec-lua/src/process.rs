//! `Process`: a command created by `executor:exec`, not yet started.
//!
//! Every method clones what it needs out of the userdata before it awaits, so a
//! `wait()` pending in one coroutine never blocks `signal()`, `close()` or
//! stream reads in another. Every wait goes through
//! [`Caller::drive`](crate::scheduler::Caller::drive), so spawned coroutines run
//! meanwhile; none holds the state strongly while it waits.

use crate::channel::{Channel, Source};
use crate::errors::{Outcome, ScriptError, UNAVAILABLE, returns};
use crate::options;
use crate::scheduler::Caller;
use crate::stream::Stream;
use exec_core::{Process as CoreProcess, ProcessState};
use mlua::{AnyUserData, MetaMethod, UserData, UserDataMethods, Value};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The userdata scripts hold. Named `Process` because mlua names the type in
/// argument errors ("bad argument `self` to `Process.start`"). Its life cycle
/// is the backend's: every method asks [`CoreProcess::state`], and `closed`
/// (set by `close()` at once, while the backend's close goes on in the
/// background).
#[derive(Debug)]
pub(crate) struct Process {
    command: String,
    process: Arc<dyn CoreProcess>,
    /// Whether the backend has a host pid to report (`Capabilities::host_pid`).
    host_pid: bool,
    closed: AtomicBool,
}

impl Process {
    pub(crate) fn new(command: String, process: Box<dyn CoreProcess>, host_pid: bool) -> Self {
        Self {
            command,
            process: Arc::from(process),
            host_pid,
            closed: AtomicBool::new(false),
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire) || self.process.state() == ProcessState::Closed
    }

    /// The process, unless it was closed.
    fn open(&self, operation: &str) -> Outcome<Arc<dyn CoreProcess>> {
        if self.is_closed() {
            return Err(ScriptError::invalid(format!(
                "cannot {operation} {:?}: process closed",
                self.command
            )));
        }
        Ok(self.process.clone())
    }

    /// The process, if it was started and not closed.
    fn started(&self, operation: &str) -> Outcome<Arc<dyn CoreProcess>> {
        let process = self.open(operation)?;
        if process.state() == ProcessState::Created {
            return Err(ScriptError::invalid(format!(
                "cannot {operation} {:?}: process not started; call start() first",
                self.command
            )));
        }
        Ok(process)
    }

    fn stream(
        lua: &mlua::Lua,
        this: &AnyUserData,
        name: &'static str,
    ) -> mlua::Result<Outcome<AnyUserData>> {
        // Closed first: after close() every method says so, as in Wippy.
        let process = {
            let this = this.borrow::<Process>()?;
            match this.open(&format!("get the {name} stream of")) {
                Ok(process) => process,
                Err(e) => return Ok(Err(e)),
            }
        };
        if let Some(stream) = this.named_user_value::<Option<AnyUserData>>(name)? {
            return Ok(Ok(stream));
        }
        let reader = if name == "stdout" {
            process.take_stdout()
        } else {
            process.take_stderr()
        };
        let Some(reader) = reader else {
            return Ok(Err(ScriptError::invalid(format!(
                "the {name} stream was already taken"
            ))));
        };
        let stream = lua.create_userdata(Stream::new(name, reader, process))?;
        this.set_named_user_value(name, &stream)?;
        Ok(Ok(stream))
    }
}

/// A terminal size from `resize(width, height)`: whole numbers from 1 to
/// 65535.
pub(crate) fn terminal_size(width: &Value, height: &Value) -> Outcome<exec_core::PtySize> {
    let cells = |name: &str, value: &Value| match options::integer(name, value) {
        Ok(Some(n)) => u16::try_from(n).ok().filter(|n| *n > 0).ok_or_else(|| {
            ScriptError::invalid(format!("{name} must be from 1 to 65535, got {n}"))
        }),
        Ok(None) => Err(ScriptError::invalid(format!(
            "resize needs a {name}, a number of character cells"
        ))),
        Err(e) => Err(e),
    };
    Ok(exec_core::PtySize::new(
        cells("width", width)?,
        cells("height", height)?,
    ))
}

/// `true` for a step that succeeded, the error value otherwise.
fn acknowledged(result: exec_core::Result<()>) -> Outcome<bool> {
    result.map(|()| true).map_err(ScriptError::from)
}

/// Begins the backend's close and lets it finish in the background: calling
/// `close` marks the process closed and starts the close in a task of the
/// runtime (the promise of `exec_core::Process::close`); the grace period,
/// the SIGKILL after it and the reap go on there. An error there (a daemon
/// gone away) has no one to go to: the script was told `true` already.
fn close_in_background(process: &dyn CoreProcess, force: bool) {
    drop(process.close(force));
}

/// What `done()` returns: the channel of `{code, signal, error}`, the same
/// one each time.
fn done(lua: &mlua::Lua, this: &AnyUserData) -> mlua::Result<Outcome<AnyUserData>> {
    let process = {
        let this = this.borrow::<Process>()?;
        match this.started("watch the exit of") {
            Ok(process) => process,
            Err(e) => return Ok(Err(e)),
        }
    };
    if let Some(channel) = this.named_user_value::<Option<AnyUserData>>("done")? {
        return Ok(Ok(channel));
    }
    let channel = lua.create_userdata(Channel::new(1, Some(Source::Exit(process))))?;
    this.set_named_user_value("done", &channel)?;
    Ok(Ok(channel))
}

impl UserData for Process {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_async_method("start", |lua, this, ()| {
            let process = this.open("start");
            drop(this);
            let caller = Caller::new(lua);
            async move {
                let outcome = match process {
                    Ok(process) => caller
                        .drive(process.start())
                        .await?
                        .map_err(ScriptError::from),
                    Err(e) => Err(e),
                };
                returns(&caller.lua()?, outcome.map(|()| true))
            }
        });
        methods.add_async_method("wait", |lua, this, ()| {
            let process = this.started("wait for");
            drop(this);
            let caller = Caller::new(lua);
            async move {
                let outcome = match process {
                    Ok(process) => caller
                        .drive(process.wait())
                        .await?
                        .map(|status| i64::from(status.shell_code()))
                        .map_err(ScriptError::from),
                    Err(e) => Err(e),
                };
                returns(&caller.lua()?, outcome)
            }
        });
        methods.add_async_method("write_stdin", |lua, this, data: Value| {
            let process = this.started("write to the stdin of");
            drop(this);
            let caller = Caller::new(lua);
            async move {
                let data = match data {
                    Value::String(s) => Ok(s.as_bytes().to_vec()),
                    Value::Integer(n) => Ok(n.to_string().into_bytes()),
                    Value::Number(n) => Ok(n.to_string().into_bytes()),
                    other => Err(ScriptError::invalid(format!(
                        "write_stdin takes a string, got {}",
                        crate::errors::lua_type(&other)
                    ))),
                };
                let outcome = match (process, data) {
                    (Ok(_), Ok(data)) if data.is_empty() => Ok(true),
                    (Ok(process), Ok(data)) => {
                        acknowledged(caller.drive(process.write_stdin(&data)).await?)
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
                returns(&caller.lua()?, outcome)
            }
        });
        methods.add_async_method("close_stdin", |lua, this, ()| {
            let process = this.open("close the stdin of");
            drop(this);
            let caller = Caller::new(lua);
            async move {
                let outcome = match process {
                    Ok(process) => acknowledged(caller.drive(process.close_stdin()).await?),
                    Err(e) => Err(e),
                };
                returns(&caller.lua()?, outcome)
            }
        });
        methods.add_async_method("signal", |lua, this, signal: Value| {
            let process = this.started("signal");
            drop(this);
            let caller = Caller::new(lua);
            async move {
                let signal = match options::integer("the signal", &signal) {
                    Ok(Some(n)) => i32::try_from(n)
                        .map_err(|_| ScriptError::invalid(format!("{n} is not a signal number"))),
                    Ok(None) => Err(ScriptError::invalid(
                        "signal needs a signal number, such as 15 (SIGTERM)".to_owned(),
                    )),
                    Err(e) => Err(e),
                };
                let outcome = match (process, signal) {
                    (Ok(process), Ok(signal)) => {
                        acknowledged(caller.drive(process.signal(signal)).await?)
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
                returns(&caller.lua()?, outcome)
            }
        });
        // Wippy's `proc:resize(width, height)`: the size of the command's
        // terminal (the `pty` option); an error value on a process without one.
        methods.add_async_method("resize", |lua, this, (width, height): (Value, Value)| {
            let process = this.started("resize");
            drop(this);
            let caller = Caller::new(lua);
            async move {
                let size = terminal_size(&width, &height);
                let outcome = match (process, size) {
                    (Ok(process), Ok(size)) => {
                        acknowledged(caller.drive(process.resize(size)).await?)
                    }
                    (Err(e), _) | (_, Err(e)) => Err(e),
                };
                returns(&caller.lua()?, outcome)
            }
        });
        // `force` is taken as Lua truth: anything but nil and false forces.
        // Returns at once: see `close_in_background`.
        methods.add_method("close", |_, this, force: Value| {
            let force = !matches!(force, Value::Nil | Value::Boolean(false));
            if !this.closed.swap(true, Ordering::AcqRel)
                && this.process.state() != ProcessState::Closed
            {
                close_in_background(this.process.as_ref(), force);
            }
            Ok(true)
        });
        // As Wippy: `nil, err` before start and after close (INVALID), and
        // where the backend has no host pid (UNAVAILABLE).
        methods.add_method("pid", |lua, this, ()| {
            let outcome = this.started("get the pid of").and_then(|process| {
                if !this.host_pid {
                    return Err(ScriptError::new(
                        UNAVAILABLE,
                        format!(
                            "{:?} has no process id on this host: its executor runs commands \
                             elsewhere",
                            this.command
                        ),
                    )
                    .retryable(false));
                }
                Ok(process.id())
            });
            returns(lua, outcome)
        });
        methods.add_function("done", |lua, this: AnyUserData| {
            let outcome = done(lua, &this)?;
            returns(lua, outcome)
        });
        methods.add_function("stdout_stream", |lua, this: AnyUserData| {
            let outcome = Process::stream(lua, &this, "stdout")?;
            returns(lua, outcome)
        });
        methods.add_function("stderr_stream", |lua, this: AnyUserData| {
            let outcome = Process::stream(lua, &this, "stderr")?;
            returns(lua, outcome)
        });
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("exec.Process({:?})", this.command))
        });
    }
}
