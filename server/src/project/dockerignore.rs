//! Docker's `.dockerignore` rules, reimplemented to give the same answers as `docker build`.
//!
//! docker-rebuilder mirrors a build context into a container, so it must agree with Docker
//! about which files are in that context, quirks included. This follows what the Docker CLI
//! does when it makes the context for the classic builder:
//! - the ignore-file reader (`ReadAll`): comments, trimming, `filepath.Clean`, leading `/`;
//! - `moby/patternmatcher`: `New` (syntax check with Go's `filepath.Match`), pattern
//!   compilation (exact, prefix, suffix and Go-regexp matches) and `MatchesOrParentMatches`;
//! - `archive.TarWithOptions`: an excluded directory is skipped unless the text of an
//!   exception pattern starts with that directory;
//! - `TrimBuildFilesFromExcludes`: `!<Dockerfile>` and `!.dockerignore` exceptions.
//!
//! Docker turns patterns into Go regular expressions, passing `[`, `]`, `^` and `\x` escapes
//! through unchanged, so those are read here with Go's regexp grammar (not the `regex`
//! crate's, which differs inside classes), then re-emitted for the `regex` crate.

use std::fmt;

use regex::Regex;

/// Docker's .dockerignore rules for one build context.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    /// Patterns from the file, then the extra ones, in order.
    user: Vec<Pattern>,
    /// Paths given to `always_include`, in call order.
    forced: Vec<String>,
    /// `user` plus the exceptions added for `forced`: what matching uses.
    patterns: Vec<Pattern>,
    /// Docker's `PatternMatcher.Exclusions()`: some pattern is an exception.
    has_exclusions: bool,
}

/// An invalid pattern: `docker build` would refuse it too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// 1-based line in the .dockerignore file, or 1-based position in the extra list.
    pub line: usize,
    /// The offending line, trimmed.
    pub pattern: String,
    pub message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: invalid pattern `{}`: {}", self.line, self.pattern, self.message)
    }
}

impl std::error::Error for PatternError {}

impl DockerIgnore {
    /// Parses the text of a .dockerignore file (comments `#`, blank lines, `!` exceptions,
    /// leading/trailing whitespace trimmed, patterns cleaned like Go's filepath.Clean, a leading `/` dropped).
    pub fn parse(text: &str) -> Result<DockerIgnore, PatternError> {
        // ReadAll strips a UTF-8 byte order mark from the first line only.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut ignore = DockerIgnore::default();
        for (index, line) in text.lines().enumerate() {
            ignore.push_line(line, index + 1)?;
        }
        ignore.rebuild();
        Ok(ignore)
    }

    /// Adds extra patterns (from a config file's `ignore` list) after the file's ones, same syntax.
    /// An error's `line` is the 1-based position of the pattern in `patterns`.
    pub fn with_extra_patterns(mut self, patterns: &[String]) -> Result<DockerIgnore, PatternError> {
        for (index, entry) in patterns.iter().enumerate() {
            for line in entry.lines() {
                self.push_line(line, index + 1)?;
            }
        }
        self.rebuild();
        Ok(self)
    }

    /// Makes `rel_path` always included even if a pattern excludes it (Docker always sends the
    /// Dockerfile and .dockerignore: TrimBuildFilesFromExcludes appends `!<name>` exceptions).
    ///
    /// The path is taken literally (Docker would read glob characters in a Dockerfile's name as
    /// a pattern), and the exception is added whenever the path would otherwise be left out,
    /// including below a skipped directory, so the file really is always there.
    pub fn always_include(mut self, rel_path: &str) -> DockerIgnore {
        if let Some(path) = normalize(rel_path) {
            self.forced.push(path);
            self.rebuild();
        }
        self
    }

