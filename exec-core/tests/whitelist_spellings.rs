//! Spellings of a command against a whitelist of `git status` and
//! `echo hello`: every spelling that splits into the listed words runs, and
//! every other one — shell syntax, look-alike characters, hidden blanks,
//! extra words — is refused before anything exists. `docs/security.md` links
//! here.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use exec_core::{CommandSpec, ErrorKind, ExecOptions, ExecutorSettings, Whitelist};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    /// Splits into a listed argument vector: it runs, and it is that command.
    Runs,
    /// Refused by the whitelist (PermissionDenied).
    Refused,
    /// Not a command at all (Invalid).
    Invalid,
}
use Verdict::{Invalid, Refused, Runs};

const SPELLINGS: &[(&str, Verdict, &str)] = &[
    ("git status", Runs, "the listed line"),
    ("git   status", Runs, "repeated spaces"),
    ("git\tstatus", Runs, "a tab"),
    ("  git status  ", Runs, "blanks around"),
    ("'git' \"status\"", Runs, "quoted words"),
    ("git st\"\"atus", Runs, "an empty quote inside a word"),
    (
        "git sta\\tus",
        Runs,
        "a backslash before an ordinary letter",
    ),
    ("git status # a comment", Runs, "a shell comment"),
    ("echo hel'lo'", Runs, "a quote inside a word"),
    (
        "git status; rm -rf /",
        Refused,
        "`;` is a word, not a separator",
    ),
    ("git status;id", Refused, "`;` glued to a word"),
    ("git status && id", Refused, "&&"),
    ("git status || id", Refused, "||"),
    ("git status | sh", Refused, "a pipe"),
    ("git status &", Refused, "background"),
    ("git status `id`", Refused, "backquotes"),
    ("git status $(id)", Refused, "command substitution"),
    ("git status ${IFS}id", Refused, "a variable"),
    ("git status > /etc/passwd", Refused, "redirection"),
    ("git status 2>&1", Refused, "fd redirection"),
    ("git status < /etc/shadow", Refused, "input redirection"),
    ("git status *", Refused, "a glob"),
    ("git status ~", Refused, "a tilde"),
    ("git status {a,b}", Refused, "braces"),
    ("git status\nid", Refused, "a newline"),
    ("git status\rid", Refused, "a carriage return"),
    ("git status\u{0b}", Refused, "a vertical tab"),
    ("git status\u{0c}", Refused, "a form feed"),
    ("git\u{a0}status", Refused, "a no-break space"),
    ("git status\u{200b}", Refused, "a zero-width space"),
    ("git\u{2003}status", Refused, "an em space"),
    ("g\u{0456}t status", Refused, "a Cyrillic i"),
    (
        "\u{ff47}\u{ff49}\u{ff54} status",
        Refused,
        "fullwidth letters",
    ),
    ("git stat\u{fe55}us", Refused, "a small colon"),
    ("GIT STATUS", Refused, "upper case"),
    ("git Status", Refused, "one capital"),
    ("git\\ status", Refused, "one word with an escaped space"),
    ("'git status'", Refused, "one quoted word"),
    ("git 'status '", Refused, "a trailing blank inside quotes"),
    ("git status ''", Refused, "an extra empty word"),
    ("git status --porcelain", Refused, "an extra flag"),
    (
        "git -c core.fsmonitor=id status",
        Refused,
        "an option before the subcommand",
    ),
    ("git status -c core.pager=id", Refused, "an option after"),
    ("/usr/bin/git status", Refused, "a path to the program"),
    ("./git status", Refused, "a relative program"),
    ("GIT_DIR=/tmp git status", Refused, "an assignment before"),
    ("env git status", Refused, "through env"),
    ("sh -c 'git status'", Refused, "through sh"),
    ("exec git status", Refused, "exec"),
    ("echo hello\\;id", Refused, "an escaped ;"),
    ("echo 'hello' 'world'", Refused, "an extra word"),
    ("git status\0", Invalid, "a NUL byte"),
    ("git status 'unclosed", Invalid, "an unclosed quote"),
    ("", Invalid, "nothing"),
    ("# only a comment", Invalid, "only a comment"),
];

fn settings() -> ExecutorSettings {
    ExecutorSettings::new("test:spellings")
        .with_whitelist(Whitelist::parse(["git status", "echo hello"]).unwrap())
}

fn verdict(command: CommandSpec) -> Verdict {
    match settings().prepare(command, ExecOptions::new()) {
        Ok(prepared) => {
            assert!(
                prepared.argv() == ["git", "status"] || prepared.argv() == ["echo", "hello"],
                "allowed but runs {:?}",
                prepared.argv()
            );
            Runs
        }
        Err(e) if e.kind() == ErrorKind::PermissionDenied => Refused,
        Err(e) if e.kind() == ErrorKind::Invalid => Invalid,
        Err(e) => panic!("unexpected error {e}"),
    }
}

#[test]
fn fifty_spellings_of_a_whitelisted_command_hold() {
    assert!(SPELLINGS.len() >= 50, "{} spellings", SPELLINGS.len());
    let mut wrong = Vec::new();
    for (spelling, expected, what) in SPELLINGS {
        let got = verdict((*spelling).into());
        if got != *expected {
            wrong.push(format!(
                "{what}: {spelling:?} {got:?}, expected {expected:?}"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn words_are_held_to_the_same_whitelist() {
    let cases: &[(&[&str], Verdict)] = &[
        (&["git", "status"], Runs),
        (&["echo", "hello"], Runs),
        (&["git status"], Refused),
        (&["git", "status", ""], Refused),
        (&["git", "status;", "id"], Refused),
        (&["git", "'status'"], Refused),
        (&["git", "status\0"], Invalid),
        (&[], Invalid),
    ];
    for (words, expected) in cases {
        assert_eq!(verdict((*words).into()), *expected, "{words:?}");
    }
}
