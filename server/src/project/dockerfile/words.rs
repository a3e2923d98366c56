//! Docker's shell lexer (`shell.Lex`) for the words of instruction arguments: quotes, escapes
//! and `$VAR` references, and their expansion.

use super::patterns;

/// Docker's shell-word variable expansion for instruction arguments (ENV, WORKDIR,
/// COPY/ADD, USER, ARG defaults...), i.e. BuildKit's `shell.Lex.ProcessWord`.
///
/// Supports `$VAR`, `${VAR}`, `${VAR:-word}` (word if VAR is unset or empty),
/// `${VAR-word}` (if unset), `${VAR:+word}` (word if VAR is set and non-empty),
/// `${VAR+word}` (if set), `${VAR:?message}` and `${VAR?message}` (fail if
/// unset), `${VAR#pattern}`, `${VAR##pattern}`, `${VAR%pattern}`,
/// `${VAR%%pattern}` (trim a prefix or suffix) and `${VAR/pattern/text}`,
/// `${VAR//pattern/text}` (replace); `word` may itself contain quotes and
/// variables. Single and double quotes are removed like a shell would, and the
/// file's escape character escapes the next character (`\$A` is a literal `$A`).
/// Unknown variables expand to "". `lookup` returns a variable's value in effect.
///
/// Docker fails the build on malformed input (an unterminated quote, `${`
/// without `}`, an unsupported modifier, `${VAR?}` with VAR unset); as this
/// function cannot fail, it returns such input unchanged.
///
/// A result is cut just past [`MAX_EXPANSION`] bytes (callers treat a longer one as an error).
pub fn expand(word: &str, escape: char, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    match lex_word(word, escape).and_then(|pieces| evaluate(&pieces, lookup)) {
        Ok(value) => value,
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
    /// `${NAME` op `}`, with its text as written (which lexes the same anywhere outside
    /// single quotes)
    Subst {
        name: String,
        op: Op,
        raw: String,
    },
}

/// What a `${NAME…}` does with the variable.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Op {
    /// `-word`; `:-word` when `null` (an empty value counts as unset)
    Default { null: bool, word: Vec<Piece> },
    /// `+word`, `:+word`
    Alternative { null: bool, word: Vec<Piece> },
    /// `?message`, `:?message`
    Required { null: bool, word: Vec<Piece> },
    /// `#pattern` (`##pattern` when the pattern starts with `#`)
    TrimPrefix(Vec<Piece>),
    /// `%pattern`, `%%pattern`
    TrimSuffix(Vec<Piece>),
    /// `/pattern/text`, `//pattern/text` (`all`)
    Replace { all: bool, pattern: Vec<Piece>, replacement: Vec<Piece> },
}

fn lex_word(word: &str, escape: char) -> Result<Vec<Piece>, String> {
    WordLexer::new(word, escape, true).until(None, false)
}

/// A heredoc's body as COPY/ADD expand it (BuildKit's `ExpandRaw`): one word with `\` as the
/// escape and quotes taken literally. Malformed input is returned unchanged, as by [`expand`].
pub(super) fn expand_raw(text: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    match WordLexer::new(text, '\\', false).until(None, false).and_then(|pieces| evaluate(&pieces, lookup)) {
        Ok(value) => value,
        Err(_) => text.to_string(),
    }
}

/// Removes quotes and needless escapes from an ENV/LABEL/ARG word, leaving
/// variable references for [`expand`] (`expand` of the result is what Docker
/// gets from the original).
pub(super) fn unquote(word: &str, escape: char) -> Result<String, String> {
    lex_word(word, escape)
        .map(|pieces| render(&pieces, escape))
        .map_err(|error| format!("failed to process {word:?}: {error}"))
}

/// How deep `${A:-${B:-...}}` may nest. Docker has no limit, but no real
/// Dockerfile comes close, and a limit keeps hostile input from overflowing
/// the stack.
const MAX_NESTING: usize = 64;

const NO_BRACE: &str = "syntax error: missing '}'";

struct WordLexer {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    /// current `${NAME...}` nesting
    depth: usize,
    /// quotes are processed (not for a heredoc's body)
    quotes: bool,
    /// escapes are kept in the word (patterns of `#`, `%` and `/`)
    raw_escapes: bool,
}

