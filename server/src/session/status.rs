//! What status bars show for a project: its state, image and the last cycle's result.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::Error;
use crate::project::service::ProjectSource;
use crate::project::Project;
use crate::rebuild::{CycleReport, Outcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Nothing ran yet, or a cycle was cancelled, or the builder was cleaned away.
    Idle,
    Building,
    /// The last cycle ended clean (built, committed, or nothing to do).
    Succeeded,
    /// The last build failed or timed out: the image holds the last clean build.
    Failed,
    /// The image built, but the compose service's new container exited (its app does not
    /// run): the message says how, the diagnostics where.
    Down,
    /// docker-rebuilder could not do its job (config, engine...): the message says why.
    Error,
}

impl State {
    /// The state a cycle that ended with `outcome` leaves.
    pub fn after(outcome: &Outcome) -> State {
        match outcome {
            Outcome::BuildFailed { .. } | Outcome::TimedOut { .. } => State::Failed,
            Outcome::Cancelled { .. } => State::Idle,
            _ => State::Succeeded,
        }
    }

    /// Its name in the protocol (`docker-rebuilder/status`) and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Building => "building",
            State::Succeeded => "succeeded",
            State::Failed => "failed",
            State::Down => "down",
            State::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SessionStatus {
    /// The project folder.
    pub project: PathBuf,
    /// The builder container's name.
    pub builder: String,
    pub state: State,
    pub image: String,
    /// The image's id after the last cycle that read it.
    pub image_id: Option<String>,
    /// How long the last cycle took.
    pub duration: Option<Duration>,
    /// Problems shown now.
    pub errors: usize,
    pub warnings: usize,
    pub message: String,
    /// In a multi-stage image: the stage whose build failed.
    pub stage: Option<String>,
    /// A compose service: its name.
    pub service: Option<String>,
    /// A compose service: its build context, which holds the files it builds (editors show
    /// the status of the service whose context holds the open file).
    pub context: Option<PathBuf>,
    /// The session's number, in the order sessions start in this process: a project whose
    /// session stopped and started again (its compose group changed) reports under a higher
    /// one, so a late word of the old session never overwrites the new one's.
    pub session: u64,
}

/// The next session's number.
static SESSIONS: AtomicU64 = AtomicU64::new(1);

impl SessionStatus {
    /// Before anything ran: the image the project names (the default name when it does not load).
    pub(super) fn initial(source: &ProjectSource, project: Option<&Project>) -> SessionStatus {
        let dir = source.dir();
        let loaded = match project {
            Some(p) => Some(p.clone()),
            None => source.load().ok(),
        };
        // The editors open a shell in the first builder (of a multi-stage image: its first
        // builder stage's).
        let builder = loaded.as_ref().and_then(|p| p.builder_names().into_iter().next());
        let context = source.service().and(loaded.as_ref()).map(|p| p.dir.clone());
        let loaded = loaded.map(|p| p.plan.image);
        SessionStatus {
            project: dir.to_path_buf(),
            builder: builder.unwrap_or_else(|| crate::project::builder_name(dir)),
            state: State::Idle,
            image: loaded.unwrap_or_else(|| crate::project::plan::image_name(None, dir)),
            image_id: None,
            duration: None,
            errors: 0,
            warnings: 0,
            message: String::new(),
            stage: None,
            service: source.service().map(str::to_string),
            context,
            session: SESSIONS.fetch_add(1, Ordering::Relaxed),
        }
    }

    pub(super) fn building(&mut self) {
        self.state = State::Building;
        self.message.clear();
        self.stage = None;
    }

    pub(super) fn finished(&mut self, report: &CycleReport) {
        self.state = State::after(&report.outcome);
        self.message = report.message();
        self.stage = report.stage.clone();
        self.image = report.image.clone();
        if report.image_id.is_some() {
            self.image_id = report.image_id.clone();
        }
        self.duration = Some(report.total);
    }

    pub(super) fn failed(&mut self, error: &Error) {
        self.state = State::Error;
        self.message = error.one_line();
    }

    /// The service's new container died: the image holds code that builds but does not run.
    pub(super) fn service_down(&mut self, message: String) {
        self.state = State::Down;
        self.message = message;
    }

    pub(super) fn idle(&mut self, message: String) {
        self.state = State::Idle;
        self.message = message;
    }
}
