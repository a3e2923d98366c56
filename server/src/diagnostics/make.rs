//! GNU make (and ninja) output: the directory changes that give relative paths their base, and make's
//! own errors.
//!
//! - `make[1]: Entering directory '/x'` / `Leaving directory` drive [`DirectoryStack`]; the backquote
//!   quoting `` `x' `` of older makes (still ninja's: `ninja: Entering directory `build'`) works too.
//! - `Makefile:3: *** missing separator.  Stop.` and `Makefile:6: warning: ...` are reported at once:
//!   they are mistakes in the Makefile itself.
//! - `make: *** [Makefile:8: hello] Error 1` only says a recipe failed. When a compiler said why, that
//!   line is noise, so [`MakeMatcher`] holds these back until `finish`, and [`super::Pipeline`] keeps
//!   them only if no other error was reported: then the failing recipe line is the best place to look
//!   (with the last line the recipe printed as the message, e.g. `cp: cannot stat 'x'`).

use std::sync::LazyLock;

use regex::Regex;

use super::{number, ColumnUnit, Diagnostic, DirectoryStack as Dirs, Location, Matcher, Severity};

static DIRECTORY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[\w./-]*make|ninja)(?:\[(?P<level>\d+)\])?: (?P<what>Entering|Leaving) directory [`'‘](?P<dir>.*)['’]$",
    )
    .unwrap()
});
/// `make[1]: *** [Makefile:3: util.o] Error 1`
static RECIPE_FAILED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^[\w./-]*make(?:\[\d+\])?: \*\*\* \[(?P<file>[^:\]]+):(?P<line>\d+): (?P<target>[^\]]*)\] (?P<why>.*)$",
    )
    .unwrap()
});
/// `Makefile:3: *** missing separator.  Stop.`
static MAKEFILE_ERROR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+): \*\*\* (?P<msg>.*?)\.?\s+Stop\.$").unwrap());
/// `Makefile:6: warning: overriding recipe for target 'copy'`
static MAKEFILE_WARNING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(?P<file>[^\s:][^:]*):(?P<line>\d+): warning: (?P<msg>.*)$").unwrap());
static MAKE_LINE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^[\w./-]*make(?:\[\d+\])?: ").unwrap());

/// Tracks `make[N]: Entering directory '/x'` / `Leaving directory` (also the GNU make quoting variants `x'`),
/// so relative paths can be resolved.
#[derive(Debug, Clone, Default)]
pub struct DirectoryStack {
    /// (make level, directory), innermost last. Under `make -j` sub-makes of one level run side by
    /// side: each stays until its own `Leaving` line, so the other one is current again after it.
    entries: Vec<(u32, String)>,
}

impl DirectoryStack {
    pub fn new() -> Self {
        Self::default()
    }

    /// The directory the tool that prints now was started in, if make said so.
    pub fn current(&self) -> Option<&str> {
        self.entries.last().map(|(_, dir)| dir.as_str())
    }

    /// Updates the stack from one output line; true if the line was a directory change.
    pub fn observe(&mut self, line: &str) -> bool {
        let Some(caps) = DIRECTORY.captures(line) else { return false };
        let level = number(caps.name("level")).unwrap_or(0);
        let dir = &caps["dir"];
        // ninja prints the -C argument as given: relative to the directory it was started in.
        let dir = match self.current() {
            Some(parent) if !dir.starts_with('/') => format!("{}/{dir}", parent.trim_end_matches('/')),
            _ => dir.to_owned(),
        };
        if &caps["what"] == "Entering" {
            self.entries.push((level, dir));
        } else if let Some(at) = self.entries.iter().rposition(|(l, d)| *l == level && *d == dir) {
            self.entries.remove(at);
        }
        true
    }
}

/// Make's own errors and warnings, and the held-back recipe failures (see the module doc).
#[derive(Debug, Default)]
pub struct MakeMatcher {
    failures: Vec<Diagnostic>,
    /// The last line a recipe printed: most often the reason a recipe without a compiler failed.
    last_output: Option<String>,
}

/// Whether `path` names a Makefile, whose lines belong to make rather than to a compiler's matcher.
pub(crate) fn is_makefile(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    matches!(name, "Makefile" | "makefile" | "GNUmakefile") || name.ends_with(".mk") || name.ends_with(".make")
}

impl Matcher for MakeMatcher {
    fn name(&self) -> &'static str {
        "make"
    }

    fn line(&mut self, line: &str, dirs: &Dirs) -> Vec<Diagnostic> {
        let diagnostic = |caps: &regex::Captures<'_>, severity, message: String| {
            let line = number(caps.name("line"))?;
            Some(Diagnostic {
                location: Location::new(&caps["file"], dirs, line, None, ColumnUnit::Bytes),
                severity,
                message,
                code: None,
                tool: "make",
                related: Vec::new(),
            })
        };
        if let Some(caps) = RECIPE_FAILED.captures(line) {
            let mut message = format!("recipe for target '{}' failed: {}", &caps["target"], &caps["why"]);
            if let Some(output) = self.last_output.take() {
                message.push('\n');
                message.push_str(&output);
            }
            self.failures.extend(diagnostic(&caps, Severity::Error, message));
            return Vec::new();
        }
        if let Some(caps) = MAKEFILE_ERROR.captures(line) {
            return diagnostic(&caps, Severity::Error, caps["msg"].to_owned()).into_iter().collect();
        }
        if let Some(caps) = MAKEFILE_WARNING.captures(line).filter(|c| is_makefile(&c["file"])) {
            return diagnostic(&caps, Severity::Warning, caps["msg"].to_owned()).into_iter().collect();
        }
        if !MAKE_LINE.is_match(line) && !line.trim().is_empty() {
            self.last_output = Some(line.trim().to_owned());
        }
        Vec::new()
    }

    fn finish(&mut self) -> Vec<Diagnostic> {
        self.last_output = None;
        std::mem::take(&mut self.failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::test_support::run;

    const SUBDIRS: &str = include_str!("fixtures/gcc-make-subdirs.txt");
    const NINJA: &str = include_str!("fixtures/gcc-cxx-ninja.txt");

    #[test]
    fn make_entering_directory_resolves_relative_paths() {
        let mut dirs = DirectoryStack::new();
        let mut seen = Vec::new();
        for line in SUBDIRS.lines() {
            dirs.observe(line);
            if line.starts_with("util.h:5:20: error") || line.starts_with("main.c:10:9: warning") {
                seen.push(dirs.current().map(str::to_owned));
            }
        }
        assert_eq!(seen, [Some("/tmp/scratch/cproj/lib".to_owned()), Some("/tmp/scratch/cproj/app".to_owned())]);
        assert_eq!(dirs.current(), None, "every Entering was left");
    }

    #[test]
    fn make_leaving_a_directory_returns_to_the_parent() {
        let mut dirs = DirectoryStack::new();
        dirs.observe("make: Entering directory '/src'");
        dirs.observe("make[1]: Entering directory '/src/lib'");
        assert_eq!(dirs.current(), Some("/src/lib"));
        dirs.observe("make[1]: Leaving directory '/src/lib'");
        assert_eq!(dirs.current(), Some("/src"));
    }

    #[test]
    fn make_parallel_sub_makes_each_keep_their_directory() {
        // `make -j2`: lib and app entered together, app's output and exit, then lib's output.
        let found =
            run(&mut crate::diagnostics::gcc::GccMatcher::new(false), include_str!("fixtures/make-parallel.txt"));
        let bases: Vec<_> = found.iter().map(|d| (d.location.path.as_str(), d.location.base_dir.as_deref())).collect();
        assert_eq!(bases.first(), Some(&("main.c", Some("/tmp/scratch/cproj/app"))));
        assert_eq!(bases.last(), Some(&("util.h", Some("/tmp/scratch/cproj/lib"))));
    }

    #[test]
    fn make_backquote_quoting_is_understood_as_ninja_prints_it() {
        let mut dirs = DirectoryStack::new();
        assert!(NINJA.lines().any(|l| dirs.observe(l)));
        assert_eq!(dirs.current(), Some("build"), "relative to the exec's working directory");
        // Older GNU make quoted the same way; this line is the make 3.81 form of the real one above.
        let mut dirs = DirectoryStack::new();
        dirs.observe("make[1]: Entering directory `/tmp/scratch/cproj/lib'");
        assert_eq!(dirs.current(), Some("/tmp/scratch/cproj/lib"));
    }

    #[test]
    fn make_missing_separator_points_at_the_makefile_line() {
        let found = run(&mut MakeMatcher::default(), include_str!("fixtures/make-missing-separator.txt"));
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].location.path.as_str(), found[0].location.line), ("Makefile", 3));
        assert_eq!((found[0].severity, found[0].message.as_str()), (Severity::Error, "missing separator"));
    }

    #[test]
    fn make_recipe_failure_is_held_until_finish_with_the_recipes_last_words() {
        let mut make = MakeMatcher::default();
        let dirs = DirectoryStack::new();
        let mut immediate = Vec::new();
        for line in include_str!("fixtures/make-recipe-failed.txt").lines() {
            immediate.extend(make.line(line, &dirs));
        }
        let warnings: Vec<_> = immediate.iter().map(|d| (d.location.line, d.severity)).collect();
        assert_eq!(warnings, [(6, Severity::Warning), (3, Severity::Warning)]);
        let held = make.finish();
        assert_eq!(held.len(), 1);
        assert_eq!(held[0].location.line, 6);
        assert_eq!(
            held[0].message,
            "recipe for target 'copy' failed: Error 1\ncp: cannot stat 'missing2.txt': No such file or directory"
        );
    }

    #[test]
    fn make_recipe_failure_is_not_explained_by_the_previous_outputs_last_line() {
        // Found by fuzzing: the last line of one output was the reason given for a recipe failure
        // in the next one.
        let mut make = MakeMatcher::default();
        run(&mut make, "cp: cannot stat 'x': No such file or directory\n");
        let found = run(&mut make, "make: *** [Makefile:6: copy] Error 1\n");
        assert_eq!(found[0].message, "recipe for target 'copy' failed: Error 1");
    }

    #[test]
    fn make_recipe_failure_in_a_sub_make_is_relative_to_its_directory() {
        let found = run(&mut MakeMatcher::default(), SUBDIRS);
        let places: Vec<_> =
            found.iter().map(|d| (d.location.base_dir.as_deref(), d.location.path.as_str(), d.location.line)).collect();
        assert_eq!(
            places,
            [
                (Some("/tmp/scratch/cproj/lib"), "Makefile", 3),
                (None, "Makefile", 3),
                (Some("/tmp/scratch/cproj/app"), "Makefile", 3),
                (None, "Makefile", 5),
            ]
        );
    }
}
