//! Python: interpreter tracebacks and mypy.
//!
//! A traceback is reported where the project's code is involved: the last `File "x.py", line N, in f`
//! frame outside the interpreter's library (`/usr/lib`, `lib/pythonX.Y/`, site- and dist-packages,
//! `<frozen ...>`), with the final `XError: msg` line as the message and the project's other frames as
//! related. A `SyntaxError` (and `IndentationError`) frame has no `in f` and is the place itself.
//! Its caret is not used: Python echoes the line with its indentation stripped and places the caret
//! by bytes, so the column in the file cannot be recovered from the output; the line is reported.
//!
//! mypy: `src/a.py:3: error: msg  [code]`, with `--show-column-numbers` `src/a.py:3:5: error:`, with
//! `--show-error-end` `src/a.py:3:5:3:9:` (inclusive end). Notes about the same line are related.
//! Columns are bytes in mypy 1.x (CPython's AST offsets). mypy 2.4's new parser prints neither bytes
//! nor chars when non-ASCII precedes the spot (`2*chars - bytes`, fixtures/mypy2-columns.txt).

use std::sync::LazyLock;

use regex::Regex;

use super::accumulator::Accumulator;
use super::{number, ColumnUnit, Diagnostic, DirectoryStack, Location, Matcher, Severity};

static TRACEBACK: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^\s*Traceback \(most recent call last\):$").unwrap());
static FRAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^\s*File "(?P<file>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>.+))?$"#).unwrap());
static EXCEPTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?P<name>[A-Za-z_][\w.]*)(?::\s?(?P<msg>.*))?$").unwrap());
static INTERPRETER_LIBRARY: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"/lib/python\d+(?:\.\d+)?/").unwrap());
static MYPY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<file>[^\s:][^:]*\.pyi?):(?P<line>\d+):(?:(?P<col>\d+):)?(?:(?P<end_line>\d+):(?P<end_col>\d+):)? (?P<sev>error|warning|note): (?P<msg>.*)$",
    )
    .unwrap()
});
static MYPY_CODE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?P<msg>.*?)  \[(?P<code>[\w-]+)\]$").unwrap());

fn is_project_file(path: &str) -> bool {
    !(path.starts_with('<')
        || path.starts_with("/usr/lib/")
        || path.contains("/site-packages/")
        || path.contains("/dist-packages/")
        || INTERPRETER_LIBRARY.is_match(path))
}

#[derive(Default)]
pub struct TracebackMatcher {
    /// Inside a traceback: the frames so far, (location, function).
    frames: Option<Vec<(Location, Option<String>)>>,
}

impl TracebackMatcher {
    fn report(frames: Vec<(Location, Option<String>)>, name: &str, message: Option<&str>) -> Option<Diagnostic> {
        // The innermost frame of the project; a syntax error's own frame wins over its importers.
        let syntax = frames.iter().rposition(|(_, func)| func.is_none());
        let chosen = syntax.or_else(|| frames.iter().rposition(|(l, _)| is_project_file(&l.path)))?;
        let related = frames
            .iter()
            .enumerate()
            .filter(|(i, (l, func))| *i != chosen && func.is_some() && is_project_file(&l.path))
            .map(|(_, (l, func))| (l.clone(), format!("in {}", func.as_deref().unwrap_or("?"))))
            .collect();
        Some(Diagnostic {
            location: frames[chosen].0.clone(),
            severity: Severity::Error,
            message: match message {
                Some(m) if !m.is_empty() => format!("{name}: {m}"),
                _ => name.to_owned(),
            },
            code: Some(name.to_owned()),
            tool: "python",
            related,
        })
    }
}

impl Matcher for TracebackMatcher {
    fn name(&self) -> &'static str {
        "python"
    }

    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        if TRACEBACK.is_match(line) {
            self.frames = Some(Vec::new());
        } else if let Some(caps) = FRAME.captures(line) {
            let func = caps.name("func").map(|f| f.as_str().to_owned());
            // A SyntaxError of the script itself is printed without a `Traceback` header.
            if self.frames.is_some() || func.is_none() {
                let location =
                    number(caps.name("line")).map(|n| Location::new(&caps["file"], dirs, n, None, ColumnUnit::Chars));
                self.frames.get_or_insert_with(Vec::new).extend(location.map(|l| (l, func)));
            }
        } else if let Some(frames) = self.frames.take_if(|_| !line.starts_with(char::is_whitespace)) {
            // The first unindented line after the frames names the exception.
            if let Some(caps) = EXCEPTION.captures(line) {
                return Self::report(frames, &caps["name"], caps.name("msg").map(|m| m.as_str())).into_iter().collect();
            }
        }
        Vec::new()
    }

    fn finish(&mut self) -> Vec<Diagnostic> {
        self.frames = None;
        Vec::new()
    }
}

#[derive(Default)]
pub struct MypyMatcher {
    pending: Accumulator,
}

