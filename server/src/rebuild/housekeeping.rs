//! Removing what we made and no longer need: superseded images after a commit or a full
//! build, and the builder on `clean`. Only objects labelled with this project are touched.

use super::Rebuilder;
use crate::error::Result;
use crate::events::{Event, Reporter};
use std::collections::HashMap;

use crate::project::{LABEL_PROJECT, LABEL_ROLE, LABEL_STAGE};

#[derive(Debug, Clone, Default)]
pub struct CleanReport {
    pub builder_removed: Option<String>,
    pub images_removed: Vec<String>,
    /// Volumes removed: those mirroring the context for `RUN --mount=type=bind`, and the
    /// cache volumes (`RUN --mount=type=cache`) when asked.
    pub volumes_removed: Vec<String>,
}

/// Removes the project's bind volumes, and its cache volumes when `caches`. Best effort: a
/// volume still in use (a builder of another process) stays, and is said.
pub(super) async fn remove_volumes(
    engine: &crate::engine::Engine,
    label: &str,
    caches: bool,
    reporter: &mut dyn Reporter,
) -> Vec<String> {
    let mut removed = Vec::new();
    let Ok(volumes) = engine.volumes_with_label(LABEL_PROJECT, label).await else { return removed };
    for (name, role) in volumes {
        let wanted = match role.as_deref() {
            Some(crate::project::ROLE_BIND) => true,
            Some(crate::project::ROLE_CACHE) => caches,
            _ => false,
        };
        if !wanted {
            continue;
        }
        match engine.remove_volume(&name).await {
            Ok(true) => removed.push(name),
            Ok(false) => {}
            Err(e) => reporter.report(Event::Note(format!("could not remove the volume {name}: {e}"))),
        }
    }
    removed
}

impl Rebuilder {
    /// Prunes the image a commit superseded; for a compose service, after its update
    /// (`prune_deferred`): its containers mostly still run that image then (nothing is removed;
    /// the recreate prunes it once they are gone), and the looking would only delay the update.
    pub(super) async fn prune_superseded(&self, superseded: Option<String>, reporter: &mut dyn Reporter) {
        if self.project.service.is_some() {
            self.superseded.lock().unwrap_or_else(|e| e.into_inner()).extend(superseded);
        } else {
            self.prune(superseded.iter(), reporter).await;
        }
    }

    /// The pruning `prune_superseded` left for after the service's update.
    pub(super) async fn prune_deferred(&self, reporter: &mut dyn Reporter) {
        let ids = std::mem::take(&mut *self.superseded.lock().unwrap_or_else(|e| e.into_inner()));
        self.prune(ids.iter(), reporter).await;
    }

