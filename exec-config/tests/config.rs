//! Loading config files with the `exec.native` kind: good files, bad ones with
//! their exact messages, ids across files, policies, the registry. No process is
//! started here (see `native_processes.rs` for that).

#![cfg(feature = "native")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_config::{ConfigError, Loader, Registry};
use exec_core::policy::{CommandRequest, Policy, PolicyDenial};
use exec_core::{Error, ErrorKind, ExecOptions, ExecutorSettings};
use std::path::Path;
use std::sync::{Arc, Mutex};

#[test]
fn a_full_file_loads_and_its_native_executors_check_their_whitelist() {
    let registry = Registry::from_file("tests/good/executors.yaml", None).unwrap();
    assert_eq!(
        registry.ids().collect::<Vec<_>>(),
        ["app:legacy", "app:restricted", "app:shell"]
    );
    assert_eq!(registry.len(), 3);
    assert!(!registry.is_empty());

    let shell = registry.get("app:shell").unwrap();
    assert_eq!(shell.id(), "app:shell");
    // No whitelist: anything that splits is allowed.
    shell
        .create_process("echo hi".into(), ExecOptions::new())
        .unwrap();

    let restricted = registry.get("app:restricted").unwrap();
    assert_eq!(restricted.id(), "app:restricted");
    restricted
        .create_process("echo hello".into(), ExecOptions::new())
        .unwrap();
    restricted
        .create_process(r#"printf "%s\n" "a b""#.into(), ExecOptions::new())
        .unwrap();
    let err = restricted
        .create_process("echo hi".into(), ExecOptions::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("app:restricted"), "{err}");
}

#[test]
fn a_bare_list_takes_the_callers_namespace_and_a_files_own_wins() {
    let mut loader = Loader::new();
    let ids = loader
        .load_file("tests/good/bare_list.yaml", Some("tools"))
        .unwrap();
    assert_eq!(ids, ["tools:shell", "tools:other"]);
    let ids = loader
        .load_file("tests/good/executors.yaml", Some("ignored"))
        .unwrap();
    assert_eq!(ids, ["app:shell", "app:restricted", "app:legacy"]);
    assert_eq!(loader.registry().len(), 5);
}

/// Each bad file and the exact message it gives.
const BAD_FILES: &[(&str, &str)] = &[
    (
        "unknown_field",
        r#"tests/bad/unknown_field.yaml:5:5: entry app:shell: unknown field "defualt_env"; did you mean "default_env"?; valid fields: name, kind, meta, default_work_dir, default_env, command_whitelist, output_encoding, env_allow, work_dir_roots, max_running"#,
    ),
    (
        "wrong_type",
        r#"tests/bad/wrong_type.yaml:5:24: entry app:shell: field "command_whitelist": invalid type: string "git status", expected a list of command lines"#,
    ),
    (
        "missing_name",
        r#"tests/bad/missing_name.yaml:5:5: entry #2: missing field "name""#,
    ),
    (
        "missing_kind",
        r#"tests/bad/missing_kind.yaml:3:5: entry app:shell: missing field "kind""#,
    ),
    (
        "unknown_kind",
        r#"tests/bad/unknown_kind.yaml:4:11: entry app:shell: unknown kind "exec.natve"; did you mean "exec.native"?; known kinds: exec.native"#,
    ),
    (
        "duplicate_id",
        r#"tests/bad/duplicate_id.yaml:7:5: entry app:shell: duplicate entry id "app:shell"; it is already defined at tests/bad/duplicate_id.yaml:3:5: entry app:shell"#,
    ),
    (
        "bad_whitelist_line",
        r#"tests/bad/bad_whitelist_line.yaml:7:9: entry app:git: field "command_whitelist": invalid command line "git commit -m 'unclosed": unclosed quote"#,
    ),
    (
        "bad_encoding",
        r#"tests/bad/bad_encoding.yaml:5:22: entry app:legacy: field "output_encoding": unknown encoding "cp99999" (try utf-8, cp949, euc-kr, shift_jis, gbk, windows-1252)"#,
    ),
    (
        "bad_env_name",
        r#"tests/bad/bad_env_name.yaml:7:7: entry app:shell: field "default_env": variable name "A=B" contains '='"#,
    ),
    (
        "env_value_not_scalar",
        r#"tests/bad/env_value_not_scalar.yaml:6:15: entry app:shell: field "default_env.NESTED": invalid type: map, expected a string, a number or a boolean"#,
    ),
    (
        "bare_list_without_namespace",
        "tests/bad/bare_list_without_namespace.yaml:1:1: a bare list of entries needs a namespace: give one to the loader, or write `namespace:` and `entries:`",
    ),
    (
        "syntax_error",
        "tests/bad/syntax_error.yaml:5:1: did not find expected ',' or ']', while parsing a flow sequence at line 4 column 11",
    ),
    (
        "unknown_top_level_key",
        r#"tests/bad/unknown_top_level_key.yaml:2:1: unknown field "entires"; did you mean "entries"?; valid fields: namespace, entries, version, meta"#,
    ),
    (
        "bad_name",
        r#"tests/bad/bad_name.yaml:3:11: entry app:my shell: field "name": "my shell" may not contain ':' or blanks"#,
    ),
    (
        "field_given_twice",
        r#"tests/bad/field_given_twice.yaml:5:5: entry app:shell: field "kind": the field is given twice"#,
    ),
    (
        "entries_not_a_list",
        r#"tests/bad/entries_not_a_list.yaml:3:3: field "entries": invalid type: map, expected a list of entries"#,
    ),
    (
        "empty",
        "tests/bad/empty.yaml: the file is empty; expected `namespace:` and `entries:`, or a list of entries",
    ),
    (
        "not_a_config",
        r#"tests/bad/not_a_config.yaml:1:1: invalid type: string "just a string", expected a map with `namespace` and `entries`, or a list of entries"#,
    ),
    (
        "missing_entries",
        r#"tests/bad/missing_entries.yaml:1:1: missing field "entries""#,
    ),
    (
        "map_without_namespace",
        r#"tests/bad/map_without_namespace.yaml:1:1: missing field "namespace""#,
    ),
    (
        "env_variable_given_twice",
        r#"tests/bad/env_variable_given_twice.yaml:7:7: entry app:shell: field "default_env": variable "PATH" is given twice"#,
    ),
    (
        "env_value_null",
        r#"tests/bad/env_value_null.yaml:6:12: entry app:shell: field "default_env.HOME": invalid type: unit value, expected a string, a number or a boolean"#,
    ),
    (
        "unknown_kind_with_its_fields",
        r#"tests/bad/unknown_kind_with_its_fields.yaml:5:11: entry app:box: unknown kind "exec.dockr"; known kinds: exec.native"#,
    ),
    (
        "two_documents",
        "tests/bad/two_documents.yaml: the file holds more than one YAML document (`---`); a config file is one",
    ),
    (
        "bom_then_unknown_field",
        r#"tests/bad/bom_then_unknown_field.yaml:5:5: entry app:shell: unknown field "defualt_env"; did you mean "default_env"?; valid fields: name, kind, meta, default_work_dir, default_env, command_whitelist, output_encoding, env_allow, work_dir_roots, max_running"#,
    ),
    (
        "replacement_encoding",
        r#"tests/bad/replacement_encoding.yaml:5:22: entry app:legacy: field "output_encoding": encoding "iso-2022-kr" cannot be decoded: WHATWG maps it to the "replacement" encoding, which turns all output into a single U+FFFD"#,
    ),
    (
        "whitelist_null",
        r#"tests/bad/whitelist_null.yaml:5:5: entry app:git: field "command_whitelist": it is present but null (nothing is listed under it); a whitelist that is present must list at least one command; to allow every command, remove the field"#,
    ),
    (
        "whitelist_empty_list",
        r#"tests/bad/whitelist_empty_list.yaml:6:5: entry app:git: field "command_whitelist": it is an empty list; a whitelist that is present must list at least one command; to allow every command, remove the field"#,
    ),
    (
        "whitelist_tilde",
        r#"tests/bad/whitelist_tilde.yaml:4:37: entry app:git: field "command_whitelist": it is present but null (nothing is listed under it); a whitelist that is present must list at least one command; to allow every command, remove the field"#,
    ),
];

#[test]
fn bad_files_fail_with_the_exact_message_and_load_nothing() {
    let mut files: Vec<String> = std::fs::read_dir("tests/bad")
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    files.sort();
    let mut listed: Vec<String> = BAD_FILES.iter().map(|(f, _)| (*f).to_owned()).collect();
    listed.sort();
    assert_eq!(
        files, listed,
        "every file in tests/bad has its expected message"
    );

    for (file, expected) in BAD_FILES {
        // Only exec.native, whichever kind features are on: the messages
        // list the known kinds.
        let mut loader = Loader::empty();
        loader.register_kind("exec.native", exec_config::NativeKind);
        let err = loader
            .load_file(format!("tests/bad/{file}.yaml"), None)
            .unwrap_err();
        assert_eq!(err.to_string(), *expected, "{file}");
        assert_eq!(err.kind(), ErrorKind::Invalid, "{file}");
        assert!(err.location().is_some(), "{file}");
        assert!(
            loader.registry().is_empty(),
            "{file}: a failed load must leave nothing"
        );
    }
}

#[test]
fn a_present_whitelist_is_never_allow_all() {
    // Null (nothing under the key, every line commented out), `~`, `null`, `[]`,
    // a flow list with only a comment: all refused, at the key, naming the entry.
    for (value, what) in [
        ("\n      # - git status\n", "it is present but null"),
        (" ~\n", "it is present but null"),
        (" null\n", "it is present but null"),
        (" []\n", "it is an empty list"),
        (" [\n      # git status\n    ]\n", "it is an empty list"),
    ] {
        let yaml = format!(
            "- name: shell\n  kind: exec.native\n- name: git\n  kind: exec.native\n  command_whitelist:{value}- name: after\n  kind: exec.native\n"
        );
        let mut loader = Loader::new();
        let err = loader
            .load_str(&yaml, Path::new("wl.yaml"), Some("app"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "wl.yaml:5:3: entry app:git: field \"command_whitelist\": {what}{}; a whitelist that is present \
                 must list at least one command; to allow every command, remove the field",
                if what.ends_with("null") {
                    " (nothing is listed under it)"
                } else {
                    ""
                }
            ),
            "{yaml}"
        );
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert_eq!(err.field(), Some("command_whitelist"));
        let location = err.location().unwrap();
        assert_eq!(
            (location.line(), location.column(), location.entry()),
            (Some(5), Some(3), Some("app:git"))
        );
        assert!(loader.registry().is_empty());
    }

    // Absent still means no whitelist; one line is a whitelist of one.
    let registry = Registry::from_yaml(
        "- { name: all, kind: exec.native }\n- { name: one, kind: exec.native, command_whitelist: [ls] }\n",
        Path::new("ok.yaml"),
        Some("app"),
    )
    .unwrap();
    let all = registry.get("app:all").unwrap();
    all.create_process("echo anything at all".into(), ExecOptions::new())
        .unwrap();
    let one = registry.get("app:one").unwrap();
    one.create_process("ls".into(), ExecOptions::new()).unwrap();
    assert_eq!(
        one.create_process("ls -la".into(), ExecOptions::new())
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );
}

#[test]
fn encodings_that_would_lose_all_output_are_refused_at_load() {
    for label in [
        "iso-2022-kr",
        "csiso2022kr",
        "hz-gb-2312",
        "iso-2022-cn",
        "iso-2022-cn-ext",
        "replacement",
        "HZ-GB-2312",
    ] {
        let yaml = format!(
            "- {{ name: ok, kind: exec.native, output_encoding: cp949 }}\n- {{ name: lossy, kind: exec.native, output_encoding: {label} }}\n"
        );
        let mut loader = Loader::new();
        let err = loader
            .load_str(&yaml, Path::new("enc.yaml"), Some("app"))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "enc.yaml:2:54: entry app:lossy: field \"output_encoding\": encoding {label:?} cannot be decoded: \
                 WHATWG maps it to the \"replacement\" encoding, which turns all output into a single U+FFFD"
            )
        );
        assert_eq!(err.kind(), ErrorKind::Invalid);
        assert_eq!(err.field(), Some("output_encoding"));
        assert!(loader.registry().is_empty());
    }
    // x-user-defined maps each byte to a character of its own: nothing is lost.
    Registry::from_yaml(
        "- { name: x, kind: exec.native, output_encoding: x-user-defined }\n",
        Path::new("enc.yaml"),
        Some("app"),
    )
    .unwrap();
}

