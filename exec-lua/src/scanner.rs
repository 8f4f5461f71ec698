//! `stream:scanner(split)`: Wippy's scanner (Go's `bufio.Scanner`) over a
//! process's output, with `scan()`, `text()` and `err()`.
//!
//! Splits as Go's do: `"lines"` (the default; the line end, `\n` or `\r\n`,
//! is dropped, and a last line without one counts), `"words"` (separated by
//! Unicode white space), `"bytes"` (one byte each), `"runes"` (one UTF-8
//! character each; a byte that is not one gives U+FFFD).
//!
//! A token longer than [`MAX_TOKEN`] is an error value from `scan()` (and its
//! message from `err()`), never a crash and never cut short.

use crate::errors::{Outcome, ScriptError, bad_argument, returns};
use crate::scheduler::Caller;
use crate::stream::{DEFAULT_READ_SIZE, Shared};
use mlua::{MetaMethod, UserData, UserDataMethods, Value};
use std::sync::Arc;
use tokio::sync::Mutex;

/// The longest token (a line without its end, a word) a scanner returns:
/// 1 MiB. Go's (and so Wippy's) default is 64 KiB: every token that scans
/// there scans here.
pub const MAX_TOKEN: usize = 1024 * 1024;

/// How a scanner splits its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Split {
    Lines,
    Words,
    Bytes,
    Runes,
}

impl Split {
    /// The split a script names; `nil` is `"lines"`. Anything else raises an
    /// argument error, as in Wippy.
    pub(crate) fn from_value(value: &Value) -> mlua::Result<Self> {
        let name = match value {
            Value::Nil => return Ok(Split::Lines),
            Value::String(s) => s.to_string_lossy(),
            _ => String::new(),
        };
        match name.as_str() {
            "lines" => Ok(Split::Lines),
            "words" => Ok(Split::Words),
            "bytes" => Ok(Split::Bytes),
            "runes" => Ok(Split::Runes),
            _ => Err(bad_argument(
                1,
                "scanner",
                "invalid split type: must be 'lines', 'words', 'bytes', or 'runes'",
            )),
        }
    }
}

/// What one split step found in the buffered bytes.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    /// A token: `advance` bytes are used up, the token is the first `end`.
    Token { advance: usize, end: usize },
    /// A token that is not in the bytes as they are (U+FFFD for a bad rune).
    Replacement { advance: usize },
    /// Skip `advance` bytes (leading white space; at least one) and look
    /// again.
    Skip { advance: usize },
    /// More bytes are needed.
    More,
    /// Nothing is left (at the end of the stream).
    Done,
}

/// U+FFFD, what a byte that starts no UTF-8 character scans as.
const REPLACEMENT: &str = "\u{FFFD}";

/// The length of the UTF-8 character at the start of `data`, if it is a
/// whole, valid one; `Err(true)` if more bytes could complete it.
fn rune_len(data: &[u8]) -> Result<(char, usize), bool> {
    let Some(&first) = data.first() else {
        return Err(true);
    };
    let len = match first {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return Err(false),
    };
    if data.len() < len {
        // Complete so far? Then more bytes may make it whole.
        return Err(std::str::from_utf8(data).is_err_and(|e| e.error_len().is_none()));
    }
    match std::str::from_utf8(&data[..len]) {
        Ok(s) => s.chars().next().map(|c| (c, len)).ok_or(false),
        Err(_) => Err(false),
    }
}

/// Go's `unicode.IsSpace`.
fn is_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\u{0b}'
            | '\u{0c}'
            | '\r'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

