//! The runner leaves nothing behind, however it ends: what its script started
//! is dead, and nothing is left for its parent to reap.
//!
//! Each scenario runs the runner under a helper that is a child subreaper, so
//! that whatever the runner leaves (orphans, unreaped children) comes to the
//! helper, which counts it. Being a subreaper is a setting of the whole
//! process, so the helper is this test binary run again, one scenario per
//! process (`EXEC_LUA_REAPER_HELPER` set, the test's own name as the filter).
//!
//! And as PID 1 of a pid namespace (where every orphan comes to it), the
//! runner reaps what a thousand commands leave.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_test_support::procfs::{is_alive, processes};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const HELPER: &str = "EXEC_LUA_REAPER_HELPER";

/// Starts a command of its own, one with a background grandchild, and one
/// whose background child leaves the group with `setsid`; prints their pids,
/// then ends as `...` says (`end`, `error`, `exit`) or waits for a signal.
const SCRIPT: &str = r#"local mode = ...
local shell = assert(require("exec").get("app:shell"))
local function start(line)
    local p = assert(shell:exec(line))
    local out = p:stdout_stream()
    assert(p:start())
    return p, out
end
local direct = start("sleep 60")
print("pid direct " .. direct:pid())
local leader, out = start("sh -c 'sleep 60 & echo $!; wait'")
print("pid direct " .. leader:pid())
print("pid grandchild " .. assert(out:read()):match("%d+"))
-- The escapee prints its pid once it has left the group.
local parent, out2 = start([[sh -c 'setsid sh -c "echo \$\$; exec sleep 60" & wait']])
print("pid direct " .. parent:pid())
print("pid escapee " .. assert(out2:read()):match("%d+"))
print("ready")
io.stdout:flush()
if mode == "error" then error("the script failed") end
if mode == "exit" then os.exit(5) end
if mode == "end" then return end
-- A loop that never calls into exec, and a pcall that would catch a stop.
if mode == "busy" then while true do pcall(function() while true do end end) end end
direct:wait()
"#;

/// What the helper saw.
#[derive(Debug, Default)]
struct Report {
    /// The runner's exit: `code N` or `signal N`.
    exit: String,
    /// Processes the script started that were still alive, as `role pid`.
    alive: Vec<String>,
    /// What came to the helper after the runner ended, as `pid state`.
    inherited: Vec<String>,
    /// From the signal (or, without one, the script's ready line) to the
    /// runner's end.
    took: Duration,
}

