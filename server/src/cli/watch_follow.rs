//! `watch` on a whole compose project follows its compose files, as the LSP does: a service
//! added to them while it runs is watched from then on, and services whose grouping changed
//! (one now builds as another: `project/twins.rs`) are watched again as the new groups. A
//! service removed keeps its session, which says why at its next cycle.
//!
//! Every second the front end compares the compose files' stamps (a few `stat`s), and reads
//! the project again only when one changed.

use std::path::PathBuf;
use std::time::SystemTime;

use super::targets::{self, ComposeFlags, Target};
use crate::engine::Engine;
use crate::error::ErrorKind;
use crate::project::compose;
use crate::project::service::ProjectSource;
use crate::rebuild::Rebuilder;

/// A compose project watched whole: what to resolve it again with, and its files' stamps.
pub struct Follow {
    words: Vec<String>,
    flags: ComposeFlags,
    stamps: Vec<(PathBuf, Option<SystemTime>)>,
    /// Services already there or already said not to be watched: a note is said once.
    known: Vec<String>,
}

/// A watched group: the service built, and its twins.
pub type Group = (String, Vec<String>);

/// What changed in the compose project's groups.
pub struct Regroup {
    /// Sessions to stop (by group): their services are in other groups now.
    pub stop: Vec<Group>,
    /// Groups to start watching, each with its rebuilder.
    pub start: Vec<(Target, Rebuilder)>,
    /// Services left out since: nothing to rebuild (their notes).
    pub notes: Vec<String>,
}

/// The group a target is, when it is a compose service.
pub fn group_of(target: &Target) -> Option<Group> {
    match &target.source {
        ProjectSource::Service { service, twins, .. } => Some((service.clone(), twins.clone())),
        ProjectSource::Folder(_) => None,
    }
}

impl Follow {
    /// For `watch WORDS` on `targets`: None unless they are a compose project's services taken
    /// whole (none named).
    pub fn of(words: &[String], flags: &ComposeFlags, targets: &[&Target]) -> Option<Follow> {
        if !targets::split(words).1.is_empty() {
            return None;
        }
        let options = targets.iter().find_map(|t| match &t.source {
            ProjectSource::Service { options, .. } => Some(options.clone()),
            ProjectSource::Folder(_) => None,
        })?;
        let workspace = compose::load(&options).ok()?;
        Some(Follow {
            words: words.to_vec(),
            flags: flags.clone(),
            stamps: stamps_of(&workspace, &options),
            // Those left out at the start were said to be then.
            known: workspace.services.iter().map(|s| s.name.clone()).collect(),
        })
    }

    /// When a compose file changed since the last look: the project read again and compared
    /// with `watched` (the groups running). None when nothing changed, or the
    /// project does not load (the sessions say why).
    pub async fn regroup(&mut self, watched: &[Group]) -> Option<Regroup> {
        if self.stamps.iter().all(|(file, stamp)| modified(file) == *stamp) {
            return None;
        }
        // Read once per change, even when it does not load (its sessions say why).
        for (file, stamp) in &mut self.stamps {
            *stamp = modified(file);
        }
        let engine = Engine::connect().await.ok()?;
        let resolved = targets::resolve(&self.words, &self.flags, Some(&engine)).await.ok()?;
        if let Some(options) = resolved.iter().find_map(|t| match &t.source {
            ProjectSource::Service { options, .. } => Some(options.clone()),
            ProjectSource::Folder(_) => None,
        }) {
            self.stamps = stamps(&options);
        }
        let (groups, targets): (Vec<Group>, Vec<Target>) =
            resolved.into_iter().filter_map(|t| group_of(&t).map(|g| (g, t))).unzip();
        let (stop, start) = compare(watched, &groups);
        let mut regroup = Regroup { stop, start: Vec::new(), notes: Vec::new() };
        for (index, target) in targets.into_iter().enumerate().filter(|(i, _)| start.contains(i)) {
            let group = &groups[index];
            let new = !self.known.contains(&group.0);
            if new {
                self.known.push(group.0.clone());
            }
            match target.source.load() {
                Ok(project) => regroup.start.push((target, Rebuilder::new(engine.clone(), project))),
                Err(_) if !new => {}
                Err(e) if e.kind == ErrorKind::NothingToRebuild => regroup.notes.push(format!("left out: {}", e.cause)),
                Err(e) => regroup.notes.push(format!("service {} is not watched: {}", group.0, e.one_line())),
            }
        }
        Some(regroup)
    }
}

