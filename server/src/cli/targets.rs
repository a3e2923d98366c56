//! What a command's `[DIR] [SERVICE...]` names: one project folder, or services of a compose
//! project. The folder given (or the current one) decides: the nearest compose file at or
//! above it wins over a Dockerfile, unless that Dockerfile is in a folder no service builds
//! (a project of its own that happens to sit under a compose folder).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};
use crate::project::compose::{self, BuildContext, ComposeOptions, Workspace};
use crate::project::service::ProjectSource;
use crate::project::Project;

/// compose's own flags, as `docker compose` takes them.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ComposeFlags {
    /// Compose file (repeatable), as `docker compose -f`; default: COMPOSE_FILE, else
    /// compose.yaml / docker-compose.yml (and its override file) in DIR.
    #[arg(short = 'f', long = "file", global = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Compose project name, as `docker compose -p`.
    #[arg(short = 'p', long = "project-name", global = true, value_name = "NAME")]
    pub project_name: Option<String>,
    /// Compose profile to enable (repeatable), as `docker compose --profile`.
    #[arg(long = "profile", global = true, value_name = "PROFILE")]
    pub profiles: Vec<String>,
    /// An environment file instead of the project's .env (repeatable, a later one winning), as
    /// `docker compose --env-file`; the recreate passes it on to compose.
    #[arg(long = "env-file", global = true, value_name = "PATH")]
    pub env_files: Vec<PathBuf>,
    /// The compose project's folder, as `docker compose --project-directory`: its compose
    /// files (without `-f`), .env and relative paths; default: the first compose file's folder.
    #[arg(long = "project-directory", global = true, value_name = "DIR")]
    pub project_directory: Option<PathBuf>,
}

/// One project a command runs on.
pub struct Target {
    pub source: ProjectSource,
    /// The compose service's name, when it is one (for headers and JSON).
    pub service: Option<String>,
}

/// Splits `[DIR] [SERVICE...]`: the first word is the folder when it names one (or looks like
/// a path), else every word is a service of the compose project in the current folder. A bare
/// name that is both a folder and a service of the compose project here (`api` built from
/// `./api`, the usual layout) is the service, as compose reads it.
pub fn split(words: &[String]) -> (PathBuf, Vec<String>) {
    let service_here = |name: &str| {
        let Some(dir) = std::env::current_dir().ok().and_then(|d| compose::find_dir(&d)) else { return false };
        let options = ComposeOptions { dir, env: std::env::vars().collect(), ..Default::default() };
        compose::load(&options).is_ok_and(|w| w.named(name).is_ok() || w.service(name).is_some())
    };
    match words.split_first() {
        Some((first, rest))
            if first.contains('/') || first == "." || (Path::new(first).is_dir() && !service_here(first)) =>
        {
            (PathBuf::from(first), rest.to_vec())
        }
        _ => (PathBuf::from("."), words.to_vec()),
    }
}

