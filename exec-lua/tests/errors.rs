//! The global `errors` table and the error values every call returns, as
//! Wippy's runtime has them (go-lua's error type and its `errors` library):
//! Wippy's kind strings, errors that concatenate like strings, `wrap` that
//! keeps the message and records its context, and exec errors that always
//! say whether retrying helps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use exec_lua::Registry;
use exec_lua::mlua::Lua;
use std::sync::Arc;
use std::time::Duration;

fn empty_state() -> Lua {
    exec_lua::new_state(Arc::new(Registry::new())).unwrap()
}

/// Runs `script` on a fresh state; the Lua error, if any, fails the test.
fn run(lua: &Lua, script: &str) {
    if let Err(e) = lua.load(script).set_name("=test").exec() {
        panic!("{e}");
    }
}

#[test]
fn error_values_concatenate_like_strings() {
    run(
        &empty_state(),
        r#"
        local err = errors.new("disk full")
        assert("failed to create process: " .. err == "failed to create process: disk full")
        assert(err .. " :suffix" == "disk full :suffix")
        assert(err .. errors.new(" twice") == "disk full twice")
        assert(err .. 42 == "disk full42" and 4 .. err == "4disk full")
        assert(err .. true == "disk fulltrue")
        local parts = { "a", err, "b" }
        assert(table.concat({ parts[1], parts[2] .. "", parts[3] }, "|") == "a|disk full|b")
        -- An error the exec module returned concatenates the same way.
        local _, missing = require("exec").get("nowhere:at-all")
        local line = "acquire: " .. missing
        assert(line:find("nowhere:at-all", 1, true), line)
        "#,
    );
}

#[test]
fn kind_constants_are_wippys_strings() {
    run(
        &empty_state(),
        r#"
        local expected = {
            NOT_FOUND = "NotFound", ALREADY_EXISTS = "AlreadyExists", INVALID = "Invalid",
            PERMISSION_DENIED = "PermissionDenied", UNAVAILABLE = "Unavailable",
            INTERNAL = "Internal", CANCELED = "Canceled", CONFLICT = "Conflict",
            TIMEOUT = "Timeout", RATE_LIMITED = "RateLimited", UNKNOWN = "",
        }
        for name, value in pairs(expected) do
            assert(errors[name] == value, name .. " is " .. tostring(errors[name]))
        end
        local plain = errors.new("no kind given")
        assert(plain:kind() == "" and plain:kind() == errors.UNKNOWN)
        assert(plain:retryable() == nil and plain:details() == nil)
        "#,
    );
}

#[test]
fn errors_new_keeps_any_kind_and_ignores_fields_of_another_type() {
    run(
        &empty_state(),
        r#"
        local custom = errors.new({ message = "m", kind = "Teapot", retryable = "yes", details = "none" })
        assert(custom:kind() == "Teapot" and custom:message() == "m")
        assert(custom:retryable() == nil and custom:details() == nil)
        assert(errors.is(custom, "Teapot"))
        -- Empty details are no details.
        assert(errors.new({ message = "m", details = {} }):details() == nil)
        local nested = errors.new({ message = "m", details = { user = { id = 7 }, count = 2 } })
        assert(nested:details().user.id == 7 and nested:details().count == 2)
        -- The (kind, message) form does not exist: the first string is the message.
        assert(errors.new("INTERNAL", "ignored"):message() == "INTERNAL")
        -- What errors.new cannot make an error of is an argument error.
        for _, bad in ipairs({ {}, { message = 42 }, 42, true }) do
            local ok, msg = pcall(errors.new, bad)
            assert(not ok and tostring(msg):find("bad argument #1 to 'new'", 1, true), tostring(msg))
        end
        assert(not pcall(errors.new))
        "#,
    );
}

