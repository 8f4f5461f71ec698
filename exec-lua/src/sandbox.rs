//! What a script may not do: run a command any way but through `exec`.
//!
//! Removed: `os.execute`, `io.popen`, `os.exit` (it would end the host without
//! cleaning up its children; the `exec-lua` runner puts back one that does),
//! `package.loadlib` and the C-module searchers, `debug`, and `string.dump`.
//! `load`, `loadstring`, `loadfile`, `dofile` and `require` read text only:
//! a binary chunk is refused, since crafted bytecode can corrupt the VM and get
//! around everything above.
//!
//! Kept: the rest of the safe standard library, including `io.open` and
//! `os.remove` (files, not commands) and `os.getenv`.

use mlua::chunk::ChunkMode;
use mlua::{Function, Lua, MultiValue, Table, Value, Variadic};

/// The message a refused binary chunk gets.
const BINARY_REFUSED: &str = "binary chunks are not allowed (only Lua source is loaded)";

/// Removes from `lua` every way a script could start a command or load native
/// code, and makes chunk loading text-only (see the module docs).
///
/// [`new_state`](crate::new_state) calls this; call it yourself on a state you
/// made. It expects the `os`, `io`, `string` and `package` libraries to be
/// loaded or absent, never replaced by something else.
///
/// # Errors
///
/// Only if Lua cannot allocate.
pub fn sandbox(lua: &Lua) -> mlua::Result<()> {
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
            searchers.raw_set(2, lua.create_function(search_lua_module)?)?;
        }
    }
    Ok(())
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
    // Lua 5.4 and later put the separator between searchers' messages
    // themselves; earlier versions expect each message to start with one.
    let separator = if cfg!(any(feature = "lua54", feature = "lua55")) {
        ""
    } else {
        "\n\t"
    };
    let message = format!("{separator}{}", tried.join("\n\t"));
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
