//! Which projects exist, and which projects a file belongs to: in a workspace folder with a
//! compose file, every service whose build context holds it; elsewhere the innermost folder
//! with a Dockerfile or rebuilder.toml.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tower_lsp_server::Client;

use super::project::{self, ProjectHandle};
use crate::project::compose::{self, BuildContext, ComposeOptions};
use crate::project::config::CONFIG_FILE;
use crate::project::service::ProjectSource;

/// A project: a folder, or a service of the compose project in a folder.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProjectId {
    pub dir: PathBuf,
    pub service: Option<String>,
}

impl ProjectId {
    fn folder(dir: &Path) -> ProjectId {
        ProjectId { dir: dir.to_path_buf(), service: None }
    }

    pub fn describe(&self) -> String {
        match &self.service {
            Some(service) => format!("service {service} of {}", self.dir.display()),
            None => self.dir.display().to_string(),
        }
    }
}

/// A workspace folder's compose project as last read, and the files' mtimes it was read at.
struct ComposeFolder {
    stamps: Vec<(PathBuf, Option<SystemTime>)>,
    /// Each service compose builds from a local context, and that context.
    services: Vec<(String, PathBuf)>,
    /// The compose project's files (and .env): a change to one concerns every service.
    files: Vec<PathBuf>,
}

#[derive(Default)]
pub struct Workspace {
    pub folders: Vec<PathBuf>,
    /// The client's `rebuildOnSave: false` (initializationOptions): projects build only when
    /// a command asks; no save and no file watcher starts a cycle.
    pub manual: bool,
    pub projects: BTreeMap<ProjectId, ProjectHandle>,
    compose: BTreeMap<PathBuf, ComposeFolder>,
}

pub fn is_project_dir(dir: &Path) -> bool {
    dir.join("Dockerfile").is_file() || dir.join(CONFIG_FILE).is_file()
}

fn is_compose_dir(dir: &Path) -> bool {
    compose::COMPOSE_FILES.iter().any(|f| dir.join(f).is_file())
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn options(dir: &Path) -> ComposeOptions {
    ComposeOptions { dir: dir.to_path_buf(), env: std::env::vars().collect(), ..Default::default() }
}

impl Workspace {
    /// The projects of the workspace folders: each built service of a compose folder, else
    /// the folder itself when it is a project.
    pub fn initial_projects(&mut self) -> Vec<ProjectId> {
        let mut all = Vec::new();
        for folder in self.folders.clone() {
            if is_compose_dir(&folder) {
                let services = self.compose_folder(&folder).map(|c| c.services.clone()).unwrap_or_default();
                all.extend(services.into_iter().map(|(s, _)| ProjectId { dir: folder.clone(), service: Some(s) }));
            } else if is_project_dir(&folder) {
                all.push(ProjectId::folder(&folder));
            }
        }
        all
    }

    /// The project `id`, its session started on first use.
    pub fn project(&mut self, id: &ProjectId, client: &Client) -> ProjectHandle {
        self.projects
            .entry(id.clone())
            .or_insert_with(|| {
                let source = match &id.service {
                    Some(service) => {
                        ProjectSource::Service { options: options(&id.dir), service: service.clone(), version: None }
                    }
                    None => ProjectSource::Folder(id.dir.clone()),
                };
                project::spawn(source, client.clone(), !self.manual)
            })
            .clone()
    }

    /// The projects `path` belongs to: in a compose workspace folder, every service whose
    /// build context holds it (all of them for the compose files themselves); else the
    /// innermost project folder containing it, inside a workspace folder.
    pub fn projects_of(&mut self, path: &Path) -> Vec<ProjectId> {
        let Some(folder) =
            self.folders.iter().filter(|f| path.starts_with(f)).max_by_key(|f| f.components().count()).cloned()
        else {
            return Vec::new();
        };
        if is_compose_dir(&folder) {
            if let Some(compose) = self.compose_folder(&folder) {
                let concerns_all = compose.files.iter().any(|f| f == path);
                let services: Vec<ProjectId> = compose
                    .services
                    .iter()
                    .filter(|(_, context)| concerns_all || path.starts_with(context))
                    .map(|(s, _)| ProjectId { dir: folder.clone(), service: Some(s.clone()) })
                    .collect();
                if !services.is_empty() {
                    return services;
                }
            }
        }
        path.ancestors()
            .take_while(|a| a.starts_with(&folder))
            .find(|a| is_project_dir(a))
            .map(|dir| vec![ProjectId::folder(dir)])
            .unwrap_or_default()
    }

    /// Every project known or discoverable in the workspace folders.
    pub fn all_projects(&mut self) -> Vec<ProjectId> {
        let mut all: Vec<ProjectId> = self.projects.keys().cloned().collect();
        for p in self.initial_projects() {
            if !all.contains(&p) {
                all.push(p);
            }
        }
        all
    }

    /// The compose project of `folder`, read again when one of its files changed. None when
    /// it does not load (its services' sessions say why when they next build).
    fn compose_folder(&mut self, folder: &Path) -> Option<&ComposeFolder> {
        let fresh = self
            .compose
            .get(folder)
            .is_some_and(|c| c.stamps.iter().all(|(file, stamp)| mtime(file) == *stamp) && !c.stamps.is_empty());
        if !fresh {
            let workspace = compose::load(&options(folder)).ok()?;
            let files: Vec<PathBuf> = workspace
                .files
                .iter()
                .cloned()
                .chain(workspace.env_file.clone())
                .chain(workspace.included.clone())
                .collect();
            let services = workspace
                .services
                .iter()
                .filter_map(|s| match &s.build.as_ref()?.context {
                    BuildContext::Local(dir) => {
                        Some((s.name.clone(), dir.canonicalize().unwrap_or_else(|_| dir.clone())))
                    }
                    BuildContext::Remote(_) => None,
                })
                .collect();
            let stamps = files.iter().map(|f| (f.clone(), mtime(f))).collect();
            self.compose.insert(folder.to_path_buf(), ComposeFolder { stamps, services, files });
        }
        self.compose.get(folder)
    }
}
