//! JavaScript front-end builds, the usual `RUN npm run build` of a multi-stage Dockerfile:
//! Create React App (webpack with ESLint), Next.js (SWC, tsc, ESLint), Vite (Rollup, with
//! esbuild transforming JSX and TypeScript), esbuild on its own, and ESLint's default output.
//! Each prints its own shape (fixtures/cra-*, next-*, vite-*, esbuild-cli.txt,
//! eslint-stylish.txt, captured from react-scripts 5, Next.js 14, Vite 5.4, esbuild 0.21 and
//! ESLint 8):
//!
//! ```text
//! Failed to compile.                       CRA and Next.js ("Compiled with warnings.": CRA's warnings)
//!
//! src/App.js                               the file, relative to the build's folder
//!   Line 5:9:  'x' is not defined  no-undef   CRA's ESLint: 1-based UTF-16 columns, the rule last
//! Syntax error: Unexpected token (2:12) (2:12)  CRA's Babel: 0-based UTF-16 columns
//! ./src/app/page.tsx                       Next.js (its lint warnings come without a verdict)
//! 3:19  Error: `'` can be escaped…  react/no-unescaped-entities   its ESLint
//! ./src/app/page.tsx:2:37                  its tsc: 1-based UTF-16 columns, the message next
//! Type error: Type 'string' is not assignable to type 'number'.
//! Error:                                   its SWC: the message, then a code frame whose caret
//!   x Expression expected                  is padded by bytes under the line it points at
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

static FILE: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!(r"^(?P<file>{SOURCE})$")).unwrap());
/// Next.js's file lines, the only ones that may come without a verdict before them.
static NEXT_FILE: LazyLock<Regex> = LazyLock::new(|| Regex::new(&format!(r"^(?P<file>\./{SOURCE})$")).unwrap());
static FILE_AT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(&format!(r"^(?P<file>{SOURCE}):(?P<line>\d+):(?P<col>\d+)$")).unwrap());
static ANY_ERROR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?:[A-Z][\w ]*)?[Ee]rror: \S.*$").unwrap());
static CRA_LINT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^  Line (?P<line>\d+):(?P<col>\d+):\s+(?P<msg>.+?)(?:\s{2,}(?P<rule>[@\w][\w@/-]*))?$").unwrap()
});
static NEXT_LINT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<line>\d+):(?P<col>\d+)\s+(?P<sev>Error|Warning): (?P<msg>.+?)(?:\s{2,}(?P<rule>[@\w][\w@/-]*))?$")
        .unwrap()
});
/// `Syntax error: Unexpected token (2:12) (2:12)`: Babel's message, its place repeated by CRA.
static CRA_ERROR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<kind>[A-Z][\w ]*?(?:error|Error)): (?P<msg>.+?) \((?P<line>\d+):(?P<col>\d+)\)(?: \(\d+:\d+\))?$")
        .unwrap()
});
static SWC_MESSAGE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s+x (?P<msg>.+)$").unwrap());
static SWC_SOURCE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^ *(?P<line>\d+) \|").unwrap());
static SWC_CARET: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^ +: (?P<pad> *)\^").unwrap());
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
    /// After CRA's or Next.js's verdict: problems follow, file by file, at this severity
    /// unless a row says its own.
    Files { severity: Severity, file: Option<String>, next: Next },
    /// After Vite's `error during build:`: its message (None until read), then its `file:`.
    Vite { message: Option<String>, esbuild: bool },
    /// After esbuild's `✘ [ERROR] msg`: its place follows.
    Esbuild { severity: Severity, message: String },
    /// After an ESLint file header: its rows follow.
    Eslint { file: String },
}

/// What the next lines of a file's report are expected to be.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Next {
    #[default]
    Rows,
    /// After `file:L:C` (Next.js's tsc): the message.
    Message { line: u32, column: u32 },
    /// After SWC's `Error:`: its message, then the source lines of its frame until the caret.
    Frame { message: Option<String>, line: Option<u32> },
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
        "ERROR" | "error" | "Error" => Severity::Error,
        _ => Severity::Warning,
    }
}