#[test]
fn a_utf8_bom_is_skipped_and_positions_stay_right() {
    let yaml = "namespace: app\nentries:\n  - name: shell\n    kind: exec.native\n  - name: git\n    kind: exec.native\n";
    let with_bom = format!("\u{feff}{yaml}");
    let ids = Loader::new()
        .load_str(&with_bom, Path::new("bom.yaml"), None)
        .unwrap();
    assert_eq!(ids, ["app:shell", "app:git"]);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bom.yaml");
    std::fs::write(&path, &with_bom).unwrap();
    let ids = Loader::new().load_file(&path, None).unwrap();
    assert_eq!(ids, ["app:shell", "app:git"]);

    // Errors further on, and the place of an earlier entry, are where they were.
    let mut loader = Loader::new();
    loader
        .load_str(&with_bom, Path::new("one.yaml"), None)
        .unwrap();
    let err = loader
        .load_str(
            "\u{feff}- { name: x, kind: exec.native }\n- { name: git, kind: exec.native }\n",
            Path::new("two.yaml"),
            Some("app"),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"two.yaml:2:3: entry app:git: duplicate entry id "app:git"; it is already defined at one.yaml:5:5: entry app:git"#
    );
    let bad = "namespace: app\nentries: [ {name: a, kind: exec.native, x: 1} ]\n";
    let err = Loader::new()
        .load_str(&format!("\u{feff}{bad}"), Path::new("col.yaml"), None)
        .unwrap_err();
    let without = Loader::new()
        .load_str(bad, Path::new("col.yaml"), None)
        .unwrap_err();
    assert_eq!(err.to_string(), without.to_string());
    assert_eq!(
        err.to_string(),
        r#"col.yaml:2:41: entry app:a: unknown field "x"; valid fields: name, kind, meta, default_work_dir, default_env, command_whitelist, output_encoding, env_allow, work_dir_roots, max_running"#
    );
}

