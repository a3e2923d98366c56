//! After the image of a compose service changed: its running containers are recreated on the
//! new image, as `docker compose up -d --no-deps SERVICE` would (see `engine/compose.rs` for
//! why compose does it). A service with no running container is left alone (one whose app
//! crashed is not: the fix brings it back), as are the services that depend on it; a failed
//! build never gets here, so the old code keeps serving. The containers it recreates are
//! watched for a while after (`service_exit.rs`).
//! Their stop may already have run beside the commit (`stop_ahead.rs`); compose recreates them
//! as stopped ones, and when it fails they are started again.
//!
//! With a `develop.watch` section, its actions decide, as Compose Watch does them: files under
//! `sync` and `sync+exec` rules are copied into the running containers (which keep running:
//! the app reloads them itself), then `sync+exec` runs its command there; `sync+restart`,
//! `restart` and `rebuild` get the containers recreated on the new image (for us a restart
//! must also pick up what the build made, which only the new image holds). `initial_sync`
//! copies every file of its rule when the session first sees the containers.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::bind_view::{bind_showing, shown_live};
use super::service_changes::{config_stamp, kept_note, made_before, recreated_whose};
use super::{CycleReport, Outcome, Rebuilder};
use crate::engine::{ComposeRun, ComposeStandby, Engine, ExecRequest, ServiceContainer};
use crate::events::{Event, Phase, Reporter};
use crate::project::compose::{ComposeVersion, WatchAction, Workspace};
use crate::project::service::{DevelopRule, ServiceBinding};
use crate::sync::archive::ArchiveWriter;

impl Rebuilder {
    /// Brings the service's running containers onto the image `report` ended with. Never
    /// fails the cycle: the image is made; a recreate that fails is a warning saying why.
    pub(super) async fn update_service(&self, report: &mut CycleReport, reporter: &mut dyn Reporter) {
        let Some(service) = &self.project.service else { return };
        let fresh = matches!(
            report.outcome,
            Outcome::ImageBuilt { .. } | Outcome::Succeeded { committed: true } | Outcome::UpToDate
        );
        let Some(image_id) = report.image_id.clone().filter(|_| fresh) else { return };
        let started = Instant::now();
        if let Err(e) = self.check_container_name(service).await {
            reporter.report(Event::Warning(e.one_line()));
            report.service_update = Some(e.cause);
            return;
        }
        let first = !self.service_seen.swap(true, std::sync::atomic::Ordering::SeqCst);
        let update = match develop_update(service, &self.project.plan.context, report, first) {
            Update::Recreate => {
                // Without develop.watch, what the bind mounts already show needs no recreate.
                let files_only = report.files_only.as_deref().filter(|_| service.develop().is_empty());
                let full_build = matches!(report.outcome, Outcome::ImageBuilt { .. });
                match self.recreate_if_stale(service, &image_id, files_only, full_build, reporter).await {
                    Ok(Some(Updated { said, started, kept })) => {
                        report.service_started = started;
                        report.service_kept = kept;
                        Ok(Some(said))
                    }
                    Ok(None) => Ok(None),
                    Err(e) => Err(e),
                }
            }
            Update::Copy { files, commands } => match self.take_synced_ahead(&files, &commands, reporter) {
                Some(done) => done,
                None => self.copy_into_service(service, &files, &commands, reporter).await,
            },
            Update::CopyAll { rules } => match self.initial_files(&rules) {
                Ok(files) => self.copy_into_service(service, &files, &[], reporter).await,
                Err(e) => Err(e),
            },
            Update::Nothing => Ok(None),
        };
        match update {
            Ok(None) => {}
            Ok(Some(done)) => {
                reporter.report(Event::PhaseFinished { phase: Phase::Service, elapsed: started.elapsed() });
                report.timings.push((Phase::Service, started.elapsed()));
                report.total += started.elapsed();
                report.service_update = Some(done);
            }
            Err(e) => {
                reporter.report(Event::Warning(e.one_line()));
                report.service_update = Some(e.cause);
            }
        }
    }