impl FrontendMatcher {
    /// A line that starts a block, whatever came before; the block's first diagnostic, if any.
    fn start(&mut self, line: &str, dirs: &DirectoryStack) -> Option<Vec<Diagnostic>> {
        let state = match line {
            "Failed to compile." => State::Files { severity: Severity::Error, file: None, next: Next::Rows },
            "Compiled with warnings." => State::Files { severity: Severity::Warning, file: None, next: Next::Rows },
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
                } else if let (State::Outside, Some(caps)) = (&self.state, NEXT_FILE.captures(line)) {
                    // Next.js's lint warnings: no verdict before them.
                    State::Files { severity: Severity::Warning, file: Some(caps["file"].to_owned()), next: Next::Rows }
                } else {
                    return None;
                }
            }
        };
        self.state = state;
        Some(Vec::new())
    }

    /// A line of a file's report (CRA's, Next.js's) in `file`.
    fn file_line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        let State::Files { severity, file, next } = &mut self.state else { return Vec::new() };
        let severity = *severity;
        if let Some(caps) = FILE.captures(line) {
            (*file, *next) = (Some(caps["file"].to_owned()), Next::Rows);
            return Vec::new();
        }
        if let Some(caps) = FILE_AT.captures(line) {
            let (Some(at), Some(column)) = (number(caps.name("line")), number(caps.name("col"))) else {
                return Vec::new();
            };
            (*file, *next) = (Some(caps["file"].to_owned()), Next::Message { line: at, column });
            return Vec::new();
        }
        let Some(path) = file.clone() else { return Vec::new() };
        let at = |line: u32, column: Option<u32>, unit| Location::new(&path, dirs, line, column, unit);
        match next {
            Next::Message { line: n, column } if ANY_ERROR.is_match(line) => {
                let location = at(*n, Some(*column), ColumnUnit::Utf16);
                *next = Next::Rows;
                return vec![diagnostic(location, Severity::Error, line, None)];
            }
            Next::Frame { message, line: source } => {
                if let (None, Some(caps)) = (&message, SWC_MESSAGE.captures(line)) {
                    *message = Some(caps["msg"].to_owned());
                } else if let Some(caps) = SWC_SOURCE.captures(line) {
                    *source = number(caps.name("line"));
                } else if let (Some(text), Some(n), Some(caps)) = (&message, *source, SWC_CARET.captures(line)) {
                    // SWC pads its caret by the line's bytes, not its characters.
                    let column = u32::try_from(caps["pad"].len()).ok().map(|c| c.saturating_add(1));
                    let found = diagnostic(at(n, column, ColumnUnit::Bytes), Severity::Error, text, None);
                    *next = Next::Rows;
                    return vec![found];
                }
                return Vec::new();
            }
            _ => {}
        }
        if line.trim_end() == "Error:" {
            *next = Next::Frame { message: None, line: None };
        } else if let Some(caps) = CRA_LINT.captures(line) {
            let Some(n) = number(caps.name("line")) else { return Vec::new() };
            let location = at(n, number(caps.name("col")), ColumnUnit::Utf16);
            return vec![diagnostic(location, severity, &caps["msg"], caps.name("rule").map(|r| r.as_str()))];
        } else if let Some(caps) = NEXT_LINT.captures(line) {
            let Some(n) = number(caps.name("line")) else { return Vec::new() };
            let location = at(n, number(caps.name("col")), ColumnUnit::Utf16);
            let rule = caps.name("rule").map(|r| r.as_str());
            return vec![diagnostic(location, self::severity(&caps["sev"]), &caps["msg"], rule)];
        } else if let Some(caps) = CRA_ERROR.captures(line) {
            let Some(n) = number(caps.name("line")) else { return Vec::new() };
            let message = format!("{}: {}", &caps["kind"], &caps["msg"]);
            return vec![diagnostic(at(n, from_zero(&caps), ColumnUnit::Utf16), Severity::Error, &message, None)];
        } else if line.starts_with("Search for the keywords")
            || line.starts_with("File sizes after gzip")
            || line.starts_with("info  - ")
            || line.starts_with("> Build failed")
        {
            self.state = State::Outside;
        }
        Vec::new()
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
            State::Files { .. } => return self.file_line(line, dirs),
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

    /// Next.js's tsc error: 1-based UTF-16 columns (`n` after `"é😀"` is the 37th unit).
    #[test]
    fn next_type_error_at_its_place() {
        let found = found(include_str!("fixtures/next-type-error.txt"));
        assert_eq!(places(&found), [("./src/app/page.tsx", 2, Some(37), Severity::Error)]);
        assert_eq!(found[0].message, "Type error: Type 'string' is not assignable to type 'number'.");
        let source = "  const name: string = \"é😀\"; const n: number = name;";
        assert_eq!(utf16_column(source, 37, ColumnUnit::Utf16), utf16_offset_of(source, "n: number"));
    }

    /// SWC's caret is padded by bytes: under `)`, 47 bytes in (after `"é😀"`, 43 characters).
    #[test]
    fn next_swc_syntax_error_at_its_caret() {
        let found = found(include_str!("fixtures/next-swc-syntax.txt"));
        assert_eq!(places(&found), [("./src/app/page.tsx", 2, Some(48), Severity::Error)]);
        assert_eq!(found[0].message, "Expression expected");
        let source = "  const name: string = \"é😀\"; const n = 1 + );";
        assert_eq!(utf16_column(source, 48, ColumnUnit::Bytes), utf16_offset_of(source, ");"));
    }

    #[test]
    fn next_lint_errors_and_warnings_with_their_rules() {
        let errors = found(include_str!("fixtures/next-lint-error.txt"));
        assert_eq!(places(&errors), [("./src/app/page.tsx", 3, Some(19), Severity::Error)]);
        assert_eq!(errors[0].code.as_deref(), Some("react/no-unescaped-entities"));
        let warnings = found(include_str!("fixtures/next-lint-warnings.txt"));
        assert_eq!(
            places(&warnings),
            [
                ("./src/app/page.tsx", 3, Some(22), Severity::Warning),
                ("./src/app/page.tsx", 3, Some(22), Severity::Warning)
            ]
        );
        let rules: Vec<Option<&str>> = warnings.iter().map(|w| w.code.as_deref()).collect();
        assert_eq!(rules, [Some("@next/next/no-img-element"), Some("jsx-a11y/alt-text")]);
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
