//! The matchers of one build, fed its raw output as it streams.
//!
//! Every built-in matcher runs on every line: each recognises only its own tool's shape, and builds
//! mix tools (gcc under make, cargo from a shell script, a Python traceback from a code generator).
//! The rebuild command decides the order, its own tool first, which matters only when two matchers
//! report the same problem: the first report wins and identical later ones (same place, same
//! message) are dropped. Custom matchers come first of all: the user asked for them.
//!
//! make's "recipe failed" errors are kept only when nothing else reported an error (see `make.rs`).

use std::collections::HashSet;

use super::frontend::FrontendMatcher;
use super::gcc::GccMatcher;
use super::go::GoMatcher;
use super::go_panic::GoPanicMatcher;
use super::javac::JavacMatcher;
use super::make::MakeMatcher;
use super::maven::MavenMatcher;
use super::nginx::NginxMatcher;
use super::node::NodeMatcher;
use super::npm::NpmMatcher;
use super::python::{MypyMatcher, TracebackMatcher};
use super::rustc::RustcMatcher;
use super::tsc::TscMatcher;
use super::{clean_line, CustomMatcher, Diagnostic, DirectoryStack, Matcher, Severity};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Gcc,
    Rust,
    Javac,
    Maven,
    Go,
    GoPanic,
    Tsc,
    Frontend,
    Node,
    Mypy,
    Python,
    Nginx,
    Npm,
}

const DEFAULT_ORDER: [Family; 13] = [
    Family::Gcc,
    Family::Rust,
    Family::Javac,
    Family::Maven,
    Family::Go,
    Family::GoPanic,
    Family::Tsc,
    Family::Frontend,
    Family::Node,
    Family::Mypy,
    Family::Python,
    Family::Nginx,
    Family::Npm,
];

/// The tool family a command word runs (`/usr/bin/make` and `./mvnw` count as `make` and `mvnw`).
fn family_of(word: &str) -> Option<Family> {
    let name = word.rsplit('/').next().unwrap_or(word);
    Some(match name {
        "make" | "gmake" | "ninja" | "cmake" | "meson" | "gcc" | "g++" | "cc" | "c++" | "clang" | "clang++" => {
            Family::Gcc
        }
        _ if name.starts_with("gcc-") || name.starts_with("g++-") || name.starts_with("clang") => Family::Gcc,
        "cargo" | "rustc" => Family::Rust,
        "javac" | "gradle" | "gradlew" => Family::Javac,
        "mvn" | "mvnw" => Family::Maven,
        "go" => Family::Go,
        "tsc" | "npx" | "npm" | "yarn" | "pnpm" => Family::Tsc,
        "vite" | "webpack" | "react-scripts" | "esbuild" | "eslint" => Family::Frontend,
        "node" | "nodejs" | "nodemon" => Family::Node,
        "mypy" => Family::Mypy,
        "nginx" | "openresty" => Family::Nginx,
        _ if name.starts_with("python") || name == "pytest" => Family::Python,
        _ => return None,
    })
}

/// All matchers for one build, chosen by the rebuild command and by content.
pub struct Pipeline {
    matchers: Vec<Box<dyn Matcher>>,
    make: MakeMatcher,
    dirs: DirectoryStack,
    /// Bytes after the last newline: a line still arriving.
    partial: Vec<u8>,
    seen: Seen,
}

/// What was reported so far: to drop a second report of the same problem, and to know whether any
/// error was (for make's held-back recipe failures).
/// Path, base directory, line, column, message: the same problem, whoever reports it.
type ReportKey = (String, Option<String>, u32, Option<u32>, String);

#[derive(Default)]
struct Seen {
    reported: HashSet<ReportKey>,
    errors: usize,
}

impl Seen {
    fn keep_new(&mut self, found: Vec<Diagnostic>, out: &mut Vec<Diagnostic>) {
        for diagnostic in found {
            let l = &diagnostic.location;
            let key = (l.path.clone(), l.base_dir.clone(), l.line, l.column, diagnostic.message.clone());
            if self.reported.insert(key) {
                self.errors += usize::from(diagnostic.severity == Severity::Error);
                out.push(diagnostic);
            }
        }
    }
}

