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
//! table, Wippy's concurrency (`coroutine.spawn`, `channel`, `time`; see
//! [Concurrency](#concurrency)) and the [`sandbox`](mod@sandbox): no command
//! but through `exec`, no native code, and no file access unless the host
//! allows it ([`new_state_with`] and [`StateOptions::allow_file_access`]);
//! [`register`] adds the modules and `errors` to a state you made. The
//! executors come from an exec-config [`Registry`] (`exec.get(id)` is
//! `Registry::get`, with its policy).
//!
//! # The API scripts see
//!
//! Every exec call returns `value` or `nil, err`; `err` is an error value with
//! `err:kind()` (compare with `errors.INVALID`, `errors.PERMISSION_DENIED`, …:
//! Wippy's strings `"Invalid"`, `"PermissionDenied"`, …, `errors.UNKNOWN` is
//! `""`), `err:message()`, `err:retryable()` (a boolean for every exec error),
//! `err:details()`, `err:stack()` and `tostring(err)`; it concatenates like a
//! string (`"failed: " .. err`). `errors.new`, `errors.wrap`, `errors.is` and
//! `errors.call_stack` are Wippy's (see [`errors`]). Misuse of an exec call
//! never raises. Channel misuse and bad arguments to `errors.*`, `time.*` and
//! `stream:scanner` raise, as in Wippy (see the second table).
//!
//! | call | returns | errors |
//! |---|---|---|
//! | `exec.get(id)` | `Executor` | `NOT_FOUND` (nearest id suggested), `PERMISSION_DENIED` (policy), `INVALID` (`""`: "resource id is required", not a string) |
//! | `executor:exec(cmd, {work_dir=, env=, timeout=, process_group=, mounts=, pty=})` — `cmd` a command line, or (an extension) a list of words `{"git", "status"}` taken as they are; `pty = {width=, height=, term=}` (or `true`: 80 by 24, `xterm-256color`) runs it in a terminal, whose output — stdout and stderr alike — comes on stdout; a key it does not know is ignored with a warning (target `exec`: "unknown option ignored") | `Process`, created, not started | `INVALID` (empty command or list, unclosed quote, a word that is not a string, a NUL byte, a known option of the wrong type, a `pty` size of 0 or over 65535 or a `term` that is not a name, `confine`, after `release`), `PERMISSION_DENIED` (whitelist, policy) |
//! | `executor:terminal(cmd, opts)` | a terminal process: `cmd` (options as `exec`) started in a terminal the size of the runner's own, which is attached to it — raw mode, keys to the command, its output on the screen, the window size followed — until it ends; then the terminal is restored (also when the script fails or the runner is signalled). The runner waits for it after the script and exits with its status | `UNAVAILABLE` (standard input or output is not a terminal, or another command has it), and `exec`'s |
//! | `term:send(s)`, `term:resize(w, h)`, `term:pid()`, `term:status()`, `term:close(force)` | `true`; as `write_stdin`, `resize`, `pid`, `close`; `status()` is `"running"`, `"exited"` or `"closed"` | as `Process`'s |
//! | `term:done()` | a channel that receives `{exit = {code, signal, error}, terminal_error = s}` once the command has ended (`terminal_error` when the host terminal failed meanwhile), then closes | |
//! | `executor:release()` | `true`; twice is fine | |
//! | `proc:start()` | `true` | `INVALID` (twice, closed), `NOT_FOUND` (program, work dir) |
//! | `proc:wait()` | exit code; 128+n for death by signal n | `INVALID` (not started, closed), `TIMEOUT` |
//! | `proc:done()` | a channel that receives `{code = n, signal = s}` once the process has ended (`signal` only for a death by signal; `code` is then 128+s), or `{error = err}` (`TIMEOUT`), and then closes (a second `receive()` is `nil, false`); the same channel each time; the process stays usable and `wait()` returns the same code | `INVALID` (not started, closed) |
//! | `proc:stdout_stream()`, `proc:stderr_stream()` | `Stream`, the same one each time; before or after `start` | `INVALID` (closed) |
//! | `proc:write_stdin(s)` | `true` (`""` writes nothing) | `INVALID` (not started, stdin closed), `INTERNAL` (the child stopped reading) |
//! | `proc:close_stdin()` | `true`: end of input for the child | `INVALID` (closed) |
//! | `proc:signal(n)` | `true` | `INVALID` (not started, bad number) |
//! | `proc:close(force)` | `true`, at once: SIGTERM (SIGKILL if `force`) to the process group now; SIGKILL after a grace and the reap in the background; twice is fine | |
//! | `proc:resize(w, h)` | `true`: the terminal's new size (the command gets SIGWINCH) | `INVALID` (no terminal: the process has pipes, a size of 0, not started) |
//! | `proc:pid()` | the pid | `INVALID` (not started, closed), `UNAVAILABLE` where the backend has no host pid (Docker, Incus) |
//! | `stream:read(n)` | up to `n` bytes (default and `0`: 32 KiB) as soon as some are there; `nil` at the end (and for a process closed without starting) | `INVALID` (closed, bad size, process not started: it could only wait forever) |
//! | `stream:read_all()` | the rest, `""` if none | `INVALID` (closed, process not started) |
//! | `stream:scanner(split)` | a `Scanner`: `split` is `"lines"` (default), `"words"`, `"bytes"` or `"runes"`, as Go's `bufio.Scanner` splits; another split raises an argument error | `INVALID` (stream closed) |
//! | `scanner:scan()` | `true` with a token, `false` at the end; `false` also when a token is longer than [`MAX_TOKEN`] (1 MiB) or a read failed, with `err()` saying why, again on every later `scan()` | `false, err`: `INVALID` (stream closed, process not started) |
//! | `scanner:text()`, `scanner:err()` | the token (`""` when there is none); why the scan ended, or `nil` | |
//! | `stream:stat()` | `{size = -1, position = -1, readable = true, writable = false, seekable = false}`: a pipe | `INVALID` (closed) |
//! | `stream:write(s)`, `stream:seek(whence, offset)` | `0, err` and `-1, err`: `INTERNAL`, a pipe is neither writable nor seekable (write to the process with `write_stdin`); a `whence` but `"set"`, `"cur"` or `"end"` raises | `INVALID` (closed) |
//! | `stream:flush()` | `true`: nothing to flush | `false, err`: `INVALID` (closed) |
//! | `stream:close()` | `true`; twice is fine | |
//!
//! The `env` option is a table of `NAME = "value"`: names are strings, values
//! strings (numbers and booleans are taken as text), both valid UTF-8; a list
//! such as `{"A=1"}` or any other key is `INVALID`, naming the key. The
//! `process_group` option is a boolean and changes nothing: a native command
//! always leads a process group of its own, so that `close`, the timeout and
//! a dropped state end everything it started. `false` (Wippy's default, where
//! the child stays in Wippy's group) does not put it in the host's group.
//!
//! Wippy's concurrency (see [Concurrency](#concurrency)), each both a global
//! and a module for `require`:
//!
//! | call | returns | misuse |
//! |---|---|---|
//! | `coroutine.spawn(fn, ...)` | the coroutine, running `fn(...)` concurrently | raises for a non-function; `coroutine.resume`/`close` of it return `false, message` |
//! | `channel.new(size)` | a channel holding up to `size` values (default `0`: unbuffered, a send completes when a receiver takes the value) | raises for a size that is not an integer of 0 or more |
//! | `ch:send(v)` | `true`, once there is room or a receiver | raises "send on closed channel" (also for a send waiting when the channel closes) |
//! | `ch:receive()` | `v, true`; `nil, false` once closed and empty | |
//! | `ch:close()` | nothing; waiting receivers get `nil, false`, buffered values stay receivable; twice is nothing | |
//! | `ch:case_send(v)`, `ch:case_receive()` | a case for `channel.select` | |
//! | `channel.select{case, ..., default = bool}` | `{channel = ch, value = v, ok = bool}` for the first ready case in order (`ok` false for a closed channel; `value` is the sent value for a send), `{default = true, ok = true}` with `default` when none is ready | raises for no cases, a value that is not a case, a non-boolean `default`, another key, a send case on a closed channel |
//! | `time.sleep(d)` | nothing, after `d` (at once for 0 or less) | `nil, err` (`INVALID`) for a bad duration |
//! | `time.after(d)` | a channel that receives a `Time` once, `d` from now | `nil, err` (`INVALID`) for a bad duration or one of 0 or less |
//! | `time.timer(d)` | a `Timer`: `timer:response()` (or `channel()`) receives a `Time` once; `timer:stop()` and `timer:reset(d)` are `true` while it has not fired, `false` after | `nil, err` (`INVALID`); `reset` raises for a bad duration |
//! | `time.ticker(d)` | a `Ticker`: `ticker:response()` (or `channel()`) receives a `Time` every `d` (holding up to 16 unreceived ticks) until `ticker:stop()` | `nil, err` (`INVALID`) |
//!
//! The rest of Wippy's `time` module is here too (its runtime spec,
//! `runtime/lua/modules/time/spec.md`): `time.now()`, `time.date(year,
//! month, day, hour, min, sec, nsec, loc?)`, `time.unix(sec, nsec)`,
//! `time.parse(layout, value, loc?)` (Go layouts; `nil, err` with Go's
//! message), `time.parse_duration(d)` (a `Duration`), `time.load_location(name)`
//! (`UTC`, `Local` or an IANA zone; `NOT_FOUND` for an unknown one),
//! `time.fixed_zone(name, offset)`, `time.utc`, `time.localtz`, the constants
//! `time.NANOSECOND` … `time.HOUR` (nanoseconds), `time.RFC3339` …
//! `time.TIME_ONLY` (Go layouts), `time.JANUARY` … `time.DECEMBER` and
//! `time.SUNDAY` … `time.SATURDAY`. A `Time` has `add`, `sub` (a
//! `Duration`), `add_date`, `after`, `before`, `equal`, `format(layout)`,
//! `format_rfc3339`, `unix`, `unix_nano`, `date`, `clock`, `year` …
//! `nanosecond`, `weekday`, `year_day`, `is_zero`, `in_location`,
//! `location`, `utc`, `in_local`, `round` and `truncate` (a `Duration`), and
//! prints as Go's `Time.String()`; a `Duration` has `nanoseconds` …
//! `hours` and prints as Go's (`"1h30m0s"`); a `Location` has `string()`.
//! A duration is a number of nanoseconds (`500 * time.MILLISECOND`), a Go
//! duration string (`"5s"`, `"250ms"`, `"1h30m"`) or a `Duration`.
//!
//! Where this differs from Wippy, see [Differences from Wippy](#differences-from-wippy).
//!
//! A `wait()` pending in one async call into the state (`call_async`) does not
//! block `signal()`, `close()` or stream reads in another.
//!
//! # Differences from Wippy
//!
//! Scripts written for Wippy's runtime (its `exec`, `errors`, `time`,
//! `channel` and stream modules) run here unchanged; Wippy's own exec tests
//! pass. What still differs, each on purpose:
//!
//! - **Stricter or more than Wippy.** A process stays usable after `wait()`:
//!   its streams stay readable (output not yet read is held, up to 1 MiB per
//!   stream; past it the child waits on a full pipe), and `wait()` again
//!   returns the same code (Wippy: `wait()` consumes the handle). A native
//!   command always leads a process group of its own, so `close()`, the
//!   timeout and a dropped state end everything it started, even with
//!   `process_group = false` (Wippy then signals the child alone).
//!   `proc:close_stdin()`, the `timeout` option, `stream:read_all()` and
//!   commands as lists of words exist (not in Wippy). Streams can be taken
//!   before `start()` on every backend (Wippy's Docker executor has them
//!   only once started). Whitelists compare the command's
//!   words, not its text (`echo  'a'` is `echo a`).
//! - **Kinds.** A whitelist or policy denial is `PERMISSION_DENIED` (also for
//!   `exec.get`; older Wippy says `INVALID`); an unknown executor id, a
//!   program or work dir that is not there is `NOT_FOUND` (Wippy:
//!   `INTERNAL`); a read, `stat`, `write`, `seek`, `flush` or `scanner` on a
//!   closed stream, and `scan()` before `start()`, is `INVALID` (Wippy:
//!   `INTERNAL`).
//! - **Argument errors.** An exec call given a value of the wrong type
//!   (`exec.get(42)`, `executor:exec({})`, `proc:signal("TERM")`,
//!   `proc:write_stdin({})`, `stream:read("x")`) returns `nil, err`
//!   (`INVALID`) where Wippy raises. `env` values may be numbers or booleans,
//!   taken as text (Wippy: strings only). `time.date` and `time.parse` take
//!   an explicit `nil` location as the local zone (Wippy raises).
//! - **Not yet here.** `confine` is always `INVALID` (this project confines
//!   commands by their executor's config, not per call), where Wippy
//!   confines a process when its platform can.
//! - **Terminals.** `executor:terminal` attaches the runner's own terminal;
//!   without one it is an `UNAVAILABLE` error value. A terminal's `TERM` is
//!   a name (letters, digits, `.`, `_`, `+`, `-`), never a path. On Docker
//!   daemons before 23.0 the terminal gets its size right after the
//!   container starts, so a command that asks at once may see 0 by 0.
//! - **Signals.** `proc:signal(n)` to a process that has exited is `true`
//!   (nothing to do); Wippy returns an error.
//! - **Scanners.** A token may be 1 MiB long (Go's and Wippy's limit is 64
//!   KiB); `err()` then says "… longer than 1048576 bytes (token too long)"
//!   (Wippy: "bufio.Scanner: token too long"). `scan()` at the end returns
//!   one value, `false` (Wippy: `false, nil`).
//! - **Streams.** `stat()` describes every process stream as a pipe that is
//!   neither writable nor seekable, `position` `-1` (Wippy's native pipe, an
//!   OS file, says writable and seekable at position 0, and then its write
//!   and seek fail).
//! - **Errors.** `err:details()` is the table given to `errors.new`, the
//!   same one at each call, lists and other keys kept (Wippy: a new copy of
//!   its string keys at each call). `err:stack()` has the Lua frames only
//!   (Wippy adds Go's); `errors.call_stack` frames start at level 1 (the Lua
//!   caller) and their `type` is Lua's `"Lua"`, `"C"` or `"main"` (Wippy:
//!   `"G"` for Go). The `errors` table can be written to (Wippy's is
//!   read-only).
//! - **Time.** `tostring(time.now())` has no monotonic-clock suffix (Go's
//!   ` m=+0.001`); fields and counts are Lua integers (Wippy hands floats
//!   such as `2024.0`, equal in comparisons). Zone rules come from the IANA
//!   database as jiff reads it, within years -9999 to 9999 (beyond, the
//!   nearest rules), and dates stop at a trillion years either way (Go's
//!   reach some 292 billion); a zone abbreviation in `time.parse` is looked up among
//!   the zones in force within a few transitions of the time (Go knows the
//!   zone's whole list).
//! - **Concurrency.** A spawned coroutine's error can be caught with `pcall`
//!   by the call it is raised in; spawned coroutines left when the main
//!   chunk ends stay until [`stop_spawned`] (Wippy ends them with the main
//!   function).
//!
//! # Concurrency
//!
//! `coroutine.spawn(fn, ...)` runs `fn` concurrently with the rest of the
//! script, on the same state: exec calls, channel operations and timers in
//! every coroutine go on together. This is how a script reads stdout and
//! stderr at once (reading one to its end first hangs once the other's pipe
//! and buffer fill): one spawned coroutine per stream, chunks sent over
//! channels, a `channel.select` over them, the exit and a timer — see
//! `examples/both-streams.lua`.
//!
//! Scheduling is cooperative, as in Wippy: a coroutine runs until it waits
//! (an exec call, a channel operation, `time.sleep`); every wait of the
//! coroutine the host drives lets each spawned coroutine that can go on run.
//! The host needs nothing more than for a plain script: `exec_async`,
//! `eval_async` or `call_async` in a tokio runtime (current-thread or
//! multi-thread), with or without the `send` feature; no `LocalSet`, no
//! `tokio::spawn`. Called from the main flow, `coroutine.spawn` returns once
//! the new coroutine first waits (or ends); called from a spawned coroutine,
//! the new one starts when the caller waits.
//!
//! An error in a spawned coroutine ends it and is raised, with its message
//! and traceback, from the wait that was running it in the main flow: the
//! script fails, as a Wippy process does (`exec-lua` prints it and exits 1).
//!
//! **When the main chunk ends**, spawned coroutines that have not finished
//! stay where they are: nothing runs them. (Wippy ends them when the main
//! function returns.) Call [`stop_spawned`] then: it ends them, and the
//! processes only they held are killed with their process groups and reaped.
//! Dropping the state does the same. Until then, any later async call into
//! the state would run them again. The `exec-lua` runner stops them when the
//! script ends.
//!
//! Exec calls, channel operations and timers that have to wait inside a
//! coroutine the script made itself (`coroutine.create`/`resume`,
//! `coroutine.wrap`) are abandoned and the coroutine closed; the resumer gets
//! an `INVALID` error value, "exec calls cannot wait inside coroutines made
//! with coroutine.create or coroutine.wrap …" (`false, err` from
//! `coroutine.resume`, raised by a `wrap` function). Only the scheduler
//! resumes a spawned coroutine: `coroutine.resume` and `coroutine.close`
//! refuse one with `false, message`. A plain `coroutine.yield()` in a spawned
//! coroutine lets the others run; in the main flow it does not (any wait
//! does, `time.sleep(0)` included).
//!
//! ```
//! use exec_config::Registry;
//! use std::sync::Arc;
//!
//! # #[cfg(feature = "native")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let registry = Registry::from_yaml(
//!     "- { name: shell, kind: exec.native, default_env: { PATH: /usr/bin:/bin } }",
//!     std::path::Path::new("executors.yaml"),
//!     Some("app"),
//! )?;
//! let lua = exec_lua::new_state(Arc::new(registry))?;
//! let counts: String = lua
//!     .load(r#"
//!         local shell = assert(require("exec").get("app:shell"))
//!         -- 2 MB on stderr before anything on stdout.
//!         local proc = assert(shell:exec("sh -c 'head -c 2000000 /dev/zero >&2; echo done'"))
//!         local out, err = proc:stdout_stream(), proc:stderr_stream()
//!         assert(proc:start())
//!         local counts = channel.new()
//!         for name, stream in pairs({ out = out, err = err }) do
//!             coroutine.spawn(function()
//!                 local bytes = 0
//!                 for chunk in function() return stream:read() end do bytes = bytes + #chunk end
//!                 counts:send(name .. "=" .. bytes)
//!             end)
//!         end
//!         local a, b = counts:receive(), counts:receive()
//!         assert(proc:wait() == 0)
//!         return a < b and a .. " " .. b or b .. " " .. a
//!     "#)
//!     .eval_async()
//!     .await?;
//! assert_eq!(counts, "err=2000000 out=5");
//! // The main chunk has ended: end what it spawned and left (nothing here).
//! assert_eq!(exec_lua::stop_spawned(&lua)?, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
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
mod limits;
mod module;
mod options;
mod process;
pub mod sandbox;
mod scanner;
mod scheduler;
mod stream;
#[cfg(feature = "terminal")]
mod terminal;
#[cfg(feature = "terminal")]
mod terminal_process;
mod time;

pub use errors::register_errors;
pub use exec_config::Registry;
pub use limits::{CHECK_EVERY, DEFAULT_MEMORY_LIMIT, StopReason, Stopper, stopper};
pub use mlua;
pub use module::register;
#[doc(hidden)]
pub use sandbox::skip_shebang;
pub use sandbox::{StateOptions, sandbox, sandbox_with};
pub use scanner::MAX_TOKEN;
pub use scheduler::stop_spawned;
pub use stream::DEFAULT_READ_SIZE;
#[cfg(feature = "terminal")]
pub use terminal::{end_terminal, restore_host_terminal, wait_for_terminal};

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
