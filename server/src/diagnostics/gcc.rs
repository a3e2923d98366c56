//! gcc and clang (C, C++, and anything else they compile), plus the GNU linker's source-line errors.
//!
//! Both print `file:line:col: error|warning|note|fatal error: message [-Wflag]` and then echo the source
//! line with a caret line under it; gcc frames them in a `  7 | ` margin, clang 14 prints them bare.
//! The caret line gives what the header lacks: the end of the range (`^~~~~~~`) and, with
//! `-fno-show-column`, the column itself. It also tells the units apart: gcc's columns are display
//! columns like its echo, clang's are bytes, so a column that disagrees with its caret is clang's.
//!
//! Notes become related information of the error or warning before them; `In file included from`
//! chains and C++ `required from here` lines of the next one. `file: In function 'f':` lines are
//! context only. The linker is matched only when it names a source line (`main.c:10: undefined
//! reference`, with `-g`); `main.o: in function` and `main.c:(.text+0x1e):` say nothing more useful
//! than the compiler would.

use std::sync::LazyLock;

use regex::{Captures, Regex};

use super::accumulator::{Accumulator, Draft};
use super::{make::is_makefile, number, ColumnUnit, Diagnostic, DirectoryStack, Location, Matcher, Severity};

static HEADER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?P<file>[^\s:<][^:]*):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<sev>fatal error|error|warning|note|remark): ?(?P<msg>.*)$",
    )
    .unwrap()
});
static INCLUDED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^In file included from (?P<file>[^:]+):(?P<line>\d+)(?::(?P<col>\d+))?[:,]$").unwrap()
});
static INCLUDED_CONTINUED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s+from (?P<file>[^:]+):(?P<line>\d+)(?::(?P<col>\d+))?[:,]$").unwrap());
/// `util.h: In function ‘helper’:`, `main.c: At top level:`, `a.cpp: In instantiation of ...:`
static SCOPE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[^\s:][^:]*: (?:In |At top level:)").unwrap());
static REQUIRED_FROM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+):(?:(?P<col>\d+):)?\s{2,}(?P<msg>(?:recursively )?required (?:from|by) .*)$")
        .unwrap()
});
static LINKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:\S*ld(?:\.\w+)?: )?(?P<file>[^\s:][^:]*):(?P<line>\d+):(?:\([^)]*\):)? (?P<msg>(?:undefined reference to|multiple definition of) .*)$",
    )
    .unwrap()
});
/// gcc's framed echo (`    5 |   return x;`) and caret (`      |   ^~~`) lines.
static MARGIN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^ *(?P<num>\d*) \|(?: (?P<text>.*))?$").unwrap());
/// clang's bare caret line.
static CARET: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[ ~^]*\^[ ~^]*$").unwrap());
static FLAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(?P<msg>.*) \[(?P<code>-W[^\]]+)\]$").unwrap());

/// Files whose `file:line: error:` lines are other matchers' (mypy and javac print the same shape).
const OTHER_LANGUAGES: &[&str] =
    &["rs", "go", "java", "kt", "scala", "py", "pyi", "ts", "tsx", "mts", "cts", "js", "jsx", "mjs", "cjs"];

fn is_ours(path: &str) -> bool {
    let ext = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    !OTHER_LANGUAGES.contains(&ext) && !is_makefile(path)
}

/// A line gcc starts something new with, so no excerpt's echo.
fn is_recognized(line: &str) -> bool {
    [&*HEADER, &*INCLUDED, &*SCOPE, &*REQUIRED_FROM, &*LINKER].iter().any(|re| re.is_match(line))
}

/// Which location the next echo and caret lines describe: the diagnostic's own, or one of its notes.
#[derive(Debug, Clone, Copy)]
enum Excerpt {
    Idle,
    Echo {
        line: u32,
        note: Option<usize>,
    },
    /// gcc's `      |   ^~~` line, after its framed echo.
    FramedCaret {
        note: Option<usize>,
    },
    /// clang's bare `  ^~~` line, after its bare echo.
    BareCaret {
        note: Option<usize>,
    },
}

/// The diagnostic being read and where its echo and caret lines are: they belong to it, so they end
/// with it.
struct Pending {
    diagnostic: Diagnostic,
    excerpt: Excerpt,
}