impl Pipeline {
    /// `command` is the rebuild command line(s) (e.g. "make -j2", "cargo build --message-format=json",
    /// "mvn -q compile", "tsc --pretty false", "go build ./...", "python -m mypy src"); choose sensible matchers:
    /// the command's own tool first, but content-based detection must still catch e.g. gcc errors from `make`,
    /// or `cargo` errors from a shell script. Custom matchers always apply.
    pub fn new(commands: &[String], custom: Vec<CustomMatcher>) -> Pipeline {
        let words: Vec<&str> = commands
            .iter()
            .flat_map(|c| c.split(|ch: char| ch.is_whitespace() || ";&|()'\"`".contains(ch)))
            .filter(|w| !w.is_empty())
            .collect();
        let mut order: Vec<Family> = Vec::new();
        for (i, word) in words.iter().enumerate() {
            // `python -m mypy` runs mypy.
            let family = match family_of(word) {
                Some(Family::Python) if words.get(i + 2) == Some(&"mypy") && words[i + 1] == "-m" => Some(Family::Mypy),
                other => other,
            };
            order.extend(family.filter(|f| !order.contains(f)));
        }
        for family in DEFAULT_ORDER {
            if !order.contains(&family) {
                order.push(family);
            }
        }
        let clang =
            words.iter().any(|w| w.rsplit('/').next().unwrap_or(w).starts_with("clang") || w.contains("CC=clang"));
        let vet = words.windows(2).any(|w| family_of(w[0]) == Some(Family::Go) && w[1] == "vet");

        let mut matchers: Vec<Box<dyn Matcher>> = Vec::new();
        matchers.extend(custom.into_iter().map(|m| Box::new(m) as Box<dyn Matcher>));
        for family in order {
            matchers.push(match family {
                Family::Gcc => Box::new(GccMatcher::new(clang)),
                Family::Rust => Box::<RustcMatcher>::default(),
                Family::Javac => Box::<JavacMatcher>::default(),
                Family::Maven => Box::<MavenMatcher>::default(),
                Family::Go => Box::new(GoMatcher::new(vet)),
                Family::GoPanic => Box::<GoPanicMatcher>::default(),
                Family::Tsc => Box::<TscMatcher>::default(),
                Family::Frontend => Box::<FrontendMatcher>::default(),
                Family::Node => Box::<NodeMatcher>::default(),
                Family::Mypy => Box::<MypyMatcher>::default(),
                Family::Python => Box::<TracebackMatcher>::default(),
                Family::Nginx => Box::<NginxMatcher>::default(),
                Family::Npm => Box::<NpmMatcher>::default(),
            });
        }
        Pipeline {
            matchers,
            make: MakeMatcher::default(),
            dirs: DirectoryStack::new(),
            partial: Vec::new(),
            seen: Seen::default(),
        }
    }