/// The projects `words` name. Compose services are only resolved here; their images are named
/// as the compose version in use names them (asked of `engine`).
pub async fn resolve(words: &[String], flags: &ComposeFlags, engine: Option<&Engine>) -> Result<Vec<Target>> {
    let (dir, services) = split(words);
    let start = dir.canonicalize().map_err(|e| {
        Error::new(ErrorKind::Project, format!("cannot open {}: {e}", dir.display()), "give an existing folder")
    })?;
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let compose_asked = !flags.files.is_empty() || env.get("COMPOSE_FILE").is_some_and(|f| !f.is_empty());
    let project_directory = flags
        .project_directory
        .as_ref()
        .map(|dir| {
            dir.canonicalize().map_err(|e| {
                Error::new(
                    ErrorKind::Compose,
                    format!("cannot open the --project-directory {}: {e}", dir.display()),
                    "give an existing folder",
                )
            })
        })
        .transpose()?;
    let compose_dir = if compose_asked {
        Some(start.clone())
    } else {
        project_directory.clone().or_else(|| compose::find_dir(&start))
    };
    let docker_dir = Project::find_dir(&start).ok();
    let Some(compose_dir) = compose_dir else {
        if let Some(service) = services.first() {
            return Err(Error::new(
                ErrorKind::Project,
                format!(
                    "`{service}` is not a folder, and there is no compose file in {} or above it to find a service in",
                    start.display()
                ),
                "give a project folder, or run in a compose project's folder to name its services",
            ));
        }
        let dir = Project::find_dir(&start).map_err(|_| no_project(&start))?;
        return Ok(vec![Target { source: ProjectSource::Folder(dir), service: None }]);
    };
    let options = ComposeOptions {
        dir: compose_dir.clone(),
        files: flags.files.clone(),
        project_name: flags.project_name.clone(),
        profiles: flags.profiles.clone(),
        env,
        // Relative to the folder we run in, as compose takes them.
        env_files: flags.env_files.iter().map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone())).collect(),
        project_directory,
    };
    // A Dockerfile folder below the compose folder: a service's context, or a project of its own.
    let nested = docker_dir.filter(|d| d != &compose_dir && d.starts_with(&compose_dir));
    // A compose file that does not load is an error even for a Dockerfile folder below it: that
    // folder is likely a service's context, and built on its own its image would get another
    // name than the one compose runs.
    let workspace = compose::load(&options)?;
    let named = !services.is_empty();
    let chosen: Vec<String> = if named {
        for name in &services {
            workspace.named(name)?;
        }
        services
    } else {
        let built = built_services(&workspace);
        match &nested {
            Some(inner) => {
                let here: Vec<String> = built
                    .iter()
                    .filter(|s| local_context(&workspace, s).is_some_and(|c| &c == inner))
                    .cloned()
                    .collect();
                if here.is_empty() && !compose_asked {
                    return Ok(vec![Target { source: ProjectSource::Folder(inner.clone()), service: None }]);
                }
                here
            }
            None => built,
        }
    };
    if chosen.is_empty() {
        let file = workspace.files.first().cloned().unwrap_or_default();
        return Err(Error::new(
            ErrorKind::Compose,
            format!("{}: no service has a `build:` section with a local context: nothing to rebuild", file.display()),
            "add `build: ./folder` to the service whose image is made from your sources",
        )
        .at(&file, 1));
    }
    let version = match engine {
        Some(engine) => crate::rebuild::compose_version(engine, &workspace).await,
        None => compose::ComposeVersion::V2,
    };
    // Services built alike are one build (`project/twins.rs`): a service named brings the
    // services built as it is, as in the editor, where they are grouped over the whole file.
    // Grouped over the named ones only, a twin named alone would be built apart, with a recipe
    // of its own that the group's builder does not hold — a full build each time — and the
    // other services of its build would stay on the old image.
    let groups = if named {
        let mut all = built_services(&workspace);
        all.extend(chosen.iter().filter(|s| !all.contains(s)).cloned().collect::<Vec<_>>());
        let groups = crate::project::twins::group(&workspace, &all);
        groups
            .into_iter()
            .filter(|(leader, twins)| chosen.contains(leader) || twins.iter().any(|t| chosen.contains(t)))
            .collect()
    } else {
        crate::project::twins::group(&workspace, &chosen)
    };
    Ok(groups
        .into_iter()
        .map(|(service, twins)| Target {
            source: ProjectSource::Service {
                options: options.clone(),
                service: service.clone(),
                twins,
                version: Some(version),
            },
            service: Some(service),
        })
        .collect())
}

/// The services compose builds from a local folder, in file order.
fn built_services(workspace: &Workspace) -> Vec<String> {
    workspace.services.iter().filter(|s| local_context(workspace, &s.name).is_some()).map(|s| s.name.clone()).collect()
}

fn local_context(workspace: &Workspace, service: &str) -> Option<PathBuf> {
    match &workspace.service(service)?.build.as_ref()?.context {
        BuildContext::Local(dir) => Some(dir.canonicalize().unwrap_or_else(|_| dir.clone())),
        BuildContext::Remote(_) => None,
    }
}

fn no_project(start: &Path) -> Error {
    Error::new(
        ErrorKind::Project,
        format!("no Dockerfile, rebuilder.toml or compose file in {} or any folder above it", start.display()),
        "run in a project folder, or give its path: `docker-rebuilder build DIR`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The groups `resolve` makes of `words` in a compose folder where web1 and web2 build
    /// alike from `web/` and `other` from `other/`: (the service built, its twins).
    async fn resolved(words: &[&str]) -> Vec<(String, Vec<String>)> {
        let dir = tempfile::tempdir().expect("tempdir");
        for context in ["web", "other"] {
            std::fs::create_dir_all(dir.path().join(context)).expect("mkdir");
            std::fs::write(dir.path().join(context).join("Dockerfile"), "FROM busybox\nCOPY . /app\n").expect("write");
        }
        let compose = "services:\n  web1:\n    build: ./web\n  other:\n    build: ./other\n  web2:\n    build: ./web\n";
        std::fs::write(dir.path().join("compose.yaml"), compose).expect("write");
        let mut args = vec![dir.path().to_string_lossy().into_owned()];
        args.extend(words.iter().map(|w| w.to_string()));
        let targets = resolve(&args, &ComposeFlags::default(), None).await.expect("resolves");
        targets
            .into_iter()
            .map(|t| match t.source {
                ProjectSource::Service { service, twins, .. } => (service, twins),
                ProjectSource::Folder(dir) => panic!("a folder: {}", dir.display()),
            })
            .collect()
    }

    fn group(leader: &str, twins: &[&str]) -> (String, Vec<String>) {
        (leader.to_string(), twins.iter().map(|t| t.to_string()).collect())
    }

    #[tokio::test]
    async fn a_service_named_brings_the_services_built_as_it_is() {
        assert_eq!(resolved(&[]).await, [group("web1", &["web2"]), group("other", &[])]);
        assert_eq!(resolved(&["web1"]).await, [group("web1", &["web2"])]);
        assert_eq!(resolved(&["web2"]).await, [group("web1", &["web2"])], "a twin named alone");
        assert_eq!(resolved(&["other"]).await, [group("other", &[])]);
        assert_eq!(resolved(&["web2", "other"]).await, [group("web1", &["web2"]), group("other", &[])]);
    }
}
