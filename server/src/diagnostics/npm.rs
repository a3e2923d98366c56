//! npm and yarn: a `package.json` that is not JSON (`npm ci`, `yarn install` in a build step
//! stops on it).
//!
//! ```text
//! npm ERR! code EJSONPARSE                                   npm 9 (Debian's, node 18)
//! npm ERR! path /app/package.json
//! npm ERR! JSON.parse Unexpected string in JSON at position 40 while parsing '{
//! npm error code EJSONPARSE                                  npm 10, 11: no path line
//! npm error JSON.parse Invalid package.json: JSONParseError: Expected ',' or '}' after property value in JSON at position 40 while parsing near "..."
//! error SyntaxError: /project/package.json: Expected ',' or '}' after property value in JSON at position 40
//! ```                                                        yarn 1: the path, then JSON.parse's message
//!
//! JSON.parse names no line: only a position, in UTF-16 units from the file's start (a newer
//! V8 adds `(line L column C)`, taken when present). The position is kept as such
//! ([`ColumnUnit::FileOffsetUtf16`]); the caller, which has the file, turns it into a line. With
//! no path line the file is the `package.json` of npm's working directory. "Unexpected end of
//! JSON input" has no position: it is at the file's end. Another message without one (npm 11's
//! "Unexpected token …, … is not valid JSON") is the file's first line.

use std::sync::LazyLock;

use regex::Regex;

use super::{number, ColumnUnit, Diagnostic, DirectoryStack, Location, Matcher, Severity};

static PREFIX: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^npm (?:ERR!|error) (?P<rest>.*)$").unwrap());
static YARN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^error SyntaxError: (?P<file>/[^:]*/package\.json): (?P<msg>.+)$").unwrap());
static POSITION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?: in JSON)? at position (?P<pos>\d+)(?: \(line (?P<line>\d+) column (?P<col>\d+)\))?").unwrap()
});

#[derive(Default)]
pub struct NpmMatcher {
    /// After `code EJSONPARSE`: the `path` line's file, once read.
    parse_error: Option<Option<String>>,
}

impl Matcher for NpmMatcher {
    fn name(&self) -> &'static str {
        "npm"
    }

    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        if let Some(caps) = YARN.captures(line) {
            let mut found = parse_error(&caps["file"], &caps["msg"], dirs);
            (found.code, found.tool) = (None, "yarn");
            return vec![found];
        }
        let Some(rest) = PREFIX.captures(line).and_then(|c| c.name("rest")).map(|m| m.as_str()) else {
            return Vec::new();
        };
        if rest == "code EJSONPARSE" {
            self.parse_error = Some(None);
            return Vec::new();
        }
        let Some(path) = self.parse_error.as_mut() else { return Vec::new() };
        if let Some(file) = rest.strip_prefix("path ") {
            *path = Some(file.trim().to_owned());
            return Vec::new();
        }
        let Some(message) = rest.strip_prefix("JSON.parse ") else { return Vec::new() };
        let file = path.take().unwrap_or_else(|| "package.json".to_owned());
        self.parse_error = None;
        vec![parse_error(&file, message, dirs)]
    }

    fn finish(&mut self) -> Vec<Diagnostic> {
        self.parse_error = None;
        Vec::new()
    }
}