impl Matcher for MypyMatcher {
    fn name(&self) -> &'static str {
        "mypy"
    }

    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let Some(caps) = MYPY.captures(line) else {
            self.pending.flush(&mut out);
            return out;
        };
        let Some(line_number) = number(caps.name("line")) else { return out };
        let mut location = Location::new(&caps["file"], dirs, line_number, number(caps.name("col")), ColumnUnit::Bytes);
        location.end_line = number(caps.name("end_line"));
        location.end_column = number(caps.name("end_col")).map(|c| c.saturating_add(1));
        let (message, code) = match MYPY_CODE.captures(&caps["msg"]) {
            Some(c) => (c["msg"].to_owned(), Some(c["code"].to_owned())),
            None => (caps["msg"].to_owned(), None),
        };
        if &caps["sev"] == "note" {
            if let Some(pending) =
                self.pending.draft_mut().filter(|p| p.location.path == location.path && p.location.line == line_number)
            {
                pending.related.push((location, message));
                return out;
            }
        }
        self.pending.flush(&mut out);
        let severity = match &caps["sev"] {
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            _ => Severity::Info,
        };
        self.pending.hold(Diagnostic { location, severity, message, code, tool: "mypy", related: Vec::new() });
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

    #[test]
    fn python_traceback_points_at_the_last_project_frame() {
        let found = run(&mut TracebackMatcher::default(), include_str!("fixtures/python-traceback.txt"));
        assert_eq!(found.len(), 1);
        let error = &found[0];
        assert_eq!((error.location.path.as_str(), error.location.line), ("/tmp/scratch/pyrun/app/util.py", 6));
        assert_eq!((error.message.as_str(), error.code.as_deref()), ("KeyError: 'items'", Some("KeyError")));
        let callers: Vec<_> = error.related.iter().map(|(l, m)| (l.line, m.as_str())).collect();
        assert_eq!(callers, [(10, "in <module>"), (5, "in run")], "the <frozen runpy> frames are not the project's");
    }

    #[test]
    fn python_traceback_skips_the_standard_library_frames() {
        let found = run(&mut TracebackMatcher::default(), include_str!("fixtures/python-traceback-stdlib.txt"));
        assert_eq!(
            (found[0].location.path.as_str(), found[0].location.line),
            ("/tmp/scratch/pyrun/app/jsonfail.py", 2)
        );
        assert_eq!(
            found[0].message,
            "json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"
        );
        assert!(found[0].related.is_empty());
    }

    #[test]
    fn python_syntax_error_is_reported_on_its_line() {
        let found = run(&mut TracebackMatcher::default(), include_str!("fixtures/python-syntax-error.txt"));
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].location.line, found[0].location.column), (2, None));
        assert_eq!(found[0].message, "SyntaxError: expected ':'");
        // The caret sits under the dedented echo, 12 columns right of `1 2` (the bytes of the
        // non-ASCII text before it): neither the file's column nor its unit can be read from it.
        let found = run(&mut TracebackMatcher::default(), include_str!("fixtures/python-syntax-columns.txt"));
        assert_eq!((found[0].location.line, found[0].location.column), (2, None));
        assert_eq!(found[0].message, "SyntaxError: invalid syntax. Perhaps you forgot a comma?");
    }

    #[test]
    fn mypy_errors_with_codes_and_their_notes() {
        let found = run(&mut MypyMatcher::default(), include_str!("fixtures/mypy-errors.txt"));
        let places: Vec<_> =
            found.iter().map(|d| (d.location.path.as_str(), d.location.line, d.code.as_deref())).collect();
        assert_eq!(
            places,
            [
                ("src/app/models.py", 5, Some("return-value")),
                ("src/app/models.py", 13, Some("attr-defined")),
                ("src/app/models.py", 23, Some("assignment")),
                ("src/app/col.py", 2, Some("assignment")),
                ("src/app/svc.py", 1, Some("import-untyped")),
                ("src/app/svc.py", 18, Some("arg-type")),
            ]
        );
        assert_eq!(found[1].message, "\"User\" has no attribute \"nam\"; maybe \"name\"?");
        assert_eq!(found[4].related.len(), 3);
        assert_eq!(found[4].related[0].1, "Hint: \"python3 -m pip install types-requests\"");
        assert_eq!(found[5].related[4].1, "        def greet(self, name: int) -> str");
    }

    #[test]
    fn mypy_show_error_end_gives_an_exclusive_range() {
        let found = run(&mut MypyMatcher::default(), include_str!("fixtures/mypy-show-error-end.txt"));
        let attr = found.iter().find(|d| d.code.as_deref() == Some("attr-defined")).map(|d| &d.location);
        let attr = attr.map(|l| (l.line, l.column, l.end_line, l.end_column));
        // `        return "hi " + self.nam`: `self.nam` is columns 24..=31.
        assert_eq!(attr, Some((13, Some(24), Some(13), Some(32))));
    }

    #[test]
    fn mypy_1_columns_are_bytes() {
        let found = run(&mut MypyMatcher::default(), include_str!("fixtures/mypy1-columns.txt"));
        let location = &found[3].location;
        assert_eq!((location.line, location.column, location.unit), (8, Some(37), ColumnUnit::Bytes));
        let source = "    s = \"中𝑥𝑥é😀\"; return s";
        assert_eq!(utf16_column(source, 37, location.unit), utf16_offset_of(source, "return s") + 7);
        // mypy 2.4 said 13 for the same spot: the first `𝑥`. Nothing to convert there.
        let found = run(&mut MypyMatcher::default(), include_str!("fixtures/mypy2-columns.txt"));
        assert_eq!(found[3].location.column, Some(13));
    }

    #[test]
    fn mypy_summary_line_is_not_a_diagnostic() {
        let found = run(&mut MypyMatcher::default(), "Found 6 errors in 3 files (checked 4 source files)\n");
        assert_eq!(found, []);
    }
}
