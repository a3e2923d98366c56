//! One error type for the whole core: what went wrong, and what the user can do about it.
//!
//! Every failure a user can cause must name its cause and its fix; front ends print both
//! (the CLI on stderr, the LSP server as a message), so the fix lives here, next to the cause.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No Docker engine answers.
    EngineUnavailable,
    /// The engine answered with an error.
    Engine,
    /// No Dockerfile / rebuilder.toml, or one we cannot use.
    Project,
    /// rebuilder.toml is invalid.
    Config,
    /// A compose file that cannot be read or used.
    Compose,
    /// The Dockerfile cannot be parsed or used.
    Dockerfile,
    /// The image takes no file from the build context, so a save has nothing to rebuild in it
    /// (a valid Dockerfile: a compose service often gets its code through a bind mount).
    NothingToRebuild,
    /// `docker build` of the image failed.
    ImageBuild,
    /// A file on the host could not be read.
    Io,
    /// The rebuild command ran past `timeout_secs`.
    Timeout,
    /// The user cancelled the build.
    Cancelled,
    /// docker-rebuilder itself failed (a bug: a task panicked).
    Internal,
    /// A stage's builder cannot take a change (the cause says why): the image's rebuilder
    /// runs a full build instead. Never reaches a front end.
    FullBuildNeeded,
}

#[derive(Debug, Clone)]
pub struct Error {
    pub kind: ErrorKind,
    /// What happened, in the user's terms.
    pub cause: String,
    /// What to do about it; empty when there is nothing sensible to suggest.
    pub fix: String,
    /// Where in a user's file the problem is (path, 1-based line), for editors.
    pub location: Option<(std::path::PathBuf, usize)>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, cause: impl Into<String>, fix: impl Into<String>) -> Error {
        Error { kind, cause: cause.into(), fix: fix.into(), location: None }
    }

    pub fn at(mut self, path: impl Into<std::path::PathBuf>, line: usize) -> Error {
        self.location = Some((path.into(), line));
        self
    }

    /// Cause and fix on one line, for a status bar, an editor message or a diagnostic.
    pub fn one_line(&self) -> String {
        if self.fix.is_empty() {
            self.cause.clone()
        } else {
            format!("{} — {}", self.cause, self.fix)
        }
    }

    pub fn io(what: impl fmt::Display, err: std::io::Error) -> Error {
        Error::new(ErrorKind::Io, format!("{what}: {err}"), "")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.cause)?;
        if !self.fix.is_empty() {
            write!(f, "\n  fix: {}", self.fix)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
