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
use exec_test_support::bench::{figure, header, single_figure, throughput_figure};
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
        "<= 0.5x time",
        100,
        || async {
            executor_run(&unix, "true").await;
        },
        || cli_true(&daemon),
    )
    .await;
    figure(
        "`true`, unix socket, vs raw REST + websockets (100)",
        "<= 1.2x time",
        100,
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
        "(for reference)",
        100,
        || async {
            executor_run(&https, "true").await;
        },
        || cli_true(&daemon),
    )
    .await;
    figure(
        "`true` in a terminal vs with pipes, unix socket (100)",
        "(terminal latency)",
        100,
        || async {
            let terminal = ExecOptions::new().with_pty(exec_core::Pty::new(80, 24));
            executor_run_with(&unix, "true", terminal).await;
        },
        || async {
            executor_run(&unix, "true").await;
        },
    )
    .await;
    let head = format!("head -c {MIB_256} /dev/zero");
    let head_words = ["head", "-c", "268435456", "/dev/zero"];
    throughput_figure(
        "256 MiB stdout, unix socket, vs raw websocket (5)",
        ">= 300 MB/s",
        MIB_256,
        5,
        || async {
            assert_eq!(executor_run(&unix, &head).await, MIB_256);
        },
        || async {
            assert_eq!(raw_run(&socket, &instance, &head_words).await, MIB_256);
        },
    )
    .await;
    throughput_figure(
        "256 MiB stdout, HTTPS, vs raw websocket over unix (5)",
        "(for reference)",
        MIB_256,
        5,
        || async {
            assert_eq!(executor_run(&https, &head).await, MIB_256);
        },
        || async {
            assert_eq!(raw_run(&socket, &instance, &head_words).await, MIB_256);
        },
    )
    .await;
    reset_peak_rss();
    executor_run(&unix, &head).await;
    let peak = peak_rss().unwrap_or(0);
    single_figure(
        "peak RSS, 256 MiB through the executor",
        &format!("{:.1} MiB", peak as f64 / 1048576.0),
        "bounded (< 64 MiB)",
    );
}
