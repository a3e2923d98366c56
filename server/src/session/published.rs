//! Which diagnostics each file shows, so a front end is told only about files whose
//! diagnostics changed: the build's problems (as found while it runs, then the cycle's final
//! word) and the tool's own errors at a config or Dockerfile line.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::events::{FileDiagnostic, Position, Range, Severity};
use crate::rebuild::{CycleReport, Outcome};

/// The tool name on diagnostics about docker-rebuilder's own input (config, Dockerfile).
pub const TOOL_ERROR: &str = "docker-rebuilder";

/// The tool's own error as a diagnostic over its whole line; None when it has no location.
pub fn error_diagnostic(error: &Error) -> Option<FileDiagnostic> {
    let (path, line) = error.location.as_ref()?;
    let line = line.saturating_sub(1) as u32;
    let content = std::fs::read_to_string(path).ok();
    let line_text = content.as_deref().and_then(|t| t.lines().nth(line as usize)).unwrap_or_default();
    let width = line_text.encode_utf16().count() as u32;
    // Shown at that line of that file: the message need not begin by naming them.
    let message = error.one_line();
    let message = message.strip_prefix(&format!("{}:{}: ", path.display(), line + 1)).unwrap_or(&message).to_string();
    Some(FileDiagnostic {
        path: path.clone(),
        range: Range { start: Position::in_line(line, line_text, 0), end: Position::in_line(line, line_text, width) },
        severity: Severity::Error,
        message,
        code: None,
        tool: TOOL_ERROR,
        related: Vec::new(),
    })
}

/// A change to send: the file and everything it shows now.
pub type Change = (PathBuf, Vec<FileDiagnostic>);

#[derive(Default)]
pub struct Published {
    /// The build's problems shown per file.
    build: HashMap<PathBuf, Vec<FileDiagnostic>>,
    /// The tool's own error shown per file.
    tool: HashMap<PathBuf, FileDiagnostic>,
    /// What the service's new container printed as it died, per file: true of the image until
    /// a cycle makes a new one.
    run: HashMap<PathBuf, Vec<FileDiagnostic>>,
}

impl Published {
    /// Errors and warnings of the build shown now.
    pub fn counts(&self) -> (usize, usize) {
        self.build.values().chain(self.run.values()).flatten().fold((0, 0), |(e, w), d| match d.severity {
            Severity::Error => (e + 1, w),
            Severity::Warning => (e, w + 1),
            _ => (e, w),
        })
    }

    /// Every problem found so far in the running cycle: files whose found set differs from
    /// what they show now show it (others wait for the cycle's end).
    pub fn found(&mut self, found: &[FileDiagnostic]) -> Vec<Change> {
        let by_file = group(found);
        let mut changes = Vec::new();
        for (path, diagnostics) in by_file {
            if self.build.get(&path) != Some(&diagnostics) {
                self.build.insert(path.clone(), diagnostics);
                changes.push(self.shown(&path));
            }
        }
        changes
    }

    /// The cycle's final word. After a failed build, a file that the build did not report
    /// again and that did not change keeps its problems: `make -j` may have stopped before
    /// compiling it, so it is not known fixed (the step's own failure line is dropped: the
    /// new failure has one of its own). So does one after a clean build that left steps out
    /// (their inputs did not change), whose warnings still stand.
    pub fn cycle_ended(&mut self, found: &[FileDiagnostic], report: &CycleReport) -> Vec<Change> {
        let keep_stale = match report.outcome {
            Outcome::UpToDate | Outcome::Cancelled { .. } => return Vec::new(),
            Outcome::BuildFailed { .. } | Outcome::TimedOut { .. } => true,
            // A step not run (its inputs did not change) still stands by what it said.
            Outcome::Succeeded { .. } => report.steps_skipped > 0,
            Outcome::ImageBuilt { .. } => false,
        };
        // A new image: what the old one's container printed as it died no longer stands.
        let mut changes =
            if matches!(report.outcome, Outcome::ImageBuilt { .. } | Outcome::Succeeded { committed: true }) {
                self.service_exited(&[])
            } else {
                Vec::new()
            };
        let mut next = group(found);
        for (path, old) in &self.build {
            if next.contains_key(path) {
                continue;
            }
            let stale: Vec<FileDiagnostic> = if keep_stale && !report.synced.contains(path) {
                old.iter().filter(|d| d.tool != "build").cloned().collect()
            } else {
                Vec::new()
            };
            next.insert(path.clone(), stale);
        }
        for (path, diagnostics) in next {
            if self.build.get(&path).map_or(!diagnostics.is_empty(), |old| *old != diagnostics) {
                self.build.insert(path.clone(), diagnostics);
                changes.retain(|(p, _)| *p != path);
                changes.push(self.shown(&path));
            }
        }
        self.build.retain(|_, d| !d.is_empty());
        changes
    }