impl Split {
    fn step(self, data: &[u8], at_eof: bool) -> Step {
        if at_eof && data.is_empty() {
            return Step::Done;
        }
        match self {
            Split::Lines => match data.iter().position(|&b| b == b'\n') {
                Some(i) => Step::Token {
                    advance: i + 1,
                    end: drop_cr(data, i),
                },
                None if at_eof => Step::Token {
                    advance: data.len(),
                    end: drop_cr(data, data.len()),
                },
                None => Step::More,
            },
            Split::Bytes => match data.first() {
                Some(_) => Step::Token { advance: 1, end: 1 },
                None => Step::More,
            },
            Split::Runes => match rune_len(data) {
                Ok((_, len)) => Step::Token {
                    advance: len,
                    end: len,
                },
                Err(true) if !at_eof => Step::More,
                Err(_) if data.is_empty() => Step::More,
                Err(_) => Step::Replacement { advance: 1 },
            },
            Split::Words => {
                // Leading white space goes first.
                let mut start = 0;
                while start < data.len() {
                    match rune_len(&data[start..]) {
                        Ok((c, len)) if is_space(c) => start += len,
                        _ => break,
                    }
                }
                if start > 0 {
                    return Step::Skip { advance: start };
                }
                let mut i = 0;
                while i < data.len() {
                    match rune_len(&data[i..]) {
                        Ok((c, len)) if is_space(c) => {
                            return Step::Token {
                                advance: i + len,
                                end: i,
                            };
                        }
                        Ok((_, len)) => i += len,
                        Err(true) if !at_eof => return Step::More,
                        Err(_) => i += 1,
                    }
                }
                if at_eof {
                    Step::Token {
                        advance: data.len(),
                        end: data.len(),
                    }
                } else {
                    Step::More
                }
            }
        }
    }

    /// The bytes still without a token that are too many: a line (without
    /// its end) or a word longer than [`MAX_TOKEN`].
    fn too_long(self, pending: &[u8]) -> bool {
        match self {
            Split::Lines => {
                let content = pending.strip_suffix(b"\r").unwrap_or(pending);
                content.len() > MAX_TOKEN
            }
            Split::Words => pending.len() > MAX_TOKEN,
            Split::Bytes | Split::Runes => false,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Split::Lines => "line",
            Split::Words => "word",
            Split::Bytes => "byte",
            Split::Runes => "rune",
        }
    }
}

/// The end of a line of `data[..end]`, without a `\r` just before it.
fn drop_cr(data: &[u8], end: usize) -> usize {
    if end > 0 && data[end - 1] == b'\r' {
        end - 1
    } else {
        end
    }
}

#[derive(Debug, Default)]
struct State {
    buffer: Vec<u8>,
    /// Where unscanned bytes begin in `buffer`.
    start: usize,
    at_eof: bool,
    token: Vec<u8>,
    /// The error of the last `scan()`, for `err()`.
    error: Option<ScriptError>,
    /// Whether that error ends the scan (a token too long, a failed read):
    /// every later `scan()` returns it again. Misuse (a scan before
    /// `start()`) does not.
    failed: bool,
}

/// The userdata `stream:scanner()` returns.
#[derive(Debug)]
pub(crate) struct Scanner {
    name: &'static str,
    split: Split,
    stream: Arc<Shared>,
    state: Arc<Mutex<State>>,
}

impl Scanner {
    pub(crate) fn new(name: &'static str, split: Split, stream: Arc<Shared>) -> Self {
        Self {
            name,
            split,
            stream,
            state: Arc::new(Mutex::new(State::default())),
        }
    }
}

/// `scan()`: `true` with a token, `false` at the end. A token too long or a
/// failed read ends the scan as Go's `bufio.Scanner` ends it: `false`, with
/// the reason in `err()`, on this and every later call. Misuse (a scan
/// before `start()`, a closed stream) is `false, err`.
async fn scan(
    name: &'static str,
    split: Split,
    stream: &Shared,
    state: &Mutex<State>,
) -> Outcome<bool> {
    let mut state = state.lock().await;
    if state.failed {
        state.token.clear();
        return Ok(false);
    }
    state.error = None;
    loop {
        let State {
            buffer,
            start,
            at_eof,
            token,
            ..
        } = &mut *state;
        let data = &buffer[*start..];
        match split.step(data, *at_eof) {
            Step::Token { advance, end } => {
                token.clear();
                token.extend_from_slice(&data[..end]);
                *start += advance;
                return Ok(true);
            }
            Step::Replacement { advance } => {
                token.clear();
                token.extend_from_slice(REPLACEMENT.as_bytes());
                *start += advance;
                return Ok(true);
            }
            Step::Skip { advance } => *start += advance,
            Step::Done => {
                token.clear();
                return Ok(false);
            }
            Step::More => {
                if split.too_long(data) {
                    token.clear();
                    state.error = Some(ScriptError::internal(format!(
                        "scanner on {name}: {} longer than {MAX_TOKEN} bytes (token too long)",
                        split.name()
                    )));
                    state.failed = true;
                    return Ok(false);
                }
                if let Err(error) = read_more(name, stream, &mut state).await {
                    state.token.clear();
                    state.error = Some(error.clone());
                    if error.kind() == crate::errors::INVALID {
                        return Err(error);
                    }
                    state.failed = true;
                    return Ok(false);
                }
            }
        }
    }
}