    /// Starts the next recreate's compose ahead (see `ComposeStandby`), once this process
    /// recreated the service: the front ends that stay call it between cycles.
    pub(super) fn prepare_compose_standby(&self) {
        let mut standby = self.compose_standby.lock().unwrap_or_else(|e| e.into_inner());
        if standby.is_some() {
            return;
        }
        if let Some(run) = self.compose_run.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            *standby = ComposeStandby::start(run);
        }
    }

    /// A `container_name:` taken by a container of another compose project (or of none):
    /// compose would fail on it, and it is not ours to touch. An error located at the service.
    pub(super) async fn check_container_name(&self, service: &ServiceBinding) -> crate::error::Result<()> {
        let Some(name) = &service.container_name else { return Ok(()) };
        let owner = match self.engine.named_container_project(name).await? {
            None => return Ok(()),
            Some(Some(project)) if project == service.project => return Ok(()),
            Some(Some(project)) => format!("the compose project `{project}`"),
            Some(None) => "no compose project".to_string(),
        };
        Err(crate::error::Error::new(
            crate::error::ErrorKind::Compose,
            format!(
                "{}:{}: the container `{name}` (the service {}'s `container_name`) belongs to {owner}, not to `{}`: \
                 docker-rebuilder leaves it alone, and the service keeps what it runs",
                service.file.display(),
                service.line,
                service.name,
                service.project
            ),
            "remove or rename that container (`docker rm -f NAME` if it is a leftover), or change `container_name`",
        )
        .at(&service.file, service.line))
    }

    /// Recreates the service's running containers that are not on `image_id`, save those
    /// whose bind mounts show all of `files_only` (`bind_view.rs`); what it did and the
    /// containers it recreated, or None when none needed it.
    async fn recreate_if_stale(
        &self,
        service: &ServiceBinding,
        image_id: &str,
        files_only: Option<&[(PathBuf, String)]>,
        full_build: bool,
        reporter: &mut dyn Reporter,
    ) -> crate::error::Result<Option<Updated>> {
        // Those stopped beside the commit (`stop_ahead.rs`) are running ones for compose. No
        // other service of the project is updated meanwhile (its lock, held to the end).
        let (stopped, lock) = self.take_stopped_ahead().await;
        let ahead = stopped.containers;
        let _lock = match lock {
            Some(lock) => Some(lock),
            None => super::stop_ahead::wait_for_recreates(&service.project).await,
        };
        // Its twins' images must be this one before compose recreates them from those names.
        if let Err(e) = self.name_twins(service, image_id).await {
            self.start_again(&ahead, reporter).await;
            return Err(e);
        }
        // The service, its twins, then those run from their image: each with its containers.
        let mut services: Vec<(String, Vec<ServiceContainer>)> = Vec::new();
        for name in service.running_services() {
            match self.engine.service_containers(&service.project, &name).await {
                Ok(containers) => services.push((name, containers)),
                Err(e) => {
                    self.start_again(&ahead, reporter).await;
                    return Err(e);
                }
            }
        }
        // A container whose app failed (one this recreate's predecessor started, say) was not
        // stopped by the user: the fix brings it back, as `compose up -d` would.
        let was_running = |c: &ServiceContainer| c.running || c.crashed || ahead.iter().any(|a| a.id == c.id);
        // A full build answered from the cache of compose's own (`up --build` before the first
        // look) makes its layers again: the containers already run what it holds, and only
        // labels tell the two apart. Not recreated (nor restarted for nothing).
        let mut alike: Vec<String> = Vec::new();
        if full_build {
            let mut olds: Vec<&str> = services
                .iter()
                .flat_map(|(_, cs)| cs.iter().filter(|c| c.running && c.image_id != image_id))
                .map(|c| c.image_id.as_str())
                .collect();
            olds.sort_unstable();
            olds.dedup();
            for old in olds {
                if matches!(self.engine.same_content(old, image_id, &METADATA_LABELS).await, Ok(true)) {
                    alike.push(old.to_string());
                }
            }
        }
        // A running one made before the compose or env files last changed (and since a recreate
        // last took that change in) may run settings compose would now give otherwise: compose,
        // which hashes them, decides (`up -d` recreates it only if they differ).
        let seen = *self.config_seen.lock().unwrap_or_else(|e| e.into_inner());
        let config = config_stamp(service).filter(|stamp| seen != Some(*stamp));
        let mut before_config = Vec::new();
        if let Some(stamp) = config {
            for c in services.iter().flat_map(|(_, cs)| cs).filter(|c| c.running) {
                if made_before(&self.engine, &c.id, c.created, stamp).await {
                    before_config.push(c.id.clone());
                }
            }
        }
        let config_stale = |c: &ServiceContainer| before_config.contains(&c.id);
        // A crashed one is brought back all the same, as before.
        let image_stale = |c: &ServiceContainer| c.image_id != image_id && !(c.running && alike.contains(&c.image_id));
        let is_stale = |c: &&ServiceContainer| was_running(c) && (image_stale(c) || config_stale(c));
        let running_alike: Vec<String> = services
            .iter()
            .flat_map(|(_, cs)| cs.iter().filter(|c| c.running && alike.contains(&c.image_id)))
            .map(|c| c.name.clone())
            .collect();
        services.retain(|(_, containers)| containers.iter().any(|c| is_stale(&c)));
        // A service whose stale containers all show the change through their binds keeps them.
        let mut kept: Vec<String> = Vec::new();
        let mut kept_running: Vec<String> = Vec::new();
        let mut recreated = Vec::new();
        for (name, containers) in services {
            let mut shown = Vec::new();
            // What the binds show is the files' change, not the settings'.
            for c in containers.iter().filter(is_stale).filter(|c| !config_stale(c)) {
                match shown_live(&self.engine, c, files_only).await {
                    Some(mounts) => shown.push((c.name.clone(), mounts.into_iter().cloned().collect::<Vec<_>>())),
                    None => break,
                }
            }
            if shown.len() == containers.iter().filter(is_stale).count() {
                kept.extend(shown.iter().map(|(c, mounts)| kept_note(c, mounts, &service.workspace_dir)));
                kept_running.extend(shown.iter().map(|(c, _)| c.clone()));
            } else {
                recreated.push((name, containers));
            }
        }
        let services = recreated;
        if !running_alike.is_empty() {
            kept.push(format!(
                "{} already {} what the image holds (built alike): left running",
                running_alike.join(", "),
                if running_alike.len() == 1 { "runs" } else { "run" }
            ));
        }
        let kept = (!kept.is_empty()).then(|| format!("service {}: {}", service.name, kept.join("; ")));
        let stale: Vec<&ServiceContainer> = services.iter().flat_map(|(_, cs)| cs.iter().filter(is_stale)).collect();
        if config.is_some() {
            *self.config_seen.lock().unwrap_or_else(|e| e.into_inner()) = config;
        }
        let Some(first) = stale.first() else {
            self.start_again(&ahead, reporter).await;
            return Ok(kept.map(|said| Updated { said, started: Vec::new(), kept: kept_running }));
        };
        let names: Vec<&str> = stale.iter().map(|c| c.name.as_str()).collect();
        let how =
            if stale.iter().any(|c| image_stale(c)) { "on the new image" } else { "with its changed compose settings" };
        reporter.report(Event::PhaseStarted {
            phase: Phase::Service,
            detail: format!("recreating {} {how}", names.join(", ")),
        });
        // The folder and files the containers were made from, as compose recorded them.
        let working_dir = first.working_dir.clone().unwrap_or_else(|| service.workspace_dir.clone());
        let files = if first.config_files.is_empty() {
            service.files.clone()
        } else {
            first.config_files.iter().map(|f| working_dir.join(f)).collect()
        };
        // The env files: the user's to us, else those compose v2 recorded (still there); without
        // them compose would read .env, and could publish other ports than the user's run did.
        let env_files = if service.env_files_given.is_empty() {
            first.env_files.iter().map(|f| working_dir.join(f)).filter(|f| f.is_file()).collect()
        } else {
            service.env_files_given.clone()
        };
        let run = ComposeRun {
            project: service.project.clone(),
            services: services.iter().map(|(name, containers)| (name.to_string(), containers.len())).collect(),
            working_dir,
            files,
            env_files,
            v1: first.by_compose_v1(),
            engine_env: self.engine.compose_env(),
        };
        // The built service's ports, to tell when the recreate moved them.
        let own: Vec<&ServiceContainer> = match services.iter().find(|(name, _)| *name == service.name) {
            Some((_, containers)) => containers.iter().filter(is_stale).collect(),
            None => Vec::new(),
        };
        let ports_before =
            if own.is_empty() { None } else { self.published_ports(own.iter().map(|c| c.id.as_str())).await };
        // Those still running are stopped by compose: heard, to say when a stop kills them.
        let running: Vec<String> = stale.iter().filter(|c| c.running).map(|c| c.id.clone()).collect();
        let kills = (!running.is_empty()).then(|| self.engine.watch_kills(&running));
        let standby = self.compose_standby.lock().unwrap_or_else(|e| e.into_inner()).take();
        let recreated = self.engine.compose_recreate(&run, standby).await;
        let killed: Vec<String> =
            stopped.killed.into_iter().chain(kills.map(|k| k.killed()).unwrap_or_default()).collect();
        // What a long-lived front end starts ahead for the next one (`prepare_compose_standby`).
        *self.compose_run.lock().unwrap_or_else(|e| e.into_inner()) = Some(run);
        if let Err(e) = recreated {
            // Compose failed before its new containers took over: the old ones serve again.
            self.start_again(&ahead, reporter).await;
            return Err(e);
        }
        // The images the old containers ran: a commit of ours that only they used is pruned
        // now (the commit's own prune found them still in use).
        let old: Vec<String> = stale.iter().map(|c| c.image_id.clone()).collect();
        self.prune(old.iter(), reporter).await;
        let made = own.iter().map(|c| c.created).min().unwrap_or(0);
        if let Some(warning) = self.ports_moved(service, ports_before, image_id, made).await {
            reporter.report(Event::Warning(warning));
        }
        self.say_killed_by_stop(service, &stale, &killed, reporter);
        // A container stale only by its settings is one compose may have kept (they were the
        // same): said only if compose made it anew.
        let mut names = names;
        if stale.iter().any(|c| !image_stale(c)) {
            let mut now = Vec::new();
            for (name, _) in &services {
                now.extend(self.engine.service_containers(&service.project, name).await.unwrap_or_default());
            }
            let kept_by_compose = |c: &&ServiceContainer| !image_stale(c) && now.iter().any(|n| n.id == c.id);
            names = stale.iter().filter(|c| !kept_by_compose(c)).map(|c| c.name.as_str()).collect();
            if names.is_empty() {
                return Ok(kept.map(|said| Updated { said, started: Vec::new(), kept: kept_running }));
            }
        }
        let done = format!("{}: recreated {} {how}", recreated_whose(service, &services), names.join(", "));
        let started = names.iter().map(|n| n.to_string()).collect();
        Ok(Some(Updated {
            said: match kept {
                Some(kept) => format!("{done}; {kept}"),
                None => done,
            },
            started,
            kept: kept_running,
        }))
    }
}