/// The problem JSON.parse's `message` names in `file`.
fn parse_error(file: &str, message: &str, dirs: &DirectoryStack) -> Diagnostic {
    let message = message.strip_prefix("Invalid package.json: ").unwrap_or(message);
    let message = message.strip_prefix("JSONParseError: ").unwrap_or(message);
    // What follows is npm's quote of the text around the spot, cut anywhere (lines included).
    let message = [" while parsing", ", ..."].iter().fold(message, |m, cut| m.split(cut).next().unwrap_or(m));
    let position = POSITION.captures(message);
    let location = match &position {
        Some(caps) => match (number(caps.name("line")), number(caps.name("col"))) {
            (Some(line), column) => Location::new(file, dirs, line, column, ColumnUnit::Utf16),
            (None, _) => {
                let offset = number(caps.name("pos")).map(|p| p.saturating_add(1));
                Location::new(file, dirs, 0, offset, ColumnUnit::FileOffsetUtf16)
            }
        },
        None if message.contains("end of JSON input") => {
            Location::new(file, dirs, 0, Some(u32::MAX), ColumnUnit::FileOffsetUtf16)
        }
        None => Location::new(file, dirs, 1, None, ColumnUnit::Utf16),
    };
    let what = match &position {
        Some(caps) => message.replace(&caps[0], ""),
        None => message.to_owned(),
    };
    Diagnostic {
        location,
        severity: Severity::Error,
        message: format!("{} (package.json must be JSON)", what.trim()),
        code: Some("EJSONPARSE".to_owned()),
        tool: "npm",
        related: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::run;
    use super::*;

    fn at(d: &Diagnostic) -> (&str, u32, Option<u32>, ColumnUnit) {
        (d.location.path.as_str(), d.location.line, d.location.column, d.location.unit)
    }

    #[test]
    fn npm_9_names_the_file_and_a_position() {
        let found = run(&mut NpmMatcher::default(), include_str!("fixtures/npm9-ejsonparse.txt"));
        assert_eq!(found.len(), 3, "{found:#?}");
        assert_eq!(at(&found[0]), ("/app/package.json", 0, Some(41), ColumnUnit::FileOffsetUtf16));
        assert_eq!(found[0].message, "Unexpected string (package.json must be JSON)");
        assert_eq!(found[0].code.as_deref(), Some("EJSONPARSE"));
        // A file cut short: its end.
        assert_eq!(at(&found[1]), ("/app/trunc/package.json", 0, Some(u32::MAX), ColumnUnit::FileOffsetUtf16));
        assert_eq!(found[1].message, "Unexpected end of JSON input (package.json must be JSON)");
        assert_eq!(at(&found[2]), ("/app/uni/package.json", 0, Some(78), ColumnUnit::FileOffsetUtf16));
        assert_eq!(found[2].message, "Unexpected token \"i\" (0x69) (package.json must be JSON)");
    }

    #[test]
    fn npm_11_names_no_file_the_working_directory_s_is_meant() {
        let found = run(&mut NpmMatcher::default(), include_str!("fixtures/npm11-ejsonparse.txt"));
        assert_eq!(found.len(), 3, "{found:#?}");
        assert_eq!(at(&found[0]), ("package.json", 0, Some(41), ColumnUnit::FileOffsetUtf16));
        assert_eq!(found[0].message, "Expected ',' or '}' after property value (package.json must be JSON)");
        assert_eq!(at(&found[1]), ("package.json", 0, Some(60), ColumnUnit::FileOffsetUtf16));
        // No position at all: the file, at its first line.
        assert_eq!(at(&found[2]), ("package.json", 1, None, ColumnUnit::Utf16));
        assert_eq!(found[2].message, "Unexpected token \"i\" (0x69) (package.json must be JSON)");
    }

    /// yarn 1.22 run on the host (node 20), its paths then written as in a container's
    /// `/project`.
    #[test]
    fn yarn_1_names_the_file_before_json_parse_s_message() {
        let found = run(&mut NpmMatcher::default(), include_str!("fixtures/yarn1-package-json.txt"));
        assert_eq!(found.len(), 3, "{found:#?}");
        assert_eq!(at(&found[0]), ("/project/package.json", 0, Some(41), ColumnUnit::FileOffsetUtf16));
        assert_eq!(found[0].message, "Expected ',' or '}' after property value (package.json must be JSON)");
        assert_eq!((found[0].tool, found[0].code.as_deref()), ("yarn", None));
        assert_eq!(at(&found[1]), ("/project/package.json", 1, None, ColumnUnit::Utf16));
        assert_eq!(found[1].message, "Unexpected token 'i' (package.json must be JSON)");
        assert_eq!(at(&found[2]), ("/project/package.json", 0, Some(60), ColumnUnit::FileOffsetUtf16));
        // The same yarn under Node 18 (Debian's, in a container): V8's older wording.
        let node18 = "error SyntaxError: /project/package.json: Unexpected string in JSON at position 40\n";
        let found = run(&mut NpmMatcher::default(), node18);
        assert_eq!(at(&found[0]), ("/project/package.json", 0, Some(41), ColumnUnit::FileOffsetUtf16));
        assert_eq!(found[0].message, "Unexpected string (package.json must be JSON)");
    }

    #[test]
    fn a_line_and_column_from_v8_are_taken_as_given() {
        let out = "npm error code EJSONPARSE\nnpm error path /src/package.json\nnpm error JSON.parse Expected ',' or '}' after property value in JSON at position 40 (line 4 column 3) while parsing near\n";
        let found = run(&mut NpmMatcher::default(), out);
        assert_eq!(at(&found[0]), ("/src/package.json", 4, Some(3), ColumnUnit::Utf16));
        assert_eq!(found[0].message, "Expected ',' or '}' after property value (package.json must be JSON)");
    }

    #[test]
    fn other_npm_errors_and_json_lines_without_the_code_are_not_taken() {
        let out = "npm ERR! code E404\nnpm ERR! path /app/x\nnpm ERR! JSON.parse Unexpected string in JSON at position 1\nJSON.parse at position 3\n";
        assert!(run(&mut NpmMatcher::default(), out).is_empty());
    }
}
