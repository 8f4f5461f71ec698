//! A real Docker engine for the Docker tests and benches: when none is given,
//! installs the Debian packages, starts two private `dockerd`s (one on a
//! unix socket, one on loopback TCP with TLS and generated certificates),
//! imports a busybox image into each, and stops them again when dropped.
//!
//! Everything lives under [`BASE`]: data roots, exec roots, sockets, pid
//! files and certificates, so a daemon the host may run is never touched.
//! Setting `EXEC_TEST_DOCKER_HOST` and `EXEC_TEST_DOCKER_IMAGE` beforehand
//! uses that daemon instead (and skips the TLS one unless
//! `EXEC_TEST_DOCKER_TLS_HOST` and `EXEC_TEST_DOCKER_TLS_DIR` are set too).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::provision::{apt_get, have_program};

/// Where the private daemons keep everything (short: socket paths are
/// limited to 108 bytes).
const BASE: &str = "/tmp/exec-xtask-docker";
/// The test image each daemon gets.
pub(crate) const IMAGE: &str = "exec-test/busybox:1";
/// The name `examples/docker.yaml` uses: the test image is tagged so too.
const EXAMPLE_IMAGE: &str = "busybox:1.36";
/// How long a daemon may take to answer its first ping.
const READY_WITHIN: Duration = Duration::from_secs(90);

/// The daemons this run started (stopped on drop) and the environment that
/// tells the tests where they are.
#[derive(Debug)]
pub(crate) struct Daemon {
    pub(crate) env: Vec<(String, String)>,
    started: Vec<PathBuf>,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        for pid_file in &self.started {
            stop(pid_file);
        }
    }
}

/// The Docker daemons for the tests: the ones the environment names, or
/// two private ones started here.
pub(crate) fn provision() -> Result<Daemon, String> {
    let given = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    if let (Some(host), Some(image)) = (
        given("EXEC_TEST_DOCKER_HOST"),
        given("EXEC_TEST_DOCKER_IMAGE"),
    ) {
        eprintln!("xtask: docker: using {host} (EXEC_TEST_DOCKER_HOST) with {image}");
        let mut env = vec![
            ("EXEC_TEST_DOCKER_HOST".to_owned(), host),
            ("EXEC_TEST_DOCKER_IMAGE".to_owned(), image),
        ];
        for name in ["EXEC_TEST_DOCKER_TLS_HOST", "EXEC_TEST_DOCKER_TLS_DIR"] {
            if let Some(value) = given(name) {
                env.push((name.to_owned(), value));
            }
        }
        return Ok(Daemon {
            env,
            started: Vec::new(),
        });
    }
    install()?;
    let base = Path::new(BASE);
    let local = base.join("local");
    let tls = base.join("tls");
    let certs = base.join("certs");
    // What an interrupted run left: its daemons, then their files.
    for dir in [&local, &tls] {
        stop(&dir.join("docker.pid"));
    }
    for dir in [&local, &tls, &certs] {
        let _ = std::fs::remove_dir_all(dir);
    }
    std::fs::create_dir_all(&certs)
        .map_err(|e| format!("docker: create {}: {e}", certs.display()))?;
    make_certificates(&certs)?;
    let rootfs = base.join("rootfs.tar");
    make_rootfs(base, &rootfs)?;

    let mut daemon = Daemon {
        env: Vec::new(),
        started: Vec::new(),
    };
    let local_socket = start(&local, &[], &mut daemon)?;
    let port = free_port()?;
    let tls_address = format!("127.0.0.1:{port}");
    let ca = certs.join("ca.pem");
    let server_cert = certs.join("server-cert.pem");
    let server_key = certs.join("server-key.pem");
    let tcp = format!("tcp://{tls_address}");
    let tls_socket = start(
        &tls,
        &[
            "-H",
            &tcp,
            "--tlsverify",
            "--tlscacert",
            &path_text(&ca),
            "--tlscert",
            &path_text(&server_cert),
            "--tlskey",
            &path_text(&server_key),
        ],
        &mut daemon,
    )?;
    for socket in [&local_socket, &tls_socket] {
        import_image(socket, &rootfs)?;
    }
    daemon.env = vec![
        (
            "EXEC_TEST_DOCKER_HOST".to_owned(),
            format!("unix://{}", local_socket.display()),
        ),
        ("EXEC_TEST_DOCKER_IMAGE".to_owned(), IMAGE.to_owned()),
        ("EXEC_TEST_DOCKER_TLS_HOST".to_owned(), tcp),
        ("EXEC_TEST_DOCKER_TLS_DIR".to_owned(), path_text(&certs)),
    ];
    Ok(daemon)
}

