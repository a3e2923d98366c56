//! Which projects exist, and which project a file belongs to (the innermost one).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tower_lsp_server::Client;

use super::project::{self, ProjectHandle};
use crate::project::config::CONFIG_FILE;

#[derive(Default)]
pub struct Workspace {
    pub folders: Vec<PathBuf>,
    pub projects: BTreeMap<PathBuf, ProjectHandle>,
}

pub fn is_project_dir(dir: &Path) -> bool {
    dir.join("Dockerfile").is_file() || dir.join(CONFIG_FILE).is_file()
}

impl Workspace {
    /// The workspace folders that are projects.
    pub fn initial_projects(&self) -> Vec<PathBuf> {
        self.folders.iter().filter(|f| is_project_dir(f)).cloned().collect()
    }

    /// The project of folder `dir`, its session started on first use.
    pub fn project(&mut self, dir: &Path, client: &Client) -> ProjectHandle {
        self.projects
            .entry(dir.to_path_buf())
            .or_insert_with(|| project::spawn(dir.to_path_buf(), client.clone()))
            .clone()
    }

    /// The innermost project containing `path`: the nearest folder at or above it, inside a
    /// workspace folder, that holds a Dockerfile or rebuilder.toml.
    pub fn project_of(&self, path: &Path) -> Option<PathBuf> {
        let folder = self.folders.iter().filter(|f| path.starts_with(f)).max_by_key(|f| f.components().count())?;
        path.ancestors().take_while(|a| a.starts_with(folder)).find(|a| is_project_dir(a)).map(Path::to_path_buf)
    }

    /// Every project known or discoverable in the workspace folders.
    pub fn all_projects(&self) -> Vec<PathBuf> {
        let mut all: Vec<PathBuf> = self.projects.keys().cloned().collect();
        for p in self.initial_projects() {
            if !all.contains(&p) {
                all.push(p);
            }
        }
        all
    }
}
