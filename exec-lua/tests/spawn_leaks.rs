//! Many coroutines started with `coroutine.spawn`, each running a process
//! (waiting for its exit, reading its output, selecting over its `done()` and
//! a timer with a scanner open), and a script that ends while they all still
//! wait: once the host stops them (`stop_spawned`), or drops the state,
//! no process is left, no zombie, no fd. (Its own test binary: fd counts are
//! per process.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_lua::Registry;
use exec_test_support::procfs::{is_alive, open_fds, zombie_children};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCRIPT: &str = r#"
local shell = assert(require("exec").get("app:shell"))
local started = channel.new(ROUNDS * 3)
for i = 1, ROUNDS do
    -- waits for a process that runs on
    coroutine.spawn(function()
        local p = assert(shell:exec("sleep 30"))
        assert(p:start())
        started:send(p:pid())
        p:wait()
    end)
    -- reads a stream that does not end
    coroutine.spawn(function()
        local p = assert(shell:exec("/bin/sh -c 'echo x; exec sleep 30'"))
        local out = p:stdout_stream()
        assert(p:start())
        started:send(p:pid())
        while out:read() do end
    end)
    -- selects over the exit and a timer, a scanner open on stderr
    coroutine.spawn(function()
        local p = assert(shell:exec("sleep 30"))
        local lines = p:stderr_stream():scanner()
        assert(p:start())
        started:send(p:pid())
        channel.select{ p:done():case_receive(), time.after("60s"):case_receive() }
        lines:scan()
    end)
end
local pids = {}
for i = 1, ROUNDS * 3 do pids[i] = started:receive() end
return pids   -- the script ends here: every coroutine still waits
"#;

fn registry() -> Arc<Registry> {
    let registry = Registry::from_yaml(
        "- { name: shell, kind: exec.native, default_env: { PATH: /usr/bin:/bin } }",
        Path::new("spawn_leaks.yaml"),
        Some("app"),
    )
    .unwrap();
    Arc::new(registry)
}

async fn run(lua: &exec_lua::mlua::Lua, rounds: usize) -> Vec<u32> {
    tokio::time::timeout(
        Duration::from_secs(60),
        lua.load(SCRIPT.replace("ROUNDS", &rounds.to_string()))
            .eval_async(),
    )
    .await
    .expect("the script did not end")
    .unwrap()
}

/// Waits until none of `pids` lives, no child is a zombie and no more fds
/// are open than `fds_before`.
async fn nothing_left(pids: &[u32], fds_before: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let alive = pids.iter().filter(|pid| is_alive(**pid as i32)).count();
        let zombies = zombie_children();
        let fds = open_fds();
        if alive == 0 && zombies.is_empty() && fds <= fds_before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {alive} of {} processes alive, zombies {zombies:?}, \
             {fds} fds open against {fds_before} before",
            pids.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawned_coroutines_left_waiting_by_the_script_leave_nothing_behind() {
    let registry = registry();
    // A first round so lazily opened fds (runtime, signal pipe) exist before
    // counting.
    let warm = exec_lua::new_state(registry.clone()).unwrap();
    let pids = run(&warm, 1).await;
    exec_lua::stop_spawned(&warm).unwrap();
    drop(warm);
    nothing_left(&pids, usize::MAX, "warm-up").await;
    let fds_before = open_fds();

    let rounds = 20;
    // Stopped by the host, the state living on.
    let lua = exec_lua::new_state(registry.clone()).unwrap();
    let pids = run(&lua, rounds).await;
    assert_eq!(pids.len(), rounds * 3);
    assert!(pids.iter().all(|pid| is_alive(*pid as i32)));
    assert_eq!(exec_lua::stop_spawned(&lua).unwrap(), rounds * 3);
    nothing_left(&pids, fds_before, "stop_spawned").await;
    drop(lua);

    // The state dropped with them.
    let lua = exec_lua::new_state(registry).unwrap();
    let pids = run(&lua, rounds).await;
    assert!(pids.iter().all(|pid| is_alive(*pid as i32)));
    drop(lua);
    nothing_left(&pids, fds_before, "dropped state").await;
    println!(
        "{} spawned coroutines with processes, twice: 0 left, {fds_before} fds before and after",
        rounds * 3
    );
}
