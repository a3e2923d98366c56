//! Watches the build context and the project's control files, and hands changes over in
//! batches once the file system has gone quiet.
//!
//! Directories are watched one by one, never with a recursive watch over the whole tree: what
//! `.dockerignore` excludes entirely (`node_modules`, `target`) and `.git` get no watch, so they
//! cannot use up the inotify watches. Events pass a relevance filter (ignore rules, editor
//! temporary files) and are batched on a thread that blocks on its channel, so an idle watcher
//! costs nothing.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::{Component, Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;

use notify::event::{AccessKind, AccessMode, ModifyKind, RenameMode};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use crate::error::{Error, ErrorKind, Result};
use crate::project::dockerignore::DockerIgnore;
use crate::project::Project;

mod batcher;
mod editor_temp;
mod shared;

use batcher::Batcher;
pub use editor_temp::is_editor_temp;
pub use shared::Subscription;

/// What to watch: the build context (recursively, except what .dockerignore excludes entirely)
/// and the project's control files, which matter even when ignored or outside the context.
#[derive(Debug, Clone)]
pub struct WatchSpec {
    /// Canonical, absolute.
    pub context: PathBuf,
    /// E.g. Dockerfile, .dockerignore, rebuilder.toml (absolute; may not exist yet).
    pub control_files: Vec<PathBuf>,
    /// `is_excluded(rel)` / `may_descend(rel_dir)` with '/'-separated context-relative paths.
    pub ignore: DockerIgnore,
    /// Our own cache folder (`$XDG_CACHE_HOME/docker-rebuilder`), canonical, never watched: we
    /// write to it after cycles, so were it inside the context (a cache folder kept in the
    /// project), its changes would start the next cycle, and that one the next, forever.
    pub own_cache: Option<PathBuf>,
}

impl WatchSpec {
    /// What to watch for `project`: its context through its ignore rules, and its recipe files.
    pub fn of(project: &Project) -> WatchSpec {
        WatchSpec {
            context: project.plan.context.clone(),
            control_files: project.recipe_files(),
            ignore: project.ignore.clone(),
            own_cache: crate::project::hash_cache_dir()
                .and_then(|hashes| hashes.parent().map(Path::to_path_buf))
                .map(|dir| dir.canonicalize().unwrap_or(dir)),
        }
    }
}

/// Changes seen together, after the file system went quiet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// Absolute host paths that were created/modified/deleted/renamed (both sides of a rename).
    pub paths: BTreeSet<PathBuf>,
    /// Events may have been lost (inotify queue overflow, or a watch could not be added): the
    /// consumer must rescan everything.
    pub rescan: bool,
}

/// A running watch; dropping it stops watching and ends the receiver.
pub struct Watcher {
    state: Arc<Mutex<State>>,
    /// Lets tests inject what inotify cannot be made to produce on demand (a queue overflow).
    #[cfg(test)]
    events: mpsc::Sender<notify::Result<notify::Event>>,
}

impl Watcher {
    /// Watches `spec` and starts batching. Fails only when the context itself cannot be watched;
    /// a directory below it that cannot be watched makes the first batch a rescan instead.
    /// Walks the context, so it blocks for as long as that takes.
    pub fn start(spec: WatchSpec) -> Result<(Watcher, UnboundedReceiver<Batch>)> {
        let (events_tx, events_rx) = mpsc::channel();
        #[cfg(test)]
        let handler = events_tx.clone();
        #[cfg(not(test))]
        let handler = events_tx;
        let notify = RecommendedWatcher::new(handler, notify::Config::default()).map_err(|err| {
            Error::new(
                ErrorKind::Io,
                format!("cannot watch files for changes: {err}"),
                "raise the inotify instance limit (`sudo sysctl fs.inotify.max_user_instances=1024`) \
                 or stop other programs that watch files",
            )
        })?;
        let mut state = State { notify, spec, controls: Vec::new(), watched: HashSet::new(), lost: false };
        state.watch_root()?;
        state.rewatch();
        let state = Arc::new(Mutex::new(state));
        let (batches_tx, batches_rx) = unbounded_channel();
        let batcher = Batcher::new(Arc::downgrade(&state), events_rx, batches_tx);
        thread::Builder::new()
            .name("docker-rebuilder-watcher".into())
            .spawn(move || batcher.run())
            .map_err(|err| Error::io("cannot start the file watcher thread", err))?;
        let watcher = Watcher {
            state,
            #[cfg(test)]
            events: events_tx,
        };
        Ok((watcher, batches_rx))
    }

