//! What a script may not do: run a command any way but through `exec`, and
//! (unless the host allows it) touch files or the host's environment.
//!
//! # Always removed
//!
//! `os.execute`, `io.popen`, `os.exit` (it would end the host without cleaning
//! up its children; the `exec-lua` runner puts back one that does),
//! `package.loadlib` and the C-module searchers, `debug`, and `string.dump`.
//! `load` and `loadstring` compile text only: a binary chunk is refused, since
//! crafted bytecode can corrupt the VM and get around everything above.
//!
//! # File access: off unless the host allows it
//!
//! A script that can open files can do anything its user can: it can read
//! `/proc/self/maps`, write `/proc/self/mem` over the host's own code and so
//! run native code, which no command whitelist sees. So by default
//! ([`sandbox`](fn@sandbox), [`StateOptions::new`]) nothing reaches a file or the host's
//! environment:
//!
//! | function | without file access |
//! |---|---|
//! | `io.open`, `io.tmpfile`, `os.remove`, `os.rename`, `loadfile`, `package.searchpath` | `nil, "<name>: file access is off in this sandbox (…)"`, the way each reports a failure |
//! | `io.lines(path)`, `io.input(path)`, `io.output(path)`, `dofile`, `os.tmpname`, `os.getenv` | raise that error |
//! | `require(name)` | preloaded modules (`exec`) only; for any other name, "module 'name' not found" that says no file was searched |
//!
//! What stays is the host process's standard streams: `print`, `io.write`,
//! `io.read`, `io.lines()` with no file name, `io.stdin`, `io.stdout`,
//! `io.stderr` and their methods, and `io.input()`/`io.output()` with no
//! argument or one of those handles. `os.getenv` goes too: the host's
//! environment holds secrets, and with file access a script could read it from
//! `/proc/self/environ` anyway. The script itself is not loaded by Lua: the
//! `exec-lua` runner reads it (and `-e` chunks) in Rust.
//!
//! With [`StateOptions::allow_file_access`] (the runner's
//! `--allow-file-access`) all of these work as in plain Lua, except that
//! `loadfile`, `dofile` and `require` still load Lua source only. That gives
//! the script every file the host's user can read or write, and with
//! `/proc/self/mem` the host process itself: only for trusted scripts.
//!
//! ```
//! use exec_lua::{Registry, StateOptions};
//! use std::sync::Arc;
//!
//! let lua = exec_lua::new_state(Arc::new(Registry::new()))?;
//! let (file, message): (Option<String>, String) =
//!     lua.load(r#"return io.open("/proc/self/mem", "r+b")"#).eval()?;
//! assert!(file.is_none());
//! assert!(message.starts_with("io.open: file access is off"));
//!
//! let trusted = exec_lua::new_state_with(
//!     Arc::new(Registry::new()),
//!     StateOptions::new().allow_file_access(true),
//! )?;
//! let name: String = trusted
//!     .load(r#"local f = assert(io.open("/proc/self/comm")); return io.type(f)"#)
//!     .eval()?;
//! assert_eq!(name, "file");
//! # Ok::<(), exec_lua::mlua::Error>(())
//! ```

use mlua::chunk::ChunkMode;
use mlua::{Function, Lua, MultiValue, Table, Value, Variadic};
use std::time::Instant;

/// What a Lua state gives scripts beyond the `exec` module, and what it lets
/// them consume, for [`new_state_with`](crate::new_state_with) and
/// [`sandbox_with`]. The default (also [`StateOptions::new`]) gives nothing
/// more (no file access), a memory limit of
/// [`DEFAULT_MEMORY_LIMIT`](crate::DEFAULT_MEMORY_LIMIT) (1 GiB) and no
/// deadline.
///
/// ```
/// use exec_lua::StateOptions;
/// use std::time::{Duration, Instant};
///
/// let options = StateOptions::new();
/// assert!(!options.file_access_allowed());
/// assert_eq!(options.memory_limit(), Some(exec_lua::DEFAULT_MEMORY_LIMIT));
/// let options = options
///     .allow_file_access(true)
///     .with_memory_limit(Some(64 << 20))
///     .with_deadline(Some(Instant::now() + Duration::from_secs(30)));
/// assert!(options.file_access_allowed());
/// assert_eq!(options.memory_limit(), Some(64 << 20));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateOptions {
    file_access: bool,
    memory_limit: Option<usize>,
    deadline: Option<Instant>,
}

impl Default for StateOptions {
    fn default() -> Self {
        Self {
            file_access: false,
            memory_limit: Some(crate::DEFAULT_MEMORY_LIMIT),
            deadline: None,
        }
    }
}