#[test]
fn errors_are_structured() {
    let err = Registry::from_file("tests/bad/unknown_field.yaml", None).unwrap_err();
    let ConfigError::UnknownField {
        location,
        field,
        suggestion,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        (
            location.file(),
            location.line(),
            location.column(),
            location.entry()
        ),
        (
            "tests/bad/unknown_field.yaml",
            Some(5),
            Some(5),
            Some("app:shell")
        )
    );
    assert_eq!(field, "defualt_env");
    assert_eq!(err.field(), Some("defualt_env"));
    assert_eq!(suggestion.as_deref(), Some("default_env"));
    let core: exec_core::Error = err.into();
    assert_eq!(core.kind(), ErrorKind::Invalid);
}

#[test]
fn a_missing_file_is_not_found_and_named() {
    let err = Registry::from_file("tests/no-such-file.yaml", None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        "cannot read config file tests/no-such-file.yaml"
    );
    assert!(
        exec_core::report(&err)
            .starts_with("cannot read config file tests/no-such-file.yaml: No such file"),
        "{err}"
    );
}

#[test]
fn an_id_loaded_twice_across_files_names_both_and_keeps_the_first() {
    let mut loader = Loader::new();
    loader
        .load_str(
            "- {name: a, kind: exec.native}\n- {name: b, kind: exec.native}\n",
            Path::new("one.yaml"),
            Some("app"),
        )
        .unwrap();
    let err = loader
        .load_str("namespace: app\nentries:\n  - {name: c, kind: exec.native}\n  - {name: b, kind: exec.native}\n", Path::new("two.yaml"), None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"two.yaml:4:5: entry app:b: duplicate entry id "app:b"; it is already defined at one.yaml:2:3: entry app:b"#
    );
    assert_eq!(
        loader.registry().ids().collect::<Vec<_>>(),
        ["app:a", "app:b"]
    );
}

