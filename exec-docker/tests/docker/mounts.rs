//! Per-call mounts against the real daemon (issue 21).
//!
//! A call's sources come only from `mount_roots`, and the daemon mounts the
//! directory that was checked, however its path changes after the check. On
//! an executor with a whitelist, nothing the container resolves for the
//! command — another mount's target, the work dir, the program — goes
//! through what a mounted source holds. Each attack has its control run on
//! an executor without a whitelist, where the planted program answers.

use super::*;
use exec_core::Whitelist;
use exec_test_support::files;
use std::path::{Path, PathBuf};

/// What the planted `echo` prints for `echo hello`.
const PWNED: &str = "PWNED: not the whitelisted echo, args: hello\n";

/// A mount root as the issue's config has it, holding `evilbin`: an `echo`
/// that is not the whitelisted one, with its own busybox to run on. Two
/// executors use the root: `open` (no whitelist: the control) and
/// `confined` (`echo hello`, `pwd -P`, `./build.sh`), both with
/// `default_work_dir: /work` and `PATH=/bin`.
struct Attack {
    _root: tempfile::TempDir,
    root: PathBuf,
    open: DockerExecutor,
    confined: DockerExecutor,
}

impl Attack {
    async fn new(d: &daemons::Docker, case: &str) -> Self {
        Self::with(d, case, |b, _| b).await
    }

    /// The same, with `configure` applied to both executors' builders (it
    /// gets the root).
    async fn with(
        d: &daemons::Docker,
        case: &str,
        configure: impl Fn(DockerExecutorBuilder, &Path) -> DockerExecutorBuilder,
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let base = |case: String| {
            settings(&case)
                .with_default_work_dir("/work")
                .with_default_env_var("PATH", "/bin")
        };
        let open = configure(builder(d).with_mount_root(&root), &root)
            .build(base(format!("{case}-open")))
            .unwrap();
        let whitelist = Whitelist::parse(["echo hello", "pwd -P", "./build.sh"]).unwrap();
        let confined = configure(builder(d).with_mount_root(&root), &root)
            .build(base(format!("{case}-confined")).with_whitelist(whitelist))
            .unwrap();
        let attack = Self {
            _root: dir,
            root,
            open,
            confined,
        };
        let evilbin = attack.dir("evilbin");
        // Over /bin the planted echo needs a shell of its own.
        let out = run(
            &attack.open,
            "cp /bin/busybox /e/busybox",
            mounts(&[(&evilbin, "/e")]),
        )
        .await;
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        files::write_executable(
            &evilbin.join("echo"),
            "#!/bin/busybox sh\necho \"PWNED: not the whitelisted echo, args: $*\"\n",
        );
        attack
    }

    /// A directory under the root (made if missing).
    fn dir(&self, name: &str) -> PathBuf {
        files::dir(&self.root.join(name)).to_owned()
    }

    fn evilbin(&self) -> PathBuf {
        self.root.join("evilbin")
    }

    /// The whitelisted executor refuses the call before anything runs, as
    /// `PERMISSION_DENIED` with `expected` in its message.
    fn refuses(&self, command: &str, options: ExecOptions, expected: &str) {
        let err = self
            .confined
            .create_process(command.into(), options)
            .expect_err("the call must be refused");
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
        let text = err.to_string();
        assert!(text.contains(expected), "{text}\nexpected: {expected}");
    }

    /// The control: without a whitelist the call's mounts are taken and
    /// `echo hello` runs the planted echo.
    async fn control_is_pwned(&self, options: ExecOptions) {
        let out = run(&self.open, "echo hello", options).await;
        assert_eq!(stdout(&out), PWNED, "{out:?}");
    }
}

/// Options mounting each `(source, target)`, writable.
fn mounts(list: &[(&Path, &str)]) -> ExecOptions {
    list.iter()
        .fold(ExecOptions::new(), |options, (source, target)| {
            options.with_mount(Mount::new(source, target))
        })
}