/// What a recreate did: said in a line, the containers it started, and those it left running
/// because their bind mounts show the change (both watched after, `service_exit.rs`).
struct Updated {
    said: String,
    started: Vec<String>,
    kept: Vec<String>,
}

/// Image labels that say who made an image, not what it runs: ours, and those compose v2
/// gives the images it builds.
const METADATA_LABELS: [&str; 2] = [crate::project::LABEL_PREFIX, "com.docker.compose."];

/// A tar of `files` that exist (host file, container path) and the paths of those gone from
/// the host; no tar when none exists.
fn archive_of(files: &[&(PathBuf, String)]) -> crate::error::Result<(Option<Vec<u8>>, Vec<String>)> {
    use std::os::unix::fs::PermissionsExt as _;
    let mut archive = ArchiveWriter::new();
    let mut gone = Vec::new();
    let mut added = 0;
    for (host, path) in files {
        match std::fs::symlink_metadata(host) {
            Ok(meta) if meta.is_file() => {
                if archive.add_file(path, host, meta.permissions().mode() & 0o7777, (0, 0), None)?.is_none() {
                    gone.push(path.clone());
                } else {
                    added += 1;
                }
            }
            Ok(_) => {}
            Err(_) => gone.push(path.clone()),
        }
    }
    let tar = archive.finish()?;
    Ok(((added > 0).then_some(tar), gone))
}

