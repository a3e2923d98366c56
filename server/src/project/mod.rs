//! A project: a folder with a Dockerfile (or a `rebuilder.toml` pointing at one), its
//! configuration, and the plan inferred from them. Pure host-side knowledge; no Docker.

pub mod compose;
pub mod config;
pub mod dockerfile;
pub mod dockerignore;
pub mod glob;
pub mod image_builder;
pub mod plan;
pub mod service;
pub mod twins;

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};
use config::{Config, CONFIG_FILE};
use dockerignore::DockerIgnore;
use plan::Plan;
use service::ServiceBinding;

/// What every label of ours starts with.
pub const LABEL_PREFIX: &str = "dev.docker-rebuilder.";
/// Label on our containers and images: the project folder they belong to.
pub const LABEL_PROJECT: &str = "dev.docker-rebuilder.project";
/// Label saying what the object is to us: `builder` (container) or `image`.
pub const LABEL_ROLE: &str = "dev.docker-rebuilder.role";
/// Label on a builder stage's state image (what `clean` keeps of its builder): the stage.
pub const LABEL_STAGE: &str = "dev.docker-rebuilder.stage";
/// LABEL_ROLE of the volume that holds a `RUN --mount=type=cache` between cycles.
pub const ROLE_CACHE: &str = "cache";
/// LABEL_ROLE of a volume mirroring context files a `RUN --mount=type=bind` reads.
pub const ROLE_BIND: &str = "bind";
/// Label on a cache volume: the mount's cache id.
pub const LABEL_CACHE_ID: &str = "dev.docker-rebuilder.cache-id";
/// Label on committed images: the hash of the sources they were built from.
pub const LABEL_SOURCES: &str = "dev.docker-rebuilder.sources";

#[derive(Debug, Clone)]
pub struct Project {
    /// Canonical path of the project folder.
    pub dir: PathBuf,
    pub config: Config,
    pub plan: Plan,
    /// .dockerignore plus the config's `ignore`: what neither the image nor a sync sees.
    pub ignore: DockerIgnore,
    /// Hash of everything the image's recipe depends on besides the synced sources.
    pub recipe: String,
    /// The compose service this project is, if it is one (`dir` is then its build context).
    pub service: Option<ServiceBinding>,
}

impl Project {
    /// Finds the project containing `start`: the nearest folder, `start` or above, that
    /// holds a Dockerfile or a rebuilder.toml.
    pub fn discover(start: &Path) -> Result<Project> {
        Project::load(&Project::find_dir(start)?)
    }

