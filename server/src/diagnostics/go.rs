//! The go command: `go build`, `go test`'s build step, `go vet`.
//!
//! Errors are `./main.go:5:2: undefined: x` (paths relative to where go ran), grouped under `# pkg`
//! headers; explanations continue on tab-indented lines (`\thave ()` / `\twant (int)`). Columns are
//! bytes (measured). Under `go vet`, findings are warnings, but vet's type-check failures keep their
//! `vet: ` prefix and are errors.

use std::sync::LazyLock;

use regex::Regex;

use super::accumulator::Accumulator;
use super::{number, ColumnUnit, Diagnostic, DirectoryStack, Location, Matcher, Severity};

static ERROR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<vet>vet: )?(?P<file>[^\s:][^:]*\.go):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<msg>.*)$").unwrap()
});

pub struct GoMatcher {
    /// The command is `go vet`: what vet finds is advice, not a broken build.
    vet: bool,
    pending: Accumulator,
}

impl GoMatcher {
    pub fn new(vet: bool) -> Self {
        GoMatcher { vet, pending: Accumulator::default() }
    }
}

impl Matcher for GoMatcher {
    fn name(&self) -> &'static str {
        "go"
    }

    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        if let Some(caps) = ERROR.captures(line) {
            self.pending.flush(&mut out);
            let Some(line_number) = number(caps.name("line")) else { return out };
            let severity = if self.vet && caps.name("vet").is_none() { Severity::Warning } else { Severity::Error };
            self.pending.hold(Diagnostic {
                location: Location::new(&caps["file"], dirs, line_number, number(caps.name("col")), ColumnUnit::Bytes),
                severity,
                message: caps["msg"].to_owned(),
                code: None,
                tool: "go",
                related: Vec::new(),
            });
        } else if let Some(more) = line.strip_prefix('\t') {
            self.pending.append_message(more.trim());
        } else {
            // `# pkg` headers, `too many errors` and anything else end the current error.
            self.pending.flush(&mut out);
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
    use crate::diagnostics::test_support::{run, utf16_offset_of};
    use crate::diagnostics::utf16_column;

    fn places(found: &[Diagnostic]) -> Vec<(&str, u32, Option<u32>, Severity)> {
        found.iter().map(|d| (d.location.path.as_str(), d.location.line, d.location.column, d.severity)).collect()
    }

    #[test]
    fn go_build_errors_under_package_headers() {
        let found = run(&mut GoMatcher::new(false), include_str!("fixtures/go-build.txt"));
        assert_eq!(
            places(&found),
            [
                ("util/col.go", 4, Some(32), Severity::Error),
                ("./main.go", 5, Some(2), Severity::Error),
                ("./main.go", 11, Some(2), Severity::Error),
                ("./main.go", 12, Some(14), Severity::Error),
                ("./main.go", 12, Some(17), Severity::Error),
            ]
        );
        assert_eq!(found[1].message, "imported and not used: \"os\"");
    }

    #[test]
    fn go_tab_indented_lines_continue_the_message() {
        let found = run(&mut GoMatcher::new(false), include_str!("fixtures/go-build.txt"));
        assert_eq!(found[4].message, "not enough arguments in call to f\nhave ()\nwant (int)");
    }

    #[test]
    fn go_vet_findings_are_warnings() {
        let found = run(&mut GoMatcher::new(true), include_str!("fixtures/go-vet.txt"));
        assert_eq!(
            places(&found),
            [("./main.go", 9, Some(2), Severity::Warning), ("./main.go", 7, Some(2), Severity::Warning)]
        );
        assert_eq!(found[1].message, "fmt.Printf format %d has arg name of wrong type string");
    }

    #[test]
    fn go_vet_type_check_failures_are_errors() {
        let found = run(&mut GoMatcher::new(true), include_str!("fixtures/go-vet-typecheck.txt"));
        assert_eq!(
            places(&found),
            [("util/col.go", 4, Some(32), Severity::Error), ("./main.go", 10, Some(14), Severity::Error)]
        );
    }

    #[test]
    fn go_columns_are_bytes() {
        let location = &run(&mut GoMatcher::new(false), include_str!("fixtures/go-columns.txt"))[0].location;
        assert_eq!((location.column, location.unit), (Some(39), ColumnUnit::Bytes));
        let source = "\tvar s = \"中𝑥𝑥é😀\"; _ = s + zz";
        assert_eq!(utf16_column(source, 39, location.unit), utf16_offset_of(source, "zz"));
        let col_go = "\tvar é, s = \"😀\", 1; return é + s";
        assert_eq!(utf16_column(col_go, 32, ColumnUnit::Bytes), utf16_offset_of(col_go, "é + s"));
    }
}
