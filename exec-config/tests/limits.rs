//! The limits on a config: its size and its nesting are checked before it is
//! parsed, fast, with errors that say where and what the limit is.

#![cfg(feature = "native")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_config::{
    ConfigError, DEFAULT_MAX_CONFIG_BYTES, DEFAULT_MAX_CONFIG_DEPTH, Loader, Registry,
};
use exec_core::ErrorKind;
use std::path::Path;
use std::time::{Duration, Instant};

/// Far above what the checks take (milliseconds), far below what parsing the
/// deep files took before them (a minute and more); not a benchmark.
const GENEROUS: Duration = Duration::from_secs(20);

/// A config whose `meta` is `nested`, then one entry.
fn config_with_meta(nested: &str) -> String {
    format!("namespace: app\nmeta: {nested}\nentries:\n  - {{ name: shell, kind: exec.native }}\n")
}

fn timed<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let value = f();
    let took = start.elapsed();
    eprintln!("{what}: {took:?}");
    assert!(took < GENEROUS, "{what} took {took:?}");
    value
}

#[test]
fn deep_nesting_is_refused_before_parsing_and_fast() {
    const LEVELS: usize = 100_000;
    let limit = DEFAULT_MAX_CONFIG_DEPTH;
    // (what, text, line and column where the limit is passed)
    let cases = [
        (
            "100,000 levels of [",
            config_with_meta(&format!("{}{}", "[".repeat(LEVELS), "]".repeat(LEVELS))),
            // The file's map is level 1; the 32nd `[` is level 33.
            (2, 6 + limit),
        ),
        (
            "100,000 levels of {a: {a: ...",
            config_with_meta(&format!("{}1{}", "{a: ".repeat(LEVELS), "}".repeat(LEVELS))),
            (2, 7 + 4 * (limit - 1)),
        ),
        (
            "100,000 levels of a: {a: {a: ... at the top",
            format!("a: {}1{}\n", "{a: ".repeat(LEVELS), "}".repeat(LEVELS)),
            (1, 4 + 4 * (limit - 1)),
        ),
        (
            "100,000 levels of - - - -",
            format!(
                "namespace: app\nmeta:\n  {}x\nentries: []\n",
                "- ".repeat(LEVELS)
            ),
            (3, 3 + 2 * (limit - 1)),
        ),
        (
            "100,000 levels of ? ? ? ? (block maps on one line)",
            format!(
                "namespace: app\nmeta:\n  {}x\nentries: []\n",
                "? ".repeat(LEVELS)
            ),
            (3, 3 + 2 * (limit - 1)),
        ),
    ];
    for (what, text, (line, column)) in &cases {
        assert!(text.len() < DEFAULT_MAX_CONFIG_BYTES, "{what}");
        let mut loader = Loader::new();
        let err = timed(what, || {
            loader
                .load_str(text, Path::new("deep.yaml"), None)
                .unwrap_err()
        });
        assert_eq!(
            err.to_string(),
            format!(
                "deep.yaml:{line}:{column}: the config nests lists and maps more than 32 levels deep; it was not parsed"
            ),
            "{what}"
        );
        assert_eq!(err.kind(), ErrorKind::Invalid);
        let ConfigError::TooDeep { location, limit } = &err else {
            panic!("{what}: {err:?}")
        };
        assert_eq!(*limit, DEFAULT_MAX_CONFIG_DEPTH);
        assert_eq!(
            (location.line(), location.column()),
            (Some(*line), Some(*column))
        );
        assert!(loader.registry().is_empty());
    }

    // Block maps by indentation: 100,000 levels would take 5 GB of blanks; as
    // deep as fits under the size limit (about 2,900 levels, 4 MiB), as a file.
    let mut text = String::from("namespace: app\nentries: []\nmeta:\n");
    let mut levels = 0;
    loop {
        let line = format!("{}a:\n", " ".repeat(levels + 1));
        if text.len() + line.len() > DEFAULT_MAX_CONFIG_BYTES {
            break;
        }
        text.push_str(&line);
        levels += 1;
    }
    assert!(levels > 2_800, "{levels}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deep.yaml");
    std::fs::write(&path, &text).unwrap();
    let what = format!(
        "{levels} levels of block maps ({} bytes), from a file",
        text.len()
    );
    let err = timed(&what, || Loader::new().load_file(&path, None).unwrap_err());
    // The file's map is level 1, the map under `meta:` (line 4) level 2; the
    // key on line 3 + 32, indented 32 blanks, is level 33.
    assert_eq!(
        err.to_string(),
        format!(
            "{}:{}:{}: the config nests lists and maps more than 32 levels deep; it was not parsed",
            path.display(),
            3 + limit,
            limit + 1
        )
    );
}