    /// The problems a service's new container printed as it died (empty: none stand now).
    pub fn service_exited(&mut self, found: &[FileDiagnostic]) -> Vec<Change> {
        let next = group(found);
        let paths: std::collections::BTreeSet<PathBuf> = self.run.keys().chain(next.keys()).cloned().collect();
        let before = std::mem::replace(&mut self.run, next.into_iter().collect());
        paths.into_iter().filter(|p| before.get(p) != self.run.get(p)).map(|p| self.shown(&p)).collect()
    }

    /// The tool's own error, at its file and line when it has one.
    pub fn tool_error(&mut self, error: &Error) -> Vec<Change> {
        let Some(diagnostic) = error_diagnostic(error) else { return Vec::new() };
        let path = diagnostic.path.clone();
        if self.tool.get(&path) == Some(&diagnostic) {
            return Vec::new();
        }
        self.tool.insert(path.clone(), diagnostic);
        vec![self.shown(&path)]
    }

    /// The project loads again: its tool errors are gone, except at `keep` (still failing).
    pub fn clear_tool_errors(&mut self, keep: Option<&Path>) -> Vec<Change> {
        let gone: Vec<PathBuf> = self.tool.keys().filter(|p| Some(p.as_path()) != keep).cloned().collect();
        gone.into_iter()
            .map(|path| {
                self.tool.remove(&path);
                self.shown(&path)
            })
            .collect()
    }

    fn shown(&self, path: &Path) -> Change {
        let mut all: Vec<FileDiagnostic> = self.tool.get(path).cloned().into_iter().collect();
        all.extend(self.build.get(path).into_iter().flatten().cloned());
        all.extend(self.run.get(path).into_iter().flatten().cloned());
        (path.to_path_buf(), all)
    }
}

