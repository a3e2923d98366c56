//! Docker's `.dockerignore` rules, reimplemented to give the same answers as `docker build`.
//!
//! docker-rebuilder mirrors a build context into a container, so it must agree with Docker
//! about which files are in that context, quirks included. This follows what the Docker CLI
//! does when it makes the context for the classic builder:
//! - the ignore-file reader (`ReadAll`): comments, trimming, `filepath.Clean`, leading `/`;
//! - `moby/patternmatcher`: `New` (syntax check with Go's `filepath.Match`, in `glob`), pattern
//!   compilation (exact, prefix, suffix and Go-regexp matches, in `regexp`) and
//!   `MatchesOrParentMatches`;
//! - `archive.TarWithOptions`: an excluded directory is skipped unless the text of an
//!   exception pattern starts with that directory;
//! - `TrimBuildFilesFromExcludes`: `!<Dockerfile>` and `!.dockerignore` exceptions.
//!
//! Docker turns patterns into Go regular expressions, passing `[`, `]`, `^` and `\x` escapes
//! through unchanged, so those are read with Go's regexp grammar (not the `regex` crate's,
//! which differs inside classes), then re-emitted for the `regex` crate.

use std::fmt;

use regex::Regex;

use crate::project::glob::check_syntax;

mod regexp;

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

/// Rules are the same when they match the same paths: the same patterns in the same order.
impl PartialEq for DockerIgnore {
    fn eq(&self, other: &DockerIgnore) -> bool {
        let rules = |d: &DockerIgnore| d.patterns.iter().map(|p| (p.text.clone(), p.exclusion)).collect::<Vec<_>>();
        rules(self) == rules(other)
    }
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
    if let Err(bad) = check_syntax(text) {
        return Err(bad.to_string());
    }
    // Docker compiles lazily and fails the build at the first path that reaches a bad
    // regexp; reporting it up front is kinder and almost always the same outcome.
    let kind = regexp::compile(text)?;
    Ok(Some(Pattern { text: text.to_string(), exclusion, kind }))
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

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn ignore(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text).expect("valid .dockerignore")
    }

    pub(super) fn excluded(text: &str, path: &str) -> bool {
        ignore(text).is_excluded(path)
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
}