    /// True when the file or directory at `rel_path` (relative to the context, `/`-separated,
    /// no leading `./`) is excluded from the build context. Parent-directory matching as Docker
    /// does it (MatchesOrParentMatches): a pattern that matches a parent directory excludes the path,
    /// and the last matching pattern wins, exceptions included.
    ///
    /// A path below a directory that Docker's walk skips (see [`DockerIgnore::may_descend`]) is
    /// excluded too, whatever the patterns say about the path itself. An excluded directory whose
    /// contents may still be included is itself excluded (Docker sends no entry for it).
    /// The context root is never excluded.
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let Some(path) = normalize(rel_path) else {
            return false;
        };
        let prefixes = prefixes(&path);
        let verdicts = self.verdicts(&prefixes);
        let last = prefixes.len() - 1;
        if (0..last).any(|k| verdicts[k] && !self.rescues(prefixes[k])) {
            return true;
        }
        verdicts[last]
    }

    /// While walking: false when `rel_dir` is excluded and no exception pattern could re-include
    /// anything below it, so the walker may skip the whole directory (Docker's SkipDir logic).
    ///
    /// Like Docker, "could re-include" means: the text of some exception pattern is the
    /// directory or starts with `<dir>/`. So `docs` + `!docs/*.md` descends into `docs`, but
    /// `docs` + `!**/*.md` does not, and nothing below `docs` is sent.
    pub fn may_descend(&self, rel_dir: &str) -> bool {
        let Some(path) = normalize(rel_dir) else {
            return true;
        };
        let prefixes = prefixes(&path);
        let verdicts = self.verdicts(&prefixes);
        !(0..prefixes.len()).any(|k| verdicts[k] && !self.rescues(prefixes[k]))
    }

    /// No patterns at all.
    pub fn is_empty(&self) -> bool {
        self.user.is_empty()
    }

    /// Runs one line through ReadAll's and then patternmatcher.New's processing.
    fn push_line(&mut self, line: &str, number: usize) -> Result<(), PatternError> {
        let Some(read) = read_line(line) else {
            return Ok(());
        };
        match new_pattern(&read) {
            Ok(Some(pattern)) => {
                self.user.push(pattern);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(message) => Err(PatternError { line: number, pattern: line.trim().to_string(), message }),
        }
    }

    /// Recomputes the effective pattern list: Docker appends each build file's exception only
    /// when the patterns so far leave the file out.
    fn rebuild(&mut self) {
        self.patterns = self.user.clone();
        self.has_exclusions = self.patterns.iter().any(|p| p.exclusion);
        for path in self.forced.clone() {
            if self.is_excluded(&path) {
                self.patterns.push(Pattern { text: path, exclusion: true, kind: Kind::Exact });
                self.has_exclusions = true;
            }
        }
    }

    /// Docker's MatchesOrParentMatches verdict for each of `prefixes` (a path's ancestors, then
    /// the path). A pattern matches a prefix when it matches it or one of its ancestors, so it
    /// is enough to find, per pattern, the shortest prefix it matches directly.
    fn verdicts(&self, prefixes: &[&str]) -> Vec<bool> {
        let first: Vec<usize> = self
            .patterns
            .iter()
            .map(|p| prefixes.iter().position(|prefix| p.matches(prefix)).unwrap_or(prefixes.len()))
            .collect();
        (0..prefixes.len())
            .map(|k| {
                let mut matched = false;
                for (pattern, &first) in self.patterns.iter().zip(&first) {
                    if first <= k {
                        matched = !pattern.exclusion;
                    }
                }
                matched
            })
            .collect()
    }

    /// TarWithOptions walks into an excluded directory only if the text of an exception
    /// pattern, plus `/`, starts with `<dir>/`.
    fn rescues(&self, dir: &str) -> bool {
        self.has_exclusions
            && self.patterns.iter().any(|p| {
                p.exclusion && p.text.starts_with(dir) && matches!(p.text.as_bytes().get(dir.len()), None | Some(b'/'))
            })
    }
}

/// One compiled pattern, as patternmatcher keeps it.
#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern without its `!`: Docker's `Pattern.String()`.
    text: String,
    exclusion: bool,
    kind: Kind,
}

/// patternmatcher's match types: only patterns needing a regexp get one, and the others are
/// compared as plain strings, which is not always what the regexp would say (`**.txt` is a
/// plain suffix, so it matches `a/b.txt`).
#[derive(Debug, Clone)]
enum Kind {
    /// The path equals the text.
    Exact,
    /// Text is `<literal>**`: the path starts with the literal.
    Prefix,
    /// Text is `**<literal>`: the path ends with the literal (or equals it without its `/`).
    Suffix,
    Regexp(Regex),
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        // Go slices these strings at byte offsets, hence bytes here.
        let text = self.text.as_bytes();
        let bytes = path.as_bytes();
        match &self.kind {
            Kind::Exact => bytes == text,
            Kind::Prefix => bytes.starts_with(&text[..text.len() - 2]),
            Kind::Suffix => {
                let suffix = &text[2..];
                bytes.ends_with(suffix) || (suffix.first() == Some(&b'/') && bytes == &suffix[1..])
            }
            Kind::Regexp(re) => re.is_match(path),
        }
    }
}

/// The cleaned path, or None for the context root. Leading `/` dropped like for patterns.
fn normalize(path: &str) -> Option<String> {
    let cleaned = go_clean(path);
    let cleaned = cleaned.trim_start_matches('/');
    if cleaned.is_empty() || cleaned == "." {
        None
    } else {
        Some(cleaned.to_string())
    }
}

