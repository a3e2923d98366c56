//! The diagnostic a matcher is still reading, shared by every matcher whose diagnostics span lines.
//!
//! Most tools print a header line and then continuation lines (more message, notes, an echoed
//! source line with its caret), and only a later line says the diagnostic is over: the next header,
//! a blank line, anything unindented, or the end of the output. [`Accumulator`] holds the one being
//! read until then, so each matcher only decides which lines continue it and which end it.

use super::{append_line, Diagnostic};

/// What a matcher builds while it reads one diagnostic: a [`Diagnostic`] itself, or a matcher's own
/// richer state (what the next lines are expected to be, a location not yet seen).
pub(crate) trait Draft {
    /// The finished diagnostic; None when the output never gave enough to report one.
    fn into_diagnostic(self) -> Option<Diagnostic>;
}

impl Draft for Diagnostic {
    fn into_diagnostic(self) -> Option<Diagnostic> {
        Some(self)
    }
}

/// Holds at most one draft: [`Accumulator::hold`] it at its header, let the lines after it reach it
/// through [`Accumulator::draft_mut`], [`Accumulator::flush`] it when a line ends it.
pub(crate) struct Accumulator<D: Draft = Diagnostic> {
    draft: Option<D>,
}

impl<D: Draft> Default for Accumulator<D> {
    fn default() -> Self {
        Accumulator { draft: None }
    }
}

impl<D: Draft> Accumulator<D> {
    /// Starts reading the next diagnostic. The one before must have been flushed: a header ends it
    /// even when the header itself turns out unreadable.
    pub fn hold(&mut self, draft: D) {
        debug_assert!(self.draft.is_none(), "a held diagnostic would be lost");
        self.draft = Some(draft);
    }

    /// The diagnostic being read, for a line that continues it.
    pub fn draft_mut(&mut self) -> Option<&mut D> {
        self.draft.as_mut()
    }

    /// The diagnostic being read is complete: reports it (if it became one) and holds nothing.
    pub fn flush(&mut self, out: &mut Vec<Diagnostic>) {
        out.extend(self.draft.take().and_then(D::into_diagnostic));
    }

    /// End of output: what is still held is complete.
    pub fn finish(&mut self) -> Vec<Diagnostic> {
        let mut out = Vec::new();
        self.flush(&mut out);
        out
    }
}

impl Accumulator<Diagnostic> {
    /// Adds one more line of explanation to the diagnostic being read; without one, the line
    /// explains nothing and is dropped.
    pub fn append_message(&mut self, line: &str) {
        if let Some(diagnostic) = self.draft.as_mut() {
            append_line(&mut diagnostic.message, line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{ColumnUnit, DirectoryStack, Location, Severity};

    fn diagnostic(line: u32, message: &str) -> Diagnostic {
        Diagnostic {
            location: Location::new("a.c", &DirectoryStack::new(), line, None, ColumnUnit::Bytes),
            severity: Severity::Error,
            message: message.to_owned(),
            code: None,
            tool: "test",
            related: Vec::new(),
        }
    }

    #[test]
    fn nothing_is_reported_until_the_diagnostic_is_flushed() {
        let mut pending = Accumulator::default();
        let mut out = Vec::new();
        pending.hold(diagnostic(1, "first"));
        pending.append_message("more");
        assert_eq!(out, []);
        pending.flush(&mut out);
        assert_eq!(out, [diagnostic(1, "first\nmore")]);
        pending.flush(&mut out);
        assert_eq!(out.len(), 1, "a flushed diagnostic is reported once");
    }

    #[test]
    fn continuation_lines_join_the_message_and_are_dropped_when_nothing_is_held() {
        let mut pending = Accumulator::default();
        pending.append_message("stray");
        pending.hold(diagnostic(2, ""));
        pending.append_message("first line");
        pending.append_message("second line");
        assert_eq!(pending.finish(), [diagnostic(2, "first line\nsecond line")]);
    }

    #[test]
    fn notes_reach_the_held_diagnostic_through_draft_mut() {
        let mut pending = Accumulator::default();
        assert!(pending.draft_mut().is_none());
        pending.hold(diagnostic(3, "error"));
        let note = diagnostic(1, "declared here").location;
        pending.draft_mut().unwrap().related.push((note.clone(), "declared here".to_owned()));
        assert_eq!(pending.finish()[0].related, [(note, "declared here".to_owned())]);
    }

    #[test]
    fn finish_drains_so_the_next_output_starts_empty() {
        let mut pending = Accumulator::default();
        assert_eq!(pending.finish(), []);
        pending.hold(diagnostic(4, "last"));
        assert_eq!(pending.finish(), [diagnostic(4, "last")]);
        assert_eq!(pending.finish(), []);
        assert!(pending.draft_mut().is_none());
    }

    /// A draft still waiting for its location, as rustc's is before its `-->` line.
    struct Unplaced(Option<u32>);

    impl Draft for Unplaced {
        fn into_diagnostic(self) -> Option<Diagnostic> {
            self.0.map(|line| diagnostic(line, "placed"))
        }
    }

    #[test]
    fn a_draft_that_never_became_a_diagnostic_is_dropped() {
        let mut pending = Accumulator::default();
        let mut out = Vec::new();
        pending.hold(Unplaced(None));
        pending.flush(&mut out);
        assert_eq!(out, []);
        pending.hold(Unplaced(None));
        pending.draft_mut().unwrap().0 = Some(5);
        assert_eq!(pending.finish(), [diagnostic(5, "placed")]);
    }
}