impl WordLexer {
    fn new(text: &str, escape: char, quotes: bool) -> Self {
        WordLexer { chars: text.chars().collect(), pos: 0, escape, depth: 0, quotes, raw_escapes: false }
    }

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
    fn until(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<Vec<Piece>, String> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.until_inner(stop);
        self.raw_escapes = saved;
        result
    }

    fn until_inner(&mut self, stop: Option<char>) -> Result<Vec<Piece>, String> {
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
                        continue;
                    }
                    if self.raw_escapes {
                        out.push(Piece::Lit(ch));
                    }
                    match self.next() {
                        Some(escaped) => out.push(Piece::Lit(escaped)),
                        // An escape at the very end is dropped (kept when raw).
                        None => break,
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
                        if self.raw_escapes {
                            out.push(Piece::Lit(c));
                        }
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

    /// A word of a `${…}`, up to `stop`; at the end of the text, BuildKit's `missing` error.
    fn nested(&mut self, stop: char, raw_escapes: bool, missing: &str) -> Result<Vec<Piece>, String> {
        if self.depth >= MAX_NESTING {
            return Err("substitutions nested too deeply".to_string());
        }
        self.depth += 1;
        let word = self.until(Some(stop), raw_escapes);
        self.depth -= 1;
        match word {
            Err(_) if self.peek().is_none() => Err(missing.to_string()),
            other => other,
        }
    }

    /// `$NAME` and the `${NAME…}` forms; a `$` that starts no name is literal.
    fn dollar(&mut self) -> Result<Piece, String> {
        let start = self.pos;
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            return Ok(if name.is_empty() { Piece::Lit('$') } else { Piece::Var(name) });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(NO_BRACE.to_string()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.name();
        let op = match self.next() {
            Some('}') => return Ok(Piece::Braced(name)),
            Some(':') => match self.next() {
                Some(op @ ('#' | '%')) => return Err(format!("unsupported modifier (:{op}) in substitution")),
                op => {
                    let word = self.nested('}', false, NO_BRACE)?;
                    match op {
                        Some('-') => Op::Default { null: true, word },
                        Some('+') => Op::Alternative { null: true, word },
                        Some('?') => Op::Required { null: true, word },
                        op => {
                            let op = op.map(String::from).unwrap_or_default();
                            return Err(format!("unsupported modifier (:{op}) in substitution"));
                        }
                    }
                }
            },
            Some('-') => Op::Default { null: false, word: self.nested('}', false, NO_BRACE)? },
            Some('+') => Op::Alternative { null: false, word: self.nested('}', false, NO_BRACE)? },
            Some('?') => Op::Required { null: false, word: self.nested('}', false, NO_BRACE)? },
            Some('#') => Op::TrimPrefix(self.nested('}', true, NO_BRACE)?),
            Some('%') => Op::TrimSuffix(self.nested('}', true, NO_BRACE)?),
            Some('/') => {
                let all = self.peek() == Some('/');
                if all {
                    self.pos += 1;
                }
                let pattern = self.nested('/', true, "syntax error: missing '/' in ${}")?;
                let replacement = self.nested('}', true, NO_BRACE)?;
                Op::Replace { all, pattern, replacement }
            }
            op => {
                let op = op.map(String::from).unwrap_or_default();
                return Err(format!("unsupported modifier ({op}) in substitution"));
            }
        };
        let raw = self.chars[start..self.pos].iter().collect();
        Ok(Piece::Subst { name, op, raw })
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

fn evaluate(pieces: &[Piece], lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
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
            Piece::Subst { name, op, .. } => out.push_str(&substitute(name, op, lookup)?),
        }
    }
    if out.len() > MAX_EXPANSION {
        let mut cut = MAX_EXPANSION + 1;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out.truncate(cut);
    }
    Ok(out)
}

fn substitute(name: &str, op: &Op, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let value = lookup(name);
    let missing = |null: bool| value.as_deref().is_none_or(|v| null && v.is_empty());
    let value_or_empty = || value.clone().unwrap_or_default();
    Ok(match op {
        Op::Default { null, word } if missing(*null) => evaluate(word, lookup)?,
        Op::Default { .. } => value_or_empty(),
        Op::Alternative { null, .. } if missing(*null) => String::new(),
        Op::Alternative { word, .. } => evaluate(word, lookup)?,
        Op::Required { null, word } if missing(*null) => {
            let message = evaluate(word, lookup)?;
            let message = match (message.is_empty(), value.is_none()) {
                (false, _) => message,
                (true, true) => "is not allowed to be unset".to_string(),
                (true, false) => "is not allowed to be empty".to_string(),
            };
            return Err(format!("{name}: {message}"));
        }
        Op::Required { .. } => value_or_empty(),
        Op::TrimPrefix(word) | Op::TrimSuffix(word) => {
            let pattern = evaluate(word, lookup)?;
            let mark = if matches!(op, Op::TrimPrefix(_)) { '#' } else { '%' };
            let (greedy, pattern) = match pattern.strip_prefix(mark) {
                Some(rest) => (true, rest),
                None => (false, pattern.as_str()),
            };
            match op {
                Op::TrimPrefix(_) => patterns::trim_prefix(pattern, &value_or_empty(), greedy)?,
                _ => patterns::trim_suffix(pattern, &value_or_empty(), greedy)?,
            }
        }
        Op::Replace { all, pattern, replacement } => {
            let pattern = evaluate(pattern, lookup)?;
            let replacement = evaluate(replacement, lookup)?;
            patterns::replace(&pattern, &replacement, &value_or_empty(), *all)?
        }
    })
}

/// Writes lexed pieces back as a word that lexes to the same pieces, escaping
/// only what would otherwise be read differently.
fn render(pieces: &[Piece], escape: char) -> String {
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
            Piece::Subst { raw, .. } => out.push_str(raw),
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
        // (The classic builder also refused `${A-default}` and `${A:?err}`; BuildKit takes them.)
        for word in ["${UNSET?err}", "${A", "${}", "\"open", "${A:#x}", "${A!}", "${A:-x", "${A/x", "${A#\\q}"] {
            assert_eq!(expand(word, '\\', &lookup), word);
        }
    }

    #[test]
    fn expand_takes_buildkit_modifiers() {
        let lookup = env(&[("A", "1"), ("EMPTY", ""), ("PATH_", "/usr/local/bin:/usr/bin"), ("FILE", "app.tar.gz")]);
        let x = |word: &str| expand(word, '\\', &lookup);
        assert_eq!((x("${A-d}"), x("${EMPTY-d}"), x("${UNSET-d}")), ("1".into(), "".into(), "d".into()));
        assert_eq!((x("${A+w}"), x("${EMPTY+w}"), x("${UNSET+w}")), ("w".into(), "w".into(), "".into()));
        assert_eq!((x("${A?}"), x("${A:?message}"), x("${EMPTY?}")), ("1".into(), "1".into(), "".into()));
        assert_eq!(x("${EMPTY:?}"), "${EMPTY:?}", "fails the build: returned unchanged");
        assert_eq!(x("${PATH_#*:}"), "/usr/bin");
        assert_eq!(x("${PATH_##*/}"), "bin");
        assert_eq!(x("${FILE%.*}"), "app.tar");
        assert_eq!(x("${FILE%%.*}"), "app");
        assert_eq!(x("${PATH_/usr/opt}"), "/opt/local/bin:/usr/bin");
        assert_eq!(x("${PATH_//usr/opt}"), "/opt/local/bin:/opt/bin");
        assert_eq!(x("${PATH_//\\//-}"), "-usr-local-bin:-usr-bin");
        assert_eq!(x("${UNSET#x}${UNSET/x/y}"), "");
        assert_eq!(x("${UNSET:-${FILE%%.*}}"), "app");
    }

    #[test]
    fn env_values_with_buildkit_modifiers_are_kept_for_expansion() {
        assert_eq!(
            only_kind("FROM a\nENV B=${A-'x y'} C=\"${FILE%.gz}\"\n"),
            InstructionKind::Env(pairs(&[("B", "${A-'x y'}"), ("C", "${FILE%.gz}")]))
        );
        let lookup = env(&[("FILE", "a.tar.gz")]);
        for raw in ["${A-'x y'}z", "\"${FILE%.gz}\"", "${FILE/./\\}}", "'${A'${A:-\"}\"}"] {
            let stored = unquote(raw, '\\').expect("valid");
            assert_eq!(expand(&stored, '\\', &lookup), expand(raw, '\\', &lookup), "raw {raw:?} stored as {stored:?}");
        }
    }
}
