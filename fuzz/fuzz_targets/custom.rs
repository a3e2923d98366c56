#![no_main]
//! User-defined matchers: the first line is the regex (as `[[matcher]] regex` gives it), the first
//! byte chooses the default severity and the column unit, the rest is the output.

use docker_rebuilder::diagnostics::{ColumnUnit, CustomMatcher, Severity};
use fuzz_support::run_matcher;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&choice, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let (regex, output) = text.split_once('\n').unwrap_or((&text, ""));
    let severity = [Severity::Error, Severity::Warning, Severity::Info, Severity::Hint][usize::from(choice & 3)];
    let unit = [ColumnUnit::Bytes, ColumnUnit::Chars, ColumnUnit::Utf16, ColumnUnit::DisplayTab8]
        [usize::from((choice >> 2) & 3)];
    match CustomMatcher::new(regex, severity, unit) {
        Ok(mut matcher) => {
            for diagnostic in run_matcher(&mut matcher, output) {
                // What the tool printed, as it printed it: the path is part of some line.
                assert!(output.contains(diagnostic.location.path.as_str()), "{diagnostic:?}");
                assert_eq!(diagnostic.tool, "custom");
            }
        }
        Err(message) => assert!(
            message.starts_with("invalid problem-matcher regex") || message.contains("lacks the named group"),
            "{message}"
        ),
    }
});
