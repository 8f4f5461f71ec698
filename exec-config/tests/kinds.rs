//! Kinds of one's own: a tiny executor that runs nothing plugs into the loader
//! without any change to this crate, gets the settings the loader made of the
//! common fields, and has its own fields checked with positions. Nothing here
//! needs feature `native` or starts a process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_config::{ConfigError, ExecutorKind, Loader};
use exec_core::backend::PreparedCommand;
use exec_core::policy::{Policy, PolicyDenial};
use exec_core::{CommandSpec, Error, ErrorKind, ExecOptions, Executor, ExecutorSettings, Process};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A list shared between a test and the kind or executors it made.
type Shared<T> = Arc<Mutex<Vec<T>>>;

/// An executor that prepares commands (split, whitelist, environment, policy)
/// and records them, but never makes a process.
#[derive(Debug)]
struct DryRun {
    settings: ExecutorSettings,
    label: String,
    prepared: Shared<PreparedCommand>,
}

impl Executor for DryRun {
    fn id(&self) -> &str {
        self.settings.id()
    }

    fn create_process(
        &self,
        command: CommandSpec,
        options: ExecOptions,
    ) -> exec_core::Result<Box<dyn Process>> {
        let command = self.settings.prepare(command, options)?;
        self.prepared.lock().unwrap().push(command);
        Err(Error::Other {
            kind: ErrorKind::Unavailable,
            message: format!("{} runs nothing", self.label),
            source: None,
        })
    }
}

/// Kind `test.dry`: `label` is required, `repeat` optional.
#[derive(Default)]
struct DryKind {
    /// The settings of every executor built, in build order.
    built: Shared<ExecutorSettings>,
    prepared: Shared<PreparedCommand>,
}

#[derive(serde::Deserialize)]
struct DrySpec {
    label: String,
    #[serde(default)]
    repeat: u32,
}

impl ExecutorKind for DryKind {
    type Spec = DrySpec;

    fn build(
        &self,
        settings: ExecutorSettings,
        spec: DrySpec,
    ) -> exec_core::Result<Arc<dyn Executor>> {
        if spec.label.is_empty() {
            return Err(Error::InvalidArgument {
                field: "label".into(),
                reason: "it is empty".into(),
            });
        }
        self.built.lock().unwrap().push(settings.clone());
        Ok(Arc::new(DryRun {
            settings,
            label: spec.label.repeat(spec.repeat.max(1) as usize),
            prepared: self.prepared.clone(),
        }))
    }
}

/// Kind `test.plain`: no fields of its own (`()` as its spec).
struct PlainKind;

impl ExecutorKind for PlainKind {
    type Spec = ();

    fn build(&self, settings: ExecutorSettings, (): ()) -> exec_core::Result<Arc<dyn Executor>> {
        Ok(Arc::new(DryRun {
            settings,
            label: "plain".into(),
            prepared: Arc::default(),
        }))
    }
}

fn dry_loader() -> (Loader, Shared<ExecutorSettings>, Shared<PreparedCommand>) {
    let kind = DryKind::default();
    let (built, prepared) = (kind.built.clone(), kind.prepared.clone());
    let mut loader = Loader::empty();
    loader.register_kind("test.dry", kind);
    loader.register_kind("test.plain", PlainKind);
    (loader, built, prepared)
}

