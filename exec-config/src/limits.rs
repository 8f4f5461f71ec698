//! Limits on a config, checked before it is parsed: its size, and how deep its
//! lists and maps nest.
//!
//! serde_yaml's parser takes time quadratic in the nesting of flow collections
//! (a 200 KB file of 100,000 `[` takes about a minute), and every pass of the
//! loader parses the file again, so a file nested too deep is refused by a
//! linear scan of its text before serde_yaml sees it.
//!
//! The scan follows YAML's structure far enough to count nesting: block
//! collections by their indentation (`key:` and `- ` at a column deeper than
//! the enclosing one, `- - -` and `? ? ?` on one line), flow collections by
//! their brackets (`[`, `{`), and it skips what cannot nest: comments, quoted
//! scalars (over several lines too), block scalars (`|`, `>`) and the text of
//! plain scalars (a `[` inside `echo [x]` is text), as serde_yaml's parser
//! tells them apart. On valid YAML it never counts more levels than the parser
//! finds. It counts fewer in two unusual forms: a flow collection used as a
//! key (`[a]: b`, whose map is counted after the key, not around it) and a
//! single-pair map inside a flow list (`[a: b]`). Neither makes the parser
//! slow (its slowness comes from brackets, which are all counted), and
//! serde_yaml's own limit (128 levels) still holds for them.

/// The default limit on the size of a config, in bytes: 4 MiB.
///
/// A config file over the limit is refused before it is parsed (a file is read
/// no further than one byte over it). Change it with
/// [`Loader::with_max_config_bytes`](crate::Loader::with_max_config_bytes).
pub const DEFAULT_MAX_CONFIG_BYTES: usize = 4 * 1024 * 1024;

/// The default limit on how deep lists and maps nest in a config: 32 levels.
///
/// A config's own structure needs five (the file's map, `entries`, an entry,
/// `default_env`, a value); the rest is room for `meta`. A config nested
/// deeper is refused before it is parsed. Change it with
/// [`Loader::with_max_config_depth`](crate::Loader::with_max_config_depth).
pub const DEFAULT_MAX_CONFIG_DEPTH: usize = 32;

/// Where nesting first went past the limit: line and column, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooDeep {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

/// Scans `text` for nesting deeper than `limit`. Returns the deepest nesting
/// seen, or where the limit was first passed. Linear in the length of `text`.
pub(crate) fn check_depth(text: &str, limit: usize) -> Result<usize, TooDeep> {
    let mut scan = Scan {
        limit,
        deepest: 0,
        blocks: Vec::new(),
        flow: 0,
        flow_token: false,
        quote: None,
        node_column: 0,
        text: None,
    };
    for (index, line) in Lines::new(text).enumerate() {
        // serde_yaml's parser skips a BOM at the start of a line, counting it as
        // one column: so does the scan, as a blank.
        // (Not in a scalar's text, where it is text at column 0.)
        let bom_as_blank;
        let (line, bom) = match line.strip_prefix('\u{feff}') {
            Some(rest) => {
                bom_as_blank = format!(" {rest}");
                (bom_as_blank.as_str(), true)
            }
            None => (line, false),
        };
        scan.line(line.as_bytes(), bom).map_err(|at| TooDeep {
            line: index + 1,
            // Columns count characters, as serde_yaml's do.
            column: line.get(..at).map_or(at, |before| before.chars().count()) + 1,
        })?;
    }
    Ok(scan.deepest)
}

/// The lines of a text, split at every line break YAML knows: `\n`, `\r\n`,
/// `\r`, and (YAML 1.1, as serde_yaml's parser does) U+0085, U+2028, U+2029.
struct Lines<'t> {
    rest: Option<&'t str>,
}

impl<'t> Lines<'t> {
    fn new(text: &'t str) -> Self {
        Self { rest: Some(text) }
    }
}

impl<'t> Iterator for Lines<'t> {
    type Item = &'t str;

    fn next(&mut self) -> Option<&'t str> {
        let text = self.rest?;
        let bytes = text.as_bytes();
        let mut at = 0;
        while at < bytes.len() {
            let width = match bytes[at..] {
                [b'\r', b'\n', ..] => 2,
                [b'\n' | b'\r', ..] => 1,
                [0xc2, 0x85, ..] => 2,
                [0xe2, 0x80, 0xa8 | 0xa9, ..] => 3,
                _ => 0,
            };
            if width > 0 {
                self.rest = text.get(at + width..);
                return text.get(..at);
            }
            at += 1;
        }
        self.rest = None;
        Some(text)
    }
}

