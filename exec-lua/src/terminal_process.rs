//! `executor:terminal(cmd, opts)` and the terminal process it returns
//! (Wippy's API): `send(data)`, `done()`, `pid()`, `status()`, `resize(w, h)`,
//! `close(force)`. The command runs in a terminal the size of the host's,
//! and the host's own terminal is attached to it (see `terminal.rs`) until it
//! ends.

use crate::channel::{Channel, Source};
use crate::errors::{Outcome, ScriptError, UNAVAILABLE, returns};
use crate::scheduler::Caller;
use crate::terminal::{self, Ended};
use exec_core::{ExecOptions, Executor, Process, Pty};
use mlua::{AnyUserData, MetaMethod, UserData, UserDataMethods, Value};
use std::sync::Arc;

/// Creates `command` in a terminal of the host's size on `executor`, starts
/// it and attaches the host terminal. Errors are values: no terminal of our
/// own (stdin is not a tty), one already attached, a refused or failed
/// command.
pub(crate) async fn open(
    executor: Arc<dyn Executor>,
    command: exec_core::CommandSpec,
    options: ExecOptions,
    caller: &Caller,
) -> mlua::Result<Outcome<TerminalProcess>> {
    let (size, host_term) = match terminal::host() {
        Ok(host) => host,
        Err(why) => {
            return Ok(Err(
                ScriptError::new(UNAVAILABLE, why.to_string()).retryable(false)
            ));
        }
    };
    // The script's `pty.term` wins, then the host's TERM (which describes the
    // terminal the command will really draw on), then the default.
    let term = options
        .pty()
        .map(|pty| pty.term().to_owned())
        .filter(|term| term != exec_core::DEFAULT_TERM)
        .or(host_term.filter(|term| Pty::is_valid_term(term)));
    let pty = Pty::new(size.width(), size.height());
    let pty = match term {
        Some(term) => pty.with_term(term),
        None => pty,
    };
    let display = command.display();
    let host_pid = executor.capabilities().host_pid;
    let process: Arc<dyn Process> = match executor.create_process(command, options.with_pty(pty)) {
        Ok(process) => process.into(),
        Err(e) => return Ok(Err(e.into())),
    };
    let Some(screen) = process.take_stdout() else {
        return Ok(Err(ScriptError::invalid(
            "the terminal's output was taken".to_owned(),
        )));
    };
    if let Err(e) = caller.drive(process.start()).await? {
        return Ok(Err(e.into()));
    }
    let ended = match terminal::attach(process.clone(), screen) {
        Ok(ended) => ended,
        Err(why) => {
            drop(process.close(true));
            return Ok(Err(
                ScriptError::new(UNAVAILABLE, why.to_string()).retryable(false)
            ));
        }
    };
    Ok(Ok(TerminalProcess {
        command: display,
        process,
        host_pid,
        ended,
    }))
}

/// The userdata: a command attached to the host terminal.
#[derive(Debug)]
pub(crate) struct TerminalProcess {
    command: String,
    process: Arc<dyn Process>,
    host_pid: bool,
    ended: Ended,
}

impl UserData for TerminalProcess {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        // What the script types into the terminal, as if at the keyboard.
        methods.add_async_method("send", |lua, this, data: Value| {
            let process = this.process.clone();
            drop(this);
            let caller = Caller::new(lua);
            async move {
                let outcome = match &data {
                    Value::String(data) => caller
                        .drive(process.write_stdin(&data.as_bytes()))
                        .await?
                        .map(|()| true)
                        .map_err(ScriptError::from),
                    other => Err(ScriptError::invalid(format!(
                        "send needs a string, got {}",
                        crate::errors::lua_type(other)
                    ))),
                };
                returns(&caller.lua()?, outcome)
            }
        });
        methods.add_function("done", |lua, this: AnyUserData| {
            if let Some(channel) = this.named_user_value::<Option<AnyUserData>>("done")? {
                return returns(lua, Ok(channel));
            }
            let ended = this.borrow::<TerminalProcess>()?.ended.clone();
            let channel = lua.create_userdata(Channel::new(1, Some(Source::Terminal(ended))))?;
            this.set_named_user_value("done", &channel)?;
            returns(lua, Ok(channel))
        });
        methods.add_method("pid", |lua, this, ()| {
            let outcome = if this.host_pid {
                Ok(this.process.id())
            } else {
                Err(ScriptError::new(
                    UNAVAILABLE,
                    format!(
                        "{:?} has no process id on this host: its executor runs commands elsewhere",
                        this.command
                    ),
                )
                .retryable(false))
            };
            returns(lua, outcome)
        });
        // "running", "exited" or "closed".
        methods.add_method("status", |_, this, ()| Ok(this.process.state().as_str()));
        methods.add_async_method("resize", |lua, this, (width, height): (Value, Value)| {
            let process = this.process.clone();
            drop(this);
            let caller = Caller::new(lua);
            async move {
                let outcome = match crate::process::terminal_size(&width, &height) {
                    Ok(size) => caller
                        .drive(process.resize(size))
                        .await?
                        .map(|()| true)
                        .map_err(ScriptError::from),
                    Err(e) => Err(e),
                };
                returns(&caller.lua()?, outcome)
            }
        });
        // At once, as `proc:close()`: the session ends with the command.
        methods.add_method("close", |_, this, force: Value| {
            let force = !matches!(force, Value::Nil | Value::Boolean(false));
            drop(this.process.close(force));
            Ok(true)
        });
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("exec.Terminal({:?})", this.command))
        });
    }
}
