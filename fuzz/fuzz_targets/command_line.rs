//! The command-line splitter and the whitelist: a line splits into words
//! or is refused, never panics; the words joined split back to themselves;
//! a whitelist of the line allows exactly its words, however spelled.
#![no_main]

use exec_core::Whitelist;
use exec_core::command_line::{join, split};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Two lines: a whitelist line, and a command to hold to it.
    let (line, command) = text.split_once('\n').unwrap_or((text, text));
    let Ok(words) = split(line) else {
        assert!(
            Whitelist::parse([line]).is_err(),
            "{line:?} splits in neither or both"
        );
        return;
    };
    assert!(!words.is_empty());
    let joined = join(&words);
    assert_eq!(
        split(&joined).ok(),
        Some(words.clone()),
        "{line:?} -> {joined:?}"
    );
    let list = Whitelist::parse([line]).expect("a line that splits is a whitelist line");
    assert!(list.allows(&words));
    assert_eq!(list.allows_command(joined.as_str()).ok(), Some(true));
    let allowed = list.allows_command(command);
    match split(command) {
        Ok(other) => assert_eq!(allowed.ok(), Some(other == words), "{command:?}"),
        Err(_) => assert!(
            allowed.is_err(),
            "{command:?} is refused as it cannot be split"
        ),
    }
});
