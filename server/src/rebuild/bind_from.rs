//! `RUN --mount=type=bind,from=STAGE` in a builder: the stage's folder, copied out of the
//! stage's image into the mount's mirror volume whenever a builder is made. The plan allows it
//! only for a stage that reads nothing from the context (else every change is a full build):
//! such a stage's files change only with a full build, which makes a new builder, so a fill
//! per builder keeps them current. `from=IMAGE` reads the engine's image the same way.

use std::collections::HashMap;

use super::stage_build::StageImages;
use super::Rebuilder;
use crate::error::{Error, ErrorKind, Result};
use crate::events::Event;
use crate::project::plan::StepMount;
use crate::sync::copy_from::{rewrite, CopyTarget};

impl Rebuilder {
    /// Fills the mirror of every `from=` bind mount of the steps in `builder` (just made, its
    /// mirror volumes empty).
    pub(super) async fn fill_bind_froms(&self, builder: &str) -> Result<()> {
        let mut binds: Vec<(&str, Option<usize>, &str, &str)> = Vec::new();
        for mount in self.project.plan.steps.iter().flat_map(|s| &s.mounts) {
            if let StepMount::BindFrom { from, stage, source, mirror, .. } = mount {
                if !binds.iter().any(|b| b.3 == mirror.as_str()) {
                    binds.push((from, *stage, source, mirror));
                }
            }
        }
        if binds.is_empty() {
            return Ok(());
        }
        let mut images: HashMap<String, String> = HashMap::new();
        let mut context: Option<StageImages> = None;
        for (from, stage, source, mirror) in binds {
            let image = match images.get(from) {
                Some(id) => id.clone(),
                None => {
                    let id = self.bind_from_image(from, stage, &mut context).await?;
                    images.insert(from.to_string(), id.clone());
                    id
                }
            };
            self.copy_into_mirror(builder, from, &image, source, mirror).await?;
        }
        Ok(())
    }

    /// The image a `from=` names: a stage's, by a BuildKit build of the context up to it
    /// (from BuildKit's cache after a full build), or the engine's image of that name.
    async fn bind_from_image(
        &self,
        from: &str,
        stage: Option<usize>,
        context: &mut Option<StageImages>,
    ) -> Result<String> {
        let Some(stage) = stage else {
            return match self.engine.image(from).await? {
                Some(image) => Ok(image.id),
                None => Err(Error::new(
                    ErrorKind::Engine,
                    format!(
                        "`RUN --mount=type=bind,from={from}` reads the image {from}, which the engine does not have"
                    ),
                    format!("pull it (`docker pull {from}`), or build it, then run again"),
                )),
            };
        };
        if context.is_none() {
            let packed = super::context::pack(&self.project)?;
            *context = Some(StageImages::BuildKit {
                tar: packed.tar,
                dockerfile: packed.dockerfile,
                builder_only: packed.builder_only,
            });
        }
        let images = context.as_ref().ok_or_else(|| Error::new(ErrorKind::Internal, "no context", "run again"))?;
        let whole = self.project.plan.stage_keywords.get(stage).map_or(0, Vec::len);
        self.stage_image(images, stage, whole, &mut |_: Event| {}).await
    }

    /// Copies `source` of `image` into the builder's `mirror` (its folder's contents, with
    /// their owners, modes and links, as BuildKit's bind mount shows them).
    async fn copy_into_mirror(&self, builder: &str, from: &str, image: &str, source: &str, mirror: &str) -> Result<()> {
        let info = self.engine.image(image).await?.ok_or_else(|| {
            Error::new(ErrorKind::Engine, format!("the image {image} vanished right after it was built"), "run again")
        })?;
        let container = self.never_started_of(&info).await?;
        let archive = self.engine.download(&container, source).await;
        // Nothing is left behind, whatever the copy gave.
        let removed = self.engine.remove_container(&container).await;
        let archive = archive?.ok_or_else(|| {
            Error::new(
                ErrorKind::ImageBuild,
                format!("`RUN --mount=type=bind,from={from},source={source}`: {from} has no {source}"),
                "check the mount's source (BuildKit fails the same way)",
            )
        })?;
        removed?;
        if !archive_root_is_folder(&archive) {
            return Err(Error::new(
                ErrorKind::Project,
                format!(
                    "`RUN --mount=type=bind,from={from},source={source}` binds a file; a builder mounts only folders \
                     from another stage"
                ),
                "bind the folder that holds it, or build with `--full` each time (`docker build` mounts it as a file)",
            ));
        }
        let target =
            CopyTarget { dest: mirror.to_string(), into_dir: false, make_dest: false, owner: None, mode: None };
        let (tar, _) = rewrite(&archive, &target)?;
        self.engine.upload(builder, tar).await
    }
}

/// Whether the engine's archive of a path is of a folder (its first entry).
fn archive_root_is_folder(archive: &[u8]) -> bool {
    let mut reader = tar::Archive::new(archive);
    let Ok(mut entries) = reader.entries() else { return false };
    entries.next().and_then(|e| e.ok()).is_some_and(|e| e.header().entry_type().is_dir())
}