#[test]
fn the_depth_limit_is_exact_and_ordinary_configs_are_far_below_it() {
    // The file's map is level 1, so `meta` may hold 31 more.
    let nested = |levels: usize| format!("{}{}", "[".repeat(levels), "]".repeat(levels));
    Loader::new()
        .load_str(&config_with_meta(&nested(31)), Path::new("ok.yaml"), None)
        .unwrap();
    let err = Loader::new()
        .load_str(&config_with_meta(&nested(32)), Path::new("deep.yaml"), None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "deep.yaml:2:38: the config nests lists and maps more than 32 levels deep; it was not parsed"
    );
    // The same in block style: level 1 is the file's map, `meta:`'s value is
    // level 2, each `- ` one more.
    let block = |levels: usize| {
        format!(
            "namespace: app\nmeta:\n  {}x\nentries: []\n",
            "- ".repeat(levels)
        )
    };
    Loader::new()
        .load_str(&block(31), Path::new("ok.yaml"), None)
        .unwrap();
    assert!(matches!(
        Loader::new().load_str(&block(32), Path::new("deep.yaml"), None),
        Err(ConfigError::TooDeep { .. })
    ));

    // The limit can be set; a config's own structure takes five levels.
    let yaml = "namespace: app\nentries:\n  - name: shell\n    kind: exec.native\n    default_env: { PATH: /usr/bin }\n";
    Loader::new()
        .with_max_config_depth(4)
        .load_str(yaml, Path::new("ok.yaml"), None)
        .unwrap();
    let err = Loader::new()
        .with_max_config_depth(3)
        .load_str(yaml, Path::new("tight.yaml"), None)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "tight.yaml:5:18: the config nests lists and maps more than 3 levels deep; it was not parsed"
    );
    let loader = Loader::new().with_max_config_depth(100);
    assert_eq!(loader.max_config_depth(), 100);
    assert_eq!(Loader::new().max_config_depth(), 32);

    // What the tests and the README load: all fine.
    for file in ["tests/good/executors.yaml", "../examples/executors.yaml"] {
        Registry::from_file(file, None).unwrap();
    }
    Registry::from_file("tests/good/bare_list.yaml", Some("tools")).unwrap();

    // Brackets, dashes, comment marks and colons in text are not nesting.
    let text = format!(
        "namespace: app # {{{{[[[[\n\
         entries:\n  \
           - name: shell\n    \
             kind: exec.native\n    \
             meta:\n      \
               note: |\n        \
                 {deep}\n        \
                 - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - -\n      \
               plain: echo {deep} it's\n      \
               quoted: '{deep} ''#'' [[['\n      \
               double: \"{deep} \\\" [[[\"\n    \
             command_whitelist: [\"echo '[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[['\", 'printf \"{{{{\"'] # [[[[\n",
        deep = "[".repeat(40)
    );
    let ids = Loader::new()
        .load_str(&text, Path::new("text.yaml"), None)
        .unwrap();
    assert_eq!(ids, ["app:shell"]);
}

