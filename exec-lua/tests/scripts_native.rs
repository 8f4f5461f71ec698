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

lua_scripts!(native(), "native";
    wippy_acquire => "wippy_acquire.lua",
    wippy_create_process => "wippy_create_process.lua",
    wippy_command_parsing => "wippy_command_parsing.lua",
    wippy_start_wait => "wippy_start_wait.lua",
    wippy_streams => "wippy_streams.lua",
    wippy_write_stdin => "wippy_write_stdin.lua",
    wippy_signal_close => "wippy_signal_close.lua",
    wippy_system_example => "wippy_system_example.lua",
    wippy_errors => "wippy_errors.lua",
    misuse => "misuse.lua",
    output => "output.lua",
    options => "options.lua",
    env_names_are_utf8_strings_and_values_utf8_text => "env_names.lua",
    an_exec_call_that_waits_in_a_script_coroutine_is_invalid => "coroutines.lua",
    a_command_may_be_a_list_of_words => "words.lua",
    a_whitelisted_executor_confines_env_and_work_dir => "confinement.lua",
    wippy_channel_and_spawn_examples => "wippy_channels.lua",
    spawned_coroutines_drain_both_streams_and_select_over_exit_and_timer => "concurrency.lua",
    wippy_done_example => "wippy_done.lua",
    misused_concurrency_raises_or_returns_errors_as_wippy_does => "concurrency_misuse.lua",
    scanners_split_lines_words_bytes_and_runes => "scanner.lua",
);

#[test]
fn every_script_is_listed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let this = include_str!("scripts_native.rs");
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            this.contains(&format!("\"{name}\"")),
            "tests/scripts/{name} is not run by tests/scripts_native.rs"
        );
    }
}
