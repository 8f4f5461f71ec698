//! The Lua scripts of `tests/scripts/` (the same list as scripts_native.rs)
//! against a real incusd, over the unix socket and over HTTPS. The work
//! files the Wippy examples call are written into the container's
//! `default_work_dir` first. Needs the daemon `cargo xtask test-all`
//! provisions (`EXEC_INCUS_*`); skipped without it unless
//! `EXEC_REQUIRE_DAEMONS` is set.

#![cfg(feature = "incus")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use exec_core::conformance::daemon_or_skip;
use exec_core::{ExecOptions, Executor, ExecutorSettings};
use exec_lua::Registry;
use exec_test_support::incus::IncusDaemon;
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The executors' default work dir in the container.
const WORK_DIR: &str = "/srv/exec-lua-work";

/// The files the Wippy examples call (as in scripts_native.rs).
const WORK_FILES: &[(&str, &str, bool)] = &[
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

#[derive(Clone, Copy)]
enum Transport {
    Unix,
    Https,
}

/// The registry the scripts use (`app:shell`, `app:exec`, `app:restricted`,
/// `app:legacy`), or `None` (skipped) without a daemon.
fn registry(transport: Transport) -> Option<(Arc<Registry>, ())> {
    let daemon = daemon_or_skip("incusd", IncusDaemon::from_env())?;
    write_work_files(&daemon);
    let connection = match transport {
        Transport::Unix => format!("  host: {}\n", daemon.unix_host()),
        Transport::Https => format!(
            "  host: {}\n  server_cert: {}\n  client_cert: {}\n  client_key: {}\n",
            daemon.https,
            daemon.server_cert.display(),
            daemon.client_cert.display(),
            daemon.client_key.display()
        ),
    };
    let common = format!(
        "  kind: exec.incus\n  instance: {}\n{connection}  default_work_dir: {WORK_DIR}\n  \
         default_env: {{ PATH: /usr/local/bin:/usr/bin:/bin, LANG: C.UTF-8 }}\n",
        daemon.instance
    );
    let yaml = format!(
        "- name: shell\n{common}\
         - name: exec\n{common}\
         - name: restricted\n{common}  command_whitelist: [\"echo hello\", \"git status\"]\n\
         - name: legacy\n{common}  output_encoding: cp949\n"
    );
    let registry = Registry::from_yaml(&yaml, Path::new("incus.yaml"), Some("app"))
        .unwrap_or_else(|e| panic!("{}", exec_core::report(&e)));
    Some((Arc::new(registry), ()))
}

/// Writes the work files into the container once per test binary (each
/// file through a temporary name and a rename, so a reader never sees half
/// of one).
fn write_work_files(daemon: &IncusDaemon) {
    static WRITTEN: OnceLock<Result<(), String>> = OnceLock::new();
    let result = WRITTEN.get_or_init(|| {
        let daemon = daemon.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let executor = exec_incus::IncusBuilder::new(&daemon.instance)
                    .with_host(daemon.unix_host())
                    .build(ExecutorSettings::new("test:setup"))
                    .map_err(|e| e.to_string())?;
                for (name, content, executable) in WORK_FILES {
                    let mode = if *executable { "755" } else { "644" };
                    let script = format!(
                        "mkdir -p {WORK_DIR} && printf %s \"$1\" > {WORK_DIR}/.{name}.$$ && \
                         chmod {mode} {WORK_DIR}/.{name}.$$ && mv {WORK_DIR}/.{name}.$$ {WORK_DIR}/{name}"
                    );
                    let argv = vec![
                        "/bin/sh".to_owned(),
                        "-c".to_owned(),
                        script,
                        "sh".to_owned(),
                        (*content).to_owned(),
                    ];
                    let process = executor
                        .create_process(argv.into(), ExecOptions::new())
                        .map_err(|e| e.to_string())?;
                    let output = process.output().await.map_err(|e| exec_core::report(&e))?;
                    if !output.status.success() {
                        return Err(format!("writing {name}: {} {}", output.status, output.stderr_lossy()));
                    }
                }
                Ok(())
            })
        })
        .join()
        .unwrap_or_else(|_| Err("the thread writing the work files panicked".to_owned()))
    });
    if let Err(e) = result {
        panic!("writing the work files into {}: {e}", daemon.instance);
    }
}

mod unix {
    use super::*;

    lua_scripts!(optional registry(Transport::Unix);
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
    );
}

mod https {
    use super::*;

    lua_scripts!(optional registry(Transport::Https);
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
    );
}

#[test]
fn every_script_is_listed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let this = include_str!("scripts_incus.rs");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            this.contains(&format!("\"{name}\"")),
            "tests/scripts/{name} is not run by tests/scripts_incus.rs"
        );
    }
}
