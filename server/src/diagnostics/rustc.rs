//! rustc, directly or through cargo, in both of its output formats.
//!
//! - Human: `error[E0308]: mismatched types`, then ` --> src/main.rs:4:9`, the echoed line and its
//!   `^^^^` underline (the range; the label after it joins the message), `= note:` lines (message; a
//!   lint's note gives the code) and `note:`/`help:` children (related when they have their own `-->`,
//!   else message). A blank line ends it.
//! - JSON (`cargo build --message-format=json`, `rustc --error-format=json`): one object per line, read
//!   whole: primary span for the range, labelled secondary spans and children with spans as related.
//!
//! Columns are chars in both (measured: a tab and `é` each count one, `😀` one). Paths are relative to
//! the workspace root, which need not be where cargo ran (a member's directory): JSON carries the
//! crate's absolute `src_path`, from which the root is recovered; human output does not say.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use super::accumulator::{Accumulator, Draft};
use super::{
    append_line, number, position::chars_in_display_span, ColumnUnit, Diagnostic, DirectoryStack, Location, Matcher,
    Severity,
};

static HEADER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?P<level>error|warning)(?:\[(?P<code>[^\]]+)\])?: (?P<msg>.*)$").unwrap());
static ARROW: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*--> (?P<file>.+):(?P<line>\d+):(?P<col>\d+)$").unwrap());
static CHILD: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?P<level>note|help)(?:\[[^\]]*\])?: (?P<msg>.*)$").unwrap());
static INLINE_NOTE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*= (?P<level>note|help|warning)\s*: (?P<msg>.*)$").unwrap());
/// The lint named in a warning's `= note:` (human output has no `[code]` for lints; JSON does).
static LINT_NOTE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^`(?:#\[(?:warn|deny|forbid)\((?P<attr>[\w:]+)\)\]|-[DW] (?P<flag>[\w:-]+))`").unwrap()
});
static ECHO: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*(?P<num>\d+) *\|(?: (?P<text>.*))?$").unwrap());
static UNDERLINE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*\|(?: (?P<text>.*))?$").unwrap());

enum Underline {
    Done,
    WantEcho(u32),
    WantMarks(String),
}

struct Pending {
    severity: Severity,
    code: Option<String>,
    message: String,
    location: Option<Location>,
    related: Vec<(Location, String)>,
    /// A `note:`/`help:` child waiting to see whether a `-->` follows.
    child: Option<String>,
    underline: Underline,
}

impl Pending {
    fn close_child(&mut self) {
        if let Some(child) = self.child.take() {
            append_line(&mut self.message, &child);
        }
    }

    /// Reads the primary underline: its width (display columns of the echo) becomes the end column.
    fn underline(&mut self, echo: &str, marks: &str) {
        let Some(location) = self.location.as_mut() else { return };
        // A span over several lines is drawn with `|`, `/` and `_`: keep the start only.
        if marks.starts_with(['|', '/', '_']) {
            return;
        }
        let Some(at) = marks.find('^') else { return };
        let run = marks[at..].chars().take_while(|c| *c == '^').count();
        if let (Some(column), Some(chars)) = (location.column, chars_in_display_span(echo, at, run)) {
            location.end_line = Some(location.line);
            location.end_column = Some(column.saturating_add(chars));
        }
        let label = marks[at + run..].trim();
        if !label.is_empty() && !label.starts_with(['-', '^', '|']) {
            append_line(&mut self.message, label);
        }
    }
}

impl Draft for Pending {
    fn into_diagnostic(mut self) -> Option<Diagnostic> {
        self.close_child();
        Some(Diagnostic {
            location: self.location?,
            severity: self.severity,
            message: self.message,
            code: self.code,
            tool: "rustc",
            related: self.related,
        })
    }
}

#[derive(Default)]
pub struct RustcMatcher {
    pending: Accumulator<Pending>,
}

fn severity(level: &str) -> Severity {
    match level {
        "error" | "error: internal compiler error" => Severity::Error,
        "warning" => Severity::Warning,
        "help" => Severity::Hint,
        _ => Severity::Info,
    }
}

