//! Loading config files: good ones, bad ones with their exact messages, kinds
//! of one's own, policies.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_config::{ConfigError, ExecutorKind, Loader, Registry};
use exec_core::policy::{CommandRequest, Policy, PolicyDenial};
use exec_core::{ErrorKind, ExecOptions, Executor, ExecutorSettings};
use std::sync::{Arc, Mutex};

async fn output_of(executor: &dyn Executor, line: &str) -> String {
    let output = executor
        .create_process(line, ExecOptions::new())
        .unwrap()
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    output.stdout_lossy()
}

#[tokio::test]
async fn a_full_file_loads_and_its_executors_work() {
    let registry = Registry::from_file("tests/good/executors.yaml", None).unwrap();
    assert_eq!(
        registry.ids().collect::<Vec<_>>(),
        ["app:legacy", "app:restricted", "app:shell"]
    );

    let shell = registry.get("app:shell").unwrap();
    assert_eq!(shell.id(), "app:shell");
    let env = output_of(shell.as_ref(), "env").await;
    assert_eq!(
        env,
        "DEBUG=true\nLANG=C.UTF-8\nPATH=/usr/local/bin:/usr/bin:/bin\nPORT=8080\n"
    );

    let restricted = registry.get("app:restricted").unwrap();
    assert_eq!(output_of(restricted.as_ref(), "pwd").await, "/tmp\n");
    assert_eq!(
        output_of(restricted.as_ref(), r#"printf "%s\n" "a b""#).await,
        "a b\n"
    );
    let err = restricted
        .create_process("echo bye", ExecOptions::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("app:restricted"), "{err}");

    let legacy = registry.get("app:legacy").unwrap();
    assert_eq!(
        output_of(legacy.as_ref(), r"printf '\307\321\261\333'").await,
        "한글"
    );
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
        r#"tests/bad/unknown_field.yaml:5:5: entry app:shell: unknown field "defualt_env"; did you mean "default_env"?; valid fields: name, kind, meta, default_work_dir, default_env, command_whitelist, output_encoding"#,
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
        r#"tests/bad/field_given_twice.yaml:3:5: duplicate entry with key "kind""#,
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
        let mut loader = Loader::new();
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
    assert_eq!(suggestion.as_deref(), Some("default_env"));
    let core: exec_core::Error = err.into();
    assert_eq!(core.kind(), ErrorKind::Invalid);
}

#[test]
fn a_missing_file_is_not_found_and_named() {
    let err = Registry::from_file("tests/no-such-file.yaml", None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(
        err.to_string()
            .starts_with("cannot read config file tests/no-such-file.yaml: "),
        "{err}"
    );
}

#[test]
fn an_id_loaded_twice_across_files_names_both_and_keeps_the_first() {
    let mut loader = Loader::new();
    loader
        .load_str(
            "- {name: a, kind: exec.native}\n- {name: b, kind: exec.native}\n",
            "one.yaml",
            Some("app"),
        )
        .unwrap();
    let err = loader
        .load_str("namespace: app\nentries:\n  - {name: c, kind: exec.native}\n  - {name: b, kind: exec.native}\n", "two.yaml", None)
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

/// A kind of the test's own: `greeting` is required, `times` optional.
struct GreeterKind;

#[derive(serde::Deserialize)]
struct GreeterSpec {
    greeting: String,
    #[serde(default)]
    times: u32,
}

impl ExecutorKind for GreeterKind {
    type Spec = GreeterSpec;
    fn build(
        &self,
        settings: ExecutorSettings,
        spec: GreeterSpec,
    ) -> exec_core::Result<Arc<dyn Executor>> {
        if spec.greeting.is_empty() {
            return Err(exec_core::Error::InvalidArgument {
                field: "greeting".into(),
                reason: "it is empty".into(),
            });
        }
        let settings =
            settings.default_env_var("GREETING", spec.greeting.repeat(spec.times.max(1) as usize));
        Ok(Arc::new(exec_native::NativeExecutor::new(settings)))
    }
}

fn greeter_loader() -> Loader {
    let mut loader = Loader::new();
    loader.register_kind("test.greeter", GreeterKind);
    loader
}

#[tokio::test]
async fn a_kind_of_ones_own_plugs_in() {
    let mut loader = greeter_loader();
    assert_eq!(
        loader.kinds().collect::<Vec<_>>(),
        ["exec.native", "test.greeter"]
    );
    let yaml = "namespace: t\nentries:\n  - name: hi\n    times: 2\n    default_env: { PATH: /usr/bin:/bin }\n    kind: test.greeter\n    greeting: ho\n";
    loader.load_str(yaml, "greeter.yaml", None).unwrap();
    let hi = loader.registry().get("t:hi").unwrap();
    assert_eq!(output_of(hi.as_ref(), "printenv GREETING").await, "hoho\n");
}

#[test]
fn a_kinds_own_fields_are_checked_with_positions() {
    let cases = [
        (
            "namespace: t\nentries:\n  - name: hi\n    kind: test.greeter\n    greting: x\n",
            r#"k.yaml:5:5: entry t:hi: unknown field "greting"; did you mean "greeting"?; valid fields: name, kind, meta, default_work_dir, default_env, command_whitelist, output_encoding, greeting, times"#,
        ),
        (
            "namespace: t\nentries:\n  - name: hi\n    kind: test.greeter\n    greeting: x\n    times: many\n",
            r#"k.yaml:6:12: entry t:hi: field "times": invalid type: string "many", expected u32"#,
        ),
        (
            "namespace: t\nentries:\n  - name: ok\n    kind: test.greeter\n    greeting: x\n  - name: hi\n    kind: test.greeter\n",
            r#"k.yaml:6:5: entry t:hi: missing field "greeting""#,
        ),
        (
            "namespace: t\nentries:\n  - name: ok\n    kind: exec.native\n  - name: hi\n    kind: test.greeter\n    greeting: ''\n",
            "k.yaml:5:5: entry t:hi: invalid greeting: it is empty",
        ),
        (
            // A field of another kind is unknown here.
            "namespace: t\nentries:\n  - name: n\n    kind: exec.native\n    greeting: x\n",
            r#"k.yaml:5:5: entry t:n: unknown field "greeting"; valid fields: name, kind, meta, default_work_dir, default_env, command_whitelist, output_encoding"#,
        ),
    ];
    for (yaml, expected) in cases {
        let mut loader = greeter_loader();
        let err = loader.load_str(yaml, "k.yaml", None).unwrap_err();
        assert_eq!(err.to_string(), expected);
        assert!(loader.registry().is_empty());
    }
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
        .create_process("echo 'a b'", ExecOptions::new())
        .unwrap();
    assert_eq!(
        *gatekeeper.commands.lock().unwrap(),
        ["app:shell [\"echo\", \"a b\"]"]
    );
}

#[test]
fn unknown_ids_suggest_the_nearest() {
    let registry = Registry::from_file("tests/good/executors.yaml", None).unwrap();
    let err = registry.get("app:legacyy").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
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
    registry.insert(native()).unwrap();
    let err = registry.insert(native()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(registry.contains("code:one"));
}

proptest::proptest! {
    /// Whatever the text, loading returns (an error or executors) and never panics.
    #[test]
    fn arbitrary_text_never_panics(text in "[-a-z:{}\\[\\], '\"\n#.|>]{0,80}") {
        let mut loader = Loader::new();
        let _ = loader.load_str(&text, "fuzz.yaml", Some("ns"));
    }

    /// Entry-shaped text with random fields and values never panics either.
    #[test]
    fn entry_shaped_text_never_panics(
        keys in proptest::collection::vec("(name|kind|default_env|command_whitelist|output_encoding|meta|x)", 0..5),
        values in proptest::collection::vec("(exec.native|[a-z]{0,3}|\\[a, b\\]|\\{A: 1\\}|'x y|)", 0..5),
    ) {
        let mut text = String::from("- ");
        for (k, v) in keys.iter().zip(values.iter()) {
            text.push_str(&format!("{k}: {v}\n  "));
        }
        let mut loader = Loader::new();
        let _ = loader.load_str(&text, "fuzz.yaml", Some("ns"));
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
