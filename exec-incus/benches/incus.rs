//! exec-incus beside its baselines, in one run (release; `cargo xtask
//! bench`, which provisions the daemon and sets `EXEC_INCUS_*`):
//!
//! - `true` through the executor against `incus exec INSTANCE -- true` (the
//!   CLI) and against the same REST and websocket calls made directly with
//!   hyper and tungstenite, nothing else (POST, four websockets at once,
//!   stdout and stderr to their end, `GET …/wait` for the exit code);
//! - 256 MiB of stdout through the executor against the same bytes read
//!   from the websocket directly, and the peak memory meanwhile.
//!
//! Each figure alternates the sides run by run and prints the medians and
//! their ratio, with the goal of issue 9.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bytes::Bytes;
use exec_core::{ExecOptions, Executor, ExecutorSettings};
use exec_incus::{IncusBuilder, IncusExecutor};
use exec_test_support::bench::{
    Goal, bytes, figure, header, runs, single_figure, size_figure, throughput_figure,
};
use exec_test_support::incus::IncusDaemon;
use exec_test_support::procfs::{peak_rss, reset_peak_rss};
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use std::path::Path;
use tokio::net::UnixStream;
use tokio_tungstenite::tungstenite::Message;

const MIB_256: u64 = 256 * 1024 * 1024;

async fn executor_run(exec: &IncusExecutor, command: &str) -> u64 {
    executor_run_with(exec, command, ExecOptions::new()).await
}

async fn executor_run_with(exec: &IncusExecutor, command: &str, options: ExecOptions) -> u64 {
    let process = exec.create_process(command.into(), options).unwrap();
    let mut stdout = process.take_stdout().unwrap();
    process.start().await.unwrap();
    let mut total = 0u64;
    while let Some(chunk) = stdout.read_chunk(usize::MAX).await.unwrap() {
        total += chunk.len() as u64;
        stdout.recycle(chunk);
    }
    assert!(process.wait().await.unwrap().success());
    process.close(false).await.unwrap();
    total
}

async fn cli_true(daemon: &IncusDaemon) {
    let incus_dir = daemon.socket.parent().unwrap();
    let status = tokio::process::Command::new("incus")
        .args(["exec", &daemon.instance, "--", "true"])
        .env("INCUS_DIR", incus_dir)
        .env("INCUS_CONF", incus_dir.join("client"))
        .stdin(std::process::Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success());
}

/// The REST and websocket calls alone: what any client must do.
async fn raw_run(socket: &Path, instance: &str, command: &[&str]) -> u64 {
    let stream = UnixStream::connect(socket).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let body = serde_json::json!({
        "command": command,
        "environment": {"PATH": exec_core::conformance::PATH},
        "wait-for-websocket": true,
        "interactive": false,
    });
    let request = hyper::Request::post(format!("/1.0/instances/{instance}/exec"))
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let answer = response.into_body().collect().await.unwrap().to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    let operation = &answer["metadata"];
    let id = operation["id"].as_str().unwrap().to_owned();
    let connect = |fd: &str| {
        let secret = operation["metadata"]["fds"][fd]
            .as_str()
            .unwrap()
            .to_owned();
        let path = format!("ws://localhost/1.0/operations/{id}/websocket?secret={secret}");
        async move {
            let stream = UnixStream::connect(socket).await.unwrap();
            tokio_tungstenite::client_async(path, stream)
                .await
                .unwrap()
                .0
        }
    };
    let (mut stdin, stdout, stderr, control) =
        tokio::join!(connect("0"), connect("1"), connect("2"), connect("control"));
    stdin.send(Message::text("")).await.unwrap();
    let drain = |mut ws: tokio_tungstenite::WebSocketStream<UnixStream>| async move {
        let mut total = 0u64;
        while let Some(Ok(message)) = ws.next().await {
            match message {
                Message::Binary(data) => total += data.len() as u64,
                Message::Text(_) | Message::Close(_) => break,
                _ => {}
            }
        }
        total
    };
    let (total, _) = tokio::join!(drain(stdout), drain(stderr));
    let request = hyper::Request::get(format!("/1.0/operations/{id}/wait?timeout=30"))
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let answer = response.into_body().collect().await.unwrap().to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["metadata"]["metadata"]["return"], 0, "{answer}");
    drop((stdin, control));
    total
}

