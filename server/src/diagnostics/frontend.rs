//! JavaScript front-end builds, the usual `RUN npm run build` of a multi-stage Dockerfile:
//! Create React App (webpack with ESLint), Vite (Rollup, with esbuild transforming JSX and
//! TypeScript), esbuild on its own, and ESLint's default output. Each prints its own shape
//! (fixtures/cra-*, vite-*, esbuild-cli.txt, eslint-stylish.txt, captured from react-scripts 5,
//! Vite 5.4, esbuild 0.21 and ESLint 8):
//!
//! ```text
//! Failed to compile.                       CRA: "Compiled with warnings." for warnings
//!
//! src/App.js                               the file, relative to the build's folder
//!   Line 5:9:  'x' is not defined  no-undef   ESLint: 1-based UTF-16 columns, the rule last
//! Syntax error: Unexpected token (2:12) (2:12)  Babel: 0-based UTF-16 columns
//!
//! error during build:                      Vite
//! src/App.jsx (1:9): "two" is not exported by "src/lib.js", imported by "src/App.jsx".
//! file: /app/src/App.jsx:1:9               Rollup: 0-based UTF-16 columns; no place: the file
//! [vite:esbuild] Transform failed with 1 error:
//! /app/src/App.jsx:2:39: ERROR: Unexpected ")"   esbuild: 0-based byte columns
//!
//! ✘ [ERROR] Unexpected ")"                 esbuild's own CLI
//!     src/App.jsx:2:39:
//!
//! /app/src/lib.js                          ESLint's `stylish`
//!   2:7  error  'unused' is assigned a value but never used  no-unused-vars
//! ```
//!
//! CRA's "Module not found" names no importing file, so it is left to the failed step's own
//! report.

use std::sync::LazyLock;

use regex::Regex;

use super::{number, ColumnUnit, Diagnostic, DirectoryStack, Location, Matcher, Severity};

/// A source file as these tools name one: no spaces, a script or style extension.
const SOURCE: &str = r"[^\s:()]+\.(?:js|jsx|mjs|cjs|ts|tsx|mts|cts|vue|svelte|css|scss|sass|less)";

static CRA_FILE: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!(r"^(?P<file>{SOURCE})$")).unwrap());
static CRA_LINT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^  Line (?P<line>\d+):(?P<col>\d+):\s+(?P<msg>.+?)(?:\s{2,}(?P<rule>[@\w][\w@/-]*))?$").unwrap()
});
/// `Syntax error: Unexpected token (2:12) (2:12)`: Babel's message, its place repeated by CRA.
static CRA_ERROR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<kind>[A-Z][\w ]*?(?:error|Error)): (?P<msg>.+?) \((?P<line>\d+):(?P<col>\d+)\)(?: \(\d+:\d+\))?$")
        .unwrap()
});
static VITE_FILE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"^file: (?P<file>{SOURCE})(?::(?P<line>\d+):(?P<col>\d+))?$")).unwrap());
/// Rollup puts the place before its message: `src/App.jsx (1:9): "two" is not exported…`.
static ROLLUP_PLACE: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!(r"^{SOURCE} \(\d+:\d+\): ")).unwrap());
static ESBUILD_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"^(?P<file>{SOURCE}):(?P<line>\d+):(?P<col>\d+): (?P<sev>ERROR|WARNING): (?P<msg>.+)$"))
        .unwrap()
});
static ESBUILD_HEADER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[✘▲] \[(?P<sev>ERROR|WARNING)\] (?P<msg>.+)$").unwrap());
static ESBUILD_PLACE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"^    (?P<file>{SOURCE}):(?P<line>\d+):(?P<col>\d+):$")).unwrap());
static ESLINT_FILE: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!(r"^(?P<file>/{SOURCE})$")).unwrap());
static ESLINT_ROW: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^  (?P<line>\d+):(?P<col>\d+)\s+(?P<sev>error|warning)\s+(?P<msg>.+?)(?:\s{2,}(?P<rule>[@\w][\w@/-]*))?$",
    )
    .unwrap()
});

/// Where the matcher is in the output.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum State {
    #[default]
    Outside,
    /// After CRA's verdict: its problems follow, file by file, at this severity.
    Cra { severity: Severity, file: Option<String> },
    /// After Vite's `error during build:`: its message (None until read), then its `file:`.
    Vite { message: Option<String>, esbuild: bool },
    /// After esbuild's `✘ [ERROR] msg`: its place follows.
    Esbuild { severity: Severity, message: String },
    /// After an ESLint file header: its rows follow.
    Eslint { file: String },
}

#[derive(Default)]
pub struct FrontendMatcher {
    state: State,
}

fn diagnostic(location: Location, severity: Severity, message: &str, code: Option<&str>) -> Diagnostic {
    Diagnostic {
        location,
        severity,
        message: message.to_owned(),
        code: code.map(str::to_owned),
        tool: "frontend",
        related: Vec::new(),
    }
}

