//! Go: a program that panics (or dies of a `fatal error:` such as a deadlock), which is how a Go
//! service whose code builds says it does not run, and how `go test` reports a test that panicked.
//!
//! ```text
//! panic: runtime error: index out of range [5] with length 2
//!
//! goroutine 1 [running]:
//! main.lookup(...)                     a frame: the function,
//!         /src/main.go:10              then its place (a tab; ` +0x1f0` unless inlined)
//! main.main()
//!         /src/main.go:26 +0x1f0
//! ```
//!
//! Reported at the innermost frame of the first goroutine (the one that panicked) outside Go's own
//! tree and the module cache (`regexp.MustCompile` panics in the standard library: the project's
//! caller is the place), the project's other frames related. Lines only: a trace has no columns.

use std::sync::LazyLock;

use regex::Regex;

use super::{number, ColumnUnit, Diagnostic, DirectoryStack, Location, Matcher, Severity};

static PANIC: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?P<kind>panic|fatal error): (?P<msg>.*?)(?: \[recovered\])?$").unwrap());
static GOROUTINE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^goroutine \d+ \[[^\]]*\]:$").unwrap());
static PLACE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\t(?P<file>[^\s:][^:]*\.go):(?P<line>\d+)(?: \+0x[0-9a-f]+)?$").unwrap());
/// Lines between the panic and its goroutine (a `[recovered]` panic's next ones, a blank line).
const MAX_BETWEEN: usize = 10;

/// Go's own sources and the module cache, wherever Go is installed (`/usr/local/go/src/`,
/// Debian's `/usr/lib/go-1.19/src/`, a `GOPATH`'s `pkg/mod/`).
fn is_project_file(path: &str) -> bool {
    !(path.contains("/pkg/mod/") || path.starts_with("/usr/local/go/") || path.starts_with("/usr/lib/go"))
}

#[derive(Default)]
pub struct GoPanicMatcher {
    panic: Option<Panic>,
}

struct Panic {
    message: String,
    /// In the goroutine's trace (after its `goroutine N [...]:` line).
    in_trace: bool,
    between: usize,
    /// (place, function), innermost first.
    frames: Vec<(Location, String)>,
    /// The function line just read, whose place comes next.
    function: Option<String>,
}

impl GoPanicMatcher {
    fn report(panic: Panic) -> Option<Diagnostic> {
        let mut project = panic.frames.into_iter().filter(|(l, _)| is_project_file(&l.path));
        let (location, _) = project.next()?;
        let related = project.map(|(l, function)| (l, format!("called from {function}"))).collect();
        Some(Diagnostic {
            location,
            severity: Severity::Error,
            message: panic.message,
            code: None,
            tool: "go",
            related,
        })
    }
}

impl Matcher for GoPanicMatcher {
    fn name(&self) -> &'static str {
        "go-panic"
    }

    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        if let Some(panic) = self.panic.as_mut() {
            if !panic.in_trace {
                if GOROUTINE.is_match(line) {
                    panic.in_trace = true;
                    return out;
                }
                panic.between += 1;
                if panic.between <= MAX_BETWEEN && !PANIC.is_match(line) {
                    return out;
                }
                self.panic = None;
            } else if let Some(caps) = PLACE.captures(line) {
                if let (Some(function), Some(n)) = (panic.function.take(), number(caps.name("line"))) {
                    let location = Location::new(&caps["file"], dirs, n, None, ColumnUnit::Bytes);
                    panic.frames.push((location, function));
                }
                return out;
            } else if !line.is_empty() && !line.starts_with(char::is_whitespace) && !PANIC.is_match(line) {
                // `main.lookup(...)`, `created by main.main`: the next line is its place.
                let function = line.strip_prefix("created by ").unwrap_or(line);
                let function = function.split(" in goroutine ").next().unwrap_or(function);
                let name = function.split_once('(').map_or(function, |(name, _)| name);
                panic.function = Some(name.to_owned());
                return out;
            } else {
                // The goroutine's trace ended (a blank line before the next one, `exit status 2`).
                out.extend(self.panic.take().and_then(Self::report));
            }
        }
        if let Some(caps) = PANIC.captures(line) {
            self.panic = Some(Panic {
                message: format!("{}: {}", &caps["kind"], &caps["msg"]),
                in_trace: false,
                between: 0,
                frames: Vec::new(),
                function: None,
            });
        }
        out
    }

    fn finish(&mut self) -> Vec<Diagnostic> {
        self.panic.take().and_then(Self::report).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::test_support::run;

    fn places(found: &[Diagnostic]) -> Vec<(&str, u32, &str)> {
        found.iter().map(|d| (d.location.path.as_str(), d.location.line, d.message.as_str())).collect()
    }

    #[test]
    fn a_panic_is_at_its_innermost_frame_with_its_callers_related() {
        // Go 1.19 (Debian's), built without -trimpath in /src.
        let found = run(&mut GoPanicMatcher::default(), include_str!("fixtures/go-panic-inlined.txt"));
        assert_eq!(
            places(&found),
            [("/src/main.go", 10, "panic: runtime error: index out of range [5] with length 2")]
        );
        let callers: Vec<_> = found[0].related.iter().map(|(l, m)| (l.line, m.as_str())).collect();
        assert_eq!(callers, [(26, "called from main.main")]);
        assert_eq!(found[0].location.column, None, "a trace has no columns");

        let found = run(&mut GoPanicMatcher::default(), include_str!("fixtures/go-panic.txt"));
        assert_eq!(places(&found), [("/src/main.go", 15, "panic: bad config: \"héllo\"")]);
        // Under `go run`, its `exit status 2` ends the trace.
        let found = run(&mut GoPanicMatcher::default(), include_str!("fixtures/go-run-panic.txt"));
        assert_eq!(places(&found), [("/src/main.go", 15, "panic: bad config: \"héllo\"")]);
    }

    #[test]
    fn a_panic_in_a_goroutine_names_where_it_was_started() {
        let found = run(&mut GoPanicMatcher::default(), include_str!("fixtures/go-panic-goroutine.txt"));
        assert_eq!(places(&found), [("/src/main.go", 21, "panic: assignment to entry in nil map")]);
        let callers: Vec<_> = found[0].related.iter().map(|(l, m)| (l.line, m.as_str())).collect();
        assert_eq!(callers, [(19, "called from main.main")]);
    }

    #[test]
    fn a_panic_in_the_standard_library_is_at_the_project_s_call() {
        let found = run(&mut GoPanicMatcher::default(), include_str!("fixtures/go-panic-stdlib.txt"));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].location.path.as_str(), found[0].location.line), ("/src/rx/main.go", 8));
        assert!(found[0].message.starts_with("panic: regexp: Compile(`(`)"), "{}", found[0].message);
    }

    #[test]
    fn a_fatal_error_is_reported_as_a_panic_is() {
        let found = run(&mut GoPanicMatcher::default(), include_str!("fixtures/go-fatal-deadlock.txt"));
        assert_eq!(places(&found), [("/src/dl/main.go", 5, "fatal error: all goroutines are asleep - deadlock!")]);
    }

    #[test]
    fn a_log_line_about_a_panic_is_not_one() {
        let text = "2026/12/05 00:00:00 recovered from panic: boom\nserving on :8080\n";
        assert_eq!(run(&mut GoPanicMatcher::default(), text), []);
        let unfinished = "panic: boom\n\nsomething else entirely\n";
        assert_eq!(run(&mut GoPanicMatcher::default(), unfinished), [], "no goroutine, no place");
    }
}
