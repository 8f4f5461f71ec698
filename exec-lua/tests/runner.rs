//! The `exec-lua` binary, run as a user runs it: exit statuses, messages,
//! `arg`, `--check`, `os.exit` and signals, and the examples.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

fn exec_lua(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exec-lua"))
        .args(args)
        .current_dir(workspace())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// [`exec_lua`], failing the test (and killing the runner) if it has not
/// ended within `limit`.
fn exec_lua_within(args: &[&str], limit: Duration) -> Output {
    use std::io::Read;
    let mut child = Command::new(env!("CARGO_BIN_EXE_exec-lua"))
        .args(args)
        .current_dir(workspace())
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stdout.read_to_end(&mut bytes).map(|_| bytes)
    });
    let err = std::thread::spawn(move || {
        let mut bytes = Vec::new();
        stderr.read_to_end(&mut bytes).map(|_| bytes)
    });
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("exec-lua {args:?} did not end within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: out.join().unwrap().unwrap(),
        stderr: err.join().unwrap().unwrap(),
    }
}

const AUDITED: &str = r#"local exec = require("exec")
local shell = assert(exec.get("app:shell"))
local p = assert(shell:exec("sh -c 'exit 4'", { env = { SECRET_TOKEN = "hunter2" } }))
assert(p:start())
assert(p:wait() == 4)
local restricted = assert(exec.get("app:restricted"))
assert(not restricted:exec("rm -rf /"))
print("ran")
"#;

#[test]
fn audit_events_go_to_stderr_when_asked_and_never_show_env_values() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "audited.lua", AUDITED);
    let by_flag = exec_lua(&["--log", "info", &script]);
    let by_env = Command::new(env!("CARGO_BIN_EXE_exec-lua"))
        .arg(&script)
        .env("RUST_LOG", "exec=info")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    for output in [by_flag, by_env] {
        assert_exit(&output, 0);
        assert_eq!(text(&output.stdout), "ran\n");
        let log = text(&output.stderr);
        for expected in [
            "exec: acquire",
            "exec: allowed",
            "exec: start",
            "code=4",
            "exec: denied",
            "not in the command whitelist",
            "env=LANG,PATH,SECRET_TOKEN",
        ] {
            assert!(log.contains(expected), "no {expected:?} in:\n{log}");
        }
        assert!(
            log.lines()
                .any(|l| l.contains("WARN") && l.contains("exec: denied")),
            "{log}"
        );
        assert!(
            !log.contains("hunter2"),
            "an env value reached the log:\n{log}"
        );
    }
}

