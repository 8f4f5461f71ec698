//! Runs the Lua scripts of `tests/scripts/` against a registry, so that every
//! backend runs the same scripts: a backend's test file builds its registry
//! (with the ids the scripts use: `app:shell`, `app:exec`, `app:restricted`,
//! `app:legacy`) and lists the scripts with [`lua_scripts!`].

use exec_lua::Registry;
use exec_lua::mlua::{Lua, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// The files the Wippy examples call, which every backend puts in its
/// executors' default work dir (see [`write_work_files`]).
pub(crate) const WORK_FILES: &[(&str, &str, bool)] = &[
    (
        "build.sh",
        "#!/bin/sh\necho building\nif [ \"$1\" = fail ]; then exit 2; fi\n",
        true,
    ),
    (
        "process-data.sh",
        "#!/bin/sh\necho 'data line 1'\necho 'data line 2'\necho 'warning: something' >&2\n\
         if [ \"$1\" = fail ]; then echo failed >&2; exit 1; fi\n",
        true,
    ),
    (
        "deploy.sh",
        "#!/bin/sh\necho \"deploying $1 to $DEPLOY_ENV\"\n",
        true,
    ),
    ("long-running-server.sh", "#!/bin/sh\nexec sleep 60\n", true),
    (
        "notes.txt",
        "hello world, from notes.txt\nsomething else\n",
        false,
    ),
    ("a.log", "", false),
    ("b.log", "", false),
];

/// Writes [`WORK_FILES`] into `dir` (the scripts executable, the rest
/// readable by all: a container may run them as another user).
pub(crate) fn write_work_files(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for (name, content, executable) in WORK_FILES {
        let path = dir.join(name);
        std::fs::write(&path, content).expect("write a work file");
        let mode = if *executable { 0o755 } else { 0o644 };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .expect("set a work file's mode");
    }
}

/// How long a script may run before its test fails.
pub(crate) const SCRIPT_LIMIT: Duration = Duration::from_secs(120);

/// Runs `tests/scripts/<name>` on a fresh state over `registry`, then stops
/// the coroutines it spawned and left (as a host does when the main chunk
/// ends); the Lua error (assertion message and location) on failure.
pub(crate) async fn run_script(
    registry: Arc<Registry>,
    backend: &str,
    name: &str,
) -> Result<(), String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scripts")
        .join(name);
    let source = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let lua = exec_lua::new_state(registry).map_err(|e| e.to_string())?;
    // Where a backend differs by design (Docker has no host pid, creates a
    // missing work dir), a script asks which one it runs on.
    lua.globals()
        .set("TEST_BACKEND", backend)
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

/// One `#[tokio::test]` per script: `lua_scripts!(registry_expr, "backend"; test_name => "file.lua", …)`;
/// scripts see the backend's name as the global `TEST_BACKEND`.
/// `registry_expr` is evaluated per test and gives `Some((Arc<Registry>,
/// guard))`, or `None` when the backend's daemon is missing and the test is
/// skipped (see `daemon_or_skip`); the guard (a temp dir, a container) lives
/// as long as the test.
#[macro_export]
macro_rules! lua_scripts {
    ($registry:expr, $backend:literal; $($name:ident => $file:literal),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let ::std::option::Option::Some((registry, _guard)) = $registry else {
                    return;
                };
                if let Err(e) = harness::run_script(registry, $backend, $file).await {
                    panic!("{e}");
                }
            }
        )*
    };
}
