//! exec-docker beside its baselines in one run (release; `cargo xtask bench`,
//! which provisions the daemon): a one-shot `true` through the executor
//! against the docker CLI's `docker run --rm --network none IMAGE true`, and
//! against the same Engine API calls made directly with bollard.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bollard::container::LogOutput;
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{AttachContainerOptions, EventsOptions};
use exec_core::{ExecOptions, Executor, ExecutorSettings};
use exec_docker::{DockerExecutor, Pull};
use exec_test_support::bench::{Goal, figure, header, runs, single_figure};
use exec_test_support::daemons;
use futures_util::StreamExt;
use std::collections::HashMap;

const RUNS: usize = 25;

async fn ours(exec: &DockerExecutor) {
    ours_with(exec, ExecOptions::new()).await;
}

async fn ours_with(exec: &DockerExecutor, options: ExecOptions) {
    let process = exec.create_process(["true"].into(), options).unwrap();
    process.start().await.unwrap();
    assert!(process.wait().await.unwrap().success());
}

async fn cli(host: &str, image: &str) {
    let status = tokio::process::Command::new("docker")
        .args([
            "-H",
            host,
            "run",
            "--rm",
            "--network",
            "none",
            image,
            "true",
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success());
}

/// What exec-docker asks of the daemon, made by hand: create (stdio
/// attachable, auto-remove, init), attach, subscribe to the container's
/// events, start, read the events up to `die` and the output to its end.
async fn raw(docker: &bollard::Docker, image: &str) {
    let body = ContainerCreateBody {
        image: Some(image.to_owned()),
        cmd: Some(vec!["true".to_owned()]),
        attach_stdin: Some(true),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(true),
        tty: Some(false),
        host_config: Some(HostConfig {
            network_mode: Some("none".to_owned()),
            auto_remove: Some(true),
            init: Some(true),
            ..Default::default()
        }),
        ..Default::default()
    };
    let id = docker.create_container(None, body).await.unwrap().id;
    let attached = docker
        .attach_container(
            &id,
            Some(AttachContainerOptions {
                stdin: true,
                stdout: true,
                stderr: true,
                stream: true,
                logs: false,
                detach_keys: None,
            }),
        )
        .await
        .unwrap();
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 300;
    let mut filters = HashMap::new();
    filters.insert("container".to_owned(), vec![id.clone()]);
    filters.insert("type".to_owned(), vec!["container".to_owned()]);
    let events = docker.events(Some(EventsOptions {
        since: Some(since.to_string()),
        until: None,
        filters: Some(filters),
    }));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let follower = tokio::spawn(async move {
        let mut events = std::pin::pin!(events);
        while let Some(Ok(event)) = events.next().await {
            if tx.send(event).is_err() {
                break;
            }
        }
    });
    docker.start_container(&id, None).await.unwrap();
    let mut output = attached.output;
    let reader = tokio::spawn(async move {
        while let Some(Ok(frame)) = output.next().await {
            if let LogOutput::StdOut { .. } | LogOutput::StdErr { .. } = frame {}
        }
    });
    while let Some(event) = rx.recv().await {
        if event.action.as_deref() == Some("die") {
            let code = event
                .actor
                .and_then(|a| a.attributes)
                .and_then(|a| a.get("exitCode").cloned());
            assert_eq!(code.as_deref(), Some("0"));
            break;
        }
    }
    follower.abort();
    reader.await.unwrap();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let Ok(daemon) = daemons::docker() else {
        println!("docker: skipped (no daemon: run through cargo xtask bench, which starts one)");
        return;
    };
    let exec = DockerExecutor::builder(&daemon.image)
        .with_host(&daemon.host)
        .with_network_mode("none")
        .with_pull(Pull::Never)
        .build(ExecutorSettings::new("bench:docker"))
        .unwrap();
    let docker = bollard::Docker::connect_with_unix(
        daemon.host.trim_start_matches("unix://"),
        60,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap();
    println!(
        "\nexec-docker, {} runs each, medians (dockerd at {})",
        RUNS, daemon.host
    );
    header("exec-docker");
    figure(
        "one-shot `true`: executor vs `docker run --rm` CLI",
        Goal::AtMostTime(0.9),
        runs(RUNS),
        || ours(&exec),
        || cli(&daemon.host, &daemon.image),
    )
    .await;
    figure(
        "one-shot `true`: executor vs the same calls by hand",
        Goal::AtMostTime(1.05),
        runs(RUNS),
        || ours(&exec),
        || raw(&docker, &daemon.image),
    )
    .await;
    figure(
        "one-shot `true` in a terminal vs with pipes",
        Goal::Reference("terminal latency"),
        runs(RUNS),
        || {
            ours_with(
                &exec,
                ExecOptions::new().with_pty(exec_core::Pty::new(80, 24)),
            )
        },
        || ours(&exec),
    )
    .await;
    let count = if exec_test_support::bench::quick() {
        10
    } else {
        50
    };
    let started = std::time::Instant::now();
    futures_util::future::join_all((0..count).map(|_| ours(&exec))).await;
    let rate = count as f64 / started.elapsed().as_secs_f64();
    single_figure(
        &format!("{count} one-shot `true` at once: commands per second"),
        &format!("{rate:.1}/s"),
        rate,
        Goal::Reference("one daemon, nothing left"),
    );
    exec_test_support::daemons::assert_no_docker_containers(
        &daemon.host,
        &format!("{}=bench:docker", exec_docker::LABEL_EXECUTOR),
    )
    .await;
}