fn path_text(path: &Path) -> String {
    path.display().to_string()
}

/// docker.io (dockerd, containerd, runc, docker-init), busybox-static for
/// the image, openssl for the certificates: from Debian's packages when
/// missing.
fn install() -> Result<(), String> {
    let busybox = Path::new("/bin/busybox").exists();
    if have_program("dockerd") && have_program("openssl") && busybox {
        return Ok(());
    }
    eprintln!("xtask: docker: installing docker.io, busybox-static and openssl (apt-get)");
    apt_get("docker", &["update"])?;
    apt_get(
        "docker",
        &[
            "install",
            "--no-install-recommends",
            "docker.io",
            "busybox-static",
            "openssl",
            "iptables",
        ],
    )
}

/// Starts a dockerd whose every path is under `dir`, with `extra` flags,
/// and waits until its socket answers. No default bridge and no iptables
/// rules: two private daemons must not fight over one bridge, and the tests
/// run with `network_mode: none`.
fn start(dir: &Path, extra: &[&str], daemon: &mut Daemon) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("docker: create {}: {e}", dir.display()))?;
    let socket = dir.join("docker.sock");
    let pid_file = dir.join("docker.pid");
    let log = std::fs::File::create(dir.join("dockerd.log"))
        .map_err(|e| format!("docker: create the log in {}: {e}", dir.display()))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("docker: the log in {}: {e}", dir.display()))?;
    let mut command = Command::new("dockerd");
    command
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(&pid_file)
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(["--bridge", "none", "--iptables=false", "--ip-masq=false"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // Its own process group: a ^C on xtask leaves the daemon to be stopped
    // in order by the drop, not killed mid-write.
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .spawn()
        .map_err(|e| format!("docker: cannot start dockerd: {e}"))?;
    daemon.started.push(pid_file);
    let started = Instant::now();
    loop {
        if ping(&socket) {
            eprintln!(
                "xtask: docker: dockerd ready at unix://{} in {:.1?}",
                socket.display(),
                started.elapsed()
            );
            // Reaped by whoever stops it (see `stop`); the handle is not needed.
            drop(child);
            return Ok(socket);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "docker: dockerd exited ({status}) before it answered; see {}",
                dir.join("dockerd.log").display()
            ));
        }
        if started.elapsed() > READY_WITHIN {
            return Err(format!(
                "docker: dockerd did not answer on {} within {READY_WITHIN:?}; see {}",
                socket.display(),
                dir.join("dockerd.log").display()
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `GET /_ping` over the socket answers `OK`.
fn ping(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.") && answer.ends_with("OK")
}

/// Stops the daemon whose pid `pid_file` holds (SIGTERM, then SIGKILL after
/// 30 s), if it runs.
fn stop(pid_file: &Path) {
    let Some(pid) = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|p| p.trim().parse::<u32>().ok())
    else {
        return;
    };
    let alive = || Path::new(&format!("/proc/{pid}")).exists() && !is_zombie(pid);
    if !alive() {
        return;
    }
    let _ = Command::new("kill").arg(pid.to_string()).status();
    let asked = Instant::now();
    while alive() && asked.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    if alive() {
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    }
    eprintln!("xtask: docker: stopped dockerd {pid}");
}

fn is_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(true)
}

/// Runs `command`; an error saying `what` failed unless it exits with 0.
fn succeed(what: &str, command: &mut Command) -> Result<(), String> {
    let status = command
        .status()
        .map_err(|e| format!("docker: {what}: cannot start it: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("docker: {what} failed ({status})"))
    }
}

fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("docker: no free port on 127.0.0.1: {e}"))
}

/// A root file system of busybox and its applets, tarred.
fn make_rootfs(base: &Path, tar: &Path) -> Result<(), String> {
    let root = base.join("rootfs");
    let _ = std::fs::remove_dir_all(&root);
    for dir in ["bin", "etc", "root", "tmp", "dev", "proc", "sys", "work"] {
        std::fs::create_dir_all(root.join(dir)).map_err(|e| format!("docker: rootfs: {e}"))?;
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .map_err(|e| format!("docker: copy /bin/busybox: {e}"))?;
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .map_err(|e| format!("docker: busybox --list: {e}"))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
    }
    let write = |name: &str, text: &str| {
        std::fs::write(root.join(name), text).map_err(|e| format!("docker: rootfs {name}: {e}"))
    };
    write(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )?;
    write("etc/group", "root:x:0:\nnogroup:x:65534:\n")?;
    std::fs::set_permissions(
        root.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .map_err(|e| format!("docker: chmod 1777 tmp: {e}"))?;
    succeed(
        &format!("tar of {}", root.display()),
        Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(tar)
            .arg("."),
    )
}

/// `docker import` of the root file system as [`IMAGE`] (no registry is
/// reachable here), also tagged [`EXAMPLE_IMAGE`].
fn import_image(socket: &Path, tar: &Path) -> Result<(), String> {
    let input =
        std::fs::File::open(tar).map_err(|e| format!("docker: open {}: {e}", tar.display()))?;
    let host = format!("unix://{}", socket.display());
    succeed(
        &format!("docker import into {host}"),
        Command::new("docker")
            .args(["-H", &host, "import", "-", IMAGE])
            .stdin(input)
            .stdout(Stdio::null()),
    )?;
    succeed(
        &format!("docker tag in {host}"),
        Command::new("docker").args(["-H", &host, "tag", IMAGE, EXAMPLE_IMAGE]),
    )
}

/// A CA, a server certificate for 127.0.0.1 and a client certificate signed
/// by it; a second CA (`wrong-ca.pem`) and a client certificate it signed
/// (`wrong-cert.pem`, `wrong-key.pem`) for the tests of refused handshakes.
fn make_certificates(dir: &Path) -> Result<(), String> {
    let openssl = |args: &[&str]| -> Result<(), String> {
        let output = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("docker: cannot run openssl: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "docker: openssl {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    };
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("docker: write {name}: {e}"))
    };
    write(
        "server.ext",
        "subjectAltName = IP:127.0.0.1,DNS:localhost\nextendedKeyUsage = serverAuth\n",
    )?;
    write("client.ext", "extendedKeyUsage = clientAuth\n")?;
    for ca in ["ca", "wrong-ca"] {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{ca}-key.pem"),
            "-out",
            &format!("{ca}.pem"),
            "-days",
            "3",
            "-subj",
            &format!("/CN=exec test {ca}"),
        ])?;
    }
    for (name, ca, ext, subject) in [
        ("server", "ca", "server.ext", "/CN=127.0.0.1"),
        ("client", "ca", "client.ext", "/CN=exec test client"),
        ("wrong", "wrong-ca", "client.ext", "/CN=exec test stranger"),
    ] {
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            &format!("{name}-key.pem"),
            "-out",
            &format!("{name}.csr"),
            "-subj",
            subject,
        ])?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}-key.pem"),
            "-CAcreateserial",
            "-days",
            "3",
            "-extfile",
            ext,
            "-out",
            &format!("{name}-cert.pem"),
        ])?;
    }
    // The names the docker CLI's DOCKER_CERT_PATH convention uses.
    std::fs::copy(dir.join("client-cert.pem"), dir.join("cert.pem"))
        .and_then(|_| std::fs::copy(dir.join("client-key.pem"), dir.join("key.pem")))
        .map(drop)
        .map_err(|e| format!("docker: copy the client files: {e}"))?;
    // Only the owner reads the keys.
    for key in [
        "ca-key.pem",
        "wrong-ca-key.pem",
        "server-key.pem",
        "client-key.pem",
        "key.pem",
        "wrong-key.pem",
    ] {
        let _ = std::fs::set_permissions(
            dir.join(key),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        );
    }
    Ok(())
}
