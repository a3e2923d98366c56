//! The shell patterns of `${VAR#pattern}`, `${VAR%pattern}` and `${VAR/pattern/replacement}`,
//! as BuildKit's shell lexer matches them (`convertShellPatternToRegex`): `*` and `?`, `\`
//! escaping, no bracket expressions.

use regex::Regex;

/// BuildKit's `convertShellPatternToRegex`.
fn to_regex(pattern: &str, greedy: bool, anchored: bool) -> Result<Regex, String> {
    let mut out = String::with_capacity(pattern.len() + 4);
    if anchored {
        out.push('^');
    }
    let star = if greedy { ".*" } else { ".*?" };
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => out.push_str(star),
            '?' => out.push('.'),
            '\\' => {
                // `}` and `/` are escaped only to end up in the pattern.
                if matches!(chars.peek(), Some('}' | '/')) {
                    continue;
                }
                match chars.next() {
                    Some(escaped @ ('*' | '?' | '\\')) => {
                        out.push('\\');
                        out.push(escaped);
                    }
                    Some(other) => return Err(format!("invalid escape '\\{other}'")),
                    None => return Err("invalid escape '\\'".to_string()),
                }
            }
            '[' | ']' | '{' | '}' | '.' | '+' | '(' | ')' | '|' | '^' | '$' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    Regex::new(&out).map_err(|e| e.to_string())
}

fn invalid(pattern: &str, error: String) -> String {
    format!("invalid pattern ({pattern}) in substitution: {error}")
}

/// `${VAR#pattern}` (`greedy`: `##`): `value` without the prefix the pattern matches.
pub(super) fn trim_prefix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let re = to_regex(pattern, greedy, true).map_err(|e| invalid(pattern, e))?;
    Ok(match re.find(value) {
        Some(found) => value[found.end()..].to_string(),
        None => value.to_string(),
    })
}

/// `${VAR%pattern}` (`greedy`: `%%`): `value` without the suffix the pattern matches, found
/// as a prefix of both reversed.
pub(super) fn trim_suffix(pattern: &str, value: &str, greedy: bool) -> Result<String, String> {
    let reversed_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pattern), &reversed_value, greedy)?;
    Ok(trimmed.chars().rev().collect())
}

/// `${VAR/pattern/replacement}`, `${VAR//pattern/replacement}` (`all`; there the replacement's
/// `$1` and `${name}` name groups, as in Go's `ReplaceAllString`).
pub(super) fn replace(pattern: &str, replacement: &str, value: &str, all: bool) -> Result<String, String> {
    let re = to_regex(pattern, true, false).map_err(|e| invalid(pattern, e))?;
    if all {
        return Ok(re.replace_all(value, replacement).into_owned());
    }
    Ok(match re.find(value) {
        Some(found) => format!("{}{replacement}{}", &value[..found.start()], &value[found.end()..]),
        None => value.to_string(),
    })
}

/// The pattern reversed, an escape staying before the character it escapes.
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = vec![' '; chars.len()];
    let last = chars.len().saturating_sub(1);
    let mut i = 0;
    while i < chars.len() {
        let at = last - i;
        if chars[i] == '\\' && i != last {
            out[at - 1] = chars[i];
            out[at] = chars[i + 1];
            i += 2;
        } else {
            out[at] = chars[i];
            i += 1;
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_suffixes_are_trimmed_shortest_or_longest() {
        assert_eq!(trim_prefix("*/", "a/b/c", false), Ok("b/c".to_string()));
        assert_eq!(trim_prefix("*/", "a/b/c", true), Ok("c".to_string()));
        assert_eq!(trim_suffix("/*", "a/b/c", false), Ok("a/b".to_string()));
        assert_eq!(trim_suffix("/*", "a/b/c", true), Ok("a".to_string()));
        assert_eq!(trim_suffix(".tar.gz", "app.tar.gz", false), Ok("app".to_string()));
        assert_eq!(trim_prefix("v", "1.2", false), Ok("1.2".to_string()));
        assert_eq!(trim_prefix("a\\*", "a*b", false), Ok("b".to_string()));
        assert_eq!(trim_suffix("\\*b", "a*b", false), Ok("a".to_string()));
        assert_eq!(trim_prefix("\\q", "x", false).map_err(|e| e.contains("invalid escape")), Err(true));
    }

    #[test]
    fn replacements_take_the_first_or_every_match() {
        assert_eq!(replace("o", "0", "foo", false), Ok("f0o".to_string()));
        assert_eq!(replace("o", "0", "foo", true), Ok("f00".to_string()));
        assert_eq!(replace("?.", "-", "a.b.c", true), Ok("--c".to_string()));
        assert_eq!(replace("?.", "-", "a.b.c", false), Ok("-b.c".to_string()));
        assert_eq!(replace("x", "y", "abc", false), Ok("abc".to_string()));
    }

    #[test]
    fn escapes_stay_with_their_character_when_reversed() {
        assert_eq!(reverse_pattern("a\\*c"), "c\\*a");
        assert_eq!(reverse_pattern(""), "");
    }
}
