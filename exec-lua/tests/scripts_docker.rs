//! The Lua scripts of `tests/scripts/` (the same ones exec-native runs)
//! against a real Docker daemon: each executor runs its commands in busybox
//! containers, the work files bind-mounted at the default work dir.

#![cfg(feature = "docker")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use exec_core::conformance::daemon_or_skip;
use exec_lua::Registry;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use tempfile::TempDir;

/// The container path the work files are mounted at.
const WORK_DIR: &str = "/work";

fn docker() -> Option<(Arc<Registry>, TempDir)> {
    let daemon = daemon_or_skip("dockerd", exec_test_support::daemons::docker())?;
    let dir = tempfile::tempdir().unwrap();
    harness::write_work_files(dir.path());
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let common = format!(
        "  kind: exec.docker\n  image: {}\n  host: {}\n  pull: never\n  network_mode: none\n  \
         volumes: [\"{}:{WORK_DIR}\"]\n  default_work_dir: {WORK_DIR}\n  \
         default_env: {{ PATH: /usr/local/bin:/usr/bin:/bin, LANG: C.UTF-8 }}\n",
        daemon.image,
        daemon.host,
        dir.path().display()
    );
    let yaml = format!(
        "- name: shell\n{common}\
         - name: exec\n{common}\
         - name: restricted\n{common}  command_whitelist: [\"echo hello\", \"git status\"]\n\
         - name: legacy\n{common}  output_encoding: cp949\n"
    );
    let registry = Registry::from_yaml(&yaml, Path::new("docker.yaml"), Some("app")).unwrap();
    Some((Arc::new(registry), dir))
}

lua_scripts!(docker(), "docker");
