//! Daemons of a test's own, to kill and restart without touching the ones
//! `cargo xtask test-all` runs for everyone: a `dockerd` and an `incusd`,
//! each with its own state directory, given the test image of the shared
//! daemon. Both need root and the packages xtask installs.
//!
//! Each is stopped (and its state removed) when dropped; a killed one is
//! first started again on its state, so that it cleans up what its
//! previous life left (a daemon without live-restore ends the containers
//! it finds).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a daemon may take to answer after it was started.
const READY_WITHIN: Duration = Duration::from_secs(90);

/// Runs `command` (its stdin as set, else none); its stdout, or an error
/// quoting its stderr.
fn run(what: &str, command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("{what}: cannot run it: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args([signal, &pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Waits (bounded) for `child` to end; kills it at the end of the bound.
fn reap(child: &mut Child, within: Duration) {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `GET path` over the unix socket answers 200.
fn answers(socket: &Path, path: &str) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: daemon\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200")
}

/// A `dockerd` of the test's own.
#[derive(Debug)]
pub struct PrivateDockerd {
    dir: PathBuf,
    /// Its address, `unix:///…/docker.sock`.
    pub host: String,
    child: Option<Child>,
}

impl PrivateDockerd {
    /// Starts one in a directory of its own and loads `image` into it from
    /// the daemon at `from` (`unix://…`). Blocking: call it from
    /// `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// Why it could not be started or given the image.
    pub fn start(from: &str, image: &str) -> Result<Self, String> {
        // Short: a socket path has at most 108 bytes.
        let dir = PathBuf::from(format!("/tmp/exec-private-docker-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
        let host = format!("unix://{}", dir.join("docker.sock").display());
        let mut daemon = Self {
            dir,
            host,
            child: None,
        };
        daemon.launch()?;
        let mut save = Command::new("docker")
            .args(["-H", from, "save", image])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("docker save: {e}"))?;
        let saved = save.stdout.take().ok_or("docker save: no output")?;
        let loaded = run(
            "docker load",
            Command::new("docker")
                .args(["-H", &daemon.host, "load"])
                .stdin(saved),
        );
        let _ = save.wait();
        loaded?;
        Ok(daemon)
    }

    /// Starts the daemon on the directory and waits until it answers.
    fn launch(&mut self) -> Result<(), String> {
        let dir = &self.dir;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("dockerd.log"))
            .map_err(|e| format!("dockerd log: {e}"))?;
        let log_err = log.try_clone().map_err(|e| format!("dockerd log: {e}"))?;
        let mut command = Command::new("dockerd");
        command
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("docker.pid"))
            .arg("-H")
            .arg(&self.host)
            .args(["--bridge", "none", "--iptables=false", "--ip-masq=false"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().map_err(|e| format!("start dockerd: {e}"))?;
        let started = Instant::now();
        while !answers(&dir.join("docker.sock"), "/_ping") {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "dockerd exited ({status}); see {}",
                    dir.join("dockerd.log").display()
                ));
            }
            if started.elapsed() > READY_WITHIN {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("dockerd did not answer within {READY_WITHIN:?}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.child = Some(child);
        Ok(())
    }

    /// Kills the daemon with SIGKILL (its containers run on, under
    /// containerd), and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "-KILL");
            let _ = child.wait();
        }
    }

    /// Starts the daemon again on its state (after [`kill`](Self::kill));
    /// blocking. It ends the containers its previous life left running.
    ///
    /// # Errors
    ///
    /// Why it did not come back.
    pub fn restart(&mut self) -> Result<(), String> {
        self.kill();
        // A killed daemon leaves its pid files (its own, its containerd's),
        // which stop the next one; its containerd, if still there, goes.
        let containerd = self.dir.join("exec/containerd/containerd.pid");
        if let Ok(pid) = std::fs::read_to_string(&containerd) {
            let ours = std::fs::read(format!("/proc/{}/cmdline", pid.trim())).is_ok_and(|line| {
                String::from_utf8_lossy(&line).contains(&*self.dir.to_string_lossy())
            });
            if let (true, Ok(pid)) = (ours, pid.trim().parse::<u32>()) {
                signal(pid, "-KILL");
                let deadline = Instant::now() + Duration::from_secs(10);
                while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        let _ = std::fs::remove_file(containerd);
        let _ = std::fs::remove_file(self.dir.join("docker.pid"));
        self.launch()
    }
}

impl Drop for PrivateDockerd {
    fn drop(&mut self) {
        if self.child.is_none() && self.restart().is_err() {
            eprintln!("private dockerd: could not start it again to clean up");
        }
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "-TERM");
            reap(&mut child, Duration::from_secs(60));
        }
        // dockerd mounts its data root on itself; a daemon that could not
        // stop leaves that.
        let _ = Command::new("umount")
            .arg(self.dir.join("data"))
            .stderr(Stdio::null())
            .status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An `incusd` of the test's own, with a running container of the shared
/// daemon's test image.
#[derive(Debug)]
pub struct PrivateIncusd {
    dir: PathBuf,
    /// Its unix socket.
    pub socket: PathBuf,
    /// The running container.
    pub instance: String,
    child: Option<Child>,
}

/// The `incusd` binary as Debian installs it.
const INCUSD: &str = "/usr/libexec/incus/incusd";

impl PrivateIncusd {
    /// Starts one with its own `INCUS_DIR`, a `dir` storage pool, the image
    /// of instance `instance` of the daemon whose socket is `from`, and a
    /// running container of it. Blocking: call it from `spawn_blocking`.
    ///
    /// # Errors
    ///
    /// Why it could not be set up.
    pub fn start(from: &Path, instance: &str) -> Result<Self, String> {
        let dir = PathBuf::from(format!(
            "/var/tmp/exec-private-incus-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let state = dir.join("state");
        std::fs::create_dir_all(&state).map_err(|e| format!("create {}: {e}", state.display()))?;
        let mut daemon = Self {
            socket: state.join("unix.socket"),
            dir,
            instance: "c1".to_owned(),
            child: None,
        };
        daemon.launch()?;
        // The shared daemon's image, by the fingerprint its instance was made from.
        let shared = from.parent().ok_or("the shared socket has no directory")?;
        let fingerprint = run(
            "incus config get volatile.base_image",
            daemon
                .client(shared)
                .args(["config", "get", instance, "volatile.base_image"]),
        )?;
        let export = daemon.dir.join("image");
        std::fs::create_dir_all(&export).map_err(|e| format!("{e}"))?;
        run(
            "incus image export",
            daemon
                .client(shared)
                .args(["image", "export", fingerprint.trim()])
                .arg(export.join("image")),
        )?;
        let mut files: Vec<PathBuf> = std::fs::read_dir(&export)
            .map_err(|e| format!("{e}"))?
            .flatten()
            .map(|e| e.path())
            .collect();
        // A split image (`image`, `image.root`): the metadata first.
        files.sort_by_key(|p| p.to_string_lossy().ends_with(".root"));
        let state = daemon.dir.join("state");
        run(
            "incus storage create",
            daemon
                .client(&state)
                .args(["storage", "create", "default", "dir"]),
        )?;
        run(
            "incus profile device add",
            daemon.client(&state).args([
                "profile",
                "device",
                "add",
                "default",
                "root",
                "disk",
                "path=/",
                "pool=default",
            ]),
        )?;
        run(
            "incus image import",
            daemon
                .client(&state)
                .args(["image", "import"])
                .args(&files)
                .args(["--alias", "test"]),
        )?;
        run(
            "incus launch",
            daemon
                .client(&state)
                .args(["launch", "test", &daemon.instance]),
        )?;
        Ok(daemon)
    }

    /// `incus` against the daemon whose `INCUS_DIR` is `state`.
    fn client(&self, state: &Path) -> Command {
        let mut command = Command::new("incus");
        command
            .env("INCUS_DIR", state)
            .env("INCUS_CONF", self.dir.join("client"))
            .stdin(Stdio::null());
        command
    }

    fn launch(&mut self) -> Result<(), String> {
        let state = self.dir.join("state");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("incusd.log"))
            .map_err(|e| format!("incusd log: {e}"))?;
        let log_err = log.try_clone().map_err(|e| format!("incusd log: {e}"))?;
        let mut command = Command::new(INCUSD);
        command
            .arg("--group=root")
            .env("INCUS_DIR", &state)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err);
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let mut child = command.spawn().map_err(|e| format!("start incusd: {e}"))?;
        let started = Instant::now();
        while !answers(&self.socket, "/1.0") {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "incusd exited ({status}); see {}",
                    self.dir.join("incusd.log").display()
                ));
            }
            if started.elapsed() > READY_WITHIN {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("incusd did not answer within {READY_WITHIN:?}"));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        run(
            "incus admin waitready",
            self.client(&state)
                .args(["admin", "waitready", "--timeout", "60"]),
        )?;
        self.child = Some(child);
        Ok(())
    }

    /// `unix:///…/unix.socket`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// Restarts the daemon as after a crash: SIGKILL (its containers run
    /// on), then a new daemon on the same state; blocking. (On SIGTERM
    /// incusd waits for its running operations to end, so a command that
    /// runs on holds a graceful restart up until the service manager kills
    /// the daemon: the same end, later.)
    ///
    /// # Errors
    ///
    /// Why it did not come back.
    pub fn restart(&mut self) -> Result<(), String> {
        if let Some(mut child) = self.child.take() {
            signal(child.id(), "-KILL");
            reap(&mut child, Duration::from_secs(10));
        }
        self.launch()
    }

    /// The command lines of the processes in the container (`ps -o args`
    /// through the `incus` client); blocking.
    ///
    /// # Errors
    ///
    /// Why they could not be listed.
    pub fn processes(&self) -> Result<String, String> {
        run(
            "incus exec ps",
            self.client(&self.dir.join("state")).args([
                "exec",
                &self.instance,
                "--",
                "ps",
                "-o",
                "args",
            ]),
        )
    }
}

impl Drop for PrivateIncusd {
    fn drop(&mut self) {
        let state = self.dir.join("state");
        if self.child.is_some() {
            // Stops the instances, then the daemon.
            let _ = self
                .client(&state)
                .args(["admin", "shutdown", "--timeout", "60"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        if let Some(mut child) = self.child.take() {
            reap(&mut child, Duration::from_secs(60));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