/// Reads the next piece of the stream into the buffer (dropping what was
/// scanned), or notes the end.
async fn read_more(name: &'static str, stream: &Shared, state: &mut State) -> Outcome<()> {
    if state.start > 0 {
        state.buffer.drain(..state.start);
        state.start = 0;
    }
    let buffer = &mut state.buffer;
    let read = stream
        .read(name, DEFAULT_READ_SIZE, |bytes| {
            buffer.extend_from_slice(bytes);
            Ok(())
        })
        .await?;
    if read.is_none() {
        state.at_eof = true;
    }
    Ok(())
}

impl UserData for Scanner {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_async_method("scan", |lua, this, ()| {
            let (name, split) = (this.name, this.split);
            let stream = this.stream.clone();
            let state = this.state.clone();
            drop(this);
            let caller = Caller::new(lua);
            async move {
                let outcome = caller.drive(scan(name, split, &stream, &state)).await?;
                let lua = caller.lua()?;
                match outcome {
                    Ok(found) => returns(&lua, Ok(found)),
                    Err(error) => Ok(mlua::MultiValue::from_iter([
                        Value::Boolean(false),
                        error.into_lua_value(&lua)?,
                    ])),
                }
            }
        });
        methods.add_method("text", |lua, this, ()| match this.state.try_lock() {
            Ok(state) => lua.create_string(&state.token),
            // A scan in progress in another coroutine: no token yet.
            Err(_) => lua.create_string(""),
        });
        methods.add_method("err", |_, this, ()| {
            Ok(match this.state.try_lock() {
                Ok(state) => state.error.as_ref().map(|e| e.message().to_owned()),
                Err(_) => None,
            })
        });
        methods.add_meta_method(MetaMethod::ToString, |_, this, ()| {
            Ok(format!("exec.Scanner({})", this.name))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{Split, Step};

    /// Every token of `input` fed in pieces of `piece` bytes.
    fn tokens(split: Split, input: &[u8], piece: usize) -> Vec<Vec<u8>> {
        let mut buffer = Vec::new();
        let mut fed = 0;
        let mut out = Vec::new();
        loop {
            let at_eof = fed == input.len();
            match split.step(&buffer, at_eof) {
                Step::Token { advance, end } => {
                    out.push(buffer[..end].to_vec());
                    buffer.drain(..advance);
                }
                Step::Replacement { advance } => {
                    out.push(super::REPLACEMENT.as_bytes().to_vec());
                    buffer.drain(..advance);
                }
                Step::Skip { advance } => {
                    buffer.drain(..advance);
                }
                Step::Done => return out,
                Step::More => {
                    let next = (fed + piece).min(input.len());
                    buffer.extend_from_slice(&input[fed..next]);
                    fed = next;
                }
            }
        }
    }

    fn strings(tokens: Vec<Vec<u8>>) -> Vec<String> {
        tokens
            .into_iter()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .collect()
    }

    #[test]
    fn splits_as_gos_bufio_scanner_in_any_pieces() {
        for piece in [1, 2, 3, 7, 100] {
            assert_eq!(
                strings(tokens(Split::Lines, b"one\r\ntwo\n\nlast", piece)),
                ["one", "two", "", "last"]
            );
            assert_eq!(
                strings(tokens(Split::Lines, b"a\n", piece)),
                ["a"],
                "no empty line after the last line end"
            );
            assert_eq!(
                strings(tokens(
                    Split::Words,
                    "  héllo\tworld\u{3000}x \n".as_bytes(),
                    piece
                )),
                ["héllo", "world", "x"]
            );
            assert_eq!(tokens(Split::Bytes, b"ab", piece), [b"a", b"b"]);
            assert_eq!(
                strings(tokens(Split::Runes, "aé€😀".as_bytes(), piece)),
                ["a", "é", "€", "😀"]
            );
            assert_eq!(
                strings(tokens(Split::Runes, b"a\xffb\xe2\x82", piece)),
                ["a", "\u{FFFD}", "b", "\u{FFFD}", "\u{FFFD}"]
            );
        }
        assert!(tokens(Split::Lines, b"", 4).is_empty());
        assert!(tokens(Split::Words, b" \n\t ", 4).is_empty());
    }
}