/// An option this project does not know (one of a newer or older Wippy) is
/// ignored, as Wippy ignores it, with a warning that names it: `--log warn`
/// shows it, quoted so that a script cannot forge a log line.
#[test]
fn unknown_exec_options_run_with_a_warning_naming_each() {
    let output = exec_lua(&[
        "--log",
        "warn",
        "-e",
        r#"local shell = assert(require("exec").get("app:shell"))
           local p = assert(shell:exec("echo ran", { workdir = "/", ["evil\nWARN forged"] = 1 }))
           local out = p:stdout_stream()
           assert(p:start())
           io.write(out:read_all())
           assert(p:wait() == 0)"#,
    ]);
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "ran\n");
    let log = text(&output.stderr);
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("unknown option ignored"))
        .collect();
    assert_eq!(warnings.len(), 2, "{log}");
    assert!(
        warnings
            .iter()
            .any(|l| l.contains("option=\"workdir\"") && l.contains("executor=\"app:shell\"")),
        "{log}"
    );
    assert!(
        warnings
            .iter()
            .any(|l| l.contains(r#"option="evil\nWARN forged""#)),
        "{log}"
    );
    assert!(!log.lines().any(|l| l.starts_with("WARN forged")), "{log}");
    let quiet = exec_lua(&[
        "-e",
        r#"assert(require("exec").get("app:shell"):exec("true", { workdir = "/" }))"#,
    ]);
    assert_exit(&quiet, 0);
    assert_eq!(text(&quiet.stderr), "");
}

#[test]
fn the_runner_is_silent_by_default_and_refuses_a_bad_filter() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "audited.lua", AUDITED);
    let quiet = exec_lua(&[&script]);
    assert_exit(&quiet, 0);
    assert_eq!(text(&quiet.stderr), "");
    let bad = exec_lua(&["--log", "exec=loud", &script]);
    assert_exit(&bad, 2);
    assert!(
        text(&bad.stderr).contains("--log \"exec=loud\""),
        "{}",
        text(&bad.stderr)
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[track_caller]
fn assert_exit(output: &Output, code: i32) {
    assert_eq!(
        output.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        text(&output.stdout),
        text(&output.stderr)
    );
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn the_readme_example_runs_with_no_config() {
    let output = exec_lua(&["examples/hello.lua"]);
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    for expected in [
        "echo said: Hello, world!",
        "echo exited with\t0",
        "  tick 3",
        "the counter exited with\t3",
        "sorted: apple banana cherry",
        "no-such-program:\tNotFound",
        "app:restricted said: hello",
        "app:restricted refused:\tcommand \"rm -rf /tmp/important\" is not in the command whitelist of executor app:restricted",
    ] {
        assert!(stdout.contains(expected), "{expected:?} not in:\n{stdout}");
    }
    assert_eq!(text(&output.stderr), "");
}

#[test]
fn the_config_example_runs_with_the_example_config() {
    let output = exec_lua(&["--config", "examples/executors.yaml", "examples/config.lua"]);
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    assert!(stdout.contains("git push:\tPermissionDenied"), "{stdout}");
    assert!(stdout.contains("app:legacy printed: 한글"), "{stdout}");
}

#[test]
fn a_script_error_exits_1_with_the_message_and_a_traceback() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "fails.lua",
        "local function check(n)\n  if n > 1 then error('too big: ' .. n) end\nend\ncheck(2)\n",
    );
    let output = exec_lua(&[&script]);
    assert_exit(&output, 1);
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "exec-lua: {script}:2: too big: 2\nstack traceback:\n"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{script}:4: in main chunk")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("xpcall"),
        "the runner's frame shows: {stderr}"
    );
}

#[test]
fn an_error_value_raised_shows_its_message() {
    let output = exec_lua(&[
        "-e",
        "error(errors.new({message = 'deploy failed', kind = errors.INTERNAL}))",
    ]);
    assert_exit(&output, 1);
    assert!(
        text(&output.stderr).starts_with("exec-lua: deploy failed\nstack traceback:"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_syntax_error_exits_1_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(dir.path(), "syntax.lua", "print('ok')\nlocal = 3\n");
    let output = exec_lua(&[&script]);
    assert_exit(&output, 1);
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!("exec-lua: {script}:2:")),
        "{stderr}"
    );
    assert_eq!(text(&output.stdout), "", "nothing of the script ran");
}

#[test]
fn a_misused_api_returns_errors_and_does_not_crash_the_runner() {
    let output = exec_lua(&[
        "-e",
        r#"local exec = require("exec")
           local shell = assert(exec.get("app:shell"))
           local proc = assert(shell:exec("true"))
           local code, err = proc:wait()
           print(code, err:kind())
           local _, err2 = shell:exec("echo 'unclosed")
           print(err2:kind())"#,
    ]);
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "nil\tInvalid\nInvalid\n");
}

#[test]
fn a_bad_config_exits_2_with_the_loaders_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "bad.yaml",
        "- name: shell\n  kind: exec.native\n  defualt_env: {}\n",
    );
    let output = exec_lua(&["--config", &config, "-e", "print('ran')"]);
    assert_exit(&output, 2);
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "exec-lua: {config}:3:3: entry app:shell: unknown field \"defualt_env\"; did you mean \"default_env\"?"
        )),
        "{stderr}"
    );
    assert_eq!(text(&output.stdout), "", "nothing ran");
}

#[test]
fn a_missing_config_or_script_exits_2() {
    let output = exec_lua(&[
        "--config",
        "/nonexistent/executors.yaml",
        "examples/hello.lua",
    ]);
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("/nonexistent/executors.yaml"));

    let output = exec_lua(&["/nonexistent/script.lua"]);
    assert_exit(&output, 2);
    assert_eq!(
        text(&output.stderr),
        "exec-lua: cannot read script /nonexistent/script.lua: No such file or directory (os error 2)\n"
    );
}