/// A block collection: the column of its `key:` or `- `, and which it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    column: usize,
    sequence: bool,
}

/// The state of the scan between lines. Positions are byte offsets in the
/// line; a block collection's column is the byte offset of its first `key:` or
/// `- ` (only compared with other offsets of indentation and indicators, which
/// are ASCII).
struct Scan {
    limit: usize,
    deepest: usize,
    /// Open block collections, innermost last.
    blocks: Vec<Block>,
    /// Open flow collections.
    flow: usize,
    /// In a flow collection, whether a token starts here, rather than a
    /// plain scalar going on: only there does a quote start a quoted scalar
    /// (in `[it's]` it does not).
    flow_token: bool,
    /// Inside a quoted scalar (its quote) that goes on past this line.
    quote: Option<u8>,
    /// Where the node being continued on a later line started, for a `:` after it.
    node_column: usize,
    /// Inside a block scalar or a plain scalar that may go on over lines.
    text: Option<Text>,
}

/// A scalar whose next lines may be its text, as serde_yaml's parser reads
/// them. Lines that are not are structure again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Text {
    /// A block scalar (`|`, `>`): blank lines, and lines indented by at least
    /// `at_least` spaces. Until its first line that is not blank, `at_least`
    /// is only the least it can be (`fixed` false), and that line fixes it.
    Block { at_least: usize, fixed: bool },
    /// A plain scalar that ended its line: blank lines, and lines whose text
    /// starts at `at_least` or further, up to a comment or a `: ` (which end it).
    Plain { at_least: usize },
}

/// Whether a plain scalar's line, from `at`, holds a comment or a `: `.
fn plain_ends(line: &[u8], at: usize) -> bool {
    (at..line.len()).any(|i| match line[i] {
        b'#' => i > 0 && is_blank(line[i - 1]),
        b':' => blank_after(line, i),
        _ => false,
    })
}

/// `,`, `[`, `]`, `{`, `}`: they end a plain scalar in a flow collection.
fn is_flow_indicator(byte: u8) -> bool {
    matches!(byte, b',' | b'[' | b']' | b'{' | b'}')
}

/// The characters of an anchor's name (`&name`, `*name`), as serde_yaml's
/// parser takes them.
fn is_anchor_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-'
}

/// Spaces and tabs.
fn is_blank(byte: u8) -> bool {
    byte == b' ' || byte == b'\t'
}

/// Whether `line[at]` is followed by a blank or the end of the line.
fn blank_after(line: &[u8], at: usize) -> bool {
    line.get(at + 1).is_none_or(|&next| is_blank(next))
}

impl Scan {
    /// One line; `Err` with the offset where the limit was passed. `bom`: the
    /// line started with a BOM, now a blank.
    fn line(&mut self, line: &[u8], bom: bool) -> Result<(), usize> {
        // A document marker ends whatever was open.
        if (line.starts_with(b"---") || line.starts_with(b"...")) && blank_after(line, 2) {
            self.blocks.clear();
            self.flow = 0;
            self.quote = None;
            self.text = None;
            return if line[0] == b'-' {
                self.block_nodes(line, 3, None)
            } else {
                Ok(())
            };
        }
        let indent = line.iter().take_while(|&&b| b == b' ').count();
        let content = indent + line[indent..].iter().take_while(|&&b| is_blank(b)).count();
        let blank = content == line.len();
        // For a scalar's text, a BOM is text at column 0.
        let (text_indent, text_content) = if bom { (0, 0) } else { (indent, content) };
        match self.text {
            Some(_) if blank && !bom => return Ok(()),
            Some(Text::Block { at_least, fixed }) => {
                if text_indent >= at_least {
                    if !fixed {
                        self.text = Some(Text::Block {
                            at_least: text_indent,
                            fixed: true,
                        });
                    }
                    return Ok(());
                }
                self.text = None;
            }
            Some(Text::Plain { at_least }) => {
                if text_content >= at_least {
                    if line.get(content) == Some(&b'#') || plain_ends(line, content) {
                        // A comment ends it; so does a `: `, which is not valid
                        // there. The rest of the line is neither.
                        self.text = None;
                    }
                    return Ok(());
                }
                self.text = None;
            }
            None => {}
        }
        if self.quote.is_some() || self.flow > 0 {
            // A quoted scalar or flow collection goes on; indentation means nothing.
            let at = self.inline(line, 0)?;
            if at >= line.len() {
                return Ok(());
            }
            return self.block_nodes(line, at, Some(self.node_column));
        }
        if blank || line[content] == b'#' || (content == 0 && line[0] == b'%') {
            return Ok(()); // blank, a comment, a directive
        }
        while self.blocks.last().is_some_and(|b| b.column > content) {
            self.blocks.pop();
        }
        self.block_nodes(line, content, None)
    }

