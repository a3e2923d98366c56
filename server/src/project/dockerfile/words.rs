//! Docker's shell lexer (`shell.Lex`) for the words of instruction arguments: quotes, escapes
//! and `$VAR` references, and their expansion.

/// Docker's shell-word variable expansion for instruction arguments (ENV, WORKDIR,
/// COPY/ADD, USER, ARG defaults...), i.e. `shell.Lex.ProcessWord`.
///
/// Supports `$VAR`, `${VAR}`, `${VAR:-word}` (word if VAR is unset or empty) and
/// `${VAR:+word}` (word if VAR is set and non-empty); `word` may itself contain
/// quotes and variables. `${VAR-word}` and other shell forms are not supported
/// by Docker. Single and double quotes are removed like a shell would, and the
/// file's escape character escapes the next character (`\$A` is a literal `$A`).
/// Unknown variables expand to "". `lookup` returns a variable's value in effect.
///
/// Docker fails the build on malformed input (an unterminated quote, `${`
/// without `}`, an unsupported modifier); as this function cannot fail, it
/// returns such input unchanged.
///
/// A result is cut just past [`MAX_EXPANSION`] bytes (callers treat a longer one as an error).
pub fn expand(word: &str, escape: char, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    match lex_word(word, escape) {
        Ok(pieces) => evaluate(&pieces, lookup),
        Err(_) => word.to_string(),
    }
}

/// A word after lexing: literal characters and variable references.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(char),
    /// `$NAME`
    Var(String),
    /// `${NAME}`
    Braced(String),
    /// `${NAME:-word}` or `${NAME:+word}`
    Modified {
        name: String,
        op: char,
        word: Vec<Piece>,
    },
}

fn lex_word(word: &str, escape: char) -> Result<Vec<Piece>, String> {
    let mut lexer = WordLexer { chars: word.chars().collect(), pos: 0, escape, depth: 0, quotes: true };
    lexer.until(None)
}

/// A heredoc's body as COPY/ADD expand it (BuildKit's `ExpandRaw`): one word with `\` as the
/// escape and quotes taken literally. Malformed input is returned unchanged, as by [`expand`].
pub(super) fn expand_raw(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut lexer = WordLexer { chars: text.chars().collect(), pos: 0, escape: '\\', depth: 0, quotes: false };
    match lexer.until(None) {
        Ok(pieces) => evaluate(&pieces, lookup),
        Err(_) => text.to_string(),
    }
}

/// Removes quotes and needless escapes from an ENV/LABEL/ARG word, leaving
/// variable references for [`expand`] (`expand` of the result is what Docker
/// gets from the original).
pub(super) fn unquote(word: &str, escape: char) -> Result<String, String> {
    lex_word(word, escape)
        .map(|pieces| render(&pieces, escape, false))
        .map_err(|error| format!("failed to process {word:?}: {error}"))
}

/// How deep `${A:-${B:-...}}` may nest. Docker has no limit, but no real
/// Dockerfile comes close, and a limit keeps hostile input from overflowing
/// the stack.
const MAX_NESTING: usize = 64;

struct WordLexer {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    /// current `${NAME:...}` nesting
    depth: usize,
    /// quotes are processed (not for a heredoc's body)
    quotes: bool,
}

