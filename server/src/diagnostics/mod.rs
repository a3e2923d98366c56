//! Build-output problem matchers: turn what a compiler prints into [`Diagnostic`]s.
//!
//! A rebuild streams its output as bytes; [`Pipeline`] cuts it into lines, strips terminal colours,
//! tracks make's directory changes ([`DirectoryStack`]) and feeds every line to one [`Matcher`] per tool
//! family. Each family lives in its own file, with fixtures captured from the real tool in `fixtures/`.
//!
//! Positions stay in the tool's own column unit ([`ColumnUnit`]): only the caller has the file's text,
//! so only it can convert them, with [`utf16_column`]. Nothing here knows LSP.

mod accumulator;
mod custom;
mod frontend;
mod gcc;
mod go;
mod go_panic;
mod javac;
mod make;
mod maven;
mod nginx;
mod node;
mod npm;
mod pipeline;
mod position;
mod python;
mod rustc;
mod tsc;

use std::sync::LazyLock;

use regex::Regex;

pub use custom::CustomMatcher;
pub use frontend::FrontendMatcher;
// Each family's matcher on its own: [`Pipeline`] is what the product uses; the fuzz targets in
// `fuzz/` drive them one by one.
pub use gcc::GccMatcher;
pub use go::GoMatcher;
pub use go_panic::GoPanicMatcher;
pub use javac::JavacMatcher;
pub use make::{DirectoryStack, MakeMatcher};
pub use maven::MavenMatcher;
pub use node::NodeMatcher;
pub use npm::NpmMatcher;
pub use pipeline::Pipeline;
pub use position::{file_position, utf16_column};
pub use python::{MypyMatcher, TracebackMatcher};
pub use rustc::RustcMatcher;
pub use tsc::TscMatcher;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
    Info,
    Hint,
}

/// How a tool counts the (1-based) column it prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnUnit {
    Bytes,
    Chars,
    Utf16,
    /// display columns, tabs to the next multiple of 8
    DisplayTab8,
    /// No line (0): the column is the 1-based UTF-16 offset from the file's start (JSON.parse
    /// names a position only); past the end is the file's end. [`file_position`] finds its line.
    FileOffsetUtf16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The path exactly as the tool printed it (absolute or relative).
    pub path: String,
    /// For a relative `path`: the directory it is relative to when the output says so (make's
    /// "Entering directory"), else None (the caller then uses the exec's working directory).
    /// It may itself be relative to the exec's working directory (`ninja -C build` prints it so).
    pub base_dir: Option<String>,
    /// 1-based
    pub line: u32,
    /// 1-based, in `unit`
    pub column: Option<u32>,
    pub end_line: Option<u32>,
    /// exclusive, 1-based, in `unit`
    pub end_column: Option<u32>,
    pub unit: ColumnUnit,
}

impl Location {
    /// A location as printed at this point of the output: a relative path is taken relative to the
    /// directory make is in now, since that is what the tool's working directory was.
    pub(crate) fn new(path: &str, dirs: &DirectoryStack, line: u32, column: Option<u32>, unit: ColumnUnit) -> Self {
        let base_dir = if path.starts_with('/') { None } else { dirs.current().map(str::to_owned) };
        Location {
            path: path.to_owned(),
            base_dir,
            line,
            column: column.filter(|c| *c > 0),
            end_line: None,
            end_column: None,
            unit,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: Location,
    pub severity: Severity,
    pub message: String,
    /// e.g. "E0308", "TS2322", "-Wunused-variable"
    pub code: Option<String>,
    /// "gcc", "rustc", "javac", "go", "tsc", "node", "python", "mypy", "maven", "make", "frontend", "nginx", "npm", "custom"
    pub tool: &'static str,
    /// Notes attached to this diagnostic (gcc notes, rustc children with spans, "In file included from" chain...).
    pub related: Vec<(Location, String)>,
}

/// One tool family's parser. Fed the build output one line at a time (without the newline),
/// in order, stdout and stderr interleaved as they arrived.
pub trait Matcher: Send {
    fn name(&self) -> &'static str;
    /// Diagnostics completed by this line (a diagnostic may wait for its notes until the next line).
    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic>;
    /// End of output: flush what is pending.
    fn finish(&mut self) -> Vec<Diagnostic>;
}

/// Removes terminal escapes (colours, gcc's hyperlinks) and carriage-return progress, which tools emit
/// when a build forces colour; the matchers only ever see plain text.
pub(crate) fn clean_line(raw: &str) -> String {
    static ESCAPES: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]").unwrap()
    });
    let raw = raw.strip_suffix('\r').unwrap_or(raw);
    // A progress line rewritten in place ends up as its last version.
    let raw = raw.rsplit('\r').next().unwrap_or(raw);
    ESCAPES.replace_all(raw, "").into_owned()
}

/// Parses a 1-based number the tool printed; a number too big for u32 is no position.
pub(crate) fn number(text: Option<regex::Match<'_>>) -> Option<u32> {
    text.and_then(|m| m.as_str().parse().ok())
}

/// Appends one more line of explanation to a message.
pub(crate) fn append_line(message: &mut String, extra: &str) {
    if !message.is_empty() {
        message.push('\n');
    }
    message.push_str(extra);
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    /// Runs one matcher over a captured fixture the way [`Pipeline`] would: cleaned lines, with make's
    /// directory changes tracked.
    pub fn run(matcher: &mut dyn Matcher, output: &str) -> Vec<Diagnostic> {
        let mut dirs = DirectoryStack::default();
        let mut found = Vec::new();
        for raw in output.lines() {
            let line = clean_line(raw);
            dirs.observe(&line);
            found.extend(matcher.line(&line, &dirs));
        }
        found.extend(matcher.finish());
        found
    }

    /// The fixture line that starts with `prefix` (the source line a column points into).
    pub fn source_line<'a>(fixture: &'a str, prefix: &str) -> &'a str {
        fixture.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no line starting {prefix:?}"))
    }

    /// 0-based UTF-16 offset of `token` in `line`: where an editor would put the cursor.
    pub fn utf16_offset_of(line: &str, token: &str) -> u32 {
        let at = line.find(token).unwrap_or_else(|| panic!("{token:?} not in {line:?}"));
        line[..at].encode_utf16().count() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_escapes_and_progress_carriage_returns_are_removed() {
        assert_eq!(clean_line("\x1b[96msrc/a.ts\x1b[0m:\x1b[93m6\x1b[0m"), "src/a.ts:6");
        assert_eq!(clean_line("\x1b]8;;https://gcc.gnu.org/x\x07-Wunused\x1b]8;;\x07"), "-Wunused");
        assert_eq!(clean_line("Building 1/3\rBuilding 2/3\rerror: x\r"), "error: x");
    }
}
