//! nginx: a configuration it refuses (`nginx -t` in a build step, or the server failing as its
//! container starts — the usual way a compose project's proxy says its config is wrong).
//!
//! ```text
//! nginx: [emerg] unknown directive "add_headr" in /etc/nginx/conf.d/default.conf:4
//! 2026/12/05 12:05:09 [emerg] 6420#6420: unknown directive "add_headr" in /etc/nginx/conf.d/default.conf:4
//! ```
//!
//! The first form goes to stderr; the second to the error log, which the official image links
//! to stderr, so a container prints both: one problem, reported once (the pipeline drops the
//! same place and message said twice). nginx names a line, never a column. `emerg`, `alert`,
//! `crit` and `error` are errors; `warn` a warning; a message with no `in FILE:LINE` is not
//! located and left to the step's or the service's report.

use std::sync::LazyLock;

use regex::Regex;

use super::{number, ColumnUnit, Diagnostic, DirectoryStack, Location, Matcher, Severity};

static PROBLEM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:nginx: |\d{4}/\d\d/\d\d \d\d:\d\d:\d\d )\[(?P<level>emerg|alert|crit|error|warn)\] (?:\d+#\d+: )?(?P<msg>.+) in (?P<file>/[^\s:]+):(?P<line>\d+)$",
    )
    .unwrap()
});

#[derive(Default)]
pub struct NginxMatcher;

impl Matcher for NginxMatcher {
    fn name(&self) -> &'static str {
        "nginx"
    }

    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        let Some(caps) = PROBLEM.captures(line) else { return Vec::new() };
        let Some(line_number) = number(caps.name("line")) else { return Vec::new() };
        let severity = if &caps["level"] == "warn" { Severity::Warning } else { Severity::Error };
        vec![Diagnostic {
            location: Location::new(&caps["file"], dirs, line_number, None, ColumnUnit::Bytes),
            severity,
            message: caps["msg"].to_owned(),
            code: None,
            tool: "nginx",
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

    #[test]
    fn nginx_config_problems_in_both_of_its_forms() {
        let found = run(&mut NginxMatcher, include_str!("fixtures/nginx-config.txt"));
        let seen: Vec<(&str, u32, Severity, &str)> =
            found.iter().map(|d| (d.location.path.as_str(), d.location.line, d.severity, d.message.as_str())).collect();
        let conf = "/etc/nginx/conf.d/default.conf";
        let unknown = "unknown directive \"add_headr\"";
        let upstream = "host not found in upstream \"nosuchhost.invalid:80\"";
        let duplicate =
            "duplicate extension \"html\", content type: \"text/html\", previous content type: \"text/html\"";
        assert_eq!(
            seen,
            [
                (conf, 4, Severity::Error, unknown),
                (conf, 1, Severity::Error, upstream),
                (conf, 1, Severity::Error, upstream),
                (conf, 3, Severity::Warning, duplicate),
                (conf, 6, Severity::Error, "unexpected \"}\""),
                (conf, 4, Severity::Error, unknown),
            ]
        );
        assert!(found.iter().all(|d| d.location.column.is_none() && d.tool == "nginx"));
    }
}