    /// Nodes in block context from `at` to the end of the line. `after` is the
    /// column of a node that just ended (quoted, flow or alias), which a `:`
    /// now would make a key.
    fn block_nodes(
        &mut self,
        line: &[u8],
        mut at: usize,
        mut after: Option<usize>,
    ) -> Result<(), usize> {
        // The column of the anchor or tag before the node, which is the node's.
        let mut properties = None;
        loop {
            while line.get(at).is_some_and(|&b| is_blank(b)) {
                at += 1;
            }
            let Some(&byte) = line.get(at) else {
                return Ok(());
            };
            let column = properties.take().unwrap_or(at);
            if let Some(key_column) = after.take() {
                if byte == b':' && blank_after(line, at) {
                    self.open_block(key_column, false)?;
                    at += 1;
                    continue;
                }
            }
            match byte {
                b'#' => return Ok(()),
                b'-' | b'?' | b':' if blank_after(line, at) => {
                    self.open_block(column, byte == b'-')?;
                    at += 1;
                }
                b'[' | b'{' => {
                    self.node_column = column;
                    self.open_flow(at)?;
                    at = self.inline(line, at + 1)?;
                    if self.flow > 0 || self.quote.is_some() {
                        return Ok(()); // it goes on on the next line
                    }
                    after = Some(column);
                }
                b'\'' | b'"' => {
                    self.node_column = column;
                    self.quote = Some(byte);
                    at = self.inline(line, at + 1)?;
                    if self.quote.is_some() {
                        return Ok(());
                    }
                    after = Some(column);
                }
                b'|' | b'>' => {
                    // Its text is indented more than the collection it is in,
                    // by the digit given (`|2`) or as its first line is.
                    let parent = self.blocks.last().map(|b| b.column);
                    let digit = line[at + 1..]
                        .iter()
                        .take_while(|&&b| !is_blank(b))
                        .find(|b| b.is_ascii_digit())
                        .map(|b| usize::from(b - b'0'));
                    self.text = Some(match digit {
                        Some(n) => Text::Block {
                            at_least: parent.map_or(n, |p| p + n),
                            fixed: true,
                        },
                        None => Text::Block {
                            at_least: parent.map_or(1, |p| p + 1),
                            fixed: false,
                        },
                    });
                    return Ok(());
                }
                b'&' | b'*' => {
                    // An anchor (a node follows), or an alias (a node).
                    at += 1;
                    while line.get(at).is_some_and(|&b| is_anchor_char(b)) {
                        at += 1;
                    }
                    if byte == b'*' {
                        after = Some(column);
                    } else {
                        properties = Some(column);
                    }
                }
                b'!' => {
                    // A tag, up to a blank; a node follows.
                    while line.get(at).is_some_and(|&b| !is_blank(b)) {
                        at += 1;
                    }
                    properties = Some(column);
                }
                _ => {
                    // A plain scalar, to the end of the line, a comment, or a
                    // `: ` that makes it a key.
                    loop {
                        match line.get(at) {
                            None => {
                                // It may go on, on lines indented more than the
                                // collection it is in.
                                self.text = Some(Text::Plain {
                                    at_least: self.blocks.last().map_or(0, |b| b.column + 1),
                                });
                                return Ok(());
                            }
                            Some(b'#')
                                if line.get(at.wrapping_sub(1)).is_some_and(|&b| is_blank(b)) =>
                            {
                                return Ok(());
                            }
                            Some(b':') if blank_after(line, at) => {
                                self.open_block(column, false)?;
                                at += 1;
                                break;
                            }
                            Some(_) => at += 1,
                        }
                    }
                }
            }
        }
    }

