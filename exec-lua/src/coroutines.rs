//! Exec calls inside coroutines a script makes itself
//! (`coroutine.create`/`coroutine.resume`, `coroutine.wrap`), and
//! `coroutine.spawn`.
//!
//! An exec call that has to wait (`wait()`, a `read()` before any output, …)
//! suspends the Lua thread it runs in until the host's async runtime wakes it:
//! mlua yields its internal "poll pending" marker ([`Lua::poll_pending`]) to
//! whoever resumed that thread, and expects to be resumed when the future is
//! ready. The host (the runner's `call_async`) drives the script's main flow
//! that way; but a coroutine the script made is resumed by the script, which
//! would get the marker back from `coroutine.resume` as if it were a value, and
//! its exec call would be left half done.
//!
//! So `coroutine.resume` and `coroutine.wrap` are wrapped: when the coroutine
//! yields that marker, its call is abandoned (the coroutine is closed, which
//! drops the pending call) and the resumer gets an `INVALID` error value
//! ([`IN_COROUTINE`]) instead: `false, err` from `coroutine.resume`, raised by
//! the function `coroutine.wrap` made. Everything else (values yielded by the
//! script, errors, exec calls that did not have to wait) behaves as in plain
//! Lua. Channel operations and timers that have to wait are refused the
//! same way. Running them concurrently is what `coroutine.spawn` is for (see
//! [`scheduler`](crate::scheduler)): its coroutines are resumed by the
//! scheduler, so `coroutine.resume` and `coroutine.close` refuse them.
//!
//! Before Lua 5.4 there is no `coroutine.close`: the abandoned coroutine is
//! refused any further resume, but its pending call (and a stream it was
//! reading) is only let go when the coroutine itself is collected.

use crate::errors::ScriptError;
use mlua::{Function, Lua, Table, Value};

/// What a script gets when an exec call had to wait inside a coroutine it made.
pub(crate) const IN_COROUTINE: &str = "exec calls cannot wait inside coroutines made with \
     coroutine.create or coroutine.wrap (this call was abandoned and its coroutine closed), \
     nor can channel operations or timers; make them from the script's main flow, or run them \
     concurrently with coroutine.spawn and pass results over channels";

/// What `coroutine.resume` and `coroutine.close` say for a coroutine that
/// `coroutine.spawn` started.
const SPAWNED: &str = "cannot resume or close a coroutine started by coroutine.spawn: \
     the scheduler runs it";