impl StateOptions {
    /// The sandbox's defaults: no file access, 1 GiB of memory, no deadline.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether scripts may use files and the host's environment: `io.open`,
    /// `io.lines`/`io.input`/`io.output` on paths, `io.tmpfile`, `os.remove`,
    /// `os.rename`, `os.tmpname`, `os.getenv`, and `loadfile`, `dofile`,
    /// `package.searchpath` and `require` from `package.path` (Lua source only).
    ///
    /// Turning it on gives a script everything the host's user has: any file
    /// it can read or write, including `/proc/self/mem`, through which a
    /// script can overwrite the host's code and run native code. The command
    /// whitelist then no longer holds. Only for trusted scripts.
    #[must_use]
    pub fn allow_file_access(mut self, allow: bool) -> Self {
        self.file_access = allow;
        self
    }

    /// Whether [`allow_file_access`](Self::allow_file_access) is on.
    pub fn file_access_allowed(&self) -> bool {
        self.file_access
    }

    /// The most memory the Lua state may hold, in bytes (`None`: no limit).
    /// An allocation past it fails with Lua's "not enough memory" error,
    /// which the script sees as any error (and the `exec-lua` runner reports,
    /// naming the limit, with exit status 1). Output held for the script is
    /// bounded apart: 1 MiB per unread stream.
    #[must_use]
    pub fn with_memory_limit(mut self, bytes: Option<usize>) -> Self {
        self.memory_limit = bytes;
        self
    }

    /// The memory limit ([`with_memory_limit`](Self::with_memory_limit)).
    pub fn memory_limit(&self) -> Option<usize> {
        self.memory_limit
    }

    /// When the script is stopped (`None`: never): its running code and its
    /// waits raise "the script was stopped: its deadline passed", as a
    /// [`Stopper`](crate::Stopper) would, with
    /// [`StopReason::Deadline`](crate::StopReason::Deadline).
    #[must_use]
    pub fn with_deadline(mut self, deadline: Option<Instant>) -> Self {
        self.deadline = deadline;
        self
    }

