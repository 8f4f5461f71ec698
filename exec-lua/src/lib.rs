//! Wippy's Lua `exec` module over exec executors, and the `exec-lua` runner.
//!
//! Scripts written for the Wippy runtime's `exec` module run here unchanged:
//!
//! ```lua
//! local exec = require("exec")
//! local executor, err = exec.get("app:shell")
//! if err then return nil, err end
//!
//! local proc = executor:exec("echo 'Hello, World!'")
//! local stdout = proc:stdout_stream()
//! proc:start()
//! local output = stdout:read_all()
//! local code = proc:wait()            -- exit code; non-zero is not an error
//! executor:release()
//! ```
//!
//! [`new_state`] prepares a Lua state with the module, the global `errors`
//! table and the [`sandbox`](mod@sandbox): no command but through `exec`, no
//! native code, and no file access unless the host allows it
//! ([`new_state_with`] and [`StateOptions::allow_file_access`]); [`register`]
//! adds the module and `errors` to a state you made. The executors come from an exec-config [`Registry`]
//! (`exec.get(id)` is `Registry::get`, with its policy).
//!
//! # The API scripts see
//!
//! Every call returns `value` or `nil, err`; `err` is an error value with
//! `err:kind()` (compare with `errors.INVALID`, `errors.PERMISSION_DENIED`, …),
//! `err:message()`, `err:retryable()`, `err:details()`, `err:stack()` and
//! `tostring(err)`. Misuse never raises.
//!
//! | call | returns | errors |
//! |---|---|---|
//! | `exec.get(id)` | `Executor` | `NOT_FOUND` (nearest id suggested), `PERMISSION_DENIED` (policy), `INVALID` |
//! | `executor:exec(cmd, {work_dir=, env=, timeout=})` — `cmd` a command line, or (an extension) a list of words `{"git", "status"}` taken as they are | `Process`, created, not started | `INVALID` (empty command or list, unclosed quote, a word that is not a string, a NUL byte, bad option, after `release`), `PERMISSION_DENIED` (whitelist, policy) |
//! | `executor:release()` | `true`; twice is fine | |
//! | `proc:start()` | `true` | `INVALID` (twice, closed), `NOT_FOUND` (program, work dir) |
//! | `proc:wait()` | exit code; 128+n for death by signal n | `INVALID` (not started, closed), `TIMEOUT` |
//! | `proc:stdout_stream()`, `proc:stderr_stream()` | `Stream`, the same one each time; before or after `start` | `INVALID` (closed) |
//! | `proc:write_stdin(s)` | `true` (`""` writes nothing) | `INVALID` (not started, stdin closed), `INTERNAL` (the child stopped reading) |
//! | `proc:close_stdin()` | `true`: end of input for the child | `INVALID` (closed) |
//! | `proc:signal(n)` | `true` | `INVALID` (not started, bad number) |
//! | `proc:close(force)` | `true`, at once: SIGTERM (SIGKILL if `force`) to the process group now; SIGKILL after a grace and the reap in the background; twice is fine | |
//! | `proc:pid()` | the pid, or `nil` (not started, closed, or no pid on this backend) | |
//! | `stream:read(n)` | up to `n` bytes (default and `0`: 32 KiB) as soon as some are there; `nil` at the end (and for a process closed without starting) | `INVALID` (closed, bad size, process not started: it could only wait forever) |
//! | `stream:read_all()` | the rest, `""` if none | `INVALID` (closed, process not started) |
//! | `stream:close()` | `true`; twice is fine | |
//!
//! The `env` option is a table of `NAME = "value"`: names are strings, values
//! strings (numbers and booleans are taken as text), both valid UTF-8; a list
//! such as `{"A=1"}` or any other key is `INVALID`, naming the key.
//!
//! Where this does better than Wippy (and so differs): `proc:close_stdin()`
//! exists; `wait()` never closes the streams, so output not yet read stays
//! readable (up to 1 MiB per stream is held while nobody reads; past it the
//! child waits on a full pipe); whitelist denials are `PERMISSION_DENIED`, not
//! `INVALID`; an unknown executor id is `NOT_FOUND`; a signalled child reports
//! 128+n; `timeout`, `pid()` and `read_all()` exist. The `pty` option and
//! `resize`/`attach_terminal` do not: `pty` is `INVALID`.
//!
//! A `wait()` pending in one async call into the state (`call_async`) does not
//! block `signal()`, `close()` or stream reads in another.
//!
//! Exec calls belong in the script's main flow, which the host drives. One
//! that has to wait (`wait()`, a `read()` before output comes, …) inside a
//! coroutine the script made itself (`coroutine.create`/`resume`,
//! `coroutine.wrap`) is abandoned and its coroutine closed; the resumer gets
//! an `INVALID` error value, "exec calls cannot wait inside coroutines made
//! with coroutine.create or coroutine.wrap …" (`false, err` from
//! `coroutine.resume`, raised by a `wrap` function). Without a scheduler such
//! as Wippy's `coroutine.spawn` (not here yet), read one stream to its end and
//! then the next: each holds up to 1 MiB while unread.
//!
//! # Example
//!
//! ```
//! use exec_config::Registry;
//! use std::sync::Arc;
//!
//! # #[cfg(feature = "native")]
//! # tokio::runtime::Runtime::new()?.block_on(async {
//! let registry = Registry::from_yaml(
//!     "- { name: shell, kind: exec.native, default_env: { PATH: /usr/bin:/bin } }",
//!     std::path::Path::new("executors.yaml"),
//!     Some("app"),
//! )?;
//! let lua = exec_lua::new_state(Arc::new(registry))?;
//! let greeting: String = lua
//!     .load(r#"
//!         local exec = require("exec")
//!         local shell = assert(exec.get("app:shell"))
//!         local proc = assert(shell:exec("echo 'Hello, World!'"))
//!         local out = proc:stdout_stream()
//!         assert(proc:start())
//!         local text = out:read_all()
//!         assert(proc:wait() == 0)
//!         return text
//!     "#)
//!     .eval_async()
//!     .await?;
//! assert_eq!(greeting, "Hello, World!\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Async calls yield the Lua coroutine: run scripts with mlua's `exec_async`,
//! `eval_async` or `call_async` inside a tokio runtime.
//!
//! # Features
//!
//! The Lua version is chosen with one of `lua54` (default), `lua55`, `lua53`,
//! `lua52`, `lua51`, `luajit`, passed to mlua; `vendored` (default) builds it
//! from source. `native` (default) loads `exec.native` entries. `send` makes
//! the Lua state `Send` (mlua's `send`) so a host can run it on any thread,
//! e.g. with `tokio::spawn`. `cli` (default)
//! builds the `exec-lua` binary; a library user can turn it off with
//! `default-features = false, features = ["lua54", "vendored", "native"]`.

