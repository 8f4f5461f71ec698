//! Docker-specific behaviour against a real daemon: exit codes never lost,
//! OOM reporting, cleanup, hardening seen from inside the container, per-call
//! mounts, labels, and the errors of a missing image, program or daemon.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bollard::query_parameters::RemoveContainerOptions;
use exec_core::conformance::daemon_or_skip;
use exec_core::{ErrorKind, ExecOptions, Executor, ExecutorSettings, Mount, Output};
use exec_docker::{DockerExecutor, DockerExecutorBuilder, Pull};
use exec_test_support::daemons;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn daemon() -> Option<daemons::Docker> {
    daemon_or_skip("dockerd", daemons::docker())
}

fn builder(daemon: &daemons::Docker) -> DockerExecutorBuilder {
    DockerExecutor::builder(&daemon.image)
        .with_host(&daemon.host)
        .with_network_mode("none")
        .with_pull(Pull::Never)
}

/// Settings with a unique id (labels find this test's containers) and PATH.
fn settings(case: &str) -> ExecutorSettings {
    ExecutorSettings::new(format!("test:{case}-{}", std::process::id()))
        .with_default_env_var("PATH", exec_core::conformance::PATH)
}

async fn run(exec: &dyn Executor, command: &str, options: ExecOptions) -> Output {
    let process = exec.create_process(command.into(), options).unwrap();
    tokio::time::timeout(Duration::from_secs(60), process.output())
        .await
        .expect("output within 60 s")
        .unwrap()
}

