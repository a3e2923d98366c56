//! Parser directives (`# syntax=`, `# check=`, `# escape=`): the comments at the very top of a
//! Dockerfile that BuildKit's `parser.DirectiveParser` reads.

use super::{CheckDirective, SyntaxDirective};

/// The directives BuildKit knows; any other `# key=value` is an ordinary comment.
const KNOWN: [&str; 3] = ["syntax", "check", "escape"];

/// The directives of the parser (`parser.Parse`): only before the first instruction, comment or
/// blank line, each at most once.
pub(super) struct Directives {
    pub(super) escape: char,
    done: bool,
    seen: Vec<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives { escape: '\\', done: false, seen: Vec::new() }
    }
}

impl Directives {
    /// Looks at a line (left-trimmed) that starts an instruction or is skipped.
    pub(super) fn check(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = parse_directive(line) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        if !KNOWN.contains(&key.as_str()) {
            // An unknown directive is an ordinary comment and ends the directives.
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key.clone());
        if key == "escape" {
            self.escape = match value {
                "`" => '`',
                "\\" => '\\',
                other => return Err(format!("invalid escape token '{other}' does not match ` or \\")),
            };
        }
        Ok(())
    }
}

/// BuildKit's `parseDirective`, which finds the `syntax` (the frontend image a build uses) and
/// `check` directives: after a byte order mark and a first `#!` line, in the top lines that are
/// `#key=value` comments (here a leading blank is not allowed), the first with that key.
fn detect(text: &str, key: &str) -> Option<(String, usize)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.lines().enumerate().peekable();
    if lines.peek().is_some_and(|(_, line)| line.starts_with("#!")) {
        lines.next();
    }
    let mut seen = Vec::new();
    for (index, line) in lines {
        let Some((name, value)) = parse_directive(line) else { break };
        let name = name.to_ascii_lowercase();
        if !KNOWN.contains(&name.as_str()) || seen.contains(&name) {
            // An unknown directive ends them; a repeated one is an error that ends them too.
            break;
        }
        if name == key {
            return Some((value.to_string(), index + 1));
        }
        seen.push(name);
    }
    None
}

/// The `# syntax=` directive of a Dockerfile's text, as BuildKit detects it. Works on text that
/// does not parse, so a caller can say which frontend a file asks for.
pub fn syntax_directive(text: &str) -> Option<SyntaxDirective> {
    detect(text, "syntax").map(|(value, line)| {
        let image = value.split(' ').next().unwrap_or_default().to_string();
        SyntaxDirective { image, value, line }
    })
}

impl SyntaxDirective {
    /// The image is Docker's Dockerfile frontend (`docker/dockerfile`, or its `-upstream`
    /// builds), whose syntax this parser reads; any other frontend reads a syntax of its own.
    pub fn is_dockerfile_frontend(&self) -> bool {
        let image = self.image.split('@').next().unwrap_or_default();
        let name = match image.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => name,
            _ => image,
        };
        let name = name.strip_prefix("docker.io/").unwrap_or(name);
        matches!(name, "docker/dockerfile" | "docker/dockerfile-upstream")
    }
}

/// The `# check=` directive of a Dockerfile's text, as BuildKit detects it.
pub(super) fn check_directive(text: &str) -> Option<CheckDirective> {
    detect(text, "check").map(|(value, line)| CheckDirective { value, line })
}

/// What `# check=` asks of the build checks (BuildKit's `linter.ParseLintOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckOptions {
    /// `skip=all`
    pub skip_all: bool,
    /// `skip=Rule1,Rule2`
    pub skip: Vec<String>,
    /// `experimental=all`
    pub experimental_all: bool,
    /// `experimental=Rule1,Rule2`
    pub experimental: Vec<String>,
    /// `error=true`: a failed check fails the build
    pub error: bool,
}

impl CheckDirective {
    /// The options, or BuildKit's error for them (which fails a build unless the
    /// `BUILDKIT_DOCKERFILE_CHECK` build argument overrides the directive).
    pub fn options(&self) -> Result<CheckOptions, String> {
        let mut options = CheckOptions::default();
        let value = self.value.trim();
        if value.is_empty() {
            return Ok(options);
        }
        let list = |v: &str| v.split(',').map(|rule| rule.trim().to_string()).collect::<Vec<_>>();
        for part in value.splitn(3, ';') {
            let Some((key, v)) = part.split_once('=') else {
                return Err(format!("failed to parse check options: invalid check option {part:?}"));
            };
            let v = v.trim();
            match key.trim() {
                "skip" if v == "all" => options.skip_all = true,
                "skip" => options.skip = list(v),
                "experimental" if v == "all" => options.experimental_all = true,
                "experimental" => options.experimental = list(v),
                "error" => {
                    options.error = parse_go_bool(v).ok_or_else(|| {
                        format!(
                            "failed to parse check options: failed to parse check option {part:?}: \
                             strconv.ParseBool: parsing {v:?}: invalid syntax"
                        )
                    })?
                }
                other => return Err(format!("failed to parse check options: invalid check option {other:?}")),
            }
        }
        Ok(options)
    }
}