mod channel;
mod coroutines;
pub mod errors;
mod module;
mod options;
mod process;
pub mod sandbox;
mod scanner;
mod scheduler;
mod stream;
mod time;

pub use errors::register_errors;
pub use exec_config::Registry;
pub use mlua;
pub use module::register;
#[doc(hidden)]
pub use sandbox::skip_shebang;
pub use sandbox::{StateOptions, sandbox, sandbox_with};
pub use scanner::MAX_TOKEN;
pub use scheduler::stop_spawned;
pub use stream::DEFAULT_READ_SIZE;

use mlua::{Lua, LuaOptions, StdLib};
use std::sync::Arc;

/// A new Lua state for scripts: the safe standard library, the [`sandbox`](fn@sandbox)
/// (no commands but through `exec`, no native code, no file access), the
/// global `errors` table and the module `exec` over `registry`.
///
/// Scripts print to and read from the host's standard streams; they cannot
/// open files (see [`sandbox`](mod@sandbox)). For file access, use
/// [`new_state_with`].
///
/// # Errors
///
/// Only if Lua cannot allocate.
pub fn new_state(registry: Arc<Registry>) -> mlua::Result<Lua> {
    new_state_with(registry, StateOptions::new())
}

/// [`new_state`] with `options`: [`StateOptions::allow_file_access`] gives
/// scripts files and the host's environment, and with them everything the
/// host's user can do (including `/proc/self/mem`: the whitelist no longer
/// holds). Only for trusted scripts.
///
/// ```
/// use exec_lua::{Registry, StateOptions};
/// use std::sync::Arc;
///
/// let dir = std::env::temp_dir();
/// let lua = exec_lua::new_state_with(
///     Arc::new(Registry::new()),
///     StateOptions::new().allow_file_access(true),
/// )?;
/// lua.globals().set("dir", dir.to_string_lossy().as_ref())?;
/// let text: String = lua
///     .load(r#"
///         local path = dir .. "/exec-lua-doc-" .. os.time() .. ".txt"
///         local f = assert(io.open(path, "w"))
///         f:write("kept")
///         f:close()
///         local text = io.open(path):read("a")
///         os.remove(path)
///         return text
///     "#)
///     .eval()?;
/// assert_eq!(text, "kept");
/// # Ok::<(), exec_lua::mlua::Error>(())
/// ```
///
/// # Errors
///
/// Only if Lua cannot allocate.
pub fn new_state_with(registry: Arc<Registry>, options: StateOptions) -> mlua::Result<Lua> {
    let lua = Lua::new_with(StdLib::ALL_SAFE, LuaOptions::default())?;
    sandbox_with(&lua, options)?;
    register(&lua, registry)?;
    Ok(lua)
}
