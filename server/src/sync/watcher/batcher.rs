//! When the watcher's events go out as a batch: once the file system has gone quiet, or a while
//! after the first event, and not while git holds its index lock (a checkout is one change).
//! Runs on a thread of its own that blocks on the event channel, so an idle watcher costs nothing.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;

use super::{lock, Batch, State};

/// A batch goes out once no relevant event has arrived for this long...
pub(super) const QUIET: Duration = Duration::from_millis(100);
/// ...or this long after its first event, so a steady trickle cannot starve the consumer...
pub(super) const MAX_WAIT: Duration = Duration::from_secs(2);
/// ...unless git holds its index lock: a checkout's rewrite is one change, up to this long.
const GIT_MAX_WAIT: Duration = Duration::from_secs(10);

/// Turns the event stream into batches, on its own thread.
pub(super) struct Batcher {
    /// Weak, so dropping the `Watcher` drops the inotify watcher, which ends `events`.
    state: Weak<Mutex<State>>,
    events: mpsc::Receiver<notify::Result<notify::Event>>,
    out: UnboundedSender<Batch>,
    pending: Option<Pending>,
}

/// A batch being collected.
struct Pending {
    first: Instant,
    last: Instant,
    /// While git holds its lock: when to look again.
    recheck: Option<Instant>,
    batch: Batch,
}

impl Pending {
    fn wake_at(&self) -> Instant {
        self.recheck.unwrap_or_else(|| (self.last + QUIET).min(self.first + MAX_WAIT))
    }
}

impl Batcher {
    pub(super) fn new(
        state: Weak<Mutex<State>>,
        events: mpsc::Receiver<notify::Result<notify::Event>>,
        out: UnboundedSender<Batch>,
    ) -> Batcher {
        Batcher { state, events, out, pending: None }
    }

    /// Blocks on the event channel (with a timeout only while a batch is pending) until the
    /// watcher or the receiver is dropped.
    pub(super) fn run(mut self) {
        loop {
            let received = match self.pending.as_ref().map(Pending::wake_at) {
                None => self.events.recv().map_err(|_| RecvTimeoutError::Disconnected),
                Some(at) => self.events.recv_timeout(at.saturating_duration_since(Instant::now())),
            };
            let alive = match received {
                Ok(event) => self.absorb(event),
                Err(RecvTimeoutError::Timeout) => true,
                Err(RecvTimeoutError::Disconnected) => false,
            };
            // Checked after every event too: a steady stream never lets recv time out.
            if !alive || !self.flush_if_due(Instant::now()) {
                return;
            }
        }
    }

    /// False once the watcher is gone.
    fn absorb(&mut self, event: notify::Result<notify::Event>) -> bool {
        let Some(state) = self.state.upgrade() else { return false };
        let mut found = BTreeSet::new();
        let rescan = lock(&state).absorb(event, &mut found);
        if found.is_empty() && !rescan {
            return true;
        }
        let now = Instant::now();
        let pending = self.pending.get_or_insert_with(|| Pending {
            first: now,
            last: now,
            recheck: None,
            batch: Batch::default(),
        });
        pending.last = now;
        pending.batch.paths.extend(found);
        pending.batch.rescan |= rescan;
        true
    }

    /// Sends the pending batch if it is due; false once nobody listens or the watcher is gone.
    fn flush_if_due(&mut self, now: Instant) -> bool {
        let Some(pending) = self.pending.as_mut() else { return true };
        if now < pending.wake_at() {
            return true;
        }
        if now < pending.last + QUIET && now < pending.first + MAX_WAIT {
            // A git recheck came round while events still arrive: wait for quiet again.
            pending.recheck = None;
            return true;
        }
        let Some(state) = self.state.upgrade() else { return false };
        let context = lock(&state).spec.context.clone();
        if now < pending.first + GIT_MAX_WAIT && git_busy(&context) {
            pending.recheck = Some(now + QUIET);
            return true;
        }
        let Some(mut pending) = self.pending.take() else { return true };
        pending.batch.rescan |= std::mem::take(&mut lock(&state).lost);
        self.out.send(pending.batch).is_ok()
    }
}

/// The git directory of the repository holding `context`: `.git` in it or an ancestor, or
/// where a `.git` file (`gitdir: ...`, worktrees and submodules) points.
fn git_dir(context: &Path) -> Option<PathBuf> {
    for dir in context.ancestors() {
        let dot_git = dir.join(".git");
        match fs::metadata(&dot_git) {
            Ok(meta) if meta.is_dir() => return Some(dot_git),
            Ok(meta) if meta.is_file() => {
                let text = fs::read_to_string(&dot_git).ok()?;
                let target = text.lines().next()?.strip_prefix("gitdir:")?.trim();
                return Some(dir.join(target));
            }
            _ => {}
        }
    }
    None
}

/// A git command is rewriting the tree (checkout, merge, rebase hold the index lock).
fn git_busy(context: &Path) -> bool {
    git_dir(context).is_some_and(|dir| dir.join("index.lock").exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worktree_git_file_points_at_the_lock() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical tempdir");
        let ctx = root.join("ctx");
        fs::create_dir(&ctx).expect("mkdir ctx");
        let gitdir = root.join("main.git/worktrees/ctx");
        fs::create_dir_all(&gitdir).expect("mkdir");
        fs::write(root.join(".git"), "gitdir: main.git/worktrees/ctx\n").expect("write .git");
        fs::write(gitdir.join("index.lock"), "").expect("lock");
        assert!(git_busy(&ctx));
        fs::remove_file(gitdir.join("index.lock")).expect("rm lock");
        assert!(!git_busy(&ctx));
    }
}
