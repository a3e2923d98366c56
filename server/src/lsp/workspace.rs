//! Which projects exist, and which projects a file belongs to: in a workspace folder with a
//! compose file, every service whose build context holds it; elsewhere the innermost folder
//! with a Dockerfile or rebuilder.toml.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use tower_lsp_server::Client;

use super::project::{self, ProjectHandle};
use super::settings::ComposeSettings;
use crate::error::Error;
use crate::project::compose::{self, BuildContext};
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
    /// The client answers `workspace/configuration`: each folder's compose flags are read
    /// from its settings before its projects start.
    pub pull_settings: bool,
    pub projects: BTreeMap<ProjectId, ProjectHandle>,
    compose: BTreeMap<PathBuf, ComposeFolder>,
    /// Each folder's compose flags from the editor's settings (absent: compose's defaults).
    settings: BTreeMap<PathBuf, ComposeSettings>,
    /// Why a compose folder with no service session does not load, as last told to the
    /// client (a folder with sessions: they tell it).
    problems: BTreeMap<PathBuf, Error>,
    /// What the client has not yet been told: a folder's problem now, or None once it loads.
    problem_news: Vec<ProblemNews>,
}

/// A compose folder's load error appeared, changed or went away.
pub struct ProblemNews {
    pub folder: PathBuf,
    /// What was shown before (its location's diagnostics are to be cleared).
    pub before: Option<Error>,
    pub now: Option<Error>,
}

pub fn is_project_dir(dir: &Path) -> bool {
    dir.join("Dockerfile").is_file() || dir.join(CONFIG_FILE).is_file()
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

impl Workspace {
    /// A folder where compose finds a project (a compose file of a default name, COMPOSE_FILE
    /// set), or whose settings name compose files or a project directory.
    fn is_compose_dir(&self, dir: &Path) -> bool {
        self.settings.get(dir).is_some_and(ComposeSettings::names_files)
            || compose::finds_project_in(dir, &std::env::vars().collect())
    }

    /// `folder`'s compose flags are now `settings`. When they changed, the folder's sessions
    /// are stopped (their project resolves differently now) and its compose project is read
    /// again; returns whether that happened, so that the caller starts the folder's projects.
    pub fn set_settings(&mut self, folder: &Path, settings: ComposeSettings) -> bool {
        if self.settings.get(folder).cloned().unwrap_or_default() == settings {
            return false;
        }
        self.settings.insert(folder.to_path_buf(), settings);
        self.compose.remove(folder);
        let stale: Vec<ProjectId> = self.projects.keys().filter(|id| id.dir.starts_with(folder)).cloned().collect();
        for id in stale {
            if let Some(handle) = self.projects.remove(&id) {
                handle.session.stop();
            }
        }
        true
    }

    /// News of compose folders' load errors since the last call.
    pub fn take_problem_news(&mut self) -> Vec<ProblemNews> {
        std::mem::take(&mut self.problem_news)
    }

    /// Records whether `folder`'s compose project loads, as news when that changed.
    fn note_problem(&mut self, folder: &Path, now: Option<Error>) {
        let same = |a: &Error, b: &Error| a.cause == b.cause && a.fix == b.fix && a.location == b.location;
        let before = self.problems.get(folder);
        match (before, &now) {
            (None, None) => return,
            (Some(a), Some(b)) if same(a, b) => return,
            _ => {}
        }
        let before = match &now {
            Some(error) => self.problems.insert(folder.to_path_buf(), error.clone()),
            None => self.problems.remove(folder),
        };
        self.problem_news.push(ProblemNews { folder: folder.to_path_buf(), before, now });
    }

    /// Whether a service of `folder`'s compose project has a session (which reports its errors).
    fn has_service_sessions(&self, folder: &Path) -> bool {
        self.projects.keys().any(|id| id.dir == folder && id.service.is_some())
    }

    /// The projects of the workspace folders (see `initial_projects_of`).
    pub fn initial_projects(&mut self) -> Vec<ProjectId> {
        self.folders.clone().iter().flat_map(|folder| self.initial_projects_of(folder)).collect()
    }

    /// The projects of a workspace folder: each built service of a compose folder, else the
    /// folder itself when it is a project.
    pub fn initial_projects_of(&mut self, folder: &Path) -> Vec<ProjectId> {
        if self.is_compose_dir(folder) {
            let services = self.compose_folder(folder).map(|c| c.services.clone()).unwrap_or_default();
            return services
                .into_iter()
                .map(|(s, _)| ProjectId { dir: folder.to_path_buf(), service: Some(s) })
                .collect();
        }
        if is_project_dir(folder) {
            return vec![ProjectId::folder(folder)];
        }
        Vec::new()
    }

    /// The project `id`, its session started on first use.
    pub fn project(&mut self, id: &ProjectId, client: &Client) -> ProjectHandle {
        let options = self.settings.get(&id.dir).cloned().unwrap_or_default().options(&id.dir);
        self.projects
            .entry(id.clone())
            .or_insert_with(|| {
                let source = match &id.service {
                    Some(service) => ProjectSource::Service { options, service: service.clone(), version: None },
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
        if self.is_compose_dir(&folder) {
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
    /// it does not load: its services' sessions say why when they next build, and when it has
    /// none, the news of it goes to the client (`take_problem_news`).
    fn compose_folder(&mut self, folder: &Path) -> Option<&ComposeFolder> {
        let fresh = self
            .compose
            .get(folder)
            .is_some_and(|c| c.stamps.iter().all(|(file, stamp)| mtime(file) == *stamp) && !c.stamps.is_empty());
        if !fresh {
            let options = self.settings.get(folder).cloned().unwrap_or_default().options(folder);
            let workspace = match compose::load(&options) {
                Ok(workspace) => {
                    self.note_problem(folder, None);
                    workspace
                }
                Err(e) => {
                    self.compose.remove(folder);
                    if !self.has_service_sessions(folder) {
                        self.note_problem(folder, Some(e));
                    }
                    return None;
                }
            };
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