    /// Inside a quoted scalar or a flow collection, from `at`: returns where the
    /// outermost one closed on this line, or the line's length if it goes on.
    fn inline(&mut self, line: &[u8], mut at: usize) -> Result<usize, usize> {
        let mut token = self.flow_token;
        loop {
            if let Some(quote) = self.quote {
                loop {
                    match line.get(at) {
                        None => return Ok(line.len()),
                        Some(b'\\') if quote == b'"' => at += 2,
                        Some(&b) if b == quote => {
                            if quote == b'\'' && line.get(at + 1) == Some(&b'\'') {
                                at += 2; // '' is a quote inside
                            } else {
                                at += 1;
                                break;
                            }
                        }
                        Some(_) => at += 1,
                    }
                }
                self.quote = None;
                token = true;
            }
            if self.flow == 0 {
                return Ok(at);
            }
            let Some(&byte) = line.get(at) else {
                self.flow_token = token;
                return Ok(line.len());
            };
            match byte {
                b'[' | b'{' => {
                    self.open_flow(at)?;
                    token = true;
                }
                b']' | b'}' => {
                    self.flow -= 1;
                    token = true;
                    if self.flow == 0 {
                        return Ok(at + 1);
                    }
                }
                b',' => token = true,
                b'#' if token || at == 0 || is_blank(line[at - 1]) => {
                    self.flow_token = token;
                    return Ok(line.len()); // a comment, to the end of the line
                }
                b' ' | b'\t' => {}
                // `?` and `:` where a token starts are indicators; in a plain
                // scalar, `:` before a blank (or before `,?[]{}`, an error) ends it.
                b'?' | b':' if token => {}
                b':' if blank_after(line, at)
                    || line
                        .get(at + 1)
                        .is_some_and(|&b| is_flow_indicator(b) || b == b'?') =>
                {
                    token = true;
                }
                b'\'' | b'"' if token => self.quote = Some(byte),
                b'&' | b'*' if token => {
                    // An anchor or an alias: a token of its own.
                    while line.get(at + 1).is_some_and(|&b| is_anchor_char(b)) {
                        at += 1;
                    }
                }
                b'!' if token => {
                    // A tag, up to a blank or a `,`.
                    while line.get(at + 1).is_some_and(|&b| !is_blank(b) && b != b',') {
                        at += 1;
                    }
                }
                _ => token = false,
            }
            at += 1;
        }
    }

    /// A `key:` (`sequence` false) or `- ` at `column`: the same collection as
    /// the innermost one if that is of its kind at its column, else a new one.
    fn open_block(&mut self, column: usize, sequence: bool) -> Result<(), usize> {
        let here = Block { column, sequence };
        if !sequence
            && self
                .blocks
                .last()
                .is_some_and(|b| b.sequence && b.column == column)
        {
            // A key at the column of a list's `- `: the list (a map's value,
            // not indented) has ended.
            self.blocks.pop();
        }
        if self.blocks.last() == Some(&here) {
            return Ok(());
        }
        self.blocks.push(here);
        self.deeper(column)
    }

    fn open_flow(&mut self, at: usize) -> Result<(), usize> {
        self.flow += 1;
        self.flow_token = true;
        self.deeper(at)
    }