    /// Feed raw output bytes as they stream (may split lines anywhere, may be invalid UTF-8 → lossy).
    pub fn feed(&mut self, chunk: &[u8]) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        let mut rest = chunk;
        while let Some(newline) = rest.iter().position(|b| *b == b'\n') {
            self.partial.extend_from_slice(&rest[..newline]);
            let line = std::mem::take(&mut self.partial);
            self.line(&line, &mut out);
            rest = &rest[newline + 1..];
        }
        self.partial.extend_from_slice(rest);
        out
    }

    /// End of output. The pipeline then starts afresh for the next output (a rebuild's next step):
    /// make's directories, held-back failures and what was reported belong to one output.
    pub fn finish(&mut self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line, &mut out);
        }
        for matcher in &mut self.matchers {
            self.seen.keep_new(matcher.finish(), &mut out);
        }
        let recipe_failures = self.make.finish();
        if self.seen.errors == 0 {
            self.seen.keep_new(recipe_failures, &mut out);
        }
        self.seen = Seen::default();
        self.dirs = DirectoryStack::new();
        out
    }

    fn line(&mut self, raw: &[u8], out: &mut Vec<Diagnostic>) {
        // Decoding whole lines only: a character split between two chunks is whole again here.
        let line = clean_line(&String::from_utf8_lossy(raw));
        self.dirs.observe(&line);
        for matcher in &mut self.matchers {
            self.seen.keep_new(matcher.line(&line, &self.dirs), out);
        }
        self.seen.keep_new(self.make.line(&line, &self.dirs), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{ColumnUnit, Severity};

    fn pipeline(command: &str) -> Pipeline {
        Pipeline::new(&[command.to_owned()], Vec::new())
    }

    fn feed_all(p: &mut Pipeline, output: &str) -> Vec<Diagnostic> {
        let mut found = p.feed(output.as_bytes());
        found.extend(p.finish());
        found
    }

    const MAKE_GCC: &str = include_str!("fixtures/gcc-make-subdirs.txt");

    /// A front-end build's report is one problem each, whatever else reads the output: Vite's
    /// esbuild failure ends in node's stack of esbuild's own code, CRA's in npm's summary.
    #[test]
    fn front_end_builds_report_each_problem_once() {
        for (command, output, file) in [
            ("npm run build", include_str!("fixtures/vite-esbuild-syntax.txt"), "/app/src/App.jsx"),
            ("npm run build", include_str!("fixtures/cra-syntax.txt"), "src/extra.js"),
            ("npx vite build", include_str!("fixtures/vite-rollup-export.txt"), "/app/src/App.jsx"),
            ("npm run build", include_str!("fixtures/next-type-error.txt"), "./src/app/page.tsx"),
            ("npm run build", include_str!("fixtures/next-swc-syntax.txt"), "./src/app/page.tsx"),
        ] {
            let found = feed_all(&mut pipeline(command), output);
            let places: Vec<(&str, &str)> = found.iter().map(|d| (d.location.path.as_str(), d.tool)).collect();
            assert_eq!(places, [(file, "frontend")], "{output}");
        }
    }

    #[test]
    fn gcc_error_is_found_in_make_output_when_the_command_is_make() {
        let found = feed_all(&mut pipeline("make -j2"), MAKE_GCC);
        assert_eq!(found.len(), 7);
        assert!(found.iter().all(|d| d.tool == "gcc"), "the failed recipes are explained by gcc");
        assert_eq!(found[0].location.base_dir.as_deref(), Some("/tmp/scratch/cproj/lib"));
        assert_eq!(found[0].severity, Severity::Error);
    }

    #[test]
    fn failed_recipe_is_reported_when_no_compiler_said_why() {
        let found = feed_all(&mut pipeline("make"), include_str!("fixtures/make-recipe-failed.txt"));
        let summary: Vec<_> = found.iter().map(|d| (d.tool, d.location.line, d.severity)).collect();
        assert_eq!(
            summary,
            [("make", 6, Severity::Warning), ("make", 3, Severity::Warning), ("make", 6, Severity::Error)]
        );
    }

    #[test]
    fn chunks_split_mid_line_and_mid_utf8_character_give_the_same_diagnostics() {
        let output = include_str!("fixtures/gcc-columns.txt");
        let whole = feed_all(&mut pipeline("make"), output);
        // 3-byte chunks cut through `中` (3 bytes), `𝑥` and `😀` (4) and `é` (2) somewhere.
        let mut split = pipeline("make");
        let mut found = Vec::new();
        for chunk in output.as_bytes().chunks(3) {
            found.extend(split.feed(chunk));
        }
        found.extend(split.finish());
        assert_eq!(found, whole);
        assert_eq!(whole[0].message, "‘zz’ undeclared (first use in this function)");
        assert!(!whole[0].related[0].1.contains('\u{FFFD}'));
    }

    #[test]
    fn invalid_utf8_is_read_lossily() {
        let mut p = pipeline("make");
        let mut found = p.feed(b"main.c:3:1: error: stray \xff in program\n");
        found.extend(p.finish());
        assert_eq!(found[0].message, "stray \u{FFFD} in program");
    }

    #[test]
    fn the_last_line_without_newline_is_read_at_finish() {
        let mut p = pipeline("go build ./...");
        assert_eq!(p.feed(b"./main.go:12:14: undefined: y"), []);
        assert_eq!(p.finish().len(), 1);
    }

    #[test]
    fn one_error_line_is_not_reported_twice_by_two_matchers() {
        // A user's matcher for gcc's format next to the built-in gcc matcher.
        let custom = CustomMatcher::new(
            r"^(?P<file>[^:\s]+):(?P<line>\d+):(?P<column>\d+): (?P<severity>error|warning): (?P<message>.*?)(?: \[(?P<code>-W[^\]]+)\])?$",
            Severity::Error,
            ColumnUnit::DisplayTab8,
        )
        .unwrap();
        let mut p = Pipeline::new(&["make".to_owned()], vec![custom]);
        let found = feed_all(&mut p, MAKE_GCC);
        assert_eq!(found.len(), 7);
        assert_eq!(found[0].tool, "custom", "the user's matcher comes first");
        // mypy's `file:line: error:` is gcc's shape too; only mypy reports it, even under make.
        let found = feed_all(&mut pipeline("make"), include_str!("fixtures/mypy-errors.txt"));
        assert_eq!(found.len(), 6);
        assert!(found.iter().all(|d| d.tool == "mypy"));
    }

    #[test]
    fn cargo_errors_are_found_from_a_shell_script() {
        let found = feed_all(&mut pipeline("sh ./ci/build.sh"), include_str!("fixtures/cargo-json-errors.txt"));
        assert_eq!(found.len(), 3);
        assert!(found.iter().all(|d| d.tool == "rustc"));
    }

    #[test]
    fn coloured_output_is_matched_after_stripping_escapes() {
        let found = feed_all(&mut pipeline("tsc"), include_str!("fixtures/tsc-pretty.txt"));
        assert_eq!(found.len(), 7);
        let found = feed_all(&mut pipeline("mvn -q compile"), include_str!("fixtures/maven-quiet.txt"));
        assert_eq!(found.len(), 3);
    }

    #[test]
    fn the_command_chooses_vet_severities_and_clang_columns() {
        let found = feed_all(&mut pipeline("go vet ./..."), include_str!("fixtures/go-vet.txt"));
        assert!(found.iter().all(|d| d.severity == Severity::Warning));
        let found = feed_all(&mut pipeline("go build ./..."), include_str!("fixtures/go-vet.txt"));
        assert!(found.iter().all(|d| d.severity == Severity::Error));
        let mut p = pipeline("make CC=clang");
        let mut found = p.feed(b"x.c:1:5: error: no caret shown\n");
        found.extend(p.finish());
        assert_eq!(found[0].location.unit, ColumnUnit::Bytes);
    }

    #[test]
    fn each_finished_output_is_judged_on_its_own() {
        // A rebuild feeds its steps' outputs through one pipeline, finishing each.
        let mut p = pipeline("make");
        assert_eq!(feed_all(&mut p, MAKE_GCC).len(), 7);
        let second = feed_all(&mut p, include_str!("fixtures/make-recipe-failed.txt"));
        assert_eq!(second.iter().filter(|d| d.severity == Severity::Error).count(), 1, "the recipe failure");
        let again = feed_all(&mut p, MAKE_GCC);
        assert_eq!(again.len(), 7, "the same errors in a later output are reported again");
        assert_eq!(again[0].location.base_dir.as_deref(), Some("/tmp/scratch/cproj/lib"));
    }

    #[test]
    fn pipeline_can_move_to_another_thread() {
        fn assert_send<T: Send>() {}
        assert_send::<Pipeline>();
    }

    #[test]
    fn no_output_makes_a_matcher_panic() {
        let mut everything = String::new();
        for fixture in [
            MAKE_GCC,
            include_str!("fixtures/clang-notes.txt"),
            include_str!("fixtures/rustc-human-borrow.txt"),
            include_str!("fixtures/cargo-json-errors.txt"),
            include_str!("fixtures/javac-errors.txt"),
            include_str!("fixtures/maven-compile.txt"),
            include_str!("fixtures/go-build.txt"),
            include_str!("fixtures/tsc-pretty.txt"),
            include_str!("fixtures/python-traceback.txt"),
            include_str!("fixtures/mypy-show-error-end.txt"),
        ] {
            everything.push_str(fixture);
        }
        // Numbers past u32, a caret at the end of u32 columns, truncated JSON, stray frames.
        everything.push_str("a.c:99999999999:1: error: x\nb.c:1:4294967295: error: y\n    1 | y\n      | ^~~~\n");
        everything.push_str(
            "{\"reason\":\"compiler-message\",\"message\":{\"spans\":[{\"is_primary\":true}]}}\n{\"reason\"\n",
        );
        everything
            .push_str("  File \"x.py\", line 3\nSyntaxError\nerror[E1]: x\n --> a.rs:1:4294967295\n1 | x\n  | ^^\n");
        for command in ["make", "cargo build", "mvn compile", "go vet", "tsc", "python -m mypy", "sh x.sh"] {
            let mut p = pipeline(command);
            for chunk in everything.as_bytes().chunks(7) {
                p.feed(chunk);
            }
            p.finish();
        }
    }

    #[test]
    fn python_m_mypy_runs_mypy_first() {
        let p = pipeline("python -m mypy src");
        assert_eq!(p.matchers[0].name(), "mypy");
        let p = pipeline("cd /src && mvn -q compile");
        assert_eq!(p.matchers[0].name(), "maven");
    }
}
