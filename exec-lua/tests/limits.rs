//! What a script can consume, through the library: the scheduler's scale
//! (many coroutines, many channel operations), the memory limit and the
//! deadline of `StateOptions`, a `Stopper` that `pcall`, `xpcall` and
//! `coroutine.resume` cannot hold off, and `max_running` from a config.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_lua::{Registry, StateOptions};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn state() -> mlua::Lua {
    exec_lua::new_state(Arc::new(Registry::new())).unwrap()
}

/// A debug build runs Lua and the scheduler some five times slower.
const SLOWER: u32 = if cfg!(debug_assertions) { 5 } else { 1 };

/// Runs `n` coroutines that each sleep 1 s while the main flow sleeps 1.5 s;
/// how long it took.
fn sleepers(n: u32) -> Duration {
    let lua = state();
    let started = Instant::now();
    runtime().block_on(async {
        lua.load(format!(
            "local done = 0
             for i = 1, {n} do coroutine.spawn(function() time.sleep('1s'); done = done + 1 end) end
             time.sleep('1.5s')
             assert(done == {n}, done)"
        ))
        .exec_async()
        .await
        .unwrap();
    });
    started.elapsed()
}

#[test]
fn a_hundred_thousand_sleeping_coroutines_finish_in_under_3_seconds() {
    for n in [1_000, 10_000, 100_000] {
        let took = sleepers(n);
        println!("{n} coroutines sleeping 1 s, main flow 1.5 s: {took:?}");
        assert!(took < Duration::from_secs(3) * SLOWER, "{n}: {took:?}");
    }
}

#[test]
fn ten_thousand_coroutines_ping_pong_a_hundred_times_in_seconds() {
    let pairs = if cfg!(debug_assertions) {
        1_000
    } else {
        10_000
    };
    let lua = state();
    let started = Instant::now();
    runtime().block_on(async {
        lua.load(format!(
            "local done = channel.new({pairs})
             for i = 1, {pairs} do
                 local a, b = channel.new(), channel.new()
                 coroutine.spawn(function() for k = 1, 100 do b:send(a:receive()) end end)
                 coroutine.spawn(function()
                     for k = 1, 100 do a:send(k); assert(b:receive() == k) end
                     done:send(true)
                 end)
             end
             for i = 1, {pairs} do done:receive() end"
        ))
        .exec_async()
        .await
        .unwrap();
    });
    let took = started.elapsed();
    println!("{pairs} pairs x 100 round trips: {took:?}");
    assert!(took < Duration::from_secs(10), "{took:?}");
}

#[test]
fn memory_per_idle_coroutine_is_a_few_kilobytes() {
    let lua = state();
    runtime().block_on(async {
        lua.gc_collect().unwrap();
        let before = lua.used_memory();
        lua.load(
            "idle = channel.new()
             for i = 1, 10000 do coroutine.spawn(function() idle:receive() end) end",
        )
        .exec_async()
        .await
        .unwrap();
        lua.gc_collect().unwrap();
        let per = (lua.used_memory() - before) / 10_000;
        println!("Lua memory per idle coroutine: {per} bytes");
        assert!(per < 4096, "{per}");
        assert_eq!(exec_lua::stop_spawned(&lua).unwrap(), 10_000);
    });
}

#[test]
fn the_memory_limit_of_state_options_is_a_catchable_error_and_the_state_goes_on() {
    let lua = exec_lua::new_state_with(
        Arc::new(Registry::new()),
        StateOptions::new().with_memory_limit(Some(16 << 20)),
    )
    .unwrap();
    let (ok, message): (bool, String) = lua
        .load(
            "local ok, err = pcall(function()
                 local t = {}
                 for i = 1, 100 do t[i] = string.rep('x', 2^20) .. i end
             end)
             return ok, tostring(err)",
        )
        .eval()
        .unwrap();
    assert!(!ok);
    assert!(message.contains("not enough memory"), "{message}");
    lua.gc_collect().unwrap();
    let after: i64 = lua.load("return 40 + 2").eval().unwrap();
    assert_eq!(after, 42);
}

#[test]
fn a_stop_cannot_be_caught_by_pcall_xpcall_or_coroutine_resume() {
    for script in [
        "while true do pcall(function() while true do end end) end",
        // A message handler that loops would run with hooks off.
        "while true do xpcall(function() while true do end end, function(e) while true do end end) end",
        "while true do coroutine.resume(coroutine.create(function() while true do end end)) end",
        "local ch = channel.new(); coroutine.spawn(function() while true do end end); ch:receive()",
        "while true do pcall(time.sleep, '10s') end",
    ] {
        let lua = state();
        let stopper = exec_lua::stopper(&lua).unwrap();
        let stopping = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            stopper.stop("enough");
        });
        let started = Instant::now();
        let error = runtime()
            .block_on(lua.load(script).exec_async())
            .unwrap_err();
        stopping.join().unwrap();
        assert!(
            error.to_string().contains("the script was stopped: enough"),
            "{script}: {error}"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{script}");
        assert_eq!(
            exec_lua::stopper(&lua).unwrap().reason(),
            Some(exec_lua::StopReason::Stopped("enough".into()))
        );
    }
}

#[test]
fn the_deadline_of_state_options_stops_a_busy_and_a_waiting_script() {
    for script in ["while true do end", "time.sleep('60s')"] {
        let lua = exec_lua::new_state_with(
            Arc::new(Registry::new()),
            StateOptions::new().with_deadline(Some(Instant::now() + Duration::from_millis(200))),
        )
        .unwrap();
        let started = Instant::now();
        let error = runtime()
            .block_on(lua.load(script).exec_async())
            .unwrap_err();
        assert!(
            error.to_string().contains("its deadline passed"),
            "{script}: {error}"
        );
        assert!(started.elapsed() < Duration::from_secs(2), "{script}");
        assert_eq!(
            exec_lua::stopper(&lua).unwrap().reason(),
            Some(exec_lua::StopReason::Deadline)
        );
    }
}

#[cfg(feature = "native")]
#[test]
fn max_running_from_a_config_bounds_an_executors_processes() {
    let registry = Registry::from_yaml(
        "- { name: two, kind: exec.native, max_running: 2, default_env: { PATH: /usr/bin:/bin } }",
        std::path::Path::new("limits.yaml"),
        Some("app"),
    )
    .unwrap();
    let lua = exec_lua::new_state(Arc::new(registry)).unwrap();
    let seen: String = runtime().block_on(async {
        lua.load(
            r#"local two = assert(require("exec").get("app:two"))
               local a, b, c = two:exec("sleep 0.3"), two:exec("sleep 0.3"), two:exec("true")
               assert(a:start()); assert(b:start())
               local ok, err = c:start()
               local seen = tostring(ok) .. " " .. err:kind() .. " " .. tostring(err)
               assert(a:wait() == 0)
               assert(c:start()); assert(c:wait() == 0)
               b:close(true)
               return seen"#,
        )
        .eval_async()
        .await
        .unwrap()
    });
    assert_eq!(
        seen,
        "nil Unavailable too many processes: executor \"app:two\" (max_running) allows 2 running at once"
    );
}
