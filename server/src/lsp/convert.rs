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
    Range { start: Position::new(r.start.line, r.start.utf16), end: Position::new(r.end.line, r.end.utf16) }
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
