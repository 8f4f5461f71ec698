//! `executor:terminal`, driven as a person would drive it: the runner in a
//! real terminal (tmux), keys typed with `send-keys`, the screen read with
//! `capture-pane` — on native, Docker and Incus executors. And the clear
//! error a runner without a terminal of its own gets.

#![cfg(feature = "cli")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_core::conformance::daemon_or_skip;
use exec_test_support::daemons;
use exec_test_support::incus::IncusDaemon;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A tmux server of the test's own (its own socket, so tests run side by
/// side), one window running a plain shell; killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(name: &str, width: u16, height: u16) -> Option<Self> {
        let tmux = Command::new("tmux").arg("-V").output();
        daemon_or_skip(
            "tmux",
            tmux.map_err(|e| e.to_string()).and_then(|o| {
                o.status
                    .success()
                    .then_some(())
                    .ok_or_else(|| "tmux -V failed".to_owned())
            }),
        )?;
        let socket = format!("exec-terminal-{name}-{}", std::process::id());
        let tmux = Self { socket };
        let status = tmux
            .command()
            .args(["new-session", "-d", "-s", "t", "-x"])
            .arg(width.to_string())
            .arg("-y")
            .arg(height.to_string())
            .arg("env -i PATH=/usr/bin:/bin HOME=/tmp TERM=xterm-256color PS1='PROMPT$ ' bash --norc --noprofile")
            .status()
            .unwrap();
        assert!(status.success(), "tmux new-session");
        tmux.wait_for("PROMPT$", "the shell's prompt");
        Some(tmux)
    }

    fn command(&self) -> Command {
        let mut command = Command::new("tmux");
        command.args(["-L", &self.socket]).stdin(Stdio::null());
        command
    }

    /// Types `text` and Enter.
    fn type_line(&self, text: &str) {
        let typed = self
            .command()
            .args(["send-keys", "-t", "t", "-l", text])
            .status()
            .unwrap();
        assert!(typed.success());
        let enter = self
            .command()
            .args(["send-keys", "-t", "t", "Enter"])
            .status()
            .unwrap();
        assert!(enter.success());
    }

    fn screen(&self) -> String {
        let output = self
            .command()
            .args(["capture-pane", "-t", "t", "-p", "-S", "-200"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Waits (30 s at most) until the screen shows `needle` `times` times.
    fn wait_for_count(&self, needle: &str, times: usize, what: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let screen = self.screen();
            if screen.matches(needle).count() >= times {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: {needle:?} never showed ({times} times); the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for(&self, needle: &str, what: &str) -> String {
        self.wait_for_count(needle, 1, what)
    }

    fn resize(&self, width: u16, height: u16) {
        let resized = self
            .command()
            .args(["resize-window", "-t", "t", "-x"])
            .arg(width.to_string())
            .arg("-y")
            .arg(height.to_string())
            .status()
            .unwrap();
        assert!(resized.success(), "tmux resize-window");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.command().arg("kill-server").status();
    }
}

/// `stty -a` without the window size (which the test changes on purpose).
fn settings_but_size(text: &str) -> String {
    text.lines()
        .filter(|line| !line.contains("rows") && !line.contains("columns"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The session the issue describes, on `executor` of the config at `config`
/// (none: the runner's own `app:shell`): `echo hi` shows `hi`; a resize of
/// the window reaches `stty size`; `exit 3` gives the shell's prompt back
/// with status 3 and the terminal's settings as they were.
fn a_person_at_the_terminal(name: &str, config: Option<&Path>, executor: &str) {
    let Some(tmux) = Tmux::start(name, 100, 30) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let before = dir.path().join("stty-before");
    let after = dir.path().join("stty-after");
    tmux.type_line(&format!("stty -a > {}", before.display()));
    let config = config.map_or(String::new(), |c| format!("--config {} ", c.display()));
    tmux.type_line(&format!(
        "{} {config}-e 'require(\"exec\").get(\"{executor}\"):terminal(\"sh\")'",
        env!("CARGO_BIN_EXE_exec-lua")
    ));
    // Typed ahead, as a quick person would: the line may reach the shell
    // before its first prompt, so `hi` may follow that prompt on its line;
    // it ends one all the same (the typed line itself has no `hi`).
    tmux.type_line("PS1='IN-SH> '; echo h''i");
    tmux.wait_for("hi\n", "echo hi");
    tmux.type_line("stty size");
    tmux.wait_for("30 100", "the first size");
    tmux.resize(120, 40);
    // SIGWINCH on the runner, a resize of the command's terminal.
    std::thread::sleep(Duration::from_millis(500));
    tmux.type_line("stty size");
    tmux.wait_for("40 120", "the size after a resize");
    tmux.type_line("exit 3");
    tmux.wait_for_count("PROMPT$", 3, "the shell's prompt after exit 3");
    tmux.type_line(&format!(
        "echo \"status=$?\"; stty -a > {}",
        after.display()
    ));
    tmux.wait_for("status=3", "the runner's status");
    std::thread::sleep(Duration::from_millis(200));
    let (before, after) = (
        std::fs::read_to_string(&before).unwrap(),
        std::fs::read_to_string(&after).unwrap(),
    );
    assert!(!before.is_empty());
    assert_eq!(
        settings_but_size(&before),
        settings_but_size(&after),
        "the terminal's settings changed"
    );
}

#[test]
fn a_native_shell_in_the_runners_terminal() {
    a_person_at_the_terminal("native", None, "app:shell");
}

#[test]
fn a_docker_shell_in_the_runners_terminal() {
    let Some(d) = daemon_or_skip("dockerd", daemons::docker()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        &format!(
            "namespace: app\nentries:\n  - name: sandbox\n    kind: exec.docker\n    image: {}\n    \
             host: {}\n    pull: never\n    network_mode: none\n    \
             default_env: {{ PATH: /usr/local/bin:/usr/bin:/bin }}\n",
            d.image, d.host
        ),
    );
    a_person_at_the_terminal("docker", Some(&config), "app:sandbox");
}

#[test]
fn an_incus_shell_in_the_runners_terminal() {
    let Some(daemon) = daemon_or_skip("incusd", IncusDaemon::from_env()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        &format!(
            "namespace: app\nentries:\n  - name: sandbox\n    kind: exec.incus\n    instance: {}\n    \
             host: {}\n    default_env: {{ PATH: /usr/local/bin:/usr/bin:/bin }}\n",
            daemon.instance,
            daemon.unix_host()
        ),
    );
    a_person_at_the_terminal("incus", Some(&config), "app:sandbox");
}

/// The host terminal is restored when the script fails after attaching it
/// (the error is shown on a sane terminal, status 1) and when the runner is
/// signalled (status 143); the command ends with the runner either way.
#[test]
fn the_terminal_is_restored_when_the_script_fails_or_the_runner_is_signalled() {
    let Some(tmux) = Tmux::start("restore", 100, 30) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let settings = |name: &str| dir.path().join(name);
    tmux.type_line(&format!("stty -a > {}", settings("before").display()));
    let runner = env!("CARGO_BIN_EXE_exec-lua");
    // The script fails while the terminal is attached.
    tmux.type_line(&format!(
        "{runner} -e 'local t = require(\"exec\").get(\"app:shell\"):terminal(\"sleep 300\"); \
         time.sleep(\"300ms\"); error(\"boom after attaching\")'; \
         echo \"status=$?\"; stty -a > {}",
        settings("after-error").display()
    ));
    let screen = tmux.wait_for("status=1", "the status of a failed script");
    assert!(screen.contains("boom after attaching"), "{screen}");
    // The runner is signalled while the terminal is attached.
    let marker = format!("signalled-{}", std::process::id());
    tmux.type_line(&format!(
        "{runner} -e 'local marker = \"{marker}\"; require(\"exec\").get(\"app:shell\"):terminal(\"sleep 300\")'; \
         echo \"status=$?\"; stty -a > {}",
        settings("after-signal").display()
    ));
    let deadline = Instant::now() + Duration::from_secs(30);
    let pid = loop {
        // The oldest: the runner, not the guardian it forks (exec-native's
        // kill-with-parent helper, whose command line is the runner's).
        let found = Command::new("pgrep")
            .args(["-o", "-f", &marker])
            .output()
            .unwrap();
        if let Ok(pid) = String::from_utf8_lossy(&found.stdout).trim().parse::<i32>() {
            break pid;
        }
        assert!(Instant::now() < deadline, "the runner never showed");
        std::thread::sleep(Duration::from_millis(50));
    };
    std::thread::sleep(Duration::from_millis(500));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    tmux.wait_for("status=143", "the status of a signalled runner");
    std::thread::sleep(Duration::from_millis(200));
    let read = |name: &str| std::fs::read_to_string(settings(name)).unwrap();
    let before = settings_but_size(&read("before"));
    assert_eq!(
        before,
        settings_but_size(&read("after-error")),
        "after an error"
    );
    assert_eq!(
        before,
        settings_but_size(&read("after-signal")),
        "after a signal"
    );
    let sleeping = Command::new("pgrep")
        .args(["-f", "^sleep 300$"])
        .output()
        .unwrap();
    assert!(sleeping.stdout.is_empty(), "sleep 300 outlived its runner");
}

/// A runner whose stdin is not a terminal gets an error value saying so;
/// nothing runs.
#[test]
fn without_a_terminal_of_its_own_the_runner_gets_an_error_value() {
    let script = r#"local shell = assert(require("exec").get("app:shell"))
local t, err = shell:terminal("sh")
assert(t == nil)
print(err:kind(), err:retryable())
print(err:message())
"#;
    let output = Command::new(env!("CARGO_BIN_EXE_exec-lua"))
        .args(["-e", script])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("Unavailable\tfalse"));
    assert_eq!(
        lines.next(),
        Some(
            "no terminal to attach: the runner's standard input is not a terminal \
             (run it in one, or use exec with the pty option)"
        )
    );
}

fn write(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("terminal.yaml");
    std::fs::write(&path, text).unwrap();
    path
}
