//! Runs the Lua scripts of `tests/scripts/` against a registry, so that every
//! backend runs the same scripts: a backend's test file builds its registry
//! (with the ids the scripts use: `app:shell`, `app:exec`, `app:restricted`,
//! `app:legacy`) and lists the scripts with [`lua_scripts!`].

use exec_lua::Registry;
use exec_lua::mlua::{Lua, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long a script may run before its test fails.
pub(crate) const SCRIPT_LIMIT: Duration = Duration::from_secs(120);

/// Runs `tests/scripts/<name>` on a fresh state over `registry`, with the
/// global `HOST_PID` telling the script whether `app:exec`'s backend has host
/// pids (where it has none, `pid()` is `nil, err`), then stops
/// the coroutines it spawned and left (as a host does when the main chunk
/// ends); the Lua error (assertion message and location) on failure.
pub(crate) async fn run_script(registry: Arc<Registry>, name: &str) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name);
    let source = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let host_pid = registry
        .get("app:exec")
        .map_err(|e| e.to_string())?
        .capabilities()
        .host_pid;
    let lua = exec_lua::new_state(registry).map_err(|e| e.to_string())?;
    lua.globals()
        .set("HOST_PID", host_pid)
        .map_err(|e| e.to_string())?;
    let ran = tokio::time::timeout(
        SCRIPT_LIMIT,
        run_in(&lua, &source, &format!("@tests/scripts/{name}")),
    )
    .await
    .map_err(|_| format!("{name} did not end within {SCRIPT_LIMIT:?}"))?;
    exec_lua::stop_spawned(&lua).map_err(|e| e.to_string())?;
    ran
}

/// Runs `source` on `lua`. A script may end with `return nil, err` (the Wippy
/// docs' style): a returned error fails the test too.
pub(crate) async fn run_in(lua: &Lua, source: &str, name: &str) -> Result<(), String> {
    let results: exec_lua::mlua::MultiValue = lua
        .load(source)
        .set_name(name)
        .eval_async()
        .await
        .map_err(|e| e.to_string())?;
    match results.get(1) {
        None | Some(Value::Nil) => Ok(()),
        Some(err) => Err(format!("{name} returned an error: {err:?}")),
    }
}

/// One `#[tokio::test]` per script: `lua_scripts!(registry_expr; test_name => "file.lua", …)`.
/// `registry_expr` is evaluated per test and gives `(Arc<Registry>, guard)`;
/// the guard (a temp dir, a container) lives as long as the test. With
/// `lua_scripts!(optional registry_expr; …)` it gives an `Option` of that,
/// and `None` (a daemon that is not there) skips the test.
#[macro_export]
macro_rules! lua_scripts {
    (optional $registry:expr; $($name:ident => $file:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let ::std::option::Option::Some((registry, _guard)) = $registry else {
                    return;
                };
                if let Err(e) = harness::run_script(registry, $file).await {
                    panic!("{e}");
                }
            }
        )*
    };
    ($registry:expr; $($name:ident => $file:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let (registry, _guard) = $registry;
                if let Err(e) = harness::run_script(registry, $file).await {
                    panic!("{e}");
                }
            }
        )*
    };
}
