//! User-defined matchers, like VS Code's problem matchers: one regex, applied to each line, whose
//! named groups say where the parts are. For tools the built-in matchers don't know (linters, test
//! runners, in-house scripts). `end_column` is taken as exclusive, like [`Location::end_column`].

use regex::Regex;

use super::{number, ColumnUnit, Diagnostic, DirectoryStack, Location, Matcher, Severity};

/// A user-defined matcher, like VS Code's problem matchers: a regex with named groups
/// `file`, `line`, optional `column`, `end_line`, `end_column`, `severity` (error|warning|info|note|hint), `code`, `message`.
#[derive(Debug, Clone)]
pub struct CustomMatcher {
    regex: Regex,
    default_severity: Severity,
    unit: ColumnUnit,
}

impl CustomMatcher {
    /// Errors: invalid regex, or no `file`/`line`/`message` group — the message says which.
    pub fn new(regex: &str, default_severity: Severity, unit: ColumnUnit) -> Result<CustomMatcher, String> {
        let regex = Regex::new(regex).map_err(|e| format!("invalid problem-matcher regex: {e}"))?;
        let names: Vec<&str> = regex.capture_names().flatten().collect();
        let missing: Vec<&str> = ["file", "line", "message"].into_iter().filter(|g| !names.contains(g)).collect();
        if !missing.is_empty() {
            let groups = missing.iter().map(|g| format!("(?P<{g}>...)")).collect::<Vec<_>>().join(", ");
            return Err(format!("problem-matcher regex lacks the named group(s) {groups}"));
        }
        Ok(CustomMatcher { regex, default_severity, unit })
    }

    fn severity(&self, word: Option<&str>) -> Severity {
        match word.map(str::to_ascii_lowercase).as_deref() {
            Some("error" | "err" | "fatal" | "fatal error") => Severity::Error,
            Some("warning" | "warn") => Severity::Warning,
            Some("info" | "information" | "note") => Severity::Info,
            Some("hint") => Severity::Hint,
            _ => self.default_severity,
        }
    }
}

impl Matcher for CustomMatcher {
    fn name(&self) -> &'static str {
        "custom"
    }

    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        let Some(caps) = self.regex.captures(line) else { return Vec::new() };
        let (Some(file), Some(line_number)) = (caps.name("file"), number(caps.name("line"))) else { return Vec::new() };
        let mut location = Location::new(file.as_str(), dirs, line_number, number(caps.name("column")), self.unit);
        location.end_line = number(caps.name("end_line"));
        location.end_column = number(caps.name("end_column"));
        vec![Diagnostic {
            location,
            severity: self.severity(caps.name("severity").map(|s| s.as_str())),
            message: caps.name("message").map_or("", |m| m.as_str()).trim().to_owned(),
            code: caps.name("code").map(|c| c.as_str().to_owned()).filter(|c| !c.is_empty()),
            tool: "custom",
            related: Vec::new(),
        }]
    }

    fn finish(&mut self) -> Vec<Diagnostic> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::test_support::run;
    use crate::diagnostics::utf16_column;

    /// yamllint's `-f parsable` format.
    const YAMLLINT: &str = r"^(?P<file>[^:]+):(?P<line>\d+):(?P<column>\d+): \[(?P<severity>\w+)\] (?P<message>.*?)(?: \((?P<code>[\w-]+)\))?$";

    #[test]
    fn custom_matcher_reads_a_linter_the_builtins_do_not_know() {
        let mut yamllint = CustomMatcher::new(YAMLLINT, Severity::Error, ColumnUnit::Chars).unwrap();
        let found = run(&mut yamllint, include_str!("fixtures/custom-yamllint.txt"));
        let summary: Vec<_> =
            found.iter().map(|d| (d.location.path.as_str(), d.location.line, d.severity, d.code.as_deref())).collect();
        assert_eq!(
            summary,
            [
                ("bad.yaml", 1, Severity::Warning, Some("document-start")),
                ("bad.yaml", 4, Severity::Error, Some("hyphens")),
                ("bad.yaml", 6, Severity::Error, Some("syntax")),
                ("dup.yaml", 1, Severity::Warning, Some("document-start")),
                ("dup.yaml", 2, Severity::Error, Some("key-duplicates")),
                ("dup.yaml", 3, Severity::Error, Some("trailing-spaces")),
            ]
        );
        assert_eq!(found[4].message, "duplication of key \"name\" in mapping");
        assert_eq!(found[4].tool, "custom");
    }

    #[test]
    fn custom_matcher_uses_the_unit_it_was_given() {
        // yamllint counted chars: `a: "<TAB>中𝑥𝑥é😀" ` reported its trailing space at 1:12.
        let mut yamllint = CustomMatcher::new(YAMLLINT, Severity::Error, ColumnUnit::Chars).unwrap();
        let found = yamllint.line("col.yaml:1:12: [error] trailing spaces (trailing-spaces)", &DirectoryStack::new());
        let source = "a: \"\t中𝑥𝑥é😀\" ";
        assert_eq!(utf16_column(source, found[0].location.column.unwrap_or(0), found[0].location.unit), 14);
    }

    #[test]
    fn custom_matcher_without_severity_group_uses_the_default() {
        let mut m =
            CustomMatcher::new(r"^(?P<file>\S+):(?P<line>\d+) (?P<message>.+)$", Severity::Warning, ColumnUnit::Bytes)
                .unwrap();
        let found = m.line("lib/x.sh:7 quote this", &DirectoryStack::new());
        assert_eq!((found[0].severity, found[0].location.column), (Severity::Warning, None));
    }

    #[test]
    fn custom_matcher_rejects_a_bad_regex_and_says_which_group_is_missing() {
        let bad = CustomMatcher::new(r"(?P<file>[", Severity::Error, ColumnUnit::Bytes).unwrap_err();
        assert!(bad.starts_with("invalid problem-matcher regex"), "{bad}");
        let missing =
            CustomMatcher::new(r"^(?P<file>\S+):(?P<line>\d+)", Severity::Error, ColumnUnit::Bytes).unwrap_err();
        assert_eq!(missing, "problem-matcher regex lacks the named group(s) (?P<message>...)");
    }
}