/// The compose version that names a workspace's images: the one that made its containers
/// (compose labels each with its version), else the one installed here (the docker CLI's
/// plugin, v2, before a `docker-compose`), else v2, today's compose.
pub async fn compose_version(engine: &Engine, workspace: &Workspace) -> ComposeVersion {
    for version in [ComposeVersion::V1, ComposeVersion::V2] {
        let containers = engine.compose_project_containers(&workspace.project_name(version)).await.unwrap_or_default();
        if let Some(made) = containers.iter().find(|c| !c.compose_version.is_empty()) {
            return if made.by_compose_v1() { ComposeVersion::V1 } else { ComposeVersion::V2 };
        }
    }
    match crate::engine::installed_compose_is_v1().await {
        Some(true) => ComposeVersion::V1,
        _ => ComposeVersion::V2,
    }
}

/// What a cycle's end means for the service's running containers.
pub(super) enum Update {
    Recreate,
    /// Host files (absent: deleted) to their container paths, then these commands.
    Copy {
        files: Vec<(PathBuf, String)>,
        commands: Vec<Vec<String>>,
    },
    /// `initial_sync`: every file of these sync rules (indexes into `develop()`).
    CopyAll {
        rules: Vec<usize>,
    },
    Nothing,
}

/// How `develop.watch` says to bring the service's containers up to date after `report`;
/// `first`: the session's first look at them.
fn develop_update(service: &ServiceBinding, context: &Path, report: &CycleReport, first: bool) -> Update {
    let develop = service.develop();
    if develop.is_empty() {
        return Update::Recreate;
    }
    match report.outcome {
        Outcome::ImageBuilt { .. } => Update::Recreate,
        // Only rules that copy without a restart keep a container running on an older image.
        Outcome::UpToDate if !develop.iter().filter(|r| r.syncs()).all(hot) => Update::Recreate,
        Outcome::UpToDate if first => {
            let rules: Vec<usize> = (0..develop.len()).filter(|&i| develop[i].initial_sync).collect();
            if rules.is_empty() {
                Update::Nothing
            } else {
                Update::CopyAll { rules }
            }
        }
        Outcome::UpToDate => Update::Nothing,
        _ => develop_copy(service, context, &report.synced),
    }
}

