//! Behaviour specific to host processes: program lookup, process groups,
//! signals and closing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{assert_dies, executor, with_grandchild};
use exec_core::{ErrorKind, ExecOptions, Executor, ExecutorSettings};
use exec_native::{DEFAULT_PATH, NativeExecutor};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};
use tokio::io::AsyncReadExt;

async fn stdout_of(executor: &dyn Executor, line: &str, options: ExecOptions) -> String {
    let output = executor
        .create_process(line.into(), options)
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    output.stdout_lossy()
}

#[tokio::test]
async fn programs_are_found_through_the_childs_path() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("exec-native-probe");
    std::fs::write(&script, "#!/bin/sh\necho found me\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();

    let path = format!("{}:/bin:/usr/bin", dir.path().display());
    let exec =
        NativeExecutor::new(ExecutorSettings::new("test:path").with_default_env_var("PATH", path));
    assert_eq!(
        stdout_of(&exec, "exec-native-probe", ExecOptions::new()).await,
        "found me\n"
    );

    // Without PATH in the child's environment, only the safe default is searched.
    let exec = NativeExecutor::new(ExecutorSettings::new("test:no-path"));
    let process = exec
        .create_process("exec-native-probe".into(), ExecOptions::new())
        .unwrap();
    let err = process.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        format!("program \"exec-native-probe\" not found in PATH {DEFAULT_PATH:?}")
    );
}

#[tokio::test]
async fn the_hosts_path_is_never_searched() {
    // cargo runs these tests, so it is on the host's PATH.
    let cargo = std::path::PathBuf::from(std::env::var("CARGO").unwrap());
    let cargo_dir = cargo.parent().unwrap().to_str().unwrap().to_owned();
    assert!(
        !DEFAULT_PATH.split(':').any(|d| d == cargo_dir),
        "cargo is in {cargo_dir}, part of the default path: this test cannot tell"
    );
    let exec = NativeExecutor::new(ExecutorSettings::new("test:host-path"));
    let process = exec
        .create_process("cargo --version".into(), ExecOptions::new())
        .unwrap();
    assert_eq!(
        process.start().await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[tokio::test]
async fn a_missing_program_is_not_found_at_start_and_named() {
    let exec = executor("missing");
    let process = exec
        .create_process("no-such-program-here --flag".into(), ExecOptions::new())
        .unwrap();
    let err = process.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.to_string().contains("\"no-such-program-here\""),
        "{err}"
    );
    // Nothing started, so waiting is still a misuse, and closing is fine.
    assert_eq!(process.wait().await.unwrap_err().kind(), ErrorKind::Invalid);
    process.close(true).await.unwrap();

    let process = exec
        .create_process("/no/such/file".into(), ExecOptions::new())
        .unwrap();
    let err = process.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("/no/such/file"), "{err}");
}

#[tokio::test]
async fn a_file_that_is_not_executable_is_permission_denied() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-executable");
    std::fs::write(&script, "#!/bin/sh\necho no\n").unwrap();
    let exec = executor("not-executable");
    let process = exec
        .create_process(script.to_str().unwrap().into(), ExecOptions::new())
        .unwrap();
    let err = process.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
}

#[tokio::test]
async fn a_missing_work_dir_is_not_found_and_named() {
    let exec = executor("work-dir");
    let process = exec
        .create_process(
            "pwd".into(),
            ExecOptions::new().with_work_dir("/no/such/dir"),
        )
        .unwrap();
    let err = process.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.to_string().contains("work dir \"/no/such/dir\""),
        "{err}"
    );
}

#[tokio::test]
async fn the_environment_is_exactly_the_merged_one() {
    let exec = NativeExecutor::new(
        ExecutorSettings::new("test:env")
            .with_default_env_var("PATH", "/usr/bin:/bin")
            .with_default_env_var("A", "1")
            .with_default_env_var("B", "1"),
    );
    let out = stdout_of(
        &exec,
        "env",
        ExecOptions::new()
            .with_env("B", "2")
            .with_env("C", "with = sign"),
    )
    .await;
    let child: BTreeMap<&str, &str> = out.lines().filter_map(|l| l.split_once('=')).collect();
    let expected = BTreeMap::from([
        ("A", "1"),
        ("B", "2"),
        ("C", "with = sign"),
        ("PATH", "/usr/bin:/bin"),
    ]);
    assert_eq!(child, expected);
}