    /// The folder `discover` loads the project from: the nearest folder, `start` or above,
    /// that holds a Dockerfile or a rebuilder.toml.
    pub fn find_dir(start: &Path) -> Result<PathBuf> {
        let start = start.canonicalize().map_err(|e| {
            Error::new(ErrorKind::Project, format!("cannot open {}: {e}", start.display()), "give an existing folder")
        })?;
        let dir = start
            .ancestors()
            .find(|d| d.join("Dockerfile").is_file() || d.join(CONFIG_FILE).is_file())
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::Project,
                    format!("no Dockerfile or {CONFIG_FILE} in {} or any folder above it", start.display()),
                    "run in a project folder that has a Dockerfile, or give its path: `docker-rebuilder build DIR`",
                )
            })?;
        Ok(dir.to_path_buf())
    }

    /// Loads the project whose folder is `dir`.
    pub fn load(dir: &Path) -> Result<Project> {
        Project::load_bound(dir, None)
    }

    /// Loads the project whose folder is `dir`; a compose service's build settings, when it
    /// is one, override rebuilder.toml's.
    pub(crate) fn load_bound(dir: &Path, service: Option<ServiceBinding>) -> Result<Project> {
        let dir = dir
            .canonicalize()
            .map_err(|e| Error::new(ErrorKind::Project, format!("cannot open {}: {e}", dir.display()), ""))?;
        let mut config = Config::load(&dir)?;
        if let Some(service) = &service {
            service.apply(&mut config);
        }
        let plan = Plan::infer(&dir, &config)?;
        let dockerignore_path = plan.context.join(".dockerignore");
        let dockerignore_text = std::fs::read_to_string(&dockerignore_path).unwrap_or_default();
        let ignore = DockerIgnore::parse(&dockerignore_text).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("{}:{}: invalid pattern `{}`: {}", dockerignore_path.display(), e.line, e.pattern, e.message),
                "correct the pattern (`docker build` would reject it too)",
            )
            .at(&dockerignore_path, e.line)
        })?;
        let ignore = ignore.with_extra_patterns(&plan.extra_ignore).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("{}: invalid `ignore` pattern `{}`: {}", dir.join(CONFIG_FILE).display(), e.pattern, e.message),
                "correct the pattern in rebuilder.toml",
            )
        })?;
        let mut recipe = recipe_hash(&dir, &plan, &dockerignore_text);
        if let Some(service) = &service {
            // A fourth part, only for services: a plain project's recipe stays what it was.
            recipe = format!("{recipe}-{}", service.recipe_part());
        }
        Ok(Project { dir, config, plan, ignore, recipe, service })
    }

    /// The builder container's name: readable, and unique per project path.
    pub fn builder_name(&self) -> String {
        match (&self.plan.assembly, self.plan.builder.and_then(|b| self.plan.builders.get(b))) {
            // A builder stage of a replayed image: one container per stage.
            // Named after the project's base name: two compose services built from one
            // context (other targets, other args) must not reach for one stage builder.
            (Some(_), Some(b)) => format!("{}-{}", self.base_name(), plan::sanitize_name(&b.stage.label())),
            _ => self.base_name(),
        }
    }

    /// The name every object of ours for this project starts with: readable, and unique per
    /// project path (and compose service).
    pub fn base_name(&self) -> String {
        match &self.service {
            Some(service) => {
                let digest = Sha256::digest(self.label().as_bytes());
                let short: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
                let project = plan::sanitize_name(&service.project);
                format!("docker-rebuilder-{project}-{}-{short}", plan::sanitize_name(&service.name))
            }
            None => builder_name(&self.dir),
        }
    }

    /// The builder containers' names: one, or one per builder stage of a replayed image.
    pub fn builder_names(&self) -> Vec<String> {
        if self.plan.assembly.is_none() {
            return vec![self.builder_name()];
        }
        (0..self.plan.builders.len())
            .map(|i| Project { plan: self.plan.builder_view(i), ..self.clone() }.builder_name())
            .collect()
    }

    /// Where one-shot runs keep the host files' content hashes between runs (see `HashCache`):
    /// `$XDG_CACHE_HOME/docker-rebuilder/hashes/<builder name>`, else under `~/.cache`.
    pub fn hash_cache_file(&self) -> Option<PathBuf> {
        Some(hash_cache_dir()?.join(self.builder_name()))
    }

    /// The value of LABEL_PROJECT for this project.
    pub fn label(&self) -> String {
        match &self.service {
            Some(service) => service.label(&self.dir),
            None => self.dir.to_string_lossy().into_owned(),
        }
    }

    /// Files whose change invalidates the image recipe (not mirrorable by a sync).
    pub fn recipe_files(&self) -> Vec<PathBuf> {
        let mut files =
            vec![self.plan.dockerfile.clone(), self.plan.context.join(".dockerignore"), self.dir.join(CONFIG_FILE)];
        if let Some(service) = &self.service {
            files.extend(service.recipe_files());
        }
        files
    }
}

/// Where the kept content hashes live: `$XDG_CACHE_HOME/docker-rebuilder/hashes`, else under
/// `~/.cache`.
pub fn hash_cache_dir() -> Option<PathBuf> {
    let absolute = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .and_then(absolute)
        .or_else(|| std::env::var_os("HOME").and_then(absolute).map(|home| home.join(".cache")))?;
    Some(cache.join("docker-rebuilder").join("hashes"))
}

