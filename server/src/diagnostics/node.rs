//! Node.js: an uncaught exception, as node prints it when it dies (a syntax error in a module it
//! loads, a `TypeError` at startup, a module not found), which is how a JavaScript service says
//! its code does not run.
//!
//! ```text
//! /app/server.js:16                      where it was thrown (absent when node's own code threw)
//!        res.send(os.hostname() + numVisits;  the source line, as it is
//!                                 ^^^^^^^^^   under the spot: one space per UTF-16 unit (tabs copied)
//!
//! SyntaxError: missing ) after argument list  the exception
//!     at f (/app/server.js:3:17)             the stack, innermost first; 1-based UTF-16 columns
//! ```
//!
//! Reported at the innermost frame of the project (not `node:` internals, not `node_modules`);
//! a syntax error has no such frame and is the header's place, its column (and, from node 18,
//! its token's end) read off the caret line. ES modules print `file://` URLs.

use std::sync::LazyLock;

use regex::Regex;

use super::{number, ColumnUnit, Diagnostic, DirectoryStack, Location, Matcher, Severity};

static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?:file://)?(?P<file>/[^:]*\.(?:js|cjs|mjs|jsx|ts|cts|mts|tsx)):(?P<line>\d+)$").unwrap()
});
static CARET: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?P<pad>[ \t]*)(?P<mark>\^+)\s*$").unwrap());
static EXCEPTION: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?P<name>[A-Z][\w$.]*)(?: \[(?P<code>[A-Z0-9_]+)\])?(?:: (?P<msg>.*))?$").unwrap());
static FRAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^\s+at (?:(?P<func>.+?) \()?(?:file://)?(?P<file>[^()\s][^()]*?):(?P<line>\d+):(?P<col>\d+)\)?(?: \{)?$",
    )
    .unwrap()
});
/// Lines node prints between the exception and its stack (`Require stack:` and its `- path`s).
const MAX_BETWEEN: usize = 20;

/// Where node said it was thrown: the header's file and line, and the caret's span once read.
#[derive(Debug, Clone)]
struct Thrown {
    location: Location,
    /// The source line was echoed (the caret follows it).
    echoed: bool,
}

#[derive(Default)]
pub struct NodeMatcher {
    thrown: Option<Thrown>,
    /// After the exception line: its name and message, the frames so far, and how many other
    /// lines came before the first frame.
    exception: Option<Exception>,
}

struct Exception {
    name: String,
    message: Option<String>,
    code: Option<String>,
    thrown: Option<Location>,
    frames: Vec<(Location, Option<String>)>,
    between: usize,
}

fn is_project_file(path: &str) -> bool {
    path.starts_with('/') && !path.contains("/node_modules/")
}

impl NodeMatcher {
    fn report(exception: Exception) -> Option<Diagnostic> {
        let project: Vec<&(Location, Option<String>)> =
            exception.frames.iter().filter(|(l, _)| is_project_file(&l.path)).collect();
        let (location, callers) = match (project.split_first(), exception.thrown) {
            // A syntax error's frames are all node's own: its place is the header.
            (_, Some(thrown)) if exception.name == "SyntaxError" => (thrown, project),
            (Some((innermost, callers)), _) => (innermost.0.clone(), callers.to_vec()),
            (None, Some(thrown)) => (thrown, project),
            (None, None) => return None,
        };
        let related = callers
            .iter()
            .map(|(l, func)| (l.clone(), format!("in {}", func.as_deref().unwrap_or("<anonymous>"))))
            .collect();
        let message = match &exception.message {
            Some(m) if !m.is_empty() => format!("{}: {m}", exception.name),
            _ => exception.name.clone(),
        };
        Some(Diagnostic {
            location,
            severity: Severity::Error,
            message,
            code: exception.code.or(Some(exception.name)),
            tool: "node",
            related,
        })
    }
}