#[derive(Debug, Default)]
struct Gatekeeper {
    commands: Mutex<Vec<String>>,
}

impl Policy for Gatekeeper {
    fn check_acquire(&self, executor_id: &str) -> Result<(), PolicyDenial> {
        if executor_id == "app:restricted" {
            return Err(PolicyDenial::new("not for this tenant"));
        }
        Ok(())
    }
    fn check_command(&self, request: &CommandRequest<'_>) -> Result<(), PolicyDenial> {
        self.commands.lock().unwrap().push(format!(
            "{} {:?}",
            request.executor_id(),
            request.argv()
        ));
        Ok(())
    }
}

#[test]
fn the_policy_is_asked_on_acquire_and_on_every_command() {
    let gatekeeper = Arc::new(Gatekeeper::default());
    let mut loader = Loader::new().with_policy(gatekeeper.clone());
    loader.load_file("tests/good/executors.yaml", None).unwrap();
    let registry = loader.into_registry();
    let err = registry.get("app:restricted").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert_eq!(
        err.to_string(),
        "policy refused to acquire the executor on executor app:restricted: not for this tenant"
    );
    let shell = registry.get("app:shell").unwrap();
    shell
        .create_process("echo 'a b'".into(), ExecOptions::new())
        .unwrap();
    assert_eq!(
        *gatekeeper.commands.lock().unwrap(),
        ["app:shell [\"echo\", \"a b\"]"]
    );
}

