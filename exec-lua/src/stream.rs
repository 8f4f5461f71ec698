//! `Stream`: a process's stdout or stderr as scripts read it
//! (`read(n)`, `read_all()`, `scanner(split)`, `close()`), with the rest of
//! Wippy's stream methods as a pipe answers them: `stat()` (a read-only
//! pipe of unknown size), `write` and `seek` (error values: a pipe is
//! neither writable nor seekable), `flush` (nothing to do).

use crate::errors::{Outcome, ScriptError, bad_argument, failing_with, lua_type, returns};
use crate::options;
use crate::scanner::{Scanner, Split};
use crate::scheduler::Caller;
use exec_core::{OutputReader, Process, ProcessState};
use mlua::{MetaMethod, UserData, UserDataMethods};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::sync::Mutex;

/// The size `read()` and `read(0)` return at most, as Wippy's streams do.
pub const DEFAULT_READ_SIZE: usize = 32 * 1024;

/// The largest single `read(n)`: bigger requests are served in pieces of this
/// size, so a script cannot make us allocate what it names.
const MAX_READ_SIZE: usize = 1024 * 1024;

/// One output stream of a process. Reads wait for output; `close` does not wait
/// for a read pending in another coroutine.
#[derive(Debug)]
pub(crate) struct Stream {
    name: &'static str,
    shared: Arc<Shared>,
}

/// What a stream's userdata and its scanners share.
pub(crate) struct Shared {
    reader: Mutex<Option<OutputReader>>,
    closed: AtomicBool,
    /// A read before `start()` could only wait forever: its state says.
    process: Arc<dyn Process>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("closed", &self.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl Stream {
    pub(crate) fn new(name: &'static str, reader: OutputReader, process: Arc<dyn Process>) -> Self {
        Self {
            name,
            shared: Arc::new(Shared {
                reader: Mutex::new(Some(reader)),
                closed: AtomicBool::new(false),
                process,
            }),
        }
    }
}

impl Shared {
    /// Whether a read can go on. A process closed without starting reads as
    /// an ended stream: the backend has dropped its side.
    fn check_open(&self, name: &str) -> Outcome<bool> {
        if self.closed.load(Ordering::Acquire) {
            return Err(ScriptError::invalid(format!(
                "cannot read {name}: the stream is closed"
            )));
        }
        if self.process.state() == ProcessState::Created {
            return Err(ScriptError::invalid(format!(
                "cannot read {name}: process not started; call start() first"
            )));
        }
        Ok(true)
    }

    /// Up to `limit` bytes made into a value by `make` (a Lua string), or
    /// `None` at the end of the stream. `make` sees the backend's own buffer,
    /// which goes back to the backend afterwards: one copy, into Lua.
    pub(crate) async fn read<T>(
        &self,
        name: &str,
        limit: usize,
        make: impl FnOnce(&[u8]) -> Outcome<T>,
    ) -> Outcome<Option<T>> {
        if !self.check_open(name)? {
            return Ok(None);
        }
        let mut reader = self.reader.lock().await;
        self.check_open(name)?;
        let Some(reader) = reader.as_mut() else {
            return Err(ScriptError::invalid(format!(
                "cannot read {name}: the stream is closed"
            )));
        };
        let chunk = reader
            .read_chunk(limit)
            .await
            .map_err(|e| ScriptError::internal(format!("read {name}: {e}")))?;
        let Some(chunk) = chunk else {
            return Ok(None);
        };
        let value = make(&chunk);
        reader.recycle(chunk);
        value.map(Some)
    }

    async fn read_all(&self, name: &str) -> Outcome<Vec<u8>> {
        if !self.check_open(name)? {
            return Ok(Vec::new());
        }
        let mut reader = self.reader.lock().await;
        self.check_open(name)?;
        let Some(reader) = reader.as_mut() else {
            return Err(ScriptError::invalid(format!(
                "cannot read {name}: the stream is closed"
            )));
        };
        reader
            .read_to_vec()
            .await
            .map_err(|e| ScriptError::internal(format!("read {name}: {e}")))
    }

    /// The stream, unless it was closed: for `stat`, `write`, `seek` and
    /// `flush`.
    fn unclosed(&self, operation: &str, name: &str) -> Outcome<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(ScriptError::invalid(format!(
                "cannot {operation} {name}: the stream is closed"
            )));
        }
        Ok(())
    }

    fn close(&self) {
        self.closed.store(true, Ordering::Release);
        // A read pending in another coroutine holds the lock; it sees the flag
        // when it returns and the reader is dropped with the last handle.
        if let Ok(mut reader) = self.reader.try_lock() {
            reader.take();
        }
    }
}

/// All of a stream as one Lua string. Lua 5.4 copies the bytes into memory
/// of its own (for a large stream, fresh pages the kernel must zero: that copy
/// is what `read_all` costs beyond reading); Lua 5.5 takes our buffer as it is.
fn whole_string(lua: &mlua::Lua, bytes: Vec<u8>) -> mlua::Result<mlua::LuaString> {
    #[cfg(feature = "lua55")]
    {
        lua.create_external_string(bytes)
    }
    #[cfg(not(feature = "lua55"))]
    {
        lua.create_string(bytes)
    }
}

