//! The ways around a whitelist that a script holding only per-call arguments
//! had (issue 11, attacks 2 and 3), each with a control run on an
//! unrestricted executor that proves the trap is real. Real processes, real git.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_config::Registry;
use exec_core::{ErrorKind, ExecOptions, Executor};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// A config like the README's `app:git`, rooted in `dir`, plus an
/// unrestricted `app:open` for the controls.
fn config(dir: &Path, extra: &str) -> Registry {
    let yaml = format!(
        "namespace: app\nentries:\n\
         - name: git\n  kind: exec.native\n  default_work_dir: {app}\n  default_env: {{ PATH: \"{PATH}\" }}\n  command_whitelist: [\"git status\", \"./build.sh\"]\n{extra}\
         - name: open\n  kind: exec.native\n  default_env: {{ PATH: \"{PATH}\" }}\n",
        app = dir.join("app").display()
    );
    Registry::from_yaml(&yaml, Path::new("security.yaml"), None).unwrap()
}

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .status()
        .unwrap();
    assert!(status.success(), "git {args:?}");
}

/// `dir/app/repo` (a plain repo) and `dir/evil` (a repo whose config runs a
/// command: `core.fsmonitor`), and the marker file that command creates.
fn repos(dir: &Path) -> PathBuf {
    let marker = dir.join("pwned");
    std::fs::create_dir_all(dir.join("app/repo")).unwrap();
    std::fs::create_dir_all(dir.join("evil")).unwrap();
    git(&dir.join("app/repo"), &["init", "-q"]);
    git(&dir.join("evil"), &["init", "-q"]);
    git(
        &dir.join("evil"),
        &[
            "config",
            "core.fsmonitor",
            &format!("touch {}", marker.display()),
        ],
    );
    marker
}

async fn run(executor: &Arc<dyn Executor>, options: ExecOptions) -> exec_core::Result<String> {
    let process = executor.create_process("git status".into(), options)?;
    let output = process.output().await?;
    Ok(output.stdout_lossy())
}

