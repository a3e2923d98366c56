//! A .dockerignore pattern as moby's patternmatcher matches it: a plain string comparison when
//! it can (exact, prefix, suffix), else the Go regular expression it builds from the pattern,
//! read with Go's regexp grammar and re-written for the `regex` crate.

use regex::Regex;

use super::Kind;

/// patternmatcher's `Pattern.compile`: classifies the pattern and, when needed, builds the
/// Go regexp it would use, then translates that for the `regex` crate.
pub(super) fn compile(pattern: &str) -> Result<Kind, String> {
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Regexp,
    }
    let mut go_re = String::from("^");
    let mut detected = Detected::Exact;
    let mut chars = pattern.chars().peekable();
    // Go's text/scanner silently skips a byte order mark at the very start.
    if chars.peek() == Some(&'\u{feff}') {
        chars.next();
    }
    let mut i = 0;
    while let Some(ch) = chars.next() {
        match ch {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                // `**/` is treated as `**`.
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    if detected == Detected::Exact {
                        detected = Detected::Prefix;
                    } else {
                        go_re.push_str(".*");
                        detected = Detected::Regexp;
                    }
                } else {
                    go_re.push_str("(.*/)?");
                    detected = Detected::Regexp;
                }
                if i == 0 {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                go_re.push_str("[^/]*");
                detected = Detected::Regexp;
            }
            '?' => {
                go_re.push_str("[^/]");
                detected = Detected::Regexp;
            }
            '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$' => {
                go_re.push('\\');
                go_re.push(ch);
            }
            '\\' => match chars.next() {
                Some(next) => {
                    go_re.push('\\');
                    go_re.push(next);
                    detected = Detected::Regexp;
                }
                None => go_re.push('\\'),
            },
            '[' | ']' => {
                go_re.push(ch);
                detected = Detected::Regexp;
            }
            _ => go_re.push(ch),
        }
        i += 1;
    }
    Ok(match detected {
        Detected::Exact => Kind::Exact,
        Detected::Prefix => Kind::Prefix,
        Detected::Suffix => Kind::Suffix,
        Detected::Regexp => {
            go_re.push('$');
            // Docker reports these as "syntax error in pattern"; say why as well.
            let rust_re = go_regexp::translate(&go_re)
                .map_err(|e| format!("syntax error in pattern (as the Go regexp `{go_re}`: {e})"))?;
            let re = Regex::new(&rust_re)
                .map_err(|e| format!("syntax error in pattern (as the Go regexp `{go_re}`: {e})"))?;
            Kind::Regexp(re)
        }
    })
}

/// Reads a regexp with Go's `regexp/syntax` rules (Perl flags, as `regexp.Compile` uses) and
/// writes the same language in the `regex` crate's syntax. Only what patternmatcher can
/// produce needs to be right, but errors follow Go's parser so bad patterns fail as in Docker.
mod go_regexp {
    /// ASCII ranges of Go's `\d`, `\s`, `\w` and POSIX classes.
    const DIGIT: &[(u32, u32)] = &[(0x30, 0x39)];
    const SPACE_PERL: &[(u32, u32)] = &[(0x09, 0x0a), (0x0c, 0x0d), (0x20, 0x20)];
    const WORD: &[(u32, u32)] = &[(0x30, 0x39), (0x41, 0x5a), (0x5f, 0x5f), (0x61, 0x7a)];