    /// The deadline ([`with_deadline`](Self::with_deadline)).
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

/// What a refused file function says after its name.
pub(crate) const FILE_ACCESS_OFF: &str = "file access is off in this sandbox \
     (exec-lua --allow-file-access or exec_lua::StateOptions::allow_file_access turns it on)";

/// The message a refused binary chunk gets.
const BINARY_REFUSED: &str = "binary chunks are not allowed (only Lua source is loaded)";

/// Removes from `lua` every way a script could start a command or load native
/// code, makes chunk loading text-only, and takes away file access (see the
/// module docs): [`sandbox_with`] and [`StateOptions::new`].
///
/// [`new_state`](crate::new_state) calls this; call it yourself on a state you
/// made. It expects the `os`, `io`, `string` and `package` libraries to be
/// loaded or absent, never replaced by something else.
///
/// # Errors
///
/// Only if Lua cannot allocate.
pub fn sandbox(lua: &Lua) -> mlua::Result<()> {
    sandbox_with(lua, StateOptions::new())
}

/// [`sandbox`](fn@sandbox), with file access if `options` allow it
/// ([`StateOptions::allow_file_access`]).
///
/// ```
/// use exec_lua::StateOptions;
/// use exec_lua::mlua::{Lua, LuaOptions, StdLib};
///
/// let lua = Lua::new_with(StdLib::ALL_SAFE, LuaOptions::default())?;
/// exec_lua::sandbox_with(&lua, StateOptions::new().allow_file_access(true))?;
/// let opened: bool = lua.load(r#"return io.open("/proc/self/comm") ~= nil"#).eval()?;
/// assert!(opened);
/// let gone: bool = lua.load("return os.execute == nil").eval()?;
/// assert!(gone);
/// # Ok::<(), exec_lua::mlua::Error>(())
/// ```
///
/// # Errors
///
/// Only if Lua cannot allocate.
pub fn sandbox_with(lua: &Lua, options: StateOptions) -> mlua::Result<()> {
    let globals = lua.globals();
    globals.set("debug", Value::Nil)?;
    remove(&globals, "os", &["execute", "exit"])?;
    remove(&globals, "io", &["popen"])?;
    remove(&globals, "string", &["dump"])?;

    let load = lua.create_function(load_text)?;
    if globals.contains_key("loadstring")? {
        globals.set("loadstring", load.clone())?;
    }
    globals.set("load", load)?;

    if options.file_access {
        let loadfile = lua.create_function(loadfile_text)?;
        globals.set("loadfile", loadfile.clone())?;
        // In Lua so that the loaded chunk runs as a Lua call and may yield.
        let dofile: Function = lua
            .load(
                "local loadfile, error = ...
                 return function(path)
                     local chunk, err = loadfile(path)
                     if not chunk then error(err, 2) end
                     return chunk()
                 end",
            )
            .set_name("=exec-lua sandbox")
            .call((loadfile, globals.get::<Value>("error")?))?;
        globals.set("dofile", dofile)?;
    } else {
        no_file_access(lua)?;
    }

    if let Some(package) = globals.get::<Option<Table>>("package")? {
        package.set("loadlib", Value::Nil)?;
        package.set("cpath", "")?;
        let searchers: Option<Table> = match package.get::<Option<Table>>("searchers")? {
            Some(searchers) => Some(searchers),
            None => package.get::<Option<Table>>("loaders")?,
        };
        if let Some(searchers) = searchers {
            let preload = searchers.raw_get::<Value>(1)?;
            searchers.clear()?;
            searchers.raw_set(1, preload)?;
            let search_files = if options.file_access {
                lua.create_function(search_lua_module)?
            } else {
                lua.create_function(|lua, _name: Value| {
                    searcher_message(lua, &format!("no file searched: {FILE_ACCESS_OFF}"))
                })?
            };
            searchers.raw_set(2, search_files)?;
        }
    }
    crate::limits::install(lua, options.memory_limit, options.deadline)
}

/// Replaces every function that reaches a file (or the host's environment)
/// with one that refuses, and narrows `io.lines`, `io.input` and `io.output`
/// to the standard streams. In Lua, so that a raised refusal names the
/// script's line (`error(message, 2)`).
fn no_file_access(lua: &Lua) -> mlua::Result<()> {
    let refuse: Function = lua
        .load(
            r#"
            local off, error, type = ...
            local io, os, package = io, os, package
            local function fails(name)
                return function() return nil, name .. ": " .. off end
            end
            local function raises(name)
                return function() error(name .. ": " .. off, 2) end
            end
            if type(io) == "table" then
                local lines, input, output, iotype = io.lines, io.input, io.output, io.type
                io.open = fails("io.open")
                io.tmpfile = fails("io.tmpfile")
                -- No file name (or nil): the default input, as in plain Lua.
                io.lines = function(...)
                    if (...) == nil then return lines(...) end
                    error("io.lines with a file name: " .. off, 2)
                end
                -- No argument, nil or an open handle (only the standard ones
                -- exist without io.open): as in plain Lua.
                local function handles_only(name, set)
                    return function(...)
                        local file = ...
                        if file == nil or iotype(file) then return set(...) end
                        error(name .. " with a file name: " .. off, 2)
                    end
                end
                io.input = handles_only("io.input", input)
                io.output = handles_only("io.output", output)
            end
            if type(os) == "table" then
                os.remove = fails("os.remove")
                os.rename = fails("os.rename")
                os.tmpname = raises("os.tmpname")
                os.getenv = raises("os.getenv (the host's environment)")
            end
            if type(package) == "table" and package.searchpath then
                package.searchpath = fails("package.searchpath")
            end
            loadfile = fails("loadfile")
            dofile = raises("dofile")
            "#,
        )
        .set_name("=exec-lua sandbox")
        .into_function()?;
    let globals = lua.globals();
    refuse.call::<()>((
        FILE_ACCESS_OFF,
        globals.get::<Value>("error")?,
        globals.get::<Value>("type")?,
    ))
}

fn remove(globals: &Table, library: &str, names: &[&str]) -> mlua::Result<()> {
    if let Some(table) = globals.get::<Option<Table>>(library)? {
        for name in names {
            table.set(*name, Value::Nil)?;
        }
    }
    Ok(())
}

/// `load(chunk [, chunkname [, mode [, env]]])`, text chunks only.
fn load_text(lua: &Lua, args: MultiValue) -> mlua::Result<MultiValue> {
    let mut args = args.into_iter();
    let chunk = args.next().unwrap_or(Value::Nil);
    let name = args.next().unwrap_or(Value::Nil);
    let mode = args.next().unwrap_or(Value::Nil);
    let env = args.next();
    let source: Vec<u8> = match chunk {
        Value::String(s) => s.as_bytes().to_vec(),
        Value::Function(reader) => {
            let mut source = Vec::new();
            loop {
                match reader.call::<Value>(())? {
                    Value::String(piece) if !piece.as_bytes().is_empty() => {
                        source.extend_from_slice(&piece.as_bytes());
                    }
                    Value::Nil | Value::String(_) => break,
                    other => {
                        return failed(
                            lua,
                            format!(
                                "reader function must return a string, got {}",
                                crate::errors::lua_type(&other)
                            ),
                        );
                    }
                }
            }
            source
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "bad argument #1 to 'load' (string or function expected, got {})",
                crate::errors::lua_type(&other)
            )));
        }
    };
    if text_refused(Some(&mode)) {
        return failed(lua, BINARY_REFUSED.to_owned());
    }
    let name = match name {
        Value::String(s) => s.to_string_lossy(),
        _ => String::from_utf8_lossy(&source).into_owned(),
    };
    let env = match env {
        None | Some(Value::Nil) => None,
        Some(Value::Table(env)) => Some(env),
        Some(other) => {
            return failed(
                lua,
                format!(
                    "load: the environment must be a table, got {}",
                    crate::errors::lua_type(&other)
                ),
            );
        }
    };
    compile(lua, &source, &name, env)
}