/// A 0-based column as 1-based (these tools count from 0 where ESLint counts from 1).
fn from_zero(caps: &regex::Captures) -> Option<u32> {
    number(caps.name("col")).map(|c| c.saturating_add(1))
}

fn severity(word: &str) -> Severity {
    match word {
        "ERROR" | "error" => Severity::Error,
        _ => Severity::Warning,
    }
}

impl FrontendMatcher {
    /// A line that starts a block, whatever came before; the block's first diagnostic, if any.
    fn start(&mut self, line: &str, dirs: &DirectoryStack) -> Option<Vec<Diagnostic>> {
        let state = match line {
            "Failed to compile." => State::Cra { severity: Severity::Error, file: None },
            "Compiled with warnings." => State::Cra { severity: Severity::Warning, file: None },
            "error during build:" => State::Vite { message: None, esbuild: false },
            _ => {
                if let Some(caps) = ESBUILD_HEADER.captures(line) {
                    State::Esbuild { severity: severity(&caps["sev"]), message: caps["msg"].to_owned() }
                } else if let Some(caps) = ESBUILD_LINE.captures(line) {
                    // esbuild's one-line form (inside Vite's report, or `--log-level` output).
                    let Some(at) = number(caps.name("line")) else { return Some(Vec::new()) };
                    let location = Location::new(&caps["file"], dirs, at, from_zero(&caps), ColumnUnit::Bytes);
                    if let State::Vite { esbuild, .. } = &mut self.state {
                        *esbuild = true;
                    }
                    return Some(vec![diagnostic(location, severity(&caps["sev"]), &caps["msg"], None)]);
                } else if let Some(caps) = ESLINT_FILE.captures(line) {
                    State::Eslint { file: caps["file"].to_owned() }
                } else {
                    return None;
                }
            }
        };
        self.state = state;
        Some(Vec::new())
    }
}

