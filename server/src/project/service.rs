//! A compose service as a project: its build (context, Dockerfile, target, args, secrets)
//! and image name come from the compose file, as compose builds it; everything else is
//! inferred from the Dockerfile as for any project (a rebuilder.toml in the build context
//! still applies). Pure: which compose version names the image is decided by the caller.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::compose::{BuildContext, ComposeOptions, ComposeVersion, SecretSource, Service, Workspace};
use super::config::{Config, SecretEntry};
use super::Project;
use crate::error::{Error, ErrorKind, Result};

/// What a project knows of the compose service it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceBinding {
    /// The service's name in the compose file.
    pub name: String,
    /// The compose project's name, normalised as the compose version in use does.
    pub project: String,
    pub version: ComposeVersion,
    /// The compose project directory and the files compose reads (for recreating its
    /// containers when none records them, and for the watcher: a change reloads the project).
    pub workspace_dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub env_file: Option<PathBuf>,
    /// `container_name:`, when the service fixes one.
    pub container_name: Option<String>,
    /// Where the service is defined.
    pub file: PathBuf,
    pub line: usize,
    /// The service's build as compose gives it: what the recipe hash covers (a change to
    /// another service does not rebuild this one).
    build: ServiceBuild,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct ServiceBuild {
    image: String,
    dockerfile: PathBuf,
    target: Option<String>,
    args: BTreeMap<String, String>,
    secrets: BTreeMap<String, SecretEntry>,
}

/// How to load a project: a folder, or a service of a compose project.
#[derive(Debug, Clone)]
pub enum ProjectSource {
    Folder(PathBuf),
    /// `version`: which compose names the image; None until a session asks the engine (see
    /// `rebuild::compose_version`), v2's names meanwhile.
    Service {
        options: ComposeOptions,
        service: String,
        version: Option<ComposeVersion>,
    },
}

impl ProjectSource {
    /// The project as it is on disk now.
    pub fn load(&self) -> Result<Project> {
        match self {
            ProjectSource::Folder(dir) => Project::load(dir),
            ProjectSource::Service { options, service, version } => {
                let workspace = super::compose::load(options)?;
                load_service(&workspace, service, version.unwrap_or(ComposeVersion::V2))
            }
        }
    }

    /// The folder to show for it, and whose objects `clean` finds when it does not load.
    pub fn dir(&self) -> &Path {
        match self {
            ProjectSource::Folder(dir) => dir,
            ProjectSource::Service { options, .. } => &options.dir,
        }
    }

    /// The compose service, if it is one.
    pub fn service(&self) -> Option<&str> {
        match self {
            ProjectSource::Folder(_) => None,
            ProjectSource::Service { service, .. } => Some(service),
        }
    }
}

/// The project of `service` in `workspace`, its image named as compose `version` names it.
pub fn load_service(workspace: &Workspace, service: &str, version: ComposeVersion) -> Result<Project> {
    let service = workspace.named(service)?;
    let (binding, context) = binding(workspace, service, version)?;
    Project::load_bound(&context, Some(binding))
}

