//! Runs the Lua scripts of `tests/scripts/` against a registry, so that every
//! backend runs the same scripts: a backend's test file builds its registry
//! (with the ids the scripts use: `app:shell`, `app:exec`, `app:restricted`,
//! `app:legacy`) and lists the scripts with [`lua_scripts!`].

// Each test binary uses a part of it.
#![allow(dead_code)]

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

/// A state over one native executor, `app:shell` (`PATH=/usr/bin:/bin`).
pub(crate) fn shell_state() -> Lua {
    let registry = Registry::from_yaml(
        "- { name: shell, kind: exec.native, default_env: { PATH: /usr/bin:/bin } }",
        Path::new("test.yaml"),
        Some("app"),
    )
    .expect("the test config loads");
    exec_lua::new_state(Arc::new(registry)).expect("a new state")
}

/// How long a script may run before its test fails.
pub(crate) const SCRIPT_LIMIT: Duration = Duration::from_secs(120);

/// Runs `tests/scripts/<name>` on a fresh state over `registry`, with the
/// global `HOST_PID` telling the script whether `app:exec`'s backend has host
/// pids (where it has none, `pid()` is `nil, err`), then stops
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
    let host_pid = registry
        .get("app:exec")
        .map_err(|e| e.to_string())?
        .capabilities()
        .host_pid;
    let lua = exec_lua::new_state(registry).map_err(|e| e.to_string())?;
    // Where a backend differs by design (no host pid, a missing work dir
    // created), a script asks which one it runs on.
    lua.globals()
        .set("TEST_BACKEND", backend)
        .map_err(|e| e.to_string())?;
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

/// One `#[tokio::test]` per script of `tests/scripts/`:
/// `lua_scripts!(registry_expr, "backend");`. Scripts see the backend's name
/// as the global `TEST_BACKEND` (and `HOST_PID`). `registry_expr` is
/// evaluated per test and gives `Some((Arc<Registry>, guard))`, or `None`
/// when the backend's daemon is missing and the test is skipped (see
/// `daemon_or_skip`); the guard (a temp dir, a container) lives as long as
/// the test.
#[macro_export]
macro_rules! lua_scripts {
    ($registry:expr, $backend:literal) => {
        lua_scripts!(@each $registry, $backend;
    wippy_acquire => "wippy_acquire.lua",
    wippy_create_process => "wippy_create_process.lua",
    wippy_command_parsing => "wippy_command_parsing.lua",
    wippy_start_wait => "wippy_start_wait.lua",
    wippy_streams => "wippy_streams.lua",
    wippy_write_stdin => "wippy_write_stdin.lua",
    wippy_signal_close => "wippy_signal_close.lua",
    wippy_system_example => "wippy_system_example.lua",
    wippy_errors => "wippy_errors.lua",
    misuse => "misuse.lua",
    output => "output.lua",
    options => "options.lua",
    env_names_are_utf8_strings_and_values_utf8_text => "env_names.lua",
    an_exec_call_that_waits_in_a_script_coroutine_is_invalid => "coroutines.lua",
    a_command_may_be_a_list_of_words => "words.lua",
    a_whitelisted_executor_confines_env_and_work_dir => "confinement.lua",
    wippy_channel_and_spawn_examples => "wippy_channels.lua",
    spawned_coroutines_drain_both_streams_and_select_over_exit_and_timer => "concurrency.lua",
    wippy_done_example => "wippy_done.lua",
    misused_concurrency_raises_or_returns_errors_as_wippy_does => "concurrency_misuse.lua",
    scanners_split_lines_words_bytes_and_runes => "scanner.lua",
    the_pty_option_runs_a_command_in_a_terminal_and_resize_reaches_it => "pty.lua",        );
    };
    (@each $registry:expr, $backend:literal; $($name:ident => $file:literal),* $(,)?) => {
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

/// Every file of `tests/scripts/` is in [`lua_scripts!`]'s list.
pub(crate) fn assert_every_script_is_listed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let this = include_str!("mod.rs");
    for entry in std::fs::read_dir(dir).expect("tests/scripts") {
        let name = entry
            .expect("a directory entry")
            .file_name()
            .into_string()
            .expect("a UTF-8 name");
        assert!(
            this.contains(&format!("\"{name}\"")),
            "tests/scripts/{name} is not in lua_scripts!'s list (tests/harness/mod.rs)"
        );
    }
}