    /// Removes each image in `ids` that carries this project's label, has no tag left and no
    /// container using it. Failures are reported, never fatal: pruning is best effort.
    pub(super) async fn prune<'a>(
        &self,
        ids: impl Iterator<Item = &'a String>,
        reporter: &mut dyn Reporter,
    ) -> Vec<String> {
        let mut removed = Vec::new();
        let mut seen = Vec::new();
        for id in ids {
            if seen.contains(id) {
                continue;
            }
            seen.push(id.clone());
            match self.prune_one(id).await {
                Ok(true) => removed.push(id.clone()),
                Ok(false) => {}
                Err(e) => reporter.report(Event::Note(format!("could not remove the superseded image {id}: {e}"))),
            }
        }
        removed
    }

    async fn prune_one(&self, id: &str) -> Result<bool> {
        let Some(image) = self.engine.image(id).await? else { return Ok(false) };
        // A tag means someone (or we) still names it: removing it by id would drop that tag.
        if image.labels.get(LABEL_PROJECT) != Some(&self.project.label()) || !image.tags.is_empty() {
            return Ok(false);
        }
        if self.engine.containers_of_image(id).await? > 0 {
            return Ok(false);
        }
        self.engine.remove_image_if_unused(id).await
    }

    /// Removes this project's builder (and the superseded image only it used). The image
    /// tag stays: `docker run IMAGE` keeps working.
    /// Cache volumes (`RUN --mount=type=cache`) stay unless `caches`, as BuildKit's cache
    /// outlives a build; so do the images kept to make the next build incremental (each
    /// stage's state, the images a replay starts from).
    pub async fn clean(&self, caches: bool, reporter: &mut dyn Reporter) -> Result<CleanReport> {
        let lock = self.lock(None, reporter).await?;
        let mut report = self.clean_builders(reporter).await?;
        if self.stage_of.is_none() {
            report.volumes_removed = remove_volumes(&self.engine, &self.project.label(), caches, reporter).await;
            self.clean_leftovers(caches, &mut report, reporter).await?;
            report.images_removed.extend(self.remove_unneeded_images(caches, reporter).await?);
        }
        // Its record names the builder just removed: nothing of the project is left behind.
        lock.remove();
        Ok(report)
    }

    /// Removes this project's images no build needs now (`prune`: only those untagged and run
    /// by no container): superseded ones a container still ran when they were superseded (a
    /// compose service's image replaced by a full build while its old container ran on), and
    /// with `caches` those kept to make the next build incremental — each stage's state image
    /// (`keep_state`), then the stage images a replay starts from. Listed role by role, after
    /// the previous role's went, and again while some went: the engine lists no image that
    /// still has a child (a state image is its stage image's child, or an older state's).
    async fn remove_unneeded_images(&self, caches: bool, reporter: &mut dyn Reporter) -> Result<Vec<String>> {
        let label = self.project.label();
        let roles: &[&str] = if caches { &["image", "state", "stage"] } else { &["image"] };
        let mut removed = Vec::new();
        for role in roles {
            // Again while some went: a state image adopted by a builder is the parent of the
            // state `clean` kept of that builder, and is listed once its child is gone.
            loop {
                let ids =
                    self.engine.images_with_labels(&[(LABEL_PROJECT, label.as_str()), (LABEL_ROLE, role)]).await?;
                let gone = self.prune(ids.iter(), reporter).await;
                if gone.is_empty() {
                    break;
                }
                removed.extend(gone);
            }
        }
        Ok(removed)
    }

    /// Builders of ours the names above did not find: this project's under a name an older
    /// version gave them (a compose service's stage builders were named by the context alone),
    /// what a run that built the service's twins apart made for them (`project/twins.rs`:
    /// this project's builder serves them now), and what the service or its twins left in a
    /// context of the compose folder they were built from before; their volumes go too.
    async fn clean_leftovers(&self, caches: bool, report: &mut CleanReport, reporter: &mut dyn Reporter) -> Result<()> {
        let mut others = self.project.service.as_ref().map(|s| s.twin_labels(&self.project.dir)).unwrap_or_default();
        // What the service or its twins left in a context they were built from before (a
        // `build.context` that moved within the compose folder).
        if let Some(service) = &self.project.service {
            let names: Vec<&str> =
                std::iter::once(service.name.as_str()).chain(service.twins.iter().map(|t| t.name.as_str())).collect();
            let dir = service.workspace_dir.canonicalize().unwrap_or_else(|_| service.workspace_dir.clone());
            for label in super::unloaded::service_labels(&self.engine, &dir, &names).await? {
                if label != self.project.label() && !others.contains(&label) {
                    others.push(label);
                }
            }
        }
        let mut removed = Vec::new();
        for label in std::iter::once(self.project.label()).chain(others.iter().cloned()) {
            for c in super::unloaded::builders_labelled(&self.engine, &label).await? {
                self.engine.remove_container(&c.id).await?;
                removed.push(c.name);
            }
        }
        for label in &others {
            report.volumes_removed.extend(remove_volumes(&self.engine, label, caches, reporter).await);
        }
        if !removed.is_empty() {
            let all = report.builder_removed.iter().cloned().chain(removed).collect::<Vec<_>>();
            report.builder_removed = Some(all.join(", "));
        }
        Ok(())
    }

    async fn clean_builders(&self, reporter: &mut dyn Reporter) -> Result<CleanReport> {
        let mut report = CleanReport::default();
        if !self.stages.is_empty() {
            // One builder per stage: each stage's rebuilder removes its own.
            if let Some(file) = self.project.hash_cache_file() {
                let _ = std::fs::remove_file(file);
            }
            // A replay container a crash left (they are removed once the image is made).
            for c in self.engine.containers_with_label(LABEL_PROJECT, &self.project.label()).await? {
                if c.labels.get(crate::project::LABEL_ROLE).map(String::as_str) == Some("replay") {
                    self.engine.remove_container(&c.id).await?;
                }
            }
            let mut removed = Vec::new();
            for stage in &self.stages {
                let one = Box::pin(stage.clean_builders(reporter)).await?;
                removed.extend(one.builder_removed);
                report.images_removed.extend(one.images_removed);
            }
            report.builder_removed = (!removed.is_empty()).then(|| removed.join(", "));
            return Ok(report);
        }
        let name = self.project.builder_name();
        // The hashes describe the host, not the builder, but `clean` leaves nothing of ours.
        if let Some(file) = self.project.hash_cache_file() {
            let _ = std::fs::remove_file(file);
        }
        let Some(builder) = self.engine.container(&name).await? else {
            reporter.report(Event::Note(format!("no builder {name} to remove")));
            return Ok(report);
        };
        if builder.labels.get(LABEL_PROJECT) != Some(&self.project.label()) {
            reporter.report(Event::Note(format!(
                "a container named {name} exists but docker-rebuilder did not create it; left untouched"
            )));
            return Ok(report);
        }
        if self.stage_of.is_some() && builder.running {
            // A stage's builder holds what no image holds (the build's objects and caches):
            // kept as an untagged image the next build starts from (`adopt_image`).
            self.keep_state(&builder, reporter).await;
        }
        self.engine.remove_container(&builder.id).await?;
        report.builder_removed = Some(name);
        let tagged = self.engine.image(&self.project.plan.image).await?.map(|i| i.id);
        if tagged.as_ref() != Some(&builder.image_id) {
            report.images_removed = self.prune(std::iter::once(&builder.image_id), reporter).await;
        }
        Ok(report)
    }

    /// Commits a stage's builder as its state image (labelled with the project, `state` and
    /// the stage), replacing the one an earlier `clean` kept. Best effort: without it, the
    /// next build is a full one.
    async fn keep_state(&self, builder: &crate::engine::ContainerInfo, reporter: &mut dyn Reporter) {
        let Ok(Some(base)) = self.engine.image(&builder.image_id).await else { return };
        let labels = HashMap::from([
            (LABEL_PROJECT.to_string(), self.project.label()),
            (LABEL_ROLE.to_string(), "state".to_string()),
            (LABEL_STAGE.to_string(), self.stage_label()),
        ]);
        let config = crate::engine::CommitConfig { original: &base.config, extra_labels: labels };
        match self.engine.commit_untagged(&builder.id, config).await {
            Ok(id) => {
                let older: Vec<String> = self.state_images().await.into_iter().filter(|i| *i != id).collect();
                self.prune(older.iter(), reporter).await;
            }
            Err(e) => reporter.report(Event::Note(format!(
                "could not keep the state of stage {}'s builder ({e}); the next build is a full one",
                self.stage_label()
            ))),
        }
    }

    /// This stage's state images (what `clean` kept of its builder), newest first.
    pub(super) async fn state_images(&self) -> Vec<String> {
        let label = self.project.label();
        let stage = self.stage_label();
        let labels = [(LABEL_PROJECT, label.as_str()), (LABEL_ROLE, "state"), (LABEL_STAGE, stage.as_str())];
        self.engine.images_with_labels(&labels).await.unwrap_or_default()
    }
}
