//! The image and its builder: find the builder, adopt the last committed image after a
//! `clean`, or fall back to a full `docker build` and a fresh builder.

use std::collections::HashMap;
use std::time::Instant;

use super::failed_step::{FullBuild, StepLogs};
use super::image_build::ImageBuild;
use super::mounts::forget_bind_mirrors;
use super::{context, Rebuilder};
use crate::engine::{BuilderSpec, ImageInfo};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, Phase, Reporter};
use crate::project::compose::ComposeVersion;
use crate::project::{LABEL_PROJECT, LABEL_ROLE};
use crate::sync::archive::ArchiveWriter;
use crate::sync::walk::{scan, HashSource, HostTree};
use crate::sync::{AssemblyRecord, FirstLayer, Manifest, MANIFEST_PATH};

/// Overlay2 refuses images deeper than ~125 layers; each builder made from a committed
/// image adds one. Past this depth we start over from a full `docker build`.
const MAX_ADOPTED_LAYERS: usize = 100;
/// A commit re-packs the builder's whole diff against its image (≈ 4.5 s per GB here). Once a
/// commit's layer passes this, and is more than REBASE_GROWTH times what the builder's first
/// commit packed (so it holds files earlier edits left, not just what every build rewrites),
/// the next cycle runs in a builder made from the image just committed: the same files, build
/// state included, with an empty diff.
const REBASE_BYTES: i64 = 32 * 1024 * 1024;
const REBASE_GROWTH: i64 = 2;
/// Keeps the builder alive as its PID 1, and reaps: what a cancelled or timed-out build leaves
/// (orphans of `kill -1`, which spares PID 1) ends up its child, and a shell's `wait` collects
/// any child that exits, so no zombie stays. `kill -1` ends the `sleep` too; the loop starts
/// another. A TERM ends it at once (`docker stop`). An image without `sleep` gets a shell
/// waiting on the open terminal instead (alive, but not reaping).
const KEEPALIVE: [&str; 3] = [
    "/bin/sh",
    "-c",
    "command -v sleep >/dev/null || exec /bin/sh; trap 'exit 0' TERM; while :; do sleep 86400 & wait; done",
];

/// A running builder, ready for a cycle.
pub(super) struct Builder {
    pub id: String,
    /// The image the builder runs from: its config is what every commit keeps.
    pub base: ImageInfo,
    pub manifest: Manifest,
}

/// The builder as this process last left it.
#[derive(Clone)]
pub(super) struct Known {
    container: String,
    base: ImageInfo,
    manifest: Manifest,
    /// The manifest file's size and nanosecond mtime right after we wrote or read it.
    stamp: (i64, String),
}

pub(super) enum Ensured {
    Ready(Box<Builder>),
    /// A full build ran: it made the image and a fresh builder from the current sources, or
    /// failed in a step of the project's own build.
    Built(FullBuild),
}

impl Rebuilder {
    pub(super) async fn ensure_builder(&self, full: bool, reporter: &mut dyn Reporter) -> Result<Ensured> {
        if full {
            return self.full_build_ensured("a full rebuild was asked for", reporter).await;
        }
        let name = self.project.builder_name();
        if let Some(container) = self.engine.container(&name).await? {
            self.check_ours(&container.labels, &name)?;
            let usable = if container.paused {
                self.engine.unpause_container(&container.id).await.is_ok()
            } else if !container.running {
                self.engine.start_container(&container.id).await.is_ok()
            } else {
                true
            };
            if usable {
                if let Some(builder) = self.known_builder(&container.id).await? {
                    return Ok(Ensured::Ready(Box::new(builder)));
                }
                let manifest = self.read_manifest(&container.id).await?;
                if manifest.as_ref().is_some_and(|m| m.recipe == self.project.recipe) {
                    if let Some(base) = self.engine.image(&container.image_id).await? {
                        let manifest = manifest.unwrap_or_default();
                        self.remember(&container.id, &base, &manifest).await?;
                        return Ok(Ensured::Ready(Box::new(Builder { id: container.id, base, manifest })));
                    }
                }
                let reason = match manifest {
                    Some(m) => crate::project::recipe_change(&m.recipe, &self.project.recipe),
                    None => "the builder holds no manifest of its sources".to_string(),
                };
                return self.full_build_ensured(&reason, reporter).await;
            }
            reporter.report(Event::Note(format!("the builder {name} could not be restarted; making a new one")));
            self.engine.remove_container(&container.id).await?;
        }
        if let Some(builder) = self.adopt_image(reporter).await? {
            return Ok(Ensured::Ready(Box::new(builder)));
        }
        self.full_build_ensured("there is no builder yet", reporter).await
    }