impl WordLexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// `processStopOn`: lexes up to `stop` (consumed) or the end of the word.
    fn until(&mut self, stop: Option<char>) -> Result<Vec<Piece>, String> {
        let mut out = Vec::new();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok(out);
            }
            match ch {
                '\'' if self.quotes => self.single_quoted(&mut out)?,
                '"' if self.quotes => self.double_quoted(&mut out)?,
                '$' => out.push(self.dollar()?),
                _ => {
                    self.pos += 1;
                    if ch != self.escape {
                        out.push(Piece::Lit(ch));
                    } else if let Some(escaped) = self.next() {
                        out.push(Piece::Lit(escaped));
                    } else {
                        // An escape at the very end is dropped.
                        break;
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(format!("unexpected end of statement while looking for matching {stop}")),
            None => Ok(out),
        }
    }

    /// Everything up to the next `'` is literal; nothing can be escaped.
    fn single_quoted(&mut self, out: &mut Vec<Piece>) -> Result<(), String> {
        self.pos += 1;
        loop {
            match self.next() {
                None => return Err("unexpected end of statement while looking for matching single-quote".to_string()),
                Some('\'') => return Ok(()),
                Some(c) => out.push(Piece::Lit(c)),
            }
        }
    }

    /// Variables are expanded; the escape only escapes `"`, `$` and itself.
    fn double_quoted(&mut self, out: &mut Vec<Piece>) -> Result<(), String> {
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err("unexpected end of statement while looking for matching double-quote".to_string()),
                Some('"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some('$') => out.push(self.dollar()?),
                Some(mut c) => {
                    self.pos += 1;
                    if c == self.escape {
                        match self.peek() {
                            // Dropped; the missing quote is reported next.
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                c = n;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(Piece::Lit(c));
                }
            }
        }
    }

    /// `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME:+word}`; a `$` that starts
    /// no name is literal.
    fn dollar(&mut self) -> Result<Piece, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            return Ok(if name.is_empty() { Piece::Lit('$') } else { Piece::Var(name) });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.name();
        match self.next() {
            Some('}') => Ok(Piece::Braced(name)),
            Some(':') => {
                let op = self.next();
                if self.depth >= MAX_NESTING {
                    return Err("substitutions nested too deeply".to_string());
                }
                self.depth += 1;
                let word = self.until(Some('}'));
                self.depth -= 1;
                let word = match word {
                    Ok(word) => word,
                    Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".to_string()),
                    Err(error) => return Err(error),
                };
                match op {
                    Some(op @ ('-' | '+')) => Ok(Piece::Modified { name, op, word }),
                    Some(op) => Err(format!("unsupported modifier ({op}) in substitution")),
                    None => Err("syntax error: missing '}'".to_string()),
                }
            }
            _ => Err("missing ':' in substitution".to_string()),
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits; or one
    /// special parameter character.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(digit) = self.peek().filter(|c| c.is_numeric()) {
                    name.push(digit);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.pos += 1;
                return ch.to_string();
            }
            if !is_name_char(ch) {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// The longest value an expansion yields. Without a bound, lines like `ENV A=$A$A` double a value
/// each time: three dozen exhaust any memory (docker build dies the same way). Linux passes no
/// argument or variable over 128 KiB to a process, so no working Dockerfile comes near this.
pub const MAX_EXPANSION: usize = 1 << 20;

fn evaluate(pieces: &[Piece], lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    for piece in pieces {
        if out.len() > MAX_EXPANSION {
            break;
        }
        match piece {
            Piece::Lit(c) => out.push(*c),
            Piece::Var(name) | Piece::Braced(name) => {
                out.push_str(&lookup(name).unwrap_or_default());
            }
            Piece::Modified { name, op, word } => {
                let value = lookup(name).unwrap_or_default();
                let use_word = if *op == '+' { !value.is_empty() } else { value.is_empty() };
                if use_word {
                    out.push_str(&evaluate(word, lookup));
                } else {
                    // For `:+` this is the empty value.
                    out.push_str(&value);
                }
            }
        }
    }
    if out.len() > MAX_EXPANSION {
        let mut cut = MAX_EXPANSION + 1;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out.truncate(cut);
    }
    out
}

/// Writes lexed pieces back as a word that lexes to the same pieces, escaping
/// only what would otherwise be read differently.
fn render(pieces: &[Piece], escape: char, in_braces: bool) -> String {
    let mut out = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        let next = pieces.get(i + 1);
        match piece {
            Piece::Lit(c) => {
                let needs_escape = match *c {
                    '\'' | '"' => true,
                    // A bare `$` is literal unless a name or `{` follows it.
                    '$' => match next {
                        None => false,
                        Some(Piece::Lit(n)) => *n == '{' || is_name_char(*n) || is_special_param(*n),
                        Some(_) => true,
                    },
                    '}' => in_braces,
                    c => c == escape,
                };
                if needs_escape {
                    out.push(escape);
                }
                out.push(*c);
            }
            Piece::Var(name) => {
                // `$A` followed by a literal `B` must not read as `$AB`.
                if matches!(next, Some(Piece::Lit(n)) if is_name_char(*n)) {
                    out.push_str(&format!("${{{name}}}"));
                } else {
                    out.push('$');
                    out.push_str(name);
                }
            }
            Piece::Braced(name) => out.push_str(&format!("${{{name}}}")),
            Piece::Modified { name, op, word } => {
                out.push_str(&format!("${{{name}:{op}"));
                out.push_str(&render(word, escape, true));
                out.push('}');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::dockerfile::tests::*;

    #[test]
    fn unquoted_values_expand_exactly_like_the_raw_values_docker_sees() {
        // Whatever the quoting, expanding the stored value must give what Docker
        // gets by expanding the raw text.
        let raws = [
            "plain",
            "\"double $A quoted\"",
            "'single $A quoted'",
            "$A\"B\"",
            "\"$\"A",
            "'$'{A}",
            "a\\ b\\\\c",
            "${A:-'x y'}z",
            "${UNSET:-\"}\"}",
            "'$$'",
            "\"\\q\"",
        ];
        let lookup = env(&[("A", "va"), ("AB", "wrong"), ("$", "pid")]);
        for raw in raws {
            let stored = unquote(raw, '\\').expect("valid");
            assert_eq!(expand(&stored, '\\', &lookup), expand(raw, '\\', &lookup), "raw {raw:?} stored as {stored:?}");
        }
        assert_eq!(unquote("'unterminated", '\\').map_err(|e| e.contains("single-quote")), Err(true));
    }

    #[test]
    fn expand_uses_defaults_for_unset_or_empty_variables() {
        let lookup = env(&[("HOME", "/home/me"), ("EMPTY", "")]);
        assert_eq!(expand("${HOME:-/root}/x", '\\', &lookup), "/home/me/x");
        assert_eq!(expand("${NOPE:-/root}/x", '\\', &lookup), "/root/x");
        assert_eq!(expand("${EMPTY:-/root}/x", '\\', &lookup), "/root/x");
        assert_eq!(expand("${NOPE:-$HOME/y}", '\\', &lookup), "/home/me/y");
    }

    #[test]
    fn expand_concatenates_adjacent_variables() {
        let lookup = env(&[("A", "foo"), ("B", "bar")]);
        assert_eq!(expand("$A$B", '\\', &lookup), "foobar");
        assert_eq!(expand("${A}_$B.txt", '\\', &lookup), "foo_bar.txt");
        assert_eq!(expand("$A_$B", '\\', &lookup), "bar", "A_ is one name");
    }

    #[test]
    fn expand_keeps_escaped_and_single_quoted_dollars_literal() {
        let lookup = env(&[("A", "foo")]);
        assert_eq!(expand("\\$A", '\\', &lookup), "$A");
        assert_eq!(expand("`$A", '`', &lookup), "$A");
        assert_eq!(expand("'$A'", '\\', &lookup), "$A");
        assert_eq!(expand("\"$A and \\$A\"", '\\', &lookup), "foo and $A");
        assert_eq!(expand("a\\ b", '\\', &lookup), "a b");
        assert_eq!(expand("C:\\dir", '`', &lookup), "C:\\dir");
        assert_eq!(expand("cost: $", '\\', &lookup), "cost: $");
    }

    #[test]
    fn expand_plus_gives_the_word_only_when_the_variable_is_set() {
        let lookup = env(&[("A", "1"), ("EMPTY", "")]);
        assert_eq!(expand("${A:+yes}", '\\', &lookup), "yes");
        assert_eq!(expand("${EMPTY:+yes}", '\\', &lookup), "");
        assert_eq!(expand("${NOPE:+yes}", '\\', &lookup), "");
    }

    #[test]
    fn expand_turns_unknown_variables_into_nothing() {
        let lookup = env(&[]);
        assert_eq!(expand("/opt/$NOPE/bin", '\\', &lookup), "/opt//bin");
        assert_eq!(expand("${NOPE}x", '\\', &lookup), "x");
        assert_eq!(expand("$1$@", '\\', &lookup), "");
    }

    #[test]
    fn hostile_nesting_is_refused_instead_of_overflowing_the_stack() {
        let deep = format!("{}x{}", "${A:-".repeat(10_000), "}".repeat(10_000));
        assert_eq!(expand(&deep, '\\', &env(&[])), deep);
        let shallow = format!("{}x{}", "${A:-".repeat(10), "}".repeat(10));
        assert_eq!(expand(&shallow, '\\', &env(&[])), "x");
        let onbuilds = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(100_000));
        assert_eq!(error(&onbuilds).message, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    }

    #[test]
    fn expand_returns_what_docker_rejects_unchanged() {
        let lookup = env(&[("A", "1")]);
        for word in ["${A-default}", "${A", "${}", "\"open", "${A:?err}", "${A:-x"] {
            assert_eq!(expand(word, '\\', &lookup), word);
        }
    }
}
