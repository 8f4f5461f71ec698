//! A Docker daemon that fails mid-run: killed (a private dockerd of this
//! test's own), its attach stream cut (a proxy in front of the real
//! daemon), and answers only a fake daemon gives on cue (HTTP 500,
//! malformed or truncated JSON, an attach that never upgrades, no answer
//! at all). Each is a clear error in bounded time, never a hang or a
//! panic, and leaves no task and no container behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_core::conformance::daemon_or_skip;
use exec_core::{ErrorKind, ExecOptions, Executor, ExecutorSettings};
use exec_docker::{DockerExecutor, Pull};
use exec_test_support::daemons;
use exec_test_support::faults::{FakeDaemon, Proxy, json_answer, read_request};
use exec_test_support::outcomes::{
    assert_error, fails_cleanly, read_cut, read_until, start_error, tasks_back_to,
};
use exec_test_support::private::PrivateDockerd;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// The bound this file holds every failure to: the daemon's end is known
/// from its events stream, which breaks with it.
const BOUND: Duration = Duration::from_secs(10);

fn label(id: &str) -> String {
    format!("{}={id}", exec_docker::LABEL_EXECUTOR)
}

fn executor(host: &str, image: &str, id: &str) -> DockerExecutor {
    DockerExecutor::builder(image)
        .with_host(host)
        .with_network_mode("none")
        .with_pull(Pull::Never)
        .with_request_timeout(Duration::from_secs(3))
        .build(ExecutorSettings::new(id).with_default_env_var("PATH", "/bin"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dockerd_killed_mid_run_is_unavailable_within_the_bound_and_leaves_nothing() {
    let Some(shared) = daemon_or_skip("dockerd", daemons::docker()) else {
        return;
    };
    let (host, image) = (shared.host.clone(), shared.image.clone());
    let mut private = tokio::task::spawn_blocking(move || PrivateDockerd::start(&host, &image))
        .await
        .unwrap()
        .unwrap();
    let id = format!("faults:killed-{}", std::process::id());
    let exec = executor(&private.host, &shared.image, &id);
    let alive_before = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    let process = exec
        .create_process("sh -c 'echo started; sleep 300'".into(), ExecOptions::new())
        .unwrap();
    let mut stdout = process.take_stdout().unwrap();
    process.start().await.unwrap();
    read_until(&mut stdout, "started").await;
    private.kill();
    let (waited, said) = fails_cleanly(&*process, stdout, &private.host, BOUND).await;
    eprintln!("killed: wait failed in {waited:?}: {said}");
    drop(process);
    drop(exec);
    // Every task the process had (output, stdin, events, the exit) ended.
    tasks_back_to(alive_before, BOUND).await;
    // The daemon, back, ends and removes what its last life left running.
    let private = tokio::task::spawn_blocking(move || private.restart().map(|()| private))
        .await
        .unwrap()
        .unwrap();
    // Restoring takes a while on a loaded machine: a minute at most.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = daemons::docker_containers(&private.host, &label(&id)).await;
        if left.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "left behind: {left:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Its drop stops it, blocking.
    tokio::task::spawn_blocking(move || drop(private))
        .await
        .unwrap();
}

/// The proxy cuts only the attach connection: the daemon and the container
/// live on, and the output's reader learns its stream was cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attach_cut_mid_stream_is_an_error_saying_so_not_eof() {
    let Some(shared) = daemon_or_skip("dockerd", daemons::docker()) else {
        return;
    };
    let socket = std::path::PathBuf::from(shared.host.trim_start_matches("unix://"));
    let proxy = Proxy::start(&socket, None, |head| head.contains("/attach")).await;
    let id = format!("faults:attach-cut-{}", std::process::id());
    let exec = executor(&proxy.host, &shared.image, &id);
    let process = exec
        .create_process(
            "sh -c 'echo started; while true; do echo tick; sleep 0.1; done'".into(),
            ExecOptions::new(),
        )
        .unwrap();
    let mut stdout = process.take_stdout().unwrap();
    process.start().await.unwrap();
    read_until(&mut stdout, "tick").await;
    proxy.cut();
    let started = Instant::now();
    let cut = read_cut(&mut stdout, BOUND).await;
    assert!(cut.contains(&proxy.host), "{cut}");
    eprintln!("cut in {:?}: {cut}", started.elapsed());
    // The container ran on: close ends it, and nothing is left.
    tokio::time::timeout(BOUND, process.close(true))
        .await
        .expect("close must end within the bound")
        .unwrap();
    daemons::assert_no_docker_containers(&shared.host, &label(&id)).await;
    assert!(proxy.requests().iter().any(|r| r.contains("/attach")));
}

/// What the fake daemon does with one request.
#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// Answers everything with HTTP 500.
    Error500,
    /// Answers the create with a body that is not JSON.
    Malformed,
    /// Answers the create with less body than its length says, and closes.
    Truncated,
    /// Creates, then answers the attach with 200 instead of upgrading.
    NeverUpgrades,
    /// Accepts the connection and never answers.
    Silent,
}

async fn fake(mut connection: tokio::net::UnixStream, misbehaviour: Misbehaviour) {
    while let Some(request) = read_request(&mut connection).await {
        let line = request.line().to_owned();
        let answer = match misbehaviour {
            Misbehaviour::Silent => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Misbehaviour::Error500 => {
                json_answer("500 Internal Server Error", r#"{"message":"it broke"}"#)
            }
            _ if line.contains("/containers/create") => match misbehaviour {
                Misbehaviour::Malformed => json_answer("201 Created", r#"{"Id": "abc", "Warn"#),
                Misbehaviour::Truncated => {
                    let mut answer = json_answer("201 Created", r#"{"Id":"abc","Warnings":[]}"#);
                    answer.truncate(answer.len() - 10);
                    let _ = connection.write_all(&answer).await;
                    return;
                }
                _ => json_answer("201 Created", r#"{"Id":"abc","Warnings":[]}"#),
            },
            // Removing what was created: fine.
            _ if line.starts_with("DELETE") => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
            _ => json_answer("200 OK", "{}"),
        };
        if connection.write_all(&answer).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faulty_answers_are_clear_errors_in_bounded_time_never_a_panic() {
    for (misbehaviour, kind, words) in [
        (
            Misbehaviour::Error500,
            ErrorKind::Unavailable,
            "500: it broke",
        ),
        (
            Misbehaviour::Malformed,
            ErrorKind::Unavailable,
            "create a container",
        ),
        (
            Misbehaviour::Truncated,
            ErrorKind::Unavailable,
            "create a container",
        ),
        (
            Misbehaviour::NeverUpgrades,
            ErrorKind::Unavailable,
            "attach to the container",
        ),
        (
            Misbehaviour::Silent,
            ErrorKind::Timeout,
            "did not finish within 3s",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let daemon = FakeDaemon::start(dir.path(), move |c| fake(c, misbehaviour));
        let exec = executor(&daemon.host(), "busybox", "faults:fake");
        let started = Instant::now();
        let error = start_error(&exec, BOUND).await;
        let text = assert_error(&error, kind, &[words, &daemon.host()]);
        eprintln!("{misbehaviour:?} in {:?}: {text}", started.elapsed());
    }
    assert_eq!(exec_core::settle(BOUND).await, 0, "work left in flight");
}