/// What `develop.watch` asks for after a clean build that synced the host files `synced`: a
/// copy into the running containers when every file is under a rule that copies without a
/// restart, else a recreate.
pub(super) fn develop_copy(service: &ServiceBinding, context: &Path, synced: &[PathBuf]) -> Update {
    let develop = service.develop();
    let mut files = Vec::new();
    let mut commands: Vec<Vec<String>> = Vec::new();
    for host in synced {
        let Some(rel) = host.strip_prefix(context).ok().map(|r| r.to_string_lossy().replace('\\', "/")) else {
            continue;
        };
        let covering: Vec<&DevelopRule> =
            develop.iter().filter(|r| r.syncs() && r.container_path(&rel).is_some()).collect();
        let restarts = develop.iter().any(|r| r.action == WatchAction::Restart && under(&rel, &r.src));
        if restarts || covering.iter().any(|r| !hot(r)) {
            return Update::Recreate;
        }
        for rule in covering {
            if let Some(path) = rule.container_path(&rel) {
                files.push((host.clone(), path));
            }
            if let WatchAction::SyncExec { command } = &rule.action {
                if !commands.contains(command) {
                    commands.push(command.clone());
                }
            }
        }
    }
    if files.is_empty() {
        Update::Nothing
    } else {
        Update::Copy { files, commands }
    }
}

/// A rule that copies without a restart: the container keeps running on an older image.
fn hot(rule: &DevelopRule) -> bool {
    matches!(rule.action, WatchAction::Sync | WatchAction::SyncExec { .. })
}

fn under(rel: &str, folder: &str) -> bool {
    folder.is_empty() || rel == folder || rel.strip_prefix(folder).is_some_and(|r| r.starts_with('/'))
}

impl Rebuilder {
    /// Every file the builder mirrors under the sync rules `rules` (indexes into the service's
    /// develop rules; its sync rules are the builder's, in order), host path to container path.
    fn initial_files(&self, rules: &[usize]) -> crate::error::Result<Vec<(PathBuf, String)>> {
        let Some(service) = &self.project.service else { return Ok(Vec::new()) };
        let develop = service.develop();
        // Sync rule n of the plan is the n-th develop rule that syncs.
        let sync_index: Vec<usize> = (0..develop.len()).filter(|&i| develop[i].syncs()).collect();
        let wanted: Vec<usize> =
            sync_index.iter().enumerate().filter(|(_, d)| rules.contains(d)).map(|(n, _)| n).collect();
        let (tree, _) = self.host_state()?;
        Ok(tree
            .entries
            .iter()
            .filter(|(_, f)| wanted.contains(&f.rule))
            .map(|(path, f)| (f.host.clone(), path.clone()))
            .collect())
    }

