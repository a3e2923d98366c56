//! The one loop every long-lived front end drives (the LSP server, one session per project;
//! `watch`, one session). A front end only turns what it receives (saves, commands, Ctrl-C,
//! a cancel button) into [`Input`]s and renders the [`SessionEvent`]s that come back; the
//! policy lives here, once: which inputs become one cycle, when a burst of saves has settled,
//! when a watcher's event needs no cycle, what a cancel drops, which diagnostics change, what
//! the status says, the step started ahead, and what happens when the loop itself panics.
//!
//! A session owns one project's `Rebuilder` (and through it, the project's builders and
//! image). Front ends that serve several projects (the LSP workspace, later compose services)
//! run one session per project.

mod published;
pub use published::error_diagnostic;
mod run;
mod status;
mod supervise;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::cancel::CancelToken;
use crate::error::{Error, ErrorKind};
use crate::events::{Event, FileDiagnostic};
use crate::project::service::ProjectSource;
use crate::rebuild::{CleanReport, CycleReport, Rebuilder, ServiceExit};

pub use status::{SessionStatus, State};

/// Where a command's result goes.
pub type CycleReply = oneshot::Sender<Result<CycleReport, Error>>;
pub type CleanReply = oneshot::Sender<Result<CleanReport, Error>>;

/// What a front end asks of a session.
pub enum Input {
    /// A save (or startup): bring the image up to date. Which file does not matter: a cycle
    /// compares every source with the builder's manifest.
    Saved,
    /// The file watcher saw changes. Like `Saved`, but when the host already matches what was
    /// last synced (a save's own cycle sent them) it ends quietly, without a cycle; so it does
    /// when every change is older than the user's last cancel (see `changed_at`).
    Changed {
        /// When the batch's files last changed (their newest ctime, which no copy preserves);
        /// None when unknown (a deletion, a rescan).
        changed_at: Option<std::time::SystemTime>,
    },
    /// A command: a cycle now (or a full `docker build`), replying with its report.
    Rebuild { full: bool, reply: Option<CycleReply> },
    /// Remove the builder.
    Clean { reply: Option<CleanReply> },
    /// End the loop (after stopping the running build, see [`SessionHandle::stop`]).
    Stop,
}

impl Input {
    /// These files changed on disk (seen by a watcher, ours or the editor's): `Changed` with
    /// their newest ctime, unknown when any is gone (a deletion).
    pub fn files_changed<'a>(paths: impl IntoIterator<Item = &'a PathBuf>) -> Input {
        Input::Changed { changed_at: newest_ctime(paths) }
    }
}

fn newest_ctime<'a>(paths: impl IntoIterator<Item = &'a PathBuf>) -> Option<std::time::SystemTime> {
    use std::os::unix::fs::MetadataExt;
    let mut newest = std::time::SystemTime::UNIX_EPOCH;
    for path in paths {
        let meta = std::fs::symlink_metadata(path).ok()?;
        let ctime = std::time::SystemTime::UNIX_EPOCH
            + std::time::Duration::new(u64::try_from(meta.ctime()).ok()?, u32::try_from(meta.ctime_nsec()).ok()?);
        newest = newest.max(ctime);
    }
    Some(newest)
}

/// What started a cycle (the first of the inputs it serves), for logs: "why did it build?".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// A save, or the session's start.
    Save,
    /// Files changed on disk (a watcher's news, ours or the editor's).
    FilesChanged,
    /// A command: a cycle, or a full build.
    Command { full: bool },
}

impl Trigger {
    pub fn describe(self) -> &'static str {
        match self {
            Trigger::Save => "a save (or the start)",
            Trigger::FilesChanged => "files changed on disk",
            Trigger::Command { full: false } => "a rebuild command",
            Trigger::Command { full: true } => "a full build command",
        }
    }
}

/// What a session tells its front end, in order.
#[derive(Debug)]
pub enum SessionEvent {
    /// A cycle starts; `cycle` counts them in this session (see [`SessionHandle::cancel_cycle`]).
    CycleStarted { cycle: u64, trigger: Trigger },
    /// What the core reports while the cycle runs: phases, output, notes, warnings, and every
    /// problem found so far (`Event::Diagnostics`, for front ends that print them as found).
    Progress(Event),
    /// The diagnostics shown for `path` are now these (empty: cleared). Sent only when they
    /// changed; a front end that publishes per file needs nothing else.
    Diagnostics { path: PathBuf, diagnostics: Vec<FileDiagnostic> },
    /// The cycle ended: its report, or what kept the tool from doing its job (the loop goes on).
    CycleFinished { cycle: u64, result: Result<CycleReport, Error> },
    /// A container the last cycle's recreate started failed soon after (a stop is not said);
    /// its problems come as `Diagnostics`, the status follows.
    ServiceExited(ServiceExit),
    /// A `Clean` ended.
    Cleaned(Result<CleanReport, Error>),
    /// What status bars show changed.
    Status(SessionStatus),
    /// The file watcher could not start: only saves and commands start cycles.
    WatcherUnavailable(Error),
    /// The loop panicked (a bug). It was restarted with a fresh state; what was queued is lost.
    Crashed { message: String },
    /// `Stop` was handled: no more events.
    Stopped,
}