/// Go's `strconv.ParseBool`.
pub(super) fn parse_go_bool(value: &str) -> Option<bool> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Matches Docker's `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` (RE2's `\s`
/// is ASCII `[\t\n\f\r ]`), returning the key and value.
fn parse_directive(line: &str) -> Option<(&str, &str)> {
    let is_space = |c: char| matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ');
    let rest = line.strip_prefix('#')?.trim_start_matches(is_space);
    let key_len = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
    let key = &rest[..key_len];
    if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let after_eq = rest[key_len..].trim_start_matches(is_space).strip_prefix('=')?;
    let value = after_eq.trim_start_matches(is_space);
    if value.is_empty() {
        // `(.+?)` needs a character, so an all-blank value is its last blank.
        let last = after_eq.chars().last()?;
        return Some((key, &after_eq[after_eq.len() - last.len_utf8()..]));
    }
    Some((key, value.trim_end_matches(is_space)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::dockerfile::tests::*;

    #[test]
    fn syntax_and_check_are_read_from_the_top_of_the_file() {
        let text = "# syntax=docker/dockerfile:1.7-labs\n# CHECK = skip=JSONArgsRecommended;error=true\nFROM a\n";
        let dockerfile = parse(text).expect("parses");
        let syntax = dockerfile.syntax.expect("a syntax directive");
        assert_eq!((syntax.image.as_str(), syntax.line), ("docker/dockerfile:1.7-labs", 1));
        let check = dockerfile.check.expect("a check directive");
        assert_eq!((check.value.as_str(), check.line), ("skip=JSONArgsRecommended;error=true", 2));
        assert_eq!(
            check.options(),
            Ok(CheckOptions { skip: strings(&["JSONArgsRecommended"]), error: true, ..CheckOptions::default() })
        );
        let none = parse("FROM a\n# syntax=docker/dockerfile:1\n").expect("parses");
        assert_eq!((none.syntax, none.check), (None, None));
    }

    #[test]
    fn a_syntax_value_may_carry_frontend_options_after_the_image() {
        let syntax = syntax_directive("#syntax = example.com/frontend:v2 --opt=1 \nFROM a\n").expect("found");
        assert_eq!(syntax.image, "example.com/frontend:v2");
        assert_eq!(syntax.value, "example.com/frontend:v2 --opt=1");
    }

    #[test]
    fn dockers_own_frontends_are_told_from_others() {
        let frontend = |image: &str| SyntaxDirective { image: image.to_string(), value: image.to_string(), line: 1 };
        for ours in [
            "docker/dockerfile:1",
            "docker/dockerfile:1.7-labs",
            "docker.io/docker/dockerfile:1",
            "docker/dockerfile-upstream:master",
            "docker/dockerfile@sha256:ac85f380a63b13dfcefa89046420e1781752bab202122f8f50032edf31be0021",
            "docker/dockerfile",
        ] {
            assert!(frontend(ours).is_dockerfile_frontend(), "{ours}");
        }
        for other in
            ["tonistiigi/pack", "example.com/docker/dockerfile:1", "localhost:5000/frontend", "docker/buildkit"]
        {
            assert!(!frontend(other).is_dockerfile_frontend(), "{other}");
        }
    }

    #[test]
    fn the_frontend_is_found_after_a_shebang_line() {
        // BuildKit's DetectSyntax skips a first `#!` line; the line number still counts it.
        let syntax = syntax_directive("#!/usr/bin/env docker-build\n# syntax=docker/dockerfile:1\nFROM a\n");
        assert_eq!(syntax.map(|s| (s.image, s.line)), Some(("docker/dockerfile:1".to_string(), 2)));
        // An unknown directive or a plain comment ends the directives.
        assert_eq!(syntax_directive("# hello\n# syntax=docker/dockerfile:1\nFROM a\n"), None);
        assert_eq!(syntax_directive("# foo=bar\n# syntax=docker/dockerfile:1\nFROM a\n"), None);
        assert_eq!(syntax_directive("# escape=`\n# escape=\\\n# syntax=docker/dockerfile:1\nFROM a\n"), None);
    }

    #[test]
    fn check_after_syntax_keeps_the_escape_directive_in_effect() {
        let dockerfile = parse("# syntax=docker/dockerfile:1\n# check=skip=all\n# escape=`\nFROM a\n").expect("parses");
        assert_eq!(dockerfile.escape(), '`');
        assert_eq!(dockerfile.check.and_then(|c| c.options().ok()).map(|o| o.skip_all), Some(true));
        assert_eq!(error("# check=a=b\n# check=c=d\nFROM a\n").message, "only one check parser directive can be used");
    }

    #[test]
    fn check_options_are_read_as_buildkit_reads_them() {
        let options = |value: &str| CheckDirective { value: value.to_string(), line: 1 }.options();
        assert_eq!(options(""), Ok(CheckOptions::default()));
        assert_eq!(
            options(" skip = A, B ;experimental=all"),
            Ok(CheckOptions { skip: strings(&["A", "B"]), experimental_all: true, ..CheckOptions::default() })
        );
        assert_eq!(options("error=maybe").map_err(|e| e.contains("failed to parse check option")), Err(true));
        assert_eq!(options("skip"), Err("failed to parse check options: invalid check option \"skip\"".to_string()));
        assert_eq!(
            options("bogus=1"),
            Err("failed to parse check options: invalid check option \"bogus\"".to_string())
        );
    }
}
