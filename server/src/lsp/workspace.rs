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

/// Where a workspace folder's files find their compose services (`Workspace::home`).
enum Home {
    /// The compose project in this folder (the workspace folder, or one above it).
    Compose(PathBuf),
    /// A compose project above that does not load: nothing in the folder builds until it does.
    Blocked,
    /// No compose project concerns the folder.
    Plain,
}

/// Whether a build context and a workspace folder overlap: one holds the other.
fn related(context: &Path, folder: &Path) -> bool {
    context.starts_with(folder) || folder.starts_with(context)
}

/// A workspace folder's compose project as last read, and the files' mtimes it was read at.
struct ComposeFolder {
    stamps: Vec<(PathBuf, Option<SystemTime>)>,
    /// Each service compose builds from a local context, and that context; of services built
    /// alike, the first only (`project/twins.rs`): its session builds for the others.
    services: Vec<(String, PathBuf)>,
    /// Each of `services`' twins.
    twins: BTreeMap<String, Vec<String>>,
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
    /// The twins each service session was started with (its group, when it started).
    started_twins: BTreeMap<ProjectId, Vec<String>>,
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
        // Its own projects, and the services of a compose project above it it was using.
        let stale: Vec<ProjectId> = self
            .projects
            .keys()
            .filter(|id| id.dir.starts_with(folder) || (id.service.is_some() && folder.starts_with(&id.dir)))
            .cloned()
            .collect();
        for id in stale {
            self.started_twins.remove(&id);
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

    /// The projects of a workspace folder: the services of its compose project (see `home`),
    /// else the folder itself when it is a project.
    pub fn initial_projects_of(&mut self, folder: &Path) -> Vec<ProjectId> {
        match self.home(folder) {
            Home::Compose(home) => {
                let services = self.compose_folder(&home).map(|c| c.services.clone()).unwrap_or_default();
                services
                    .into_iter()
                    .filter(|(_, context)| home == folder || related(context, folder))
                    .map(|(s, _)| ProjectId { dir: home.clone(), service: Some(s) })
                    .collect()
            }
            Home::Blocked => Vec::new(),
            Home::Plain if is_project_dir(folder) => vec![ProjectId::folder(folder)],
            Home::Plain => Vec::new(),
        }
    }

    /// Which compose project a workspace folder's files belong to: the folder's own, when
    /// compose finds one there; else, for a folder whose settings name none, the one compose
    /// run in the folder finds above it, when one of its services builds from inside the
    /// folder or from a context holding it (a user who opened a service's folder: built on its
    /// own, its image would not be the one compose runs). One above that does not load blocks
    /// the folder, as in the CLI, until it is fixed (the client is told why).
    fn home(&mut self, folder: &Path) -> Home {
        if self.is_compose_dir(folder) {
            return Home::Compose(folder.to_path_buf());
        }
        if self.settings.get(folder).is_some_and(|s| *s != ComposeSettings::default()) {
            return Home::Plain;
        }
        // As compose run in the folder looks upward (the folder's own .env was read above).
        let above = folder
            .ancestors()
            .skip(1)
            .find(|d| compose::COMPOSE_FILES.iter().any(|f| d.join(f).is_file()))
            .map(Path::to_path_buf);
        let Some(above) = above else { return Home::Plain };
        match self.compose_folder(&above) {
            None => Home::Blocked,
            Some(c) if c.services.iter().any(|(_, context)| related(context, folder)) => Home::Compose(above),
            Some(_) => Home::Plain,
        }
    }

    /// The project `id`, its session started on first use.
    pub fn project(&mut self, id: &ProjectId, client: &Client) -> ProjectHandle {
        let twins = self.twins_of(id);
        let (settings, manual) = (&self.settings, self.manual);
        let started_twins = &mut self.started_twins;
        self.projects
            .entry(id.clone())
            .or_insert_with(|| {
                let source = match &id.service {
                    Some(service) => {
                        let options = settings.get(&id.dir).cloned().unwrap_or_default().options(&id.dir);
                        started_twins.insert(id.clone(), twins.clone());
                        ProjectSource::Service { options, service: service.clone(), twins, version: None }
                    }
                    None => ProjectSource::Folder(id.dir.clone()),
                };
                project::spawn(source, client.clone(), !manual)
            })
            .clone()
    }

    /// The twins of the service `id` as its compose folder was last read.
    fn twins_of(&self, id: &ProjectId) -> Vec<String> {
        let service = id.service.as_ref();
        let compose = self.compose.get(&id.dir);
        service.and_then(|s| compose?.twins.get(s)).cloned().unwrap_or_default()
    }

    /// After `folder`'s compose project was read again: the sessions of its services whose
    /// group changed (a twin now, or other twins) stop, so that the next use starts them with
    /// the group as it is; a service no longer built keeps its session, which says why.
    fn regroup(&mut self, folder: &Path) {
        let Some(compose) = self.compose.get(folder) else { return };
        let twin_now = |s: &String| compose.twins.values().any(|twins| twins.contains(s));
        let stale: Vec<ProjectId> = self
            .started_twins
            .iter()
            .filter(|(id, started)| {
                id.dir == folder
                    && id
                        .service
                        .as_ref()
                        .is_some_and(|s| twin_now(s) || compose.twins.get(s).is_some_and(|now| now != *started))
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in stale {
            self.started_twins.remove(&id);
            if let Some(handle) = self.projects.remove(&id) {
                handle.session.stop();
            }
        }
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
        match self.home(&folder) {
            Home::Compose(home) => {
                if let Some(compose) = self.compose_folder(&home) {
                    let concerns_all = compose.files.iter().any(|f| f == path);
                    let services: Vec<ProjectId> = compose
                        .services
                        .iter()
                        .filter(|(_, context)| concerns_all || path.starts_with(context))
                        .map(|(s, _)| ProjectId { dir: home.clone(), service: Some(s.clone()) })
                        .collect();
                    if !services.is_empty() {
                        return services;
                    }
                }
            }
            Home::Blocked => return Vec::new(),
            Home::Plain => {}
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
            let built: Vec<(String, PathBuf)> = workspace
                .services
                .iter()
                .filter_map(|s| match &s.build.as_ref()?.context {
                    BuildContext::Local(dir) => {
                        Some((s.name.clone(), dir.canonicalize().unwrap_or_else(|_| dir.clone())))
                    }
                    BuildContext::Remote(_) => None,
                })
                .collect();
            let names: Vec<String> = built.iter().map(|(s, _)| s.clone()).collect();
            let twins: BTreeMap<String, Vec<String>> =
                crate::project::twins::group(&workspace, &names).into_iter().collect();
            let services = built.into_iter().filter(|(s, _)| twins.contains_key(s)).collect();
            let stamps = files.iter().map(|f| (f.clone(), mtime(f))).collect();
            self.compose.insert(folder.to_path_buf(), ComposeFolder { stamps, services, twins, files });
            self.regroup(folder);
        }
        self.compose.get(folder)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    #[test]
    fn a_file_of_services_built_alike_belongs_to_the_first_one_until_their_builds_part() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        write(&root.join("api/Dockerfile"), "FROM debian:bookworm-slim\nCOPY src /src\nRUN make -C /src\n");
        write(&root.join("api/src/main.c"), "int main(void) { return 0; }\n");
        let compose = root.join("compose.yaml");
        write(&compose, "services:\n  web:\n    build: ./api\n  worker:\n    build: ./api\n    command: work\n");
        let mut ws = Workspace { folders: vec![root.clone()], ..Default::default() };
        let id = |service: &str| ProjectId { dir: root.clone(), service: Some(service.to_string()) };
        assert_eq!(ws.initial_projects(), [id("web")]);
        assert_eq!(ws.projects_of(&root.join("api/src/main.c")), [id("web")]);
        assert_eq!(ws.twins_of(&id("web")), ["worker"]);

        // Another target for the worker: two builds, two projects.
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(
            &compose,
            "services:\n  web:\n    build: ./api\n  worker:\n    build:\n      context: ./api\n      target: job\n",
        );
        assert_eq!(ws.projects_of(&root.join("api/src/main.c")), [id("web"), id("worker")]);
        assert!(ws.twins_of(&id("web")).is_empty());
    }
}