impl RustcMatcher {
    fn human(&mut self, line: &str, dirs: &DirectoryStack, out: &mut Vec<Diagnostic>) {
        if let Some(caps) = HEADER.captures(line) {
            self.pending.flush(out);
            self.pending.hold(Pending {
                severity: severity(&caps["level"]),
                code: caps.name("code").map(|c| c.as_str().to_owned()),
                message: caps["msg"].to_owned(),
                location: None,
                related: Vec::new(),
                child: None,
                underline: Underline::Done,
            });
            return;
        }
        let Some(pending) = self.pending.draft_mut() else { return };
        if let Some(caps) = ARROW.captures(line) {
            let (Some(line), column) = (number(caps.name("line")), number(caps.name("col"))) else { return };
            let location = Location::new(&caps["file"], dirs, line, column, ColumnUnit::Chars);
            if let Some(child) = pending.child.take() {
                pending.related.push((location, child));
            } else if pending.location.is_none() {
                pending.location = Some(location);
                pending.underline = Underline::WantEcho(line);
            }
        } else if let Some(caps) = CHILD.captures(line) {
            pending.close_child();
            pending.child = Some(format!("{}: {}", &caps["level"], &caps["msg"]));
        } else if let Some(caps) = INLINE_NOTE.captures(line) {
            if let Some(lint) = LINT_NOTE.captures(&caps["msg"]).filter(|_| pending.code.is_none()) {
                let name = lint.name("attr").map(|a| a.as_str().to_owned());
                pending.code = name.or_else(|| lint.name("flag").map(|f| f.as_str().replace('-', "_")));
            }
            append_line(&mut pending.message, &format!("{}: {}", &caps["level"], &caps["msg"]));
        } else if let Some(caps) = ECHO.captures(line) {
            if let Underline::WantEcho(wanted) = pending.underline {
                if number(caps.name("num")) == Some(wanted) {
                    pending.underline = Underline::WantMarks(caps.name("text").map_or("", |t| t.as_str()).to_owned());
                }
            }
        } else if let Some(caps) = UNDERLINE.captures(line) {
            if let Underline::WantMarks(echo) = &pending.underline {
                let echo = echo.clone();
                pending.underline = Underline::Done;
                pending.underline(&echo, caps.name("text").map_or("", |t| t.as_str()));
            }
        } else if line.trim().is_empty() || (!line.starts_with(char::is_whitespace) && line != "...") {
            self.pending.flush(out);
        }
    }
}

/// The workspace root, from the crate root's absolute `src_path` and a span's root-relative
/// `file_name`: the split of `src_path` whose relative part shares most leading components with
/// `file_name` (the deepest on a tie, so a project under `/src` is not taken for one at `/`).
fn workspace_root(src_path: &str, file_name: &str) -> Option<String> {
    let wanted: Vec<&str> = file_name.split('/').collect();
    let mut best: Option<(usize, &str)> = None;
    let mut end = src_path.len();
    while let Some(slash) = src_path[..end].rfind('/') {
        let shared = src_path[slash + 1..].split('/').zip(&wanted).take_while(|(a, b)| a == *b).count();
        if shared > 0 && best.is_none_or(|(n, _)| shared > n) {
            best = Some((shared, &src_path[..slash]));
        }
        end = slash;
    }
    best.map(|(_, root)| if root.is_empty() { "/".to_owned() } else { root.to_owned() })
}

/// The user's code a span comes from: a span inside the standard library's macros (`/rustc/...`,
/// `<...>`) is followed back through its expansions.
fn user_site(mut span: &Value) -> &Value {
    for _ in 0..16 {
        let file = span["file_name"].as_str().unwrap_or("");
        let parent = &span["expansion"]["span"];
        if !(file.starts_with('<') || file.starts_with("/rustc/")) || !parent.is_object() {
            break;
        }
        span = parent;
    }
    span
}

fn span_location(span: &Value, root: Option<&str>, dirs: &DirectoryStack) -> Option<Location> {
    let field = |name: &str| span[name].as_u64().and_then(|n| u32::try_from(n).ok());
    let path = span["file_name"].as_str()?;
    let mut location = Location::new(path, dirs, field("line_start")?, field("column_start"), ColumnUnit::Chars);
    if let (Some(root), false) = (root, path.starts_with('/')) {
        location.base_dir = Some(root.to_owned());
    }
    location.end_line = field("line_end");
    location.end_column = field("column_end");
    Some(location)
}

