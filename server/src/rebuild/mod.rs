//! The rebuild loop: make sure the image and its builder exist, mirror what changed, run
//! the incremental build, commit a clean result. One `Rebuilder` per project; callers run
//! one operation at a time on it (the LSP server's per-project task, or one CLI command).

mod bind_from;
mod bind_view;
mod builder;
mod context;
mod cycle;
mod diagnose;
mod failed_step;
mod housekeeping;
mod image_build;
mod lock;
mod mounts;
mod pack;
mod phases;
mod push;
mod replay;
mod service_changes;
mod service_exit;
mod service_ports;
mod service_update;
mod stage_build;
mod stages;
mod standby;
mod status;
mod steps;
mod stop_ahead;
mod sync_ahead;
mod tags;
mod unloaded;
mod warm_caches;

use std::time::Duration;

pub use crate::cancel::CancelToken;
use crate::engine::{ContainerInfo, Engine, ImageInfo};
use crate::error::Result;
use crate::events::{Phase, Stage};
use crate::project::Project;
use crate::sync::hash_cache::HashCache;

pub use housekeeping::CleanReport;
pub use service_exit::{ServiceExit, ServiceWatch, BUILD_WATCH_FOR, WATCH_FOR};
pub use service_update::compose_version;
pub use unloaded::{clean_unloaded, status_unloaded, UnloadedStatus};

pub struct Rebuilder {
    engine: Engine,
    project: Project,
    /// What this process last wrote to (or read from) the builder, so a long-lived front end
    /// skips re-reading the manifest while a stat shows nobody rewrote it.
    known: std::sync::Mutex<Option<builder::Known>>,
    /// Content hashes of host files by identity and timestamps (see `HashCache`).
    hashes: HashCache,
    /// Links outside the context already warned about (each is said once per process).
    warned_links: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// uid/gid per sync rule, for the image and recipe they were resolved in.
    owners: std::sync::Mutex<Option<(String, Owners)>>,
    /// Per builder, whether changes could ride on its first step's exec (false: no GNU tar),
    /// once a cycle has tried.
    rides: std::sync::Mutex<std::collections::BTreeMap<String, bool>>,
    /// The next cycle's first step, started ahead (see `standby.rs`).
    standby: std::sync::Mutex<Option<Standby>>,
    /// When the last build (a rebuild step, or `docker build`) of the current operation
    /// ended, if one ran: recorded in the project lock (see `lock::BuildMark`). Taken when the
    /// build's work ends, not the operation's: a file written during the commit that follows
    /// is newer than anything that build made, and keeps its own mtime.
    built: std::sync::Mutex<Option<std::time::SystemTime>>,
    /// When the image's stage is replayed (a multi-stage Dockerfile): one rebuilder per
    /// builder stage, each on its builder's view of the plan; this one runs them and makes
    /// the image (see `stages.rs`). Empty when the image is its builder's commit.
    stages: Vec<Rebuilder>,
    /// In a stage's rebuilder: which builder it is. It never commits the image and never
    /// runs a full build on its own: it says why one is needed (`ErrorKind::FullBuildNeeded`).
    stage_of: Option<usize>,
    /// A replayed image: the sources label of the image as this process last left it.
    image_sources: std::sync::Mutex<Option<String>>,
    /// A stage's builder that built cleanly: the manifest saying so, written after the image
    /// is made (`stages.rs`), so the write is not between a save and its image.
    deferred: std::sync::Mutex<Option<(String, ImageInfo, crate::sync::Manifest)>>,
    /// Work started after an image was made (removing the replay's container); a process
    /// about to exit waits for it (`settle`), a long-lived one lets it finish.
    background: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// The image id this process last pushed (`push`): not pushed again.
    pushed: std::sync::Mutex<Option<String>>,
    /// This cycle's `BuildOptions::color`.
    color: std::sync::atomic::AtomicBool,
    /// A compose service: whether a cycle already looked at its containers (`initial_sync`).
    service_seen: std::sync::atomic::AtomicBool,
    /// A compose service: the next recreate's compose, started ahead (see `ComposeStandby`).
    compose_standby: std::sync::Mutex<Option<crate::engine::ComposeStandby>>,
    /// The last recreate's compose run: what the standby is started for.
    compose_run: std::sync::Mutex<Option<crate::engine::ComposeRun>>,
    /// The newest change of the service's compose and env files that a recreate of its
    /// containers (compose deciding) has taken in (`service_update.rs`, `config_stamp`).
    config_seen: std::sync::Mutex<Option<std::time::SystemTime>>,
    /// A compose service: its containers being stopped beside the commit (`stop_ahead.rs`).
    stopped_ahead: stop_ahead::StopAhead,
    /// A `develop.watch` service: the copy into its containers made beside the commit.
    synced_ahead: sync_ahead::SyncAhead,
    /// Images a commit superseded, pruned after the service's update (`prune_superseded`).
    superseded: std::sync::Mutex<Vec<String>>,
    /// Whether a stop that had to kill the service's containers was already warned about.
    told_killed_by_stop: std::sync::atomic::AtomicBool,
}

