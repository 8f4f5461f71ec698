//! The Lua state `new_state` prepares: the sandbox (each removed function is
//! absent, no C modules, no bytecode, no file access unless the host allows
//! it) and concurrency (a pending `wait()`
//! blocks neither `signal()`/`close()` nor stream reads in another call).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use exec_lua::mlua::{Function, Lua, Value};
use exec_lua::{Registry, StateOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn empty_state() -> Lua {
    exec_lua::new_state(Arc::new(Registry::new())).unwrap()
}

/// A state whose host allowed file access.
fn files_state() -> Lua {
    exec_lua::new_state_with(
        Arc::new(Registry::new()),
        StateOptions::new().allow_file_access(true),
    )
    .unwrap()
}

#[test]
fn every_way_to_run_a_command_or_native_code_is_gone() {
    let lua = empty_state();
    for path in [
        "os.execute",
        "io.popen",
        "os.exit",
        "package.loadlib",
        "debug",
        "string.dump",
    ] {
        let value: Value = lua.load(format!("return {path}")).eval().unwrap();
        assert!(value.is_nil(), "{path} is {value:?}");
    }
    // What scripts still have.
    for path in [
        "print",
        "io.write",
        "io.read",
        "os.time",
        "string.format",
        "require",
        "coroutine.wrap",
    ] {
        let value: Value = lua.load(format!("return {path}")).eval().unwrap();
        assert!(value.is_function(), "{path} is {value:?}");
    }
    let cpath: String = lua.load("return package.cpath").eval().unwrap();
    assert_eq!(cpath, "");
}

#[test]
fn c_modules_do_not_load() {
    let dir = tempfile::tempdir().unwrap();
    // A file where a C module would be: require must not try it.
    std::fs::write(dir.path().join("evil.so"), b"\x7fELF not really").unwrap();
    let lua = empty_state();
    let (ok, message): (bool, String) = lua
        .load(format!(
            "package.cpath = '{}/?.so'; return pcall(require, 'evil')",
            dir.path().display()
        ))
        .eval()
        .unwrap();
    assert!(!ok);
    assert!(message.contains("module 'evil' not found"), "{message}");
    assert!(
        !message.contains("evil.so"),
        "the C path was searched: {message}"
    );
}

#[test]
fn binary_chunks_are_refused_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    // File access, so that loadfile, dofile and require read files at all.
    let lua = files_state();
    // Real bytecode, made by an unsandboxed state.
    let bytecode = Lua::new()
        .load("return 42")
        .into_function()
        .unwrap()
        .dump(false);
    std::fs::write(dir.path().join("compiled.lua"), &bytecode).unwrap();
    lua.globals()
        .set("bytecode", lua.create_string(&bytecode).unwrap())
        .unwrap();
    lua.globals()
        .set("dir", dir.path().to_str().unwrap())
        .unwrap();
    let refusals: Vec<String> = lua
        .load(
            r#"
            local out = {}
            local f, err = load(bytecode)
            out[#out + 1] = tostring(f) .. " " .. tostring(err)
            f, err = load(bytecode, "x", "b")
            out[#out + 1] = tostring(f) .. " " .. tostring(err)
            local pieces = { bytecode:sub(1, 3), bytecode:sub(4) }
            f, err = load(function() return table.remove(pieces, 1) end)
            out[#out + 1] = tostring(f) .. " " .. tostring(err)
            f, err = loadfile(dir .. "/compiled.lua")
            out[#out + 1] = tostring(f) .. " " .. tostring(err)
            local ok, e = pcall(dofile, dir .. "/compiled.lua")
            out[#out + 1] = tostring(ok) .. " " .. tostring(e)
            package.path = dir .. "/?.lua"
            ok, e = pcall(require, "compiled")
            out[#out + 1] = tostring(ok) .. " " .. tostring(e)
            return out
            "#,
        )
        .eval()
        .unwrap();
    assert_eq!(refusals.len(), 6);
    for refusal in &refusals {
        assert!(
            refusal.starts_with("nil ") || refusal.starts_with("false "),
            "{refusal}"
        );
        assert!(
            refusal.contains("binary chunks are not allowed"),
            "{refusal}"
        );
    }
}

#[test]
fn text_chunks_and_lua_modules_still_load() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("greet.lua"),
        "#!/usr/bin/env lua\nlocal M = {}\nfunction M.hi(n) return 'hi ' .. n end\nreturn M\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("pkg")).unwrap();
    std::fs::write(dir.path().join("pkg/init.lua"), "return { name = 'pkg' }").unwrap();
    std::fs::write(dir.path().join("broken.lua"), "return {").unwrap();
    let lua = files_state();
    lua.globals()
        .set("dir", dir.path().to_str().unwrap())
        .unwrap();
    let results: Vec<String> = lua
        .load(
            r#"
            package.path = dir .. "/?.lua;" .. dir .. "/?/init.lua"
            local out = {}
            out[#out + 1] = require("greet").hi("there")
            out[#out + 1] = require("pkg").name
            out[#out + 1] = load("return 1 + 1")() .. ""
            out[#out + 1] = load("return x", "chunk", "t", { x = "env" })()
            out[#out + 1] = loadfile(dir .. "/greet.lua")().hi("file")
            out[#out + 1] = dofile(dir .. "/greet.lua").hi("dofile")
            local f, err = load("return +")
            out[#out + 1] = tostring(f) .. " " .. err
            local ok, e = pcall(require, "broken")
            out[#out + 1] = tostring(ok) .. " " .. tostring(e)
            local ok, e = pcall(dofile, dir .. "/missing.lua")
            out[#out + 1] = tostring(ok) .. " " .. tostring(e)
            return out
            "#,
        )
        .eval()
        .unwrap();
    assert_eq!(
        &results[..6],
        ["hi there", "pkg", "2", "env", "hi file", "hi dofile"]
    );
    assert!(
        results[6].starts_with("nil [string \"return +\"]:1:"),
        "{}",
        results[6]
    );
    assert!(
        results[7].starts_with("false ") && results[7].contains("error loading module 'broken'"),
        "{}",
        results[7]
    );
    assert!(results[8].contains("cannot open"), "{}", results[8]);
}

/// What every refused file function says.
const FILE_ACCESS_OFF: &str = "file access is off in this sandbox";

#[test]
fn by_default_no_function_reaches_a_file_or_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("existing.txt");
    std::fs::write(&existing, "secret").unwrap();
    std::fs::write(dir.path().join("module.lua"), "ran = true return {}").unwrap();
    let lua = empty_state();
    lua.globals()
        .set("dir", dir.path().to_str().unwrap())
        .unwrap();
    // Each call as "name\toutcome": "nil <message>" for the functions that
    // report a failure by returning it, "raised <message>" for the others.
    let outcomes: Vec<String> = lua
        .load(
            r#"
            local file = dir .. "/existing.txt"
            local calls = {
                { "io.open", function() return io.open(file) end },
                { "io.open w", function() return io.open(dir .. "/new.txt", "w") end },
                { "io.tmpfile", function() return io.tmpfile() end },
                { "os.remove", function() return os.remove(file) end },
                { "os.rename", function() return os.rename(file, dir .. "/renamed.txt") end },
                { "loadfile", function() return loadfile(dir .. "/module.lua") end },
                { "package.searchpath", function()
                    return package.searchpath("module", dir .. "/?.lua") end },
                { "io.lines", function() return io.lines(file) end },
                { "io.input", function() return io.input(file) end },
                { "io.input number", function() return io.input(42) end },
                { "io.output", function() return io.output(dir .. "/out.txt") end },
                { "dofile", function() return dofile(dir .. "/module.lua") end },
                { "os.tmpname", function() return os.tmpname() end },
                { "os.getenv", function() return os.getenv("PATH") end },
            }
            local out = {}
            for _, call in ipairs(calls) do
                local results = table.pack(pcall(call[2]))
                local outcome
                if not results[1] then
                    outcome = "raised " .. tostring(results[2])
                else
                    outcome = tostring(results[2]) .. " " .. tostring(results[3])
                end
                out[#out + 1] = call[1] .. "\t" .. outcome
            end
            return out
            "#,
        )
        .eval()
        .unwrap();
    let returns_failure = [
        "io.open",
        "io.open w",
        "io.tmpfile",
        "os.remove",
        "os.rename",
        "loadfile",
        "package.searchpath",
    ];
    assert_eq!(outcomes.len(), 14);
    for line in &outcomes {
        let (name, outcome) = line.split_once('\t').unwrap();
        let function = name.split(' ').next().unwrap();
        if returns_failure.contains(&name) {
            let expected = format!("nil {function}: {FILE_ACCESS_OFF}");
            assert!(outcome.starts_with(&expected), "{name}: {outcome}");
        } else {
            assert!(outcome.starts_with("raised "), "{name}: {outcome}");
            assert!(outcome.contains(function), "{name}: {outcome}");
        }
        assert!(outcome.contains(FILE_ACCESS_OFF), "{name}: {outcome}");
        assert!(outcome.contains("--allow-file-access"), "{name}: {outcome}");
    }
    // Nothing happened to the files.
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "secret");
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["existing.txt", "module.lua"]);
    let ran: Value = lua.globals().get("ran").unwrap();
    assert!(ran.is_nil(), "a file's code ran");
}

#[test]
fn by_default_require_finds_preloaded_modules_and_no_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("module.lua"), "ran = true return {}").unwrap();
    let lua = empty_state();
    lua.globals()
        .set("dir", dir.path().to_str().unwrap())
        .unwrap();
    let (exec, ok, message): (String, bool, String) = lua
        .load(
            r#"
            package.path = dir .. "/?.lua"
            local ok, err = pcall(require, "module")
            return type(require("exec").get), ok, tostring(err)
            "#,
        )
        .eval()
        .unwrap();
    assert_eq!(exec, "function");
    assert!(!ok);
    assert!(message.contains("module 'module' not found"), "{message}");
    assert!(
        message.contains(&format!("no file searched: {FILE_ACCESS_OFF}")),
        "{message}"
    );
    assert!(lua.globals().get::<Value>("ran").unwrap().is_nil());
}

/// The route an adversarial review took: read /proc/self/maps, open
/// /proc/self/mem for writing, overwrite libc. Every way to open either fails.
#[test]
fn by_default_proc_self_mem_and_maps_cannot_be_opened() {
    let lua = empty_state();
    let outcomes: Vec<String> = lua
        .load(
            r#"
            local out = {}
            for _, path in ipairs({ "/proc/self/maps", "/proc/self/mem" }) do
                for _, mode in ipairs({ "r", "rb", "r+b", "w" }) do
                    local f, err = io.open(path, mode)
                    out[#out + 1] = tostring(f) .. " " .. tostring(err)
                end
                local ok, err = pcall(io.lines, path)
                out[#out + 1] = tostring(ok) .. " " .. tostring(err)
                ok, err = pcall(io.input, path)
                out[#out + 1] = tostring(ok) .. " " .. tostring(err)
                ok, err = pcall(io.output, path)
                out[#out + 1] = tostring(ok) .. " " .. tostring(err)
                ok, err = pcall(dofile, path)
                out[#out + 1] = tostring(ok) .. " " .. tostring(err)
            end
            -- The standard handles stay, and are still the defaults.
            assert(io.input() == io.stdin and io.output() == io.stdout)
            return out
            "#,
        )
        .eval()
        .unwrap();
    assert_eq!(outcomes.len(), 16);
    for outcome in &outcomes {
        assert!(
            outcome.starts_with("nil ") || outcome.starts_with("false "),
            "{outcome}"
        );
        assert!(outcome.contains(FILE_ACCESS_OFF), "{outcome}");
    }
}

#[test]
fn with_file_access_allowed_the_file_functions_work() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("module.lua"), "return { name = 'module' }").unwrap();
    let lua = files_state();
    lua.globals()
        .set("dir", dir.path().to_str().unwrap())
        .unwrap();
    let results: Vec<String> = lua
        .load(
            r#"
            local out = {}
            local path = dir .. "/written.txt"
            local f = assert(io.open(path, "w"))
            f:write("line 1\nline 2\n")
            f:close()
            out[#out + 1] = io.open(path):read("a")
            local n = 0
            for _ in io.lines(path) do n = n + 1 end
            out[#out + 1] = tostring(n)
            io.input(path)
            out[#out + 1] = io.read("l")
            io.input(io.stdin)
            assert(io.output(dir .. "/output.txt") ~= io.stdout)
            io.write("through io.output")
            io.output():close()
            io.output(io.stdout)
            out[#out + 1] = io.open(dir .. "/output.txt"):read("a")
            local tmp = assert(io.tmpfile())
            tmp:write("tmp")
            tmp:seek("set")
            out[#out + 1] = tmp:read("a")
            local name = os.tmpname()
            assert(os.remove(name))
            assert(os.rename(path, dir .. "/renamed.txt"))
            assert(os.remove(dir .. "/renamed.txt"))
            out[#out + 1] = tostring(io.open(dir .. "/renamed.txt"))
            out[#out + 1] = type(os.getenv("PATH"))
            out[#out + 1] = assert(loadfile(dir .. "/module.lua"))().name
            out[#out + 1] = dofile(dir .. "/module.lua").name
            package.path = dir .. "/?.lua"
            out[#out + 1] = require("module").name
            out[#out + 1] = package.searchpath("module", package.path)
            -- What the host gave away: the process's own memory map.
            out[#out + 1] = io.type(io.open("/proc/self/maps"))
            return out
            "#,
        )
        .eval()
        .unwrap();
    let module = format!("{}/module.lua", dir.path().display());
    assert_eq!(
        results,
        [
            "line 1\nline 2\n",
            "2",
            "line 1",
            "through io.output",
            "tmp",
            "nil",
            "string",
            "module",
            "module",
            "module",
            module.as_str(),
            "file",
        ]
    );
}

/// Two async calls into one state, run at once, as two coroutines of a
/// script host would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_wait_blocks_neither_signal_nor_close_nor_reads() {
    let lua = harness::shell_state();
    lua.load(
        r#"
        local shell = assert(require("exec").get("app:shell"))
        proc = assert(shell:exec("/bin/sh -c 'echo ready; exec sleep 30'"))
        out = proc:stdout_stream()
        assert(proc:start())
        "#,
    )
    .exec_async()
    .await
    .unwrap();
    let waiter: Function = lua.load("return proc:wait()").into_function().unwrap();
    let other: Function = lua
        .load(
            r#"
            local line = out:read()           -- while wait() is pending
            assert(proc:signal(15))           -- likewise
            return line
            "#,
        )
        .into_function()
        .unwrap();
    let started = Instant::now();
    let (code, line) = tokio::time::timeout(Duration::from_secs(10), async {
        let wait = waiter.call_async::<i64>(());
        let other = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            other.call_async::<String>(()).await
        };
        tokio::join!(wait, other)
    })
    .await
    .expect("wait() blocked signal() or a read");
    assert_eq!(line.unwrap(), "ready\n");
    assert_eq!(code.unwrap(), 128 + 15);
    assert!(started.elapsed() < Duration::from_secs(10));

    // close() while wait() is pending.
    lua.load(
        r#"
        local shell = assert(require("exec").get("app:shell"))
        proc = assert(shell:exec("sleep 30"))
        assert(proc:start())
        "#,
    )
    .exec_async()
    .await
    .unwrap();
    let waiter: Function = lua
        .load("local code, err = proc:wait(); return code or err:message()")
        .into_function()
        .unwrap();
    let closer: Function = lua.load("return proc:close()").into_function().unwrap();
    let (waited, closed) = tokio::time::timeout(Duration::from_secs(10), async {
        let wait = waiter.call_async::<Value>(());
        let close = async {
            tokio::time::sleep(Duration::from_millis(200)).await;
            closer.call_async::<bool>(()).await
        };
        tokio::join!(wait, close)
    })
    .await
    .expect("wait() blocked close()");
    assert!(closed.unwrap());
    // The wait that was pending sees the exit (SIGTERM) or the close.
    match waited.unwrap() {
        Value::Integer(code) => assert_eq!(code, 128 + 15),
        Value::String(s) => assert!(s.to_string_lossy().contains("closed"), "{s:?}"),
        other => panic!("{other:?}"),
    }
}

/// A state dropped with processes running kills them (Drop stands in for __gc).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_state_kills_its_processes() {
    let lua = harness::shell_state();
    let pid: i64 = lua
        .load(
            r#"
            local shell = assert(require("exec").get("app:shell"))
            local p = assert(shell:exec("sleep 30"))
            assert(p:start())
            keep = p
            return p:pid()
            "#,
        )
        .eval_async()
        .await
        .unwrap();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    drop(lua);
    assert!(
        exec_test_support::procfs::ends_within_async(pid as i32, Duration::from_secs(5)).await,
        "sleep {pid} outlived the Lua state"
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

    /// Whatever a script passes as a command line or a signal, the call returns a
    /// process or an error value; it never raises and never starts anything.
    #[test]
    fn any_command_line_gives_a_process_or_an_error_value(
        command in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
        signal in proptest::num::i64::ANY,
        size in proptest::num::i64::ANY,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _entered = runtime.enter();
        let lua = harness::shell_state();
        lua.globals().set("command", lua.create_string(&command).unwrap()).unwrap();
        lua.globals().set("signal", signal).unwrap();
        lua.globals().set("size", size).unwrap();
        let outcome = lua
            .load(
                r#"
                local shell = require("exec").get("app:shell")
                local proc, err = shell:exec(command, { timeout = 1 })
                if not proc then
                    assert(type(err) == "userdata", type(err))
                    return err:kind()
                end
                assert(proc:pid() == nil, "started")
                local _, serr = proc:signal(signal)
                assert(serr and serr:kind() == errors.INVALID)
                local _, rerr = proc:stdout_stream():read(size)
                assert(rerr:kind() == errors.INVALID)
                assert(proc:close(true))
                return "process"
                "#,
            )
            .eval_async();
        let outcome: String = runtime.block_on(outcome).unwrap();
        proptest::prop_assert!(["process", "Invalid"].contains(&outcome.as_str()), "{}", outcome);
    }
}

/// With the `send` feature a state moves to another task: `tokio::spawn` runs
/// a script (and the process it starts) on any worker thread.
#[cfg(feature = "send")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_send_a_state_runs_on_a_spawned_task() {
    let lua = harness::shell_state();
    let handle = tokio::spawn(async move {
        lua.load(
            r#"
            local p = assert(require("exec").get("app:shell"):exec("echo spawned"))
            local out = p:stdout_stream()
            assert(p:start())
            local text = out:read_all()
            assert(p:wait() == 0)
            return text
            "#,
        )
        .eval_async::<String>()
        .await
    });
    assert_eq!(handle.await.unwrap().unwrap(), "spawned\n");
}

/// A host's policy refuses an acquisition or a command: the script sees
/// PERMISSION_DENIED with the policy's reason, and nothing runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_refusals_are_permission_denied() {
    use exec_core::policy::{CommandRequest, Policy, PolicyDenial};

    #[derive(Debug)]
    struct NoSecretsNoRm;
    impl Policy for NoSecretsNoRm {
        fn check_acquire(&self, id: &str) -> Result<(), PolicyDenial> {
            if id.contains("secret") {
                return Err(PolicyDenial::new("secret executors are off limits"));
            }
            Ok(())
        }
        fn check_command(&self, request: &CommandRequest<'_>) -> Result<(), PolicyDenial> {
            if request.argv().first().is_some_and(|p| p == "rm") {
                return Err(PolicyDenial::new("no rm"));
            }
            Ok(())
        }
    }

    let mut loader = exec_config::Loader::new().with_policy(Arc::new(NoSecretsNoRm));
    loader
        .load_str(
            "- { name: shell, kind: exec.native }\n- { name: secret, kind: exec.native }\n",
            Path::new("policy.yaml"),
            Some("app"),
        )
        .unwrap();
    let lua = exec_lua::new_state(Arc::new(loader.into_registry())).unwrap();
    let seen: Vec<String> = lua
        .load(
            r#"
            local exec = require("exec")
            local secret, err = exec.get("app:secret")
            assert(secret == nil)
            local out = { err:kind(), err:message() }
            local shell = assert(exec.get("app:shell"))
            local rm, err = shell:exec("rm -rf /tmp/x")
            assert(rm == nil)
            out[#out + 1] = err:kind()
            out[#out + 1] = err:message()
            return out
            "#,
        )
        .eval_async()
        .await
        .unwrap();
    assert_eq!(seen[0], "PermissionDenied");
    assert!(
        seen[1].contains("secret executors are off limits"),
        "{}",
        seen[1]
    );
    assert_eq!(seen[2], "PermissionDenied");
    assert!(seen[3].contains("no rm"), "{}", seen[3]);
}

/// Wippy's time examples (wippyai/docs en/lua/core/time.md, "sleep",
/// "after" and "Duration Units"; wippyai/runtime's time spec, "after"),
/// unchanged, in paused time: the seconds they sleep pass at once. The names
/// a page takes as given are defined before each example.
const TIME_EXAMPLES: &str = r#"
local time = require("time")

-- "sleep"
time.sleep("5s")
time.sleep(500 * time.MILLISECOND)

local attempts = 0
local function try_operation() attempts = attempts + 1; return attempts == 3 end

-- Backoff pattern
for attempt = 1, 3 do
    local ok = try_operation()
    if ok then break end
    time.sleep(tostring(attempt) .. "s")
end
assert(attempts == 3)

-- "after"
do
    -- Simple timeout
    local timeout = time.after("5s")
    timeout:receive()  -- blocks for 5 seconds
end

local function make_request() return channel.new() end   -- never answers
local function request()
    -- Timeout with select
    local response_ch = make_request()
    local timeout_ch = time.after("30s")

    local result = channel.select{
        response_ch:case_receive(),
        timeout_ch:case_receive()
    }

    if result.channel == timeout_ch then
        return nil, errors.new({message = "Request timed out", kind = errors.TIMEOUT})
    end
end
local answer, err = request()
assert(answer == nil and err:kind() == errors.TIMEOUT)

-- "Duration Units"
time.sleep(5 * time.SECOND)
local timeout = time.after(30 * time.SECOND)

-- runtime/lua/modules/time/spec.md, "after"
local ch = time.after("10ms")
local fire_time = ch:receive()
assert(fire_time:unix() > 1.7e9, "time.after delivers a Time")

local some_other_channel = channel.new()
-- Use with channel.select
local result = channel.select{
    time.after("5ms"):case_receive(),
    some_other_channel:case_receive()
}
assert(result.channel ~= some_other_channel and result.ok)

-- en/lua/core/channel.md, "Timeout Pattern", when the worker is slow.
local worker = { response = function() return channel.new() end }
local function call()
    local time = require("time")

    local result_ch = worker:response()
    local timeout = time.after("5s")

    local r = channel.select {
        result_ch:case_receive(),
        timeout:case_receive()
    }

    if r.channel == timeout then
        return nil, errors.new("TIMEOUT", "Operation timed out")
    end
    return r.value
end
local value, timed_out = call()
assert(value == nil and timed_out ~= nil)
"#;

#[tokio::test(start_paused = true)]
async fn wippys_time_examples_run_unchanged() {
    let lua = empty_state();
    let started = tokio::time::Instant::now();
    tokio::time::timeout(
        Duration::from_secs(3600),
        lua.load(TIME_EXAMPLES)
            .set_name("=time examples")
            .exec_async(),
    )
    .await
    .expect("the time examples did not end")
    .unwrap();
    // 5 + 0.5 + 1 + 2 + 5 + 30 + 5 + 0.01 + 0.005 + 5 seconds of sleeps and timers.
    let slept = started.elapsed();
    assert!(
        slept >= Duration::from_millis(53_515) && slept < Duration::from_secs(60),
        "{slept:?}"
    );
}

/// A spawned coroutine's error ends it and is raised, with its traceback, by
/// the call that drives it: the main chunk fails, as a Wippy process does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spawned_coroutines_error_fails_the_call_that_drives_it() {
    let lua = empty_state();
    let started = Instant::now();
    let error = tokio::time::timeout(
        Duration::from_secs(10),
        lua.load(
            r#"
            coroutine.spawn(function()
                time.sleep("10ms")
                local settings = nil
                return settings.depth
            end)
            time.sleep("5s")
            error("not reached")
            "#,
        )
        .set_name("=spawner")
        .exec_async(),
    )
    .await
    .expect("the script did not end")
    .unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(
            "a coroutine started by coroutine.spawn failed: spawner:5: attempt to index a nil value (local 'settings')"
        ),
        "{text}"
    );
    assert!(
        text.contains("spawner:5: in function <spawner:2>"),
        "no traceback of the spawned coroutine: {text}"
    );
    assert!(!text.contains("not reached"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "it waited out the sleep"
    );
}

/// When the main chunk ends, spawned coroutines stay where they are (nothing
/// drives them) until another async call into the state runs them, or
/// `stop_spawned` ends them and kills the processes only they held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_coroutines_left_by_the_main_chunk_wait_until_driven_or_stopped() {
    let lua = harness::shell_state();
    let pid: i64 = tokio::time::timeout(
        Duration::from_secs(10),
        lua.load(
            r#"
            local shell = assert(require("exec").get("app:shell"))
            local pids = channel.new(1)
            go = channel.new()
            coroutine.spawn(function()
                go:receive()
                resumed = true
            end)
            coroutine.spawn(function()
                local p = assert(shell:exec("sleep 30"))
                assert(p:start())
                pids:send(p:pid())
                p:wait()                      -- the chunk ends before this returns
                finished = true
            end)
            return pids:receive()
            "#,
        )
        .eval_async(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(exec_test_support::procfs::is_alive(pid as i32));
    // A later async call into the state drives them again.
    tokio::time::timeout(
        Duration::from_secs(10),
        lua.load("go:send(true); time.sleep(0)").exec_async(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(lua.globals().get::<bool>("resumed").unwrap());
    // The other still waits for its process; stopping it kills the process.
    assert!(exec_test_support::procfs::is_alive(pid as i32));
    assert_eq!(exec_lua::stop_spawned(&lua).unwrap(), 1);
    assert!(
        exec_test_support::procfs::ends_within_async(pid as i32, Duration::from_secs(5)).await,
        "sleep {pid} outlived its stopped coroutine"
    );
    assert!(lua.globals().get::<Value>("finished").unwrap().is_nil());
    assert_eq!(exec_lua::stop_spawned(&lua).unwrap(), 0);

    // Dropping the state does the same.
    let lua = harness::shell_state();
    let pid: i64 = tokio::time::timeout(
        Duration::from_secs(10),
        lua.load(
            r#"
            local pids = channel.new(1)
            coroutine.spawn(function()
                local p = assert(require("exec").get("app:shell"):exec("sleep 30"))
                assert(p:start())
                pids:send(p:pid())
                p:wait()
            end)
            return pids:receive()
            "#,
        )
        .eval_async(),
    )
    .await
    .unwrap()
    .unwrap();
    drop(lua);
    assert!(
        exec_test_support::procfs::ends_within_async(pid as i32, Duration::from_secs(5)).await,
        "sleep {pid} outlived the state"
    );
}

/// Spawned coroutines need no `LocalSet`, no `tokio::spawn` and no `send`
/// feature: a current-thread runtime and `exec_async` run them.
#[tokio::test]
async fn spawned_coroutines_run_on_a_current_thread_runtime_with_plain_exec_async() {
    let lua = harness::shell_state();
    let text: String = tokio::time::timeout(
        Duration::from_secs(20),
        lua.load(
            r#"
            local shell = assert(require("exec").get("app:shell"))
            local results = channel.new()
            for i = 1, 4 do
                coroutine.spawn(function()
                    local p = assert(shell:exec({ "sh", "-c", "sleep 0.2; echo " .. i }))
                    local out = p:stdout_stream()
                    assert(p:start())
                    results:send(out:read_all())
                end)
            end
            local all = {}
            for _ = 1, 4 do all[#all + 1] = results:receive() end
            table.sort(all)
            return table.concat(all)
            "#,
        )
        .eval_async(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(text, "1\n2\n3\n4\n");
}

/// An executor that runs native commands but declares no host pid, as Docker
/// and Incus do.
#[derive(Debug)]
struct Elsewhere(Arc<dyn exec_core::Executor>);

impl exec_core::Executor for Elsewhere {
    fn id(&self) -> &str {
        "app:elsewhere"
    }

    fn capabilities(&self) -> exec_core::Capabilities {
        exec_core::Capabilities::new().with_signals(true)
    }

    fn create_process(
        &self,
        command: exec_core::CommandSpec,
        options: exec_core::ExecOptions,
    ) -> exec_core::Result<Box<dyn exec_core::Process>> {
        self.0.create_process(command, options)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pid_is_unavailable_where_the_backend_has_no_host_pid() {
    let native = Registry::from_yaml(
        "- { name: shell, kind: exec.native, default_env: { PATH: /usr/bin:/bin } }",
        Path::new("test.yaml"),
        Some("app"),
    )
    .unwrap();
    let mut registry = native.clone();
    registry
        .insert(
            "app:elsewhere",
            Arc::new(Elsewhere(native.get("app:shell").unwrap())),
        )
        .unwrap();
    let lua = exec_lua::new_state(Arc::new(registry)).unwrap();
    let seen = lua
        .load(
            r#"
            local exec = require("exec")
            local out = {}
            local p = assert(exec.get("app:elsewhere"):exec("sleep 30"))
            for _ = 1, 2 do
                local pid, err = p:pid()
                assert(pid == nil)
                out[#out + 1] = err:kind() .. ": " .. err:message()
                assert(p:start() or true)
            end
            assert(p:close())
            local closed_pid, closed_err = p:pid()
            assert(closed_pid == nil and closed_err:kind() == errors.INVALID)
            local native = assert(exec.get("app:shell"):exec("sleep 30"))
            assert(native:pid() == nil, "before start")
            assert(native:start())
            out[#out + 1] = math.type(native:pid())
            assert(native:close())
            assert(native:pid() == nil, "after close")
            return out
            "#,
        )
        .eval_async();
    let seen: Vec<String> = tokio::time::timeout(Duration::from_secs(10), seen)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.len(), 3);
    assert!(
        seen[0].starts_with("Invalid: ") && seen[0].contains("not started"),
        "before start, as everywhere: {}",
        seen[0]
    );
    assert!(
        seen[1].starts_with("Unavailable: \"sleep 30\" has no process id on this host"),
        "{}",
        seen[1]
    );
    assert_eq!(seen[2], "integer");
}

/// `close()` of a child that ignores SIGTERM returns at once; the grace, the
/// SIGKILL and the reap go on in the background.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_returns_at_once_and_ends_a_child_that_ignores_sigterm_later() {
    let lua = harness::shell_state();
    let pid = lua
        .load(
            r#"
            local shell = assert(require("exec").get("app:shell"))
            stubborn = assert(shell:exec({ "sh", "-c", "trap '' TERM; echo ready; exec sleep 30" }))
            local out = stubborn:stdout_stream()
            assert(stubborn:start())
            assert(out:read() == "ready\n")
            return stubborn:pid()
            "#,
        )
        .eval_async();
    let pid: i64 = tokio::time::timeout(Duration::from_secs(10), pid)
        .await
        .unwrap()
        .unwrap();
    let started = Instant::now();
    let closed: bool = tokio::time::timeout(
        Duration::from_secs(10),
        lua.load("return stubborn:close()").eval_async(),
    )
    .await
    .unwrap()
    .unwrap();
    let took = started.elapsed();
    assert!(closed);
    assert!(took < Duration::from_millis(500), "close() took {took:?}");
    assert!(
        exec_test_support::procfs::is_alive(pid as i32),
        "SIGTERM is ignored: the child lives through the grace"
    );
    let after: String = tokio::time::timeout(
        Duration::from_secs(10),
        lua.load("local code, err = stubborn:wait(); return err:kind() .. ' ' .. err:message()")
            .eval_async(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(
        after.starts_with("Invalid ") && after.contains("process closed"),
        "{after}"
    );
    assert!(
        exec_test_support::procfs::ends_within_async(pid as i32, Duration::from_secs(10)).await,
        "the child {pid} outlived the background close"
    );
}

/// An attacker's other routes to what the sandbox removed: the library tables
/// through `package.loaded` and `require`, the string metatable, a file
/// handle's methods. Each reaches the sandboxed function or nothing.
#[test]
fn no_other_route_reaches_a_removed_function() {
    let lua = empty_state();
    let found: Vec<String> = lua
        .load(
            r#"
            local out = {}
            local function note(name, ok) out[#out + 1] = name .. "=" .. tostring(ok) end
            local opened, message = package.loaded.io.open("/proc/self/mem", "r+b")
            note("package.loaded.io.open refuses", opened == nil and message:find("file access is off", 1, true) ~= nil)
            note("require('io') is the sandboxed io", require("io").open == io.open)
            note("require('os').execute is gone", require("os").execute == nil)
            note("require('os').getenv refuses", not pcall(require("os").getenv, "HOME"))
            note("package.loaded.debug is gone", package.loaded.debug == nil)
            note("require('debug') fails", not pcall(require, "debug"))
            note("require('ffi') fails", not pcall(require, "ffi"))
            note("the string metatable has no dump", getmetatable("").__index.dump == nil)
            local handle = getmetatable(io.stdout).__index
            note("a file handle cannot open", handle.open == nil and handle.popen == nil)
            note("io.input with a table refuses", not pcall(io.input, setmetatable({}, {})))
            note("package.loadlib is gone", package.loadlib == nil and package.loaded.package.loadlib == nil)
            return out
            "#,
        )
        .eval()
        .unwrap();
    let failed: Vec<&String> = found.iter().filter(|f| !f.ends_with("=true")).collect();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(found.len(), 11);
}
