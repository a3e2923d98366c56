//! What the builder holds compared with the host, without running a cycle: `status`, the
//! check that lets a watcher's event end without one, and whether the image holds a build.

use super::{Rebuilder, Status};
use crate::error::Result;
use crate::project::{LABEL_PROJECT, LABEL_SOURCES};
use crate::sync::Manifest;

impl Rebuilder {
    /// Whether the tagged image was committed from exactly these sources.
    pub(super) async fn image_holds(&self, manifest: &Manifest) -> Result<bool> {
        let image = self.engine.image(&self.project.plan.image).await?;
        Ok(image.and_then(|i| i.labels.get(LABEL_SOURCES).cloned()) == Some(manifest.sources_hash()))
    }

    /// Whether a cycle now would mirror anything, judged on the host alone against the
    /// manifest this process last left in the builder: `None` when it knows none. Lets a
    /// watcher's event for a change a save already synced end here, without a cycle.
    pub fn differs_from_known(&self) -> Result<Option<bool>> {
        if !self.stages.is_empty() {
            // Any builder's sources, or the copies the image's stage replays.
            for stage in &self.stages {
                match stage.differs_from_known()? {
                    Some(false) => {}
                    other => return Ok(other),
                }
            }
            if self.project.plan.assembly.as_ref().is_some_and(|a| a.sync.is_empty()) {
                return Ok(Some(false));
            }
            let Some(image) = self.known_image_sources() else { return Ok(None) };
            return Ok(Some(self.sources_label(&self.replay_sources()?) != image));
        }
        let Some(known) = self.known_manifest() else { return Ok(None) };
        if known.recipe != self.project.recipe {
            return Ok(Some(true));
        }
        let (_, host) = self.host_state()?;
        let changes = known.diff(&host);
        Ok(Some(!changes.is_empty() || !changes.needs_full_build.is_empty()))
    }

    /// The image, the builder and what a cycle would do now.
    pub async fn status(&self) -> Result<Status> {
        let image_info = self.engine.image(&self.project.plan.image).await?;
        let builder_name = self.project.builder_name();
        let builder = self.engine.container(&builder_name).await?;
        let mut status = Status {
            image: self.project.plan.image.clone(),
            image_info,
            builder_name,
            builder: None,
            pending_uploads: None,
            pending_deletes: None,
            last_build_failed: false,
            stages: Vec::new(),
            service_containers: Vec::new(),
        };
        if let Some(service) = &self.project.service {
            let image_id = status.image_info.as_ref().map(|i| i.id.clone()).unwrap_or_default();
            for name in service.running_services() {
                for c in self.engine.service_containers(&service.project, &name).await? {
                    let current = c.image_id == image_id;
                    status.service_containers.push((c, current));
                }
            }
        }
        for stage in &self.stages {
            let one = Box::pin(stage.status()).await?;
            status.last_build_failed |= one.last_build_failed;
            status.stages.push((stage.stage_label(), one));
        }
        if !self.stages.is_empty() {
            status.builder_name =
                status.stages.iter().map(|(_, s)| s.builder_name.clone()).collect::<Vec<_>>().join(", ");
            return Ok(status);
        }
        if let Some(b) = builder.filter(|b| b.labels.get(LABEL_PROJECT) == Some(&self.project.label())) {
            if b.running {
                if let Some(m) = self.read_manifest(&b.id).await? {
                    let changes = m.diff(&self.host_state()?.1);
                    status.pending_uploads = Some(changes.upload.len());
                    status.pending_deletes = Some(changes.delete.len());
                    status.last_build_failed = m.pending && !self.image_holds(&m).await?;
                }
            }
            status.builder = Some(b);
        }
        Ok(status)
    }
}
