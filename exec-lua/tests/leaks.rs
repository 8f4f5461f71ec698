//! Many processes through the Lua module, closed, killed, timed out or just
//! dropped by the script and collected: no zombie, no orphan, no open fd.
//! (Its own test binary: fd counts are per process.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_lua::Registry;
use exec_test_support::procfs::{is_alive, open_fds, zombie_children};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SCRIPT: &str = r#"
local shell = assert(require("exec").get("app:shell"))
local sleepers = {}
for i = 1, ROUNDS do
    -- run to the end, output read
    local p = assert(shell:exec("echo " .. i))
    local out = p:stdout_stream()
    assert(p:start())
    assert(out:read_all() == i .. "\n")
    assert(p:wait() == 0)

    -- a leader that exits leaving a background child, then closed
    local q = assert(shell:exec("/bin/sh -c 'sleep 30 & exit 3'"))
    assert(q:start())
    assert(q:wait() == 3)
    assert(q:close())

    -- killed while running, its streams half read
    local r = assert(shell:exec("/bin/sh -c 'echo x; exec sleep 30'"))
    local rout = r:stdout_stream()
    assert(r:start())
    assert(rout:read() == "x\n")
    assert(r:close(true))
    rout:close()

    -- timed out
    local t = assert(shell:exec("sleep 30", { timeout = 0.01 }))
    assert(t:start())
    assert(select(2, t:wait()):kind() == errors.TIMEOUT)

    -- started and forgotten: the collector's Drop kills it
    local s = assert(shell:exec("sleep 30"))
    assert(s:start())
    sleepers[#sleepers + 1] = s:pid()

    -- created, never started, forgotten
    assert(shell:exec("sleep 30"))
end
collectgarbage("collect")
collectgarbage("collect")
return sleepers
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_dropped_or_closed_by_scripts_leave_nothing_behind() {
    let registry = Registry::from_yaml(
        "- { name: shell, kind: exec.native, default_env: { PATH: /usr/bin:/bin } }",
        Path::new("leaks.yaml"),
        Some("app"),
    )
    .unwrap();
    let registry = Arc::new(registry);
    // A first state and round so lazily opened fds (runtime, signal pipe) exist
    // before counting.
    let warm = exec_lua::new_state(registry.clone()).unwrap();
    warm.load(SCRIPT.replace("ROUNDS", "1"))
        .exec_async()
        .await
        .unwrap();
    drop(warm);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let fds_before = open_fds();

    let rounds = 100;
    let started = Instant::now();
    let lua = exec_lua::new_state(registry).unwrap();
    let sleepers: Vec<u32> = lua
        .load(SCRIPT.replace("ROUNDS", &rounds.to_string()))
        .eval_async()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert_eq!(sleepers.len(), rounds);

    // The forgotten sleepers were collected while the state lives.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let alive: Vec<u32> = sleepers
            .iter()
            .copied()
            .filter(|pid| is_alive(*pid as i32))
            .collect();
        let zombies = zombie_children();
        let fds = open_fds();
        if alive.is_empty() && zombies.is_empty() && fds <= fds_before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after {rounds} rounds: {} forgotten sleepers alive, zombies {zombies:?}, \
             {fds} fds open against {fds_before} before",
            alive.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(lua);
    println!(
        "{rounds} rounds of 6 processes in {elapsed:.1?}: 0 zombies, {} fds before and after",
        fds_before
    );
}
