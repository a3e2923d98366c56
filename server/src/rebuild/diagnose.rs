//! From the build's output to problems at host files: the problem matchers parse container
//! paths, the sync rules map them back to the host, and each file's content turns the tool's
//! column into an editor's (UTF-16) one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::diagnostics::{file_position, utf16_column, ColumnUnit, Diagnostic, Location, Pipeline, Severity};
use crate::events::{FileDiagnostic, Position, Range};
use crate::project::plan::{clean_container_path, Plan, Step};

/// How much of the output a failure without any recognised problem shows: its last lines...
const TAIL_LINES: usize = 20;
/// ...after its first lines that read as errors, which tools often print before a long usage
/// or help text (npm's "`npm ci` can only install packages when…" comes before its usage).
const FIRST_ERROR_LINES: usize = 8;
/// Output is streamed, never kept: memory stays bounded whatever a build prints. A line is
/// parsed up to this many bytes (the rest of it is skipped)...
const MAX_LINE: usize = 64 * 1024;
/// ...and past this many problems in one cycle the output is no longer parsed (nobody reads
/// the thousand-and-first, and each one costs the editor).
const MAX_PROBLEMS: usize = 1000;

pub(super) struct Diagnoser<'a> {
    plan: &'a Plan,
    pipeline: Pipeline,
    found: Vec<FileDiagnostic>,
    tail: Vec<String>,
    /// The first lines that read as errors (see FIRST_ERROR_LINES).
    first_errors: Vec<String>,
    partial: String,
    /// Bytes of the current line fed to the pipeline so far.
    line_len: usize,
    lines_cache: HashMap<PathBuf, Vec<String>>,
    workdir: String,
    /// Where problems outside the project land: the running step's source line.
    step_location: (PathBuf, u32),
}

impl<'a> Diagnoser<'a> {
    pub fn new(plan: &'a Plan) -> Diagnoser<'a> {
        let commands: Vec<String> = plan.steps.iter().map(|s| s.display.clone()).collect();
        Diagnoser {
            plan,
            pipeline: Pipeline::new(&commands, plan.matchers.clone()),
            found: Vec::new(),
            tail: Vec::new(),
            first_errors: Vec::new(),
            partial: String::new(),
            line_len: 0,
            lines_cache: HashMap::new(),
            workdir: "/".to_string(),
            step_location: (plan.dockerfile.clone(), 0),
        }
    }

    pub fn start_step(&mut self, step: &Step) {
        self.first_errors.clear();
        self.workdir = step.workdir.clone();
        self.step_location = self.step_source(step);
    }

    /// Paths the output names relative to nothing are relative to `workdir` (a container's
    /// working directory, where no step ran).
    pub fn in_dir(&mut self, workdir: &str) {
        self.workdir = workdir.to_string();
    }

    /// The step's Dockerfile line, or the config's `rebuild` line (0-based).
    fn step_source(&self, step: &Step) -> (PathBuf, u32) {
        if step.line > 0 {
            return (self.plan.dockerfile.clone(), step.line as u32 - 1);
        }
        let config = self.plan.project_dir.join(crate::project::config::CONFIG_FILE);
        let line = std::fs::read_to_string(&config)
            .ok()
            .and_then(|t| t.lines().position(|l| l.trim_start().starts_with("rebuild")))
            .unwrap_or(0);
        (config, line as u32)
    }

    /// Feeds output; returns true when new problems were found.
    pub fn feed(&mut self, bytes: &[u8]) -> bool {
        self.remember_tail(bytes);
        if self.found.len() >= MAX_PROBLEMS {
            return false;
        }
        let found = self.feed_clipped(bytes);
        self.add(found)
    }

    /// Feeds the pipeline with every line cut at MAX_LINE bytes.
    fn feed_clipped(&mut self, bytes: &[u8]) -> Vec<Diagnostic> {
        let mut found = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            let (body, newline) = match rest.iter().position(|b| *b == b'\n') {
                Some(i) => (&rest[..i], true),
                None => (rest, false),
            };
            let room = MAX_LINE.saturating_sub(self.line_len);
            found.extend(self.pipeline.feed(&body[..body.len().min(room)]));
            self.line_len += body.len().min(room);
            if newline {
                found.extend(self.pipeline.feed(b"\n"));
                self.line_len = 0;
                rest = &rest[body.len() + 1..];
            } else {
                rest = &[];
            }
        }
        found
    }

