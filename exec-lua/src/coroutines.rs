//! Exec calls inside coroutines a script makes itself
//! (`coroutine.create`/`coroutine.resume`, `coroutine.wrap`).
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
//! Lua. Running exec calls concurrently from a script needs a scheduler the
//! host drives, such as Wippy's `coroutine.spawn`, which this crate does not
//! have yet.
//!
//! Before Lua 5.4 there is no `coroutine.close`: the abandoned coroutine is
//! refused any further resume, but its pending call (and a stream it was
//! reading) is only let go when the coroutine itself is collected.

use crate::errors::ScriptError;
use mlua::{Function, Lua, Table, Value};

/// What a script gets when an exec call had to wait inside a coroutine it made.
pub(crate) const IN_COROUTINE: &str = "exec calls cannot wait inside coroutines made with \
     coroutine.create or coroutine.wrap (this call was abandoned and its coroutine closed); \
     make them from the script's main flow, reading one stream to its end and then the next: \
     each holds up to 1 MiB of output while unread";

/// Wraps `coroutine.resume` and `coroutine.wrap` of `lua` (see the module
/// docs); loads the coroutine library first where mlua would load it anyway.
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
            local coroutine, pending, abandoned, collectgarbage, error, select, type, setmetatable = ...
            local create, resume, status, close =
                coroutine.create, coroutine.resume, coroutine.status, coroutine.close
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
    ))
}