    /// Copies `files` into the running containers of the service and its twins (they have
    /// its `develop.watch` rules: a file gone from the host is removed there), then runs
    /// `commands` in each. The containers keep running.
    pub(super) async fn copy_into_service(
        &self,
        service: &ServiceBinding,
        files: &[(PathBuf, String)],
        commands: &[Vec<String>],
        reporter: &mut dyn Reporter,
    ) -> crate::error::Result<Option<String>> {
        let mut containers = Vec::new();
        for name in std::iter::once(&service.name).chain(service.twins.iter().map(|t| &t.name)) {
            containers.extend(self.engine.service_containers(&service.project, name).await?);
        }
        let running: Vec<_> = containers.iter().filter(|c| c.running).collect();
        if running.is_empty() || files.is_empty() {
            return Ok(None);
        }
        let names: Vec<&str> = running.iter().map(|c| c.name.as_str()).collect();
        reporter.report(Event::PhaseStarted {
            phase: Phase::Service,
            detail: format!("syncing {} file(s) into {}", files.len(), names.join(", ")),
        });
        let shares_files = self.engine.shares_host_files().await;
        let mut shown = 0;
        for container in &running {
            // What a bind mount shows is the user's own file: writing it there would write
            // (as root) over it, and removing it could remove one made again since. Compose
            // Watch, too, leaves a path alone that a bind mount declares.
            let shows = |(host, path): &&(PathBuf, String)| {
                shares_files && bind_showing(&container.mounts, host, path).is_some()
            };
            let own: Vec<&(PathBuf, String)> = files.iter().filter(|f| !shows(f)).collect();
            shown = shown.max(files.len() - own.len());
            let (tar, gone) = archive_of(&own)?;
            if !gone.is_empty() {
                let mut argv = vec!["rm".to_string(), "-rf".to_string(), "--".to_string()];
                argv.extend(gone);
                self.run_in_service(&container.id, &argv, "remove deleted files", reporter).await;
            }
            if let Some(tar) = tar {
                self.engine.upload(&container.id, tar).await?;
            }
            for command in commands {
                self.run_in_service(&container.id, command, &command.join(" "), reporter).await;
            }
        }
        let ran = if commands.is_empty() {
            String::new()
        } else {
            format!(
                ", then ran {}",
                commands.iter().map(|c| format!("`{}`", c.join(" "))).collect::<Vec<_>>().join(", ")
            )
        };
        let synced = match shown {
            0 => format!("synced {} file(s) into {}", files.len(), names.join(", ")),
            n if n == files.len() => format!("{}: its bind mount already shows the change", names.join(", ")),
            n => format!(
                "synced {} file(s) into {} ({n} more shown through a bind mount)",
                files.len() - n,
                names.join(", ")
            ),
        };
        Ok(Some(format!("service {}: {synced}{ran}", service.name)))
    }