/// Runs `scenario` in a helper process (this binary again, filtered to
/// `test`) and returns its report; in the helper itself, runs the scenario
/// and exits.
fn scenario(test: &str, scenario: &str) -> Report {
    if std::env::var_os(HELPER).is_some() {
        helper(scenario);
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(HELPER, "1")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut report = Report::default();
    for line in stdout.lines() {
        let Some(line) = line.strip_prefix("REPORT ") else {
            continue;
        };
        match line.split_once(' ') {
            Some(("exit", exit)) => report.exit = exit.to_owned(),
            Some(("alive", what)) => report.alive.push(what.to_owned()),
            Some(("inherited", what)) => report.inherited.push(what.to_owned()),
            Some(("took", ms)) => report.took = Duration::from_millis(ms.parse().unwrap()),
            _ => panic!("a bad report line: {line}"),
        }
    }
    assert!(
        !report.exit.is_empty(),
        "the helper reported nothing:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    report
}

/// The helper: a subreaper running the runner through `scenario`.
fn helper(scenario: &str) -> ! {
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let me = i32::try_from(std::process::id()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("reaping.lua");
    std::fs::write(&script, SCRIPT).unwrap();
    let mode = match scenario {
        "end" | "error" | "exit" => scenario,
        "busy SIGTERM" | "busy timeout" => "busy",
        _ => "wait",
    };
    let timeout: &[&str] = match scenario {
        "busy timeout" | "wait timeout" => &["--timeout", "1s"],
        _ => &[],
    };
    let mut runner = Command::new(env!("CARGO_BIN_EXE_exec-lua"))
        .args(timeout)
        .arg(&script)
        .arg(mode)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut started = Vec::new();
    let mut lines = BufReader::new(runner.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        if line == "ready" {
            break;
        }
        let mut words = line.split_whitespace().skip(1);
        let (Some(role), Some(pid)) = (words.next(), words.next()) else {
            panic!("unexpected output: {line}");
        };
        started.push((role.to_owned(), pid.parse::<i32>().unwrap()));
    }
    assert_eq!(started.len(), 5, "{started:?}");
    let signal = match scenario {
        "SIGINT" => Some(Signal::SIGINT),
        "SIGTERM" | "busy SIGTERM" => Some(Signal::SIGTERM),
        "SIGHUP" => Some(Signal::SIGHUP),
        "SIGQUIT" => Some(Signal::SIGQUIT),
        "SIGKILL" => Some(Signal::SIGKILL),
        _ => None,
    };
    if scenario.starts_with("busy") {
        // Let it spin first.
        std::thread::sleep(Duration::from_millis(200));
    }
    let signalled = Instant::now();
    if let Some(signal) = signal {
        kill(Pid::from_raw(i32::try_from(runner.id()).unwrap()), signal).unwrap();
    }
    let status = runner.wait().unwrap();
    println!();
    println!("REPORT took {}", signalled.elapsed().as_millis());
    let mut stderr = String::new();
    runner
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    eprintln!("runner stderr: {stderr}");
    // What the runner left comes at once; give stragglers a moment.
    std::thread::sleep(Duration::from_millis(300));
    let mut inherited: Vec<String> = processes()
        .into_iter()
        .filter(|s| s.ppid == me)
        .map(|s| format!("{} {}", s.pid, s.state))
        .collect();
    if scenario == "SIGKILL" {
        // Killed with the runner: give the kernel's signals time to land.
        let deadline = Instant::now() + Duration::from_secs(5);
        while started
            .iter()
            .any(|(role, pid)| role == "direct" && is_alive(*pid))
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        inherited.clear();
    }
    let alive: Vec<String> = started
        .iter()
        .filter(|(_, pid)| is_alive(*pid))
        .map(|(role, pid)| format!("{role} {pid}"))
        .collect();
    // libtest wrote "test <name> ... " without a newline.
    println!();
    match (status.code(), status.signal()) {
        (Some(code), _) => println!("REPORT exit code {code}"),
        (_, Some(signal)) => println!("REPORT exit signal {signal}"),
        _ => println!("REPORT exit unknown"),
    }
    for what in alive {
        println!("REPORT alive {what}");
    }
    for what in inherited {
        println!("REPORT inherited {what}");
    }
    // Leave nothing behind ourselves.
    for (_, pid) in &started {
        if is_alive(*pid) {
            let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let children: Vec<i32> = processes()
            .into_iter()
            .filter(|s| s.ppid == me)
            .map(|s| s.pid)
            .collect();
        if children.is_empty() || Instant::now() > deadline {
            break;
        }
        for pid in children {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
    }
    std::process::exit(0);
}

#[track_caller]
fn assert_nothing_left(report: &Report, exit: &str) {
    assert_eq!(report.exit, exit, "{report:?}");
    assert!(
        report.alive.is_empty(),
        "started by the script and still alive: {report:?}"
    );
    assert!(
        report.inherited.is_empty(),
        "left to the runner's parent (pid state): {report:?}"
    );
}

#[test]
fn when_the_script_ends_nothing_it_started_outlives_the_runner_or_is_left_unreaped() {
    let report = scenario(
        "when_the_script_ends_nothing_it_started_outlives_the_runner_or_is_left_unreaped",
        "end",
    );
    assert_nothing_left(&report, "code 0");
}

#[test]
fn when_the_script_fails_nothing_it_started_outlives_the_runner_or_is_left_unreaped() {
    let report = scenario(
        "when_the_script_fails_nothing_it_started_outlives_the_runner_or_is_left_unreaped",
        "error",
    );
    assert_nothing_left(&report, "code 1");
}

#[test]
fn on_os_exit_nothing_the_script_started_outlives_the_runner_or_is_left_unreaped() {
    let report = scenario(
        "on_os_exit_nothing_the_script_started_outlives_the_runner_or_is_left_unreaped",
        "exit",
    );
    assert_nothing_left(&report, "code 5");
}

#[test]
fn on_sigint_the_runner_exits_130_leaving_nothing_alive_or_unreaped() {
    let report = scenario(
        "on_sigint_the_runner_exits_130_leaving_nothing_alive_or_unreaped",
        "SIGINT",
    );
    assert_nothing_left(&report, "code 130");
}

#[test]
fn on_sigterm_the_runner_exits_143_leaving_nothing_alive_or_unreaped() {
    let report = scenario(
        "on_sigterm_the_runner_exits_143_leaving_nothing_alive_or_unreaped",
        "SIGTERM",
    );
    assert_nothing_left(&report, "code 143");
}

#[test]
fn sigterm_ends_a_busy_script_within_a_second_with_143_leaving_nothing_alive() {
    let report = scenario(
        "sigterm_ends_a_busy_script_within_a_second_with_143_leaving_nothing_alive",
        "busy SIGTERM",
    );
    assert_nothing_left(&report, "code 143");
    assert!(report.took < Duration::from_secs(1), "{report:?}");
}

#[test]
fn the_timeout_ends_a_busy_script_with_124_leaving_nothing_alive() {
    let report = scenario(
        "the_timeout_ends_a_busy_script_with_124_leaving_nothing_alive",
        "busy timeout",
    );
    assert_nothing_left(&report, "code 124");
    assert!(report.took < Duration::from_secs(2), "{report:?}");
}

#[test]
fn the_timeout_ends_a_waiting_script_with_124_leaving_nothing_alive() {
    let report = scenario(
        "the_timeout_ends_a_waiting_script_with_124_leaving_nothing_alive",
        "wait timeout",
    );
    assert_nothing_left(&report, "code 124");
    assert!(report.took < Duration::from_secs(2), "{report:?}");
}

#[test]
fn on_sighup_the_runner_exits_129_leaving_nothing_alive_or_unreaped() {
    let report = scenario(
        "on_sighup_the_runner_exits_129_leaving_nothing_alive_or_unreaped",
        "SIGHUP",
    );
    assert_nothing_left(&report, "code 129");
}

#[test]
fn on_sigquit_the_runner_exits_131_leaving_nothing_alive_or_unreaped() {
    let report = scenario(
        "on_sigquit_the_runner_exits_131_leaving_nothing_alive_or_unreaped",
        "SIGQUIT",
    );
    assert_nothing_left(&report, "code 131");
}

/// SIGKILL leaves the runner no chance: its own children die with it (they
/// asked the kernel for it), what they started in the background is not
/// promised (it goes to the next subreaper up, here the helper).
#[test]
fn on_sigkill_the_commands_the_runner_started_die_with_it() {
    let report = scenario(
        "on_sigkill_the_commands_the_runner_started_die_with_it",
        "SIGKILL",
    );
    assert_eq!(report.exit, "signal 9", "{report:?}");
    let direct: Vec<&String> = report
        .alive
        .iter()
        .filter(|what| what.starts_with("direct "))
        .collect();
    assert!(
        direct.is_empty(),
        "the runner's children outlived it: {direct:?}"
    );
}

/// A thousand commands that each leave a background child (killed with the
/// group when the command exits, and handed to PID 1 as its parent is gone):
/// the runner, as PID 1 of its own pid namespace, reaps them all.
#[test]
fn as_pid_1_of_a_pid_namespace_the_runner_leaves_no_zombie_after_a_thousand_runs() {
    let probe = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .output()
        .map_err(|e| format!("unshare: {e}"))
        .and_then(|output| {
            if output.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "unshare --pid --fork --mount-proc true: {}",
                    String::from_utf8_lossy(&output.stderr).trim()
                ))
            }
        });
    if exec_core::conformance::daemon_or_skip("a pid namespace (unshare --pid)", probe).is_none() {
        return;
    }
    let script = r#"
local shell = assert(require("exec").get("app:shell"))
for i = 1, 1000 do
    local p = assert(shell:exec("sh -c 'sleep 30 & exit 0'"))
    assert(p:start())
    assert(p:wait() == 0)
    assert(p:close())
end
-- The zombies in the namespace; the reaper works as SIGCHLD comes, so ask
-- again for a little while before taking the count.
local function zombies()
    local p = assert(shell:exec(
        [[sh -c 'grep -h "^State:" /proc/[0-9]*/status 2>/dev/null | grep -c Z']]))
    local out = p:stdout_stream()
    assert(p:start())
    local text = out:read_all()
    p:wait()
    return assert(tonumber(text:match("%d+")), text)
end
local count, checks = zombies(), 1
while count > 0 and checks < 50 do
    local pause = assert(shell:exec("sleep 0.1"))
    assert(pause:start())
    pause:wait()
    count, checks = zombies(), checks + 1
end
print("zombie checks " .. checks)
local ppid = assert(shell:exec("sh -c 'echo $PPID'"))
local out = ppid:stdout_stream()
assert(ppid:start())
io.write("the runner's pid ", out:read_all())
print("zombies " .. count)
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("thousand.lua");
    std::fs::write(&path, script).unwrap();
    let started = Instant::now();
    let output = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(env!("CARGO_BIN_EXE_exec-lua"))
        .arg(&path)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "status {:?}\n{stdout}\n{stderr}",
        output.status
    );
    assert!(
        stdout.lines().any(|l| l == "the runner's pid 1"),
        "the runner should be PID 1:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.lines().any(|l| l == "zombies 0"),
        "zombies left in the namespace:\n{stdout}\n{stderr}"
    );
    println!(
        "1000 runs as PID 1 in {:.1?}: {}",
        started.elapsed(),
        stdout.trim()
    );
}

/// A background child that leaves its command's group with `setsid` is out
/// of `close`'s reach; once its parent is killed it comes to the runner (a
/// subreaper), which kills and reaps it while the script goes on.
#[test]
fn a_setsid_escapee_is_killed_and_reaped_while_the_script_runs() {
    let script = r#"
local shell = assert(require("exec").get("app:shell"))
local p = assert(shell:exec([[sh -c 'setsid sh -c "echo \$\$; exec sleep 60" & wait']]))
local out = p:stdout_stream()
assert(p:start())
local pid = assert(assert(out:read()):match("%d+"))
assert(p:close(true))
-- kill -0 succeeds while the escapee exists, zombie included.
for i = 1, 50 do
    local probe = assert(shell:exec({ "sh", "-c", "kill -0 " .. pid .. " 2>/dev/null" }))
    assert(probe:start())
    if probe:wait() ~= 0 then
        print("gone")
        return
    end
    local pause = assert(shell:exec("sleep 0.1"))
    assert(pause:start())
    pause:wait()
end
print("escapee " .. pid .. " still there after 5 s")
"#;
    let output = Command::new(env!("CARGO_BIN_EXE_exec-lua"))
        .args(["-e", script])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let leftover: Option<i32> = stdout
        .strip_prefix("escapee ")
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok());
    if let Some(pid) = leftover.filter(|pid| is_alive(*pid)) {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stdout, "gone\n");
}
