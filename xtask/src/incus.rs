//! A private `incusd` for the Incus tests and benchmarks, provisioned when
//! absent (see `shared/notes/provisioning.md`):
//!
//! 1. Incus from bookworm-backports (a deb822 source is added), with
//!    busybox-static for the test image and openssl for the certificates.
//! 2. A daemon of our own with its own `INCUS_DIR` ([`STATE_DIR`], or
//!    `EXEC_INCUS_DIR`), so one the host may run is never touched; one
//!    already answering on that socket is used as it is.
//! 3. The `dir` storage pool `default` and the default profile's root disk.
//! 4. A busybox image ([`IMAGE`]), a running container ([`INSTANCE`]), a
//!    stopped one ([`STOPPED`]) and a project ([`PROJECT`]) with a running
//!    container of the same name.
//! 5. HTTPS on loopback ([`HTTPS_ADDRESS`]), a client certificate the daemon
//!    trusts and one it does not.
//!
//! Every step looks first and does only what is missing, so a second run in
//! the same session is quick. [`Daemon`] carries the environment the tests
//! read and, when it is dropped, stops the daemon if this run started it
//! (unless `EXEC_INCUS_KEEP=1`).
//!
//! Only the standard library and the `incus`, `apt-get` and `openssl`
//! commands are used.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::provision::{apt_get, have_program};

/// Where the private daemon keeps its state and where the test certificates
/// and the image are built, unless `EXEC_INCUS_DIR` says otherwise.
const STATE_DIR: &str = "/var/tmp/exec-incus";
/// The test image's alias.
const IMAGE: &str = "exec-busybox";
/// The running test container.
const INSTANCE: &str = "exec-test";
/// A container that is created but never started.
const STOPPED: &str = "exec-test-stopped";
/// A project with its own running container named [`INSTANCE`].
const PROJECT: &str = "exec-project";
/// The daemon's HTTPS address (loopback only).
const HTTPS_ADDRESS: &str = "127.0.0.1:18443";
/// The daemon binary as Debian installs it.
const INCUSD: &str = "/usr/libexec/incus/incusd";
/// The apt source that brings Incus.
const BACKPORTS_SOURCE: &str = "/etc/apt/sources.list.d/exec-bookworm-backports.sources";

/// A provisioned daemon: the environment to give the tests, and the daemon
/// to stop on drop if this run started it.
#[derive(Debug)]
pub(crate) struct Daemon {
    /// `EXEC_INCUS_*` variables for the test and bench runs.
    pub(crate) env: Vec<(String, String)>,
    started: Option<Started>,
}