impl Matcher for FrontendMatcher {
    fn name(&self) -> &'static str {
        "frontend"
    }

    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        if let Some(found) = self.start(line, dirs) {
            return found;
        }
        match &mut self.state {
            State::Outside => {}
            State::Cra { severity, file } => {
                let severity = *severity;
                if let Some(caps) = CRA_FILE.captures(line) {
                    *file = Some(caps["file"].to_owned());
                } else if let (Some(path), Some(caps)) = (file.as_deref(), CRA_LINT.captures(line)) {
                    let Some(at) = number(caps.name("line")) else { return Vec::new() };
                    let location = Location::new(path, dirs, at, number(caps.name("col")), ColumnUnit::Utf16);
                    let rule = caps.name("rule").map(|r| r.as_str());
                    return vec![diagnostic(location, severity, &caps["msg"], rule)];
                } else if let (Some(path), Some(caps)) = (file.as_deref(), CRA_ERROR.captures(line)) {
                    let Some(at) = number(caps.name("line")) else { return Vec::new() };
                    let location = Location::new(path, dirs, at, from_zero(&caps), ColumnUnit::Utf16);
                    let message = format!("{}: {}", &caps["kind"], &caps["msg"]);
                    return vec![diagnostic(location, Severity::Error, &message, None)];
                } else if line.starts_with("Search for the keywords") || line.starts_with("File sizes after gzip") {
                    self.state = State::Outside;
                }
            }
            State::Vite { message, esbuild } => {
                if let Some(caps) = VITE_FILE.captures(line) {
                    let (text, esbuild) = (message.take(), *esbuild);
                    self.state = State::Outside;
                    // esbuild's own line said it, with its own columns.
                    let Some(text) = text.filter(|_| !esbuild) else { return Vec::new() };
                    let at = number(caps.name("line")).unwrap_or(1);
                    let location = Location::new(&caps["file"], dirs, at, from_zero(&caps), ColumnUnit::Utf16);
                    return vec![diagnostic(location, Severity::Error, &text, None)];
                } else if message.is_none() && !line.trim().is_empty() {
                    *message = Some(ROLLUP_PLACE.replace(line, "").into_owned());
                }
            }
            State::Esbuild { severity, message } => {
                if let Some(caps) = ESBUILD_PLACE.captures(line) {
                    let (severity, message) = (*severity, std::mem::take(message));
                    self.state = State::Outside;
                    let Some(at) = number(caps.name("line")) else { return Vec::new() };
                    let location = Location::new(&caps["file"], dirs, at, from_zero(&caps), ColumnUnit::Bytes);
                    return vec![diagnostic(location, severity, &message, None)];
                } else if !line.trim().is_empty() {
                    self.state = State::Outside;
                }
            }
            State::Eslint { file } => {
                if let Some(caps) = ESLINT_ROW.captures(line) {
                    let Some(at) = number(caps.name("line")) else { return Vec::new() };
                    let location = Location::new(file, dirs, at, number(caps.name("col")), ColumnUnit::Utf16);
                    let rule = caps.name("rule").map(|r| r.as_str());
                    return vec![diagnostic(location, severity(&caps["sev"]), &caps["msg"], rule)];
                }
                self.state = State::Outside;
            }
        }
        Vec::new()
    }

    fn finish(&mut self) -> Vec<Diagnostic> {
        self.state = State::Outside;
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::test_support::{run, utf16_offset_of};
    use crate::diagnostics::utf16_column;

    type Place<'a> = (&'a str, u32, Option<u32>, Severity);

    fn places(found: &[Diagnostic]) -> Vec<Place<'_>> {
        found.iter().map(|d| (d.location.path.as_str(), d.location.line, d.location.column, d.severity)).collect()
    }

    fn found(output: &str) -> Vec<Diagnostic> {
        run(&mut FrontendMatcher::default(), output)
    }

    #[test]
    fn create_react_app_eslint_errors_and_warnings() {
        let errors = found(include_str!("fixtures/cra-eslint-errors.txt"));
        assert_eq!(places(&errors), [("src/extra.js", 2, Some(9), Severity::Error)]);
        assert_eq!(errors[0].message, "'x' is not defined");
        assert_eq!(errors[0].code.as_deref(), Some("no-undef"));

        let warnings = found(include_str!("fixtures/cra-eslint-warnings.txt"));
        assert_eq!(
            places(&warnings),
            [
                ("src/App.js", 8, Some(9), Severity::Warning),
                ("src/other.js", 1, Some(7), Severity::Warning),
                ("src/other.js", 2, Some(1), Severity::Warning),
            ]
        );
        assert_eq!(warnings[2].message, "Assign literal to a variable before exporting as module default");
        assert_eq!(warnings[2].code.as_deref(), Some("import/no-anonymous-default-export"));
    }

    /// Babel's column is 0-based, in UTF-16 units: `)` after `"é😀"` is at 29, the 30th unit.
    #[test]
    fn create_react_app_syntax_error_at_its_utf16_column() {
        let found = found(include_str!("fixtures/cra-syntax.txt"));
        assert_eq!(places(&found), [("src/extra.js", 1, Some(30), Severity::Error)]);
        assert_eq!(found[0].message, "Syntax error: Unexpected token");
        let source = "const a = \"é😀\"; let b = a + );";
        assert_eq!(utf16_column(source, 30, ColumnUnit::Utf16), utf16_offset_of(source, ");"));
    }

    #[test]
    fn create_react_app_module_not_found_names_no_file() {
        assert!(found(include_str!("fixtures/cra-module-not-found.txt")).is_empty());
    }

    /// esbuild counts bytes from 0: `)` after `"é😀"` is byte 39; its `file:` repeat is not a
    /// second problem.
    #[test]
    fn vite_esbuild_syntax_error_at_its_byte_column() {
        let found = found(include_str!("fixtures/vite-esbuild-syntax.txt"));
        assert_eq!(places(&found), [("/app/src/App.jsx", 2, Some(40), Severity::Error)]);
        assert_eq!(found[0].message, "Unexpected \")\"");
        assert_eq!(found[0].location.unit, ColumnUnit::Bytes);
        let source = "  const name = \"é😀\"; const x = 1 + );";
        assert_eq!(utf16_column(source, 40, ColumnUnit::Bytes), utf16_offset_of(source, ");"));
    }

    #[test]
    fn vite_rollup_errors_at_their_file() {
        let found_export = found(include_str!("fixtures/vite-rollup-export.txt"));
        assert_eq!(places(&found_export), [("/app/src/App.jsx", 1, Some(10), Severity::Error)]);
        assert_eq!(found_export[0].message, "\"two\" is not exported by \"src/lib.js\", imported by \"src/App.jsx\".");
        // No place in the file: its first line.
        let unresolved = found(include_str!("fixtures/vite-unresolved.txt"));
        assert_eq!(places(&unresolved), [("/app/src/App.jsx", 1, None, Severity::Error)]);
        assert_eq!(unresolved[0].message, "Could not resolve \"./Foo\" from \"src/App.jsx\"");
    }

    #[test]
    fn esbuild_cli_error() {
        let found = found(include_str!("fixtures/esbuild-cli.txt"));
        assert_eq!(places(&found), [("src/App.jsx", 2, Some(40), Severity::Error)]);
        assert_eq!(found[0].message, "Unexpected \")\"");
    }

    #[test]
    fn eslint_stylish_rows_with_their_severity_and_rule() {
        let found = found(include_str!("fixtures/eslint-stylish.txt"));
        assert_eq!(
            places(&found),
            [
                ("/app/src/lib.js", 1, Some(21), Severity::Warning),
                ("/app/src/lib.js", 2, Some(7), Severity::Error),
                ("/app/src/lib.js", 2, Some(36), Severity::Error),
            ]
        );
        assert_eq!(found[2].message, "'zz' is not defined");
        assert_eq!(found[2].code.as_deref(), Some("no-undef"));
        let source = "const unused = \"é😀\"; const more = zz;";
        assert_eq!(utf16_column(source, 36, ColumnUnit::Utf16), utf16_offset_of(source, "zz;"));
    }
}
