//! The `.env` file, in compose's dotenv format (compose-go's `dotenv` parser): `KEY=VALUE`
//! or `KEY: VALUE`, `export KEY=VALUE`, `#` comments, a bare `KEY` taking the shell's value;
//! unquoted values trimmed, cut at ` #`, interpolated; single-quoted values literal;
//! double-quoted values with backslash escapes, then interpolated. Quoted values may span
//! lines. Variables resolve against the shell first, then the keys above in the file.

use std::collections::BTreeMap;

use super::interpolate::{substitute, InterpolationError};

/// Why a .env file cannot be read, at its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct DotenvError {
    pub line: usize,
    pub message: String,
}

/// The variables `text` sets; `shell` is the process environment.
pub(super) fn parse(text: &str, shell: &BTreeMap<String, String>) -> Result<BTreeMap<String, String>, DotenvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser { src: text, pos: 0 };
    let mut out = BTreeMap::new();
    loop {
        parser.skip_blank_lines_and_comments();
        if parser.pos >= text.len() {
            return Ok(out);
        }
        let (key, inherited) = parser.key()?;
        let value = if inherited {
            shell.get(&key).cloned()
        } else {
            Some(parser.value(&|name: &str| shell.get(name).or_else(|| out.get(name)).cloned())?)
        };
        // A line such as `=x` names nothing; compose keeps it under an empty name, unused.
        if let (Some(value), false) = (value, key.is_empty()) {
            out.insert(key, value);
        }
    }
}

/// A space that is not a line break (compose's `isSpace`).
fn is_space(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}')
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn error(&self, at: usize, message: String) -> DotenvError {
        DotenvError { line: 1 + self.src[..at.min(self.src.len())].matches('\n').count(), message }
    }

    fn skip_blank_lines_and_comments(&mut self) {
        loop {
            let rest = self.rest();
            let text = rest.trim_start();
            self.pos += rest.len() - text.len();
            if !text.starts_with('#') {
                return;
            }
            self.pos += text.find('\n').unwrap_or(text.len());
        }
    }

    /// The variable's name, and whether it stands alone (`KEY`, taking the shell's value).
    fn key(&mut self) -> Result<(String, bool), DotenvError> {
        let start = self.pos;
        if let Some(after) = self.rest().strip_prefix("export") {
            let trimmed = after.trim_start_matches(is_space);
            if trimmed.len() < after.len() {
                self.pos += self.rest().len() - trimmed.len();
            }
        }
        let rest = self.rest();
        let mut end = None;
        for (i, c) in rest.char_indices() {
            match c {
                '=' | ':' | '\n' => {
                    end = Some((i, c));
                    break;
                }
                '_' | '.' | '-' | '[' | ']' => {}
                c if is_space(c) || c.is_alphanumeric() => {}
                c => {
                    let line = rest.lines().next().unwrap_or_default();
                    return Err(self.error(start, format!("unexpected character {c:?} in variable name {line:?}")));
                }
            }
        }
        let (key, inherited, next) = match end {
            Some((i, c)) => (&rest[..i], c == '\n', i + 1),
            None => (rest, true, rest.len()),
        };
        let key = key.trim_end();
        if key.contains(' ') {
            return Err(self.error(start, format!("the variable name {key:?} contains a space")));
        }
        self.pos += next;
        Ok((key.to_string(), inherited))
    }

    fn value(&mut self, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, DotenvError> {
        let rest = self.rest();
        let trimmed = rest.trim_start_matches(is_space);
        self.pos += rest.len() - trimmed.len();
        let start = self.pos;
        let interpolated = |parser: &Parser, text: &str| {
            substitute(text, lookup).map_err(|e| match e {
                InterpolationError::Invalid { fragment } => {
                    parser.error(start, format!("invalid interpolation format: {fragment:?}"))
                }
                InterpolationError::Required { var, message } => {
                    parser.error(start, format!("required variable {var} is missing a value: {message}"))
                }
            })
        };
        let quote = match trimmed.chars().next() {
            Some(q @ ('"' | '\'')) => q,
            _ => {
                let line_end = trimmed.find('\n');
                let line = &trimmed[..line_end.unwrap_or(trimmed.len())];
                self.pos += line_end.map_or(line.len(), |i| i + 1);
                let value = line.split(" #").next().unwrap_or_default().trim_end();
                return interpolated(self, value);
            }
        };
        // Inside quotes a backslash keeps what follows, and the quote it escapes loses it.
        let mut chars = String::new();
        let mut escaped = false;
        for (i, c) in trimmed.char_indices().skip(1) {
            if c != quote {
                if !escaped && c == '\\' {
                    escaped = true;
                    continue;
                }
                if escaped {
                    escaped = false;
                    chars.push('\\');
                }
                chars.push(c);
                continue;
            }
            if escaped {
                escaped = false;
                chars.push(c);
                continue;
            }
            self.pos += i + 1;
            if quote == '\'' {
                return Ok(chars);
            }
            return interpolated(self, &expand_escapes(&chars));
        }
        let line = trimmed.lines().next().unwrap_or_default();
        Err(self.error(start, format!("unterminated quoted value {line}")))
    }
}