/// `a/b/c` -> `a`, `a/b`, `a/b/c`.
fn prefixes(path: &str) -> Vec<&str> {
    let mut out: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
    out.push(path);
    out
}

/// One line as ReadAll returns it (None for comments and blank lines).
fn read_line(line: &str) -> Option<String> {
    // The comment test comes before trimming: an indented `#` is a pattern.
    if line.starts_with('#') {
        return None;
    }
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let (invert, rest) = match line.strip_prefix('!') {
        Some(rest) => (true, rest.trim()),
        None => (false, line),
    };
    let mut pattern = rest.to_string();
    if !pattern.is_empty() {
        pattern = go_clean(&pattern);
        if pattern.len() > 1 && pattern.starts_with('/') {
            pattern.remove(0);
        }
    }
    Some(if invert { format!("!{pattern}") } else { pattern })
}

/// patternmatcher.New for one pattern: None when it is blank, Err when Docker rejects it.
fn new_pattern(raw: &str) -> Result<Option<Pattern>, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    // Cleaned again with the `!` still on: `!/` becomes `!`, which is rejected.
    let cleaned = go_clean(trimmed);
    let (exclusion, text) = match cleaned.strip_prefix('!') {
        Some("") => return Err("illegal exclusion pattern: \"!\"".to_string()),
        Some(rest) => (true, rest),
        None => (false, cleaned.as_str()),
    };
    if go_match(text.as_bytes(), b".").is_err() {
        return Err("syntax error in pattern".to_string());
    }
    // Docker compiles lazily and fails the build at the first path that reaches a bad
    // regexp; reporting it up front is kinder and almost always the same outcome.
    let kind = compile(text)?;
    Ok(Some(Pattern { text: text.to_string(), exclusion, kind }))
}