    async fn full_build_ensured(&self, reason: &str, reporter: &mut dyn Reporter) -> Result<Ensured> {
        if self.stage_of.is_some() {
            return Err(Error::new(ErrorKind::FullBuildNeeded, reason, ""));
        }
        Ok(Ensured::Built(self.full_build(reason, reporter).await?))
    }

    fn check_ours(&self, labels: &HashMap<String, String>, name: &str) -> Result<()> {
        if labels.get(LABEL_PROJECT) == Some(&self.project.label()) {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Project,
            format!("a container named {name} exists but docker-rebuilder did not create it for {}", self.project.dir.display()),
            format!("rename or remove that container (`docker rm -f {name}`) if it is not needed; docker-rebuilder never touches containers it did not create"),
        ))
    }

    /// A builder from the project's committed image, when that image is ours, carries a
    /// manifest for the current recipe, and is not too deep.
    async fn adopt_image(&self, reporter: &mut dyn Reporter) -> Result<Option<Builder>> {
        // A stage's builder: the state `clean` kept of it (the image holds the image's stage).
        let from = match self.stage_of {
            Some(_) => match self.state_images().await.into_iter().next() {
                Some(id) => id,
                None => return Ok(None),
            },
            None => self.project.plan.image.clone(),
        };
        let Some(image) = self.engine.image(&from).await? else { return Ok(None) };
        if image.labels.get(LABEL_PROJECT) != Some(&self.project.label()) || image.layers >= MAX_ADOPTED_LAYERS {
            return Ok(None);
        }
        let started = Instant::now();
        reporter
            .report(Event::PhaseStarted { phase: Phase::Builder, detail: format!("from {}", self.project.plan.image) });
        let id = self.create_builder(&image).await?;
        let manifest = self.read_manifest(&id).await?;
        reporter.report(Event::PhaseFinished { phase: Phase::Builder, elapsed: started.elapsed() });
        match manifest {
            Some(mut m) if m.recipe == self.project.recipe => {
                if self.has_bind_mirrors() {
                    forget_bind_mirrors(&mut m);
                    self.write_manifest(&id, &image, &m).await?;
                }
                self.remember(&id, &image, &m).await?;
                Ok(Some(Builder { id, base: image, manifest: m }))
            }
            _ => {
                self.engine.remove_container(&id).await?;
                Ok(None)
            }
        }
    }

    async fn create_builder(&self, image: &ImageInfo) -> Result<String> {
        let mut labels = HashMap::from([
            (LABEL_PROJECT.to_string(), self.project.label()),
            (LABEL_ROLE.to_string(), "builder".to_string()),
        ]);
        labels.extend(self.compose_labels(false));
        let (mounts, new_cache) = self.builder_mounts().await?;
        let id = self
            .engine
            .create_builder(BuilderSpec {
                name: &self.project.builder_name(),
                image_id: &image.id,
                image_config: &image.config,
                labels,
                keepalive: &KEEPALIVE,
                mounts,
                network: self.project.config.network.as_deref(),
                extra_hosts: &self.project.config.extra_hosts,
            })
            .await?;
        self.init_mounts(&id).await?;
        self.fill_bind_froms(&id).await?;
        if new_cache {
            self.warm_caches(&id).await;
        }
        Ok(id)
    }

    pub(super) async fn read_manifest(&self, container: &str) -> Result<Option<Manifest>> {
        Ok(self.engine.read_file(container, MANIFEST_PATH).await?.and_then(|b| Manifest::parse(&b)))
    }

    pub(super) async fn write_manifest(&self, container: &str, base: &ImageInfo, manifest: &Manifest) -> Result<()> {
        let mut archive = ArchiveWriter::new();
        archive.add_bytes(MANIFEST_PATH, &manifest.to_json(), 0o644)?;
        self.engine.upload(container, archive.finish()?).await?;
        self.remember(container, base, manifest).await
    }

    /// Records what the builder's manifest now is, with the stat that proves it later.
    pub(super) async fn remember(&self, container: &str, base: &ImageInfo, manifest: &Manifest) -> Result<()> {
        let stamp = self.engine.stat_file(container, MANIFEST_PATH).await?;
        let known = stamp.map(|stamp| Known {
            container: container.to_string(),
            base: base.clone(),
            manifest: manifest.clone(),
            stamp,
        });
        *self.known.lock().unwrap_or_else(|e| e.into_inner()) = known;
        Ok(())
    }

    /// The builder this process last wrote a manifest to (or read one from).
    pub(super) fn known_builder_id(&self) -> Option<String> {
        self.known.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|k| k.container.clone())
    }

    /// The remembered builder, if `container` is it and its manifest is untouched since.
    async fn known_builder(&self, container: &str) -> Result<Option<Builder>> {
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(known) = known.filter(|k| k.container == container && k.manifest.recipe == self.project.recipe) else {
            return Ok(None);
        };
        if self.engine.stat_file(container, MANIFEST_PATH).await? != Some(known.stamp) {
            return Ok(None);
        }
        Ok(Some(Builder { id: known.container, base: known.base, manifest: known.manifest }))
    }

    /// After a commit: when the builder's diff has grown big enough to slow commits down,
    /// replaces the builder by a fresh one from the committed image. Best effort: a failure
    /// only leaves the old builder (or none, and the next cycle adopts the image).
    pub(super) async fn rebase_if_large(
        &self,
        builder: &Builder,
        image: &ImageInfo,
        manifest: &Manifest,
        reporter: &mut dyn Reporter,
    ) -> Result<bool> {
        let layer = image.size - builder.base.size;
        let first = builder.manifest.first_layer.as_ref().filter(|f| f.builder == builder.id).map(|f| f.bytes);
        let Some(first) = first else {
            // The first commit from this builder: the yardstick, kept in its manifest (one
            // small upload per builder) so every later process judges against it.
            let mut manifest = manifest.clone();
            manifest.first_layer = Some(FirstLayer { builder: builder.id.clone(), bytes: layer });
            self.write_manifest(&builder.id, &builder.base, &manifest).await?;
            return Ok(false);
        };
        if layer < REBASE_BYTES || layer <= REBASE_GROWTH * first || image.layers >= MAX_ADOPTED_LAYERS {
            return Ok(false);
        }
        reporter.report(Event::Note(format!(
            "the builder's changes reached {} MB; going on in a fresh builder from {} so commits stay fast",
            layer / (1024 * 1024),
            self.project.plan.image
        )));
        self.engine.remove_container(&builder.id).await?;
        let id = self.create_builder(image).await?;
        if self.has_bind_mirrors() {
            let mut manifest = manifest.clone();
            forget_bind_mirrors(&mut manifest);
            self.write_manifest(&id, image, &manifest).await?;
        } else {
            self.remember(&id, image, manifest).await?;
        }
        Ok(true)
    }

    /// The builder this process last wrote a manifest to (or read one from), and that
    /// manifest's stat then.
    pub(super) fn known_stamp(&self) -> Option<(String, (i64, String))> {
        self.known.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|k| (k.container.clone(), k.stamp.clone()))
    }

    /// The manifest this process last left in the builder, if it knows one.
    pub(super) fn known_manifest(&self) -> Option<Manifest> {
        self.known.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|k| k.manifest.clone())
    }

    /// `docker build` from the current sources, then a fresh builder from the new image.
    /// A step of the project's own build that fails is a failed build (`step_failure`).
    pub(super) async fn full_build(&self, reason: &str, reporter: &mut dyn Reporter) -> Result<FullBuild> {
        let plan = &self.project.plan;
        let (builder, _) = self.image_builder().await?;
        self.announce_full_build(builder, reason, reporter);
        self.set_built(Some(std::time::SystemTime::now()));
        let started = Instant::now();
        reporter.report(Event::PhaseStarted { phase: Phase::ImageBuild, detail: plan.image.clone() });
        let previous = self.engine.image(&plan.image).await?;
        let context = context::pack(&self.project)?;
        let labels = self.image_labels(None);
        let build = ImageBuild {
            tag: &plan.image,
            dockerfile: &context.dockerfile,
            builder_only: &context.builder_only,
            target: plan.target.as_deref(),
            labels,
        };
        let mut logs = StepLogs::default();
        let image_id = self.run_image_build(builder, build, context.tar, &mut |_: &str| {}, &mut logs, reporter).await;
        self.set_built(Some(std::time::SystemTime::now()));
        let image_id = match self.built_or_failed(image_id, &logs, started, reporter)? {
            Ok(id) => id,
            Err(failed) => return Ok(failed),
        };
        self.tag_also(&image_id, reporter).await;
        reporter.report(Event::PhaseFinished { phase: Phase::ImageBuild, elapsed: started.elapsed() });

        let started = Instant::now();
        reporter.report(Event::PhaseStarted { phase: Phase::Builder, detail: self.project.builder_name() });
        let image = self.engine.image(&image_id).await?.ok_or_else(|| {
            Error::new(
                ErrorKind::Engine,
                format!("the image {image_id} vanished right after it was built"),
                "run again",
            )
        })?;
        let (old_builder, tree) = self.fresh_builder(&image, &context.hashes, None).await?;
        reporter.report(Event::PhaseFinished { phase: Phase::Builder, elapsed: started.elapsed() });
        self.warn_refused(&tree, reporter);

        let superseded = [previous.map(|p| p.id), old_builder];
        self.prune(superseded.iter().flatten().filter(|id| **id != image.id), reporter).await;
        Ok(FullBuild::Built { reason: reason.to_string() })
    }

    /// The labels of the image a full build makes (its commits keep them): ours, with the
    /// image's `sources` when given; for a service of compose v2, compose's own too, as its
    /// build gives them — `docker compose down --rmi local` removes only images that carry
    /// them.
    pub(super) fn image_labels(&self, sources: Option<String>) -> HashMap<String, String> {
        let mut labels = HashMap::from([
            (LABEL_PROJECT.to_string(), self.project.label()),
            (LABEL_ROLE.to_string(), "image".to_string()),
        ]);
        labels.extend(sources.map(|s| (crate::project::LABEL_SOURCES.to_string(), s)));
        labels.extend(self.compose_labels(true));
        labels
    }

    /// Compose v2's labels of a service's image (`of_image`), or, for a container of ours made
    /// from that image, the same keys emptied: a container takes its image's labels, and one
    /// labelled as the service's would be one of the service's containers to compose
    /// (`compose ps`, `down`, its scale) and to our own recreate. Empty for other projects.
    pub(super) fn compose_labels(&self, of_image: bool) -> Vec<(String, String)> {
        let Some(service) = self.project.service.as_ref().filter(|s| s.version == ComposeVersion::V2) else {
            return Vec::new();
        };
        let value = |v: &str| if of_image { v.to_string() } else { String::new() };
        vec![
            ("com.docker.compose.project".to_string(), value(&service.project)),
            ("com.docker.compose.service".to_string(), value(&service.name)),
        ]
    }

    /// Replaces the builder by a fresh one from `image`, whose manifest records the sources
    /// the full build sent (`hashes`) and, for the first builder of a replayed image, what the
    /// replay starts from. Returns the old builder's image, for pruning.
    pub(super) async fn fresh_builder(
        &self,
        image: &ImageInfo,
        hashes: &HashMap<String, String>,
        assembly: Option<AssemblyRecord>,
    ) -> Result<(Option<String>, HostTree)> {
        let old_builder = self.engine.container(&self.project.builder_name()).await?;
        if let Some(old) = &old_builder {
            self.check_ours(&old.labels, &old.name)?;
            self.engine.remove_container(&old.id).await?;
        }
        let id = self.create_builder(image).await?;
        let tree = scan(&self.project.plan, &self.project.ignore, HashSource::Recorded(hashes))?;
        let mut manifest = Manifest::of(&tree, &self.project.recipe);
        manifest.assembly = assembly;
        // The bind mirrors are new and empty: the next cycle sends their files.
        forget_bind_mirrors(&mut manifest);
        self.write_manifest(&id, image, &manifest).await?;
        Ok((old_builder.map(|b| b.image_id), tree))
    }
}
