//! Our additions to the protocol: command names and the status notification.

use serde::{Deserialize, Serialize};
use tower_lsp_server::ls_types::notification::Notification;

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

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusParams {
    /// The project folder.
    pub project: String,
    /// idle | building | succeeded | failed | error
    pub state: String,
    pub image: String,
    pub image_id: Option<String>,
    pub duration_ms: Option<u64>,
    pub errors: usize,
    pub warnings: usize,
    pub message: String,
}