/// The builder container's name for the project folder `dir` (canonical).
pub fn builder_name(dir: &Path) -> String {
    let folder = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let digest = Sha256::digest(dir.to_string_lossy().as_bytes());
    let short: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    format!("docker-rebuilder-{}-{short}", plan::sanitize_name(&folder))
}

/// The recipe's files, in the order `recipe_hash` hashes them.
const RECIPE_PARTS: [&str; 3] = ["the Dockerfile", ".dockerignore", CONFIG_FILE];

/// One short hash per recipe file, joined by `-`, so a change can be named.
fn recipe_hash(dir: &Path, plan: &Plan, dockerignore: &str) -> String {
    let parts = [
        std::fs::read(&plan.dockerfile).unwrap_or_default(),
        dockerignore.as_bytes().to_vec(),
        std::fs::read(dir.join(CONFIG_FILE)).unwrap_or_default(),
    ];
    let hashes: Vec<String> =
        parts.iter().map(|p| Sha256::digest(p).iter().take(8).map(|b| format!("{b:02x}")).collect()).collect();
    hashes.join("-")
}

/// Which recipe files differ between two recipe hashes, for a full build's reason.
pub fn recipe_change(old: &str, new: &str) -> String {
    let (old, new): (Vec<&str>, Vec<&str>) = (old.split('-').collect(), new.split('-').collect());
    if old.len() != new.len() {
        return "the Dockerfile, .dockerignore or rebuilder.toml changed since the image was built".to_string();
    }
    let changed: Vec<&str> =
        RECIPE_PARTS.iter().zip(old.iter().zip(&new)).filter(|(_, (o, n))| o != n).map(|(name, _)| *name).collect();
    let names = match changed.as_slice() {
        [] => return "the image's recipe changed".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    };
    format!("{names} changed since the image was built")
}

#[cfg(test)]
mod tests {
    use super::recipe_change;

    #[test]
    fn a_recipe_change_names_the_files_that_changed() {
        assert_eq!(recipe_change("a-b-c", "x-b-c"), "the Dockerfile changed since the image was built");
        assert_eq!(recipe_change("a-b-c", "a-y-c"), ".dockerignore changed since the image was built");
        assert_eq!(
            recipe_change("a-b-c", "a-y-z"),
            ".dockerignore and rebuilder.toml changed since the image was built"
        );
        // A manifest written by an older version (one combined hash).
        assert!(recipe_change("abc", "a-b-c").contains("the Dockerfile, .dockerignore or rebuilder.toml"));
    }

    /// Two services built from one multi-stage Dockerfile (other targets, as a monorepo's
    /// `api` and `worker`): each replayed from builder stages of its own.
    #[test]
    fn services_sharing_a_context_have_their_own_stage_builders() {
        use super::compose::{ComposeOptions, ComposeVersion};
        let dir = tempfile::tempdir().expect("tempdir");
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        write("app/src/main.c", "int main(void) { return 0; }\n");
        write(
            "app/Dockerfile",
            "FROM debian:bookworm-slim AS build\nWORKDIR /src\nCOPY src ./src\nRUN cc -o /out/app src/main.c\n\
             FROM debian:bookworm-slim AS api\nCOPY --from=build /out/app /app\nCMD [\"/app\"]\n\
             FROM debian:bookworm-slim AS worker\nCOPY --from=build /out/app /app\nCMD [\"/app\", \"work\"]\n",
        );
        write(
            "compose.yaml",
            "services:\n  api:\n    build:\n      context: ./app\n      target: api\n  worker:\n    build:\n      \
             context: ./app\n      target: worker\n",
        );
        let options = ComposeOptions { dir: dir.path().to_path_buf(), ..Default::default() };
        let workspace = super::compose::load(&options).expect("loads");
        let load = |name: &str| super::service::load_service(&workspace, name, &[], ComposeVersion::V2).expect("loads");
        let (api, worker) = (load("api"), load("worker"));
        assert!(api.plan.assembly.is_some(), "replayed from a builder stage");
        let (a, w) = (api.builder_names(), worker.builder_names());
        assert!(!a.is_empty() && a.iter().all(|n| !w.contains(n)), "{a:?} {w:?}");
    }
}
