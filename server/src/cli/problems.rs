//! A problem as every command shows it: `path:line:col: severity[code]: message`, the path
//! relative to the current folder (clickable in terminals and VS Code's), the column in
//! characters, 1-based; and as `--json` carries it, the same data the LSP server publishes.

use std::path::Path;

use serde_json::{json, Value};

use super::style::{paint, Paint};
use crate::events::{FileDiagnostic, Severity};

fn severity_word(severity: Severity) -> (&'static str, Paint) {
    match severity {
        Severity::Error => ("error", Paint::Bad),
        Severity::Warning => ("warning", Paint::Warn),
        Severity::Info => ("info", Paint::Note),
        Severity::Hint => ("hint", Paint::Note),
    }
}

/// One problem on one line (coloured when colour is on).
pub fn line(d: &FileDiagnostic, cwd: &Path) -> String {
    let shown = d.path.strip_prefix(cwd).unwrap_or(&d.path);
    let (word, style) = severity_word(d.severity);
    let code = d.code.as_deref().map(|c| format!("[{c}]")).unwrap_or_default();
    let at = d.range.start;
    format!(
        "{}: {}: {}",
        paint(Paint::Bold, &format!("{}:{}:{}", shown.display(), at.line + 1, at.char + 1)),
        paint(style, &format!("{word}{code}")),
        d.message
    )
}

/// The problems as `--json` carries them: each with its file, its range as LSP counts it
/// (0-based lines, UTF-16 columns) and as a terminal does (1-based line and character column).
pub fn json(found: &[FileDiagnostic]) -> Value {
    let position = |p: crate::events::Position| json!({ "line": p.line, "character": p.utf16 });
    Value::Array(
        found
            .iter()
            .map(|d| {
                json!({
                    "file": d.path,
                    "line": d.range.start.line + 1,
                    "column": d.range.start.char + 1,
                    "range": { "start": position(d.range.start), "end": position(d.range.end) },
                    "severity": severity_word(d.severity).0,
                    "code": d.code,
                    "tool": d.tool,
                    "message": d.message,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Position, Range};

    fn problem(code: Option<&str>) -> FileDiagnostic {
        let at = |line, char| Position { line, utf16: char + 1, char };
        FileDiagnostic {
            path: "/work/app/src/main.ts".into(),
            range: Range { start: at(9, 4), end: at(9, 8) },
            severity: Severity::Error,
            message: "Type 'string' is not assignable to type 'number'.".into(),
            code: code.map(str::to_string),
            tool: "tsc",
            related: Vec::new(),
        }
    }

    #[test]
    fn one_line_relative_to_the_folder_with_the_code() {
        // Colour is off until `style::init`: plain text.
        let line = line(&problem(Some("TS2322")), Path::new("/work/app"));
        assert_eq!(line, "src/main.ts:10:5: error[TS2322]: Type 'string' is not assignable to type 'number'.");
        let elsewhere = super::line(&problem(None), Path::new("/other"));
        assert!(elsewhere.starts_with("/work/app/src/main.ts:10:5: error: "), "{elsewhere}");
    }

    #[test]
    fn json_has_the_lsp_range_and_the_terminal_position() {
        let v = json(&[problem(Some("TS2322"))]);
        assert_eq!(v[0]["range"]["start"], serde_json::json!({ "line": 9, "character": 5 }));
        assert_eq!((v[0]["line"].as_u64(), v[0]["column"].as_u64()), (Some(10), Some(5)));
        assert_eq!((v[0]["code"].as_str(), v[0]["tool"].as_str()), (Some("TS2322"), Some("tsc")));
    }
}
