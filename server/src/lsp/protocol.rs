//! Our additions to the protocol: command names, the status notification and the commands'
//! replies, as types (the VS Code extension's `protocol.ts` mirrors them; a test holds the
//! two together).

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::notification::Notification;

use crate::rebuild::{CleanReport, CycleReport};
use crate::session::{SessionStatus, State};

pub const REBUILD: &str = "docker-rebuilder.rebuild";
pub const FULL_BUILD: &str = "docker-rebuilder.fullBuild";
pub const CLEAN: &str = "docker-rebuilder.clean";
pub const STATUS: &str = "docker-rebuilder.status";
pub const COMMANDS: [&str; 4] = [REBUILD, FULL_BUILD, CLEAN, STATUS];

/// `docker-rebuilder/status`: sent after every change of a project's state, for status bars.
pub enum StatusNotification {}

impl Notification for StatusNotification {
    type Params = StatusParams;
    const METHOD: &'static str = "docker-rebuilder/status";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildState {
    Idle,
    Building,
    Succeeded,
    Failed,
    Down,
    Error,
    /// The session stopped and nothing of it will follow (sent once, as its last status): the
    /// project was regrouped (a compose service now built with another) or its folder's
    /// settings changed. A session that takes over reports under a higher `session`.
    Stopped,
}

impl From<State> for BuildState {
    fn from(state: State) -> BuildState {
        match state {
            State::Idle => BuildState::Idle,
            State::Building => BuildState::Building,
            State::Succeeded => BuildState::Succeeded,
            State::Failed => BuildState::Failed,
            State::Down => BuildState::Down,
            State::Error => BuildState::Error,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusParams {
    /// The project folder.
    pub project: String,
    pub state: BuildState,
    pub image: String,
    pub image_id: Option<String>,
    pub duration_ms: Option<u64>,
    pub errors: usize,
    pub warnings: usize,
    pub message: String,
    /// In a multi-stage image: the stage whose build failed.
    pub stage: Option<String>,
    /// A compose service: its name (`project` is then the compose folder).
    pub service: Option<String>,
    /// A compose service: its build context folder (the files it builds are under it).
    pub context: Option<String>,
    /// The session's number, higher for a later session of the same project: a status with a
    /// lower one than the last seen for the project is stale, and `stopped` ends only the
    /// session it names.
    pub session: u64,
}

impl From<&SessionStatus> for StatusParams {
    fn from(s: &SessionStatus) -> StatusParams {
        StatusParams {
            project: s.project.display().to_string(),
            state: s.state.into(),
            image: s.image.clone(),
            image_id: s.image_id.clone(),
            duration_ms: s.duration.map(|d| d.as_millis() as u64),
            errors: s.errors,
            warnings: s.warnings,
            message: s.message.clone(),
            stage: s.stage.clone(),
            service: s.service.clone(),
            context: s.context.as_ref().map(|c| c.display().to_string()),
            session: s.session,
        }
    }
}

/// The reply to `docker-rebuilder.status`: the notification's fields plus the builder's name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReply {
    #[serde(flatten)]
    pub status: StatusParams,
    pub builder: String,
}

impl From<&SessionStatus> for StatusReply {
    fn from(s: &SessionStatus) -> StatusReply {
        StatusReply { status: s.into(), builder: s.builder.clone() }
    }
}

/// The reply to `docker-rebuilder.clean`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanReply {
    pub builder_removed: Option<String>,
    pub images_removed: Vec<String>,
}

impl From<&CleanReport> for CleanReply {
    fn from(r: &CleanReport) -> CleanReply {
        CleanReply { builder_removed: r.builder_removed.clone(), images_removed: r.images_removed.clone() }
    }
}

/// The reply to `docker-rebuilder.rebuild` and `docker-rebuilder.fullBuild`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CycleReply {
    pub state: BuildState,
    /// `Outcome::name()`: image_built, up_to_date, succeeded, build_failed, cancelled, timed_out.
    pub outcome: String,
    pub message: String,
    pub image: String,
    pub image_id: Option<String>,
    pub duration_ms: u64,
    pub uploaded: usize,
    pub deleted: usize,
    pub files_read: usize,
}

impl CycleReply {
    pub fn of(report: &CycleReport, state: State) -> CycleReply {
        CycleReply {
            state: state.into(),
            outcome: report.outcome.name().to_string(),
            message: report.message(),
            image: report.image.clone(),
            image_id: report.image_id.clone(),
            duration_ms: report.total.as_millis() as u64,
            uploaded: report.uploaded,
            deleted: report.deleted,
            files_read: report.files_read,
        }
    }
}

#[cfg(test)]
#[path = "protocol_ts_tests.rs"]
mod protocol_ts_tests;