/// The issue's attack: `repo/tools -> /bin` in one mounted source moves a
/// second mount (`evilbin` at `/work/repo/tools`, inside the work dir as
/// written) over `/bin`, and the whitelisted `echo hello` runs the planted
/// echo.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_in_one_mount_cannot_move_another_over_the_whitelisted_program() {
    let Some(d) = daemon() else { return };
    let attack = Attack::new(&d, "link-attack").await;
    let repo = attack.dir("repo");
    files::symlink("/bin", &repo.join("tools"));
    let evilbin = attack.evilbin();
    let both = || mounts(&[(&repo, "/work/repo"), (&evilbin, "/work/repo/tools")]);
    // control-direct: refused as before.
    attack.refuses(
        "echo hello",
        mounts(&[(&evilbin, "/bin")]),
        "does not let a call mount anything at \"/bin\"",
    );
    // baseline.
    let out = run(&attack.confined, "echo hello", ExecOptions::new()).await;
    assert_eq!(stdout(&out), "hello\n");
    // via-symlink: refused, naming the mount and why.
    attack.refuses("echo hello", both(), &format!(
            "does not let a call mount anything at \"/work/repo/tools\": mount 2 (from {evilbin:?}) \
             lies inside the target \"/work/repo\" of mount 1"
        ));
    // Control: without a whitelist the daemon follows the link.
    attack.control_is_pwned(both()).await;
}

/// Variants of the link: a chain of two, one with `..`, one to a file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_links_or_a_link_with_dot_dot_is_refused_the_same() {
    let Some(d) = daemon() else { return };
    let attack = Attack::new(&d, "link-variants").await;
    let evilbin = attack.evilbin();
    let chain = attack.dir("chain");
    files::symlink("b", &chain.join("a"));
    files::symlink("/bin", &chain.join("b"));
    let dotdot = attack.dir("dotdot");
    // From /work/repo/tools, ../../bin is /bin.
    files::symlink("../../bin", &dotdot.join("tools"));
    for (repo, link) in [(&chain, "/work/repo/a"), (&dotdot, "/work/repo/tools")] {
        let both = || mounts(&[(repo, "/work/repo"), (&evilbin, link)]);
        let expected = format!("mount 2 (from {evilbin:?}) lies inside the target \"/work/repo\"");
        attack.refuses("echo hello", both(), &expected);
        attack.control_is_pwned(both()).await;
    }
}

/// A link to a file (`repo/tools -> /bin/echo`): refused on the whitelisted
/// executor; without a whitelist the daemon follows it to the image's file
/// and fails the mount — reported as a mount that failed, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_a_file_is_refused_and_a_failed_mount_says_so() {
    let Some(d) = daemon() else { return };
    let attack = Attack::new(&d, "link-file").await;
    let repo = attack.dir("repo");
    files::symlink("/bin/echo", &repo.join("tools"));
    let evilbin = attack.evilbin();
    let both = || mounts(&[(&repo, "/work/repo"), (&evilbin, "/work/repo/tools")]);
    attack.refuses("echo hello", both(), "mount 2 (from");
    let process = attack
        .open
        .create_process("echo hello".into(), both())
        .unwrap();
    let err = process.start().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    let text = err.to_string();
    assert!(
        text.contains(&format!(
            "could not make mount 2 ({evilbin:?} at \"/work/repo/tools\") in the container"
        )) && text.contains("not a directory"),
        "{text}"
    );
    assert!(!text.contains("not found in image"), "{text}");
}

/// The link made by one command (on an executor without a whitelist
/// sharing the root) for a later call to the whitelisted one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_one_command_leaves_for_the_next_call_is_refused() {
    let Some(d) = daemon() else { return };
    let attack = Attack::new(&d, "link-later").await;
    let repo = attack.dir("repo");
    let evilbin = attack.evilbin();
    let both = || mounts(&[(&repo, "/work/repo"), (&evilbin, "/work/repo/tools")]);
    // Nothing to follow yet: refused all the same (the rule is the layout).
    attack.refuses("echo hello", both(), "mount 2 (from");
    let out = run(
        &attack.open,
        "ln -s /bin /r/tools",
        mounts(&[(&repo, "/r")]),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    attack.refuses("echo hello", both(), "mount 2 (from");
    attack.control_is_pwned(both()).await;
}

