//! After the image of a compose service changed: its running containers are recreated on the
//! new image, as `docker compose up -d --no-deps SERVICE` would (see `engine/compose.rs` for
//! why compose does it). A service with no running container is left alone, as are the
//! services that depend on it; a failed build never gets here, so the old code keeps serving.

use std::time::Instant;

use super::{CycleReport, Outcome, Rebuilder};
use crate::engine::{ComposeRun, Engine};
use crate::events::{Event, Phase, Reporter};
use crate::project::compose::{ComposeVersion, Workspace};
use crate::project::service::ServiceBinding;

impl Rebuilder {
    /// Brings the service's running containers onto the image `report` ended with. Never
    /// fails the cycle: the image is made; a recreate that fails is a warning saying why.
    pub(super) async fn update_service(&self, report: &mut CycleReport, reporter: &mut dyn Reporter) {
        let Some(service) = &self.project.service else { return };
        let fresh = matches!(
            report.outcome,
            Outcome::ImageBuilt { .. } | Outcome::Succeeded { committed: true } | Outcome::UpToDate
        );
        let Some(image_id) = report.image_id.clone().filter(|_| fresh) else { return };
        let started = Instant::now();
        match self.recreate_if_stale(service, &image_id, reporter).await {
            Ok(None) => {}
            Ok(Some(done)) => {
                reporter.report(Event::PhaseFinished { phase: Phase::Service, elapsed: started.elapsed() });
                report.timings.push((Phase::Service, started.elapsed()));
                report.total += started.elapsed();
                report.service_update = Some(done);
            }
            Err(e) => {
                reporter.report(Event::Warning(e.one_line()));
                report.service_update = Some(e.cause);
            }
        }
    }

    /// Recreates the service's running containers that are not on `image_id`; what it did,
    /// or None when none needed it.
    async fn recreate_if_stale(
        &self,
        service: &ServiceBinding,
        image_id: &str,
        reporter: &mut dyn Reporter,
    ) -> crate::error::Result<Option<String>> {
        let containers = self.engine.service_containers(&service.project, &service.name).await?;
        let stale: Vec<_> = containers.iter().filter(|c| c.running && c.image_id != image_id).collect();
        let Some(first) = stale.first() else { return Ok(None) };
        let names: Vec<&str> = stale.iter().map(|c| c.name.as_str()).collect();
        reporter.report(Event::PhaseStarted {
            phase: Phase::Service,
            detail: format!("recreating {} on the new image", names.join(", ")),
        });
        // The folder and files the containers were made from, as compose recorded them.
        let working_dir = first.working_dir.clone().unwrap_or_else(|| service.workspace_dir.clone());
        let files = if first.config_files.is_empty() {
            service.files.clone()
        } else {
            first.config_files.iter().map(|f| working_dir.join(f)).collect()
        };
        let run = ComposeRun {
            project: service.project.clone(),
            service: service.name.clone(),
            working_dir,
            files,
            v1: first.by_compose_v1(),
        };
        self.engine.compose_recreate(&run).await?;
        // The images the old containers ran: a commit of ours that only they used is pruned
        // now (the commit's own prune found them still in use).
        let old: Vec<String> = stale.iter().map(|c| c.image_id.clone()).collect();
        self.prune(old.iter(), reporter).await;
        Ok(Some(format!("service {}: recreated {} on the new image", service.name, names.join(", "))))
    }
}

/// The compose version that names a workspace's images: the one that made its containers
/// (compose labels each with its version), else the one installed here (the docker CLI's
/// plugin, v2, before a `docker-compose`), else v2, today's compose.
pub async fn compose_version(engine: &Engine, workspace: &Workspace) -> ComposeVersion {
    for version in [ComposeVersion::V1, ComposeVersion::V2] {
        let containers = engine.compose_project_containers(&workspace.project_name(version)).await.unwrap_or_default();
        if let Some(made) = containers.iter().find(|c| !c.compose_version.is_empty()) {
            return if made.by_compose_v1() { ComposeVersion::V1 } else { ComposeVersion::V2 };
        }
    }
    match crate::engine::installed_compose_is_v1().await {
        Some(true) => ComposeVersion::V1,
        _ => ComposeVersion::V2,
    }
}
