//! The TypeScript compiler.
//!
//! `--pretty false` (tsc's default when not on a terminal, as in a container) prints
//! `src/a.ts(3,7): error TS2322: msg`, with an elaborated message's further lines indented by two
//! spaces. `--pretty` prints `src/a.ts:3:7 - error TS2322: msg` and a code excerpt: its header and
//! message lines are read, the excerpt (after a blank line) is not. Columns are UTF-16 units, as
//! JavaScript strings are (measured on tsc 5.9 and on the native tsc 7).

use std::sync::LazyLock;

use regex::Regex;

use super::accumulator::Accumulator;
use super::{number, ColumnUnit, Diagnostic, DirectoryStack, Location, Matcher, Severity};

static PLAIN: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<file>[^\s(][^(]*)\((?P<line>\d+),(?P<col>\d+)\): (?P<sev>error|warning|message) (?P<code>TS\d+): (?P<msg>.*)$")
        .unwrap()
});
static PRETTY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?P<col>\d+) - (?P<sev>error|warning|message) (?P<code>TS\d+): (?P<msg>.*)$")
        .unwrap()
});

#[derive(Default)]
pub struct TscMatcher {
    pending: Accumulator,
}

impl Matcher for TscMatcher {
    fn name(&self) -> &'static str {
        "tsc"
    }

    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        if let Some(caps) = PLAIN.captures(line).or_else(|| PRETTY.captures(line)) {
            self.pending.flush(&mut out);
            let Some(line_number) = number(caps.name("line")) else { return out };
            self.pending.hold(Diagnostic {
                location: Location::new(&caps["file"], dirs, line_number, number(caps.name("col")), ColumnUnit::Utf16),
                severity: match &caps["sev"] {
                    "error" => Severity::Error,
                    "warning" => Severity::Warning,
                    _ => Severity::Info,
                },
                message: caps["msg"].to_owned(),
                code: Some(caps["code"].to_owned()),
                tool: "tsc",
                related: Vec::new(),
            });
        } else if line.starts_with("  ") {
            self.pending.append_message(line.trim());
        } else {
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

    fn places(found: &[Diagnostic]) -> Vec<(&str, u32, Option<u32>, Option<&str>)> {
        found
            .iter()
            .map(|d| (d.location.path.as_str(), d.location.line, d.location.column, d.code.as_deref()))
            .collect()
    }

    const EXPECTED: [(&str, u32, Option<u32>, Option<&str>); 7] = [
        ("src/a.ts", 6, Some(20), Some("TS2551")),
        ("src/a.ts", 9, Some(7), Some("TS2322")),
        ("src/a.ts", 10, Some(20), Some("TS2353")),
        ("src/chain.ts", 2, Some(21), Some("TS2322")),
        ("src/chain.ts", 4, Some(3), Some("TS2345")),
        ("src/col.ts", 1, Some(32), Some("TS2322")),
        ("src/col.ts", 2, Some(20), Some("TS2322")),
    ];

    #[test]
    fn tsc_pretty_false_errors_with_codes() {
        let found = run(&mut TscMatcher::default(), include_str!("fixtures/tsc-errors.txt"));
        assert_eq!(places(&found), EXPECTED);
        assert_eq!(found[0].message, "Property 'nam' does not exist on type 'User'. Did you mean 'name'?");
    }

    #[test]
    fn tsc_elaborated_message_lines_join_the_message() {
        let found = run(&mut TscMatcher::default(), include_str!("fixtures/tsc-errors.txt"));
        assert_eq!(
            found[4].message,
            "Argument of type '(s: string) => void' is not assignable to parameter of type '(n: number) => void'.\n\
             Types of parameters 's' and 'n' are incompatible.\n\
             Type 'number' is not assignable to type 'string'."
        );
    }

    #[test]
    fn tsc_pretty_output_gives_the_same_diagnostics() {
        let pretty = run(&mut TscMatcher::default(), include_str!("fixtures/tsc-pretty.txt"));
        let plain = run(&mut TscMatcher::default(), include_str!("fixtures/tsc-errors.txt"));
        assert_eq!(pretty, plain);
    }

    #[test]
    fn tsc_native_preview_prints_the_same_format() {
        let found = run(&mut TscMatcher::default(), include_str!("fixtures/tsc-native-errors.txt"));
        assert_eq!(found.len(), 5);
        assert_eq!(places(&found)[4], ("src/col.ts", 2, Some(20), Some("TS2322")));
    }

    #[test]
    fn tsc_columns_are_utf16_units() {
        let location = &run(&mut TscMatcher::default(), include_str!("fixtures/tsc-columns.txt"))[0].location;
        assert_eq!((location.column, location.unit), (Some(30), ColumnUnit::Utf16));
        let source = "\tconst s = \"中𝑥𝑥é😀\"; const k: number = s;";
        assert_eq!(utf16_column(source, 30, location.unit), utf16_offset_of(source, "k:"));
        let col_ts = "\tlet é = \"😀\"; let k: number = é;";
        assert_eq!(utf16_column(col_ts, 20, ColumnUnit::Utf16), utf16_offset_of(col_ts, "k:"));
    }
}