/// Wraps `coroutine.resume` and `coroutine.wrap` of `lua` and adds
/// `coroutine.spawn` (see the module docs); loads the coroutine library first
/// where mlua would load it anyway.
pub(crate) fn guard(lua: &Lua) -> mlua::Result<()> {
    let globals = lua.globals();
    #[cfg(any(
        feature = "lua55",
        feature = "lua54",
        feature = "lua53",
        feature = "lua52"
    ))]
    if globals.get::<Option<Table>>("coroutine")?.is_none() {
        lua.load_std_libs(mlua::StdLib::COROUTINE)?;
    }
    let Some(coroutine) = globals.get::<Option<Table>>("coroutine")? else {
        return Ok(());
    };
    let abandoned =
        lua.create_function(|lua, ()| ScriptError::invalid(IN_COROUTINE).into_lua_value(lua))?;
    let install: Function = lua
        .load(
            r##"
            local coroutine, pending, abandoned, collectgarbage, error, select, type, setmetatable,
                spawn, handler, xpcall, spawned_message, failed = ...
            local create, resume, status, close =
                coroutine.create, coroutine.resume, coroutine.status, coroutine.close
            -- Coroutines that coroutine.spawn started: only the scheduler
            -- resumes them.
            local spawned = setmetatable({}, { __mode = "k" })
            -- Without coroutine.close (before Lua 5.4) an abandoned coroutine
            -- stays suspended: remember it, so it is never resumed again.
            local dead = setmetatable({}, { __mode = "k" })

            local function checked(co, ok, ...)
                if ok and select("#", ...) == 1 and (...) == pending
                    and status(co) == "suspended" then
                    if close then
                        close(co)
                        -- Drop the abandoned call now, not at some later
                        -- cycle: a pending read holds its stream till then.
                        if collectgarbage then collectgarbage() end
                    else
                        dead[co] = true
                    end
                    return false, abandoned()
                end
                return ok, ...
            end

            -- Plain Lua's argument errors, with the script's position.
            local function expected(name, what, ...)
                local got = select("#", ...) == 0 and "no value" or type((...))
                error("bad argument #1 to '" .. name .. "' (" .. what .. " expected, got "
                    .. got .. ")", 3)
            end

            local function guarded_resume(...)
                local co = ...
                if type(co) ~= "thread" then expected("resume", "thread", ...) end
                if dead[co] then return false, "cannot resume dead coroutine" end
                if spawned[co] then return false, spawned_message end
                return checked(co, resume(...))
            end

            -- As plain Lua's wrap: an error in the coroutine closes it and is
            -- raised again, a string one with the caller's position.
            local function unwrap(co, ok, ...)
                if ok then return ... end
                local err = ...
                if close and status(co) == "dead" then
                    local closed, close_err = close(co)
                    if not closed then err = close_err end
                end
                error(err, 2)
            end

            coroutine.resume = guarded_resume
            coroutine.wrap = function(...)
                local f = ...
                if type(f) ~= "function" then expected("wrap", "function", ...) end
                local co = create(f)
                return function(...)
                    return unwrap(co, guarded_resume(co, ...))
                end
            end
            if close then
                coroutine.close = function(...)
                    local co = ...
                    if spawned[co] then return false, spawned_message end
                    return close(...)
                end
            end

            -- The function runs inside xpcall so that its error carries its
            -- own traceback (not where Lua 5.1 cannot yield across it); the
            -- scheduler takes `failed, text` as its failure.
            local function protect(fn)
                if not handler then return fn end
                return function(...)
                    local ok, err = xpcall(fn, handler, ...)
                    if not ok then return failed, err end
                end
            end
            coroutine.spawn = function(...)
                local fn = ...
                if type(fn) ~= "function" then expected("spawn", "function", ...) end
                local co = spawn(protect(fn), select(2, ...))
                spawned[co] = true
                return co
            end
            "##,
        )
        .set_name("=exec-lua coroutines")
        .into_function()?;
    install.call::<()>((
        coroutine,
        Value::LightUserData(Lua::poll_pending()),
        abandoned,
        globals.get::<Value>("collectgarbage")?,
        globals.get::<Value>("error")?,
        globals.get::<Value>("select")?,
        globals.get::<Value>("type")?,
        globals.get::<Value>("setmetatable")?,
        crate::scheduler::spawn_function(lua)?,
        traceback_handler(lua)?,
        globals.get::<Value>("xpcall")?,
        SPAWNED,
        crate::scheduler::failed_marker(),
    ))
}

/// The `xpcall` handler of spawned coroutines: the error's text and the
/// coroutine's traceback, without the wrapper's own frames. `nil` for Lua
/// 5.1, which cannot yield across `xpcall`.
fn traceback_handler(lua: &Lua) -> mlua::Result<Value> {
    if cfg!(feature = "lua51") {
        return Ok(Value::Nil);
    }
    let handler = lua.create_function(|lua, error: Value| {
        let text = crate::errors::value_text(lua, &error);
        let Ok(traceback) = lua.traceback(Some(&text), 1) else {
            return Ok(text);
        };
        let traceback = traceback.to_string_lossy();
        Ok(match traceback.find("\n\t[C]: in function 'xpcall'") {
            Some(end) => traceback[..end].to_owned(),
            None => traceback,
        })
    })?;
    Ok(Value::Function(handler))
}