#[test]
fn bad_usage_exits_2_and_help_exits_0() {
    let output = exec_lua(&[]);
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("nothing to run"));

    let output = exec_lua(&["--no-such-flag"]);
    assert_exit(&output, 2);
    assert!(text(&output.stderr).contains("--no-such-flag"));

    let output = exec_lua(&["--check"]);
    assert_exit(&output, 2);

    let output = exec_lua(&["--help"]);
    assert_exit(&output, 0);
    assert!(text(&output.stdout).contains("Usage: exec-lua"));
}

/// Runs exec-lua with `args`, `stdin` as its standard input.
fn exec_lua_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_exec-lua"))
        .args(args)
        .current_dir(workspace())
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn without_allow_file_access_a_script_has_its_standard_streams_and_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "secret.txt", "secret\n");
    let script = write(
        dir.path(),
        "streams.lua",
        r#"print("print")
           io.write("io.write\n")
           io.stdout:write("io.stdout\n")
           io.stderr:write("io.stderr\n")
           io.output():write("io.output\n")
           print(io.read("l"), io.stdin:read("l"), io.input():read("l"))
           for line in io.lines() do print("line", line) end
           local f, err = io.open("/proc/self/mem", "r+b")
           print(f, err)
           print(pcall(io.lines, "/proc/self/maps"))
           print(io.open(arg[1]))"#,
    );
    let output = exec_lua_with_stdin(&[&script, &secret], "one\ntwo\nthree\nfour\n");
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    let off = "file access is off in this sandbox (exec-lua --allow-file-access";
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines[..5],
        [
            "print",
            "io.write",
            "io.stdout",
            "io.output",
            "one\ttwo\tthree"
        ],
        "{stdout}"
    );
    assert_eq!(lines[5], "line\tfour", "{stdout}");
    assert!(
        lines[6].starts_with(&format!("nil\tio.open: {off}")),
        "{stdout}"
    );
    assert!(lines[7].starts_with("false\t"), "{stdout}");
    assert!(lines[7].contains(off), "{stdout}");
    assert!(
        lines[8].starts_with(&format!("nil\tio.open: {off}")),
        "{stdout}"
    );
    assert_eq!(text(&output.stderr), "io.stderr\n");
}

#[test]
fn allow_file_access_gives_the_script_files_and_says_what_it_gives_away() {
    let dir = tempfile::tempdir().unwrap();
    let secret = write(dir.path(), "secret.txt", "secret\n");
    let script = write(
        dir.path(),
        "files.lua",
        r#"io.write(assert(io.open(arg[1])):read("a"))
           print(io.type(io.open("/proc/self/maps")), type(os.getenv("PATH")))"#,
    );
    let output = exec_lua(&["--allow-file-access", &script, &secret]);
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "secret\nfile\tstring\n");

    let output = exec_lua(&["--help"]);
    assert_exit(&output, 0);
    let help = text(&output.stdout);
    let flag = help
        .split("--allow-file-access")
        .nth(1)
        .expect("no --allow-file-access in --help");
    for words in [
        "every file this user can read or write",
        "/proc/self/mem",
        "whitelist no longer holds",
        "trusted scripts only",
    ] {
        assert!(flag.contains(words), "{words:?} not in:\n{help}");
    }
}

#[test]
fn a_bare_list_config_gets_the_namespace_app() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "list.yaml",
        "- name: shell\n  kind: exec.native\n  default_env: { PATH: /usr/bin:/bin }\n",
    );
    let output = exec_lua(&[
        "--config",
        &config,
        "-e",
        r#"local shell = assert(require("exec").get("app:shell"))
           local p = assert(shell:exec("echo from the list"))
           local out = p:stdout_stream()
           assert(p:start())
           io.write(out:read_all())"#,
    ]);
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "from the list\n");
}