/// A double-quoted value's escapes, as compose expands them: `\n \t \r \a \b \f \v \" \\`,
/// `\0` and three octal digits; `\$` stays a literal `$` through interpolation.
fn expand_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let simple = match chars.peek() {
            Some('a') => Some("\u{7}"),
            Some('b') => Some("\u{8}"),
            Some('f') => Some("\u{c}"),
            Some('n') => Some("\n"),
            Some('r') => Some("\r"),
            Some('t') => Some("\t"),
            Some('v') => Some("\u{b}"),
            Some('"') => Some("\""),
            Some('\\') => Some("\\"),
            Some('$') => Some("$$"),
            _ => None,
        };
        if let Some(replacement) = simple {
            chars.next();
            out.push_str(replacement);
            continue;
        }
        let octal: String = chars.clone().take(4).collect();
        let code = octal.strip_prefix('0').filter(|d| d.len() == 3).and_then(|d| u8::from_str_radix(d, 8).ok());
        match code {
            Some(code) => {
                chars.nth(3);
                out.push(char::from(code));
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn parsed(text: &str, shell: &[(&str, &str)]) -> BTreeMap<String, String> {
        match parse(text, &env(shell)) {
            Ok(vars) => vars,
            Err(e) => panic!("{text:?}: {e:?}"),
        }
    }

    #[test]
    fn keys_values_exports_comments_and_blank_lines() {
        let text = "# top\n\nA=1\nexport B=two\n  C = spaced value   \nD: yaml style\n\n# end\n";
        assert_eq!(parsed(text, &[]), env(&[("A", "1"), ("B", "two"), ("C", "spaced value"), ("D", "yaml style")]));
    }

    #[test]
    fn unquoted_values_lose_an_inline_comment_only_after_a_space() {
        assert_eq!(parsed("A=b # note\nB=b#c\nC=\n", &[]), env(&[("A", "b"), ("B", "b#c"), ("C", "")]));
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(parsed("A='$HOME \\n # x'\n", &[("HOME", "/h")]), env(&[("A", "$HOME \\n # x")]));
    }

    #[test]
    fn double_quotes_expand_escapes_and_variables() {
        let text = "A=\"line1\\nline2\\t\\\"q\\\" \\\\ \\$literal ${HOME}\" # after\nB=\"\\0101\"\n";
        assert_eq!(parsed(text, &[("HOME", "/h")]), env(&[("A", "line1\nline2\t\"q\" \\ $literal /h"), ("B", "A")]));
    }

    #[test]
    fn quoted_values_span_lines() {
        assert_eq!(parsed("A=\"one\ntwo\"\nB=3\n", &[]), env(&[("A", "one\ntwo"), ("B", "3")]));
    }

    #[test]
    fn variables_resolve_against_the_shell_first_then_earlier_keys() {
        let text = "BASE=from_file\nX=${BASE}/x\nY=$ONLY_FILE-${MISSING:-d}\nONLY_FILE=late\nZ=$ONLY_FILE\n";
        let vars = parsed(text, &[("BASE", "from_shell")]);
        assert_eq!(vars["X"], "from_shell/x");
        assert_eq!(vars["Y"], "-d");
        assert_eq!(vars["Z"], "late");
    }

    #[test]
    fn a_bare_key_takes_the_shell_value_or_nothing() {
        assert_eq!(
            parsed("FROM_SHELL\nNOT_SET\nLAST", &[("FROM_SHELL", "s"), ("LAST", "l")]),
            env(&[("FROM_SHELL", "s"), ("LAST", "l")])
        );
    }

    #[test]
    fn errors_name_their_line() {
        let e = parse("A=1\nB=\"open\nC=2\n", &BTreeMap::new()).err();
        assert_eq!(e.map(|e| (e.line, e.message.starts_with("unterminated quoted value"))), Some((2, true)));
        let e = parse("A=1\n\nB C=2\n", &BTreeMap::new()).err();
        assert_eq!(e.map(|e| e.line), Some(3));
        let e = parse("A=1\nB/C=2\n", &BTreeMap::new()).err();
        assert_eq!(
            e.map(|e| (e.line, e.message)),
            Some((2, "unexpected character '/' in variable name \"B/C=2\"".into()))
        );
        let e = parse("A=${B\n", &BTreeMap::new()).err();
        assert_eq!(e.map(|e| e.line), Some(1));
    }

    #[test]
    fn a_byte_order_mark_is_skipped() {
        assert_eq!(parsed("\u{feff}A=1\n", &[]), env(&[("A", "1")]));
    }
}
