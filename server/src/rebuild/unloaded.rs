//! `clean` and `status` for a project whose Dockerfile or rebuilder.toml does not load: what
//! we made for it is found by its labels, so a broken recipe never strands a builder.

use std::path::{Path, PathBuf};

use super::CleanReport;
use crate::engine::{ContainerInfo, Engine, ImageInfo};
use crate::error::{Error, Result};
use crate::events::{Event, Reporter};
use crate::project::{builder_name, config::Config, plan::image_name, LABEL_PROJECT, LABEL_ROLE};

/// What exists of a project that does not load, and why it does not.
#[derive(Debug, Clone)]
pub struct UnloadedStatus {
    pub dir: PathBuf,
    /// The image the project names (rebuilder.toml's `image`, when that file still parses).
    pub image: String,
    pub image_info: Option<ImageInfo>,
    /// Its builders (and replay containers a crash left), found by the project label.
    pub containers: Vec<ContainerInfo>,
    /// Why the project does not load.
    pub error: Error,
}

/// The project label's value for `dir` (its canonical path, as `Project::label`).
fn label(dir: &Path) -> String {
    dir.to_string_lossy().into_owned()
}

/// The image name without a plan: rebuilder.toml's `image` when it parses, else the default.
fn image_of(dir: &Path) -> String {
    let configured = Config::load(dir).ok().and_then(|c| c.image);
    image_name(configured.as_deref(), dir)
}

/// Containers we made for the project in `dir`: builders, and replay containers.
async fn ours(engine: &Engine, dir: &Path) -> Result<Vec<ContainerInfo>> {
    let all = engine.containers_with_label(LABEL_PROJECT, &label(dir)).await?;
    Ok(all
        .into_iter()
        .filter(|c| matches!(c.labels.get(LABEL_ROLE).map(String::as_str), Some("builder" | "replay")))
        .collect())
}

/// Removes every builder of the project in `dir` and the volumes that mirror its context
/// (`RUN --mount=type=bind`); cache volumes stay unless `caches`. The image tag stays. No
/// stage's state is kept: the recipe changed, so the next build is a full one anyway.
pub async fn clean_unloaded(
    engine: &Engine,
    dir: &Path,
    caches: bool,
    reporter: &mut dyn Reporter,
) -> Result<CleanReport> {
    let mut report = CleanReport::default();
    let mut removed = Vec::new();
    for c in ours(engine, dir).await? {
        engine.remove_container(&c.id).await?;
        removed.push(c.name);
    }
    if let Some(hashes) = crate::project::hash_cache_dir() {
        let prefix = builder_name(dir);
        for entry in std::fs::read_dir(hashes).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    report.volumes_removed = super::housekeeping::remove_volumes(engine, &label(dir), caches, reporter).await;
    if removed.is_empty() {
        reporter.report(Event::Note(format!("no builder of {} to remove", dir.display())));
    } else {
        report.builder_removed = Some(removed.join(", "));
    }
    Ok(report)
}

/// What exists of the project in `dir`, which does not load because of `error`.
pub async fn status_unloaded(engine: &Engine, dir: &Path, error: Error) -> Result<UnloadedStatus> {
    let image = image_of(dir);
    Ok(UnloadedStatus {
        dir: dir.to_path_buf(),
        image_info: engine.image(&image).await?,
        image,
        containers: ours(engine, dir).await?,
        error,
    })
}
