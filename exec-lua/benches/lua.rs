//! The Lua `exec` module beside its baselines, in one run (release;
//! `cargo xtask bench`): spawning against the same work through exec-native's
//! Rust API (what the Lua layer costs), and reading 1 GiB of stdout against
//! `std::process::Command` with blocking 64 KiB reads on a thread.
//!
//! Each figure alternates the two sides run by run (so machine noise hits both
//! alike) and prints the medians and their ratio, with the goal of issue 7.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exec_lua::Registry;
use exec_lua::mlua::Function;
use exec_test_support::bench::{figure, header, single_figure, std_baseline, throughput_figure};
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
    assert_eq!(std_baseline::read_stdout(GIB).await, GIB);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let yaml = "- { name: shell, kind: exec.native, default_env: { PATH: /usr/bin:/bin } }";
    let registry =
        Arc::new(Registry::from_yaml(yaml, Path::new("bench.yaml"), Some("app")).unwrap());
    let lua = exec_lua::new_state(registry.clone()).unwrap();
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
               local p = shell:exec("head -c {GIB} /dev/zero")
               local out = p:stdout_stream()
               assert(p:start())
               local total = 0
               while true do
                   local chunk = out:read(65536)
                   if not chunk then break end
                   total = total + #chunk
               end
               assert(total == {GIB})
               assert(p:wait() == 0)"#
        ))
        .into_function()
        .unwrap();
    let lua_read_all: Function = lua
        .load(format!(
            r#"local shell = require("exec").get("app:shell")
               local p = shell:exec("head -c {GIB} /dev/zero")
               local out = p:stdout_stream()
               assert(p:start())
               assert(#out:read_all() == {GIB})
               assert(p:wait() == 0)
               collectgarbage()"#
        ))
        .into_function()
        .unwrap();
    println!("medians; ratio = exec-lua / baseline (time) or exec-lua / baseline (throughput)");
    header("exec-lua");
    figure(
        "exec + start + wait `true` vs Rust API (300 runs)",
        "(Lua layer cost)",
        300,
        || lua_call(&lua_true),
        || rust_true(&registry),
    )
    .await;
    throughput_figure(
        "1 GiB stdout, Lua read(65536) loop vs std (7 runs)",
        ">= 0.8x throughput",
        GIB,
        7,
        || lua_call(&lua_read_loop),
        std_gib,
    )
    .await;
    throughput_figure(
        "1 GiB stdout, Lua read_all vs std (5 runs)",
        ">= 0.6x throughput",
        GIB,
        5,
        || lua_call(&lua_read_all),
        std_gib,
    )
    .await;
    throughput_figure(
        "(floor) 1 GiB into one Vec, std read_to_end vs std (5 runs)",
        "(reference)",
        GIB,
        5,
        || async {
            assert_eq!(std_baseline::read_stdout_to_end(GIB).await, GIB);
        },
        std_gib,
    )
    .await;
    lua.gc_collect().unwrap();
    reset_peak_rss();
    lua_call(&lua_read_loop).await;
    let peak = peak_rss().unwrap_or(0);
    single_figure(
        "peak RSS, 1 GiB Lua read(65536) loop",
        &format!("{:.1} MiB", peak as f64 / 1048576.0),
        "< 64 MiB",
    );
}