/// The executor's own volumes and a call's mounts: a call's mount inside a
/// volume follows the links the volume holds, and a call's mount over a
/// volume's target moves the volume through the links the call brings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn volumes_and_call_mounts_cannot_nest_either_way() {
    let Some(d) = daemon() else { return };
    // Volumes are the config's and lie outside mount_roots (the executor
    // refuses one inside: a call could swap its path).
    let holder = tempfile::tempdir().unwrap();
    let cache = files::dir(&holder.path().join("cache")).to_owned();
    let volume = format!("{}:/work/cache", cache.display());
    let attack = Attack::with(&d, "volumes", |b, _| b.with_volume(&volume)).await;
    // A command left a link in the volume.
    let out = run(
        &attack.open,
        "ln -s /bin /work/cache/tools",
        ExecOptions::new(),
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let evilbin = attack.evilbin();
    let inside = || mounts(&[(&evilbin, "/work/cache/tools")]);
    let expected = format!(
        "mount 1 (from {evilbin:?}) lies on or inside the executor's own mount at \"/work/cache\""
    );
    attack.refuses("echo hello", inside(), &expected);
    attack.control_is_pwned(inside()).await;
    // The other way: a command left the planted echo in the volume; the
    // call's checkout, mounted over /work, carries `cache -> /bin`, so the
    // volume would land on /bin.
    std::fs::remove_file(cache.join("tools")).unwrap();
    for file in ["busybox", "echo"] {
        std::fs::copy(evilbin.join(file), cache.join(file)).unwrap();
    }
    let checkout = attack.dir("checkout");
    files::symlink("/bin", &checkout.join("cache"));
    let over = || mounts(&[(&checkout, "/work")]);
    attack.refuses(
        "echo hello",
        over(),
        "would cover the executor's own mount at \"/work/cache\"",
    );
    attack.control_is_pwned(over()).await;
}

/// A work dir inside a mounted checkout follows the checkout's links; a
/// relative program in `default_work_dir` is whatever a mount there holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_work_dir_or_relative_program_is_not_reached_through_a_mount() {
    let Some(d) = daemon() else { return };
    let attack = Attack::new(&d, "work-dir").await;
    let repo = attack.dir("repo");
    files::symlink("/bin", &repo.join("tools"));
    let in_tools = || mounts(&[(&repo, "/work/repo")]).with_work_dir("/work/repo/tools");
    attack.refuses(
        "pwd -P",
        in_tools(),
        "does not let a call use the work dir \"/work/repo/tools\": it lies inside the target \
             \"/work/repo\" of mount 1",
    );
    let out = run(&attack.open, "pwd -P", in_tools()).await;
    assert_eq!(stdout(&out), "/bin\n", "the control follows the link");
    // At the mount's own root: allowed, and that is where it runs.
    let at_root = mounts(&[(&repo, "/work/repo")]).with_work_dir("/work/repo");
    let out = run(&attack.confined, "pwd -P", at_root).await;
    assert_eq!(stdout(&out), "/work/repo\n");
    // `./build.sh` is default_work_dir's: a checkout mounted there would be it.
    let checkout = attack.dir("checkout");
    files::write_executable(
        &checkout.join("build.sh"),
        "#!/bin/sh\necho 'PWNED: the checkout'\"'\"'s build.sh'\n",
    );
    let over_work = || mounts(&[(&checkout, "/work")]);
    attack.refuses(
        "./build.sh",
        over_work(),
        &format!("mount 1 (from {checkout:?}) would hold the program \"/work/build.sh\""),
    );
    let out = run(&attack.open, "./build.sh", over_work()).await;
    assert_eq!(stdout(&out), "PWNED: the checkout's build.sh\n");
}

/// Deterministic form of the race: the source's path is swapped for a link
/// to `/` between the check (`create_process`) and the start. The daemon
/// mounts the directory that was checked; a source removed meanwhile fails
/// the start as a mount, not as a missing program.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_mounts_the_directory_that_was_checked_not_what_its_path_became() {
    let Some(d) = daemon() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::write(root.join("host-marker"), "").unwrap();
    let exec = builder(&d)
        .with_mount_root(&root)
        .build(settings("pinned"))
        .unwrap();
    let source = files::dir(&root.join("d")).to_owned();
    std::fs::write(source.join("marker"), "checked\n").unwrap();
    let probe = format!(
        "sh -c 'cat /h/marker; test -e /h{}/host-marker && echo HOST-ROOT; true'",
        root.display()
    );
    let process = exec
        .create_process(probe.as_str().into(), mounts(&[(&source, "/h")]))
        .unwrap();
    std::fs::rename(&source, root.join("d.checked")).unwrap();
    files::symlink("/", &source);
    let out = process.output().await.unwrap();
    assert_eq!(stdout(&out), "checked\n", "{out:?}");
    // Removed after the check: the start fails, naming the mount.
    std::fs::remove_file(&source).unwrap();
    files::dir(&source);
    let gone = settings("pinned-gone").id().to_owned();
    for init in [true, false] {
        let exec = builder(&d)
            .with_mount_root(&root)
            .with_init(init)
            .build(settings("pinned-gone"))
            .unwrap();
        let process = exec
            .create_process("sh -c true".into(), mounts(&[(&source, "/h")]))
            .unwrap();
        std::fs::remove_dir(&source).unwrap();
        let err = process.start().await.unwrap_err();
        let text = err.to_string();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{text}");
        assert!(
            text.contains(&format!("could not make mount 1 ({source:?} at \"/h\")")),
            "{text}"
        );
        assert!(!text.contains("not found in image"), "{text}");
        files::dir(&source);
    }
    for id in [exec.id(), &gone] {
        assert_nothing_left(&d.host, id).await;
        daemons::assert_no_docker_volumes(&d.host, &label(id)).await;
    }
}