#[derive(Debug)]
struct Started {
    child: Child,
    incus_dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let Some(started) = &mut self.started else {
            return;
        };
        if std::env::var("EXEC_INCUS_KEEP").is_ok_and(|v| v == "1") {
            eprintln!(
                "xtask: incus: leaving incusd (pid {}) running (EXEC_INCUS_KEEP=1), INCUS_DIR={}",
                started.child.id(),
                started.incus_dir.display()
            );
            return;
        }
        eprintln!("xtask: incus: stopping the incusd this run started");
        // Stops the instances, then the daemon.
        let _ = incus(&started.incus_dir)
            .args(["admin", "shutdown", "--timeout", "60"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            match started.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) if Instant::now() > deadline => {
                    let _ = started.child.kill();
                    let _ = started.child.wait();
                    return;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

/// Installs, starts and fills a private Incus daemon as far as it is missing.
pub(crate) fn provision() -> Result<Daemon, String> {
    let started_at = Instant::now();
    let root =
        std::env::var_os("EXEC_INCUS_DIR").map_or_else(|| PathBuf::from(STATE_DIR), PathBuf::from);
    let incus_dir = root.join("state");
    std::fs::create_dir_all(&incus_dir)
        .map_err(|e| format!("incus: creating {}: {e}", incus_dir.display()))?;
    install()?;
    let started = start_daemon(&incus_dir)?;
    let mut daemon = Daemon {
        env: Vec::new(),
        started,
    };
    storage(&incus_dir)?;
    image(&incus_dir, &root)?;
    containers(&incus_dir)?;
    let certs = https(&incus_dir, &root)?;
    let socket = incus_dir.join("unix.socket");
    let mut env = vec![
        ("EXEC_INCUS_SOCKET", socket.display().to_string()),
        ("EXEC_INCUS_INSTANCE", INSTANCE.to_owned()),
        ("EXEC_INCUS_STOPPED_INSTANCE", STOPPED.to_owned()),
        ("EXEC_INCUS_PROJECT", PROJECT.to_owned()),
        ("EXEC_INCUS_HTTPS", format!("https://{HTTPS_ADDRESS}")),
        (
            "EXEC_INCUS_SERVER_CERT",
            incus_dir.join("server.crt").display().to_string(),
        ),
    ];
    env.extend(certs);
    daemon.env = env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    eprintln!(
        "xtask: incus: ready in {:.1?} (INCUS_DIR={})",
        started_at.elapsed(),
        incus_dir.display()
    );
    Ok(daemon)
}

/// The `incus` client pointed at the private daemon.
fn incus(incus_dir: &Path) -> Command {
    let mut command = Command::new("incus");
    command
        .env("INCUS_DIR", incus_dir)
        .env("INCUS_CONF", incus_dir.join("client"))
        .stdin(Stdio::null());
    command
}

/// Runs `command` and returns its stdout; an error names it and quotes its stderr.
fn output(what: &str, command: &mut Command) -> Result<String, String> {
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("incus: {what}: could not run: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "incus: {what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Whether `command` succeeds (its output discarded).
fn succeeds(command: &mut Command) -> bool {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Incus from bookworm-backports, busybox-static and openssl, if missing.
fn install() -> Result<(), String> {
    let busybox = Path::new("/bin/busybox").is_file();
    if have_program("incus") && Path::new(INCUSD).is_file() && busybox && have_program("openssl") {
        return Ok(());
    }
    eprintln!("xtask: incus: installing incus (bookworm-backports), busybox-static, openssl");
    if !Path::new(BACKPORTS_SOURCE).exists() {
        let source = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\n\
                      Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";
        std::fs::write(BACKPORTS_SOURCE, source)
            .map_err(|e| format!("incus: writing {BACKPORTS_SOURCE}: {e}"))?;
    }
    apt_get("incus", &["update"])?;
    apt_get(
        "incus",
        &[
            "install",
            "--no-install-recommends",
            "-t",
            "bookworm-backports",
            "incus",
            "busybox-static",
            "openssl",
        ],
    )
}

/// Starts `incusd` on `incus_dir` unless one answers there already; waits
/// until it is ready.
fn start_daemon(incus_dir: &Path) -> Result<Option<Started>, String> {
    if succeeds(incus(incus_dir).args(["admin", "waitready", "--timeout", "2"])) {
        eprintln!(
            "xtask: incus: using the incusd already running with INCUS_DIR={}",
            incus_dir.display()
        );
        return Ok(None);
    }
    eprintln!(
        "xtask: incus: starting incusd, INCUS_DIR={}",
        incus_dir.display()
    );
    let log = incus_dir.join("incusd.log");
    let log_file = std::fs::File::create(&log)
        .map_err(|e| format!("incus: creating {}: {e}", log.display()))?;
    let log_err = log_file
        .try_clone()
        .map_err(|e| format!("incus: {}: {e}", log.display()))?;
    let child = Command::new(INCUSD)
        .arg("--group=root")
        .env("INCUS_DIR", incus_dir)
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err)
        .spawn()
        .map_err(|e| format!("incus: starting {INCUSD}: {e}"))?;
    let mut started = Started {
        child,
        incus_dir: incus_dir.to_owned(),
    };
    let ready = output(
        "incus admin waitready",
        incus(incus_dir).args(["admin", "waitready", "--timeout", "120"]),
    );
    if let Err(e) = ready {
        let _ = started.child.kill();
        let _ = started.child.wait();
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = tail.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "{e}\nincusd's log ({}):\n{}",
            log.display(),
            tail.join("\n")
        ));
    }
    Ok(Some(started))
}

/// The `dir` pool `default` and the default profile's root disk on it.
fn storage(incus_dir: &Path) -> Result<(), String> {
    if !succeeds(incus(incus_dir).args(["storage", "show", "default"])) {
        output(
            "incus storage create default dir",
            incus(incus_dir).args(["storage", "create", "default", "dir"]),
        )?;
    }
    let profile = output(
        "incus profile show default",
        incus(incus_dir).args(["profile", "show", "default"]),
    )?;
    if !profile.contains("pool: default") {
        output(
            "incus profile device add default root",
            incus(incus_dir).args([
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
    }
    Ok(())
}

/// The busybox image: a metadata tarball and a rootfs tarball, imported.
fn image(incus_dir: &Path, root: &Path) -> Result<(), String> {
    if succeeds(incus(incus_dir).args(["image", "show", IMAGE])) {
        return Ok(());
    }
    eprintln!("xtask: incus: building the {IMAGE} image from /bin/busybox");
    let build = root.join("image");
    let _ = std::fs::remove_dir_all(&build);
    let rootfs = build.join("rootfs");
    let io = |what: &str, e: std::io::Error| format!("incus: image: {what}: {e}");
    for dir in [
        "bin", "sbin", "dev", "proc", "sys", "etc", "root", "tmp", "srv", "usr/bin",
    ] {
        std::fs::create_dir_all(rootfs.join(dir)).map_err(|e| io(dir, e))?;
    }
    std::fs::copy("/bin/busybox", rootfs.join("bin/busybox")).map_err(|e| io("copy busybox", e))?;
    let applets = output("busybox --list", Command::new("/bin/busybox").arg("--list"))?;
    for applet in applets
        .lines()
        .map(str::trim)
        .filter(|a| !a.is_empty() && *a != "busybox")
    {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
            .map_err(|e| io(applet, e))?;
    }
    std::os::unix::fs::symlink("/bin/busybox", rootfs.join("sbin/init"))
        .map_err(|e| io("init", e))?;
    std::fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .map_err(|e| io("passwd", e))?;
    std::fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n")
        .map_err(|e| io("group", e))?;
    // busybox init without an inittab would start shells on the consoles.
    std::fs::write(
        rootfs.join("etc/inittab"),
        "::sysinit:/bin/true\n::restart:/sbin/init\n",
    )
    .map_err(|e| io("inittab", e))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let metadata = format!(
        "architecture: x86_64\ncreation_date: {now}\nproperties:\n  description: busybox for the exec tests\n  os: busybox\n  release: \"1\"\n"
    );
    std::fs::write(build.join("metadata.yaml"), metadata).map_err(|e| io("metadata.yaml", e))?;
    output(
        "tar metadata",
        Command::new("tar")
            .arg("-C")
            .arg(&build)
            .args(["-cf", "meta.tar", "metadata.yaml"])
            .current_dir(&build),
    )?;
    output(
        "tar rootfs",
        Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(build.join("rootfs.tar"))
            .arg("."),
    )?;
    output(
        "incus image import",
        incus(incus_dir)
            .arg("image")
            .arg("import")
            .arg(build.join("meta.tar"))
            .arg(build.join("rootfs.tar"))
            .args(["--alias", IMAGE]),
    )?;
    Ok(())
}

/// The running and the stopped test containers, and the project's.
/// The instance's status (`RUNNING`, `STOPPED`, …), or `None` if it does not exist.
fn instance_status(incus_dir: &Path, name: &str, project: &str) -> Result<Option<String>, String> {
    let listed = output(
        "incus list",
        incus(incus_dir).args([
            "list",
            "--project",
            project,
            "--format",
            "csv",
            "-c",
            "ns",
            name,
        ]),
    )?;
    Ok(listed
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name},")))
        .map(str::to_owned))
}

fn containers(incus_dir: &Path) -> Result<(), String> {
    if !succeeds(incus(incus_dir).args(["project", "show", PROJECT])) {
        output(
            "incus project create",
            incus(incus_dir).args([
                "project",
                "create",
                PROJECT,
                "-c",
                "features.images=false",
                "-c",
                "features.profiles=false",
                "-c",
                "features.storage.volumes=false",
            ]),
        )?;
    }
    for (name, project, running) in [
        (INSTANCE, "default", true),
        (STOPPED, "default", false),
        (INSTANCE, PROJECT, true),
    ] {
        if instance_status(incus_dir, name, project)?.is_none() {
            output(
                &format!("incus init {name} (project {project})"),
                incus(incus_dir).args(["init", IMAGE, name, "--project", project]),
            )?;
        }
        if !running {
            continue;
        }
        if instance_status(incus_dir, name, project)?.as_deref() == Some("RUNNING") {
            continue;
        }
        // A start may report an error although the instance runs (seen
        // from scratch: "The instance is already running"): its state decides.
        let started = output(
            &format!("incus start {name} (project {project})"),
            incus(incus_dir).args(["start", name, "--project", project]),
        );
        if let Err(error) = started {
            let status = instance_status(incus_dir, name, project)?;
            if status.as_deref() != Some("RUNNING") {
                return Err(format!("{error} (state now: {status:?})"));
            }
        }
    }
    Ok(())
}

/// HTTPS on loopback, a trusted client certificate and an untrusted one;
/// returns their `EXEC_INCUS_*` variables.
fn https(incus_dir: &Path, root: &Path) -> Result<Vec<(&'static str, String)>, String> {
    let address = output(
        "incus config get core.https_address",
        incus(incus_dir).args(["config", "get", "core.https_address"]),
    )?;
    if address.trim() != HTTPS_ADDRESS {
        output(
            "incus config set core.https_address",
            incus(incus_dir).args(["config", "set", "core.https_address", HTTPS_ADDRESS]),
        )?;
    }
    let certs = root.join("certs");
    std::fs::create_dir_all(&certs).map_err(|e| format!("incus: {}: {e}", certs.display()))?;
    let mut env = Vec::new();
    for (name, trusted) in [("client", true), ("untrusted", false)] {
        let cert = certs.join(format!("{name}.crt"));
        let key = certs.join(format!("{name}.key"));
        if !cert.is_file() || !key.is_file() {
            output(
                &format!("openssl req ({name} certificate)"),
                Command::new("openssl")
                    .args([
                        "req",
                        "-x509",
                        "-newkey",
                        "ec",
                        "-pkeyopt",
                        "ec_paramgen_curve:secp384r1",
                        "-nodes",
                        "-days",
                        "3650",
                        "-subj",
                    ])
                    .arg(format!("/CN=exec-test-{name}"))
                    .arg("-keyout")
                    .arg(&key)
                    .arg("-out")
                    .arg(&cert),
            )?;
        }
        if trusted {
            let fingerprint = fingerprint(&cert)?;
            let list = output(
                "incus config trust list",
                incus(incus_dir).args(["config", "trust", "list", "--format", "csv"]),
            )?;
            // The list shows the first 12 hex digits.
            if !list.contains(&fingerprint[..12]) {
                output(
                    "incus config trust add-certificate",
                    incus(incus_dir)
                        .args(["config", "trust", "add-certificate"])
                        .arg(&cert),
                )?;
            }
        }
        let (cert_var, key_var) = if trusted {
            ("EXEC_INCUS_CLIENT_CERT", "EXEC_INCUS_CLIENT_KEY")
        } else {
            ("EXEC_INCUS_UNTRUSTED_CERT", "EXEC_INCUS_UNTRUSTED_KEY")
        };
        env.push((cert_var, cert.display().to_string()));
        env.push((key_var, key.display().to_string()));
    }
    Ok(env)
}

/// The SHA-256 of a PEM certificate's DER, lower-case hex without colons.
fn fingerprint(cert: &Path) -> Result<String, String> {
    let out = output(
        "openssl x509 -fingerprint",
        Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(cert),
    )?;
    let hex = out
        .split_once('=')
        .map(|(_, hex)| hex.trim())
        .ok_or_else(|| {
            format!(
                "incus: openssl printed no fingerprint for {}: {out}",
                cert.display()
            )
        })?;
    let mut plain = String::new();
    for c in hex.chars().filter(|c| *c != ':') {
        let _ = write!(plain, "{}", c.to_ascii_lowercase());
    }
    Ok(plain)
}