/// The obvious way to add a policy — to the registry a file made — governs
/// the commands of its executors too, not only their acquisition; and so
/// does a policy set on a clone, or replaced later.
#[test]
fn a_policy_set_on_the_registry_after_loading_governs_every_command() {
    let gatekeeper = Arc::new(Gatekeeper::default());
    let registry = Registry::from_file("tests/good/executors.yaml", None)
        .unwrap()
        .with_policy(gatekeeper.clone());
    assert_eq!(
        registry.get("app:restricted").unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    let shell = registry.get("app:shell").unwrap();
    shell
        .create_process("echo hi".into(), ExecOptions::new())
        .unwrap();
    assert_eq!(
        *gatekeeper.commands.lock().unwrap(),
        ["app:shell [\"echo\", \"hi\"]"]
    );
    #[derive(Debug)]
    struct Nothing;
    impl Policy for Nothing {
        fn check_command(&self, _: &CommandRequest<'_>) -> Result<(), PolicyDenial> {
            Err(PolicyDenial::new("nothing runs today"))
        }
    }
    let mut clone = registry.clone();
    clone.set_policy(Arc::new(Nothing));
    let err = shell
        .create_process("echo hi".into(), ExecOptions::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("nothing runs today"), "{err}");
}

#[test]
fn unknown_ids_suggest_the_nearest() {
    let registry = Registry::from_file("tests/good/executors.yaml", None).unwrap();
    let err = registry.get("app:legacyy").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let Error::ExecutorNotFound { id, suggestion } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (id.as_str(), suggestion.as_deref()),
        ("app:legacyy", Some("app:legacy"))
    );
    assert_eq!(
        err.to_string(),
        "no executor with id \"app:legacyy\"; did you mean \"app:legacy\"?"
    );
    let err = registry.get("zzz").unwrap_err();
    assert_eq!(err.to_string(), "no executor with id \"zzz\"");
}

