//! The Lua scripts of `tests/scripts/` (Wippy's doc examples, misuse, output,
//! options) against exec-native. Another backend runs the same scripts with a
//! file like this one and its own registry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use exec_lua::Registry;
use std::path::Path;
use std::sync::Arc;
use tempfile::TempDir;

fn native() -> Option<(Arc<Registry>, TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    harness::write_work_files(dir.path());
    let yaml = entries(dir.path());
    let registry = Registry::from_yaml(&yaml, Path::new("native.yaml"), Some("app")).unwrap();
    Some((Arc::new(registry), dir))
}

fn entries(work_dir: &Path) -> String {
    let common = format!(
        "  kind: exec.native\n  default_work_dir: {}\n  default_env: {{ PATH: /usr/local/bin:/usr/bin:/bin, LANG: C.UTF-8 }}\n",
        work_dir.display()
    );
    format!(
        "- name: shell\n{common}\
         - name: exec\n{common}\
         - name: restricted\n{common}  command_whitelist: [\"echo hello\", \"git status\"]\n\
         - name: legacy\n{common}  output_encoding: cp949\n"
    )
}

lua_scripts!(native(), "native");

#[test]
fn every_script_is_listed() {
    harness::assert_every_script_is_listed();
}
