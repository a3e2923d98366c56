//! Interim gcc-style matcher (`file:line:col: error|warning: message`); the full set of problem
//! matchers, one module per tool family, replaces this.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Info,
    Hint,
}
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnUnit {
    Bytes,
    Chars,
    Utf16,
    DisplayTab8,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub path: String,
    pub base_dir: Option<String>,
    pub line: u32,
    pub column: Option<u32>,
    pub end_line: Option<u32>,
    pub end_column: Option<u32>,
    pub unit: ColumnUnit,
}
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: Location,
    pub severity: Severity,
    pub message: String,
    pub code: Option<String>,
    pub tool: &'static str,
    pub related: Vec<(Location, String)>,
}
pub struct Pipeline {
    buf: String,
}
impl Pipeline {
    pub fn new(_commands: &[String], _custom: Vec<CustomMatcher>) -> Pipeline {
        Pipeline { buf: String::new() }
    }
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Diagnostic> {
        self.buf.push_str(&String::from_utf8_lossy(chunk));
        let mut out = vec![];
        while let Some(i) = self.buf.find('\n') {
            let line: String = self.buf.drain(..=i).collect();
            let parts: Vec<&str> = line.trim_end().splitn(5, ':').collect();
            if parts.len() == 5 && (parts[3].trim() == "error" || parts[3].trim() == "warning") {
                if let (Ok(l), Ok(c)) = (parts[1].parse(), parts[2].parse()) {
                    out.push(Diagnostic {
                        location: Location {
                            path: parts[0].into(),
                            base_dir: None,
                            line: l,
                            column: Some(c),
                            end_line: None,
                            end_column: None,
                            unit: ColumnUnit::Bytes,
                        },
                        severity: if parts[3].trim() == "error" { Severity::Error } else { Severity::Warning },
                        message: parts[4].trim().into(),
                        code: None,
                        tool: "gcc",
                        related: vec![],
                    });
                }
            }
        }
        out
    }
    pub fn finish(&mut self) -> Vec<Diagnostic> {
        vec![]
    }
}
#[derive(Debug, Clone)]
pub struct CustomMatcher {}
impl CustomMatcher {
    pub fn new(_regex: &str, _s: Severity, _u: ColumnUnit) -> Result<CustomMatcher, String> {
        Ok(CustomMatcher {})
    }
}
pub fn utf16_column(line_text: &str, column: u32, _unit: ColumnUnit) -> u32 {
    let b = (column.saturating_sub(1) as usize).min(line_text.len());
    line_text.get(..b).map_or(0, |s| s.encode_utf16().count() as u32)
}
