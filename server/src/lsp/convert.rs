//! Core types → LSP types, by hand (the core never derives anything for the protocol).

use std::path::Path;

use tower_lsp_server::ls_types::{
    Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity, Location, NumberOrString, Position, Range, Uri,
};

use crate::events::{self, FileDiagnostic, Severity};

pub const SOURCE: &str = "docker-rebuilder";

pub fn uri(path: &Path) -> Option<Uri> {
    Uri::from_file_path(path)
}

pub fn range(r: events::Range) -> Range {
    Range { start: Position::new(r.start.0, r.start.1), end: Position::new(r.end.0, r.end.1) }
}

pub fn severity(s: Severity) -> DiagnosticSeverity {
    match s {
        Severity::Error => DiagnosticSeverity::ERROR,
        Severity::Warning => DiagnosticSeverity::WARNING,
        Severity::Info => DiagnosticSeverity::INFORMATION,
        Severity::Hint => DiagnosticSeverity::HINT,
    }
}

pub fn diagnostic(d: &FileDiagnostic) -> Diagnostic {
    let related: Vec<DiagnosticRelatedInformation> = d
        .related
        .iter()
        .filter_map(|(path, r, message)| {
            Some(DiagnosticRelatedInformation {
                location: Location { uri: uri(path)?, range: range(*r) },
                message: message.clone(),
            })
        })
        .collect();
    Diagnostic {
        range: range(d.range),
        severity: Some(severity(d.severity)),
        code: d.code.clone().map(NumberOrString::String),
        source: Some(SOURCE.to_string()),
        message: d.message.clone(),
        related_information: if related.is_empty() { None } else { Some(related) },
        data: Some(serde_json::json!({ "tool": d.tool })),
        ..Default::default()
    }
}

/// A problem with the tool itself (bad config, Dockerfile error) at the offending line
/// (1-based) of `path`.
pub fn tool_error(path: &Path, line: usize, message: &str) -> Diagnostic {
    let line = line.saturating_sub(1);
    let width = std::fs::read_to_string(path)
        .ok()
        .and_then(|t| t.lines().nth(line).map(|l| l.encode_utf16().count() as u32))
        .unwrap_or(0);
    let line = line as u32;
    Diagnostic {
        range: Range { start: Position::new(line, 0), end: Position::new(line, width) },
        severity: Some(DiagnosticSeverity::ERROR),
        source: Some(SOURCE.to_string()),
        message: message.to_string(),
        ..Default::default()
    }
}