#[test]
fn arguments_reach_the_script_as_arg_and_dots() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "args.lua",
        "#!/usr/bin/env exec-lua\nprint(arg[0], arg[1], arg[2], arg[3], #arg)\nprint(...)\n",
    );
    let output = exec_lua(&[&script, "one", "--two", "-3"]);
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        format!("{script}\tone\t--two\t-3\t3\none\t--two\t-3\n")
    );
}

#[test]
fn chunks_run_before_the_script_and_a_script_can_come_from_stdin() {
    let output = exec_lua_with_stdin(
        &["-e", "greeting = 'hi'", "-", "there"],
        "print(greeting, ...)",
    );
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "hi\tthere\n");
}

#[test]
fn check_lists_entries_and_reports_bad_files() {
    let output = exec_lua(&["--check", "examples/executors.yaml"]);
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "examples/executors.yaml: ok, 3 entries\n  app:shell\n  app:git\n  app:legacy\n"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.yaml", "- name: x\n  kind: exec.nativ\n");
    let output = exec_lua(&["--check", "examples/executors.yaml", &bad]);
    assert_exit(&output, 2);
    assert!(text(&output.stdout).contains("examples/executors.yaml: ok"));
    assert!(
        text(&output.stderr).contains(&format!(
            "{bad}:2:9: entry app:x: unknown kind \"exec.nativ\"; did you mean \"exec.native\"?"
        )),
        "{}",
        text(&output.stderr)
    );

    // One registry across the files: an id given twice is found.
    let again = write(
        dir.path(),
        "again.yaml",
        "namespace: app\nentries:\n  - { name: shell, kind: exec.native }\n",
    );
    let output = exec_lua(&["--check", "examples/executors.yaml", &again]);
    assert_exit(&output, 2);
    assert!(
        text(&output.stderr).contains("app:shell"),
        "{}",
        text(&output.stderr)
    );
}

/// Waits until `pid` is gone (or a zombie no one will reap soon, which it is
/// not: our test process is not its parent).
fn gone(pid: u32) -> bool {
    exec_test_support::procfs::ends_within(pid as i32, Duration::from_secs(5))
}

const START_SLEEPER: &str = r#"local shell = assert(require("exec").get("app:shell"))
local p = assert(shell:exec("sleep 60"))
assert(p:start())
io.write(p:pid(), "\n")
io.stdout:flush()
"#;

#[test]
fn os_exit_ends_with_its_status_and_kills_the_children() {
    let script = format!("{START_SLEEPER}os.exit(7)\nprint('not reached')");
    let output = exec_lua(&["-e", &script]);
    assert_exit(&output, 7);
    let stdout = text(&output.stdout);
    let pid: u32 = stdout.trim().parse().expect(&stdout);
    assert!(gone(pid), "sleep {pid} outlived the runner");

    // pcall cannot catch it.
    let output = exec_lua(&["-e", "print(pcall(os.exit, 3)); print('not reached')"]);
    assert_exit(&output, 3);
    assert_eq!(text(&output.stdout), "");
}

#[test]
fn a_script_that_ends_leaves_no_child_behind() {
    let output = exec_lua(&["-e", START_SLEEPER]);
    assert_exit(&output, 0);
    let pid: u32 = text(&output.stdout).trim().parse().unwrap();
    assert!(gone(pid), "sleep {pid} outlived the runner");
}

