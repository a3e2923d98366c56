//! What the core tells its front ends while it works. The CLI prints these; the LSP server
//! turns them into progress, log messages and diagnostics. Neither holds build logic.

use std::path::PathBuf;
use std::time::Duration;

pub use crate::diagnostics::Severity;
pub use crate::engine::OutputStream;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// A full `docker build` of the image.
    ImageBuild,
    /// Creating the builder container.
    Builder,
    /// Comparing host sources with the builder's manifest.
    Detect,
    /// Sending changes into the builder.
    Sync,
    /// The rebuild command.
    Exec,
    Commit,
    /// Removing images a commit superseded.
    Prune,
    /// Making the image's stage again from a builder's new files (multi-stage).
    Replay,
    /// Recreating a compose service's running containers on the new image.
    Service,
    /// Pushing the image to the registry rebuilder.toml's `push` names.
    Push,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::ImageBuild => "image-build",
            Phase::Builder => "builder",
            Phase::Detect => "detect",
            Phase::Sync => "sync",
            Phase::Exec => "exec",
            Phase::Commit => "commit",
            Phase::Prune => "prune",
            Phase::Replay => "replay",
            Phase::Service => "service",
            Phase::Push => "push",
        }
    }
}

/// The finer split of a cycle's time, for its timings line and the benchmarks: the detect,
/// commit and prune phases are one stage each; sync splits into archive and upload, the
/// rebuild command into starting its exec and the build proper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    /// Hashing host sources against the builder's manifest.
    Detect,
    /// Packing changed files (reading them) into one tar.
    Archive,
    /// Getting the archive (and deletions) into the builder, until extracted.
    Upload,
    /// Creating and starting the rebuild command's exec, until attached.
    ExecStart,
    /// The rebuild command itself, from attach to exit.
    Build,
    Commit,
    Prune,
    /// Deciding whether to move to a fresh builder (and doing so, rarely).
    Rebase,
    /// Replaying the image's stage: a container of its base, the copies (and RUNs) put in.
    Replay,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::Detect => "detect",
            Stage::Archive => "archive",
            Stage::Upload => "upload",
            Stage::ExecStart => "exec_start",
            Stage::Build => "build",
            Stage::Commit => "commit",
            Stage::Prune => "prune",
            Stage::Rebase => "rebase",
            Stage::Replay => "replay",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    PhaseStarted {
        phase: Phase,
        detail: String,
    },
    PhaseFinished {
        phase: Phase,
        elapsed: Duration,
    },
    /// A line of `docker build` progress (the classic builder's, or a BuildKit step's output).
    ImageBuildLine(String),
    /// A BuildKit step of a full build: its name as BuildKit gives it (`[build 3/5] RUN make`).
    ImageBuildStep {
        name: String,
        state: BuildStepState,
    },
    /// Output of the rebuild command, as it comes.
    Output {
        stream: OutputStream,
        text: String,
    },
    /// Something the user should know (why a full build runs, that nothing changed...).
    Note(String),
    /// Something the user should act on, though the cycle goes on (a link refused...).
    Warning(String),
    /// Every problem found in this cycle's build output so far, at host files.
    Diagnostics(Vec<FileDiagnostic>),
}

/// Where a full build's step is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildStepState {
    Started,
    Cached,
    Done(Duration),
    Failed(String),
}

/// A BuildKit step as one line of progress, as `docker build --progress=plain` says it.
pub fn step_line(name: &str, state: &BuildStepState) -> String {
    match state {
        BuildStepState::Started => name.to_string(),
        BuildStepState::Cached => format!("{name}  CACHED"),
        BuildStepState::Done(took) => format!("{name}  DONE {:.1}s", took.as_secs_f64()),
        BuildStepState::Failed(error) => format!("{name}  ERROR: {error}"),
    }
}

/// A problem at a host file, with positions in the units every front end needs (converted
/// from the tool's own unit with the file's content, so no front end reads the file again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiagnostic {
    pub path: PathBuf,
    pub range: Range,
    pub severity: Severity,
    pub message: String,
    pub code: Option<String>,
    /// The tool that reported it (`gcc`, `rustc`...).
    pub tool: &'static str,
    pub related: Vec<(PathBuf, Range, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Range {
    pub start: Position,
    pub end: Position,
}

/// A place in a file's text, 0-based: the line, and the column counted in UTF-16 code units
/// (what LSP counts) and in characters (what a terminal's `path:line:col` means, 1 added).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Position {
    pub line: u32,
    pub utf16: u32,
    pub char: u32,
}

impl Position {
    /// Line `line` at UTF-16 column `utf16` of `text` (that line's content).
    pub fn in_line(line: u32, text: &str, utf16: u32) -> Position {
        let mut units = 0;
        let mut chars = 0;
        for c in text.chars() {
            if units >= utf16 {
                break;
            }
            units += c.len_utf16() as u32;
            chars += 1;
        }
        // Past the end (a tool pointing after the line): count the rest as one unit each.
        Position { line, utf16, char: chars + utf16.saturating_sub(units) }
    }
}

/// Receives events; front ends implement it.
pub trait Reporter: Send {
    fn report(&mut self, event: Event);
}

impl<F: FnMut(Event) + Send> Reporter for F {
    fn report(&mut self, event: Event) {
        self(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_position_counts_characters_where_utf16_counts_surrogate_pairs() {
        let text = "\tlet é = \"😀\"; x";
        // The x after the emoji: the emoji is 2 UTF-16 units but one character.
        let utf16 = text.encode_utf16().count() as u32 - 1;
        let p = Position::in_line(3, text, utf16);
        assert_eq!((p.line, p.utf16, p.char), (3, utf16, text.chars().count() as u32 - 1));
        assert_eq!(Position::in_line(0, "ab", 0).char, 0);
        assert_eq!(Position::in_line(0, "ab", 5).char, 5, "past the end, one per unit");
    }
}