/// patternmatcher's `Pattern.compile`: classifies the pattern and, when needed, builds the
/// Go regexp it would use, then translates that for the `regex` crate.
fn compile(pattern: &str) -> Result<Kind, String> {
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

/// Go's `path/filepath.Clean` for `/`-separated paths.
fn go_clean(path: &str) -> String {
    let p = path.as_bytes();
    if p.is_empty() {
        return ".".to_string();
    }
    let rooted = p[0] == b'/';
    let n = p.len();
    let mut out: Vec<u8> = Vec::with_capacity(n);
    let (mut r, mut dotdot) = (0, 0);
    if rooted {
        out.push(b'/');
        r = 1;
        dotdot = 1;
    }
    while r < n {
        let sep_at = |i: usize| i == n || p[i] == b'/';
        if p[r] == b'/' || (p[r] == b'.' && sep_at(r + 1)) {
            // Empty or `.` element.
            r += 1;
        } else if p[r] == b'.' && p[r + 1] == b'.' && sep_at(r + 2) {
            r += 2;
            if out.len() > dotdot {
                // Drop the last element.
                let mut w = out.len() - 1;
                while w > dotdot && out[w] != b'/' {
                    w -= 1;
                }
                out.truncate(w);
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                out.push(b'/');
            }
            while r < n && p[r] != b'/' {
                out.push(p[r]);
                r += 1;
            }
        }
    }
    if out.is_empty() {
        out.push(b'.');
    }
    // Only whole elements were cut, at ASCII `/`, so this is still UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Go's `filepath.ErrBadPattern`.
#[derive(Debug)]
struct BadPattern;

/// Go's `path/filepath.Match` on Unix. Docker calls it only for its syntax check.
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

    fn ignore(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text).expect("valid .dockerignore")
    }

    fn excluded(text: &str, path: &str) -> bool {
        ignore(text).is_excluded(path)
    }

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
    fn exception_matching_a_parent_beats_an_earlier_direct_match() {
        // MatchesOrParentMatches: `!a` matches the parent of `a/b`, and comes last. (Docker CLIs
        // from 23.0 walk with MatchesUsingParentResults, which excludes `a/b` here.)
        let ig = ignore("*/b\n!a");
        assert!(!ig.is_excluded("a/b"));
        assert!(ig.is_excluded("c/b"));
    }

    #[test]
    fn double_star_alone_excludes_everything() {
        let ig = ignore("**");
        assert!(ig.is_excluded("a"));
        assert!(ig.is_excluded("a/b/c"));
        assert!(!ig.is_excluded(""));
    }

    #[test]
    fn pattern_matching_a_parent_directory_excludes_its_contents() {
        let ig = ignore("build\n*/tmp\n**/node_modules");
        assert!(ig.is_excluded("build/a/b.o"));
        assert!(ig.is_excluded("x/tmp/deep/file"));
        assert!(ig.is_excluded("node_modules/pkg/index.js"));
        assert!(ig.is_excluded("web/node_modules/pkg/index.js"));
        assert!(!ig.is_excluded("x/y/tmp/file"));
        assert!(!ig.may_descend("build"));
        assert!(!ig.may_descend("web/node_modules"));
    }

    #[test]
    fn trailing_slash_and_dot_segments_are_cleaned() {
        let ig = ignore("docs/\n./a/../b//c/.\n");
        assert!(ig.is_excluded("docs"));
        assert!(ig.is_excluded("docs/x.md"));
        assert!(ig.is_excluded("b/c"));
        assert!(!ig.is_excluded("a"));
    }

    #[test]
    fn leading_slash_is_dropped() {
        let ig = ignore("/target\n!/target/keep");
        assert!(ig.is_excluded("target/debug"));
        assert!(!ig.is_excluded("target/keep"));
    }

    #[test]
    fn comments_blank_lines_and_whitespace() {
        let ig = ignore("# comment\n\n   \n  *.log  \n !  keep.log \n  #odd\n");
        assert!(ig.is_excluded("a.log"));
        assert!(!ig.is_excluded("keep.log"));
        assert!(!ig.is_excluded("# comment"));
        // Only a `#` in the first column starts a comment.
        assert!(ig.is_excluded("#odd"));
    }

    #[test]
    fn crlf_line_endings_and_byte_order_mark() {
        let ig = ignore("\u{feff}a\r\nb\r\n");
        assert!(ig.is_excluded("a"));
        assert!(ig.is_excluded("b"));
        assert!(!ig.is_excluded("a\r"));
    }

    #[test]
    fn last_matching_pattern_wins() {
        let ig = ignore("*.md\n!README*.md\nREADME-secret.md");
        assert!(ig.is_excluded("CHANGES.md"));
        assert!(!ig.is_excluded("README.md"));
        assert!(ig.is_excluded("README-secret.md"));
    }

    #[test]
    fn exception_under_excluded_dir_is_included() {
        let ig = ignore("docs\n!docs/keep.md");
        assert!(ig.is_excluded("docs"));
        assert!(ig.may_descend("docs"));
        assert!(!ig.is_excluded("docs/keep.md"));
        assert!(ig.is_excluded("docs/other.md"));
    }

    #[test]
    fn exception_for_a_directory_reincludes_its_contents() {
        let ig = ignore("*\n!src");
        assert!(ig.is_excluded("README.md"));
        assert!(!ig.is_excluded("src"));
        assert!(ig.may_descend("src"));
        assert!(!ig.is_excluded("src/main.rs"));
        assert!(!ig.is_excluded("src/a/b.rs"));
        assert!(!ig.may_descend("target"));
    }

    #[test]
    fn exception_reaching_deeper_keeps_every_level_open() {
        let ig = ignore("a\n!a/b/c/keep");
        assert!(ig.may_descend("a"));
        assert!(ig.may_descend("a/b"));
        assert!(ig.may_descend("a/b/c"));
        assert!(!ig.may_descend("a/x"));
        assert!(!ig.is_excluded("a/b/c/keep"));
        assert!(ig.is_excluded("a/b/c/other"));
    }

    #[test]
    fn wildcard_exception_does_not_rescue_a_skipped_directory() {
        // Docker only looks at the exception's text: `**/keep.md` does not start with `docs/`,
        // so `docs` is skipped and `docs/keep.md` is not sent, although it matches.
        let ig = ignore("docs\n!**/keep.md");
        assert!(!ig.may_descend("docs"));
        assert!(ig.is_excluded("docs/keep.md"));
        assert!(!ig.is_excluded("keep.md"));
        let ig = ignore("docs\n!docs/*.md");
        assert!(ig.may_descend("docs"));
        assert!(!ig.is_excluded("docs/keep.md"));
        assert!(ig.is_excluded("docs/sub/keep.md"));
    }

    #[test]
    fn excluded_directories_are_skipped_when_there_are_no_exceptions() {
        let ig = ignore("target\n*.tmp");
        assert!(!ig.may_descend("target"));
        assert!(ig.may_descend("src"));
        assert!(ig.may_descend(""));
        assert!(ig.is_excluded("target/x"));
    }

    #[test]
    fn dockerfile_is_always_included() {
        let ig = ignore("*").always_include(".dockerignore").always_include("Dockerfile");
        assert!(!ig.is_excluded("Dockerfile"));
        assert!(!ig.is_excluded(".dockerignore"));
        assert!(ig.is_excluded("src"));
        assert!(!ig.may_descend("src"));
    }

    #[test]
    fn nested_dockerfile_is_reachable_in_an_excluded_directory() {
        let ig = ignore("docker\n!**/*.sh").always_include("docker/app/Dockerfile");
        assert!(ig.may_descend("docker"));
        assert!(ig.may_descend("docker/app"));
        assert!(!ig.is_excluded("docker/app/Dockerfile"));
        assert!(ig.is_excluded("docker/other"));
        // Once Docker walks into a directory, every exception applies there.
        assert!(!ig.is_excluded("docker/app/entry.sh"));
        assert!(ig.is_excluded("docker/lib/entry.sh"), "docker/lib itself is skipped");
        assert!(!ig.may_descend("docker/lib"));
    }

    #[test]
    fn always_include_adds_nothing_when_the_file_is_not_excluded() {
        let ig = DockerIgnore::parse("").unwrap().always_include("Dockerfile");
        assert!(ig.is_empty());
        assert!(ig.patterns.is_empty());
        let ig = ignore("*.log").always_include("Dockerfile");
        assert!(!ig.has_exclusions, "no exception appended, directories still skipped outright");
    }

    #[test]
    fn always_include_survives_later_extra_patterns() {
        let ig = ignore("").always_include("Dockerfile").with_extra_patterns(&["Dockerfile".to_string()]).unwrap();
        assert!(!ig.is_excluded("Dockerfile"));
    }

    #[test]
    fn extra_patterns_come_after_the_file() {
        let ig = ignore("*.log\n!important.log").with_extra_patterns(&["important.log".to_string()]).unwrap();
        assert!(ig.is_excluded("important.log"));
        let ig = ignore("*.log").with_extra_patterns(&["!keep.log".to_string(), "dist/".to_string()]).unwrap();
        assert!(!ig.is_excluded("keep.log"));
        assert!(ig.is_excluded("dist/app.js"));
        assert!(ig.is_excluded("other.log"));
    }

    #[test]
    fn unterminated_bracket_is_an_error_naming_the_line() {
        let err = DockerIgnore::parse("# header\nok\n  src/[ab  \n").unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(err.pattern, "src/[ab");
        assert_eq!(err.message, "syntax error in pattern");
    }

    #[test]
    fn malformed_patterns_are_rejected() {
        for bad in ["[]", "a[", "[a-]", "trailing\\", "!", "!  ", "!/"] {
            assert!(DockerIgnore::parse(bad).is_err(), "{bad:?} should be rejected");
        }
        // Valid for filepath.Match, but Docker's Go regexp rejects them.
        for bad in [r"\q", r"a\1", r"[z-*]", "[[:nope:]]"] {
            let err = DockerIgnore::parse(bad).unwrap_err();
            assert!(err.message.contains("regexp"), "{bad:?}: {}", err.message);
        }
    }

    #[test]
    fn extra_pattern_errors_give_the_list_position() {
        let err = ignore("a").with_extra_patterns(&["b".to_string(), "c[".to_string()]).unwrap_err();
        assert_eq!(err.line, 2);
        assert_eq!(err.pattern, "c[");
    }

    #[test]
    fn root_and_dot_patterns_exclude_nothing() {
        let ig = ignore(".\n/\n..");
        assert!(!ig.is_excluded("a"));
        assert!(!ig.is_excluded(""));
        assert!(!ig.is_excluded("."));
        assert!(!ignore("*").is_excluded("."));
    }

    #[test]
    fn queried_paths_are_cleaned() {
        let ig = ignore("docs");
        assert!(ig.is_excluded("docs/"));
        assert!(ig.is_excluded("./docs/a"));
        assert!(ig.is_excluded("/docs"));
        assert!(!ig.may_descend("docs/"));
    }

    #[test]
    fn empty_rules_exclude_nothing() {
        let ig = ignore("# only a comment\n\n");
        assert!(ig.is_empty());
        assert!(!ig.is_excluded("anything/at/all"));
        assert!(ig.may_descend("anything"));
        assert!(DockerIgnore::default().is_empty());
    }

    #[test]
    fn go_clean_matches_go() {
        for (input, want) in [
            ("", "."),
            ("a/b/../c", "a/c"),
            ("../a", "../a"),
            ("a/../..", ".."),
            ("/..", "/"),
            ("//a//b/", "/a/b"),
            ("./", "."),
            ("a/./b/.", "a/b"),
            ("!/", "!"),
            ("x/.. /", "x/.. "),
        ] {
            assert_eq!(go_clean(input), want, "{input:?}");
        }
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