/// The issue's race, for as long as the old code needed to win many times
/// over: a container flips a directory under the mount root between a
/// directory and a link to `/` (by `rmdir` + `ln`, as in the issue, and by
/// renaming the directory away, which keeps it alive), while calls mount
/// that path read-only. None may see the host's `/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_flipped_to_a_link_to_the_root_never_mounts_the_hosts_root() {
    let Some(d) = daemon() else { return };
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::write(root.join("host-marker"), "").unwrap();
    let settings = settings("race");
    let id = settings.id().to_owned();
    let exec = builder(&d).with_mount_root(&root).build(settings).unwrap();
    let flippers = [
        "while :; do mkdir /w/d; sleep 0.07; rmdir /w/d; ln -s / /w/d; sleep 0.07; rm /w/d; done",
        "mkdir /w/real; echo checked > /w/real/marker; while :; do mv /w/real /w/d; sleep 0.07; \
         mv /w/d /w/real; ln -s / /w/d; sleep 0.07; rm /w/d; done",
    ];
    let mut running = Vec::new();
    for (n, flipper) in flippers.into_iter().enumerate() {
        let w = files::dir(&root.join(n.to_string())).to_owned();
        let process = exec
            .create_process(["sh", "-c", flipper].into(), mounts(&[(&w, "/w")]))
            .unwrap();
        process.start().await.unwrap();
        running.push((process, w.join("d")));
    }
    let probe = format!(
        "sh -c 'if test -e /h{}/host-marker; then echo HOST-ROOT; else cat /h/marker 2>/dev/null; echo ran; fi'",
        root.display()
    );
    let started = Instant::now();
    let (mut tries, mut refused, mut failed, mut ran, mut checked) = (0, 0, 0, 0, 0);
    let mut won = Vec::new();
    let mut odd = Vec::new();
    while started.elapsed() < Duration::from_secs(12) {
        let (_, source) = &running[tries % running.len()];
        tries += 1;
        let options = ExecOptions::new().with_mount(Mount::new(source, "/h").with_read_only(true));
        let process = match exec.create_process(probe.as_str().into(), options) {
            Ok(process) => process,
            Err(err) => {
                // The link was there at the check, or the directory was gone.
                refused += 1;
                if !matches!(
                    err.kind(),
                    ErrorKind::PermissionDenied | ErrorKind::NotFound
                ) {
                    odd.push(err.to_string());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        match process.output().await {
            Ok(out) if stdout(&out).contains("HOST-ROOT") => won.push(tries),
            Ok(out) => {
                ran += 1;
                checked += usize::from(stdout(&out).contains("checked"));
            }
            // The checked directory was removed before the daemon mounted it.
            Err(err) if err.to_string().contains("could not make mount 1") => failed += 1,
            Err(err) => odd.push(err.to_string()),
        }
    }
    for (process, _) in &running {
        process.close(true).await.unwrap();
    }
    eprintln!(
        "race: {tries} tries in {:?}: {refused} refused, {failed} mounts failed, {ran} ran \
         ({checked} saw the checked directory), host root at tries {won:?}",
        started.elapsed()
    );
    assert!(won.is_empty(), "the host's / was mounted at tries {won:?}");
    assert!(odd.is_empty(), "{odd:#?}");
    assert!(refused > 0 && ran > 0, "both states of the flip were met");
    assert_nothing_left(&d.host, &id).await;
    daemons::assert_no_docker_volumes(&d.host, &label(&id)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_mounts_only_under_mount_roots() {
    let Some(d) = daemon() else { return };
    let root = tempfile::tempdir().unwrap();
    let shared = root.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::write(shared.join("note.txt"), "shared note\n").unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), root.path().join("escape")).unwrap();
    let exec = builder(&d)
        .with_mount_root(root.path())
        .build(settings("mounts"))
        .unwrap();
    let mount = |source: &std::path::Path| {
        ExecOptions::new().with_mount(Mount::new(source, "/m").with_read_only(true))
    };
    let out = run(
        &exec,
        "sh -c 'cat /m/note.txt; touch /m/x 2>/dev/null || echo read-only'",
        mount(&shared),
    )
    .await;
    assert_eq!(stdout(&out), "shared note\nread-only\n");
    let writable = ExecOptions::new().with_mount(Mount::new(&shared, "/m"));
    let out = run(&exec, "sh -c 'echo new > /m/new.txt'", writable).await;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_to_string(shared.join("new.txt")).unwrap(),
        "new\n"
    );
    for refused in [
        outside.path().to_owned(),
        root.path().join("shared/../../"),
        root.path().join("escape"),
        std::path::PathBuf::from("/"),
    ] {
        let err = exec
            .create_process("true".into(), mount(&refused))
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::PermissionDenied,
            "{refused:?}: {err}"
        );
        assert!(err.to_string().contains("mount_roots"), "{err}");
    }
    // A call mounts directories (each is handed to the daemon open); a
    // missing one is NOT_FOUND.
    std::fs::write(root.path().join("file"), "").unwrap();
    let err = exec
        .create_process("true".into(), mount(&root.path().join("file")))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(err.to_string().contains("mounts directories only"), "{err}");
    let err = exec
        .create_process("true".into(), mount(&root.path().join("missing")))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // No mount_roots: no mounts at all.
    let closed = builder(&d).build(settings("no-mounts")).unwrap();
    let err = closed
        .create_process("true".into(), mount(&shared))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
}