    /// End of a step's output; returns true when new problems were found.
    pub fn finish_step(&mut self) -> bool {
        self.line_len = 0;
        let found = self.pipeline.finish();
        self.add(found)
    }

    pub fn diagnostics(&self) -> &[FileDiagnostic] {
        &self.found
    }

    /// A failed step with no recognised problem still tells the user where and why: one
    /// error on the step's Dockerfile line (or the config's `rebuild`) with the output's tail.
    pub fn fallback_for_failure(&mut self, step: &Step, exit_code: i64) {
        if self.found.iter().any(|d| d.severity == Severity::Error) {
            return;
        }
        let (path, line) = self.step_source(step);
        let tail = self.tail.join("\n");
        // The first error lines the tail does not hold, then the tail.
        let first: Vec<&String> = self.first_errors.iter().filter(|l| !self.tail.contains(l)).collect();
        let first = match first.as_slice() {
            [] => String::new(),
            lines => format!("{}\n…\n", lines.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("\n")),
        };
        let message = format!("`{}` failed with exit code {exit_code}:\n{first}{tail}", step.display);
        let text = self.line_text(&path, line).unwrap_or_default();
        let range =
            Range { start: Position::in_line(line, &text, 0), end: Position::in_line(line, &text, utf16_len(&text)) };
        self.found.push(FileDiagnostic {
            path,
            range,
            severity: Severity::Error,
            message,
            code: None,
            tool: "build",
            related: Vec::new(),
        });
    }

    fn remember_tail(&mut self, bytes: &[u8]) {
        self.partial.push_str(&String::from_utf8_lossy(bytes));
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            let line = line.trim_end().to_string();
            if self.first_errors.len() < FIRST_ERROR_LINES && reads_as_error(&line) {
                self.first_errors.push(line.clone());
            }
            self.tail.push(line);
            if self.tail.len() > TAIL_LINES {
                self.tail.remove(0);
            }
        }
        if self.partial.len() > MAX_LINE {
            let cut = (0..=MAX_LINE).rev().find(|i| self.partial.is_char_boundary(*i)).unwrap_or(0);
            self.partial.truncate(cut);
        }
    }

    fn add(&mut self, found: Vec<Diagnostic>) -> bool {
        let before = self.found.len();
        for d in found {
            if self.found.len() >= MAX_PROBLEMS {
                break;
            }
            if let Some(fd) = self.at_host(&d) {
                if !self.found.contains(&fd) {
                    self.found.push(fd);
                }
            }
        }
        self.found.len() > before
    }

    fn at_host(&mut self, d: &Diagnostic) -> Option<FileDiagnostic> {
        let related: Vec<(PathBuf, Range, String)> =
            d.related.iter().filter_map(|(loc, msg)| self.resolve(loc).map(|(p, r)| (p, r, msg.clone()))).collect();
        let (path, range, related) = match self.resolve(&d.location) {
            Some((path, range)) => (path, range, related),
            // Outside the project (a system header): attach to the project file that led
            // there, or to the step that ran.
            None => match related.first().cloned() {
                Some((path, range, _)) => (path, range, related.into_iter().skip(1).collect()),
                None => return None,
            },
        };
        let mut message = d.message.clone();
        if self.resolve(&d.location).is_none() {
            message = format!("{message}\n(in {}:{})", d.location.path, d.location.line);
        }
        Some(FileDiagnostic { path, range, severity: d.severity, message, code: d.code.clone(), tool: d.tool, related })
    }

    /// Container location → host file and editor range.
    fn resolve(&mut self, loc: &Location) -> Option<(PathBuf, Range)> {
        let container = if loc.path.starts_with('/') {
            loc.path.clone()
        } else {
            let base = loc.base_dir.as_deref().unwrap_or(&self.workdir);
            let base = if base.starts_with('/') { base.to_string() } else { format!("{}/{base}", self.workdir) };
            format!("{}/{}", base.trim_end_matches('/'), loc.path)
        };
        let host = self.plan.host_path_through_copies(&clean_container_path(&container))?;
        if !host.is_file() {
            return None;
        }
        // A position from the file's start (JSON.parse's): its line, in UTF-16 on it.
        let at_offset;
        let loc = match (loc.unit, loc.column) {
            (ColumnUnit::FileOffsetUtf16, Some(offset)) => {
                let text = std::fs::read_to_string(&host).unwrap_or_default();
                let (line, column) = file_position(&text, offset);
                at_offset =
                    Location { line: line + 1, column: Some(column + 1), unit: ColumnUnit::Utf16, ..loc.clone() };
                &at_offset
            }
            _ => loc,
        };
        let line = loc.line.saturating_sub(1);
        let text = self.line_text(&host, line).unwrap_or_default();
        let start = loc.column.map_or(0, |c| utf16_column(&text, c, loc.unit));
        let end_line = loc.end_line.map_or(line, |l| l.saturating_sub(1));
        let end_text =
            if end_line == line { text.clone() } else { self.line_text(&host, end_line).unwrap_or_default() };
        let end = match loc.end_column {
            Some(c) => utf16_column(&end_text, c, loc.unit),
            // No range from the tool: the token at the column, else the whole line.
            None if loc.column.is_some() => token_end(&text, start),
            None => utf16_len(&text),
        };
        let range =
            Range { start: Position::in_line(line, &text, start), end: Position::in_line(end_line, &end_text, end) };
        Some((host, range))
    }

    fn line_text(&mut self, path: &Path, line: u32) -> Option<String> {
        let lines = self.lines_cache.entry(path.to_path_buf()).or_insert_with(|| {
            std::fs::read_to_string(path).map(|t| t.lines().map(str::to_string).collect()).unwrap_or_default()
        });
        lines.get(line as usize).cloned()
    }
}