#[test]
fn wrap_keeps_the_message_and_records_the_context_in_the_stack() {
    run(
        &empty_state(),
        r#"
        local inner = errors.new({ message = "connection refused", kind = errors.UNAVAILABLE,
            retryable = true, details = { host = "db" } })
        local outer = errors.wrap(inner, "failed to load users")
        assert(outer:message() == "connection refused", outer:message())
        assert(tostring(outer) == "connection refused")
        assert(outer:kind() == errors.UNAVAILABLE and outer:retryable() == true)
        assert(outer:details().host == "db")
        assert(outer:stack():find("failed to load users", 1, true), outer:stack())
        -- Wrapped twice: the inner context is part of the message now.
        local twice = errors.wrap(outer, "request failed")
        assert(twice:message() == "failed to load users: connection refused", twice:message())
        -- A string wraps into an error of no kind; an error may be the context.
        local plain = errors.wrap("plain failure", "ctx")
        assert(plain:message() == "plain failure" and plain:kind() == "" and plain:retryable() == nil)
        assert(errors.wrap(inner, errors.new("as context")):stack():find("as context", 1, true))
        -- Nothing to wrap, or no context: argument errors.
        for _, args in ipairs({ { nil, "ctx" }, { 42, "ctx" }, { inner, 42 }, { inner } }) do
            local ok, msg = pcall(errors.wrap, args[1], args[2])
            assert(not ok and tostring(msg):find("bad argument #", 1, true), tostring(msg))
        end
        "#,
    );
}

#[test]
fn is_compares_kinds_and_call_stack_describes_each_frame() {
    run(
        &empty_state(),
        r#"
        local e = errors.new({ message = "slow", kind = errors.TIMEOUT })
        assert(errors.is(e, errors.TIMEOUT) == true and errors.is(e, errors.INVALID) == false)
        assert(errors.is(nil, errors.TIMEOUT) == false and errors.is("slow", errors.TIMEOUT) == false)
        assert(not pcall(errors.is, e))
        local function deepest() local e = errors.new("here"); return e end
        local function middle() local e = deepest(); return e end
        local stack = errors.call_stack(middle())
        assert(type(stack.thread) == "string" and #stack.thread > 0)
        local first = stack.frames[1]
        assert(type(first.level) == "number" and first.source == "test" and first.line > 0, first.source)
        assert(first.name == "deepest" and first.type == "Lua", tostring(first.name) .. " " .. tostring(first.type))
        assert(stack.frames[2].name == "middle")
        assert(errors.call_stack("not an error") == nil and errors.call_stack(nil) == nil)
        "#,
    );
}

/// Every error an exec call returns says whether retrying could help:
/// `false` unless the failure is one that passes (a daemon away).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_errors_always_say_whether_retrying_helps() {
    let lua = harness::shell_state();
    let script = lua
        .load(
            r#"
            local exec = require("exec")
            local shell = assert(exec.get("app:shell"))
            local seen = {}
            local function note(what, err)
                assert(err, what .. ": no error")
                assert(type(err:retryable()) == "boolean", what .. ": retryable() is " .. tostring(err:retryable()))
                seen[#seen + 1] = what .. "=" .. err:kind() .. "/" .. tostring(err:retryable())
            end
            note("unknown id", select(2, exec.get("app:nope")))
            note("unclosed quote", select(2, shell:exec("echo 'oops")))
            local missing = assert(shell:exec("no-such-program-here"))
            note("missing program", select(2, missing:start()))
            local slow = assert(shell:exec("sleep 30", { timeout = 0.2 }))
            assert(slow:start())
            note("timeout", select(2, slow:wait()))
            local pending = assert(shell:exec("true"))
            note("wait before start", select(2, pending:wait()))
            return table.concat(seen, " ")
            "#,
        )
        .eval_async::<String>();
    let seen = tokio::time::timeout(Duration::from_secs(20), script)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        seen,
        "unknown id=NotFound/false unclosed quote=Invalid/false \
         missing program=NotFound/false timeout=Timeout/false wait before start=Invalid/false"
    );
}