/// The attack: a whitelist allows `echo hello`; a call mounts a directory it
/// may mount (under `mount_roots`) holding its own `echo` over a directory
/// early in `PATH`, so another program answers to the whitelisted name. The
/// control run, on an executor without a whitelist, shows the trap works;
/// the whitelisted executor refuses any mount outside its work dir roots.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_cannot_mount_another_program_over_a_whitelisted_one() {
    let Some(d) = daemon() else { return };
    let root = tempfile::tempdir().unwrap();
    let tools = root.path().join("tools");
    std::fs::create_dir(&tools).unwrap();
    files::write_executable(
        &tools.join("echo"),
        "#!/bin/sh\nprintf 'not the real echo\\n'\n",
    );
    let over_path =
        || ExecOptions::new().with_mount(Mount::new(&tools, "/usr/local/bin").with_read_only(true));
    // Control: no whitelist, the mount is taken and the planted echo runs.
    let open = builder(&d)
        .with_mount_root(root.path())
        .build(settings("mount-open"))
        .unwrap();
    let out = run(&open, "echo hello", over_path()).await;
    assert_eq!(stdout(&out), "not the real echo\n");
    // Whitelisted: refused before anything runs, naming the target.
    let confined = builder(&d)
        .with_mount_root(root.path())
        .build(
            settings("mount-confined")
                .with_default_work_dir("/work")
                .with_whitelist(
                    exec_core::Whitelist::parse(["echo hello", "cat /work/in/echo"]).unwrap(),
                ),
        )
        .unwrap();
    for target in ["/usr/local/bin", "/bin", "/lib", "/etc", "/work/../bin"] {
        let options = ExecOptions::new().with_mount(Mount::new(&tools, target));
        let err = confined
            .create_process("echo hello".into(), options)
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{target}: {err}");
        assert!(
            err.to_string()
                .contains("does not let a call mount anything at"),
            "{err}"
        );
    }
    // Inside the work dir it is data, and the whitelisted command reads it.
    let options =
        ExecOptions::new().with_mount(Mount::new(&tools, "/work/in").with_read_only(true));
    let out = run(&confined, "cat /work/in/echo", options).await;
    assert!(
        stdout(&out).contains("not the real echo"),
        "{}",
        stdout(&out)
    );
    let out = run(&confined, "echo hello", ExecOptions::new()).await;
    assert_eq!(stdout(&out), "hello\n");
}