#[tokio::test]
async fn close_kills_the_whole_group() {
    let exec = executor("close-group");
    let (process, grandchild) = with_grandchild(&exec, "wait", ExecOptions::new()).await;
    process.close(true).await.unwrap();
    assert_dies(grandchild, "close(true)").await;
}

#[tokio::test]
async fn close_without_force_sends_sigterm() {
    let exec = executor("close-term");
    let (process, grandchild) = with_grandchild(&exec, "wait", ExecOptions::new()).await;
    process.close(false).await.unwrap();
    assert_eq!(process.wait().await.unwrap().signal(), Some(15));
    assert_dies(grandchild, "close(false)").await;
}

#[tokio::test]
async fn close_escalates_to_sigkill_after_the_grace_period() {
    let exec = NativeExecutor::new(
        ExecutorSettings::new("test:close-kill")
            .with_default_env_var("PATH", exec_core::conformance::PATH)
            .with_close_grace(Duration::from_millis(300)),
    );
    let process = exec
        .create_process(
            "sh -c 'trap \"\" TERM; sleep 30'".into(),
            ExecOptions::new(),
        )
        .unwrap();
    process.start().await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await; // let the trap be set
    let started = Instant::now();
    process.close(false).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(process.wait().await.unwrap().signal(), Some(9));
}

#[tokio::test]
async fn the_timeout_kills_the_whole_group() {
    let exec = executor("timeout-group");
    let options = ExecOptions::new().with_timeout(Duration::from_millis(300));
    let (process, grandchild) = with_grandchild(&exec, "wait", options).await;
    assert_eq!(process.wait().await.unwrap_err().kind(), ErrorKind::Timeout);
    assert_dies(grandchild, "the timeout").await;
}

#[tokio::test]
async fn dropping_a_running_process_kills_the_whole_group() {
    let exec = executor("drop-group");
    let (process, grandchild) = with_grandchild(&exec, "wait", ExecOptions::new()).await;
    drop(process);
    assert_dies(grandchild, "drop").await;
}

#[tokio::test]
async fn what_is_left_of_the_group_dies_with_the_leader() {
    let exec = executor("leader-exit");
    let (process, grandchild) =
        with_grandchild(&exec, "sleep 0.3; exit 0", ExecOptions::new()).await;
    assert!(process.wait().await.unwrap().success());
    assert_dies(grandchild, "the leader's exit").await;
}

#[tokio::test]
async fn signals_reach_the_whole_group() {
    let exec = executor("signal-group");
    let (process, grandchild) = with_grandchild(&exec, "wait", ExecOptions::new()).await;
    process.signal(15).await.unwrap();
    assert_eq!(process.wait().await.unwrap().shell_code(), 143);
    assert_dies(grandchild, "signal(15)").await;
}

#[tokio::test]
async fn a_bad_signal_number_is_invalid() {
    let exec = executor("bad-signal");
    let process = exec
        .create_process("sleep 5".into(), ExecOptions::new())
        .unwrap();
    process.start().await.unwrap();
    let err = process.signal(999).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().contains("999"), "{err}");
    process.close(true).await.unwrap();
}

#[tokio::test]
async fn the_pid_is_known_once_started() {
    let exec = executor("pid");
    let process = exec
        .create_process("sleep 5".into(), ExecOptions::new())
        .unwrap();
    assert_eq!(process.id(), None);
    process.start().await.unwrap();
    let pid = process.id().unwrap();
    assert!(common::is_alive(pid as i32));
    process.close(true).await.unwrap();
}

#[tokio::test]
async fn writing_to_a_process_that_exited_is_an_error_not_a_hang() {
    let exec = executor("write-after-exit");
    let process = exec
        .create_process("true".into(), ExecOptions::new())
        .unwrap();
    process.start().await.unwrap();
    assert!(process.wait().await.unwrap().success());
    let big = vec![b'x'; 1 << 20];
    let result = tokio::time::timeout(Duration::from_secs(10), process.write_stdin(&big))
        .await
        .unwrap();
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Io);
}