#[test]
fn a_config_over_the_size_limit_is_refused_before_parsing() {
    assert_eq!(DEFAULT_MAX_CONFIG_BYTES, 4 * 1024 * 1024);
    assert_eq!(Loader::new().max_config_bytes(), DEFAULT_MAX_CONFIG_BYTES);
    // Exactly at the limit: loads (padded with a comment).
    let head = "namespace: app\nentries:\n  - { name: shell, kind: exec.native }\n# ";
    let at_limit = format!(
        "{head}{}\n",
        "x".repeat(DEFAULT_MAX_CONFIG_BYTES - head.len() - 1)
    );
    assert_eq!(at_limit.len(), DEFAULT_MAX_CONFIG_BYTES);
    Loader::new()
        .load_str(&at_limit, Path::new("max.yaml"), None)
        .unwrap();
    // One byte over: refused, naming the size and the limit.
    let over = format!("{at_limit} ");
    let mut loader = Loader::new();
    let err = timed("4 MiB + 1 byte, as text", || {
        loader
            .load_str(&over, Path::new("over.yaml"), None)
            .unwrap_err()
    });
    assert_eq!(
        err.to_string(),
        "over.yaml: the config is 4194305 bytes, more than the limit of 4194304 bytes; it was not parsed"
    );
    assert_eq!(err.kind(), ErrorKind::Invalid);
    let ConfigError::TooLarge {
        location,
        size,
        limit,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(
        (location.file(), location.line(), *size, *limit),
        ("over.yaml", None, Some(4_194_305), 4_194_304)
    );
    assert!(loader.registry().is_empty());

    // The embedder sets the limit.
    let small = "- { name: shell, kind: exec.native }\n";
    Loader::new()
        .with_max_config_bytes(small.len())
        .load_str(small, Path::new("small.yaml"), Some("app"))
        .unwrap();
    let err = Loader::new()
        .with_max_config_bytes(small.len() - 1)
        .load_str(small, Path::new("small.yaml"), Some("app"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "small.yaml: the config is 37 bytes, more than the limit of 36 bytes; it was not parsed"
    );
}

#[test]
fn a_file_over_the_size_limit_is_not_read() {
    let dir = tempfile::tempdir().unwrap();

    // 50 MB, refused from its size, unread (a sparse file: nothing to read).
    let path = dir.path().join("big.yaml");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(50 * 1000 * 1000).unwrap();
    drop(file);
    let err = timed("a 50 MB file", || {
        Loader::new().load_file(&path, None).unwrap_err()
    });
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the config is 50000000 bytes, more than the limit of 4194304 bytes; it was not parsed",
            path.display()
        )
    );
    assert!(matches!(
        err,
        ConfigError::TooLarge {
            size: Some(50_000_000),
            ..
        }
    ));

    // A file just over a small limit, and one at it.
    let path = dir.path().join("small.yaml");
    std::fs::write(&path, "- { name: shell, kind: exec.native }\n").unwrap();
    let err = Loader::new()
        .with_max_config_bytes(10)
        .load_file(&path, Some("app"))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the config is 37 bytes, more than the limit of 10 bytes; it was not parsed",
            path.display()
        )
    );
    Loader::new()
        .with_max_config_bytes(37)
        .load_file(&path, Some("app"))
        .unwrap();

    // Not UTF-8: a read error, as before.
    let path = dir.path().join("latin1.yaml");
    std::fs::write(&path, b"- { name: caf\xe9, kind: exec.native }\n").unwrap();
    let err = Loader::new().load_file(&path, Some("app")).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Io);
}

/// A file with no size of its own (a device, a pipe) is read one byte past the
/// limit and no further: /dev/zero, which never ends, is refused at once.
#[cfg(unix)]
#[test]
fn dev_zero_is_refused_after_the_limit() {
    let zero = std::path::Path::new("/dev/zero");
    if !zero.exists() {
        return;
    }
    let err = timed("/dev/zero", || {
        Loader::new().load_file(zero, None).unwrap_err()
    });
    assert_eq!(
        err.to_string(),
        "/dev/zero: the config is more than the limit of 4194304 bytes (it was read no further); it was not parsed"
    );
    assert!(matches!(err, ConfigError::TooLarge { size: None, .. }));
    let err = timed("/dev/zero, limit 1 KiB", || {
        Loader::new()
            .with_max_config_bytes(1024)
            .load_file(zero, None)
            .unwrap_err()
    });
    assert!(matches!(
        err,
        ConfigError::TooLarge {
            size: None,
            limit: 1024,
            ..
        }
    ));
}

/// The largest config the default limit lets through, of the smallest entries
/// (about 120,000): it loads in seconds. Each kind's pass looked every entry up
/// in a list of the kind's entries, quadratic in their number: 32 s in a debug
/// build, where it now takes 3.
#[test]
fn a_config_at_the_size_limit_of_small_entries_loads_in_seconds() {
    let mut text = String::from("namespace: a\nentries:\n");
    let mut count = 0;
    loop {
        let entry = format!("- {{name: {count:x}, kind: exec.native}}\n");
        if text.len() + entry.len() > DEFAULT_MAX_CONFIG_BYTES {
            break;
        }
        text.push_str(&entry);
        count += 1;
    }
    let what = format!("{count} entries ({} bytes)", text.len());
    let ids = timed(&what, || {
        Loader::new()
            .load_str(&text, Path::new("many.yaml"), None)
            .unwrap()
    });
    assert_eq!(ids.len(), count);
}