fn json_diagnostic(line: &str, dirs: &DirectoryStack) -> Option<Diagnostic> {
    let value: Value = serde_json::from_str(line).ok()?;
    let (message, src_path) = if value["reason"] == "compiler-message" {
        (&value["message"], value["target"]["src_path"].as_str())
    } else if value["$message_type"] == "diagnostic" {
        (&value, None)
    } else {
        return None;
    };
    let spans = message["spans"].as_array()?;
    let primary = user_site(spans.iter().find(|s| s["is_primary"] == true)?);
    let root = src_path.zip(primary["file_name"].as_str()).and_then(|(src, file)| workspace_root(src, file));
    let location = span_location(primary, root.as_deref(), dirs)?;
    let mut text = message["message"].as_str()?.to_owned();
    if let Some(label) = primary["label"].as_str().filter(|l| !l.is_empty()) {
        append_line(&mut text, label);
    }
    let mut related = Vec::new();
    for span in spans.iter().filter(|s| s["is_primary"] != true) {
        if let (Some(label), Some(location)) = (span["label"].as_str(), span_location(span, root.as_deref(), dirs)) {
            related.push((location, label.to_owned()));
        }
    }
    for child in message["children"].as_array().into_iter().flatten() {
        let mut note = format!("{}: {}", child["level"].as_str()?, child["message"].as_str()?);
        let child_spans = child["spans"].as_array().map(Vec::as_slice).unwrap_or_default();
        let span = child_spans.iter().find(|s| s["is_primary"] == true).or(child_spans.first());
        match span.and_then(|s| Some((s, span_location(s, root.as_deref(), dirs)?))) {
            Some((span, location)) => {
                if let Some(replacement) = span["suggested_replacement"].as_str().filter(|r| !r.is_empty()) {
                    note.push_str(&format!(": `{replacement}`"));
                }
                related.push((location, note));
            }
            None => append_line(&mut text, &note),
        }
    }
    Some(Diagnostic {
        location,
        severity: severity(message["level"].as_str()?),
        message: text,
        code: message["code"]["code"].as_str().map(str::to_owned),
        tool: "rustc",
        related,
    })
}