impl Draft for Pending {
    fn into_diagnostic(self) -> Option<Diagnostic> {
        Some(self.diagnostic)
    }
}

impl Pending {
    /// Consumes echo and caret lines; false if `line` is something else.
    fn excerpt_line(&mut self, line: &str) -> bool {
        match self.excerpt {
            Excerpt::Idle => false,
            Excerpt::Echo { line: wanted, note } => {
                if let Some(caps) = MARGIN.captures(line) {
                    if number(caps.name("num")) == Some(wanted) {
                        self.excerpt = Excerpt::FramedCaret { note };
                    }
                    true
                } else if is_recognized(line) {
                    self.excerpt = Excerpt::Idle;
                    false
                } else {
                    self.excerpt = Excerpt::BareCaret { note };
                    true
                }
            }
            Excerpt::FramedCaret { note } => match MARGIN.captures(line) {
                Some(caps) => {
                    if caps["num"].is_empty() {
                        self.apply_caret(caps.name("text").map_or("", |t| t.as_str()), note, true);
                        self.excerpt = Excerpt::Idle;
                    }
                    true
                }
                None => {
                    self.excerpt = Excerpt::Idle;
                    false
                }
            },
            Excerpt::BareCaret { note } => {
                self.excerpt = Excerpt::Idle;
                let is_caret = CARET.is_match(line);
                if is_caret {
                    self.apply_caret(line, note, false);
                }
                is_caret
            }
        }
    }

    fn apply_caret(&mut self, text: &str, note: Option<usize>, framed: bool) {
        let Some(byte_at) = text.find('^') else { return };
        let display_col = text[..byte_at].chars().count() as u32 + 1;
        let run = text[byte_at..].chars().take_while(|c| *c == '^' || *c == '~').count() as u32;
        let location = match note {
            None => &mut self.diagnostic.location,
            Some(i) => match self.diagnostic.related.get_mut(i) {
                Some((location, _)) => location,
                None => return,
            },
        };
        let column = match location.column {
            // -fno-show-column: the echo's display columns are all there is.
            None => {
                location.unit = ColumnUnit::DisplayTab8;
                display_col
            }
            Some(column) => {
                if column != display_col {
                    location.unit = ColumnUnit::Bytes;
                }
                column
            }
        };
        location.column = Some(column);
        // gcc underlines the whole token (`^` alone is one column); clang's lone `^` is only a point.
        if framed || run > 1 {
            location.end_line = Some(location.line);
            location.end_column = Some(column.saturating_add(run));
        }
    }
}

pub struct GccMatcher {
    /// Columns when no caret line tells: bytes if the command runs clang, else gcc's display columns.
    default_unit: ColumnUnit,
    pending: Accumulator<Pending>,
    include_chain: Vec<(Location, String)>,
    /// The header the chain leads into: later diagnostics in it share the chain, gcc prints it once.
    chain_file: Option<String>,
    /// clang prints one `In file included from` line per level.
    chain_open: bool,
    instantiation: Vec<(Location, String)>,
}

impl GccMatcher {
    pub fn new(clang: bool) -> Self {
        GccMatcher {
            default_unit: if clang { ColumnUnit::Bytes } else { ColumnUnit::DisplayTab8 },
            pending: Accumulator::default(),
            include_chain: Vec::new(),
            chain_file: None,
            chain_open: false,
            instantiation: Vec::new(),
        }
    }

    fn location(&self, caps: &Captures<'_>, dirs: &DirectoryStack) -> Option<Location> {
        Some(Location::new(
            &caps["file"],
            dirs,
            number(caps.name("line"))?,
            number(caps.name("col")),
            self.default_unit,
        ))
    }