#[test]
fn sigterm_ends_the_runner_with_143_and_kills_the_children() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_exec-lua"))
        .args(["-e", &format!("{START_SLEEPER}\nlocal p2 = require('exec').get('app:shell'):exec('sleep 60'); p2:start(); p2:wait()")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    let pid: u32 = line.trim().parse().expect(&line);
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    assert_exit(&output, 143);
    assert!(gone(pid), "sleep {pid} outlived the runner");
}

/// The descriptors of an `ls -l /proc/.../fd` listing beyond 0, 1 and 2,
/// less ls's own handle on the directory it lists.
fn descriptors_beyond_the_standard_streams(listing: &str) -> Vec<String> {
    listing
        .lines()
        .filter_map(|line| {
            let (left, target) = line.split_once(" -> ")?;
            let fd: u32 = left.split_whitespace().last()?.parse().ok()?;
            let own_dirfd = target.starts_with("/proc/") && target.ends_with("/fd");
            (fd > 2 && !own_dirfd).then(|| format!("{fd} -> {target}"))
        })
        .collect()
}

/// A descriptor the runner inherits without close-on-exec (from whoever
/// started it) stays with the runner: the commands it starts see their
/// standard streams only.
#[test]
fn a_descriptor_the_runner_inherits_does_not_reach_its_children() {
    use nix::fcntl::{OFlag, open};
    use nix::sys::stat::Mode;

    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "inherited-by-the-runner", "");
    // nix's open adds no O_CLOEXEC: the runner started below inherits it.
    let inherited = open(path.as_str(), OFlag::O_RDONLY, Mode::empty()).unwrap();
    let output = exec_lua(&[
        "-e",
        r#"local shell = assert(require("exec").get("app:shell"))
           for _, line in ipairs({ "sh -c 'ls -l /proc/$PPID/fd'", "sh -c 'exec ls -l /proc/self/fd'" }) do
               local p = assert(shell:exec(line))
               local out = p:stdout_stream()
               assert(p:start())
               io.write(out:read_all(), "--\n")
               assert(p:wait() == 0)
           end"#,
    ]);
    drop(inherited);
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    let parts: Vec<&str> = stdout.split("--\n").collect();
    let runner = descriptors_beyond_the_standard_streams(parts[0]);
    assert!(
        runner.iter().any(|fd| fd.ends_with(&path)),
        "the runner itself should hold {path}: {runner:?}"
    );
    assert_eq!(
        descriptors_beyond_the_standard_streams(parts[1]),
        Vec::<String>::new(),
        "the runner's child inherited descriptors:\n{}",
        parts[1]
    );
}

#[test]
fn the_both_streams_example_runs() {
    let output = exec_lua_within(&["examples/both-streams.lua"], Duration::from_secs(30));
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "stdout: \"done\", stderr: 2000000 bytes, exit code 0\n\
         a command that ran too long: timed out true, exit code 143 (signal 15)\n\
         6 lines from both streams, exit code 0\n"
    );
    assert_eq!(text(&output.stderr), "");
}

/// `close()` of a child that ignores SIGTERM returns at once (it used to
/// block for the 3 s grace); the runner, ending right after, leaves nothing
/// behind.
#[test]
fn close_returns_at_once_and_the_runner_leaves_nothing_behind() {
    let script = r#"local shell = assert(require("exec").get("app:shell"))
local p = assert(shell:exec({ "sh", "-c", "trap '' TERM; echo ready; exec sleep 60" }))
local out = p:stdout_stream()
assert(p:start())
assert(out:read() == "ready\n")
io.write(p:pid(), "\n")
io.stdout:flush()
assert(p:close() == true)
print("closed")
"#;
    let started = std::time::Instant::now();
    let output = exec_lua_within(&["-e", script], Duration::from_secs(30));
    let took = started.elapsed();
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    let pid: u32 = stdout.lines().next().unwrap().parse().expect(&stdout);
    assert!(stdout.ends_with("closed\n"), "{stdout}");
    assert!(
        took < Duration::from_millis(2500),
        "the runner took {took:?}"
    );
    assert!(gone(pid), "sleep {pid} outlived the runner");
}

