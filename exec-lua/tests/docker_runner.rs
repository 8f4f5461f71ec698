//! The `exec-lua` runner with Docker entries: a runner killed mid-run leaves
//! no container once the command ends, and `--sweep-docker` removes what
//! runners that are gone left behind.

#![cfg(feature = "docker")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_core::conformance::daemon_or_skip;
use exec_test_support::daemons;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

fn config(dir: &Path, d: &daemons::Docker, name: &str, extra: &str) -> std::path::PathBuf {
    let path = dir.join("docker.yaml");
    std::fs::write(
        &path,
        format!(
            "namespace: app\nentries:\n  - name: {name}\n    kind: exec.docker\n    image: {}\n    \
             host: {}\n    pull: never\n    network_mode: none\n{extra}",
            d.image, d.host
        ),
    )
    .unwrap();
    path
}

fn label(id: &str) -> String {
    format!("{}={id}", exec_docker::LABEL_EXECUTOR)
}

/// One test, not two: a sweep run beside it would remove the killed
/// runner's container (its owner is gone) before its command ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runner_leaves_no_container_and_sweep_docker_removes_kept_ones() {
    let Some(d) = daemon_or_skip("dockerd", daemons::docker()) else {
        return;
    };
    a_runner_killed_mid_run_leaves_no_container_once_the_command_ends(&d).await;
    sweep_docker_removes_what_runners_that_are_gone_left_behind(&d).await;
}

async fn a_runner_killed_mid_run_leaves_no_container_once_the_command_ends(d: &daemons::Docker) {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("victim-{}", std::process::id());
    let config = config(dir.path(), d, &name, "");
    let script = format!(
        "local p = assert(require('exec').get('app:{name}')):exec('sleep 3')\n\
         assert(p:start())\nprint('started')\nio.stdout:flush()\np:wait()\n"
    );
    let mut runner = Command::new(env!("CARGO_BIN_EXE_exec-lua"))
        .arg("--config")
        .arg(&config)
        .args(["-e", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(runner.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "started\n");
    let id = format!("app:{name}");
    assert_eq!(
        daemons::docker_containers(&d.host, &label(&id)).await.len(),
        1
    );
    runner.kill().unwrap();
    runner.wait().unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    assert_eq!(
        daemons::docker_containers(&d.host, &label(&id)).await.len(),
        1,
        "the command runs on without its client"
    );
    // The daemon removes it when `sleep 3` ends, with nobody left to ask.
    daemons::assert_no_docker_containers(&d.host, &label(&id)).await;
}

async fn sweep_docker_removes_what_runners_that_are_gone_left_behind(d: &daemons::Docker) {
    let dir = tempfile::tempdir().unwrap();
    let name = format!("kept-{}", std::process::id());
    let id = format!("app:{name}");
    let config = config(dir.path(), d, &name, "    auto_remove: false\n");
    let script = format!(
        "local p = assert(require('exec').get('{id}')):exec('true')\nassert(p:start())\nassert(p:wait() == 0)\n"
    );
    let ran = Command::new(env!("CARGO_BIN_EXE_exec-lua"))
        .arg("--config")
        .arg(&config)
        .args(["-e", &script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let left = daemons::docker_containers(&d.host, &label(&id)).await;
    assert_eq!(left.len(), 1, "auto_remove: false keeps the container");
    let swept = Command::new(env!("CARGO_BIN_EXE_exec-lua"))
        .arg("--sweep-docker")
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&swept.stdout);
    assert!(
        swept.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&swept.stderr)
    );
    assert!(
        report.starts_with(&format!("{}: removed ", d.host)),
        "{report}"
    );
    assert!(report.contains(&left[0][..12]), "{report}");
    daemons::assert_no_docker_containers(&d.host, &label(&id)).await;
    // A daemon that is not there: exit 1, naming it.
    let gone = dir.path().join("gone.yaml");
    std::fs::write(
        &gone,
        "- { name: x, kind: exec.docker, image: busybox, host: \"unix:///tmp/exec-no-such.sock\" }\n",
    )
    .unwrap();
    let failed = Command::new(env!("CARGO_BIN_EXE_exec-lua"))
        .arg("--sweep-docker")
        .arg("--config")
        .arg(&gone)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(stderr.contains("unix:///tmp/exec-no-such.sock"), "{stderr}");
}

/// `examples/docker.yaml` and `examples/docker.lua` as the README shows
/// them (xtask tags the test image as the example's `busybox:1.36`).
/// SIGTERM to a runner while its script starts Docker commands in a loop:
/// a container being created or started at that moment is finished and
/// killed (or removed) before the runner exits, never left behind in state
/// `Created`. 100 tries, each signalled at another moment of the loop;
/// before the life cycle waited for starts in flight, 2 in 20 left one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_signalled_while_starting_commands_leaves_no_container() {
    let Some(d) = daemon_or_skip("dockerd", daemons::docker()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let name = format!("starting-{}", std::process::id());
    let config = config(dir.path(), &d, &name, "");
    let script = format!(
        "local box = assert(require('exec').get('app:{name}'))\n\
         print('go')\nio.stdout:flush()\n\
         while true do\n  local p = assert(box:exec('true'))\n  assert(p:start())\n  p:wait()\nend\n"
    );
    const TRIES: u64 = 100;
    const AT_ONCE: u64 = 4;
    for batch in 0..TRIES / AT_ONCE {
        let runners: Vec<_> = (0..AT_ONCE)
            .map(|n| {
                let mut runner = Command::new(env!("CARGO_BIN_EXE_exec-lua"))
                    .arg("--config")
                    .arg(&config)
                    .args(["-e", &script])
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap();
                let mut line = String::new();
                BufReader::new(runner.stdout.take().unwrap())
                    .read_line(&mut line)
                    .unwrap();
                assert_eq!(line, "go\n");
                (runner, (batch * AT_ONCE + n) * 37 % 450)
            })
            .collect();
        for (runner, delay_ms) in runners {
            std::thread::sleep(std::time::Duration::from_millis(delay_ms / AT_ONCE));
            let pid = nix::unistd::Pid::from_raw(runner.id() as i32);
            nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
            let output = runner.wait_with_output().unwrap();
            assert_eq!(
                output.status.code(),
                Some(143),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
    }
    // The last `true`s are removed by the daemon as they end; nothing else
    // may be there.
    daemons::assert_no_docker_containers(&d.host, &label(&format!("app:{name}"))).await;
}

#[test]
fn the_docker_example_runs_as_the_readme_shows() {
    let Some(d) = daemon_or_skip("dockerd", daemons::docker()) else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_exec-lua"))
        .current_dir(&root)
        .args(["--config", "examples/docker.yaml", "examples/docker.lua"])
        .env("DOCKER_HOST", &d.host)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "id:        uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n",
        "network:   lo \n",
        "write /:   exit 1 (touch: /etc/owned: Read-only file system)\n",
        "write tmp: scratch\n",
        "sorted:    apple fig pear \n",
        "pid:       nil (Unavailable)\n",
        "signalled: exit 143\n",
    ] {
        assert!(stdout.contains(line), "{line:?} not in:\n{stdout}");
    }
}