    /// New spec (after .dockerignore or the Dockerfile changed): re-registers directory watches,
    /// adding newly included directories and dropping now-excluded ones. Blocks while it walks.
    pub fn update(&self, spec: WatchSpec) {
        let mut state = lock(&self.state);
        state.spec = spec;
        state.rewatch();
    }

    /// The directories currently watched, sorted (for diagnostics and tests).
    pub fn watched_dirs(&self) -> Vec<PathBuf> {
        let mut dirs: Vec<PathBuf> = lock(&self.state).watched.iter().cloned().collect();
        dirs.sort();
        dirs
    }
}

/// What the watch threads share: the inotify watcher and what it watches.
struct State {
    notify: RecommendedWatcher,
    spec: WatchSpec,
    /// Each control file as its events name it (canonical parent), and as the spec gives it.
    controls: Vec<(PathBuf, PathBuf)>,
    /// Directories with a watch, as their events name them.
    watched: HashSet<PathBuf>,
    /// A watch could not be added since the last batch: events may be missing.
    lost: bool,
}

impl State {
    /// Watches the context directory itself: without it there is nothing to watch.
    fn watch_root(&mut self) -> Result<()> {
        let context = self.spec.context.clone();
        match self.notify.watch(&context, RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.watched.insert(context);
                Ok(())
            }
            Err(err) => {
                let why = match err.kind {
                    notify::ErrorKind::MaxFilesWatch => "the inotify watch limit is reached".to_string(),
                    _ => err.to_string(),
                };
                Err(Error::new(
                    ErrorKind::Io,
                    format!("cannot watch the build context {}: {why}", context.display()),
                    "check that the directory exists and is readable; if the inotify watch limit is reached, \
                     raise it (`sudo sysctl fs.inotify.max_user_watches=524288`, and in /etc/sysctl.d to keep it)",
                ))
            }
        }
    }

    /// Brings the watches in line with the spec: the context's tree and the control files'
    /// directories get one, directories no longer wanted lose theirs.
    fn rewatch(&mut self) {
        self.controls = self.spec.control_files.iter().map(|file| (as_watched(file), file.clone())).collect();
        let mut keep = HashSet::new();
        let context = self.spec.context.clone();
        self.watch_tree(&context, None, &mut keep);
        let parents: Vec<PathBuf> =
            self.controls.iter().filter_map(|(file, _)| file.parent()).map(Into::into).collect();
        for parent in parents {
            if parent.is_dir() && self.add_watch(&parent) {
                keep.insert(parent);
            }
        }
        let stale: Vec<PathBuf> = self.watched.iter().filter(|dir| !keep.contains(*dir)).cloned().collect();
        for dir in stale {
            // An error means inotify already dropped it (the directory went away).
            let _ = self.notify.unwatch(&dir);
            self.watched.remove(&dir);
        }
    }

    /// Watches `top` and every directory below it that the rules keep, adding each watch before
    /// listing the directory so nothing created meanwhile goes unseen. With `found`, collects the
    /// relevant paths already there: they were created before any watch could report them.
    fn watch_tree(&mut self, top: &Path, mut found: Option<&mut BTreeSet<PathBuf>>, seen: &mut HashSet<PathBuf>) {
        let mut stack = vec![top.to_path_buf()];
        while let Some(dir) = stack.pop() {
            let control_parent = self.controls.iter().any(|(file, _)| file.parent() == Some(dir.as_path()));
            if !(self.wants_dir(&dir) || control_parent) || !self.add_watch(&dir) {
                continue;
            }
            let Ok(entries) = fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if let Some(found) = found.as_deref_mut() {
                    found.extend(self.reported(&path));
                }
                if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
                    stack.push(path);
                }
            }
            seen.insert(dir);
        }
    }

    /// Adds a directory watch unless there is one; false when there is none afterwards.
    fn add_watch(&mut self, dir: &Path) -> bool {
        if self.watched.contains(dir) {
            return true;
        }
        match self.notify.watch(dir, RecursiveMode::NonRecursive) {
            Ok(()) => {
                self.watched.insert(dir.to_path_buf());
                true
            }
            Err(err) => {
                // A directory that vanished meanwhile has its own remove event; anything else
                // (the watch limit above all) leaves part of the tree unwatched.
                let vanished = match &err.kind {
                    notify::ErrorKind::PathNotFound => true,
                    notify::ErrorKind::Io(io) => io.kind() == std::io::ErrorKind::NotFound,
                    _ => false,
                };
                self.lost |= !vanished;
                false
            }
        }
    }

    /// Inotify dropped the watches of a removed or moved-away directory and all below it.
    fn forget(&mut self, path: &Path) {
        if self.watched.remove(path) {
            self.watched.retain(|dir| !dir.starts_with(path));
        }
    }

    /// A directory inside the context, not in `.git`, that .dockerignore does not exclude entirely.
    fn wants_dir(&self, dir: &Path) -> bool {
        let Some(rel) = self.relative(dir) else { return false };
        if self.is_own_cache(dir) {
            return false;
        }
        rel.is_empty() || !self.spec.ignore.is_excluded(&rel) || self.spec.ignore.may_descend(&rel)
    }

    fn is_own_cache(&self, path: &Path) -> bool {
        self.spec.own_cache.as_ref().is_some_and(|cache| path.starts_with(cache))
    }

    /// The context-relative, '/'-separated form of `path`; None outside the context or in `.git`.
    fn relative(&self, path: &Path) -> Option<String> {
        let rel = path.strip_prefix(&self.spec.context).ok()?;
        let mut parts = Vec::new();
        for component in rel.components() {
            match component {
                Component::Normal(name) if name != ".git" => parts.push(name.to_string_lossy()),
                _ => return None,
            }
        }
        Some(parts.join("/"))
    }

    /// The path to report for an event on `path`, if it is one the consumer cares about.
    fn reported(&self, path: &Path) -> Option<PathBuf> {
        if let Some((_, given)) = self.controls.iter().find(|(watched, _)| watched == path) {
            return Some(given.clone());
        }
        let rel = self.relative(path)?;
        let name = path.file_name()?.to_string_lossy();
        if rel.is_empty() || is_editor_temp(&name) || self.is_own_cache(path) {
            return None;
        }
        // An excluded directory that is watched may hold included files: its removal matters.
        let included = !self.spec.ignore.is_excluded(&rel) || self.watched.contains(path);
        included.then(|| path.to_path_buf())
    }

    /// Takes one event: collects its relevant paths into `found` and keeps the watches in step
    /// (new directories get theirs, removed ones are forgotten). True when events may be lost.
    fn absorb(&mut self, event: notify::Result<notify::Event>, found: &mut BTreeSet<PathBuf>) -> bool {
        let event = match event {
            Ok(event) if !event.need_rescan() => event,
            _ => {
                // Lost events may include directories created meanwhile: they need their watches.
                self.rewatch();
                self.lost = false;
                return true;
            }
        };
        if !is_change(&event.kind) {
            return false;
        }
        let mut rescan = false;
        let gone = matches!(event.kind, EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(RenameMode::From)));
        let appeared = matches!(event.kind, EventKind::Create(_) | EventKind::Modify(ModifyKind::Name(_)));
        for path in &event.paths {
            // Reported before forgetting: a watched excluded directory is reported as such.
            found.extend(self.reported(path));
            if *path == self.spec.context && gone {
                // The context itself went: nothing below it is watched any more.
                rescan = true;
            }
            if gone {
                self.forget(path);
            }
            let is_dir = fs::symlink_metadata(path).is_ok_and(|meta| meta.is_dir());
            if appeared && is_dir && !self.watched.contains(path) {
                self.watch_tree(path, Some(found), &mut HashSet::new());
            }
        }
        rescan | std::mem::take(&mut self.lost)
    }
}