/// Per file, in the order found (a BTreeMap: changes go out in a stable order).
fn group(found: &[FileDiagnostic]) -> BTreeMap<PathBuf, Vec<FileDiagnostic>> {
    let mut by_file: BTreeMap<PathBuf, Vec<FileDiagnostic>> = BTreeMap::new();
    for d in found {
        by_file.entry(d.path.clone()).or_default().push(d.clone());
    }
    by_file
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn problem(path: &str, line: u32, tool: &'static str) -> FileDiagnostic {
        let at = Position { line, utf16: 0, char: 0 };
        FileDiagnostic {
            path: PathBuf::from(path),
            range: Range { start: at, end: at },
            severity: Severity::Error,
            message: format!("problem at {line}"),
            code: None,
            tool,
            related: Vec::new(),
        }
    }

    fn report(outcome: Outcome, synced: &[&str]) -> CycleReport {
        CycleReport {
            outcome,
            uploaded: 0,
            deleted: 0,
            synced: synced.iter().map(PathBuf::from).collect(),
            files_only: None,
            steps_skipped: 0,
            timings: Vec::new(),
            stages: Vec::new(),
            image: "app".to_string(),
            image_id: None,
            total: Duration::ZERO,
            files_read: 0,
            stage: None,
            service_update: None,
            service_started: Vec::new(),
            service_kept: Vec::new(),
            push: None,
        }
    }

    fn paths(changes: &[Change]) -> Vec<(&str, usize)> {
        changes.iter().map(|(p, d)| (p.to_str().unwrap_or_default(), d.len())).collect()
    }

    const FAILED: Outcome = Outcome::BuildFailed { exit_code: 2, step: String::new() };

    #[test]
    fn only_files_whose_diagnostics_changed_are_sent() {
        let mut shown = Published::default();
        let (a, b) = (problem("/p/a.c", 1, "gcc"), problem("/p/b.c", 2, "gcc"));
        assert_eq!(paths(&shown.found(std::slice::from_ref(&a))), [("/p/a.c", 1)]);
        // Found again with another file: only the new file.
        assert_eq!(paths(&shown.found(&[a.clone(), b.clone()])), [("/p/b.c", 1)]);
        // The same problems at the end: nothing to send.
        assert!(shown.cycle_ended(&[a.clone(), b.clone()], &report(FAILED, &["/p/a.c"])).is_empty());
        assert_eq!(shown.counts(), (2, 0));
        // A clean build clears both, once.
        assert_eq!(paths(&shown.cycle_ended(&[], &report(Outcome::UpToDate, &[]))), []);
        let cleared = shown.cycle_ended(&[], &report(Outcome::Succeeded { committed: true }, &[]));
        assert_eq!(paths(&cleared), [("/p/a.c", 0), ("/p/b.c", 0)]);
        assert!(shown.cycle_ended(&[], &report(Outcome::Succeeded { committed: true }, &[])).is_empty());
    }

    #[test]
    fn a_clean_build_that_left_steps_out_keeps_their_warnings() {
        let mut shown = Published::default();
        let warning = problem("/p/src/a.c", 3, "gcc");
        shown.cycle_ended(std::slice::from_ref(&warning), &report(Outcome::Succeeded { committed: true }, &[]));
        // Only a file copied after `make` changed: make did not run, its warning stands.
        let mut skipped = report(Outcome::Succeeded { committed: true }, &["/p/static/index.html"]);
        skipped.steps_skipped = 1;
        assert!(shown.cycle_ended(&[], &skipped).is_empty());
        assert_eq!(shown.counts(), (1, 0));
        // make ran again and said nothing: gone.
        let cleared = shown.cycle_ended(&[], &report(Outcome::Succeeded { committed: true }, &["/p/src/a.c"]));
        assert_eq!(paths(&cleared), [("/p/src/a.c", 0)]);
    }

    #[test]
    fn what_a_dead_container_printed_stands_until_a_new_image() {
        let mut shown = Published::default();
        let warning = problem("/p/app.py", 2, "mypy");
        shown.cycle_ended(std::slice::from_ref(&warning), &report(Outcome::Succeeded { committed: true }, &[]));
        // The new container died of a syntax error in app.py: shown beside the build's own.
        let crash = problem("/p/app.py", 6, "python");
        assert_eq!(paths(&shown.service_exited(std::slice::from_ref(&crash))), [("/p/app.py", 2)]);
        assert_eq!(shown.counts(), (2, 0));
        // A failed build or nothing new leaves the dead container's word standing.
        assert!(shown.cycle_ended(std::slice::from_ref(&warning), &report(FAILED, &[])).is_empty());
        assert!(shown.cycle_ended(&[], &report(Outcome::UpToDate, &[])).is_empty());
        // A new image (the fix): gone, in one change per file.
        let changes =
            shown.cycle_ended(std::slice::from_ref(&warning), &report(Outcome::Succeeded { committed: true }, &[]));
        assert_eq!(paths(&changes), [("/p/app.py", 1)]);
        assert_eq!(shown.counts(), (1, 0));
    }

    #[test]
    fn a_failed_build_keeps_problems_of_files_it_did_not_compile_again() {
        let mut shown = Published::default();
        let (a, b) = (problem("/p/a.c", 1, "gcc"), problem("/p/b.c", 2, "gcc"));
        shown.cycle_ended(&[a.clone(), b.clone()], &report(FAILED, &[]));
        // a.c was edited and compiles now; b.c was not reached: it keeps its problem.
        let step = problem("/p/Dockerfile", 4, "build");
        let changes = shown.cycle_ended(std::slice::from_ref(&step), &report(FAILED, &["/p/a.c"]));
        assert_eq!(paths(&changes), [("/p/Dockerfile", 1), ("/p/a.c", 0)]);
        // The next failure drops the old step line (it has its own), keeps b.c's.
        let changes = shown.cycle_ended(&[], &report(FAILED, &[]));
        assert_eq!(paths(&changes), [("/p/Dockerfile", 0)]);
        assert_eq!(shown.counts(), (1, 0));
    }

    #[test]
    fn tool_errors_show_beside_build_problems_and_clear_when_the_project_loads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = dir.path().join("rebuilder.toml");
        std::fs::write(&config, "commit = true\ntimeout = 5\n").expect("write");
        let mut shown = Published::default();
        let error = Error::new(crate::error::ErrorKind::Config, "unknown key `timeout`", "did you mean timeout_secs?")
            .at(&config, 2);
        let changes = shown.tool_error(&error);
        assert_eq!(changes.len(), 1);
        let d = &changes[0].1[0];
        assert_eq!((d.range.start.line, d.range.end.utf16), (1, "timeout = 5".len() as u32));
        assert!(shown.tool_error(&error).is_empty(), "the same error again: nothing to send");
        assert!(shown.clear_tool_errors(Some(&config)).is_empty(), "still failing there");
        assert_eq!(shown.clear_tool_errors(None), vec![(config, Vec::new())]);
    }

    #[test]
    fn a_tool_error_at_a_file_does_not_repeat_where_it_is() {
        let dir = tempfile::tempdir().expect("tempdir");
        let compose = dir.path().join("compose.yaml");
        std::fs::write(&compose, "services:\n  api:\n   ports: [x]\n").expect("write");
        let cause = format!("{}:3: invalid YAML (column 4): did not find expected key", compose.display());
        let error = Error::new(crate::error::ErrorKind::Compose, cause, "correct the YAML").at(&compose, 3);
        let d = error_diagnostic(&error).expect("at a file");
        assert_eq!(d.message, "invalid YAML (column 4): did not find expected key — correct the YAML");
        // Another file's line in the cause is kept.
        let error = Error::new(crate::error::ErrorKind::Compose, "base.yaml:3: x", "fix").at(&compose, 3);
        assert_eq!(error_diagnostic(&error).expect("at a file").message, "base.yaml:3: x — fix");
    }
}