    fn posix(name: &str) -> Option<&'static [(u32, u32)]> {
        Some(match name {
            "alnum" => &[(0x30, 0x39), (0x41, 0x5a), (0x61, 0x7a)],
            "alpha" => &[(0x41, 0x5a), (0x61, 0x7a)],
            "ascii" => &[(0x00, 0x7f)],
            "blank" => &[(0x09, 0x09), (0x20, 0x20)],
            "cntrl" => &[(0x00, 0x1f), (0x7f, 0x7f)],
            "digit" => DIGIT,
            "graph" => &[(0x21, 0x7e)],
            "lower" => &[(0x61, 0x7a)],
            "print" => &[(0x20, 0x7e)],
            "punct" => &[(0x21, 0x2f), (0x3a, 0x40), (0x5b, 0x60), (0x7b, 0x7e)],
            "space" => &[(0x09, 0x0d), (0x20, 0x20)],
            "upper" => &[(0x41, 0x5a)],
            "word" => WORD,
            "xdigit" => &[(0x30, 0x39), (0x41, 0x46), (0x61, 0x66)],
            _ => return None,
        })
    }

    /// Unicode general categories Go knows (`unicode.Categories`).
    const CATEGORIES: &[&str] = &[
        "C", "Cc", "Cf", "Co", "Cs", "L", "Ll", "Lm", "Lo", "Lt", "Lu", "M", "Mc", "Me", "Mn", "N", "Nd", "Nl", "No",
        "P", "Pc", "Pd", "Pe", "Pf", "Pi", "Po", "Ps", "S", "Sc", "Sk", "Sm", "So", "Z", "Zl", "Zp", "Zs",
    ];

    /// A `regex` class item (usable inside `[...]`) for ranges, negated if asked.
    fn ranges_item(ranges: &[(u32, u32)], negated: bool) -> Result<String, String> {
        let mut body = String::new();
        for &(lo, hi) in ranges {
            body.push_str(&char_escape(lo)?);
            if hi != lo {
                body.push('-');
                body.push_str(&char_escape(hi)?);
            }
        }
        Ok(if negated { format!("[^{body}]") } else { body })
    }

    fn char_escape(c: u32) -> Result<String, String> {
        match char::from_u32(c) {
            Some(_) => Ok(format!("\\x{{{c:x}}}")),
            None => Err(format!("invalid character U+{c:04X}")),
        }
    }

    fn literal(out: &mut String, c: u32) -> Result<(), String> {
        match char::from_u32(c) {
            Some(ch) if ch.is_ascii_alphanumeric() => out.push(ch),
            _ => out.push_str(&char_escape(c)?),
        }
        Ok(())
    }

    /// `\pX` / `\PX` / `\p{Name}` at `s[i]` (`s[i] == '\\'`): the class item and the next index.
    fn unicode_class(s: &[char], i: usize) -> Result<(String, usize), String> {
        let mut negated = s[i + 1] == 'P';
        let (mut name, next): (String, usize) = match s.get(i + 2) {
            Some('{') => {
                let end = s[i..].iter().position(|&c| c == '}').map(|p| p + i);
                match end {
                    Some(end) => (s[i + 3..end].iter().collect(), end + 1),
                    None => return Err("invalid character class range".to_string()),
                }
            }
            Some(&c) => (c.to_string(), i + 3),
            None => (String::new(), i + 2),
        };
        if let Some(rest) = name.strip_prefix('^') {
            negated = !negated;
            name = rest.to_string();
        }
        let sign = if negated { 'P' } else { 'p' };
        let item = if name == "Any" {
            ranges_item(&[(0, 0x10ffff)], negated)?
        } else if name == "C" {
            // Go's C has no unassigned code points (Cn), unlike the regex crate's.
            let body = r"\p{Cc}\p{Cf}\p{Co}";
            if negated {
                format!("[^{body}]")
            } else {
                body.to_string()
            }
        } else if name == "Cs" {
            // Surrogates are never in a Rust string.
            ranges_item(&[(0, 0x10ffff)], !negated)?
        } else if CATEGORIES.contains(&name.as_str())
            || (!name.is_empty() && name.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
        {
            // Categories, and script names, which the regex crate knows too.
            format!("\\{sign}{{{name}}}")
        } else {
            return Err(format!("invalid character class range: `\\{sign}{name}`"));
        };
        Ok((item, next))
    }

    /// `\d`, `\D`, `\s`, `\S`, `\w`, `\W` at `s[i]`, ASCII-only as in Go.
    fn perl_class(s: &[char], i: usize) -> Option<String> {
        let (ranges, negated) = match s.get(i + 1)? {
            'd' => (DIGIT, false),
            'D' => (DIGIT, true),
            's' => (SPACE_PERL, false),
            'S' => (SPACE_PERL, true),
            'w' => (WORD, false),
            'W' => (WORD, true),
            _ => return None,
        };
        ranges_item(ranges, negated).ok()
    }

    /// Go's `parseEscape` at `s[i]` (`s[i] == '\\'`): one character and the next index.
    fn escape(s: &[char], i: usize) -> Result<(u32, usize), String> {
        let Some(&c) = s.get(i + 1) else {
            return Err("trailing backslash at end of expression".to_string());
        };
        let mut t = i + 2;
        let bad = || Err(format!("invalid escape sequence: `\\{c}`"));
        let is_octal = |c: Option<&char>| matches!(c, Some('0'..='7'));
        match c {
            c if c.is_ascii() && !c.is_ascii_alphanumeric() => Ok((c as u32, t)),
            '1'..='7' if !is_octal(s.get(t)) => bad(), // a backreference: unsupported
            '0'..='7' => {
                let mut r = c as u32 - '0' as u32;
                for _ in 1..3 {
                    match s.get(t) {
                        Some(&d) if is_octal(Some(&d)) => {
                            r = r * 8 + (d as u32 - '0' as u32);
                            t += 1;
                        }
                        _ => break,
                    }
                }
                Ok((r, t))
            }
            'x' => {
                let Some(&first) = s.get(t) else {
                    return bad();
                };
                t += 1;
                if first == '{' {
                    let mut r: u32 = 0;
                    let mut digits = 0;
                    loop {
                        let Some(&d) = s.get(t) else {
                            return bad();
                        };
                        t += 1;
                        if d == '}' {
                            break;
                        }
                        let Some(v) = d.to_digit(16) else {
                            return bad();
                        };
                        r = r * 16 + v;
                        if r > 0x10ffff {
                            return bad();
                        }
                        digits += 1;
                    }
                    return if digits == 0 { bad() } else { Ok((r, t)) };
                }
                let second = s.get(t).copied();
                t += 1;
                match (first.to_digit(16), second.and_then(|d| d.to_digit(16))) {
                    (Some(x), Some(y)) => Ok((x * 16 + y, t)),
                    _ => bad(),
                }
            }
            'a' => Ok((7, t)),
            'f' => Ok((12, t)),
            'n' => Ok((10, t)),
            'r' => Ok((13, t)),
            't' => Ok((9, t)),
            'v' => Ok((11, t)),
            _ => bad(),
        }
    }

    /// One class character (Go's `parseClassChar`).
    fn class_char(s: &[char], i: usize) -> Result<(u32, usize), String> {
        match s.get(i) {
            None => Err("missing closing ]".to_string()),
            Some('\\') => escape(s, i),
            Some(&c) => Ok((c as u32, i + 1)),
        }
    }

    /// A bracket expression at `s[i]` (Go's `parseClass`): a `regex` class and the next index.
    fn class(s: &[char], i: usize) -> Result<(String, usize), String> {
        let mut t = i + 1;
        let negated = s.get(t) == Some(&'^');
        if negated {
            t += 1;
        }
        let mut items = String::new();
        let mut first = true;
        loop {
            match s.get(t) {
                None => return Err("missing closing ]".to_string()),
                Some(']') if !first => break,
                _ => {}
            }
            first = false;
            // POSIX `[:name:]`; Go looks for the closing `:]` anywhere further on.
            if s.len() > t + 2 && s[t] == '[' && s[t + 1] == ':' {
                if let Some(end) = s[t + 2..].windows(2).position(|w| w == [':', ']']).map(|p| p + t + 2) {
                    let name: String = s[t + 2..end].iter().collect();
                    let (name, neg) = match name.strip_prefix('^') {
                        Some(rest) => (rest.to_string(), true),
                        None => (name, false),
                    };
                    let ranges = posix(&name).ok_or_else(|| format!("invalid character class range: `[:{name}:]`"))?;
                    items.push_str(&ranges_item(ranges, neg)?);
                    t = end + 2;
                    continue;
                }
            }
            if s[t] == '\\' && matches!(s.get(t + 1), Some('p') | Some('P')) {
                let (item, next) = unicode_class(s, t)?;
                items.push_str(&item);
                t = next;
                continue;
            }
            if s[t] == '\\' {
                if let Some(item) = perl_class(s, t) {
                    items.push_str(&item);
                    t += 2;
                    continue;
                }
            }
            let (lo, next) = class_char(s, t)?;
            t = next;
            let mut hi = lo;
            if s.len() >= t + 2 && s[t] == '-' && s[t + 1] != ']' {
                let (h, next) = class_char(s, t + 1)?;
                if h < lo {
                    return Err("invalid character class range".to_string());
                }
                hi = h;
                t = next;
            }
            items.push_str(&ranges_item(&[(lo, hi)], false)?);
        }
        let caret = if negated { "^" } else { "" };
        Ok((format!("[{caret}{items}]"), t + 1))
    }

    /// Translates a whole Go regexp.
    pub fn translate(re: &str) -> Result<String, String> {
        let s: Vec<char> = re.chars().collect();
        let mut out = String::new();
        // Where each open group starts in `out`.
        let mut groups: Vec<usize> = Vec::new();
        // Where the item a repetition would apply to starts in `out`.
        let mut atom: Option<usize> = None;
        let mut last_was_repeat = false;
        let mut i = 0;
        while i < s.len() {
            let c = s[i];
            let mut repeat = false;
            match c {
                '(' => {
                    // patternmatcher escapes `(`, so only its own `(.*/)?` gets here.
                    if s.get(i + 1) == Some(&'?') {
                        return Err("unsupported group flags".to_string());
                    }
                    groups.push(out.len());
                    out.push('(');
                    atom = None;
                    i += 1;
                }
                ')' => {
                    let start = groups.pop().ok_or_else(|| "unexpected )".to_string())?;
                    out.push(')');
                    atom = Some(start);
                    i += 1;
                }
                '|' => {
                    out.push('|');
                    atom = None;
                    i += 1;
                }
                '^' | '$' | '.' => {
                    atom = Some(out.len());
                    out.push(c);
                    i += 1;
                }
                '[' => {
                    let (class, next) = class(&s, i)?;
                    atom = Some(out.len());
                    out.push_str(&class);
                    i = next;
                }
                '*' | '+' | '?' => {
                    let mut op = c.to_string();
                    i += 1;
                    if s.get(i) == Some(&'?') {
                        op.push('?');
                        i += 1;
                    }
                    if last_was_repeat {
                        return Err(format!("invalid nested repetition operator: `{op}`"));
                    }
                    let start = atom.ok_or_else(|| format!("missing argument to repetition operator: `{op}`"))?;
                    out.insert_str(start, "(?:");
                    out.push(')');
                    out.push_str(&op);
                    repeat = true;
                }
                '\\' => {
                    let start = out.len();
                    match s.get(i + 1) {
                        Some('A') => out.push_str(r"\A"),
                        Some('z') => out.push_str(r"\z"),
                        Some('b') => out.push_str(r"(?-u:\b)"),
                        Some('B') => out.push_str(r"(?-u:\B)"),
                        Some('C') => return Err(r"invalid escape sequence: `\C`".to_string()),
                        Some('Q') => {
                            // Everything up to `\E` (or the end) is literal.
                            let body = i + 2;
                            let end = s[body..].windows(2).position(|w| w == ['\\', 'E']).map(|p| p + body);
                            for &ch in &s[body..end.unwrap_or(s.len())] {
                                atom = Some(out.len());
                                literal(&mut out, ch as u32)?;
                            }
                            i = end.map_or(s.len(), |e| e + 2);
                            last_was_repeat = false;
                            continue;
                        }
                        Some('p') | Some('P') => {
                            let (item, next) = unicode_class(&s, i)?;
                            out.push('[');
                            out.push_str(&item);
                            out.push(']');
                            atom = Some(start);
                            i = next;
                            last_was_repeat = false;
                            continue;
                        }
                        _ => {
                            if let Some(item) = perl_class(&s, i) {
                                out.push('[');
                                out.push_str(&item);
                                out.push(']');
                            } else {
                                let (ch, next) = escape(&s, i)?;
                                literal(&mut out, ch)?;
                                atom = Some(start);
                                i = next;
                                last_was_repeat = false;
                                continue;
                            }
                        }
                    }
                    atom = Some(start);
                    i += 2;
                }
                _ => {
                    // Includes `{`, `}` and `]`: patternmatcher escapes braces, and Go takes a
                    // lone `]` literally.
                    atom = Some(out.len());
                    literal(&mut out, c as u32)?;
                    i += 1;
                }
            }
            last_was_repeat = repeat;
        }
        if !groups.is_empty() {
            return Err("missing closing )".to_string());
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::dockerignore::tests::{excluded, ignore};

    #[test]
    fn star_does_not_cross_directories() {
        assert!(excluded("*.md", "README.md"));
        assert!(!excluded("*.md", "docs/guide.md"));
        assert!(excluded("*/*.md", "docs/guide.md"));
        assert!(!excluded("*/*.md", "docs/a/guide.md"));
    }

    #[test]
    fn question_mark_matches_one_character_but_not_a_slash() {
        let ig = ignore("file?.txt\na?b");
        assert!(ig.is_excluded("file1.txt"));
        assert!(ig.is_excluded("fileé.txt"), "? is one character, not one byte");
        assert!(!ig.is_excluded("file10.txt"));
        assert!(!ig.is_excluded("file.txt"));
        assert!(!ig.is_excluded("a/b"));
    }

    #[test]
    fn character_classes_take_ranges_and_caret_negation() {
        let ig = ignore("log[0-9].txt\nx[^ab]");
        assert!(ig.is_excluded("log7.txt"));
        assert!(!ig.is_excluded("logx.txt"));
        assert!(ig.is_excluded("xc"));
        assert!(!ig.is_excluded("xa"));
        assert!(!ig.is_excluded("x/"), "a negated class never matches the separator here");
    }

    #[test]
    fn bang_in_a_class_is_a_literal_as_in_go() {
        // Go's filepath.Match and regexp only negate with `^`: `[!a]` is the set {!, a}.
        let ig = ignore("x[!a]");
        assert!(ig.is_excluded("x!"));
        assert!(ig.is_excluded("xa"));
        assert!(!ig.is_excluded("xb"));
    }

    #[test]
    fn backslash_escapes_a_glob_character() {
        let ig = ignore(r"\*.txt");
        assert!(ig.is_excluded("*.txt"));
        assert!(!ig.is_excluded("a.txt"));
    }

    #[test]
    fn regexp_characters_are_literal() {
        let ig = ignore("a+b(c)|{d}$.txt");
        assert!(ig.is_excluded("a+b(c)|{d}$.txt"));
        assert!(!ig.is_excluded("aab(c)|{d}$.txt"));
        assert!(excluded("a.c", "a.c"));
        assert!(!excluded("a.c", "abc"));
    }

    #[test]
    fn posix_classes_work_because_docker_hands_brackets_to_go_regexp() {
        let ig = ignore("v[[:digit:]]");
        assert!(ig.is_excluded("v1"));
        assert!(!ig.is_excluded("vx"));
        assert!(!ig.is_excluded("v1]"));
    }

    #[test]
    fn star_inside_brackets_follows_dockers_regexp_not_globbing() {
        // `[a*]` becomes the Go regexp `^[a[^/]*]$`: a class {a, [, ^, /}, repeated, then `]`.
        let ig = ignore("[a*]");
        assert!(ig.is_excluded("]"));
        assert!(ig.is_excluded("aa]"));
        assert!(!ig.is_excluded("a"));
    }

    #[test]
    fn pattern_is_anchored_at_both_ends() {
        let ig = ignore("foo");
        assert!(ig.is_excluded("foo"));
        assert!(!ig.is_excluded("xfoo"));
        assert!(!ig.is_excluded("foo.txt"));
        assert!(!ig.is_excluded("a/foo"));
    }

    #[test]
    fn double_star_matches_zero_segments() {
        let ig = ignore("**/foo\na/**/b");
        for path in ["foo", "x/foo", "x/y/foo", "a/b", "a/x/b", "a/x/y/b"] {
            assert!(ig.is_excluded(path), "{path}");
        }
        assert!(!ig.is_excluded("xfoo"));
        assert!(!ig.is_excluded("a/xb"));
    }

    #[test]
    fn trailing_double_star_excludes_contents_but_not_the_directory() {
        let ig = ignore("cache/**");
        assert!(!ig.is_excluded("cache"));
        assert!(ig.is_excluded("cache/x"));
        assert!(ig.is_excluded("cache/x/y"));
        assert!(!ig.is_excluded("cachex"));
        assert!(ig.may_descend("cache"));
    }

    #[test]
    fn leading_double_star_without_slash_is_a_plain_suffix() {
        // patternmatcher's suffix fast path: `**.txt` ends-with `.txt`, across directories.
        let ig = ignore("**.txt");
        assert!(ig.is_excluded("a.txt"));
        assert!(ig.is_excluded("a/b/c.txt"));
        assert!(!ig.is_excluded("a/b/c.md"));
    }

    #[test]
    fn leading_double_star_before_a_name_is_a_plain_suffix_too() {
        let ig = ignore("**foo");
        for path in ["foo", "barfoo", "a/foo", "a/xfoo"] {
            assert!(ig.is_excluded(path), "{path}");
        }
        assert!(!ig.is_excluded("foox"));
    }

    #[test]
    fn backslash_letters_are_go_regexp_escapes() {
        // Docker passes `\x` to Go's regexp: `\a` is BEL, `\d` a digit, `\x41` and `\101` are `A`.
        assert!(!excluded(r"\a.txt", "a.txt"));
        assert!(excluded(r"\a.txt", "\u{7}.txt"));
        assert!(excluded(r"file\d.txt", "file1.txt"));
        assert!(!excluded(r"file\d.txt", "filed.txt"));
        assert!(excluded(r"\x41.txt", "A.txt"));
        assert!(excluded(r"\101.txt", "A.txt"));
        assert!(excluded(r"v\w", "v_"));
        assert!(!excluded(r"v\w", "v-"));
    }

    #[test]
    fn double_star_alone_excludes_everything() {
        let ig = ignore("**");
        assert!(ig.is_excluded("a"));
        assert!(ig.is_excluded("a/b/c"));
        assert!(!ig.is_excluded(""));
    }

    #[test]
    fn go_regexp_translation() {
        let t = |s: &str| go_regexp::translate(s);
        assert!(t(r"^[[]$").is_ok(), "a `[` inside a class is literal in Go");
        assert!(t(r"^a**$").is_err());
        assert!(t(r"*a$").is_err());
        assert!(t(r"^*a$").is_ok(), "Go repeats an anchor without complaint");
        assert!(t(r"^\x4$").is_err());
        assert!(t(r"^\101$").is_ok());
        let re = Regex::new(&t(r"^\Qa.b$").unwrap()).unwrap();
        assert!(re.is_match("a.b$"));
        assert!(!re.is_match("axb"));
    }
}