#[tokio::test]
async fn a_dropped_reader_never_blocks_the_child() {
    let exec = executor("dropped-reader");
    let process = exec
        .create_process("head -c 20000000 /dev/zero".into(), ExecOptions::new())
        .unwrap();
    drop(process.take_stdout());
    process.start().await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), process.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn output_past_the_buffer_waits_for_the_reader_and_is_complete() {
    let exec = NativeExecutor::new(
        ExecutorSettings::new("test:small-buffer")
            .with_default_env_var("PATH", common::PATH)
            .with_output_buffer(16 * 1024),
    );
    let process = exec
        .create_process("head -c 1000000 /dev/zero".into(), ExecOptions::new())
        .unwrap();
    process.start().await.unwrap();
    // Past pipe + buffer the child blocks until someone reads.
    let early = tokio::time::timeout(Duration::from_millis(500), process.wait()).await;
    assert!(early.is_err(), "the child should be blocked on a full pipe");
    let mut stdout = process.take_stdout().unwrap();
    let mut bytes = Vec::new();
    stdout.read_to_end(&mut bytes).await.unwrap();
    assert_eq!(bytes.len(), 1_000_000);
    assert!(process.wait().await.unwrap().success());
}

/// An argument list the kernel refuses (E2BIG) is `Invalid`, saying how long
/// it was and what the limit is, and quoting only the start of the command.
#[tokio::test]
async fn an_argument_list_too_long_is_invalid_with_its_size_and_the_limit() {
    let exec = executor("e2big");
    let one_huge_word = vec!["echo".to_owned(), "x".repeat(3 * 1024 * 1024)];
    let many_words: Vec<String> = std::iter::once("echo".to_owned())
        .chain((0..40_000).map(|_| "y".repeat(100)))
        .collect();
    for words in [one_huge_word, many_words] {
        let size: usize = words.iter().map(|w| w.len() + 1).sum();
        let process = exec
            .create_process(words.into(), ExecOptions::new())
            .unwrap();
        let err = process.start().await.expect_err("E2BIG");
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
        let message = err.to_string();
        assert!(message.len() < 600, "a {}-byte message", message.len());
        assert!(message.contains("is too long"), "{message}");
        let exec_core::Error::ArgumentListTooLong {
            size: reported,
            limit,
            ..
        } = err
        else {
            panic!("not ArgumentListTooLong: {message}");
        };
        assert!(reported >= size, "{reported} < {size}");
        assert!(limit > 0, "{message}");
        assert!(message.contains(&reported.to_string()) && message.contains(&limit.to_string()));
        // A start that failed leaves nothing to run: the process is closed.
        assert_eq!(process.state(), exec_core::ProcessState::Closed);
        process.close(false).await.unwrap();
    }
}

/// The errors exec-native makes itself name it.
#[tokio::test]
async fn backend_errors_name_the_backend() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("not-executable.sh");
    std::fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o644)).unwrap();
    let process = executor("named")
        .create_process(
            vec![script.to_str().unwrap().to_owned()].into(),
            ExecOptions::new(),
        )
        .unwrap();
    let err = process.start().await.expect_err("not executable");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert_eq!(err.backend_name(), Some("native"));
    assert!(err.to_string().starts_with("native: start "), "{err}");
    assert!(
        exec_core::report(&err).contains("Permission denied"),
        "{}",
        exec_core::report(&err)
    );
}

/// The descriptors `ls -l /proc/self/fd` lists, as (number, target), for a
/// child that ran it with `exec` (so the list is ls's own).
fn fd_listing(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .filter_map(|line| {
            let (left, target) = line.split_once(" -> ")?;
            let fd = left.split_whitespace().last()?.parse().ok()?;
            Some((fd, target.to_owned()))
        })
        .collect()
}

/// The descriptors beyond 0, 1 and 2 in a listing, less ls's own handle on
/// the directory it lists (which it opens itself, at the lowest free number).
fn inherited_beyond_the_standard_streams(listing: &[(u32, String)]) -> Vec<(u32, String)> {
    listing
        .iter()
        .filter(|(fd, target)| {
            *fd > 2 && !(target.starts_with("/proc/") && target.ends_with("/fd"))
        })
        .cloned()
        .collect()
}

