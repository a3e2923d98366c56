//! Maven's compiler plugin: `[ERROR] /abs/path/A.java:[12,8] msg` and `[WARNING] ...:[l,c] msg`.
//!
//! The plugin takes javac's diagnostics through the compiler API, whose column expands tabs to the
//! next multiple of 8 and then counts UTF-16 units (measured). [`ColumnUnit::DisplayTab8`] is the
//! nearest unit: exact for tabs, ASCII, accents and emoji, one off per CJK char before the spot.
//! Indented lines after a header (`symbol: ...`, also as `[ERROR]   symbol: ...`) join its message.
//! Maven prints every error twice (as it compiles, then in the `BUILD FAILURE` summary), so a
//! diagnostic already reported is not reported again.

use std::collections::HashSet;
use std::sync::LazyLock;

use regex::Regex;

use super::accumulator::Accumulator;
use super::{number, ColumnUnit, Diagnostic, DirectoryStack, Location, Matcher, Severity};

static LEVEL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\[(?P<level>ERROR|WARNING|WARN|INFO)\] (?P<rest>.*)$").unwrap());
static HEADER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?P<file>\S.*?):\[(?P<line>\d+)(?:,(?P<col>\d+))?\] (?P<msg>.*)$").unwrap());

#[derive(Default)]
pub struct MavenMatcher {
    pending: Accumulator,
    reported: HashSet<(String, u32, Option<u32>, String)>,
}

impl MavenMatcher {
    /// Drops what this output already reported (the `BUILD FAILURE` summary's repeats).
    fn first_reports(&mut self, mut found: Vec<Diagnostic>) -> Vec<Diagnostic> {
        found.retain(|diagnostic| {
            let l = &diagnostic.location;
            let first_line = diagnostic.message.lines().next().unwrap_or("").to_owned();
            self.reported.insert((l.path.clone(), l.line, l.column, first_line))
        });
        found
    }
}

impl Matcher for MavenMatcher {
    fn name(&self) -> &'static str {
        "maven"
    }

    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let (level, rest) = match LEVEL.captures(line) {
            Some(caps) => {
                (Some(caps.name("level").map_or("", |m| m.as_str())), caps.name("rest").map_or("", |m| m.as_str()))
            }
            None => (None, line),
        };
        let severity = match level {
            Some("ERROR") => Severity::Error,
            Some("WARNING" | "WARN") => Severity::Warning,
            _ => Severity::Info,
        };
        if let Some(caps) = HEADER.captures(rest).filter(|_| level.is_some()) {
            self.pending.flush(&mut out);
            if let Some(line_number) = number(caps.name("line")) {
                let column = number(caps.name("col"));
                self.pending.hold(Diagnostic {
                    location: Location::new(&caps["file"], dirs, line_number, column, ColumnUnit::DisplayTab8),
                    severity,
                    message: caps["msg"].to_owned(),
                    code: None,
                    tool: "maven",
                    related: Vec::new(),
                });
            }
        } else if rest.starts_with(char::is_whitespace) && !rest.trim().is_empty() {
            self.pending.append_message(rest.trim());
        } else {
            self.pending.flush(&mut out);
        }
        self.first_reports(out)
    }

    fn finish(&mut self) -> Vec<Diagnostic> {
        let found = self.pending.finish();
        let out = self.first_reports(found);
        // Repeats are dropped within one build's output; the next output is judged on its own.
        self.reported.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::test_support::{run, utf16_offset_of};
    use crate::diagnostics::utf16_column;

    fn maven(fixture: &str) -> Vec<Diagnostic> {
        run(&mut MavenMatcher::default(), fixture)
    }

    #[test]
    fn maven_errors_are_reported_once_despite_the_build_failure_summary() {
        let found = maven(include_str!("fixtures/maven-compile.txt"));
        let places: Vec<_> = found.iter().map(|d| (d.location.line, d.location.column, d.severity)).collect();
        assert_eq!(
            places,
            [
                (9, Some(28), Severity::Warning),
                (7, Some(17), Severity::Error),
                (8, Some(9), Severity::Error),
                (4, Some(43), Severity::Error),
            ]
        );
        assert_eq!(found[1].location.path, "/tmp/scratch/mvnproj/src/main/java/com/example/App.java");
        assert_eq!(found[1].location.base_dir, None);
    }

    #[test]
    fn maven_reports_the_same_error_again_in_the_next_output() {
        // Found by fuzzing: what one output reported was dropped from every later one (a rebuild's
        // next step, or the next rebuild through the same pipeline).
        let mut maven = MavenMatcher::default();
        let output = "[ERROR] /src/A.java:[7,17] cannot find symbol\n";
        assert_eq!(run(&mut maven, output).len(), 1);
        assert_eq!(run(&mut maven, output).len(), 1);
    }

    #[test]
    fn maven_symbol_details_join_the_message() {
        let found = maven(include_str!("fixtures/maven-compile.txt"));
        assert_eq!(
            found[2].message,
            "cannot find symbol\nsymbol:   method undefinedMethod()\nlocation: class com.example.App"
        );
    }

    #[test]
    fn maven_quiet_output_with_colour_codes_is_understood() {
        let found = maven(include_str!("fixtures/maven-quiet.txt"));
        assert_eq!(found.len(), 3);
        assert!(found.iter().all(|d| d.severity == Severity::Error));
    }

    #[test]
    fn maven_columns_expand_tabs_to_8() {
        let found = maven(include_str!("fixtures/maven-columns.txt"));
        assert_eq!((found[0].location.column, found[0].location.unit), (Some(49), ColumnUnit::DisplayTab8));
        // Col.java's line (tab, `é`, emoji) from maven-compile.txt, reported at [4,43].
        let source = "\tint f() { String é = \"😀\"; return é; }";
        assert_eq!(utf16_column(source, 43, ColumnUnit::DisplayTab8), utf16_offset_of(source, "é;"));
    }
}
