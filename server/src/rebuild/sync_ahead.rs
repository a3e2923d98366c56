//! A `develop.watch` service's files copied into its running containers while the new image
//! is committed.
//!
//! After a clean build whose files are all under `sync` / `sync+exec` rules, the containers
//! keep running and only get the files (`service_update.rs`). The build in the builder is
//! done at that point; the commit only records it in the image, and the copy does not need
//! the image. So the copy (and the rules' commands) runs beside the commit instead of after
//! it: the app sees the change one commit sooner (~80 ms on Compose Watch's own demo).
//!
//! The cycle's service update then reports what the copy did. Its result is this cycle's only:
//! it is dropped when the next cycle starts, so a copy made for a commit that failed never
//! stands in for a later one (that one copies again).

use std::path::PathBuf;
use std::sync::Mutex;

use super::service_update::{develop_copy, Update};
use super::Rebuilder;
use crate::error::Result;
use crate::events::Event;

/// The copy made beside this cycle's commit: what it copied and ran, how it ended, and the
/// events it reported (the cycle's reporter is the commit's meanwhile).
pub(super) struct SyncedAhead {
    files: Vec<(PathBuf, String)>,
    commands: Vec<Vec<String>>,
    result: Result<Option<String>>,
    events: Vec<Event>,
}

pub(super) type SyncAhead = Mutex<Option<SyncedAhead>>;

impl Rebuilder {
    /// Called beside the commit of a clean build that synced `synced`: makes the copy the
    /// service update would make after it, when `develop.watch` asks for one.
    pub(super) async fn sync_service_ahead(&self, synced: &[PathBuf]) {
        let Some(service) = &self.project.service else { return };
        if service.develop().is_empty() {
            return;
        }
        let Update::Copy { files, commands } = develop_copy(service, &self.project.plan.context, synced) else {
            return;
        };
        // A container name another project holds: the update says so, and copies nothing.
        if self.check_container_name(service).await.is_err() {
            return;
        }
        let mut events = Vec::new();
        let result = self.copy_into_service(service, &files, &commands, &mut |e| events.push(e)).await;
        *self.synced_ahead.lock().unwrap_or_else(|e| e.into_inner()) =
            Some(SyncedAhead { files, commands, result, events });
    }

    /// The copy made beside this cycle's commit, when it is the one asked for now; its events
    /// are reported again on `reporter`.
    pub(super) fn take_synced_ahead(
        &self,
        files: &[(PathBuf, String)],
        commands: &[Vec<String>],
        reporter: &mut dyn crate::events::Reporter,
    ) -> Option<Result<Option<String>>> {
        let ahead = self.synced_ahead.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        if ahead.files != files || ahead.commands != commands {
            return None;
        }
        ahead.events.into_iter().for_each(|e| reporter.report(e));
        Some(ahead.result)
    }

    /// A new cycle: a copy an earlier one made ahead is not this one's.
    pub(super) fn forget_synced_ahead(&self) {
        self.synced_ahead.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}
