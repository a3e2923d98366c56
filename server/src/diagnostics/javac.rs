//! javac (and tools that print its diagnostics as they are, like Gradle).
//!
//! `File.java:12: error: msg` has no column: javac echoes the source line and puts a caret under the
//! spot, so the column is the caret's position. javac builds that caret line by copying the tabs of the
//! source line and writing a space for every other UTF-16 unit, so the caret's index counts UTF-16
//! units with a tab as one (measured: `😀` took two spaces). Indented lines after the caret
//! (`symbol:`, `location:`, `required:`) are part of the message. Lint warnings carry their category
//! (`[rawtypes]`), which becomes the code.

use std::sync::LazyLock;

use regex::Regex;

use super::accumulator::Accumulator;
use super::{append_line, number, ColumnUnit, Diagnostic, DirectoryStack, Location, Matcher, Severity};

static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<file>[^\s:][^:]*\.java):(?P<line>\d+): (?P<sev>error|warning|note): (?P<msg>.*)$").unwrap()
});
static LINT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\[(?P<code>[\w-]+)\] (?P<msg>.*)$").unwrap());
static CARET: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[ \t]*\^$").unwrap());

enum Stage {
    Echo,
    Caret,
    Details,
}

pub struct JavacMatcher {
    pending: Accumulator,
    stage: Stage,
}

impl Default for JavacMatcher {
    fn default() -> Self {
        JavacMatcher { pending: Accumulator::default(), stage: Stage::Details }
    }
}

impl Matcher for JavacMatcher {
    fn name(&self) -> &'static str {
        "javac"
    }

    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        if let Some(caps) = HEADER.captures(line) {
            self.pending.flush(&mut out);
            let Some(line_number) = number(caps.name("line")) else { return out };
            let (message, code) = match LINT.captures(&caps["msg"]) {
                Some(lint) => (lint["msg"].to_owned(), Some(lint["code"].to_owned())),
                None => (caps["msg"].to_owned(), None),
            };
            self.pending.hold(Diagnostic {
                location: Location::new(&caps["file"], dirs, line_number, None, ColumnUnit::Utf16),
                severity: match &caps["sev"] {
                    "error" => Severity::Error,
                    "warning" => Severity::Warning,
                    _ => Severity::Info,
                },
                message,
                code,
                tool: "javac",
                related: Vec::new(),
            });
            self.stage = Stage::Echo;
            return out;
        }
        let Some(pending) = self.pending.draft_mut() else { return out };
        match self.stage {
            Stage::Echo => self.stage = Stage::Caret,
            Stage::Caret if CARET.is_match(line) => {
                pending.location.column = Some(line.chars().count() as u32);
                self.stage = Stage::Details;
            }
            _ if line.starts_with(char::is_whitespace) && !line.trim().is_empty() => {
                self.stage = Stage::Details;
                append_line(&mut pending.message, line.trim());
            }
            _ => self.pending.flush(&mut out),
        }
        out
    }

    fn finish(&mut self) -> Vec<Diagnostic> {
        self.pending.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::test_support::{run, source_line, utf16_offset_of};
    use crate::diagnostics::utf16_column;

    const ERRORS: &str = include_str!("fixtures/javac-errors.txt");

    fn javac(fixture: &str) -> Vec<Diagnostic> {
        run(&mut JavacMatcher::default(), fixture)
    }

    #[test]
    fn javac_caret_gives_the_column() {
        let found = javac(ERRORS);
        let places: Vec<_> = found.iter().map(|d| (d.location.line, d.location.column, d.severity)).collect();
        assert_eq!(
            places,
            [
                (7, Some(17), Severity::Error),
                (8, Some(9), Severity::Error),
                (9, Some(41), Severity::Warning),
                (9, Some(28), Severity::Warning),
                (4, Some(36), Severity::Error),
            ]
        );
        assert_eq!(found[0].location.path, "src/com/example/App.java");
    }

    #[test]
    fn javac_symbol_details_join_the_message() {
        let found = javac(ERRORS);
        assert_eq!(found[1].message, "cannot find symbol\nsymbol:   method undefinedMethod()\nlocation: class App");
    }

    #[test]
    fn javac_lint_category_becomes_the_code() {
        let found = javac(ERRORS);
        assert_eq!(found[2].code.as_deref(), Some("rawtypes"));
        assert!(found[2].message.starts_with("found raw type: ArrayList\nmissing type arguments"));
        assert_eq!(found[3].code.as_deref(), Some("unchecked"));
    }

    #[test]
    fn javac_caret_counts_utf16_units_with_a_tab_as_one() {
        let fixture = include_str!("fixtures/javac-columns.txt");
        let location = &javac(fixture)[0].location;
        assert_eq!((location.column, location.unit), (Some(42), ColumnUnit::Utf16));
        let source = source_line(fixture, "\tint f()");
        assert_eq!(utf16_column(source, 42, location.unit), utf16_offset_of(source, "zz"));
        let col_java = source_line(ERRORS, "\tint f()");
        assert_eq!(utf16_column(col_java, 36, ColumnUnit::Utf16), utf16_offset_of(col_java, "é;"));
    }
}
