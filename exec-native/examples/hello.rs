//! The README's first command: runs a few commands on the host through the
//! exec-core API and shows their output, exit codes and a whitelist denial.
//!
//! ```text
//! cargo run -p exec-native --example hello
//! ```

use exec_core::{ExecOptions, Executor, ExecutorSettings, Whitelist};
use exec_native::NativeExecutor;
use std::sync::Arc;
use std::time::Duration;

/// Runs `command` and prints what it wrote and how it ended.
async fn show(executor: &dyn Executor, command: &str, options: ExecOptions) {
    println!("$ {command}");
    let process = match executor.create_process(command.into(), options) {
        Ok(process) => process,
        Err(err) => {
            println!("  refused ({}): {err}\n", err.kind());
            return;
        }
    };
    match process.output().await {
        Ok(output) => {
            for line in output.stdout_lossy().lines() {
                println!("  stdout | {line}");
            }
            for line in output.stderr_lossy().lines() {
                println!("  stderr | {line}");
            }
            let status = output.status;
            println!("  -> {status} after {:.1?}\n", status.duration());
        }
        Err(err) => println!("  -> {} error: {err}\n", err.kind()),
    }
    let _ = process.close(false).await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A clean environment: the child sees these variables and nothing of ours.
    let shell: Arc<dyn Executor> = Arc::new(NativeExecutor::new(
        ExecutorSettings::new("app:shell")
            .with_default_env_var("PATH", "/usr/local/bin:/usr/bin:/bin")
            .with_default_env_var("LANG", "C.UTF-8"),
    ));
    show(shell.as_ref(), "echo 'hello from exec'", ExecOptions::new()).await;
    show(
        shell.as_ref(),
        "env",
        ExecOptions::new().with_env("GREETING", "hi"),
    )
    .await;
    show(
        shell.as_ref(),
        "sh -c 'echo to stderr >&2; exit 42'",
        ExecOptions::new(),
    )
    .await;
    show(
        shell.as_ref(),
        "sleep 5",
        ExecOptions::new().with_timeout(Duration::from_millis(300)),
    )
    .await;
    show(
        shell.as_ref(),
        "echo $HOME | no pipes, no expansion",
        ExecOptions::new(),
    )
    .await;
    show(shell.as_ref(), "no-such-program", ExecOptions::new()).await;

    // A restricted executor: only the listed commands run, compared word by word.
    let restricted = NativeExecutor::new(
        ExecutorSettings::new("app:restricted")
            .with_default_env_var("PATH", "/usr/bin:/bin")
            .with_whitelist(Whitelist::parse(["uname -s", "echo 'a b'"])?),
    );
    show(&restricted, "uname   -s", ExecOptions::new()).await;
    show(&restricted, "echo \"a b\"", ExecOptions::new()).await;
    show(&restricted, "rm -rf /tmp/anything", ExecOptions::new()).await;
    show(&restricted, "echo 'unclosed", ExecOptions::new()).await;
    Ok(())
}
