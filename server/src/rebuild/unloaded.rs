//! `clean` and `status` for a project whose Dockerfile, rebuilder.toml or compose file does not
//! load: what we made for it is found by its labels, so a broken recipe never strands a builder.

use std::path::{Path, PathBuf};

use super::CleanReport;
use crate::engine::{ContainerInfo, Engine, ImageInfo};
use crate::error::{Error, Result};
use crate::events::{Event, Reporter};
use crate::project::service::ProjectSource;
use crate::project::{builder_name, config::Config, plan::image_name, LABEL_PROJECT, LABEL_ROLE};

/// What exists of a project that does not load, and why it does not.
#[derive(Debug, Clone)]
pub struct UnloadedStatus {
    pub dir: PathBuf,
    /// The compose service, when it is one.
    pub service: Option<String>,
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

/// The project label values of `source`: the folder's; for a compose service (whose build
/// context the compose file, which does not load, would name), every label of ours for a
/// service of that name under the compose folder (`<context>#<service>`, see `ServiceBinding`).
async fn labels(engine: &Engine, source: &ProjectSource) -> Result<Vec<String>> {
    let dir = source.dir().canonicalize().unwrap_or_else(|_| source.dir().to_path_buf());
    let Some(service) = source.service() else { return Ok(vec![label(&dir)]) };
    service_labels(engine, &dir, &[service]).await
}

/// Every project label of ours (`<context>#<service>`) for one of `services` built from a
/// context in the compose folder `dir`, wherever in it that context is now or was (a
/// `build.context` moved) — but not in a folder of another compose project below `dir`.
pub(super) async fn service_labels(engine: &Engine, dir: &Path, services: &[&str]) -> Result<Vec<String>> {
    Ok(engine
        .label_values(LABEL_PROJECT)
        .await?
        .into_iter()
        .filter(|v| {
            v.rsplit_once('#').is_some_and(|(context, service)| {
                services.contains(&service) && in_this_compose_project(dir, Path::new(context))
            })
        })
        .collect())
}

/// Whether `context` is in the compose folder `dir` and in no other compose project's: no
/// folder from it up to `dir` (not included) holds a compose file.
fn in_this_compose_project(dir: &Path, context: &Path) -> bool {
    context.starts_with(dir)
        && context
            .ancestors()
            .take_while(|a| *a != dir)
            .all(|a| !crate::project::compose::COMPOSE_FILES.iter().any(|f| a.join(f).is_file()))
}

/// The image name without a plan: rebuilder.toml's `image` when it parses, else the default.
fn image_of(dir: &Path) -> String {
    let configured = Config::load(dir).ok().and_then(|c| c.image);
    image_name(configured.as_deref(), dir)
}

/// Containers we made for `source`: builders, and replay containers.
async fn ours(engine: &Engine, source: &ProjectSource) -> Result<Vec<ContainerInfo>> {
    let mut found = Vec::new();
    for label in labels(engine, source).await? {
        found.extend(builders_labelled(engine, &label).await?);
    }
    Ok(found)
}

/// Our builders and replay containers labelled with the project label `label`.
pub(super) async fn builders_labelled(engine: &Engine, label: &str) -> Result<Vec<ContainerInfo>> {
    let all = engine.containers_with_label(LABEL_PROJECT, label).await?;
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
    source: &ProjectSource,
    caches: bool,
    reporter: &mut dyn Reporter,
) -> Result<CleanReport> {
    let mut report = CleanReport::default();
    let mut removed = Vec::new();
    let dir = source.dir();
    for c in ours(engine, source).await? {
        engine.remove_container(&c.id).await?;
        removed.push(c.name);
    }
    if let (Some(hashes), None) = (crate::project::hash_cache_dir(), source.service()) {
        let prefix = builder_name(dir);
        for entry in std::fs::read_dir(hashes).into_iter().flatten().flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    for label in labels(engine, source).await? {
        report.volumes_removed.extend(super::housekeeping::remove_volumes(engine, &label, caches, reporter).await);
    }
    if removed.is_empty() {
        reporter.report(Event::Note(format!("no builder of {} to remove", dir.display())));
    } else {
        report.builder_removed = Some(removed.join(", "));
    }
    Ok(report)
}

/// What exists of the project in `dir`, which does not load because of `error`.
pub async fn status_unloaded(engine: &Engine, source: &ProjectSource, error: Error) -> Result<UnloadedStatus> {
    let dir = source.dir();
    let image = source.service_image().unwrap_or_else(|| image_of(dir));
    Ok(UnloadedStatus {
        dir: dir.to_path_buf(),
        service: source.service().map(str::to_string),
        image_info: engine.image(&image).await?,
        image,
        containers: ours(engine, source).await?,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_belongs_to_the_nearest_compose_folder_above_it() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path();
        for folder in ["api", "old/api", "other/svc"] {
            std::fs::create_dir_all(dir.join(folder)).expect("mkdir");
        }
        std::fs::write(dir.join("compose.yaml"), "services: {}\n").expect("write");
        std::fs::write(dir.join("other/docker-compose.yml"), "services: {}\n").expect("write");
        assert!(in_this_compose_project(dir, &dir.join("api")));
        assert!(in_this_compose_project(dir, &dir.join("old/api")), "a context the service had before");
        assert!(in_this_compose_project(dir, dir), "a context at the compose folder itself");
        assert!(!in_this_compose_project(dir, &dir.join("other/svc")), "another compose project's");
        assert!(!in_this_compose_project(dir, &dir.join("other")));
        assert!(!in_this_compose_project(&dir.join("api"), dir), "above the folder");
    }
}