/// Starting a session.
pub struct SessionOptions {
    /// The project: a folder, or a compose service.
    pub source: ProjectSource,
    /// Watch the project's files for changes made outside the editor (and, for `watch`, for
    /// every change).
    pub watch: bool,
    /// A rebuilder already made (the CLI makes one first, to fail fast); else the session
    /// loads the project and connects when it first needs them.
    pub rebuilder: Option<Rebuilder>,
}

/// The front end's side of a session: cheap to clone, never blocks.
#[derive(Clone)]
pub struct SessionHandle {
    tx: mpsc::UnboundedSender<Input>,
    shared: Arc<Shared>,
}

/// What the loop and its handles share.
struct Shared {
    status: Mutex<SessionStatus>,
    /// The running cycle's number and cancel switch.
    running: Mutex<Option<(u64, CancelToken)>>,
    /// How many times a cycle was cancelled: a cycle that saw it change drops what was queued.
    cancels: AtomicU64,
    /// When the last save or command arrived (a cycle after a burst waits for it to settle).
    last_input: Mutex<Instant>,
    /// `stop` was called: the loop ends at its next turn.
    stopping: AtomicBool,
    /// Cycles started so far (kept across a restart after a panic: numbers never repeat).
    cycles: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A poisoned lock only means a panic elsewhere (supervised); the data is still whole.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts a session for `options.source`; its events come on the returned receiver.
pub fn spawn(options: SessionOptions) -> (SessionHandle, mpsc::UnboundedReceiver<SessionEvent>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let (events_tx, events_rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        status: Mutex::new(SessionStatus::initial(&options.source, options.rebuilder.as_ref().map(Rebuilder::project))),
        running: Mutex::new(None),
        cancels: AtomicU64::new(0),
        last_input: Mutex::new(Instant::now()),
        stopping: AtomicBool::new(false),
        cycles: AtomicU64::new(0),
    });
    let handle = SessionHandle { tx, shared: shared.clone() };
    tokio::spawn(supervise::supervise(options, handle.downgrade(), shared, rx, events_tx));
    (handle, events_rx)
}

impl SessionHandle {
    /// Queues `input`. False when the session has ended (after `Stop`).
    pub fn send(&self, input: Input) -> bool {
        if matches!(input, Input::Saved | Input::Rebuild { .. }) {
            *lock(&self.shared.last_input) = Instant::now();
        }
        self.tx.send(input).is_ok()
    }

    /// A cycle now (`full`: a fresh `docker build`), once what is queued before it ran.
    pub async fn rebuild(&self, full: bool) -> Result<CycleReport, Error> {
        let (reply, answer) = oneshot::channel();
        self.send(Input::Rebuild { full, reply: Some(reply) });
        answer.await.unwrap_or_else(|_| Err(lost()))
    }

    /// Removes the builder.
    pub async fn clean(&self) -> Result<CleanReport, Error> {
        let (reply, answer) = oneshot::channel();
        self.send(Input::Clean { reply: Some(reply) });
        answer.await.unwrap_or_else(|_| Err(lost()))
    }

    /// The state as status bars show it.
    pub fn status(&self) -> SessionStatus {
        lock(&self.shared.status).clone()
    }

    /// Stops cycle number `cycle` if it is the one running (a progress' cancel button):
    /// its processes are killed, nothing is committed, and what was queued behind it is
    /// dropped (the next save or command starts again).
    pub fn cancel_cycle(&self, cycle: u64) {
        if let Some((running, cancel)) = lock(&self.shared.running).as_ref() {
            if *running == cycle {
                self.shared.cancels.fetch_add(1, Ordering::SeqCst);
                cancel.cancel();
            }
        }
    }

    /// Stops whatever cycle runs.
    pub fn cancel(&self) {
        if let Some((_, cancel)) = lock(&self.shared.running).as_ref() {
            self.shared.cancels.fetch_add(1, Ordering::SeqCst);
            cancel.cancel();
        }
    }

    /// Stops the running cycle and ends the loop; `SessionEvent::Stopped` follows.
    pub fn stop(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.cancel();
        let _ = self.tx.send(Input::Stop);
    }

    fn downgrade(&self) -> WeakHandle {
        WeakHandle { tx: self.tx.downgrade() }
    }
}

/// The loop's own way to queue inputs (the watcher's batches): weak, so the session ends
/// when its front end drops every handle.
#[derive(Clone)]
struct WeakHandle {
    tx: mpsc::WeakUnboundedSender<Input>,
}

impl WeakHandle {
    /// Not counted in `last_input`: the watcher sends a batch only once the files went quiet,
    /// and the batch that echoes a save must not delay the next save's cycle.
    fn send(&self, input: Input) -> bool {
        let Some(tx) = self.tx.upgrade() else { return false };
        tx.send(input).is_ok()
    }
}

/// A command whose session restarted (after a bug) before it answered.
fn lost() -> Error {
    Error::new(
        ErrorKind::Internal,
        "docker-rebuilder's task for this project stopped before it answered (a bug; it restarted)",
        "run the command again; the log holds the panic message",
    )
}