    fn header(&mut self, caps: &Captures<'_>, dirs: &DirectoryStack, out: &mut Vec<Diagnostic>) {
        let Some(location) = self.location(caps, dirs) else { return };
        let line = location.line;
        let (message, code) = match FLAG.captures(&caps["msg"]) {
            Some(flag) => (flag["msg"].to_owned(), Some(flag["code"].to_owned())),
            None => (caps["msg"].to_owned(), None),
        };
        let sev = &caps["sev"];
        if sev == "note" {
            if let Some(pending) = self.pending.draft_mut() {
                pending.diagnostic.related.push((location, message));
                pending.excerpt = Excerpt::Echo { line, note: Some(pending.diagnostic.related.len() - 1) };
                return;
            }
        }
        self.pending.flush(out);
        let file = &caps["file"];
        if self.chain_file.as_deref().is_some_and(|f| f != file) {
            self.include_chain.clear();
            self.chain_file = None;
        }
        if !self.include_chain.is_empty() {
            self.chain_file = Some(file.to_owned());
        }
        let mut related = self.include_chain.clone();
        related.append(&mut self.instantiation);
        let severity = match sev {
            "warning" => Severity::Warning,
            "note" | "remark" => Severity::Info,
            _ => Severity::Error,
        };
        let diagnostic = Diagnostic { location, severity, message, code, tool: "gcc", related };
        self.pending.hold(Pending { diagnostic, excerpt: Excerpt::Echo { line, note: None } });
    }
}