/// `loadfile(path [, mode [, env]])`, text chunks only; a first line starting
/// with `#` is skipped, as Lua does.
fn loadfile_text(lua: &Lua, args: Variadic<Value>) -> mlua::Result<MultiValue> {
    let path = match args.first() {
        Some(Value::String(path)) => path.to_string_lossy(),
        _ => return failed(lua, "loadfile needs a file name".to_owned()),
    };
    if text_refused(args.get(1)) {
        return failed(lua, BINARY_REFUSED.to_owned());
    }
    let env = match args.get(2) {
        Some(Value::Table(env)) => Some(env.clone()),
        _ => None,
    };
    match std::fs::read(&path) {
        Ok(source) => compile(lua, &skip_shebang(source), &format!("@{path}"), env),
        Err(e) => failed(lua, format!("cannot open {path}: {e}")),
    }
}

/// The searcher for Lua modules on `package.path`, text only.
fn search_lua_module(lua: &Lua, name: String) -> mlua::Result<MultiValue> {
    let package: Table = lua.globals().get("package")?;
    let path: String = package.get::<Option<String>>("path")?.unwrap_or_default();
    let file_name = name.replace('.', "/");
    let mut tried = Vec::new();
    for template in path.split(';').filter(|t| !t.is_empty()) {
        let candidate = template.replace('?', &file_name);
        match std::fs::read(&candidate) {
            Ok(source) => {
                let chunk =
                    compile_text(lua, &skip_shebang(source), &format!("@{candidate}"), None)
                        .map_err(|e| {
                            mlua::Error::runtime(format!(
                                "error loading module '{name}' from file '{candidate}':\n\t{e}"
                            ))
                        })?;
                return Ok(MultiValue::from_iter([
                    Value::Function(chunk),
                    Value::String(lua.create_string(&candidate)?),
                ]));
            }
            Err(_) => tried.push(format!("no file '{candidate}'")),
        }
    }
    searcher_message(lua, &tried.join("\n\t"))
}

/// What a searcher that found nothing returns: its explanation, which
/// `require` adds to "module 'name' not found:".
fn searcher_message(lua: &Lua, message: &str) -> mlua::Result<MultiValue> {
    // Lua 5.4 and later put the separator between searchers' messages
    // themselves; earlier versions expect each message to start with one.
    let separator = if cfg!(any(feature = "lua54", feature = "lua55")) {
        ""
    } else {
        "\n\t"
    };
    let message = format!("{separator}{message}");
    Ok(MultiValue::from_iter([Value::String(
        lua.create_string(&message)?,
    )]))
}

fn compile(lua: &Lua, source: &[u8], name: &str, env: Option<Table>) -> mlua::Result<MultiValue> {
    match compile_text(lua, source, name, env) {
        Ok(function) => Ok(MultiValue::from_iter([Value::Function(function)])),
        Err(message) => failed(lua, message),
    }
}

/// Compiles Lua source; a binary chunk or a syntax error is the message.
fn compile_text(
    lua: &Lua,
    source: &[u8],
    name: &str,
    env: Option<Table>,
) -> Result<Function, String> {
    if source.first() == Some(&0x1b) {
        return Err(BINARY_REFUSED.to_owned());
    }
    let mut chunk = lua.load(source).set_name(name).set_mode(ChunkMode::Text);
    if let Some(env) = env {
        chunk = chunk.set_environment(env);
    }
    chunk.into_function().map_err(|e| match e {
        mlua::Error::SyntaxError { message, .. } => message,
        other => other.to_string(),
    })
}

/// Whether a `mode` argument (`"b"`, `"t"`, `"bt"`) excludes text chunks.
fn text_refused(mode: Option<&Value>) -> bool {
    matches!(mode, Some(Value::String(mode)) if !mode.as_bytes().contains(&b't'))
}

/// `nil, message`, as `load` reports a failure.
fn failed(lua: &Lua, message: String) -> mlua::Result<MultiValue> {
    Ok(MultiValue::from_iter([
        Value::Nil,
        Value::String(lua.create_string(&message)?),
    ]))
}

#[doc(hidden)]
/// Blanks a first line starting with `#` (keeping the newline, so line numbers
/// stay right).
pub fn skip_shebang(mut source: Vec<u8>) -> Vec<u8> {
    if source.first() == Some(&b'#') {
        let end = source
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(source.len());
        source.drain(..end);
    }
    source
}
