//! Go's `path/filepath.Match`, the glob language of `docker build`: it matches COPY/ADD sources
//! (one path segment at a time here, as the walk lists one folder at a time), and its error
//! answer is the syntax check moby's pattern matcher puts every COPY source and .dockerignore
//! pattern through (`filepath.Match(pattern, ".")`).
//!
//! Two implementations of one language: [`glob_segment_matches`], fast, for matching; and
//! `go_match`, Go's code line for line, for the syntax check. A test holds them to the same
//! answers on every short pattern.

use std::fmt;

/// Go's `filepath.ErrBadPattern`: a pattern Go refuses (a `[` without its `]`, a class item that
/// is a bare `-` or `]`, a `\` that escapes nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

impl fmt::Display for BadPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Go's words, which `docker build` prints.
        f.write_str("syntax error in pattern")
    }
}

impl std::error::Error for BadPattern {}

/// Whether a COPY source is a pattern (else it names one path).
pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Go's verdict on `pattern`'s syntax, as moby's pattern matcher asks for it. Go checks the
/// whole pattern whatever the name, so the name asked about does not matter.
pub fn check_syntax(pattern: &str) -> Result<(), BadPattern> {
    go_match(pattern.as_bytes(), b".").map(|_| ())
}

/// Go's filepath.Match for one path segment, as `docker build` matches COPY sources: `*`, `?`,
/// `[...]` with ranges and `^` to negate (`[!a]` is `!` or `a`, as in Go), `\` escapes. A
/// malformed pattern matches nothing (the classic builder ignores Go's error the same way).
///
/// Every token but `*` matches exactly one character, so one backtrack point (the last `*`) is
/// enough: O(pattern × name), where trying every split of every `*` was exponential
/// (`COPY ****…*x` hung inference).
pub fn glob_segment_matches(pattern: &str, name: &str) -> bool {
    let Some(tokens) = glob_tokens(pattern) else { return false };
    let name: Vec<char> = name.chars().collect();
    let (mut t, mut n) = (0, 0);
    // Where the last `*` was, and how much of the name it has swallowed so far.
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match tokens.get(t) {
            Some(GlobToken::Star) => {
                star = Some((t, n));
                t += 1;
            }
            Some(token) if token.matches(name[n]) => {
                t += 1;
                n += 1;
            }
            _ => match star {
                Some((star_at, swallowed)) => {
                    star = Some((star_at, swallowed + 1));
                    t = star_at + 1;
                    n = swallowed + 1;
                }
                None => return false,
            },
        }
    }
    tokens[t..].iter().all(|token| *token == GlobToken::Star)
}

#[derive(Debug, PartialEq, Eq)]
enum GlobToken {
    Star,
    Any,
    Literal(char),
    Class { negate: bool, ranges: Vec<(char, char)> },
}

impl GlobToken {
    fn matches(&self, c: char) -> bool {
        match self {
            GlobToken::Star => true,
            GlobToken::Any => true,
            GlobToken::Literal(l) => *l == c,
            GlobToken::Class { negate, ranges } => ranges.iter().any(|(lo, hi)| *lo <= c && c <= *hi) != *negate,
        }
    }
}

/// The pattern's tokens; `None` where Go answers ErrBadPattern.
fn glob_tokens(pattern: &str) -> Option<Vec<GlobToken>> {
    let p: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            // `**` in one segment is `*`.
            '*' if tokens.last() == Some(&GlobToken::Star) => {}
            '*' => tokens.push(GlobToken::Star),
            '?' => tokens.push(GlobToken::Any),
            '\\' => {
                i += 1;
                tokens.push(GlobToken::Literal(*p.get(i)?));
            }
            '[' => {
                i += 1;
                let negate = p.get(i) == Some(&'^');
                if negate {
                    i += 1;
                }
                let mut ranges = Vec::new();
                // A `]` ends the class only after its first item.
                while p.get(i) != Some(&']') || ranges.is_empty() {
                    let lo = class_char(&p, &mut i)?;
                    let hi = if p.get(i) == Some(&'-') {
                        i += 1;
                        class_char(&p, &mut i)?
                    } else {
                        lo
                    };
                    ranges.push((lo, hi));
                }
                tokens.push(GlobToken::Class { negate, ranges });
            }
            c => tokens.push(GlobToken::Literal(c)),
        }
        i += 1;
    }
    Some(tokens)
}

/// The class item character at `p[*i]`, maybe escaped, and `i` moved past it (Go's `getEsc`).
/// A bare `-` or `]`, or nothing after it (not even the class's `]`), is an error in Go.
fn class_char(p: &[char], i: &mut usize) -> Option<char> {
    let mut c = *p.get(*i)?;
    if c == '-' || c == ']' {
        return None;
    }
    if c == '\\' {
        *i += 1;
        c = *p.get(*i)?;
    }
    *i += 1;
    (*i < p.len()).then_some(c)
}

/// Go's `path/filepath.Match` on Unix, over bytes as Go's strings are.
fn go_match(mut pattern: &[u8], mut name: &[u8]) -> Result<bool, BadPattern> {
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // Trailing `*` matches the rest unless it has a `/`.
            return Ok(!name.contains(&b'/'));
        }
        let (t, ok) = match_chunk(chunk, name)?;
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                let (t, ok) = match_chunk(chunk, &name[i + 1..])?;
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                i += 1;
            }
        }
        // Before answering false, check that the rest of the pattern is well formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Splits off leading stars and the chunk up to the next unbracketed `*`.
fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while pattern.first() == Some(&b'*') {
        pattern = &pattern[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

/// Matches one chunk at the start of `s`; keeps parsing after a mismatch to find syntax errors.
fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> Result<(&'a [u8], bool), BadPattern> {
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = 0;
                if !failed {
                    let (rune, n) = decode_rune(s);
                    r = rune;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.first() == Some(&b']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&b'-') {
                        let (h, rest) = get_esc(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    let (_, n) = decode_rune(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Err(BadPattern);
                    }
                }
                if !failed {
                    if chunk[0] != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    if failed {
        Ok((&[], false))
    } else {
        Ok((s, true))
    }
}

/// One (possibly escaped) character of a bracket expression.
fn get_esc(chunk: &[u8]) -> Result<(u32, &[u8]), BadPattern> {
    let mut chunk = chunk;
    match chunk.first() {
        None | Some(b'-') | Some(b']') => return Err(BadPattern),
        Some(b'\\') => {
            chunk = &chunk[1..];
            if chunk.is_empty() {
                return Err(BadPattern);
            }
        }
        Some(_) => {}
    }
    let (r, n) = decode_rune(chunk);
    let rest = &chunk[n..];
    if (r == 0xfffd && n == 1) || rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// Go's `utf8.DecodeRune`: (U+FFFD, 1) for a bad byte, (U+FFFD, 0) at the end.
fn decode_rune(s: &[u8]) -> (u32, usize) {
    let Some(&b0) = s.first() else {
        return (0xfffd, 0);
    };
    let len = match b0 {
        0x00..=0x7f => 1,
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return (0xfffd, 1),
    };
    match s.get(..len).and_then(|b| std::str::from_utf8(b).ok()).and_then(|t| t.chars().next()) {
        Some(c) => (c as u32, len),
        None => (0xfffd, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_segments_match_like_go() {
        assert!(glob_segment_matches("*.c", "main.c"));
        assert!(!glob_segment_matches("*.c", "main.h"));
        assert!(glob_segment_matches("ma?n.[ch]", "main.h"));
        assert!(glob_segment_matches("[^a]*", "bcd"));
        assert!(!glob_segment_matches("[^b]*", "bcd"));
        // As `docker build` copies with `COPY [!b]* /dst/` (checked on the engine): `!` is a
        // member of the class, not a negation.
        assert!(glob_segment_matches("[!b]*", "bcd"));
        assert!(glob_segment_matches("[!b]*", "!x"));
        assert!(!glob_segment_matches("[!b]*", "acd"));
        assert!(glob_segment_matches("[a-c]x", "bx"));
        assert!(glob_segment_matches("\\*", "*"));
        assert!(!glob_segment_matches("\\*", "a"));
        // A range's end may be escaped: `Z` to `]`.
        assert!(glob_segment_matches("[Z-\\]]", "]"));
        assert!(glob_segment_matches("[[]", "["));
    }

    #[test]
    fn malformed_patterns_are_the_ones_go_refuses_and_match_nothing() {
        for bad in ["[", "[a-.txt", "src[ab", "[]a]", "[-a]", "[a-]", "[a-b-c]", "[^]", "trailing\\", "[a\\"] {
            assert_eq!(check_syntax(bad), Err(BadPattern), "{bad:?}");
            assert_eq!(glob_tokens(bad), None, "{bad:?}");
            assert!(!glob_segment_matches(bad, "a"), "{bad:?}");
        }
        for good in ["[[]", "[\\]]", "\\[", "[!b]", "*", "[z-a]"] {
            assert_eq!(check_syntax(good), Ok(()), "{good:?}");
        }
        // `[^-]`: the `-` after `^` is the first item, and a bare `-` is an error in Go.
        assert_eq!(check_syntax("[^-]"), Err(BadPattern));
    }

    /// Every string over `alphabet` up to `len` characters.
    fn strings(alphabet: &[char], len: usize) -> Vec<String> {
        let mut all = vec![String::new()];
        let mut last = vec![String::new()];
        for _ in 0..len {
            last = last.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            all.extend(last.iter().cloned());
        }
        all
    }

    #[test]
    fn glob_segments_match_as_gos_own_code_does() {
        let patterns = strings(&['*', '?', '[', ']', '^', '-', '\\', 'a', 'b'], 5);
        let names = strings(&['a', 'b', '-', ']'], 3);
        for pattern in &patterns {
            let malformed = check_syntax(pattern).is_err();
            assert_eq!(glob_tokens(pattern).is_none(), malformed, "{pattern:?}");
            for name in &names {
                let go = go_match(pattern.as_bytes(), name.as_bytes());
                assert_eq!(go.is_err(), malformed, "Go's verdict on {pattern:?} does not depend on {name:?}");
                assert_eq!(glob_segment_matches(pattern, name), go.unwrap_or(false), "{pattern:?} on {name:?}");
            }
        }
    }

    #[test]
    fn many_stars_do_not_take_exponential_time() {
        // Found by the fuzzer: a COPY source of ~100 stars made inference hang.
        let stars = "*".repeat(100);
        assert!(!glob_segment_matches(&format!("{stars}x{stars}y"), &"a".repeat(200)));
        assert!(glob_segment_matches(&format!("{stars}a{stars}"), &"a".repeat(200)));
        assert!(!glob_segment_matches(&"*?".repeat(60), &"a".repeat(50)));
    }
}