fn binding(workspace: &Workspace, service: &Service, version: ComposeVersion) -> Result<(ServiceBinding, PathBuf)> {
    let located = |cause: String, fix: &str| {
        Error::new(ErrorKind::Compose, format!("{}:{}: {cause}", service.file.display(), service.line), fix)
            .at(&service.file, service.line)
    };
    let Some(build) = &service.build else {
        return Err(located(
            format!(
                "the service `{}` has no `build:` section: compose pulls its image, nothing is built",
                service.name
            ),
            "name a service with `build:`; docker-rebuilder rebuilds the services compose builds",
        ));
    };
    let context = match &build.context {
        BuildContext::Local(dir) => dir.clone(),
        BuildContext::Remote(url) => {
            return Err(located(
                format!(
                    "the service `{}` builds from the remote context {url}: there are no local sources to mirror",
                    service.name
                ),
                "clone the repository and point `build.context` at the folder, or leave this service to compose",
            ))
        }
    };
    let root = workspace.dir.canonicalize().unwrap_or_else(|_| workspace.dir.clone());
    let context = context.canonicalize().map_err(|e| {
        located(
            format!("the build context {} of the service `{}` does not exist: {e}", context.display(), service.name),
            "correct `build.context` (compose would fail to build it too)",
        )
    })?;
    if !context.starts_with(&root) {
        return Err(located(
            format!(
                "the build context {} of the service `{}` is outside the compose folder {}",
                context.display(),
                service.name,
                root.display()
            ),
            "docker-rebuilder mirrors files only from inside the compose folder: run it in a folder that holds \
             both the compose file and the build context (e.g. the repository root)",
        ));
    }
    if build.dockerfile_inline.is_some() {
        return Err(located(
            format!("the service `{}` has an inline Dockerfile (`dockerfile_inline`)", service.name),
            "move the Dockerfile into a file in the build context and name it with `build.dockerfile`",
        ));
    }
    let dockerfile = context.join(&build.dockerfile);
    let inside = dockerfile.canonicalize().map(|d| d.starts_with(&context)).unwrap_or_else(|_| {
        !build.dockerfile.is_absolute() && !build.dockerfile.components().any(|c| c == std::path::Component::ParentDir)
    });
    if !inside {
        return Err(located(
            format!(
                "the Dockerfile {} of the service `{}` is outside its build context {}",
                build.dockerfile.display(),
                service.name,
                context.display()
            ),
            "move the Dockerfile into the build context (docker-rebuilder reads a service's files from its context)",
        ));
    }
    let secrets = build
        .secrets
        .iter()
        .map(|s| {
            let entry = match &s.source {
                SecretSource::File(path) => SecretEntry::File { file: path.display().to_string() },
                SecretSource::Env(var) => SecretEntry::Env { env: var.clone() },
            };
            (s.id.clone(), entry)
        })
        .collect();
    let binding = ServiceBinding {
        name: service.name.clone(),
        project: workspace.project_name(version),
        version,
        workspace_dir: root,
        files: workspace.files.clone(),
        env_file: workspace.env_file.clone(),
        container_name: service.container_name.clone(),
        file: service.file.clone(),
        line: service.line,
        build: ServiceBuild {
            image: workspace.image_name(service, version),
            dockerfile: build.dockerfile.clone(),
            target: build.target.clone(),
            args: build.args.clone(),
            secrets,
        },
    };
    Ok((binding, context))
}

impl ServiceBinding {
    /// The image compose runs the service from.
    pub fn image(&self) -> &str {
        &self.build.image
    }

    /// The compose file's build settings over rebuilder.toml's: compose builds the service
    /// with them, so the image must be built with them too.
    pub(super) fn apply(&self, config: &mut Config) {
        config.image = Some(self.build.image.clone());
        config.dockerfile = Some(self.build.dockerfile.clone());
        config.context = None;
        config.target = self.build.target.clone();
        for (k, v) in &self.build.args {
            config.build_args.insert(k.clone(), v.clone());
        }
        for (id, entry) in &self.build.secrets {
            config.secrets.insert(id.clone(), entry.clone());
        }
    }

    /// The recipe hash's part for the compose file: this service's build settings only.
    pub(super) fn recipe_part(&self) -> String {
        let text = format!("{:?}", self.build);
        Sha256::digest(text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The value of the project label for the service built from `context`: unique per
    /// service, so two services sharing a context have builders of their own.
    pub(super) fn label(&self, context: &Path) -> String {
        format!("{}#{}", context.to_string_lossy(), self.name)
    }

    /// The compose files (and .env) whose change reloads the project.
    pub(super) fn recipe_files(&self) -> Vec<PathBuf> {
        self.files.iter().cloned().chain(self.env_file.clone()).collect()
    }
}