/// The groups as the compose files say now (`now`) against those `watched`: the watched ones
/// to stop (a service of theirs is in another group now), and the indexes in `now` of those to
/// start (none of their services is in a watched group that goes on). A watched group none of
/// whose services is in `now` (removed from the file) goes on: its session says why.
fn compare(watched: &[Group], now: &[Group]) -> (Vec<Group>, Vec<usize>) {
    let members = |g: &Group| std::iter::once(g.0.clone()).chain(g.1.iter().cloned()).collect::<Vec<_>>();
    let shares = |a: &Group, b: &Group| members(a).iter().any(|s| members(b).contains(s));
    let stop: Vec<Group> =
        watched.iter().filter(|w| !now.contains(w) && now.iter().any(|g| shares(w, g))).cloned().collect();
    let kept: Vec<&Group> = watched.iter().filter(|w| !stop.contains(w)).collect();
    let start = (0..now.len()).filter(|&i| !kept.iter().any(|k| shares(k, &now[i]))).collect();
    (stop, start)
}

/// The compose project's files (compose files, .env, included files) and their stamps.
fn stamps(options: &compose::ComposeOptions) -> Vec<(PathBuf, Option<SystemTime>)> {
    compose::load(options).map(|workspace| stamps_of(&workspace, options)).unwrap_or_default()
}

fn stamps_of(workspace: &compose::Workspace, options: &compose::ComposeOptions) -> Vec<(PathBuf, Option<SystemTime>)> {
    let given = options.env_files.iter().cloned();
    let files = workspace.files.iter().cloned().chain(workspace.env_file.clone()).chain(workspace.included.clone());
    let files = files.chain(given);
    files.map(|f| (f.clone(), modified(&f))).collect()
}

fn modified(file: &PathBuf) -> Option<SystemTime> {
    std::fs::metadata(file).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(leader: &str, twins: &[&str]) -> Group {
        (leader.to_string(), twins.iter().map(|t| t.to_string()).collect())
    }

    #[test]
    fn groups_that_changed_stop_and_new_ones_start() {
        // Unchanged: nothing.
        assert_eq!(compare(&[g("api", &[])], &[g("api", &[])]), (vec![], vec![]));
        // A service added: only it starts.
        assert_eq!(compare(&[g("api", &[])], &[g("api", &[]), g("web", &[])]), (vec![], vec![1]));
        // A service added built as the API is: the API's group starts again with it.
        assert_eq!(compare(&[g("api", &[])], &[g("api", &["worker"])]), (vec![g("api", &[])], vec![0]));
        // Two watched apart now built alike: both stop, their group starts.
        assert_eq!(
            compare(&[g("api", &[]), g("worker", &[])], &[g("api", &["worker"])]),
            (vec![g("api", &[]), g("worker", &[])], vec![0])
        );
        // A twin whose build parted: its old group stops, both start on their own.
        assert_eq!(
            compare(&[g("api", &["worker"])], &[g("api", &[]), g("worker", &[])]),
            (vec![g("api", &["worker"])], vec![0, 1])
        );
        // A service removed from the file: its session goes on (it says why); nothing starts.
        assert_eq!(compare(&[g("api", &[]), g("old", &[])], &[g("api", &[])]), (vec![], vec![]));
    }
}