#[test]
fn a_kind_of_ones_own_plugs_in_and_gets_its_fields() {
    let (mut loader, _, prepared) = dry_loader();
    assert_eq!(
        loader.kinds().collect::<Vec<_>>(),
        ["test.dry", "test.plain"]
    );
    // `kind:` after the kind's own fields, and after common ones.
    let yaml = "namespace: t\nentries:\n  - name: hi\n    repeat: 2\n    default_env: { PATH: /usr/bin:/bin }\n    command_whitelist: [echo hi]\n    kind: test.dry\n    label: ho\n  - { name: plain, kind: test.plain }\n";
    let ids = loader.load_str(yaml, Path::new("dry.yaml"), None).unwrap();
    assert_eq!(ids, ["t:hi", "t:plain"]);

    let hi = loader.registry().get("t:hi").unwrap();
    assert_eq!(hi.id(), "t:hi");
    let err = hi
        .create_process("echo 'hi'".into(), ExecOptions::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(err.to_string(), "hoho runs nothing");
    let err = hi
        .create_process("echo bye".into(), ExecOptions::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);

    let prepared = prepared.lock().unwrap();
    assert_eq!(prepared.len(), 1, "only the allowed command was prepared");
    assert_eq!(prepared[0].argv(), ["echo", "hi"]);
    assert_eq!(prepared[0].env().get("PATH").unwrap(), "/usr/bin:/bin");
}

#[test]
fn the_common_fields_become_the_settings() {
    let (mut loader, built, _) = dry_loader();
    let yaml = r#"
version: "1.0"
namespace: app
meta: { owner: ops, tags: [a, b] }
entries:
  - name: shell
    kind: test.dry
    label: x
    meta: { comment: "anything goes here", n: [1, 2] }
    default_work_dir: /srv
    default_env: { PATH: /usr/bin:/bin, LANG: C.UTF-8, PORT: 8080, DEBUG: true, RATIO: 0.5, EMPTY: "" }
    command_whitelist: [ "git status", "ls -la", "printf '%s\n' 'a b'" ]
    output_encoding: cp949
  - name: bare
    kind: test.dry
    label: y
"#;
    loader.load_str(yaml, Path::new("app.yaml"), None).unwrap();
    let built = built.lock().unwrap();
    let [shell, bare] = &built[..] else {
        panic!("{built:?}")
    };

    assert_eq!(shell.id(), "app:shell");
    assert_eq!(shell.default_work_dir(), Some(std::path::Path::new("/srv")));
    let env: Vec<(&str, &str)> = shell
        .default_env()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("DEBUG", "true"),
            ("EMPTY", ""),
            ("LANG", "C.UTF-8"),
            ("PATH", "/usr/bin:/bin"),
            ("PORT", "8080"),
            ("RATIO", "0.5"),
        ]
    );
    let whitelist = shell.whitelist();
    assert_eq!(whitelist.len(), 3);
    assert!(whitelist.allows_command("git  'status'").unwrap());
    assert!(whitelist.allows_command("printf '%s\n' \"a b\"").unwrap());
    assert!(!whitelist.allows_command("git push").unwrap());
    assert_eq!(
        shell.output_encoding().map(|e| e.name()),
        Some("EUC-KR"),
        "cp949 is decoded as windows-949 (EUC-KR in the Encoding Standard)"
    );
    // The registry's policy, as a slot it fills when a policy is set.
    assert!(shell.policy().is_some());

    assert_eq!(bare.id(), "app:bare");
    assert_eq!(bare.default_work_dir(), None);
    assert!(bare.default_env().is_empty());
    assert!(bare.whitelist().is_empty());
    assert!(bare.output_encoding().is_none());
}

#[derive(Debug)]
struct Nobody;

impl Policy for Nobody {
    fn check_acquire(&self, _: &str) -> Result<(), PolicyDenial> {
        Err(PolicyDenial::new("nobody gets anything"))
    }
    fn check_command(&self, _: &exec_core::policy::CommandRequest<'_>) -> Result<(), PolicyDenial> {
        Err(PolicyDenial::new("no commands"))
    }
}