#[test]
fn an_error_in_a_spawned_coroutine_exits_1_with_its_message_and_traceback() {
    let dir = tempfile::tempdir().unwrap();
    let script = write(
        dir.path(),
        "spawned.lua",
        "local function fail(what)\n  error('cannot ' .. what)\nend\n\
         coroutine.spawn(function()\n  time.sleep('10ms')\n  fail('go on')\nend)\n\
         time.sleep('10s')\nprint('not reached')\n",
    );
    let started = std::time::Instant::now();
    let output = exec_lua_within(&[&script], Duration::from_secs(30));
    assert_exit(&output, 1);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(text(&output.stdout), "");
    let stderr = text(&output.stderr);
    assert!(
        stderr.starts_with(&format!(
            "exec-lua: a coroutine started by coroutine.spawn failed: {script}:2: cannot go on\n\
             stack traceback:\n"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{script}:2: in upvalue 'fail'")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("{script}:6: in function <{script}:4>")),
        "{stderr}"
    );
}

/// When the script ends, the coroutines it spawned end with it (as in
/// Wippy), and the processes they were waiting for are killed.
#[test]
fn when_the_script_ends_its_spawned_coroutines_end_and_their_processes_die() {
    let script = r#"local shell = assert(require("exec").get("app:shell"))
local pids = channel.new(2)
for _ = 1, 2 do
    coroutine.spawn(function()
        local p = assert(shell:exec("sleep 60"))
        local out = p:stdout_stream()
        assert(p:start())
        pids:send(p:pid())
        out:read()                       -- never returns: the script ends first
        print("not reached")
    end)
end
io.write(pids:receive(), " ", pids:receive(), "\n")
"#;
    let output = exec_lua_within(&["-e", script], Duration::from_secs(30));
    assert_exit(&output, 0);
    let stdout = text(&output.stdout);
    let pids: Vec<u32> = stdout
        .split_whitespace()
        .map(|pid| pid.parse().expect(&stdout))
        .collect();
    assert_eq!(pids.len(), 2, "{stdout}");
    for pid in pids {
        assert!(gone(pid), "sleep {pid} outlived the runner");
    }
}

/// Runs the runner under an address-space limit of 1 GiB (`prlimit`), so
/// that a memory limit that did not hold would end in an allocation failure
/// and an abort (status 134), not a clean error.
fn exec_lua_in_1gib(args: &[&str]) -> Output {
    let mut all = vec!["--as=1073741824", "--", env!("CARGO_BIN_EXE_exec-lua")];
    all.extend_from_slice(args);
    let mut child = Command::new("prlimit")
        .args(&all)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("prlimit (util-linux) runs the runner under a memory limit");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("exec-lua {args:?} did not end within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn a_memory_bomb_ends_with_a_clean_error_naming_the_limit() {
    // 40 strings of 256 MiB: 10 GiB without a limit.
    let bomb = r#"local t = {}; for i = 1, 40 do t[i] = string.rep("x", 2^28) .. i end"#;
    let output = exec_lua_in_1gib(&["--memory-limit", "64MiB", "-e", bomb]);
    assert_exit(&output, 1);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("not enough memory"), "{stderr}");
    assert!(stderr.contains("--memory-limit 64MiB"), "{stderr}");

    // The default limit (1 GiB of Lua memory) holds too; the runner's own
    // memory stays in the 1 GiB of address space.
    let output = exec_lua_in_1gib(&["--memory-limit", "512MiB", "-e", bomb]);
    assert_exit(&output, 1);
    assert!(text(&output.stderr).contains("not enough memory"));
}

#[test]
fn running_out_of_memory_anywhere_in_the_script_is_a_script_error_never_an_abort() {
    // A channel per level of a recursion (an abort before limits): the
    // stack's own memory runs out first under 8 MiB (at about 200,000
    // levels, Lua's "stack overflow" is as clean an end).
    let recursion =
        "local function down(n) local ch = channel.new(1); ch:send(n); down(n + 1) end down(1)";
    let output = exec_lua_in_1gib(&["--memory-limit", "8MiB", "-e", recursion]);
    assert_exit(&output, 1);
    assert!(text(&output.stderr).contains("not enough memory"));
    for script in [
        // A buffered channel filled for ever.
        "local ch = channel.new(1e15); local i = 0; while true do i = i + 1; ch:send(string.rep('x', 100) .. i) end",
        // Coroutines that never end.
        "local ch = channel.new(); while true do coroutine.spawn(function() ch:receive() end) end",
        // One table that grows.
        "local t = {}; local i = 0; while true do i = i + 1; t[i] = {i} end",
    ] {
        let output = exec_lua_in_1gib(&["--memory-limit", "64MiB", "-e", script]);
        assert_exit(&output, 1);
        let stderr = text(&output.stderr);
        assert!(stderr.contains("not enough memory"), "{script}: {stderr}");
    }
}

#[test]
fn a_deadlocked_script_ends_at_once_with_an_error_naming_where_it_waits() {
    let started = std::time::Instant::now();
    let output = exec_lua_within(&["-e", "channel.new(0):receive()"], Duration::from_secs(30));
    assert_exit(&output, 1);
    let stderr = text(&output.stderr);
    assert!(stderr.contains("deadlock"), "{stderr}");
    assert!(
        stderr.contains("(command line):1: in main chunk"),
        "{stderr}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));

    // Every coroutine waits on another: the same.
    let script = "local a, b = channel.new(), channel.new()
        coroutine.spawn(function() a:receive(); b:send(1) end)
        coroutine.spawn(function() b:receive(); a:send(1) end)
        local done = channel.new()
        done:receive()";
    let output = exec_lua_within(&["-e", script], Duration::from_secs(30));
    assert_exit(&output, 1);
    assert!(text(&output.stderr).contains("deadlock"));
}

#[test]
fn a_wait_that_a_timer_or_a_process_can_end_is_not_a_deadlock() {
    let script = r#"local ch = channel.new()
        coroutine.spawn(function() time.sleep("100ms"); ch:send("timer") end)
        print((ch:receive()))
        local p = assert(require("exec").get("app:shell"):exec("sleep 0.1"))
        assert(p:start())
        print(p:done():receive().code)
        local t = time.after("50ms")
        print(type(t:receive()))"#;
    let output = exec_lua_within(&["-e", script], Duration::from_secs(30));
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "timer\n0\nuserdata\n");
}

#[test]
fn max_processes_bounds_what_a_script_runs_at_once() {
    let script = r#"local shell = assert(require("exec").get("app:shell"))
        local ps = {}
        for i = 1, 3 do
            ps[i] = assert(shell:exec("sleep 30"))
            local ok, err = ps[i]:start()
            if not ok then print(i, err:kind(), tostring(err)) end
        end
        ps[1]:close(true)
        local p = assert(shell:exec("true"))
        assert(p:start())
        print("after close", p:wait())"#;
    let output = exec_lua_within(
        &["--max-processes", "2", "-e", script],
        Duration::from_secs(30),
    );
    assert_exit(&output, 0);
    assert_eq!(
        text(&output.stdout),
        "3\tUnavailable\ttoo many processes: the script (exec-lua --max-processes) allows 2 running at once\n\
         after close\t0\n"
    );
}

#[test]
fn a_fork_bomb_loop_is_stopped_by_the_default_max_processes() {
    let script = r#"local shell = assert(require("exec").get("app:shell"))
        local ps, n = {}, 0
        while true do
            local p = assert(shell:exec("sleep 30"))
            local ok, err = p:start()
            if not ok then print(n, err:kind()); break end
            n = n + 1
            ps[n] = p
        end"#;
    let output = exec_lua_within(&["-e", script], Duration::from_secs(60));
    assert_exit(&output, 0);
    assert_eq!(text(&output.stdout), "256\tUnavailable\n");
}

#[test]
fn bad_limit_flags_are_usage_errors_naming_the_value() {
    for (args, says) in [
        (&["--memory-limit", "12XB"][..], "unknown unit"),
        (&["--memory-limit", "100"][..], "below the smallest limit"),
        (&["--memory-limit=-5MiB"][..], "is not a size"),
        (&["--timeout", "0"][..], "above 0"),
        (&["--timeout", "soon"][..], "is not a duration"),
        (&["--timeout=-3s"][..], "above 0"),
        (&["--max-processes", "0"][..], "0"),
    ] {
        let mut all = args.to_vec();
        all.extend(["-e", "print('ran')"]);
        let output = exec_lua(&all);
        assert_exit(&output, 2);
        assert!(
            text(&output.stderr).contains(says),
            "{args:?}: {}",
            text(&output.stderr)
        );
        assert_eq!(text(&output.stdout), "");
    }
    // `none` lifts the memory limit.
    let output = exec_lua(&[
        "--memory-limit",
        "none",
        "-e",
        "print(#string.rep('x', 2^21))",
    ]);
    assert_exit(&output, 0);
}
