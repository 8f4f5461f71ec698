//! The Lua scripts of `tests/scripts/` (every one, as for exec-native)
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
                for (name, content, executable) in harness::WORK_FILES {
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

    lua_scripts!(registry(Transport::Unix), "incus");
}

mod https {
    use super::*;

    lua_scripts!(registry(Transport::Https), "incus");
}
