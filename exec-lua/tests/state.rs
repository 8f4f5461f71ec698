//! The Lua state `new_state` prepares: the sandbox (each removed function is
//! absent, no C modules, no bytecode) and concurrency (a pending `wait()`
//! blocks neither `signal()`/`close()` nor stream reads in another call).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_lua::Registry;
use exec_lua::mlua::{Function, Lua, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn empty_state() -> Lua {
    exec_lua::new_state(Arc::new(Registry::new())).unwrap()
}

fn shell_state() -> Lua {
    let registry = Registry::from_yaml(
        "- { name: shell, kind: exec.native, default_env: { PATH: /usr/bin:/bin } }",
        Path::new("test.yaml"),
        Some("app"),
    )
    .unwrap();
    exec_lua::new_state(Arc::new(registry)).unwrap()
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
        "io.open",
        "io.write",
        "os.time",
        "os.getenv",
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
    let lua = empty_state();
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
    let lua = empty_state();
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

/// Two async calls into one state, run at once, as two coroutines of a
/// script host would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_wait_blocks_neither_signal_nor_close_nor_reads() {
    let lua = shell_state();
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
    let lua = shell_state();
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
        let lua = shell_state();
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
        proptest::prop_assert!(["process", "INVALID"].contains(&outcome.as_str()), "{}", outcome);
    }
}

/// With the `send` feature a state moves to another task: `tokio::spawn` runs
/// a script (and the process it starts) on any worker thread.
#[cfg(feature = "send")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_send_a_state_runs_on_a_spawned_task() {
    let lua = shell_state();
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
    assert_eq!(seen[0], "PERMISSION_DENIED");
    assert!(
        seen[1].contains("secret executors are off limits"),
        "{}",
        seen[1]
    );
    assert_eq!(seen[2], "PERMISSION_DENIED");
    assert!(seen[3].contains("no rm"), "{}", seen[3]);
}