/// How many exec operations the daemon lists as running.
async fn running_operations(socket: &Path) -> usize {
    let stream = UnixStream::connect(socket).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::get("/1.0/operations?recursion=1&all-projects=true")
        .header("host", "localhost")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let answer = response.into_body().collect().await.unwrap().to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    answer["metadata"]["running"]
        .as_array()
        .map_or(0, |running| {
            running
                .iter()
                .filter(|op| op["description"] == "Executing command")
                .count()
        })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let daemon = match IncusDaemon::from_env() {
        Ok(daemon) => daemon,
        Err(reason) => {
            eprintln!("no Incus figures: {reason}");
            return;
        }
    };
    let settings = || {
        ExecutorSettings::new("bench:incus")
            .with_default_env_var("PATH", exec_core::conformance::PATH)
    };
    let unix = IncusBuilder::new(&daemon.instance)
        .with_host(daemon.unix_host())
        .build(settings())
        .unwrap();
    let https = IncusBuilder::new(&daemon.instance)
        .with_host(&daemon.https)
        .with_server_cert(&daemon.server_cert)
        .with_client_cert(&daemon.client_cert, &daemon.client_key)
        .build(settings())
        .unwrap();
    let socket = daemon.socket.clone();
    let instance = daemon.instance.clone();
    println!(
        "medians; instance {} on {}",
        daemon.instance,
        daemon.socket.display()
    );
    header("exec-incus");
    figure(
        "`true`, unix socket, vs `incus exec -- true` (100)",
        Goal::AtMostTime(0.5),
        runs(100),
        || async {
            executor_run(&unix, "true").await;
        },
        || cli_true(&daemon),
    )
    .await;
    figure(
        "`true`, unix socket, vs raw REST + websockets (100)",
        Goal::AtMostTime(1.2),
        runs(100),
        || async {
            executor_run(&unix, "true").await;
        },
        || async {
            raw_run(&socket, &instance, &["true"]).await;
        },
    )
    .await;
    figure(
        "`true`, HTTPS, vs `incus exec -- true` (100)",
        Goal::Reference("for reference"),
        runs(100),
        || async {
            executor_run(&https, "true").await;
        },
        || cli_true(&daemon),
    )
    .await;
    figure(
        "`true` in a terminal vs with pipes, unix socket (100)",
        Goal::Reference("terminal latency"),
        runs(100),
        || async {
            let terminal = ExecOptions::new().with_pty(exec_core::Pty::new(80, 24));
            executor_run_with(&unix, "true", terminal).await;
        },
        || async {
            executor_run(&unix, "true").await;
        },
    )
    .await;
    let size = bytes(MIB_256);
    let head = format!("head -c {size} /dev/zero");
    let size_text = size.to_string();
    let head_words = ["head", "-c", size_text.as_str(), "/dev/zero"];
    throughput_figure(
        "256 MiB stdout, unix socket, vs a raw websocket reader (5)",
        Goal::AtLeastThroughput(0.95),
        size,
        runs(5),
        || async {
            assert_eq!(executor_run(&unix, &head).await, size);
        },
        || async {
            assert_eq!(raw_run(&socket, &instance, &head_words).await, size);
        },
    )
    .await;
    throughput_figure(
        "256 MiB stdout, HTTPS, vs raw websocket over unix (5)",
        Goal::Reference("for reference"),
        size,
        runs(5),
        || async {
            assert_eq!(executor_run(&https, &head).await, size);
        },
        || async {
            assert_eq!(raw_run(&socket, &instance, &head_words).await, size);
        },
    )
    .await;
    reset_peak_rss();
    executor_run(&unix, &head).await;
    let peak = peak_rss().unwrap_or(0);
    size_figure(
        "peak RSS, 256 MiB through the executor",
        peak as f64 / 1048576.0,
        Goal::Below(64.0),
    );
    let count = if exec_test_support::bench::quick() {
        10
    } else {
        50
    };
    let before = running_operations(&socket).await;
    let started = std::time::Instant::now();
    let all = (0..count).map(|_| executor_run(&unix, "true"));
    futures_util::future::join_all(all).await;
    let rate = count as f64 / started.elapsed().as_secs_f64();
    single_figure(
        &format!("{count} `true` at once, unix socket: commands per second"),
        &format!("{rate:.0}/s"),
        rate,
        Goal::Reference("one daemon, nothing left"),
    );
    // Others' commands may run on a shared daemon: none more than before.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let after = running_operations(&socket).await;
    assert!(
        after <= before,
        "{after} exec operations running after {count} at once, {before} before"
    );
}