impl UserData for Stream {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_async_method("read", |lua, this, size: mlua::Value| {
            let shared = this.shared.clone();
            let name = this.name;
            drop(this);
            let caller = Caller::new(lua);
            async move {
                let limit = match options::integer("read size", &size) {
                    Ok(None | Some(0)) => Ok(DEFAULT_READ_SIZE),
                    Ok(Some(n)) if n < 0 => Err(ScriptError::invalid(format!(
                        "read size must be 0 or more, got {n}"
                    ))),
                    Ok(Some(n)) => Ok(usize::try_from(n)
                        .unwrap_or(MAX_READ_SIZE)
                        .min(MAX_READ_SIZE)),
                    Err(e) => Err(e),
                };
                // Made into a Lua string straight from the backend's buffer.
                let make = |bytes: &[u8]| {
                    caller
                        .lua()
                        .and_then(|lua| lua.create_string(bytes))
                        .map(mlua::Value::String)
                        .map_err(|e| ScriptError::internal(e.to_string()))
                };
                let outcome = match limit {
                    Ok(limit) => caller
                        .drive(shared.read(name, limit, make))
                        .await?
                        .map(|value| value.unwrap_or(mlua::Value::Nil)),
                    Err(e) => Err(e),
                };
                returns(&caller.lua()?, outcome)
            }
        });
        methods.add_async_method("read_all", |lua, this, ()| {
            let shared = this.shared.clone();
            let name = this.name;
            drop(this);
            let caller = Caller::new(lua);
            async move {
                let bytes = caller.drive(shared.read_all(name)).await?;
                let lua = caller.lua()?;
                let outcome = bytes.and_then(|bytes| {
                    whole_string(&lua, bytes).map_err(|e| ScriptError::internal(e.to_string()))
                });
                returns(&lua, outcome)
            }
        });
        methods.add_method("scanner", |lua, this, split: mlua::Value| {
            let split = Split::from_value(&split)?;
            let outcome = this
                .shared
                .unclosed("scan", this.name)
                .map(|()| Scanner::new(this.name, split, this.shared.clone()));
            returns(lua, outcome)
        });
        methods.add_method("stat", |lua, this, ()| {
            let outcome = this.shared.unclosed("stat", this.name).and_then(|()| {
                let info = lua
                    .create_table()
                    .map_err(|e| ScriptError::internal(e.to_string()))?;
                for (field, value) in [
                    ("size", mlua::Value::Integer(-1)),
                    ("position", mlua::Value::Integer(-1)),
                    ("readable", mlua::Value::Boolean(true)),
                    ("writable", mlua::Value::Boolean(false)),
                    ("seekable", mlua::Value::Boolean(false)),
                ] {
                    info.set(field, value)
                        .map_err(|e| ScriptError::internal(e.to_string()))?;
                }
                Ok(info)
            });
            returns(lua, outcome)
        });
        methods.add_method("write", |lua, this, _data: mlua::Value| {
            let outcome: Outcome<i64> =
                this.shared.unclosed("write to", this.name).and_then(|()| {
                    Err(ScriptError::internal(format!(
                        "cannot write to {}: the stream is not writable (write to the process with \
                     proc:write_stdin)",
                        this.name
                    )))
                });
            failing_with(lua, outcome, mlua::Value::Integer(0))
        });
        methods.add_method(
            "seek",
            |lua, this, (whence, offset): (mlua::Value, mlua::Value)| {
                match &whence {
                    mlua::Value::Nil => {}
                    mlua::Value::String(s)
                        if matches!(s.as_bytes().as_ref(), b"set" | b"cur" | b"end") => {}
                    _ => {
                        return Err(bad_argument(
                            1,
                            "seek",
                            "invalid whence: must be 'set', 'cur', or 'end'",
                        ));
                    }
                }
                if !matches!(
                    offset,
                    mlua::Value::Nil | mlua::Value::Integer(_) | mlua::Value::Number(_)
                ) {
                    return Err(bad_argument(
                        2,
                        "seek",
                        &format!("number expected, got {}", lua_type(&offset)),
                    ));
                }
                let outcome: Outcome<i64> =
                    this.shared.unclosed("seek", this.name).and_then(|()| {
                        Err(ScriptError::internal(format!(
                            "cannot seek {}: the stream is not seekable",
                            this.name
                        )))
                    });
                failing_with(lua, outcome, mlua::Value::Integer(-1))
            },
        );
        methods.add_method("flush", |lua, this, ()| {
            let outcome = this.shared.unclosed("flush", this.name).map(|()| true);
            failing_with(lua, outcome, mlua::Value::Boolean(false))
        });
        methods.add_method("close", |_, this, ()| {
            this.shared.close();
            Ok(true)
        });
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("exec.Stream({})", this.name))
        });
    }
}