/// The output of a started process whose stdin the test feeds itself.
async fn finish(process: &dyn exec_core::Process) -> (exec_core::ExitStatus, String, String) {
    let mut out = process.take_stdout().unwrap();
    let mut err = process.take_stderr().unwrap();
    let (stdout, stderr) = tokio::join!(out.read_to_vec(), err.read_to_vec());
    let status = tokio::time::timeout(Duration::from_secs(60), process.wait())
        .await
        .expect("the command ended within 60 s")
        .unwrap();
    let text =
        |bytes: std::io::Result<Vec<u8>>| String::from_utf8_lossy(&bytes.unwrap()).into_owned();
    (status, text(stdout), text(stderr))
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn label(executor: &str) -> String {
    format!("{}={executor}", exec_docker::LABEL_EXECUTOR)
}

/// The containers carrying `executor`'s label, running or not.
async fn containers_of(host: &str, executor: &str) -> Vec<String> {
    daemons::docker_containers(host, &label(executor)).await
}

/// Waits (bounded) until no container of `executor` is left.
async fn assert_nothing_left(host: &str, executor: &str) {
    daemons::assert_no_docker_containers(host, &label(executor)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_hundred_fast_exits_each_report_their_code() {
    let Some(d) = daemon() else { return };
    let settings = settings("exit-codes");
    let id = settings.id().to_owned();
    let exec: Arc<dyn Executor> = Arc::new(builder(&d).build(settings).unwrap());
    let mut set = tokio::task::JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(6));
    for n in 0..300u32 {
        let exec = exec.clone();
        let limit = limit.clone();
        set.spawn(async move {
            let _permit = limit.acquire_owned().await.unwrap();
            let code = n % 256;
            let out = run(
                exec.as_ref(),
                &format!("sh -c 'exit {code}'"),
                ExecOptions::new(),
            )
            .await;
            (code, out.status)
        });
    }
    while let Some(joined) = set.join_next().await {
        let (code, status) = joined.unwrap();
        assert_eq!(status.shell_code(), code as i32, "exit {code}: {status}");
        assert_eq!(status.code(), Some(code as i32), "exit {code}: {status}");
        assert!(!status.oom_killed());
    }
    assert_nothing_left(&d.host, &id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_auto_remove_the_code_is_kept_and_so_is_the_container() {
    let Some(d) = daemon() else { return };
    let settings = settings("kept");
    let id = settings.id().to_owned();
    let exec = builder(&d).with_auto_remove(false).build(settings).unwrap();
    for code in [0, 1, 42, 255] {
        let out = run(&exec, &format!("sh -c 'exit {code}'"), ExecOptions::new()).await;
        assert_eq!(out.status.code(), Some(code));
    }
    let kept = containers_of(&d.host, &id).await;
    assert_eq!(kept.len(), 4, "docker run without --rm keeps the container");
    let docker = bollard::Docker::connect_with_unix(
        d.host.trim_start_matches("unix://"),
        30,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap();
    for container in kept {
        let options = RemoveContainerOptions {
            force: true,
            ..Default::default()
        };
        docker
            .remove_container(&container, Some(options))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdin_written_then_closed_reaches_the_command_as_eof() {
    let Some(d) = daemon() else { return };
    let exec = builder(&d).build(settings("stdin")).unwrap();
    for (command, input, expected) in [
        ("cat", "one\ntwo\n", "one\ntwo\n"),
        ("wc -c", "12345", "5"),
        ("sort", "b\nc\na\n", "a\nb\nc\n"),
    ] {
        let process = exec
            .create_process(command.into(), ExecOptions::new())
            .unwrap();
        process.start().await.unwrap();
        process.write_stdin(input.as_bytes()).await.unwrap();
        process.close_stdin().await.unwrap();
        let (status, out, _) = finish(process.as_ref()).await;
        assert_eq!(out.trim(), expected.trim(), "{command}");
        assert_eq!(status.code(), Some(0), "{command}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oom_kill_is_reported_also_when_it_hits_a_child_of_the_command() {
    let Some(d) = daemon() else { return };
    let exec = builder(&d)
        .with_memory_limit(16 * 1024 * 1024)
        .build(settings("oom"))
        .unwrap();
    let hog = "x=0123456789abcdef; while true; do x=\"$x$x\"; done";
    // The command itself.
    let out = run(&exec, &format!("sh -c '{hog}'"), ExecOptions::new()).await;
    assert!(out.status.oom_killed(), "{}", out.status);
    assert_eq!(out.status.shell_code(), 137, "{}", out.status);
    // A child of the command: the shell lives on and reports what it saw.
    let out = run(
        &exec,
        &format!("sh -c \"sh -c '{hog}'; echo child \\$?; exit 3\""),
        ExecOptions::new(),
    )
    .await;
    assert_eq!(stdout(&out), "child 137\n");
    assert_eq!(out.status.code(), Some(3), "{}", out.status);
    assert!(
        out.status.oom_killed(),
        "the container saw an OOM kill: {}",
        out.status
    );
    // Without a limit nothing is reported.
    let out = run(&exec, "true", ExecOptions::new()).await;
    assert!(!out.status.oom_killed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_and_timeout_kill_the_container_and_leave_nothing() {
    let Some(d) = daemon() else { return };
    let settings = settings("cleanup");
    let id = settings.id().to_owned();
    let exec = builder(&d).build(settings).unwrap();
    // close(true) mid-run.
    let process = exec
        .create_process("sleep 60".into(), ExecOptions::new())
        .unwrap();
    process.start().await.unwrap();
    assert_eq!(containers_of(&d.host, &id).await.len(), 1);
    let started = Instant::now();
    process.close(true).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_nothing_left(&d.host, &id).await;
    // A timeout kills the container, not only the stream.
    let process = exec
        .create_process(
            "sleep 60".into(),
            ExecOptions::new().with_timeout(Duration::from_millis(500)),
        )
        .unwrap();
    process.start().await.unwrap();
    let err = process.wait().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert_nothing_left(&d.host, &id).await;
    // Dropping a running process kills its container.
    let process = exec
        .create_process("sleep 60".into(), ExecOptions::new())
        .unwrap();
    process.start().await.unwrap();
    drop(process);
    assert_nothing_left(&d.host, &id).await;
    // A start that fails (no such program, no init) leaves nothing either.
    let no_init = builder(&d)
        .with_init(false)
        .build(self::settings("cleanup-fail"))
        .unwrap();
    let process = no_init
        .create_process("no-such-program".into(), ExecOptions::new())
        .unwrap();
    assert!(process.start().await.is_err());
    assert_nothing_left(&d.host, no_init.id()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_program_or_daemon_is_a_clear_error_every_time() {
    let Some(d) = daemon() else { return };
    // Image: NOT_FOUND naming it.
    let exec = DockerExecutor::builder("exec-test/no-such-image:0")
        .with_host(&d.host)
        .with_pull(Pull::Never)
        .build(settings("no-image"))
        .unwrap();
    let process = exec
        .create_process("true".into(), ExecOptions::new())
        .unwrap();
    let err = process.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        err.to_string().contains("exec-test/no-such-image:0"),
        "{err}"
    );
    assert!(exec_core::report(&err).contains("pull: never"), "{err}");
    // Pulled when missing, from a registry that cannot be reached: UNAVAILABLE naming it.
    let exec = DockerExecutor::builder("exec-test/no-such-image:0")
        .with_host(&d.host)
        .with_pull(Pull::Missing)
        .build(settings("no-image-pull"))
        .unwrap();
    let process = exec
        .create_process("true".into(), ExecOptions::new())
        .unwrap();
    let err = tokio::time::timeout(Duration::from_secs(120), process.start())
        .await
        .expect("a pull that cannot work must end")
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::NotFound),
        "{err}"
    );
    assert!(
        err.to_string().contains("exec-test/no-such-image:0"),
        "{err}"
    );
    // Program: with the init (the default) exit 127, without it NOT_FOUND — each time the same.
    let with_init = builder(&d).build(settings("no-program")).unwrap();
    let without = builder(&d)
        .with_init(false)
        .build(settings("no-program-no-init"))
        .unwrap();
    for _ in 0..3 {
        let out = run(&with_init, "no-such-program --flag", ExecOptions::new()).await;
        assert_eq!(out.status.code(), Some(127), "{}", out.status);
        let process = without
            .create_process("no-such-program --flag".into(), ExecOptions::new())
            .unwrap();
        let err = process.start().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(err.to_string().contains("no-such-program"), "{err}");
    }
    // Daemon: UNAVAILABLE naming the address, promptly.
    for host in ["unix:///tmp/exec-no-such-docker.sock", "tcp://127.0.0.1:9"] {
        let exec = DockerExecutor::builder(&d.image)
            .with_host(host)
            .build(settings("no-daemon"))
            .unwrap();
        let process = exec
            .create_process("true".into(), ExecOptions::new())
            .unwrap();
        let started = Instant::now();
        let err = process.start().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{host}: {err}");
        assert!(err.to_string().contains(host), "{host}: {err}");
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(
            exec.ping().await.unwrap_err().kind(),
            ErrorKind::Unavailable
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardening_holds_inside_the_container() {
    let Some(d) = daemon() else { return };
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("data.txt"), "from the host\n").unwrap();
    let exec = builder(&d)
        .with_no_new_privileges(true)
        .with_cap_drop(["ALL"])
        .with_cap_add(["CHOWN"])
        .with_read_only_rootfs(true)
        .with_tmpfs("/scratch", "rw,size=1m,mode=770")
        .with_volume(format!("{}:/ro:ro", host_dir.path().display()))
        .with_memory_limit(64 * 1024 * 1024)
        .with_cpu_quota(50_000)
        .with_pids_limit(32)
        .build(settings("hardening"))
        .unwrap();
    let script = r#"
        grep -E '^(NoNewPrivs|CapEff):' /proc/self/status
        touch /rootfs-write 2>/dev/null && echo root-writable || echo root-read-only
        echo hi > /scratch/ok && cat /scratch/ok
        grep ' /scratch ' /proc/mounts
        cat /ro/data.txt
        touch /ro/new 2>/dev/null && echo ro-writable || echo ro-read-only
        echo net: $(ls /sys/class/net)
        echo memory: $(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
        echo cpu: $(cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)
        echo pids: $(cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max)
    "#;
    let process = exec
        .create_process("sh".into(), ExecOptions::new())
        .unwrap();
    process.start().await.unwrap();
    process.write_stdin(script.as_bytes()).await.unwrap();
    process.close_stdin().await.unwrap();
    let (status, text, errors) = finish(process.as_ref()).await;
    assert_eq!(status.code(), Some(0), "{text}{errors}");
    assert!(text.contains("NoNewPrivs:\t1"), "{text}");
    // CHOWN is bit 0: the only capability left.
    assert!(text.contains("CapEff:\t0000000000000001"), "{text}");
    assert!(text.contains("root-read-only"), "{text}");
    assert!(text.contains("hi\n"), "{text}");
    let scratch = text
        .lines()
        .find(|l| l.contains(" /scratch "))
        .unwrap_or_default();
    assert!(scratch.starts_with("tmpfs /scratch tmpfs rw"), "{scratch}");
    assert!(
        scratch.contains("size=1024k") && scratch.contains("mode=770"),
        "{scratch}"
    );
    assert!(text.contains("from the host"), "{text}");
    assert!(text.contains("ro-read-only"), "{text}");
    assert!(
        text.contains("net: lo\n"),
        "network_mode none leaves only lo: {text}"
    );
    assert!(
        text.contains(&format!("memory: {}\n", 64 * 1024 * 1024)),
        "{text}"
    );
    assert!(
        text.contains("cpu: 50000\n") || text.contains("cpu: 50000 100000\n"),
        "{text}"
    );
    assert!(text.contains("pids: 32\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_carry_our_labels_and_those_a_call_gives() {
    let Some(d) = daemon() else { return };
    let settings = settings("labels");
    let id = settings.id().to_owned();
    let exec = builder(&d)
        .with_auto_remove(false)
        .with_label("team", "infra")
        .with_label_from_env("tenant", "TENANT")
        .build(settings)
        .unwrap();
    let err = exec
        .create_process("true".into(), ExecOptions::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(err.to_string().contains("TENANT"), "{err}");
    let out = run(&exec, "true", ExecOptions::new().with_env("TENANT", "acme")).await;
    assert_eq!(out.status.code(), Some(0));
    let docker = bollard::Docker::connect_with_unix(
        d.host.trim_start_matches("unix://"),
        30,
        bollard::API_DEFAULT_VERSION,
    )
    .unwrap();
    let containers = containers_of(&d.host, &id).await;
    assert_eq!(containers.len(), 1);
    let inspected = docker
        .inspect_container(&containers[0], None)
        .await
        .unwrap();
    let labels = inspected.config.unwrap().labels.unwrap();
    assert_eq!(labels["team"], "infra");
    assert_eq!(labels["tenant"], "acme");
    assert_eq!(labels[exec_docker::LABEL_MANAGED_BY], "exec-docker");
    assert_eq!(
        labels[exec_docker::LABEL_OWNER_PID],
        std::process::id().to_string()
    );
    assert!(labels.contains_key(exec_docker::LABEL_OWNER_START));
    // Its owner is alive: the sweep leaves it.
    let report = exec_docker::sweep(&exec).await.unwrap();
    assert!(!report.removed.contains(&containers[0][..12].to_owned()));
    docker
        .remove_container(
            &containers[0],
            Some(RemoveContainerOptions {
                force: true,
                ..Default::default()
            }),
        )
        .await
        .unwrap();
}

mod tls_errors {
    use super::*;

    fn tls() -> Option<daemons::DockerTls> {
        daemon_or_skip("dockerd (TLS)", daemons::docker_tls())
    }

    async fn start_error(exec: DockerExecutor) -> exec_core::Error {
        let process = exec
            .create_process("true".into(), ExecOptions::new())
            .unwrap();
        tokio::time::timeout(Duration::from_secs(30), process.start())
            .await
            .expect("a refused handshake must not hang")
            .unwrap_err()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wrong_ca_an_untrusted_client_or_plain_tcp_is_refused_naming_the_host() {
        let Some(t) = tls() else { return };
        let base = || {
            DockerExecutor::builder(&t.image)
                .with_host(&t.host)
                .with_pull(Pull::Never)
        };
        let wrong_ca = base()
            .with_tls_ca(t.file("wrong-ca.pem"))
            .with_tls_cert(t.file("cert.pem"))
            .with_tls_key(t.file("key.pem"))
            .build(settings("tls-wrong-ca"))
            .unwrap();
        let stranger = base()
            .with_tls_ca(t.file("ca.pem"))
            .with_tls_cert(t.file("wrong-cert.pem"))
            .with_tls_key(t.file("wrong-key.pem"))
            .build(settings("tls-stranger"))
            .unwrap();
        let plain = base().build(settings("tls-plain")).unwrap();
        let address = t.host.trim_start_matches("tcp://").to_owned();
        for (what, exec, kind) in [
            ("wrong CA", wrong_ca, ErrorKind::PermissionDenied),
            (
                "untrusted client certificate",
                stranger,
                ErrorKind::PermissionDenied,
            ),
            ("plain tcp:// to a TLS port", plain, ErrorKind::Unavailable),
        ] {
            let err = start_error(exec).await;
            assert_eq!(err.kind(), kind, "{what}: {}", exec_core::report(&err));
            assert!(err.to_string().contains(&address), "{what}: {err}");
        }
    }
}

/// A daemon that goes away mid-run, as the client sees it: the executor
/// talks to the real daemon through a loopback proxy, which the test then
/// stops (every connection cut, nothing listening). The command itself runs
/// on and the daemon removes it as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_goes_away_mid_run_is_unavailable_within_bounds() {
    let Some(d) = daemon() else { return };
    let socket = d.host.trim_start_matches("unix://").to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let proxy = tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                break;
            };
            let socket = socket.clone();
            connections.spawn(async move {
                if let Ok(mut daemon) = tokio::net::UnixStream::connect(&socket).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut daemon).await;
                }
            });
        }
    });
    let settings = settings("daemon-gone");
    let id = settings.id().to_owned();
    let exec = DockerExecutor::builder(&d.image)
        .with_host(format!("tcp://{address}"))
        .with_network_mode("none")
        .with_pull(Pull::Never)
        .build(settings)
        .unwrap();
    let process = exec
        .create_process("sleep 5".into(), ExecOptions::new())
        .unwrap();
    let mut out = process.take_stdout().unwrap();
    process.start().await.unwrap();
    // Gone: the listener and every connection with it.
    proxy.abort();
    let _ = proxy.await;
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(30), process.wait())
        .await
        .expect("wait must not hang when the daemon goes away")
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Unavailable,
        "{}",
        exec_core::report(&err)
    );
    assert!(err.to_string().contains(&address.to_string()), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    // The output ends too, with an error saying it was cut (not EOF), and
    // close does not hang.
    let rest = tokio::time::timeout(Duration::from_secs(30), out.read_to_vec())
        .await
        .expect("the output stream must end");
    let cut = rest.expect_err("a cut stream must not look like its end");
    assert!(cut.to_string().contains("was cut"), "{cut}");
    assert!(cut.to_string().contains(&address.to_string()), "{cut}");
    tokio::time::timeout(Duration::from_secs(30), process.close(true))
        .await
        .expect("close must not hang")
        .ok();
    assert_nothing_left(&d.host, &id).await;
}

/// Per-call mounts: their roots, the race on a source, and what a
/// whitelisted call may not reach through a mounted source.
#[path = "docker/mounts.rs"]
mod mounts;
