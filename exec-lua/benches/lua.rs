//! The Lua `exec` module beside its baselines, in one run (release;
//! `cargo xtask bench`): whole `exec-lua` runs against the same script under
//! Python's `subprocess` (what a user would write instead); in-process,
//! spawning against exec-native's Rust API (what the Lua layer costs), and
//! reading 1 GiB of stdout against `std::process::Command`.
//!
//! Each figure alternates the two sides run by run (so machine noise hits both
//! alike) and prints the medians and their ratio, with the goal of issue 7.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exec_lua::Registry;
use exec_lua::mlua::Function;
use exec_test_support::bench::{
    Goal, bytes, figure, header, runs, single_figure, size_figure, std_baseline, throughput_figure,
};
use exec_test_support::procfs::{peak_rss, reset_peak_rss};
use std::path::Path;
use std::sync::Arc;

const GIB: u64 = 1024 * 1024 * 1024;

async fn rust_true(registry: &Registry) {
    let shell = registry.get("app:shell").unwrap();
    let process = shell
        .create_process("true".into(), exec_core::ExecOptions::new())
        .unwrap();
    process.start().await.unwrap();
    assert!(process.wait().await.unwrap().success());
}

async fn lua_call(function: &Function) {
    function.call_async::<()>(()).await.unwrap();
}

async fn std_gib() {
    let size = bytes(GIB);
    assert_eq!(std_baseline::read_stdout(size).await, size);
}

/// The same work as a whole `exec-lua` run and a whole Python run: the
/// runner's time against the interpreter a user would reach for.
async fn lua_against_python(name: &str, goal: Goal, runs: usize, lua: &str, python: &str) {
    let dir = std::env::temp_dir().join(format!("exec-lua-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (lua_file, python_file) = (dir.join("bench.lua"), dir.join("bench.py"));
    std::fs::write(&lua_file, lua).unwrap();
    std::fs::write(&python_file, python).unwrap();
    let Some(python3) = std_baseline::python() else {
        single_figure(name, "python3 missing", 0.0, Goal::Reference("no baseline"));
        return;
    };
    let runner = std::path::PathBuf::from(env!("CARGO_BIN_EXE_exec-lua"));
    let lua_args = vec![lua_file.display().to_string()];
    let python_args = vec![python_file.display().to_string()];
    figure(
        name,
        goal,
        runs,
        || std_baseline::run_process(runner.clone(), lua_args.clone()),
        || std_baseline::run_process(python3.clone(), python_args.clone()),
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let size = bytes(GIB);
    let spawns = runs(500);
    println!(
        "medians; whole exec-lua runs against the same work in Python 3's subprocess; \
         in-process against exec-native's Rust API and std::process::Command"
    );
    header("exec-lua");
    lua_against_python(
        &format!("{spawns} spawns of /bin/true: exec-lua vs Python subprocess.run"),
        Goal::AtMostTime(0.8),
        runs(7),
        &format!(
            "local shell = require('exec').get('app:shell')\n\
             for _ = 1, {spawns} do\n  local p = shell:exec({{'/bin/true'}})\n  \
             assert(p:start())\n  assert(p:wait() == 0)\nend\n"
        ),
        &format!(
            "import subprocess\nfor _ in range({spawns}):\n    \
             assert subprocess.run(['/bin/true']).returncode == 0\n"
        ),
    )
    .await;
    lua_against_python(
        "1 GiB stdout in 64 KiB reads: exec-lua vs Python",
        Goal::AtMostTime(1.0),
        runs(7),
        &format!(
            "local shell = require('exec').get('app:shell')\n\
             local p = shell:exec('head -c {size} /dev/zero')\n\
             local out = p:stdout_stream()\nassert(p:start())\nlocal total = 0\n\
             while true do\n  local chunk = out:read(65536)\n  if not chunk then break end\n  \
             total = total + #chunk\nend\nassert(total == {size})\nassert(p:wait() == 0)\n"
        ),
        &format!(
            "import os, subprocess\n\
             p = subprocess.Popen(['head', '-c', '{size}', '/dev/zero'], stdout=subprocess.PIPE)\n\
             total = 0\nfd = p.stdout.fileno()\nwhile True:\n    chunk = os.read(fd, 65536)\n    \
             if not chunk:\n        break\n    total += len(chunk)\n\
             assert total == {size}\nassert p.wait() == 0\n"
        ),
    )
    .await;

    let yaml = "- { name: shell, kind: exec.native, default_env: { PATH: /usr/bin:/bin } }";
    let registry =
        Arc::new(Registry::from_yaml(yaml, Path::new("bench.yaml"), Some("app")).unwrap());
    // `read_all` of 1 GiB holds the whole GiB in one Lua string: past the
    // default memory limit (1 GiB), which a script reading that much lifts.
    let lua = exec_lua::new_state_with(
        registry.clone(),
        exec_lua::StateOptions::new().with_memory_limit(None),
    )
    .unwrap();
    let lua_true: Function = lua
        .load(
            r#"local shell = require("exec").get("app:shell")
               local p = shell:exec("true")
               assert(p:start())
               assert(p:wait() == 0)"#,
        )
        .into_function()
        .unwrap();
    let lua_read_loop: Function = lua
        .load(format!(
            r#"local shell = require("exec").get("app:shell")
               local p = shell:exec("head -c {size} /dev/zero")
               local out = p:stdout_stream()
               assert(p:start())
               local total = 0
               while true do
                   local chunk = out:read(65536)
                   if not chunk then break end
                   total = total + #chunk
               end
               assert(total == {size})
               assert(p:wait() == 0)"#
        ))
        .into_function()
        .unwrap();
    let lua_read_all: Function = lua
        .load(format!(
            r#"local shell = require("exec").get("app:shell")
               local p = shell:exec("head -c {size} /dev/zero")
               local out = p:stdout_stream()
               assert(p:start())
               assert(#out:read_all() == {size})
               assert(p:wait() == 0)
               collectgarbage()"#
        ))
        .into_function()
        .unwrap();
    figure(
        "exec + start + wait `true` vs Rust API (300 runs)",
        Goal::Reference("Lua layer cost"),
        runs(300),
        || lua_call(&lua_true),
        || rust_true(&registry),
    )
    .await;
    throughput_figure(
        "1 GiB stdout, Lua read(65536) loop vs std on a thread (7 runs)",
        Goal::AtLeastThroughput(0.8),
        size,
        runs(7),
        || lua_call(&lua_read_loop),
        std_gib,
    )
    .await;
    throughput_figure(
        "1 GiB stdout, Lua read_all vs std read_to_end (5 runs)",
        Goal::AtLeastThroughput(0.9),
        size,
        runs(5),
        || lua_call(&lua_read_all),
        || async {
            assert_eq!(std_baseline::read_stdout_to_end(size).await, size);
        },
    )
    .await;
    lua.gc_collect().unwrap();
    reset_peak_rss();
    lua_call(&lua_read_loop).await;
    let peak = peak_rss().unwrap_or(0);
    size_figure(
        "peak RSS, 1 GiB Lua read(65536) loop",
        peak as f64 / 1048576.0,
        Goal::Below(64.0),
    );
}