/// The path events will use for a control file: inotify names a directory by the path its
/// watch was added with, and the context's watches use canonical paths.
fn as_watched(file: &Path) -> PathBuf {
    match (file.parent().and_then(|parent| parent.canonicalize().ok()), file.file_name()) {
        (Some(parent), Some(name)) => parent.join(name),
        _ => file.to_path_buf(),
    }
}

/// Whether an event kind says something changed; opening, reading and closing do not.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        EventKind::Access(_) | EventKind::Other => false,
        EventKind::Any | EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) => true,
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::time::{Duration, Instant};

    use notify::event::Flag;
    use tempfile::TempDir;

    use super::batcher::{MAX_WAIT, QUIET};

    /// Generous: the machine running the tests may be loaded.
    const WAIT: Duration = Duration::from_secs(5);
    /// How long "no batch" is given to prove itself (a batch is due 100 ms after its events).
    const SILENCE: Duration = Duration::from_millis(500);

    /// A temporary project: `root` holds the context `root/ctx`; both canonical.
    struct Project {
        _dir: TempDir,
        root: PathBuf,
        ctx: PathBuf,
    }

    impl Project {
        fn new(files: &[&str]) -> Project {
            let dir = tempfile::tempdir().expect("tempdir");
            let root = dir.path().canonicalize().expect("canonical tempdir");
            let ctx = root.join("ctx");
            fs::create_dir(&ctx).expect("mkdir ctx");
            let project = Project { _dir: dir, root, ctx };
            for file in files {
                project.write(file, "initial");
            }
            project
        }

        /// Writes `ctx/<rel>` (a trailing '/' makes a directory), creating its parents.
        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let path = self.ctx.join(rel.trim_end_matches('/'));
            if rel.ends_with('/') {
                fs::create_dir_all(&path).expect("mkdir");
            } else {
                fs::create_dir_all(path.parent().expect("parent")).expect("mkdir parent");
                fs::write(&path, text).expect("write");
            }
            path
        }

        fn spec(&self, ignore: &str) -> WatchSpec {
            WatchSpec {
                context: self.ctx.clone(),
                control_files: vec![self.ctx.join("Dockerfile"), self.ctx.join(".dockerignore")],
                ignore: DockerIgnore::parse(ignore).expect("valid .dockerignore"),
                own_cache: None,
            }
        }

        fn paths(&self, rels: &[&str]) -> BTreeSet<PathBuf> {
            rels.iter().map(|rel| self.ctx.join(rel)).collect()
        }
    }

    async fn next(rx: &mut UnboundedReceiver<Batch>) -> Batch {
        tokio::time::timeout(WAIT, rx.recv()).await.expect("a batch within 5 s").expect("the watcher is running")
    }

    async fn silence(rx: &mut UnboundedReceiver<Batch>) {
        if let Ok(batch) = tokio::time::timeout(SILENCE, rx.recv()).await {
            panic!("expected no batch, got {batch:?}");
        }
    }

    #[tokio::test]
    async fn file_changes_are_reported() {
        let project = Project::new(&["modified.txt", "deleted.txt", "old.txt"]);
        let (_watcher, mut rx) = Watcher::start(project.spec("")).expect("start");

        project.write("created.txt", "new");
        assert_eq!(next(&mut rx).await, Batch { paths: project.paths(&["created.txt"]), rescan: false });

        project.write("modified.txt", "changed");
        assert_eq!(next(&mut rx).await.paths, project.paths(&["modified.txt"]));

        fs::remove_file(project.ctx.join("deleted.txt")).expect("rm");
        assert_eq!(next(&mut rx).await.paths, project.paths(&["deleted.txt"]));

        fs::rename(project.ctx.join("old.txt"), project.ctx.join("new.txt")).expect("mv");
        assert_eq!(next(&mut rx).await.paths, project.paths(&["old.txt", "new.txt"]));
        silence(&mut rx).await;
    }

    #[tokio::test]
    async fn directory_removal_and_rename_are_reported() {
        let project = Project::new(&["gone/f", "gone/sub/g", "old/f"]);
        let (watcher, mut rx) = Watcher::start(project.spec("")).expect("start");

        fs::remove_dir_all(project.ctx.join("gone")).expect("rm -r");
        let batch = next(&mut rx).await;
        assert_eq!(batch.paths, project.paths(&["gone", "gone/f", "gone/sub", "gone/sub/g"]));

        fs::rename(project.ctx.join("old"), project.ctx.join("new")).expect("mv");
        let batch = next(&mut rx).await;
        assert!(batch.paths.is_superset(&project.paths(&["old", "new"])), "{batch:?}");
        assert!(batch
            .paths
            .iter()
            .all(|path| path.starts_with(project.ctx.join("old")) || path.starts_with(project.ctx.join("new"))));

        // The moved directory is watched under its new name.
        project.write("new/added", "x");
        assert_eq!(next(&mut rx).await.paths, project.paths(&["new/added"]));
        assert_eq!(watcher.watched_dirs(), vec![project.ctx.clone(), project.ctx.join("new")]);
    }

    #[tokio::test]
    async fn files_in_a_new_directory_tree_are_reported() {
        let project = Project::new(&[]);
        let (watcher, mut rx) = Watcher::start(project.spec("")).expect("start");
        // Written as fast as possible: most of it exists before the watches can be added.
        for tree in ["a", "x", "y"] {
            project.write(&format!("{tree}/b/c/f"), "x");
        }
        let mut seen = BTreeSet::new();
        while !seen.is_superset(&project.paths(&["a/b/c/f", "x/b/c/f", "y/b/c/f"])) {
            seen.extend(next(&mut rx).await.paths);
        }
        assert!(watcher.watched_dirs().contains(&project.ctx.join("y/b/c")));
        project.write("a/b/c/later", "x");
        assert_eq!(next(&mut rx).await.paths, project.paths(&["a/b/c/later"]));
    }

    #[tokio::test]
    async fn editor_temporaries_alone_make_no_batch() {
        let project = Project::new(&[]);
        let (_watcher, mut rx) = Watcher::start(project.spec("")).expect("start");
        for name in [".main.rs.swp", "4913", "main.rs~", ".#main.rs", "#main.rs#", ".main.rs.tmp", "main.rs.tmp.42"] {
            project.write(name, "x");
            fs::remove_file(project.ctx.join(name)).expect("rm");
        }
        silence(&mut rx).await;
        // Atomic save: only the real name counts.
        project.write(".main.rs.tmp", "fn main() {}");
        fs::rename(project.ctx.join(".main.rs.tmp"), project.ctx.join("main.rs")).expect("mv");
        assert_eq!(next(&mut rx).await.paths, project.paths(&["main.rs"]));
    }

    #[tokio::test]
    async fn git_internals_make_no_batch() {
        let project = Project::new(&[".git/HEAD", ".git/objects/ab/cdef"]);
        let (watcher, mut rx) = Watcher::start(project.spec("")).expect("start");
        assert_eq!(watcher.watched_dirs(), vec![project.ctx.clone()]);
        project.write(".git/HEAD", "ref: refs/heads/other");
        project.write(".git/objects/12/3456", "blob");
        silence(&mut rx).await;
    }

    #[tokio::test]
    async fn excluded_directories_get_no_watch_and_no_batch() {
        let project = Project::new(&["target/debug/app", "src/main.rs"]);
        let (watcher, mut rx) = Watcher::start(project.spec("target\n")).expect("start");
        let watched = vec![project.ctx.clone(), project.ctx.join("src")];
        assert_eq!(watcher.watched_dirs(), watched);

        project.write("target/debug/app", "rebuilt");
        project.write("target/new", "x");
        fs::remove_dir_all(project.ctx.join("target")).expect("rm -r");
        project.write("target/debug/deps/lib.rlib", "x");
        silence(&mut rx).await;
        assert_eq!(watcher.watched_dirs(), watched);

        project.write("src/main.rs", "changed");
        assert_eq!(next(&mut rx).await.paths, project.paths(&["src/main.rs"]));
    }

    #[tokio::test]
    async fn an_exception_reincludes_a_file_in_an_excluded_directory() {
        let project = Project::new(&["logs/"]);
        let (_watcher, mut rx) = Watcher::start(project.spec("logs\n!logs/keep.txt\n")).expect("start");
        project.write("logs/other.txt", "x");
        silence(&mut rx).await;
        project.write("logs/keep.txt", "x");
        assert_eq!(next(&mut rx).await.paths, project.paths(&["logs/keep.txt"]));
    }

    #[tokio::test]
    async fn a_thousand_files_make_one_batch() {
        let project = Project::new(&["many/"]);
        let (_watcher, mut rx) = Watcher::start(project.spec("")).expect("start");
        let mut expected = BTreeSet::new();
        // Paced by the clock (not by a count of sleeps, which a slow machine stretches): 400 ms.
        let start = Instant::now();
        let mut longest_gap = Duration::ZERO;
        let mut previous = start;
        for i in 0..1000 {
            if let Some(ahead) = (start + Duration::from_millis(400) * i / 1000).checked_duration_since(Instant::now())
            {
                thread::sleep(ahead);
            }
            let path = project.ctx.join(format!("many/file{i}.txt"));
            fs::write(&path, "x").expect("write");
            expected.insert(path);
            longest_gap = longest_gap.max(previous.elapsed());
            previous = Instant::now();
        }
        let writing = start.elapsed();
        let mut batch = next(&mut rx).await;
        // A writer starved for longer than QUIET, or past MAX_WAIT, has really paused or taken
        // too long: the watcher is right to split then, and the test only checks nothing is lost.
        if longest_gap >= QUIET / 2 || writing >= MAX_WAIT - QUIET {
            eprintln!("the writer was starved (gap {longest_gap:?}, {writing:?} in all): not checking for one batch");
            while batch.paths.len() < 1000 {
                batch.paths.extend(next(&mut rx).await.paths);
            }
        }
        assert_eq!(batch.paths.len(), 1000);
        assert_eq!(batch.paths, expected);
        silence(&mut rx).await;
    }

    #[tokio::test]
    async fn a_git_index_lock_defers_the_batch() {
        let project = Project::new(&[".git/index.lock"]);
        let (_watcher, mut rx) = Watcher::start(project.spec("")).expect("start");
        project.write("a.txt", "x");
        silence(&mut rx).await;
        project.write("b.txt", "x");
        silence(&mut rx).await;
        fs::remove_file(project.ctx.join(".git/index.lock")).expect("rm lock");
        assert_eq!(next(&mut rx).await.paths, project.paths(&["a.txt", "b.txt"]));
        silence(&mut rx).await;
    }

    #[tokio::test]
    async fn control_files_are_reported_outside_the_context_and_when_ignored() {
        let project = Project::new(&[]);
        let dockerfile = project.root.join("Dockerfile");
        fs::write(&dockerfile, "FROM scratch").expect("write");
        let spec = WatchSpec {
            context: project.ctx.clone(),
            control_files: vec![dockerfile.clone(), project.ctx.join(".dockerignore")],
            ignore: DockerIgnore::parse(".dockerignore\n").expect("valid"),
            own_cache: None,
        };
        let (_watcher, mut rx) = Watcher::start(spec).expect("start");

        fs::write(project.root.join("unrelated"), "x").expect("write");
        fs::write(&dockerfile, "FROM alpine").expect("write");
        assert_eq!(next(&mut rx).await.paths, BTreeSet::from([dockerfile]));

        project.write(".dockerignore", "x\n");
        assert_eq!(next(&mut rx).await.paths, project.paths(&[".dockerignore"]));
    }

    /// Our own cache inside the context (XDG_CACHE_HOME in the project): what we write there
    /// after a cycle must not start the next one.
    #[tokio::test]
    async fn our_own_cache_in_the_context_starts_no_cycle() {
        let project = Project::new(&["src/a.c", ".cache/docker-rebuilder/hashes/old"]);
        let spec = WatchSpec { own_cache: Some(project.ctx.join(".cache/docker-rebuilder")), ..project.spec("") };
        let (_watcher, mut rx) = Watcher::start(spec).expect("start");
        project.write(".cache/docker-rebuilder/hashes/old", "new hashes");
        project.write(".cache/docker-rebuilder/hashes/another", "more");
        project.write("src/a.c", "int x;");
        assert_eq!(next(&mut rx).await.paths, project.paths(&["src/a.c"]));
    }

    #[tokio::test]
    async fn update_watches_a_newly_included_directory() {
        let project = Project::new(&["vendor/lib/a.txt"]);
        let (watcher, mut rx) = Watcher::start(project.spec("vendor\n")).expect("start");
        project.write("vendor/lib/a.txt", "changed");
        silence(&mut rx).await;

        watcher.update(project.spec(""));
        let vendor = project.ctx.join("vendor");
        assert!(watcher.watched_dirs().contains(&vendor.join("lib")));
        project.write("vendor/lib/a.txt", "changed again");
        assert_eq!(next(&mut rx).await.paths, project.paths(&["vendor/lib/a.txt"]));

        watcher.update(project.spec("vendor\n"));
        assert_eq!(watcher.watched_dirs(), vec![project.ctx.clone()]);
    }

    #[tokio::test]
    async fn lost_events_make_a_rescan_batch_and_restore_watches() {
        let project = Project::new(&["sub/"]);
        let (watcher, mut rx) = Watcher::start(project.spec("")).expect("start");
        let sub = project.ctx.join("sub");
        {
            // As if `sub` had been created while the queue overflowed: no event, no watch.
            let mut state = lock(&watcher.state);
            state.notify.unwatch(&sub).expect("unwatch");
            state.watched.remove(&sub);
        }
        // What the inotify backend sends on IN_Q_OVERFLOW, and on a read error.
        let overflow = notify::Event::new(EventKind::Other).set_flag(Flag::Rescan);
        watcher.events.send(Ok(overflow)).expect("inject");
        assert_eq!(next(&mut rx).await, Batch { paths: BTreeSet::new(), rescan: true });
        assert!(watcher.watched_dirs().contains(&sub));
        watcher.events.send(Err(notify::Error::generic("read failed"))).expect("inject");
        assert!(next(&mut rx).await.rescan);
        project.write("sub/a", "x");
        assert_eq!(next(&mut rx).await, Batch { paths: project.paths(&["sub/a"]), rescan: false });
    }

    #[tokio::test]
    async fn dropping_the_watcher_ends_the_receiver() {
        let project = Project::new(&[]);
        let (watcher, mut rx) = Watcher::start(project.spec("")).expect("start");
        drop(watcher);
        let end = tokio::time::timeout(WAIT, rx.recv()).await.expect("the receiver ends within 5 s");
        assert_eq!(end, None);
    }

    #[test]
    fn start_fails_clearly_without_a_context() {
        let project = Project::new(&[]);
        let mut spec = project.spec("");
        spec.context = project.root.join("missing");
        let Err(err) = Watcher::start(spec) else { panic!("started on a missing context") };
        assert!(err.cause.contains("cannot watch the build context"), "{err}");
        assert!(err.fix.contains("fs.inotify.max_user_watches"), "{err}");
    }
}