impl Matcher for NodeMatcher {
    fn name(&self) -> &'static str {
        "node"
    }

    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        if let Some(exception) = self.exception.as_mut() {
            if let Some(caps) = FRAME.captures(line) {
                let (Some(n), Some(col)) = (number(caps.name("line")), number(caps.name("col"))) else { return out };
                let location = Location::new(&caps["file"], dirs, n, Some(col), ColumnUnit::Utf16);
                exception.frames.push((location, caps.name("func").map(|f| f.as_str().to_owned())));
                return out;
            }
            exception.between += 1;
            if exception.frames.is_empty() && exception.between <= MAX_BETWEEN {
                return out;
            }
            out.extend(self.exception.take().and_then(Self::report));
        }
        if let Some(caps) = HEADER.captures(line) {
            self.thrown = number(caps.name("line")).map(|n| Thrown {
                location: Location::new(&caps["file"], dirs, n, None, ColumnUnit::Utf16),
                echoed: false,
            });
            return out;
        }
        match self.thrown.as_mut() {
            Some(thrown) if !thrown.echoed => {
                thrown.echoed = true;
                return out;
            }
            Some(thrown) if thrown.location.column.is_none() => {
                let Some(caps) = CARET.captures(line) else {
                    self.thrown = None;
                    return out;
                };
                // One character of padding per UTF-16 unit before the spot.
                let start = caps["pad"].chars().count() as u32 + 1;
                let width = caps["mark"].len() as u32;
                thrown.location.column = Some(start);
                if width > 1 {
                    thrown.location.end_line = Some(thrown.location.line);
                    thrown.location.end_column = Some(start + width);
                }
                return out;
            }
            _ => {}
        }
        if line.trim().is_empty() {
            return out;
        }
        if let Some(caps) = EXCEPTION.captures(line) {
            let thrown = self.thrown.take().filter(|t| t.location.column.is_some()).map(|t| t.location);
            self.exception = Some(Exception {
                name: caps["name"].to_owned(),
                message: caps.name("msg").map(|m| m.as_str().to_owned()),
                code: caps.name("code").map(|c| c.as_str().to_owned()),
                thrown,
                frames: Vec::new(),
                between: 0,
            });
            return out;
        }
        self.thrown = None;
        out
    }

    fn finish(&mut self) -> Vec<Diagnostic> {
        self.thrown = None;
        self.exception.take().and_then(Self::report).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::test_support::{run, utf16_offset_of};
    use crate::diagnostics::utf16_column;

    fn place(d: &Diagnostic) -> (&str, u32, Option<u32>, Option<u32>) {
        (d.location.path.as_str(), d.location.line, d.location.column, d.location.end_column)
    }

    #[test]
    fn a_syntax_error_is_at_the_caret_counted_in_utf16_units() {
        // `\tconst s = "h😀llo ü";\tlet x = g(s;`: node 20 puts the caret under `s` of `g(s`.
        let found = run(&mut NodeMatcher::default(), include_str!("fixtures/node-syntax-columns.txt"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(place(&found[0]), ("/app/syntax2.js", 3, Some(34), None));
        assert_eq!(found[0].message, "SyntaxError: missing ) after argument list");
        let source = "\tconst s = \"h😀llo ü\";\tlet x = g(s;";
        assert_eq!(utf16_column(source, 34, found[0].location.unit), utf16_offset_of(source, "s;"));
    }

    #[test]
    fn node_18_underlines_the_token() {
        let found = run(&mut NodeMatcher::default(), include_str!("fixtures/node18-npm-start.txt"));
        assert_eq!(found.len(), 1, "{found:?}");
        // `numVisitsToDisplay`, 18 carets from column 54.
        assert_eq!(place(&found[0]), ("/usr/src/app/server.js", 16, Some(54), Some(72)));
    }

    #[test]
    fn an_uncaught_exception_is_at_the_innermost_frame_of_the_project() {
        let found = run(&mut NodeMatcher::default(), include_str!("fixtures/node-uncaught-columns.txt"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(place(&found[0]), ("/app/throw2.js", 3, Some(34), None));
        assert_eq!(found[0].message, "Error: boom 😀é");
        let callers: Vec<_> = found[0].related.iter().map(|(l, m)| (l.line, m.as_str())).collect();
        assert_eq!(callers, [(5, "in outer"), (6, "in Object.<anonymous>")]);
        let source = "\tif (v) {\tconst t = \"😀é\"; throw new Error(\"boom \" + t); }";
        assert_eq!(utf16_column(source, 34, found[0].location.unit), utf16_offset_of(source, "new Error"));

        let found = run(&mut NodeMatcher::default(), include_str!("fixtures/node-async.txt"));
        assert_eq!(place(&found[0]), ("/app/later.js", 1, Some(28), None));
        assert_eq!(found[0].message, "TypeError: Cannot read properties of undefined (reading 'y')");
    }

    #[test]
    fn a_module_not_found_is_at_the_require_of_the_project() {
        // Thrown by node's own loader: the header is not the project's; the stack says who asked.
        let found = run(&mut NodeMatcher::default(), include_str!("fixtures/node-module-not-found.txt"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(place(&found[0]), ("/app/missing.js", 2, Some(17), None));
        assert_eq!(found[0].message, "Error: Cannot find module 'expresss'");
    }

    #[test]
    fn an_es_module_s_syntax_error_drops_its_file_url() {
        let found = run(&mut NodeMatcher::default(), include_str!("fixtures/node-esm-syntax.txt"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(place(&found[0]), ("/app/esm.mjs", 3, Some(22), None));
        assert_eq!(found[0].message, "SyntaxError: Unexpected token ';'");
    }

    #[test]
    fn other_output_is_not_an_exception() {
        let text = "> web@1.0.0 start\n> node server.js\n\nWeb application is listening on port 5000\n\
                    Error: something the app logged and survived\nnpm ERR! code ELIFECYCLE\n";
        assert_eq!(run(&mut NodeMatcher::default(), text), []);
        // A Java stack has no columns.
        let java = "Exception in thread \"main\" java.lang.IllegalStateException: x\n\tat a.Main.main(Main.java:5)\n";
        assert_eq!(run(&mut NodeMatcher::default(), java), []);
    }
}