    /// Runs `argv` in a service's container; a failure is a warning with its output.
    async fn run_in_service(&self, container: &str, argv: &[String], display: &str, reporter: &mut dyn Reporter) {
        let request = ExecRequest { argv, display, workdir: None, env: &[], user: None, stdin: None };
        let mut output = Vec::new();
        let result = self
            .engine
            .exec(container, request, None, None, &mut |_, bytes: &[u8]| {
                if output.len() < 8192 {
                    output.extend_from_slice(bytes);
                }
            })
            .await;
        match result {
            Ok(exit) if exit.code == 0 => {}
            Ok(exit) => reporter.report(Event::Warning(format!(
                "`{display}` in the service's container exited with {}: {}",
                exit.code,
                String::from_utf8_lossy(&output).trim()
            ))),
            Err(e) => {
                reporter.report(Event::Warning(format!("`{display}` in the service's container: {}", e.one_line())))
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::time::Duration;

    use super::*;
    use crate::project::compose::ComposeOptions;
    use crate::project::service::ProjectSource;
    use crate::project::Project;

    /// The service `api` of a compose folder whose `develop.watch` is `watch` (YAML list
    /// items, indented for it), built from `api/` (a Dockerfile copying `src` and `conf`).
    pub(in crate::rebuild) fn service(watch: &str) -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().expect("tempdir");
        for (file, text) in [
            ("api/Dockerfile", "FROM debian:bookworm-slim\nCOPY src /src\nCOPY conf /conf\nRUN true\n"),
            ("api/src/main.c", "int main(void) { return 0; }\n"),
            ("api/conf/motd", "hello\n"),
        ] {
            let path = dir.path().join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }
        let develop = if watch.is_empty() { String::new() } else { format!("    develop:\n      watch:\n{watch}") };
        std::fs::write(dir.path().join("compose.yaml"), format!("services:\n  api:\n    build: ./api\n{develop}"))
            .expect("write");
        let options = ComposeOptions { dir: dir.path().to_path_buf(), ..Default::default() };
        let source = ProjectSource::Service {
            options,
            service: "api".into(),
            twins: Vec::new(),
            version: Some(ComposeVersion::V2),
        };
        let project = source.load().expect("loads");
        (dir, project)
    }

    fn report(outcome: Outcome, synced: &[&Path]) -> CycleReport {
        CycleReport {
            outcome,
            uploaded: synced.len(),
            deleted: 0,
            synced: synced.iter().map(|p| p.to_path_buf()).collect(),
            files_only: None,
            steps_skipped: 0,
            timings: Vec::new(),
            stages: Vec::new(),
            image: "x:latest".into(),
            image_id: Some("sha256:1".into()),
            total: Duration::ZERO,
            files_read: 0,
            stage: None,
            service_update: None,
            service_started: Vec::new(),
            service_kept: Vec::new(),
            push: None,
        }
    }

    fn decide(project: &Project, report: &CycleReport, first: bool) -> &'static str {
        let service = project.service.as_ref().expect("a service");
        match develop_update(service, &project.plan.context, report, first) {
            Update::Recreate => "recreate",
            Update::Copy { commands, .. } if commands.is_empty() => "copy",
            Update::Copy { .. } => "copy+exec",
            Update::CopyAll { .. } => "copy all",
            Update::Nothing => "nothing",
        }
    }

    const HOT: &str = "        - action: sync\n          path: ./api/src\n          target: /src\n          \
                       initial_sync: true\n        - action: sync+exec\n          path: ./api/conf\n          \
                       target: /conf\n          exec:\n            command: reload\n";

    #[test]
    fn without_develop_every_new_image_recreates() {
        let (_dir, project) = service("");
        let main = project.plan.context.join("src/main.c");
        assert_eq!(decide(&project, &report(Outcome::Succeeded { committed: true }, &[&main]), false), "recreate");
        assert_eq!(decide(&project, &report(Outcome::UpToDate, &[]), true), "recreate");
    }

    #[test]
    fn sync_rules_copy_into_the_containers_and_sync_exec_runs_its_command() {
        let (_dir, project) = service(HOT);
        let context = project.plan.context.clone();
        let (main, motd) = (context.join("src/main.c"), context.join("conf/motd"));
        let succeeded = |files: &[&Path]| report(Outcome::Succeeded { committed: true }, files);
        assert_eq!(decide(&project, &succeeded(&[&main]), false), "copy");
        assert_eq!(decide(&project, &succeeded(&[&main, &motd]), false), "copy+exec");
        let service = project.service.as_ref().expect("a service");
        let Update::Copy { files, commands } = develop_update(service, &context, &succeeded(&[&motd]), false) else {
            panic!("a copy")
        };
        assert_eq!(files, [(motd.clone(), "/conf/motd".to_string())]);
        assert_eq!(commands, [vec!["reload".to_string()]]);
        // A full build makes a new image whatever changed: the containers are recreated.
        let built = report(Outcome::ImageBuilt { reason: "r".into() }, &[]);
        assert_eq!(decide(&project, &built, false), "recreate");
        // `initial_sync`: every file of its rule, at the session's first look only.
        assert_eq!(decide(&project, &report(Outcome::UpToDate, &[]), true), "copy all");
        assert_eq!(decide(&project, &report(Outcome::UpToDate, &[]), false), "nothing");
    }

    #[test]
    fn a_rule_that_restarts_recreates_and_so_does_an_up_to_date_image_behind_it() {
        let (_dir, project) = service(&format!(
            "{HOT}        - action: sync+restart\n          path: ./api/src/main.c\n          target: /src/main.c\n"
        ));
        let context = project.plan.context.clone();
        let (main, motd) = (context.join("src/main.c"), context.join("conf/motd"));
        let succeeded = |files: &[&Path]| report(Outcome::Succeeded { committed: true }, files);
        assert_eq!(decide(&project, &succeeded(&[&main]), false), "recreate");
        assert_eq!(decide(&project, &succeeded(&[&motd]), false), "copy+exec");
        assert_eq!(decide(&project, &report(Outcome::UpToDate, &[]), true), "recreate");
    }
}