/// A warm exec of a builder's first rebuild step, for the recipe it was started under.
struct Standby {
    builder: String,
    recipe: String,
    attached: crate::engine::Attached,
}

/// uid/gid per sync rule index.
type Owners = std::collections::HashMap<usize, (u32, u32)>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A full `docker build` made the image and a fresh builder.
    ImageBuilt { reason: String },
    /// Nothing changed since the last successful build: no exec, no commit.
    UpToDate,
    /// The rebuild command succeeded; `committed` unless `commit = false`.
    Succeeded { committed: bool },
    /// The rebuild command failed: no commit, image unchanged.
    BuildFailed { exit_code: i64, step: String },
    /// Cancelled while building: processes killed, no commit.
    Cancelled { reason: String },
    /// The rebuild step ran past `timeout_secs`: processes killed, no commit.
    TimedOut { step: String, timeout_secs: u64 },
}

impl Outcome {
    /// Its name in every front end's JSON (`build --json`, `watch --json`, the LSP's replies).
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::ImageBuilt { .. } => "image_built",
            Outcome::UpToDate => "up_to_date",
            Outcome::Succeeded { .. } => "succeeded",
            Outcome::BuildFailed { .. } => "build_failed",
            Outcome::Cancelled { .. } => "cancelled",
            Outcome::TimedOut { .. } => "timed_out",
        }
    }

    /// For a timeout: what to do about it (the user must see it; a status line is not enough).
    pub fn fix(&self) -> Option<String> {
        match self {
            Outcome::TimedOut { .. } => Some(
                "raise `timeout_secs` in rebuilder.toml if the build needs longer; if it hangs, its output (in the \
                 log) shows where"
                    .to_string(),
            ),
            Outcome::BuildFailed { exit_code: 137, .. } => Some(
                "give the engine (or Docker Desktop's VM) more memory, or the build less to do at once (fewer \
                 parallel jobs); if it was stopped on purpose, save again"
                    .to_string(),
            ),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CycleReport {
    pub outcome: Outcome,
    pub uploaded: usize,
    pub deleted: usize,
    /// Host files whose change this cycle mirrored (written or deleted).
    pub synced: Vec<std::path::PathBuf>,
    /// When the cycle changed the image by these files alone (no step ran, no stage was
    /// replayed): each host file with its path in the image. A container that shows them all
    /// through its bind mounts needs no recreate (`bind_view.rs`).
    pub files_only: Option<Vec<(std::path::PathBuf, String)>>,
    /// How many of the first rebuild steps the cycle did not run, as docker's layer cache
    /// would not: what changed is copied after them (`Plan::first_step_for`).
    pub steps_skipped: usize,
    /// Time per phase, in order.
    pub timings: Vec<(Phase, Duration)>,
    /// The finer split of the same time (see `Stage`), in order.
    pub stages: Vec<(Stage, Duration)>,
    pub image: String,
    /// Image id after the cycle.
    pub image_id: Option<String>,
    pub total: Duration,
    /// Host files read to find what changed (the others' timestamps said they had not).
    pub files_read: usize,
    /// In a multi-stage image: the stage whose builder failed (or timed out, or was
    /// cancelled).
    pub stage: Option<String>,
    /// A compose service: what became of its running containers (recreated on the new
    /// image, or why not); None when none ran on an older image.
    pub service_update: Option<String>,
    /// A compose service: the containers its update recreated on the new image (watched for
    /// a while after, `service_exit.rs`).
    pub service_started: Vec<String>,
    /// A compose service: its containers left running because their bind mounts show the
    /// change (watched too: a dev server's app may stop on it).
    pub service_kept: Vec<String>,
    /// A project with `push`: the reference and digest pushed, or why not; None when
    /// nothing was pushed (no `push`, nothing new, a failed build).
    pub push: Option<String>,
}

impl CycleReport {
    /// One line saying how the cycle ended, for status bars and the JSON's `message`.
    pub fn message(&self) -> String {
        let message = self.outcome_message();
        let message = match &self.stage {
            Some(stage) => format!("stage {stage}: {message}"),
            None => message,
        };
        let message = match &self.service_update {
            Some(service) => format!("{message}; {service}"),
            None => message,
        };
        match &self.push {
            Some(push) => format!("{message}; {push}"),
            None => message,
        }
    }

    fn outcome_message(&self) -> String {
        match &self.outcome {
            Outcome::ImageBuilt { reason } => format!("image built ({reason})"),
            Outcome::UpToDate => "up to date".to_string(),
            Outcome::Succeeded { committed: true } => format!("rebuilt and committed {}", self.image),
            Outcome::Succeeded { committed: false } => "built (not committed)".to_string(),
            // 137 is SIGKILL: the kernel's OOM killer, or someone stopping it.
            Outcome::BuildFailed { exit_code: 137, step } => {
                format!("`{step}` was killed (exit code 137: out of memory, or stopped by someone else)")
            }
            Outcome::BuildFailed { exit_code, step } => format!("`{step}` failed with exit code {exit_code}"),
            Outcome::Cancelled { reason } => reason.clone(),
            Outcome::TimedOut { step, timeout_secs } => {
                format!("`{step}` ran past timeout_secs = {timeout_secs} and was stopped; nothing was committed")
            }
        }
    }

    pub fn succeeded(&self) -> bool {
        !matches!(self.outcome, Outcome::BuildFailed { .. } | Outcome::Cancelled { .. } | Outcome::TimedOut { .. })
    }
}

#[derive(Debug, Clone)]
pub struct Status {
    pub image: String,
    pub image_info: Option<ImageInfo>,
    pub builder_name: String,
    pub builder: Option<ContainerInfo>,
    /// Files that differ between host and builder (None when there is no builder).
    pub pending_uploads: Option<usize>,
    pub pending_deletes: Option<usize>,
    /// The last build in the builder failed (its sources are not in the image yet).
    pub last_build_failed: bool,
    /// A replayed image: each builder stage's status (its label, and its builder's state).
    pub stages: Vec<(String, Status)>,
    /// A compose service: its containers, then those of the services run from its image
    /// (running or not), and whether each runs the image.
    pub service_containers: Vec<(crate::engine::ServiceContainer, bool)>,
}

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Force a fresh `docker build` and a new builder.
    pub full: bool,
    /// Stops the rebuild command when fired: no commit, builder kept.
    pub cancel: Option<crate::cancel::CancelToken>,
    /// The output goes to a terminal with colour: the rebuild steps get the tools' own switches
    /// to colour it (their problems are still read, the matchers strip the escapes).
    pub color: bool,
}

/// The variables that make compilers and their tools colour output that is not a terminal
/// (cargo and rustc, Node's tools, and whatever honours CLICOLOR_FORCE). A TTY for the exec would
/// colour more tools, but it merges stdout with stderr and would mangle the changes' archive
/// that rides on the step's stdin.
const COLOR_ENV: [(&str, &str); 3] = [("CLICOLOR_FORCE", "1"), ("FORCE_COLOR", "1"), ("CARGO_TERM_COLOR", "always")];

impl Rebuilder {
    /// A rebuilder for `project`, with the content hashes an earlier process kept for it.
    pub fn new(engine: Engine, project: Project) -> Rebuilder {
        let stages = Self::stage_rebuilders(&engine, &project);
        Self::one(engine, project, stages, None)
    }

    /// One rebuilder per builder stage, when the image's stage is replayed.
    fn stage_rebuilders(engine: &Engine, project: &Project) -> Vec<Rebuilder> {
        if project.plan.assembly.is_none() {
            return Vec::new();
        }
        (0..project.plan.builders.len())
            .map(|i| {
                let mut view = project.clone();
                view.plan = project.plan.builder_view(i);
                view.plan.commit = false;
                Self::one(engine.clone(), view, Vec::new(), Some(i))
            })
            .collect()
    }

    fn one(engine: Engine, project: Project, stages: Vec<Rebuilder>, stage_of: Option<usize>) -> Rebuilder {
        // Shared with the other projects of its context (compose services, stage builders).
        let hashes = HashCache::shared(&project.plan.context, &project.builder_name());
        let rebuilder = Rebuilder {
            engine,
            project,
            stages,
            stage_of,
            image_sources: Default::default(),
            deferred: Default::default(),
            background: Default::default(),
            pushed: Default::default(),
            color: Default::default(),
            known: Default::default(),
            hashes,
            warned_links: Default::default(),
            owners: Default::default(),
            rides: Default::default(),
            standby: Default::default(),
            built: Default::default(),
            service_seen: Default::default(),
            compose_standby: Default::default(),
            compose_run: Default::default(),
            config_seen: Default::default(),
            stopped_ahead: Default::default(),
            synced_ahead: Default::default(),
            told_killed_by_stop: Default::default(),
            superseded: Default::default(),
        };
        rebuilder.load_hashes();
        rebuilder
    }

    /// Takes the content hashes an earlier process kept (`save_hashes`), so unchanged files
    /// are not read again.
    fn load_hashes(&self) {
        if let Some(file) = self.project.hash_cache_file() {
            self.hashes.load(&file);
        }
    }

    /// Keeps the content hashes of the last scan for the next process (a CLI run, an editor
    /// restarted). Best effort: without them, it reads every file once, as the first did.
    pub(crate) fn save_hashes(&self) {
        if let Some(file) = self.project.hash_cache_file() {
            let _ = self.hashes.save(&file);
        }
    }

    /// Picks up changes to rebuilder.toml, the Dockerfile and .dockerignore.
    pub fn reload(&mut self) -> Result<()> {
        self.set_project(Project::load(&self.project.dir)?);
        Ok(())
    }

    /// Waits for the work started after the last image was made (a one-shot command calls
    /// this before it exits, so nothing of ours is left behind).
    pub async fn settle(&self) {
        let handles: Vec<_> = std::mem::take(&mut *self.background.lock().unwrap_or_else(|e| e.into_inner()));
        for handle in handles {
            let _ = handle.await;
        }
    }

    /// The engine it talks to.
    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Talks to `engine` from now on (a new connection after the old one failed), keeping
    /// what it remembers of the builder: it is checked against the builder before it is trusted.
    pub fn set_engine(&mut self, engine: Engine) {
        for stage in &mut self.stages {
            stage.set_engine(engine.clone());
        }
        self.engine = engine;
    }

    /// The project as last loaded.
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// Takes a freshly loaded project (the same folder: rebuilder.toml or the Dockerfile changed).
    pub fn set_project(&mut self, project: Project) {
        let same_builders = self.stages.len() == project.plan.builders.len()
            && project.plan.assembly.is_some()
            && self.stages.iter().zip(&project.plan.builders).all(|(s, b)| s.project.plan.target == b.stage.name);
        if same_builders {
            // Keep what each stage's rebuilder remembers (its builder, hashes, standby).
            for (i, stage) in self.stages.iter_mut().enumerate() {
                let mut view = project.clone();
                view.plan = project.plan.builder_view(i);
                view.plan.commit = false;
                stage.project = view;
            }
        } else {
            self.stages = Self::stage_rebuilders(&self.engine, &project);
        }
        self.project = project;
    }

    /// An interactive `/bin/sh` in the running builder, at the first rebuild step's folder, on
    /// this process's terminal or pipes (`io`). Returns the shell's exit code once it exits.
    pub async fn shell(&self, io: crate::engine::ShellIo, stage: Option<&str>) -> Result<i64> {
        if !self.stages.is_empty() {
            // A replayed image: the builder of the named stage, else the first.
            let labels: Vec<String> = self.stages.iter().map(|s| s.stage_label()).collect();
            let chosen = match stage {
                None => self.stages.first(),
                Some(name) => self.stages.iter().find(|s| s.stage_label().eq_ignore_ascii_case(name)),
            };
            let Some(chosen) = chosen else {
                return Err(crate::error::Error::new(
                    crate::error::ErrorKind::Project,
                    format!("no builder for a stage named `{}`", stage.unwrap_or_default()),
                    format!("name one of the stages with a builder: {}", labels.join(", ")),
                ));
            };
            return Box::pin(chosen.shell(io, None)).await;
        }
        let name = self.project.builder_name();
        let builder = self.engine.container(&name).await?.filter(|b| b.running).ok_or_else(|| {
            crate::error::Error::new(
                crate::error::ErrorKind::Project,
                format!("no running builder {name}"),
                "run `docker-rebuilder build` first",
            )
        })?;
        let workdir = self.project.plan.steps.first().map(|s| s.workdir.clone());
        self.engine.interactive(&builder.id, &["/bin/sh".to_string()], workdir.as_deref(), io).await
    }
}