    fn deeper(&mut self, at: usize) -> Result<(), usize> {
        let depth = self.blocks.len() + self.flow;
        self.deepest = self.deepest.max(depth);
        if depth > self.limit { Err(at) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn depth(text: &str) -> usize {
        check_depth(text, usize::MAX).unwrap()
    }

    #[test]
    fn lines_split_at_every_break() {
        let lines: Vec<_> = Lines::new("a\nb\r\nc\rd\u{85}e\u{2028}f\u{2029}g").collect();
        assert_eq!(lines, ["a", "b", "c", "d", "e", "f", "g"]);
        assert_eq!(Lines::new("").collect::<Vec<_>>(), [""]);
        assert_eq!(Lines::new("a\n").collect::<Vec<_>>(), ["a", ""]);
    }

    #[test]
    fn block_collections_count_by_indentation() {
        assert_eq!(depth(""), 0);
        assert_eq!(depth("just text"), 0);
        assert_eq!(depth("a: 1\nb: 2\n"), 1);
        assert_eq!(depth("a:\n  b:\n    c: 1\n  d: 2\ne: 3\n"), 3);
        assert_eq!(depth("- a\n- b\n"), 1);
        assert_eq!(depth("- - - a\n    - b\n  - c\n- d\n"), 3);
        assert_eq!(depth("- a: 1\n  b: [x]\n- c: 2\n"), 3);
        // A list as a map's value, not indented, ends at the next key.
        assert_eq!(depth("a:\n- x\n- y\nb:\n- z\n"), 2);
        assert_eq!(depth("a:\n  - x\n  - y\nb: 1\n"), 2);
        assert_eq!(depth("? ? ? a\n"), 3);
        assert_eq!(depth("-   key: v\n    k2: v\n"), 2);
    }

    #[test]
    fn flow_collections_count_by_their_brackets() {
        assert_eq!(depth("[]"), 1);
        assert_eq!(depth("[[a], {b: [c]}]"), 3);
        assert_eq!(depth("a: {b: {c: 1}}"), 3);
        assert_eq!(depth("a: [\n  [1,\n   2],\n  {x: [y]}\n]\nb: 2\n"), 4);
        assert_eq!(depth("- [a, b]\n- {c: d}\n"), 2);
        // A flow key: the map it is a key of counts after it.
        assert_eq!(depth("[a]: [b]\n"), 2);
    }

    #[test]
    fn text_does_not_nest() {
        // Quoted, single or double, over lines too, with their escapes.
        assert_eq!(depth("a: '[[[[' \n"), 1);
        assert_eq!(depth("a: \"[[[[\\\" [[\"\n"), 1);
        assert_eq!(depth("a: 'it''s [[[['\n"), 1);
        assert_eq!(depth("a: \"[[[\n  {{{ - - - \n  x: y\"\nb: 1\n"), 1);
        assert_eq!(depth("a: ['[[[', \"]]]\", '\n  ]]] [[[']\n"), 2);
        // A quote inside a plain scalar is text, and so is a bracket.
        assert_eq!(depth("- it's [[[\n- x {{{\n"), 1);
        assert_eq!(depth("- echo [[[ a:b {{{ ]]\n"), 1);
        // But `: ` makes what comes before it a key.
        assert_eq!(depth("- echo [[[ a: {{{\n"), 5);
        assert_eq!(depth("[it's, x]\n"), 1);
        // In a flow collection, a `:` not before a blank is text, and so is a
        // quote after it; where a token starts, a quote is a quote.
        assert_eq!(depth("{a:'x, [[[], 'y'}\n"), 4);
        assert_eq!(depth("{\"a\":'[[[', b: [c]}\n"), 2);
        assert_eq!(depth("[a\n'[[ ]]]\n"), 3);
        assert_eq!(depth("[a,\n'[[ ]]]'\n]\n"), 1);
        assert_eq!(depth("[&x '[[[', !t \"[[[\", *x]\n"), 1);
        assert_eq!(depth("[a,#[[[[\n b]\n"), 1);
        // Comments, at the start of a line and after a blank, in flow too.
        assert_eq!(depth("# [[[[\na: 1 # {{{{\n"), 1);
        assert_eq!(depth("a: [x, # [[[[\n  y]\n"), 2);
        assert_eq!(depth("a: b#[[[\n"), 1);
        // Block scalars.
        assert_eq!(
            depth("a: |\n  - - - [[[\n  {{{ 'x\n\n  b: c\nd: >-\n   [[[\ne: 1\n"),
            1
        );
        assert_eq!(depth("- |\n - - - -\n- x\n"), 1);
        assert_eq!(depth("--- |\n - - - - -\n"), 0);
        // A block scalar's first line fixes its indentation; a line indented
        // less, even if more than the map's, is structure again.
        assert_eq!(depth("a: |\n    text\n\n    - - -\n  [[[\n"), 4);
        assert_eq!(depth("a: |2\n  - [[[\n b: c\n"), 2);
        assert_eq!(depth("a: >-\n\n  [[\n"), 1);
        // A plain scalar goes on over lines indented more than its collection,
        // up to a comment.
        assert_eq!(depth("a: some\n  - - - [[[\n  text\nb: 1\n"), 1);
        assert_eq!(depth("- a\n  - b\n- c\n"), 1);
        assert_eq!(depth("a: some # c\n  [[[\n"), 4);
        assert_eq!(depth("a: some\n  # c\n  [[[\n"), 4);
        assert_eq!(depth("a: some\n  text # c\n  [[[\n"), 4);
        assert_eq!(depth("plain\n[[[\n"), 0);
        // Anchors, tags, aliases.
        assert_eq!(depth("a: &x [b]\nc: *x\nd: !t {e: f}\n"), 2);
        assert_eq!(depth("*x : [y]\n"), 2);
    }

    #[test]
    fn a_bom_at_the_start_of_a_line_is_a_blank() {
        // As serde_yaml's parser skips it: what follows is structure.
        assert_eq!(depth("a:\n\u{feff}[[[]]]\n"), 4);
        assert_eq!(depth("- x\n\u{feff}- - y\n"), 3);
        assert_eq!(depth("x\n\u{feff}- - y\n"), 0);
        assert_eq!(depth("a: |\n\u{feff}  [[\n"), 3);
        assert_eq!(
            check_depth("a:\n\u{feff}[[x]]\n", 2),
            Err(TooDeep { line: 2, column: 3 })
        );
    }

    #[test]
    fn documents_start_afresh() {
        assert_eq!(depth("[[[\n---\na: 1\n"), 3);
        assert_eq!(depth("a: 'open\n...\n- x\n"), 1);
        assert_eq!(depth("--- [a]\n"), 1);
    }

    /// How deep a value nests: a scalar 0, a list or map one more than its
    /// deepest element.
    fn value_depth(value: &serde_yaml::Value) -> usize {
        use serde_yaml::Value;
        match value {
            Value::Sequence(items) => 1 + items.iter().map(value_depth).max().unwrap_or(0),
            Value::Mapping(map) => {
                1 + map
                    .iter()
                    .map(|(key, value)| value_depth(key).max(value_depth(value)))
                    .max()
                    .unwrap_or(0)
            }
            Value::Tagged(tagged) => value_depth(&tagged.value),
            _ => 0,
        }
    }

    /// The value in flow style, strings double-quoted.
    fn flow(value: &serde_yaml::Value, out: &mut String) {
        use serde_yaml::Value;
        match value {
            Value::Sequence(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    flow(item, out);
                }
                out.push(']');
            }
            Value::Mapping(map) => {
                out.push('{');
                for (i, (key, item)) in map.iter().enumerate() {
                    if i > 0 {
                        out.push_str(",\n ");
                    }
                    flow(key, out);
                    out.push_str(": ");
                    flow(item, out);
                }
                out.push('}');
            }
            Value::String(text) => out.push_str(&format!("{text:?}")),
            _ => out.push_str("null"),
        }
    }

    fn values() -> impl proptest::strategy::Strategy<Value = serde_yaml::Value> {
        use proptest::prelude::*;
        use serde_yaml::Value;
        let text = "[-a-z\\[\\]{}#:'\" \n|>&*!,?%@`]{0,10}";
        let leaf = text.prop_map(Value::String);
        leaf.prop_recursive(16, 96, 2, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Sequence),
                proptest::collection::vec(("[-a-z\\[{}#:'\" ]{0,6}", inner), 0..3).prop_map(
                    |pairs| {
                        Value::Mapping(
                            pairs
                                .into_iter()
                                .map(|(k, v)| (Value::String(k), v))
                                .collect(),
                        )
                    }
                ),
            ]
        })
    }

    /// A chain of lists and maps, each holding the next (and maybe a scalar
    /// beside it), around `inner`: deep values, which `values` seldom makes.
    fn chains() -> impl proptest::strategy::Strategy<Value = serde_yaml::Value> {
        use proptest::prelude::*;
        use serde_yaml::Value;
        let level = (
            any::<bool>(),
            "[a-z\\[#:' ]{0,4}",
            proptest::option::of("[a-z\\[\\n#:' ]{0,6}"),
        );
        (proptest::collection::vec(level, 0..40), values()).prop_map(|(levels, inner)| {
            levels
                .into_iter()
                .fold(inner, |inner, (list, key, beside)| {
                    let beside = beside.map(Value::String);
                    if list {
                        Value::Sequence(beside.into_iter().chain([inner]).collect())
                    } else {
                        let mut map = serde_yaml::Mapping::new();
                        if let Some(beside) = beside {
                            map.insert(Value::String(format!("{key}~")), beside);
                        }
                        map.insert(Value::String(key), inner);
                        Value::Mapping(map)
                    }
                })
        })
    }

    /// Lines made of YAML's pieces at random indentations: mostly not YAML,
    /// and what is, is YAML of every odd sort.
    fn pieces() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let piece = proptest::sample::select(vec![
            "- ", "k: ", "? ", ": ", "[", "]", "{", "}", "'x", "'", "\"y", "\"", "|", "|2", ">-",
            " # c", "a", ", ", "&a ", "!t ", "b:", "\t", "x y", "\r\n", "",
        ]);
        let line = (0usize..7, proptest::collection::vec(piece, 1..5));
        proptest::collection::vec(line, 1..8).prop_map(|lines| {
            lines
                .iter()
                .map(|(indent, pieces)| format!("{}{}\n", " ".repeat(*indent), pieces.concat()))
                .collect()
        })
    }

    proptest::proptest! {
        /// Whatever serde_yaml reads, the scan counts no more levels than it
        /// finds: a config that nests no deeper than the limit is never refused.
        #[test]
        fn the_scan_never_counts_more_than_serde_yaml_finds(text in pieces()) {
            if let Ok(value) = serde_yaml::from_str::<serde_yaml::Value>(&text) {
                let scanned = check_depth(&text, usize::MAX).unwrap();
                proptest::prop_assert!(scanned <= value_depth(&value), "{} > {}: {:?}", scanned, value_depth(&value), text);
            }
        }

        /// On what serde_yaml writes (block style, quoted and block scalars),
        /// and on the same in flow style, the scan finds the value's depth.
        #[test]
        fn the_scan_finds_the_depth_serde_yaml_finds(value in proptest::prop_oneof![values(), chains()]) {
            let block = serde_yaml::to_string(&value).unwrap();
            let reread: serde_yaml::Value = serde_yaml::from_str(&block).unwrap();
            proptest::prop_assert_eq!(&reread, &value);
            proptest::prop_assert_eq!(depth(&block), value_depth(&value), "{}", block);
            let mut text = String::new();
            flow(&value, &mut text);
            let reread: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
            proptest::prop_assert_eq!(&reread, &value);
            proptest::prop_assert_eq!(depth(&text), value_depth(&value), "{}", text);
        }
    }

    /// The scan of a config at the size limit that never passes the depth
    /// limit: a few milliseconds, whatever it holds (timed, not a benchmark).
    #[test]
    fn the_scan_is_linear() {
        let size = crate::DEFAULT_MAX_CONFIG_BYTES;
        let fill = |unit: &str| unit.repeat(size / unit.len());
        let flow31 = format!("{}{}\n", "[".repeat(31), "]".repeat(31));
        let block31 = format!("{}x\n", "- ".repeat(31));
        let cases = [
            ("flow lists 31 deep, side by side", fill(&flow31)),
            ("- - - 31 deep, line after line", fill(&block31)),
            (
                "one line of [, quoted",
                format!("'{}'", "[".repeat(size - 2)),
            ),
            (
                "one block scalar",
                format!("a: |\n{}", fill("  - [ { ' \" #\n")),
            ),
            (
                "entries",
                fill("- { name: a, kind: k, default_env: { A: b } }\n"),
            ),
            ("lines of blanks", fill(&format!("{}\n", " ".repeat(1000)))),
        ];
        for (what, text) in cases {
            let start = std::time::Instant::now();
            let deepest = check_depth(&text, 32).unwrap();
            let took = start.elapsed();
            eprintln!(
                "scan of {} bytes, {what}: {took:?} (deepest {deepest})",
                text.len()
            );
            assert!(
                took < std::time::Duration::from_secs(10),
                "{what}: {took:?}"
            );
        }
    }

    #[test]
    fn the_limit_is_passed_where_it_is_passed() {
        assert_eq!(check_depth("[[[]]]", 3), Ok(3));
        assert_eq!(
            check_depth("[[[]]]", 2),
            Err(TooDeep { line: 1, column: 3 })
        );
        assert_eq!(
            check_depth("a:\n b:\n  c:\n   d: 1\n", 3),
            Err(TooDeep { line: 4, column: 4 })
        );
        assert_eq!(
            check_depth("- - x\n  - - y\n", 2),
            Err(TooDeep { line: 2, column: 5 })
        );
        // Columns count characters.
        assert_eq!(
            check_depth("a: 1\r\nk: {'한글': [x]}", 2),
            Err(TooDeep {
                line: 2,
                column: 11
            })
        );
    }
}