#[test]
fn the_loaders_policy_reaches_the_settings_and_the_registry() {
    let kind = DryKind::default();
    let built = kind.built.clone();
    let mut loader = Loader::empty().with_policy(Arc::new(Nobody));
    loader.register_kind("test.dry", kind);
    loader
        .load_str(
            "- { name: a, kind: test.dry, label: x }",
            Path::new("p.yaml"),
            Some("ns"),
        )
        .unwrap();
    let settings = built.lock().unwrap()[0].clone();
    assert!(settings.policy().is_some());
    let err = settings
        .prepare("true".into(), ExecOptions::new())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);

    let registry = loader.into_registry();
    let err = registry.get("ns:a").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(matches!(err, Error::PolicyDenied { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "policy refused to acquire the executor on executor ns:a: nobody gets anything"
    );
}

#[test]
fn a_kinds_own_fields_are_checked_with_positions() {
    let common = "name, kind, meta, default_work_dir, default_env, command_whitelist, output_encoding, env_allow, work_dir_roots, max_running";
    let cases = [
        (
            "namespace: t\nentries:\n  - name: hi\n    kind: test.dry\n    lable: x\n",
            format!(
                r#"k.yaml:5:5: entry t:hi: unknown field "lable"; did you mean "label"?; valid fields: {common}, label, repeat"#
            ),
        ),
        (
            // The kind's fields are known before `kind:` is reached.
            "namespace: t\nentries:\n  - name: hi\n    lable: x\n    kind: test.dry\n",
            format!(
                r#"k.yaml:4:5: entry t:hi: unknown field "lable"; did you mean "label"?; valid fields: {common}, label, repeat"#
            ),
        ),
        (
            "namespace: t\nentries:\n  - name: hi\n    kind: test.dry\n    label: x\n    repeat: many\n",
            r#"k.yaml:6:13: entry t:hi: field "repeat": invalid type: string "many", expected u32"#.to_owned(),
        ),
        (
            "namespace: t\nentries:\n  - name: hi\n    kind: test.dry\n    label: [x]\n",
            r#"k.yaml:5:12: entry t:hi: field "label": invalid type: sequence, expected a string"#.to_owned(),
        ),
        (
            "namespace: t\nentries:\n  - name: ok\n    kind: test.dry\n    label: x\n  - name: hi\n    kind: test.dry\n",
            r#"k.yaml:6:5: entry t:hi: missing field "label""#.to_owned(),
        ),
        (
            "namespace: t\nentries:\n  - name: ok\n    kind: test.plain\n  - name: hi\n    kind: test.dry\n    label: ''\n",
            "k.yaml:5:5: entry t:hi: invalid label: it is empty".to_owned(),
        ),
        (
            // A field of another kind is unknown here; `()` takes no fields.
            "namespace: t\nentries:\n  - name: n\n    kind: test.plain\n    label: x\n",
            format!(r#"k.yaml:5:5: entry t:n: unknown field "label"; valid fields: {common}"#),
        ),
        (
            // For a kind the loader does not know, that is the error, not its fields.
            "namespace: t\nentries:\n  - name: n\n    image: alpine\n    kind: exec.docker\n",
            r#"k.yaml:5:11: entry t:n: unknown kind "exec.docker"; known kinds: test.dry, test.plain"#
                .to_owned(),
        ),
        (
            "namespace: t\nentries:\n  - name: n\n    kind: test.dyr\n",
            r#"k.yaml:4:11: entry t:n: unknown kind "test.dyr"; did you mean "test.dry"?; known kinds: test.dry, test.plain"#
                .to_owned(),
        ),
    ];
    for (yaml, expected) in cases {
        let (mut loader, built, _) = dry_loader();
        let err = loader
            .load_str(yaml, Path::new("k.yaml"), None)
            .unwrap_err();
        assert_eq!(exec_core::report(&err), expected, "{yaml}");
        assert!(loader.registry().is_empty(), "{yaml}");
        assert!(err.location().is_some());
        if !matches!(err, ConfigError::Build { .. }) {
            // Kinds are asked to build only once the whole file checked out.
            assert!(built.lock().unwrap().is_empty(), "{yaml}");
        }
    }
}

#[test]
fn a_kinds_refusal_keeps_its_error_kind_and_source() {
    let (mut loader, _, _) = dry_loader();
    let err = loader
        .load_str(
            "- { name: a, kind: test.dry, label: '' }",
            Path::new("r.yaml"),
            Some("ns"),
        )
        .unwrap_err();
    assert_eq!(err.to_string(), "r.yaml:1:3: entry ns:a");
    assert_eq!(
        exec_core::report(&err),
        "r.yaml:1:3: entry ns:a: invalid label: it is empty"
    );
    assert_eq!(err.kind(), ErrorKind::Invalid);
    let core: Error = err.into();
    assert_eq!(
        exec_core::report(&core),
        "r.yaml:1:3: entry ns:a: invalid label: it is empty"
    );
    let source = std::error::Error::source(&core).unwrap();
    assert_eq!(source.to_string(), "invalid label: it is empty");
}

#[test]
fn an_empty_loader_knows_no_kind() {
    let mut loader = Loader::empty();
    let err = loader
        .load_str(
            "- { name: a, kind: exec.native }",
            Path::new("e.yaml"),
            Some("ns"),
        )
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"e.yaml:1:20: entry ns:a: unknown kind "exec.native"; no kind is registered"#
    );
}