#[tokio::test]
async fn per_call_env_cannot_turn_a_whitelisted_command_into_another() {
    let dir = tempfile::tempdir().unwrap();
    let marker = repos(dir.path());
    let registry = config(dir.path(), "");
    let git_config = [
        ("GIT_CONFIG_COUNT", "1".to_owned()),
        ("GIT_CONFIG_KEY_0", "core.fsmonitor".to_owned()),
        ("GIT_CONFIG_VALUE_0", format!("touch {}", marker.display())),
    ];
    let repo = dir.path().join("app/repo");

    // Control: where a call may set anything, this runs the command.
    let open = registry.get("app:open").unwrap();
    run(
        &open,
        ExecOptions::new()
            .with_work_dir(&repo)
            .with_envs(git_config.clone()),
    )
    .await
    .unwrap();
    assert!(
        marker.exists(),
        "the control did not run the injected command"
    );
    std::fs::remove_file(&marker).unwrap();

    let git = registry.get("app:git").unwrap();
    let attacks: Vec<(&str, ExecOptions)> = vec![
        (
            "GIT_CONFIG_COUNT",
            ExecOptions::new().with_envs(git_config.clone()),
        ),
        (
            "LD_PRELOAD",
            ExecOptions::new().with_env("LD_PRELOAD", "/tmp/evil.so"),
        ),
        ("PATH", ExecOptions::new().with_env("PATH", "/tmp/evil-bin")),
        (
            "GIT_EXEC_PATH",
            ExecOptions::new().with_env("GIT_EXEC_PATH", "/tmp"),
        ),
        (
            "HOME",
            ExecOptions::new().with_env("HOME", "/tmp/evil-home"),
        ),
        ("LANG", ExecOptions::new().with_env("LANG", "C")),
    ];
    for (name, options) in attacks {
        let err = run(&git, options.with_work_dir(&repo)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{name}: {err}");
        let message = err.to_string();
        assert!(
            message.contains(&format!("the variable {name}")),
            "{message}"
        );
        assert!(message.contains("env_allow"), "{message}");
    }
    assert!(!marker.exists(), "an injected command ran");

    // What the config allows, a call may set; hooks only when named exactly.
    let allowing = config(dir.path(), "  env_allow: [LANG, \"GIT_*\"]\n")
        .get("app:git")
        .unwrap();
    assert!(
        run(
            &allowing,
            ExecOptions::new()
                .with_env("LANG", "C")
                .with_work_dir(&repo)
        )
        .await
        .is_ok()
    );
    let err = run(
        &allowing,
        ExecOptions::new()
            .with_envs(git_config)
            .with_work_dir(&repo),
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("only when env_allow names it exactly"),
        "{err}"
    );
    assert!(!marker.exists(), "an injected command ran");
}

#[tokio::test]
async fn per_call_work_dir_cannot_leave_the_configured_roots() {
    let dir = tempfile::tempdir().unwrap();
    let marker = repos(dir.path());
    let registry = config(dir.path(), "");
    let evil = dir.path().join("evil");

    // Control: the hostile repo runs its command for anyone who enters it.
    run(
        &registry.get("app:open").unwrap(),
        ExecOptions::new().with_work_dir(&evil),
    )
    .await
    .unwrap();
    assert!(
        marker.exists(),
        "the control did not run the repo's command"
    );
    std::fs::remove_file(&marker).unwrap();

    let git = registry.get("app:git").unwrap();
    std::os::unix::fs::symlink(&evil, dir.path().join("app/link")).unwrap();
    for work_dir in [
        evil.clone(),
        dir.path().join("app/../evil"),
        dir.path().join("app/link"),
        PathBuf::from("/"),
    ] {
        let err = run(&git, ExecOptions::new().with_work_dir(&work_dir))
            .await
            .unwrap_err();
        assert_eq!(
            err.kind(),
            ErrorKind::PermissionDenied,
            "{work_dir:?}: {err}"
        );
        assert!(
            err.to_string()
                .contains("outside default_work_dir and work_dir_roots"),
            "{err}"
        );
    }
    assert!(!marker.exists(), "the hostile repo's command ran");

    // Inside the root, as written or relative to it, works (the seed's
    // `default_work_dir: /app` with `work_dir = "/app/repo"`).
    let repo = dir.path().join("app/repo");
    assert!(
        run(&git, ExecOptions::new().with_work_dir(&repo))
            .await
            .is_ok()
    );
    assert!(
        run(&git, ExecOptions::new().with_work_dir("repo"))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn a_relative_program_is_the_one_in_default_work_dir_whatever_the_call_work_dir() {
    let dir = tempfile::tempdir().unwrap();
    let script = |at: &Path, says: &str| {
        std::fs::create_dir_all(at).unwrap();
        let path = at.join("build.sh");
        std::fs::write(&path, format!("#!/bin/sh\necho {says} in \"$PWD\"\n")).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    };
    script(&dir.path().join("app"), "configured");
    script(&dir.path().join("other"), "hostile");
    let roots = format!(
        "  work_dir_roots: [\"{}\"]\n",
        dir.path().join("other").display()
    );
    let git = config(dir.path(), &roots).get("app:git").unwrap();
    let other = dir.path().join("other");
    let process = git
        .create_process(
            "./build.sh".into(),
            ExecOptions::new().with_work_dir(&other),
        )
        .unwrap();
    let output = process.output().await.unwrap();
    assert!(output.status.success(), "{output:?}");
    let canonical_other = std::fs::canonicalize(&other).unwrap();
    assert_eq!(
        output.stdout_lossy(),
        format!("configured in {}\n", canonical_other.display())
    );
}

/// (Found in review.) With a whitelisted `./build.sh` and no
/// `default_work_dir`, the program was found from the call's work dir: a
/// hostile checkout's `build.sh` ran. The control run on an executor without
/// a whitelist shows the trap; the whitelisted one refuses before anything runs.
#[tokio::test]
async fn a_relative_program_without_default_work_dir_is_refused_not_found_from_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = dir.path().join("checkouts/attacker");
    std::fs::create_dir_all(&hostile).unwrap();
    let script = hostile.join("build.sh");
    std::fs::write(&script, "#!/bin/sh\necho hostile\n").unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let yaml = format!(
        "- name: build\n  kind: exec.native\n  default_env: {{ PATH: \"{PATH}\" }}\n  \
         work_dir_roots: [\"{roots}\"]\n  command_whitelist: [\"./build.sh\"]\n\
         - name: open\n  kind: exec.native\n  default_env: {{ PATH: \"{PATH}\" }}\n",
        roots = dir.path().join("checkouts").display()
    );
    let registry = Registry::from_yaml(&yaml, Path::new("security.yaml"), Some("app")).unwrap();
    let call = || ExecOptions::new().with_work_dir(&hostile);
    let open = registry.get("app:open").unwrap();
    let output = open
        .create_process("./build.sh".into(), call())
        .unwrap()
        .output()
        .await
        .unwrap();
    assert_eq!(
        output.stdout_lossy(),
        "hostile\n",
        "control: the trap works"
    );
    let build = registry.get("app:build").unwrap();
    let err = build
        .create_process("./build.sh".into(), call())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(
        err.to_string().contains("no absolute default_work_dir"),
        "{err}"
    );
}

#[test]
fn bad_env_allow_and_work_dir_roots_fail_the_load_where_they_are_written() {
    let cases = [
        (
            "- { name: a, kind: exec.native, env_allow: [LANG, \"A=B\"] }",
            "bad.yaml:1:51: entry app:a: field \"env_allow\": \"A=B\" is not a variable name or a prefix ending in `*` (no `=`, NUL or inner `*`)",
        ),
        (
            "- { name: a, kind: exec.native, work_dir_roots: [srv] }",
            "bad.yaml:1:50: entry app:a: field \"work_dir_roots\": \"srv\" is not an absolute path",
        ),
        (
            "- { name: a, kind: exec.native, env_allow: LANG }",
            "bad.yaml:1:44: entry app:a: field \"env_allow\": invalid type: string \"LANG\", expected a list of strings",
        ),
    ];
    for (yaml, expected) in cases {
        let err = Registry::from_yaml(yaml, Path::new("bad.yaml"), Some("app")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert_eq!(exec_core::report(&err), expected);
    }
}

#[test]
fn a_bad_max_running_fails_the_load_naming_the_field() {
    // Past u64, serde_yaml's own message ("invalid type: integer …") names it.
    let err = Registry::from_yaml(
        "- { name: a, kind: exec.native, max_running: 99999999999999999999999 }",
        Path::new("bad.yaml"),
        Some("app"),
    )
    .unwrap_err();
    assert!(exec_core::report(&err).contains("entry app:a: field \"max_running\""));
    for value in ["0", "-1", "1.5", "two", "[2]", "null"] {
        let yaml = format!("- {{ name: a, kind: exec.native, max_running: {value} }}");
        let err = Registry::from_yaml(&yaml, Path::new("bad.yaml"), Some("app")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{value}");
        let report = exec_core::report(&err);
        assert!(
            report.starts_with("bad.yaml:1:")
                && report.contains(
                    "entry app:a: field \"max_running\": it is not a whole number of 1 or more"
                ),
            "{value}: {report}"
        );
    }
}

#[test]
fn max_running_bounds_the_processes_of_its_executor_only() {
    let registry = Registry::from_yaml(
        "- { name: one, kind: exec.native, max_running: 1 }\n- { name: free, kind: exec.native }",
        Path::new("limits.yaml"),
        Some("app"),
    )
    .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let one = registry.get("app:one").unwrap();
        let first = one
            .create_process(["/bin/sleep", "5"].into(), exec_core::ExecOptions::new())
            .unwrap();
        first.start().await.unwrap();
        let second = one
            .create_process(["/bin/true"].into(), exec_core::ExecOptions::new())
            .unwrap();
        let err = second.start().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(
            err.to_string(),
            "too many processes: executor \"app:one\" (max_running) allows 1 running at once"
        );
        // Another executor is not bounded by it.
        let free = registry.get("app:free").unwrap();
        let other = free
            .create_process(["/bin/true"].into(), exec_core::ExecOptions::new())
            .unwrap();
        other.start().await.unwrap();
        assert_eq!(other.wait().await.unwrap().code(), Some(0));
        // The slot comes back with the end of the first.
        first.signal(9).await.unwrap();
        first.wait().await.unwrap();
        second.start().await.unwrap();
        assert_eq!(second.wait().await.unwrap().code(), Some(0));
    });
}