impl Matcher for RustcMatcher {
    fn name(&self) -> &'static str {
        "rustc"
    }

    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        if line.starts_with('{') {
            self.pending.flush(&mut out);
            out.extend(json_diagnostic(line, dirs));
        } else {
            self.human(line, dirs, &mut out);
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

    fn rustc(fixture: &str) -> Vec<Diagnostic> {
        run(&mut RustcMatcher::default(), fixture)
    }

    fn range(d: &Diagnostic) -> (u32, Option<u32>, Option<u32>, Option<u32>) {
        let l = &d.location;
        (l.line, l.column, l.end_line, l.end_column)
    }

    #[test]
    fn rustc_human_error_with_code_and_underline_range() {
        let found = rustc(include_str!("fixtures/rustc-human-errors.txt"));
        assert_eq!(found.len(), 3, "`could not compile` and `Some errors have...` are not diagnostics");
        assert_eq!(found[0].code.as_deref(), Some("E0425"));
        assert_eq!(found[0].message, "cannot find value `undefined_var` in this scope\nnot found in this scope");
        assert_eq!(range(&found[0]), (9, Some(20), Some(9), Some(33)));
        assert_eq!(found[1].message, "mismatched types\nexpected `i32`, found `&str`");
        assert_eq!(range(&found[1]), (6, Some(18), Some(6), Some(25)));
    }

    #[test]
    fn rustc_human_note_with_its_own_span_becomes_related() {
        let found = rustc(include_str!("fixtures/rustc-human-errors.txt"));
        let (location, note) = &found[2].related[0];
        assert_eq!((location.path.as_str(), location.line, location.column), ("src/main.rs", 1, Some(4)));
        assert_eq!(note, "note: function defined here");
    }

    #[test]
    fn rustc_human_columns_are_chars_even_after_a_tab_and_an_emoji() {
        let found = rustc(include_str!("fixtures/rustc-human-errors.txt"));
        let source = "\tlet é = \"😀\"; let k: u32 = takes(é);";
        let location = &found[2].location;
        assert_eq!((location.column, location.end_column, location.unit), (Some(34), Some(35), ColumnUnit::Chars));
        assert_eq!(utf16_column(source, 34, location.unit), utf16_offset_of(source, "é)"));
        let zz = &rustc(include_str!("fixtures/rustc-columns.txt"))[0].location;
        let source = "\tlet s = \"中𝑥𝑥é😀\"; let _ = zz;";
        assert_eq!(utf16_column(source, zz.column.unwrap_or(0), zz.unit), utf16_offset_of(source, "zz"));
        assert_eq!(zz.end_column, Some(29), "the underline is found even after wide chars");
    }

    #[test]
    fn rustc_human_warning_keeps_its_inline_notes_in_the_message() {
        let found = rustc(include_str!("fixtures/rustc-human-borrow.txt"));
        let summary: Vec<_> = found.iter().map(|d| (d.severity, d.location.line)).collect();
        assert_eq!(summary, [(Severity::Warning, 1), (Severity::Error, 7), (Severity::Warning, 4)]);
        assert_eq!(
            found[0].message,
            "unused import: `std::collections::HashMap`\nnote: `#[warn(unused_imports)]` (part of `#[warn(unused)]`) on by default"
        );
        assert_eq!(found[0].code.as_deref(), Some("unused_imports"), "as JSON output names it");
        assert_eq!(range(&found[1]), (7, Some(5), Some(7), Some(14)), "the ^ line, not the - lines around it");
        assert_eq!(
            found[2].message.lines().nth(1),
            Some("help: if this is intentional, prefix it with an underscore: `_unused`")
        );
    }

    #[test]
    fn clippy_lint_name_becomes_the_code() {
        let found = rustc(include_str!("fixtures/rustc-clippy.txt"));
        let codes: Vec<_> = found.iter().map(|d| (d.location.line, d.code.as_deref())).collect();
        assert_eq!(codes, [(3, Some("dead_code")), (10, Some("clippy::len_zero")), (9, Some("clippy::useless_vec"))]);
        assert_eq!(range(&found[1]), (10, Some(20), Some(10), Some(32)));
        assert!(found[1].message.starts_with(
            "length comparison to zero\nhelp: using `is_empty` is clearer and more explicit: `v.is_empty()`\n"
        ));
    }

    #[test]
    fn cargo_json_primary_span_gives_the_range() {
        let found = rustc(include_str!("fixtures/cargo-json-errors.txt"));
        assert_eq!(found.len(), 3, "failure-notes have no span");
        assert_eq!(range(&found[1]), (6, Some(18), Some(6), Some(25)));
        assert_eq!(found[1].message, "mismatched types\nexpected `i32`, found `&str`");
        assert_eq!((found[1].code.as_deref(), found[1].severity), (Some("E0308"), Severity::Error));
        assert_eq!(found[1].related[0].1, "expected due to this");
    }

    #[test]
    fn cargo_json_children_with_spans_become_related() {
        let found = rustc(include_str!("fixtures/cargo-json-errors.txt"));
        let notes: Vec<_> = found[2].related.iter().map(|(l, m)| (l.line, l.column, m.as_str())).collect();
        assert_eq!(
            notes,
            [(8, Some(28), "arguments to this function are incorrect"), (1, Some(4), "note: function defined here")]
        );
        let warnings = rustc(include_str!("fixtures/cargo-json-borrow.txt"));
        let unused = &warnings[2];
        assert_eq!(unused.related[0].1, "help: if this is intentional, prefix it with an underscore: `_unused`");
        assert!(unused
            .message
            .ends_with("note: `#[warn(unused_variables)]` (part of `#[warn(unused)]`) on by default"));
    }

    #[test]
    fn cargo_json_columns_are_chars() {
        let zz = &rustc(include_str!("fixtures/cargo-json-columns.txt"))[0].location;
        let source = "\tlet s = \"中𝑥𝑥é😀\"; let _ = zz;";
        assert_eq!((zz.column, zz.end_column, zz.unit), (Some(27), Some(29), ColumnUnit::Chars));
        assert_eq!(utf16_column(source, 27, zz.unit), utf16_offset_of(source, "zz"));
    }

    #[test]
    fn cargo_json_paths_are_based_at_the_workspace_root_even_from_a_member() {
        let found = rustc(include_str!("fixtures/cargo-json-workspace.txt"));
        assert_eq!(found[0].location.path, "crates/core/src/inner.rs");
        assert_eq!(found[0].location.base_dir.as_deref(), Some("/tmp/scratch/ws"));
        let single = rustc(include_str!("fixtures/cargo-json-errors.txt"));
        assert_eq!(single[0].location.base_dir.as_deref(), Some("/tmp/scratch/rs"));
        assert_eq!(workspace_root("/src/app/src/main.rs", "src/x.rs").as_deref(), Some("/src/app"));
        assert_eq!(workspace_root("/src/main.rs", "src/x.rs").as_deref(), Some("/"));
    }
}
