//! The Lua `exec` module beside its baseline, the same work through
//! exec-native's Rust API, in one run: what the Lua layer costs.
//!
//! Each figure alternates the two sides run by run (so machine noise hits both
//! alike) and prints the medians and their ratio. Run with `cargo xtask bench`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use exec_core::conformance::bench::{figure, header};

use exec_lua::Registry;
use exec_lua::mlua::Function;
use std::sync::Arc;
use tokio::io::AsyncReadExt;

const BIG: usize = 64 * 1024 * 1024;

async fn rust_true(registry: &Registry) {
    let shell = registry.get("app:shell").unwrap();
    let process = shell
        .create_process("true", exec_core::ExecOptions::new())
        .unwrap();
    process.start().await.unwrap();
    assert!(process.wait().await.unwrap().success());
}

async fn rust_big(registry: &Registry) {
    let shell = registry.get("app:shell").unwrap();
    let process = shell
        .create_process(
            &format!("head -c {BIG} /dev/zero"),
            exec_core::ExecOptions::new(),
        )
        .unwrap();
    let mut stdout = process.take_stdout().unwrap();
    process.start().await.unwrap();
    // As the Lua loop does: 64 KiB reads, each chunk a fresh buffer.
    let mut total = 0;
    loop {
        let mut chunk = vec![0u8; 64 * 1024];
        let n = stdout.read(&mut chunk).await.unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert_eq!(total, BIG);
    assert!(process.wait().await.unwrap().success());
}

async fn lua_call(function: &Function) {
    function.call_async::<()>(()).await.unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let yaml = "- { name: shell, kind: exec.native, default_env: { PATH: /usr/bin:/bin } }";
    let registry = Arc::new(Registry::from_yaml(yaml, "bench.yaml", Some("app")).unwrap());
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
    let lua_big: Function = lua
        .load(format!(
            r#"local shell = require("exec").get("app:shell")
               local p = shell:exec("head -c {BIG} /dev/zero")
               local out = p:stdout_stream()
               assert(p:start())
               local total = 0
               while true do
                   local chunk = out:read(65536)
                   if not chunk then break end
                   total = total + #chunk
               end
               assert(total == {BIG})
               assert(p:wait() == 0)"#
        ))
        .into_function()
        .unwrap();
    let lua_read_all: Function = lua
        .load(format!(
            r#"local shell = require("exec").get("app:shell")
               local p = shell:exec("head -c {BIG} /dev/zero")
               local out = p:stdout_stream()
               assert(p:start())
               assert(#out:read_all() == {BIG})
               assert(p:wait() == 0)"#
        ))
        .into_function()
        .unwrap();
    println!("medians; baseline = the same through exec-native's Rust API; ratio = Lua / baseline");
    header("exec-lua");
    figure(
        "exec + start + wait `true` (300 runs)",
        300,
        || lua_call(&lua_true),
        || rust_true(&registry),
    )
    .await;
    figure(
        "64 MiB stdout, read(65536) loop (10 runs)",
        10,
        || lua_call(&lua_big),
        || rust_big(&registry),
    )
    .await;
    figure(
        "64 MiB stdout, read_all (10 runs)",
        10,
        || lua_call(&lua_read_all),
        || rust_big(&registry),
    )
    .await;
}