impl Matcher for GccMatcher {
    fn name(&self) -> &'static str {
        "gcc"
    }

    fn line(&mut self, line: &str, dirs: &DirectoryStack) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        if self.pending.draft_mut().is_some_and(|pending| pending.excerpt_line(line)) {
            return out;
        }
        let chain_continues = std::mem::take(&mut self.chain_open);
        if let Some(caps) = INCLUDED.captures(line) {
            self.pending.flush(&mut out);
            if !chain_continues {
                self.include_chain.clear();
                self.chain_file = None;
            }
            self.include_chain.extend(self.location(&caps, dirs).map(|l| (l, "in file included from here".to_owned())));
            self.chain_open = true;
        } else if let Some(caps) = INCLUDED_CONTINUED.captures(line).filter(|_| chain_continues) {
            self.include_chain.extend(self.location(&caps, dirs).map(|l| (l, "in file included from here".to_owned())));
            self.chain_open = true;
        } else if SCOPE.is_match(line) {
            self.pending.flush(&mut out);
        } else if let Some(caps) = HEADER.captures(line).filter(|c| is_ours(&c["file"])) {
            self.header(&caps, dirs, &mut out);
        } else if let Some(caps) = REQUIRED_FROM.captures(line).filter(|c| is_ours(&c["file"])) {
            self.pending.flush(&mut out);
            self.instantiation.extend(self.location(&caps, dirs).map(|l| (l, caps["msg"].to_owned())));
        } else if let Some(caps) = LINKER.captures(line) {
            self.pending.flush(&mut out);
            out.extend(self.location(&caps, dirs).map(|location| Diagnostic {
                location,
                severity: Severity::Error,
                message: caps["msg"].to_owned(),
                code: None,
                tool: "gcc",
                related: Vec::new(),
            }));
        } else if !line.starts_with(char::is_whitespace) {
            // Anything else unindented ends the diagnostic: report it now rather than at the end.
            self.pending.flush(&mut out);
        }
        out
    }

    fn finish(&mut self) -> Vec<Diagnostic> {
        let out = self.pending.finish();
        // The next output is another compiler run: no include chain or instantiation leads into it.
        self.include_chain.clear();
        self.chain_file = None;
        self.chain_open = false;
        self.instantiation.clear();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::test_support::{run, utf16_offset_of};
    use crate::diagnostics::utf16_column;

    fn gcc(fixture: &str) -> Vec<Diagnostic> {
        run(&mut GccMatcher::new(false), fixture)
    }

    fn at(d: &Diagnostic) -> (&str, u32, Option<u32>, Option<u32>) {
        (d.location.path.as_str(), d.location.line, d.location.column, d.location.end_column)
    }

    const SUBDIRS: &str = include_str!("fixtures/gcc-make-subdirs.txt");

    #[test]
    fn gcc_reports_each_error_and_warning_once_and_ignores_function_context_lines() {
        let found = gcc(SUBDIRS);
        let places: Vec<_> = found.iter().map(|d| (d.location.path.as_str(), d.location.line, d.severity)).collect();
        assert_eq!(
            places,
            [
                ("util.h", 5, Severity::Error),
                ("util.h", 6, Severity::Warning),
                ("main.c", 10, Severity::Warning),
                ("main.c", 11, Severity::Warning),
                ("main.c", 11, Severity::Warning),
                ("main.c", 9, Severity::Warning),
                ("main.c", 3, Severity::Warning),
            ]
        );
    }

    #[test]
    fn gcc_error_in_a_header_carries_its_include_chain_and_make_directory() {
        let found = gcc(SUBDIRS);
        let error = &found[0];
        assert_eq!(error.location.base_dir.as_deref(), Some("/tmp/scratch/cproj/lib"));
        assert_eq!(error.message, "‘unknown_thing’ undeclared (first use in this function)");
        let related: Vec<_> = error.related.iter().map(|(l, m)| (l.path.as_str(), l.line, m.as_str())).collect();
        assert_eq!(
            related,
            [
                ("wrap.h", 2, "in file included from here"),
                ("util.c", 1, "in file included from here"),
                ("util.h", 5, "each undeclared identifier is reported only once for each function it appears in"),
            ]
        );
        // The next warning in the same header was reached through the same includes.
        assert_eq!(found[1].related.len(), 2);
        assert!(found[2].related.is_empty(), "main.c is not included from anywhere");
    }

    #[test]
    fn gcc_caret_and_tildes_give_the_end_column() {
        let found = gcc(SUBDIRS);
        assert_eq!(at(&found[0]), ("util.h", 5, Some(20), Some(33)));
        assert_eq!(at(&found[2]), ("main.c", 10, Some(9), Some(16)), "`printff` is 7 columns");
        assert_eq!(at(&found[1]), ("util.h", 6, Some(1), Some(2)), "a lone ^ under the closing brace is one column");
    }

    #[test]
    fn gcc_warning_flag_becomes_the_code() {
        let found = gcc(SUBDIRS);
        assert_eq!(found[2].code.as_deref(), Some("-Wimplicit-function-declaration"));
        assert_eq!(found[2].message, "implicit declaration of function ‘printff’; did you mean ‘printf’?");
        assert_eq!(found[0].code, None);
    }

    #[test]
    fn gcc_note_is_attached_to_the_error_it_explains() {
        let found = gcc(include_str!("fixtures/gcc-notes.txt"));
        assert_eq!(found.len(), 2, "the note is not a diagnostic of its own");
        let (note, message) = &found[0].related[0];
        assert_eq!((note.line, note.column, note.end_column), (3, Some(5), Some(9)));
        assert_eq!(message, "previous declaration of ‘area’ with type ‘int(int,  int)’");
        // `~^     ~~~`: the range runs from the caret on, labels and fix-it lines are skipped.
        assert_eq!(at(&found[1]), ("notes.c", 13, Some(18), Some(19)));
        assert_eq!(found[1].code.as_deref(), Some("-Wformat="));
    }

    #[test]
    fn gcc_columns_are_display_columns_with_tabs_to_8() {
        let fixture = include_str!("fixtures/gcc-columns.txt");
        let error = &gcc(fixture)[0];
        assert_eq!((error.location.column, error.location.unit), (Some(43), ColumnUnit::DisplayTab8));
        let source = "\tconst char *s = \"中𝑥𝑥é😀\"; return zz;";
        assert_eq!(utf16_column(source, 43, error.location.unit), utf16_offset_of(source, "zz"));
        assert_eq!(error.location.end_column, Some(45));
    }

    #[test]
    fn gcc_without_column_takes_the_column_from_the_caret() {
        let error = &gcc(include_str!("fixtures/gcc-no-column.txt"))[0];
        assert_eq!(at(error), ("col.c", 3, Some(38), Some(51)));
        assert_eq!(error.location.unit, ColumnUnit::DisplayTab8);
    }

    #[test]
    fn gcc_fatal_error_is_an_error() {
        let found = gcc(include_str!("fixtures/gcc-fatal.txt"));
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].severity, found[0].message.as_str()),
            (Severity::Error, "missing.h: No such file or directory")
        );
        assert_eq!(at(&found[0]), ("fatal.c", 1, Some(10), Some(21)));
    }

    #[test]
    fn gcc_linker_error_with_debug_info_points_at_the_source_line() {
        let found = gcc(include_str!("fixtures/gcc-linker-debug.txt"));
        let errors: Vec<_> = found.iter().map(|d| (d.location.line, d.message.as_str())).collect();
        assert_eq!(errors, [(10, "undefined reference to `add'"), (10, "undefined reference to `printff'")]);
        assert_eq!(found[0].location.path, "/tmp/scratch/cproj/app/main.c");
    }

    #[test]
    fn gcc_linker_error_without_debug_info_is_skipped() {
        assert!(gcc(SUBDIRS).iter().all(|d| !d.message.contains("undefined reference")));
    }

    #[test]
    fn gcc_template_instantiation_context_is_related_to_the_error() {
        let found = gcc(include_str!("fixtures/gcc-cxx-ninja.txt"));
        assert_eq!(found.len(), 2);
        let error = &found[1];
        assert_eq!(at(error), ("/tmp/scratch/cm/src/main.cpp", 5, Some(25), Some(28)));
        assert_eq!(error.location.base_dir, None, "absolute paths need no base");
        assert_eq!(error.related[0].0.line, 10);
        assert_eq!(error.related[0].1, "required from here");
    }

    #[test]
    fn gcc_context_left_at_the_end_of_an_output_does_not_reach_the_next_one() {
        // Found by fuzzing: a `required from here` (or an include chain) whose error never came
        // was given to the first error of the rebuild's next step.
        let mut gcc = GccMatcher::new(false);
        let unfinished = "In file included from a.c:1:\n/src/t.cpp:10:16:   required from here\nb.cpp:5::5: error: x\n";
        assert_eq!(run(&mut gcc, unfinished), []);
        let next = "b.cpp:5:5: error: no match for \u{2018}operator*\u{2019}\n";
        let found = run(&mut gcc, next);
        assert_eq!(found, run(&mut GccMatcher::new(false), next));
        assert!(found[0].related.is_empty(), "{:?}", found[0].related);
    }

    #[test]
    fn clang_columns_are_bytes_and_its_lone_caret_is_a_point() {
        let fixture = include_str!("fixtures/clang-columns.txt");
        let error = &run(&mut GccMatcher::new(false), fixture)[0];
        assert_eq!((error.location.column, error.location.unit), (Some(46), ColumnUnit::Bytes));
        assert_eq!(error.location.end_column, None);
        // clang echoes the line with its tab expanded; this is the line in u.c.
        let source = "\tconst char *s = \"中𝑥𝑥é😀\"; return zz;";
        assert_eq!(utf16_column(source, 46, error.location.unit), utf16_offset_of(source, "zz"));
    }

    #[test]
    fn clang_note_is_attached_and_its_tildes_give_the_range() {
        let found = run(&mut GccMatcher::new(true), include_str!("fixtures/clang-notes.txt"));
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].related[0].1, "previous declaration is here");
        assert_eq!(found[0].related[0].0.line, 3);
        // `~~     ^~~` under `big`, at byte column 17 after a tab.
        assert_eq!(at(&found[1]), ("notes.c", 13, Some(17), Some(20)));
        assert_eq!((found[1].location.unit, found[1].code.as_deref()), (ColumnUnit::Bytes, Some("-Wformat")));
    }

    #[test]
    fn clang_include_chain_spans_several_lines() {
        let found = run(&mut GccMatcher::new(true), include_str!("fixtures/clang-include.txt"));
        let chain: Vec<_> = found[0].related.iter().map(|(l, _)| (l.path.as_str(), l.line)).collect();
        assert_eq!(chain, [("util.c", 1), ("./wrap.h", 2)]);
    }

    #[test]
    fn clang_warnings_from_make_are_found() {
        let found = run(&mut GccMatcher::new(true), include_str!("fixtures/clang-make.txt"));
        assert_eq!(found.len(), 5);
        assert!(found.iter().all(|d| d.severity == Severity::Warning));
    }

    #[test]
    fn gcc_leaves_mypy_javac_and_makefile_lines_to_their_own_matchers() {
        let mypy = include_str!("fixtures/mypy-errors.txt");
        let javac = include_str!("fixtures/javac-errors.txt");
        let make = include_str!("fixtures/make-recipe-failed.txt");
        assert_eq!(gcc(mypy), []);
        assert_eq!(gcc(javac), []);
        assert_eq!(gcc(make), []);
    }
}