/// Descriptors the embedding process holds without close-on-exec (a file
/// opened with a raw `open`, a `dup` of stderr, anything inherited from its
/// own parent) do not reach the child: it gets its standard streams only.
#[tokio::test]
async fn only_the_standard_streams_reach_the_child() {
    use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl, open};
    use nix::sys::stat::Mode;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held-open-by-the-embedder");
    std::fs::write(&path, "").unwrap();
    let opened = open(&path, OFlag::O_RDONLY, Mode::empty()).unwrap();
    let duplicated = nix::unistd::dup(std::io::stderr()).unwrap();
    for fd in [&opened, &duplicated] {
        let flags = FdFlag::from_bits_truncate(fcntl(fd, FcntlArg::F_GETFD).unwrap());
        assert!(
            !flags.contains(FdFlag::FD_CLOEXEC),
            "the test needs an inheritable fd"
        );
    }
    let line = "sh -c 'exec ls -l /proc/self/fd'";

    // The control: a child of std::process::Command inherits both.
    let control = std::process::Command::new("sh")
        .args(["-c", "exec ls -l /proc/self/fd"])
        .output()
        .unwrap();
    let control = fd_listing(&String::from_utf8_lossy(&control.stdout));
    let leaked = inherited_beyond_the_standard_streams(&control);
    assert!(
        leaked
            .iter()
            .any(|(_, target)| target == path.to_str().unwrap()),
        "the control child should see {path:?}: {control:?}"
    );

    let exec = executor("fds");
    let listing = fd_listing(&stdout_of(&exec, line, ExecOptions::new()).await);
    assert_eq!(
        listing
            .iter()
            .map(|(fd, _)| *fd)
            .filter(|fd| *fd <= 2)
            .collect::<Vec<_>>(),
        [0, 1, 2],
        "{listing:?}"
    );
    assert_eq!(
        inherited_beyond_the_standard_streams(&listing),
        [],
        "the child inherited descriptors: {listing:?}"
    );
    // In a terminal too: 0, 1 and 2 are the terminal, and nothing else.
    let terminal = ExecOptions::new().with_pty(exec_core::Pty::new(200, 50));
    let listing = fd_listing(&stdout_of(&exec, line, terminal).await);
    let standard: Vec<_> = listing.iter().filter(|(fd, _)| *fd <= 2).collect();
    assert_eq!(standard.len(), 3, "{listing:?}");
    assert!(
        standard
            .iter()
            .all(|(_, target)| target.starts_with("/dev/pts/")),
        "{listing:?}"
    );
    assert_eq!(
        inherited_beyond_the_standard_streams(&listing),
        [],
        "the child in a terminal inherited descriptors: {listing:?}"
    );
    drop((opened, duplicated));
}

/// The environment variable that makes this test binary the process that
/// is killed (see below).
const VICTIM: &str = "EXEC_NATIVE_TEST_VICTIM";

/// Run as a child of the test (by `a_killed_process_takes_its_commands_and_their_groups_with_it`):
/// starts `sh -c 'sleep 300 & echo $!; wait'` with or without
/// `with_kill_with_parent`, prints the shell's pid and its background
/// sleep's, and waits to be killed.
#[test]
fn victim_process_for_the_kill_with_parent_test() {
    let Ok(kill_with_parent) = std::env::var(VICTIM) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let exec = executor("victim").with_kill_with_parent(kill_with_parent == "1");
        let process = exec
            .create_process(
                "sh -c 'sleep 300 & echo $!; wait'".into(),
                ExecOptions::new(),
            )
            .unwrap();
        let mut stdout = process.take_stdout().unwrap();
        process.start().await.unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while byte[0] != b'\n' {
            stdout.read_exact(&mut byte).await.unwrap();
            line.push(byte[0]);
        }
        println!(
            "pids {} {}",
            process.id().unwrap(),
            String::from_utf8_lossy(&line).trim()
        );
        std::mem::forget(process);
        std::future::pending::<()>().await;
    });
}

/// With `with_kill_with_parent(true)`, a process killed with SIGKILL (no
/// chance to clean up) takes its command and the command's background
/// child with it; without it, both live on.
#[tokio::test]
async fn a_killed_process_takes_its_commands_and_their_groups_with_it() {
    use std::io::BufRead;
    for kill_with_parent in [true, false] {
        let mut victim = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "victim_process_for_the_kill_with_parent_test",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(VICTIM, if kill_with_parent { "1" } else { "0" })
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(victim.stdout.take().unwrap()).lines();
        let pids: Vec<i32> = loop {
            let line = lines.next().expect("the victim's pids").unwrap();
            // After libtest's own "test … ... " on the same line.
            if let Some((_, pids)) = line.split_once("pids ") {
                break pids.split(' ').map(|p| p.parse().unwrap()).collect();
            }
        };
        victim.kill().unwrap();
        victim.wait().unwrap();
        if kill_with_parent {
            for pid in pids {
                assert_dies(pid, "the death of the process that started it").await;
            }
        } else {
            tokio::time::sleep(Duration::from_millis(300)).await;
            for pid in pids {
                assert!(
                    exec_test_support::procfs::is_alive(pid),
                    "without the opt-in {pid} lives on"
                );
                nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                )
                .unwrap();
            }
        }
    }
}