fn utf16_len(s: &str) -> u32 {
    s.encode_utf16().count() as u32
}

/// The end (UTF-16) of the word starting at `start`, or one past it.
fn token_end(text: &str, start: u32) -> u32 {
    let mut col = 0u32;
    let mut end = None;
    for c in text.chars() {
        if col >= start {
            if c.is_alphanumeric() || c == '_' {
                end = Some(col + c.len_utf16() as u32);
            } else {
                break;
            }
        }
        col += c.len_utf16() as u32;
    }
    end.unwrap_or(start + 1).min(utf16_len(text).max(start + 1))
}

/// Whether an output line reports an error (npm's `npm ERR! …`, `error: …`, `fatal: …`), with
/// something said after its marker (npm frames its messages with bare `npm ERR!` lines).
fn reads_as_error(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    let said =
        ["npm err!", "npm error"].iter().find_map(|marker| lower.trim_start().strip_prefix(marker)).unwrap_or(&lower);
    if !said.chars().any(char::is_alphanumeric) {
        return false;
    }
    ERROR_WORDS.is_match(&lower)
}

/// Words of an error report; whole words, so `-Werror` and "0 errors" are not one.
static ERROR_WORDS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"err!|\b(error|fatal|failed|cannot|can't|could not|invalid|not found|no such)\b")
        .expect("a valid pattern")
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_range_covers_the_identifier() {
        assert_eq!(token_end("    printff(x);", 4), 11);
        assert_eq!(token_end("  é_x = 1", 2), 5);
        assert_eq!(token_end("a + b", 2), 3);
    }

    fn plan(dir: &Path) -> Plan {
        std::fs::write(dir.join("Dockerfile"), "FROM busybox\nWORKDIR /app\nCOPY . .\nRUN make\n").expect("write");
        std::fs::write(dir.join("main.c"), "int main(void) {}\n").expect("write");
        Plan::infer(dir, &crate::project::config::Config::default()).expect("plan")
    }

    #[test]
    fn a_failure_with_no_known_problem_shows_its_first_error_lines_before_a_long_usage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = plan(dir.path());
        let mut d = Diagnoser::new(&plan);
        d.start_step(&plan.steps[0]);
        d.feed(b"cc -Werror -c main.c\nFound 0 errors\nnpm ERR! code EUSAGE\nnpm ERR!\n");
        d.feed(
            b"npm ERR! `npm ci` can only install packages when your package.json and package-lock.json are in sync\n",
        );
        d.feed(b"npm ERR! Invalid: lock file's ms@2.0.0 does not satisfy ms@2.1.3\n");
        for i in 0..30 {
            d.feed(format!("npm ERR! usage line {i}\n").as_bytes());
        }
        d.finish_step();
        d.fallback_for_failure(&plan.steps[0], 1);
        let message = &d.diagnostics()[0].message;
        assert!(message.contains("code EUSAGE\nnpm ERR! `npm ci` can only install"), "{message}");
        assert!(message.contains("does not satisfy ms@2.1.3"), "{message}");
        assert!(message.contains("usage line 29") && !message.contains("usage line 9\n"), "{message}");
        assert!(!message.contains("-Werror") && !message.contains("0 errors"), "{message}");
    }

    /// A compose project's proxy: its config copied over the image's default one. nginx's
    /// refusal lands on the host file, at its line.
    #[test]
    fn an_nginx_config_problem_lands_on_the_host_file_it_was_copied_from() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("Dockerfile"), "FROM nginx\nCOPY nginx.conf /etc/nginx/conf.d/default.conf\n")
            .expect("write");
        std::fs::write(dir.path().join("nginx.conf"), "server {\n  listen 80;\n  location / {\n    add_headr X 1;\n")
            .expect("write");
        let plan = Plan::infer(dir.path(), &crate::project::config::Config::default()).expect("plan");
        let mut d = Diagnoser::new(&plan);
        d.feed(
            b"2026/12/05 12:05:09 [emerg] 1#1: unknown directive \"add_headr\" in /etc/nginx/conf.d/default.conf:4\n",
        );
        d.feed(b"nginx: [emerg] unknown directive \"add_headr\" in /etc/nginx/conf.d/default.conf:4\n");
        d.finish_step();
        let found: Vec<(PathBuf, u32, &str)> =
            d.diagnostics().iter().map(|f| (f.path.clone(), f.range.start.line, f.message.as_str())).collect();
        let host = dir.path().join("nginx.conf");
        assert_eq!(found, [(host, 3, "unknown directive \"add_headr\"")], "once, at line 4 of the host file");
    }

    /// npm names only a position from package.json's start (UTF-16 units; 😀 counts two), and
    /// npm 11 not even the file: the line and column of the host's package.json, that of npm's
    /// working directory when unnamed.
    #[test]
    fn a_position_from_the_file_s_start_lands_at_its_line_and_column() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM node\nWORKDIR /app\nCOPY package.json ./\nRUN npm ci\nCOPY . .\n",
        )
        .expect("write");
        std::fs::write(
            dir.path().join("package.json"),
            "{\n  \"name\": \"x\",\n  \"description\": \"café 😀\",\n  \"version\": \"1.0.0\",\n  \"main\": index.js\n}\n",
        )
        .expect("write");
        let plan = Plan::infer(dir.path(), &crate::project::config::Config::default()).expect("plan");
        for (npm, output) in [
            (9, "npm ERR! code EJSONPARSE\nnpm ERR! path /app/package.json\nnpm ERR! JSON.parse Unexpected token \"i\" (0x69) in JSON at position 77 while parsing near\n"),
            (11, "npm error code EJSONPARSE\nnpm error JSON.parse Invalid package.json: JSONParseError: Unexpected token \"i\" (0x69) in JSON at position 77 while parsing near\n"),
        ] {
            let mut d = Diagnoser::new(&plan);
            d.start_step(&plan.steps[0]);
            d.feed(output.as_bytes());
            d.finish_step();
            let found: Vec<(PathBuf, u32, u32)> =
                d.diagnostics().iter().map(|f| (f.path.clone(), f.range.start.line, f.range.start.utf16)).collect();
            assert_eq!(found, [(dir.path().join("package.json"), 4, 10)], "npm {npm}");
        }
    }

    #[test]
    fn problems_stop_being_collected_at_the_cap() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = plan(dir.path());
        let mut d = Diagnoser::new(&plan);
        d.start_step(&plan.steps[0]);
        for i in 0..5000 {
            d.feed(format!("main.c:1:5: error: problem {i}\n").as_bytes());
        }
        d.finish_step();
        assert_eq!(d.diagnostics().len(), MAX_PROBLEMS);
    }

    #[test]
    fn a_huge_line_is_cut_and_the_next_line_still_parsed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let plan = plan(dir.path());
        let mut d = Diagnoser::new(&plan);
        d.start_step(&plan.steps[0]);
        let chunk = vec![b'x'; 1024 * 1024];
        for _ in 0..20 {
            d.feed(&chunk);
        }
        assert!(d.partial.len() <= MAX_LINE, "the tail's line is bounded");
        d.feed(b"\nmain.c:1:5: error: after the flood\n");
        d.finish_step();
        assert_eq!(d.diagnostics().len(), 1, "{:?}", d.diagnostics());
        assert!(d.diagnostics()[0].message.contains("after the flood"));
    }
}