#[test]
fn executors_built_in_code_can_be_added_once() {
    let mut registry = Registry::new();
    let native = || {
        Arc::new(exec_native::NativeExecutor::new(ExecutorSettings::new(
            "code:one",
        )))
    };
    registry.insert("code:one", native()).unwrap();
    let err = registry.insert("code:one", native()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert_eq!(
        err.to_string(),
        "invalid executor id: \"code:one\" is already registered"
    );
    assert!(registry.contains("code:one"));
    // Under another name (an alias) it is fine; an empty id is not.
    registry.insert("code:alias", native()).unwrap();
    assert_eq!(
        registry.insert("", native()).unwrap_err().kind(),
        ErrorKind::Invalid
    );
    assert_eq!(
        registry.ids().collect::<Vec<_>>(),
        ["code:alias", "code:one"]
    );
    assert_eq!(registry.get("code:alias").unwrap().id(), "code:one");
}

proptest::proptest! {
    /// Whatever the text, loading returns (an error or executors) and never panics.
    #[test]
    fn arbitrary_text_never_panics(text in "[-a-z0-9_:{}\\[\\], '\"\n\t#.|>&*!~<=@%]{0,120}") {
        let mut loader = Loader::new();
        let _ = loader.load_str(&text, Path::new("fuzz.yaml"), Some("ns"));
    }

    /// Entry-shaped text with random fields and values never panics either.
    #[test]
    fn entry_shaped_text_never_panics(
        entries in proptest::collection::vec(
            proptest::collection::vec(
                (
                    "(name|kind|default_env|default_work_dir|command_whitelist|output_encoding|meta|<<|x)",
                    "(exec.native|[a-z]{0,3}|\\[a, b\\]|\\{A: 1\\}|\\{A=B: x\\}|'x y|&a x|\\*a|!t x|~|1|cp949|)",
                ),
                0..6,
            ),
            0..4,
        ),
        namespace in "(namespace: ns\nentries:\n|namespace: \\[\\]\nentries:\n|)",
    ) {
        let mut text = namespace;
        for entry in &entries {
            let mut first = true;
            for (key, value) in entry {
                text.push_str(if first { "- " } else { "  " });
                first = false;
                text.push_str(&format!("{key}: {value}\n"));
            }
        }
        let mut loader = Loader::new();
        match loader.load_str(&text, Path::new("fuzz.yaml"), Some("ns")) {
            // All or nothing.
            Ok(ids) => proptest::prop_assert_eq!(ids.len(), loader.registry().len()),
            Err(err) => {
                proptest::prop_assert!(loader.registry().is_empty());
                proptest::prop_assert_eq!(err.kind(), ErrorKind::Invalid);
                proptest::prop_assert!(err.to_string().starts_with("fuzz.yaml"), "{}", err);
            }
        }
    }
}

#[test]
fn the_readmes_example_file_loads() {
    let registry = Registry::from_file("../examples/executors.yaml", None).unwrap();
    assert_eq!(
        registry.ids().collect::<Vec<_>>(),
        ["app:git", "app:legacy", "app:shell"]
    );
}

#[test]
fn the_readme_shows_the_example_file_as_it_is() {
    let file = std::fs::read_to_string("../examples/executors.yaml").unwrap();
    let readme = std::fs::read_to_string("../README.md").unwrap();
    let body: String = file
        .lines()
        .skip_while(|line| line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect();
    assert!(
        readme.contains(&format!("```yaml\n{body}```")),
        "README's config block differs from examples/executors.yaml"
    );
}
