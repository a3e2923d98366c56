//! One cycle: detect → sync → exec → commit → prune. Sync never overlaps the build or the
//! commit: they run in sequence here, and a Rebuilder runs one operation at a time.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use super::builder::{Builder, Ensured};
use super::diagnose::Diagnoser;
use super::lock::{BuildMark, ProjectLock};
use super::{BuildOptions, CancelToken, CycleReport, Outcome, Rebuilder, Status};
use crate::engine::{CommitConfig, ExecExit, ExecRequest, OutputStream, Stdin};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, Phase, Reporter, Stage};
use crate::project::plan::Step;
use crate::project::{LABEL_PROJECT, LABEL_ROLE, LABEL_SOURCES};
use crate::sync::archive::ArchiveWriter;
use crate::sync::extract::{self, ExtractWatch, Verdict};
use crate::sync::owner;
use crate::sync::walk::{scan, HashSource, SourceKind};
use crate::sync::{Changes, HostTree, Manifest};

/// Records per-phase time (and the finer stages) and tells the reporter.
struct Phases<'a> {
    reporter: &'a mut dyn Reporter,
    timings: Vec<(Phase, Duration)>,
    stages: Vec<(Stage, Duration)>,
    current: Option<(Phase, Instant)>,
}

impl<'a> Phases<'a> {
    fn new(reporter: &'a mut dyn Reporter) -> Self {
        Phases { reporter, timings: Vec::new(), stages: Vec::new(), current: None }
    }

    /// Adds `elapsed` to `stage` (a stage may be met more than once: several rebuild steps).
    fn stage(&mut self, stage: Stage, elapsed: Duration) {
        match self.stages.iter_mut().find(|(s, _)| *s == stage) {
            Some((_, total)) => *total += elapsed,
            None => self.stages.push((stage, elapsed)),
        }
    }

    /// Runs `work`, adding its time to `stage`.
    async fn timed<T>(&mut self, stage: Stage, work: impl std::future::Future<Output = T>) -> T {
        let started = Instant::now();
        let result = work.await;
        self.stage(stage, started.elapsed());
        result
    }

    fn start(&mut self, phase: Phase, detail: impl Into<String>) {
        self.finish();
        self.reporter.report(Event::PhaseStarted { phase, detail: detail.into() });
        self.current = Some((phase, Instant::now()));
    }

    fn finish(&mut self) {
        if let Some((phase, started)) = self.current.take() {
            let elapsed = started.elapsed();
            self.timings.push((phase, elapsed));
            self.reporter.report(Event::PhaseFinished { phase, elapsed });
        }
    }

    fn note(&mut self, text: impl Into<String>) {
        self.reporter.report(Event::Note(text.into()));
    }
}

impl Rebuilder {
    /// Brings the image up to date with the host's sources.
    pub async fn build(&self, options: BuildOptions, reporter: &mut dyn Reporter) -> Result<CycleReport> {
        let started = Instant::now();
        let lock = self.lock(options.cancel.as_ref(), reporter).await?;
        // Kept under the lock, so the next process reads what this one saw.
        let _keep = KeepHashes(self);
        self.built.store(false, Ordering::SeqCst);
        let result = self.build_locked(options, started, &lock, reporter).await;
        self.record_build_mark(&lock);
        result
    }

    /// After an operation: when a build ran in the builder, records its end with the
    /// manifest's stat (see `mtime_floor`).
    fn record_build_mark(&self, lock: &ProjectLock) {
        if !self.built.load(Ordering::SeqCst) {
            return;
        }
        if let Some((container, manifest)) = self.known_stamp() {
            lock.record_build(&BuildMark { container, manifest, ended: SystemTime::now() });
        }
    }

    /// The time a synced file's mtime must pass for make (and every tool that compares
    /// mtimes) to see it as newer than what the builder's last build made: that build's end,
    /// when the lock's record is for this builder and nobody synced since; else now.
    fn mtime_floor(&self, lock: &ProjectLock) -> SystemTime {
        match (lock.last_build(), self.known_stamp()) {
            (Some(mark), Some((container, manifest))) if mark.container == container && mark.manifest == manifest => {
                mark.ended
            }
            _ => SystemTime::now(),
        }
    }

    async fn build_locked(
        &self,
        options: BuildOptions,
        started: Instant,
        lock: &ProjectLock,
        reporter: &mut dyn Reporter,
    ) -> Result<CycleReport> {
        let reads_before = self.hashes.reads();
        let builder = match self.ensure_builder(options.full, reporter).await? {
            Ensured::Ready(b) => b,
            Ensured::Built { reason } => {
                let image_id = self.engine.image(&self.project.plan.image).await?.map(|i| i.id);
                return Ok(CycleReport {
                    outcome: Outcome::ImageBuilt { reason },
                    uploaded: 0,
                    deleted: 0,
                    synced: Vec::new(),
                    timings: Vec::new(),
                    stages: Vec::new(),
                    image: self.project.plan.image.clone(),
                    image_id,
                    total: started.elapsed(),
                    files_read: self.hashes.reads() - reads_before,
                });
            }
        };
        let mut phases = Phases::new(reporter);
        let floor = self.mtime_floor(lock);
        let result = self.cycle(*builder, floor, options.cancel.as_ref(), &mut phases).await;
        phases.finish();
        let (outcome, uploaded, deleted, synced) = match result {
            Err(e) if e.kind == ErrorKind::Cancelled => (Outcome::Cancelled { reason: e.cause }, 0, 0, Vec::new()),
            Err(e) if e.kind == ErrorKind::Timeout => (Outcome::TimedOut { reason: e.to_string() }, 0, 0, Vec::new()),
            Err(e) => return Err(e),
            Ok(CycleResult::FullBuild(reason)) => {
                let reason = self.full_build(&reason, phases.reporter).await?;
                (Outcome::ImageBuilt { reason }, 0, 0, Vec::new())
            }
            Ok(CycleResult::Done { outcome, uploaded, deleted, synced }) => (outcome, uploaded, deleted, synced),
        };
        let image_id = self.engine.image(&self.project.plan.image).await?.map(|i| i.id);
        Ok(CycleReport {
            outcome,
            uploaded,
            deleted,
            synced,
            timings: phases.timings,
            stages: phases.stages,
            image: self.project.plan.image.clone(),
            image_id,
            total: started.elapsed(),
            files_read: self.hashes.reads() - reads_before,
        })
    }

    async fn cycle(
        &self,
        builder: Builder,
        floor: SystemTime,
        cancel: Option<&CancelToken>,
        phases: &mut Phases<'_>,
    ) -> Result<CycleResult> {
        let plan = &self.project.plan;
        phases.start(Phase::Detect, "");
        let detecting = Instant::now();
        let (tree, host) = self.host_state()?;
        self.warn_refused(&tree, phases.reporter);
        let changes = builder.manifest.diff(&host);
        phases.stage(Stage::Detect, detecting.elapsed());
        if let Some(path) = changes.needs_full_build.first() {
            let shown = plan
                .host_path(path)
                .and_then(|h| h.strip_prefix(&self.project.dir).ok().map(|p| p.display().to_string()))
                .unwrap_or_else(|| path.clone());
            let more = changes.needs_full_build.len() - 1;
            let others = if more > 0 { format!(" (and {more} more)") } else { String::new() };
            let rule = tree.entries.get(path).map(|f| f.full_build.unwrap_or(f.rule));
            let line = rule.map(|r| plan.sync[r].line).filter(|l| *l > 0);
            let at = line.map(|l| format!(" at Dockerfile line {l}")).unwrap_or_default();
            return Ok(CycleResult::FullBuild(format!(
                "{shown}{others} changed, and the Dockerfile copies it{at} before a RUN that a sync cannot replay"
            )));
        }
        if changes.is_empty() {
            if !builder.manifest.pending || self.image_holds(&builder.manifest).await? {
                phases.finish();
                phases.note(format!("no changes: {} is up to date", plan.image));
                return Ok(CycleResult::Done {
                    outcome: Outcome::UpToDate,
                    uploaded: 0,
                    deleted: 0,
                    synced: Vec::new(),
                });
            }
            phases.note("no new changes; the last build failed, so building again");
        }

        // A build cut off with the engine's connection may still run: never sync under it.
        self.engine.stop_interrupted_build(&builder.id).await;
        let (mut manifest, archive) = self.pack(&builder, &tree, &host, &changes, floor, phases).await?;
        let synced: Vec<std::path::PathBuf> = changes
            .upload
            .iter()
            .filter_map(|p| tree.entries.get(p).map(|f| f.host.clone()))
            .chain(changes.delete.iter().filter_map(|p| plan.host_path(p)))
            .collect();

        let base_user = self.base_user().await?;
        let user_of = |step: &Step| step.user.clone().unwrap_or_else(|| base_user.clone());
        // The changes ride on the first step's exec when it can extract them (see
        // `sync::extract`); otherwise they go through the archive endpoint now.
        let mut ride = plan.steps.first().is_some_and(|s| extract::is_root(&user_of(s)))
            && self.lock_rides().get(&builder.id) != Some(&false);
        if !ride {
            self.deliver(&builder, &manifest, &archive, phases).await?;
        }
        let mut diagnoser = Diagnoser::new(plan);
        for step in &plan.steps {
            phases.start(Phase::Exec, step.display.clone());
            diagnoser.start_step(step);
            let user = user_of(step);
            let stdin = std::mem::take(&mut ride).then_some(archive.as_slice());
            let mut run = self.run_step(&builder.id, step, &user, stdin, cancel, &mut diagnoser, phases).await;
            if let Ok((_, Some(Verdict::Refused(why)))) = &run {
                // No shell or no GNU tar in the image: nothing was extracted. Say so once,
                // send the changes the other way, and run the step as it is.
                self.lock_rides().insert(builder.id.clone(), false);
                phases.note(format!(
                    "changes go through the engine's archive endpoint (one round trip more per save), as they \
                     cannot ride on the build's exec: {why}"
                ));
                self.deliver(&builder, &manifest, &archive, phases).await?;
                run = self.run_step(&builder.id, step, &user, None, cancel, &mut diagnoser, phases).await;
            }
            let code = match run {
                Ok((exit, verdict)) => {
                    if let Some(Verdict::Failed(message)) = verdict {
                        return Err(Error::new(
                            ErrorKind::Engine,
                            format!("could not write the changes into the builder: {}", message.trim()),
                            "check the builder's free disk space (`docker system df`); the next save sends them again",
                        ));
                    }
                    if verdict == Some(Verdict::Synced) {
                        self.lock_rides().insert(builder.id.clone(), true);
                        phases.timed(Stage::Upload, self.remember(&builder.id, &builder.base, &manifest)).await?;
                    }
                    exit.code
                }
                Err(e) => {
                    diagnoser.finish_step();
                    phases.reporter.report(Event::Diagnostics(diagnoser.diagnostics().to_vec()));
                    return Err(e);
                }
            };
            diagnoser.finish_step();
            if code != 0 {
                diagnoser.fallback_for_failure(step, code);
                phases.reporter.report(Event::Diagnostics(diagnoser.diagnostics().to_vec()));
                phases.finish();
                return Ok(CycleResult::Done {
                    outcome: Outcome::BuildFailed { exit_code: code, step: step.display.clone() },
                    uploaded: changes.upload.len(),
                    deleted: changes.delete.len(),
                    synced,
                });
            }
        }
        // Warnings of a clean build, published before the commit starts.
        phases.reporter.report(Event::Diagnostics(diagnoser.diagnostics().to_vec()));

        if cancel.is_some_and(|c| c.is_cancelled()) {
            return Err(Error::new(ErrorKind::Cancelled, "the build was cancelled before its commit", ""));
        }
        let committed = if plan.commit {
            phases.start(Phase::Commit, plan.image.clone());
            let committing = Instant::now();
            let previous = self.engine.image(&plan.image).await?.map(|i| i.id);
            // The label, not a manifest rewrite, records that these sources built cleanly.
            let labels = HashMap::from([
                (LABEL_PROJECT.to_string(), self.project.label()),
                (LABEL_ROLE.to_string(), "image".to_string()),
                (LABEL_SOURCES.to_string(), manifest.sources_hash()),
            ]);
            let new_id = self
                .engine
                .commit(&builder.id, &plan.image, CommitConfig { original: &builder.base.config, extra_labels: labels })
                .await?;
            phases.stage(Stage::Commit, committing.elapsed());
            phases.start(Phase::Prune, "");
            let superseded = previous.filter(|p| *p != new_id && *p != builder.base.id);
            let pruning = Instant::now();
            self.prune(superseded.iter(), phases.reporter).await;
            phases.stage(Stage::Prune, pruning.elapsed());
            let rebasing = Instant::now();
            let image = self.engine.image(&new_id).await?;
            if let Some(image) = &image {
                self.rebase_if_large(&builder, image, &manifest, phases.reporter).await?;
            }
            phases.stage(Stage::Rebase, rebasing.elapsed());
            true
        } else {
            manifest.pending = false;
            self.write_manifest(&builder.id, &builder.base, &manifest).await?;
            false
        };
        phases.finish();
        Ok(CycleResult::Done {
            outcome: Outcome::Succeeded { committed },
            uploaded: changes.upload.len(),
            deleted: changes.delete.len(),
            synced,
        })
    }

    /// Whether the tagged image was committed from exactly these sources.
    async fn image_holds(&self, manifest: &Manifest) -> Result<bool> {
        let image = self.engine.image(&self.project.plan.image).await?;
        Ok(image.and_then(|i| i.labels.get(LABEL_SOURCES).cloned()) == Some(manifest.sources_hash()))
    }

    /// The user a RUN has before any USER instruction: the base image's (root when it sets
    /// none). The builder's own default is the image's final USER, which may come later.
    pub(super) async fn base_user(&self) -> Result<String> {
        if self.project.plan.steps.iter().all(|s| s.user.is_some()) {
            return Ok(String::new());
        }
        let base = self.engine.image(&self.project.plan.base_image).await?;
        let user = base.and_then(|i| i.config.user).unwrap_or_default();
        Ok(if user.is_empty() { "0".to_string() } else { user })
    }

    /// Whether a cycle now would mirror anything, judged on the host alone against the
    /// manifest this process last left in the builder: `None` when it knows none. Lets a
    /// watcher's event for a change a save already synced end here, without a cycle.
    pub fn differs_from_known(&self) -> Result<Option<bool>> {
        let Some(known) = self.known_manifest() else { return Ok(None) };
        if known.recipe != self.project.recipe {
            return Ok(Some(true));
        }
        let (_, host) = self.host_state()?;
        let changes = known.diff(&host);
        Ok(Some(!changes.is_empty() || !changes.needs_full_build.is_empty()))
    }

    /// Says once per entry that a link pointing out of the context, or a name that is not
    /// UTF-8, is not synced.
    pub(super) fn warn_refused(&self, tree: &HostTree, reporter: &mut dyn crate::events::Reporter) {
        let mut warned = self.warned_links.lock().unwrap_or_else(|e| e.into_inner());
        for name in &tree.refused_names {
            if warned.insert(name.clone()) {
                reporter.report(Event::Warning(format!(
                    "{name}: the name is not valid UTF-8, so it is not synced (and not in the image's build \
                     context); rename it"
                )));
            }
        }
        for (rel, target) in &tree.refused_links {
            if warned.insert(format!("{rel}\0{target}")) {
                reporter.report(Event::Warning(format!(
                    "{rel} is a link to {target}, outside the build context: not synced (docker-rebuilder never \
                     sends links out of the project); point it inside the project, or copy what it needs"
                )));
            }
        }
    }

    /// The host's sources, and the manifest they would have.
    fn host_state(&self) -> Result<(HostTree, Manifest)> {
        let plan = &self.project.plan;
        let tree = scan(plan, &self.project.ignore, HashSource::Cached(&self.hashes))?;
        let manifest = Manifest::of(&tree, &self.project.recipe);
        Ok((tree, manifest))
    }

    /// Deletes what was removed, then packs one archive with every changed entry and the new
    /// manifest (marked pending until a build succeeds). Returns that manifest and the archive.
    ///
    /// Files keep their host mtime, as COPY keeps it, except a file the builder held before
    /// whose mtime is not past `floor` (the end of the builder's last build): it was written
    /// while that build ran (or its mtime was set back: `cp -p`, `touch -d`), and an object
    /// that build made from the old content would look newer to make. It gets the sync's time.
    async fn pack(
        &self,
        builder: &Builder,
        tree: &HostTree,
        host: &Manifest,
        changes: &Changes,
        floor: SystemTime,
        phases: &mut Phases<'_>,
    ) -> Result<(Manifest, Vec<u8>)> {
        phases.start(Phase::Sync, format!("{} changed, {} deleted", changes.upload.len(), changes.delete.len()));
        if !changes.delete.is_empty() {
            phases.timed(Stage::Upload, self.delete(builder, changes)).await?;
        }
        let packing = Instant::now();
        let owners = self.owners(builder).await?;
        let mut archive = ArchiveWriter::new();
        let mut manifest = host.clone();
        for path in &changes.upload {
            let Some(file) = tree.entries.get(path) else { continue };
            let owner = owners.get(&file.rule).copied().unwrap_or((0, 0));
            let floor = builder.manifest.entries.contains_key(path).then_some(floor);
            match &file.kind {
                SourceKind::File => match archive.add_file(path, &file.host, file.mode, owner, floor)? {
                    Some(hash) => {
                        if let Some(e) = manifest.entries.get_mut(path) {
                            e.hash = hash;
                        }
                    }
                    // Gone since the scan: the builder keeps what it had, and the manifest must
                    // say so, or nothing would ever delete it. The next cycle mirrors the loss.
                    None => match builder.manifest.entries.get(path) {
                        Some(old) => {
                            manifest.entries.insert(path.clone(), old.clone());
                        }
                        None => {
                            manifest.entries.remove(path);
                        }
                    },
                },
                SourceKind::Dir => archive.add_dir(path, &file.host, file.mode, owner)?,
                SourceKind::Symlink(target) => archive.add_symlink(path, target, owner)?,
            }
        }
        manifest.pending = true;
        manifest.first_layer = builder.manifest.first_layer.clone().filter(|f| f.builder == builder.id);
        archive.add_bytes(crate::sync::MANIFEST_PATH, &manifest.to_json(), 0o644)?;
        let archive = archive.finish()?;
        phases.stage(Stage::Archive, packing.elapsed());
        Ok((manifest, archive))
    }

    /// `rm -rf` of every deleted path, in one exec.
    async fn delete(&self, builder: &Builder, changes: &Changes) -> Result<()> {
        let argv: Vec<String> =
            ["rm", "-rf", "--"].iter().map(|s| s.to_string()).chain(changes.delete.iter().cloned()).collect();
        let request = ExecRequest { argv: &argv, workdir: None, env: &[], user: Some("0"), stdin: None };
        let mut output = String::new();
        let exit = self
            .engine
            .exec(&builder.id, request, None, None, &mut |_, b| output.push_str(&String::from_utf8_lossy(b)))
            .await?;
        if exit.code != 0 {
            return Err(Error::new(
                ErrorKind::Engine,
                format!("could not delete removed files in the builder: {}", output.trim()),
                "check that the image has `rm`",
            ));
        }
        Ok(())
    }

    /// Sends the archive through the engine's archive endpoint.
    async fn deliver(
        &self,
        builder: &Builder,
        manifest: &Manifest,
        archive: &[u8],
        phases: &mut Phases<'_>,
    ) -> Result<()> {
        let started = Instant::now();
        self.engine.upload(&builder.id, archive.to_vec()).await?;
        self.remember(&builder.id, &builder.base, manifest).await?;
        phases.stage(Stage::Upload, started.elapsed());
        Ok(())
    }

    /// Runs one rebuild step, its output through the matchers. With `archive`, the step runs
    /// behind the extraction script, and the script's verdict comes back with the exit.
    #[allow(clippy::too_many_arguments)]
    async fn run_step(
        &self,
        builder: &str,
        step: &Step,
        user: &str,
        archive: Option<&[u8]>,
        cancel: Option<&CancelToken>,
        diagnoser: &mut Diagnoser<'_>,
        phases: &mut Phases<'_>,
    ) -> Result<(ExecExit, Option<Verdict>)> {
        // From here the builder's files may change (even if the start fails half-way).
        self.built.store(true, Ordering::SeqCst);
        let argv = match archive {
            Some(_) => extract::wrap(&step.argv),
            None => step.argv.clone(),
        };
        // The archive is written once the script says it will read it.
        let ready = tokio::sync::Notify::new();
        let stdin = archive.map(|bytes| Stdin { bytes, ready: &ready });
        let request =
            ExecRequest { argv: &argv, workdir: Some(&step.workdir), env: &step.env, user: Some(user), stdin };
        let mut watch = archive.map(|_| ExtractWatch::new());
        let reporter = &mut *phases.reporter;
        let mut pass = |stream: OutputStream, bytes: &[u8]| {
            reporter.report(Event::Output { stream, text: String::from_utf8_lossy(bytes).into_owned() });
            if diagnoser.feed(bytes) {
                reporter.report(Event::Diagnostics(diagnoser.diagnostics().to_vec()));
            }
        };
        let mut on_output = |stream: OutputStream, bytes: &[u8]| match watch.as_mut() {
            Some(w) => {
                let was_ready = w.ready_at.is_some();
                w.feed(stream, bytes, &mut pass);
                if !was_ready && w.ready_at.is_some() {
                    ready.notify_one();
                }
            }
            None => pass(stream, bytes),
        };
        let asked = Instant::now();
        let timeout = self.project.plan.timeout;
        let exit = match stdin {
            // Riding: on the exec a long-lived front end started ahead, if it still waits.
            Some(stdin) => {
                let attached = match self.take_standby(builder).await {
                    Some(mut warm) => {
                        warm.start = Duration::ZERO;
                        Ok(warm)
                    }
                    None => self.engine.start_exec(builder, &request, true).await,
                };
                match attached {
                    Ok(a) => self.engine.finish_exec(builder, a, Some(stdin), timeout, cancel, &mut on_output).await,
                    Err(e) => Err(e),
                }
            }
            None => self.engine.exec(builder, request, timeout, cancel, &mut on_output).await,
        };
        let ended = Instant::now();
        // Behind the extraction script, its ready line marks the process running; else the
        // exec counts as started once attached (its process start then falls in the build).
        let attached = asked + exit.as_ref().map(|e| e.start).unwrap_or_default();
        let started = watch.as_ref().and_then(|w| w.ready_at).unwrap_or(attached);
        phases.stage(Stage::ExecStart, started.saturating_duration_since(asked));
        let synced_at = watch.as_ref().and_then(|w| w.synced_at);
        if let Some(at) = synced_at {
            phases.stage(Stage::Upload, at.saturating_duration_since(started));
        }
        phases.stage(Stage::Build, ended.saturating_duration_since(synced_at.unwrap_or(started)));
        let exit = exit?;
        Ok((exit, watch.map(ExtractWatch::outcome)))
    }

    pub(super) fn lock_rides(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, bool>> {
        self.rides.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// uid/gid for each sync rule: its `--chown`, else root (as COPY does). Remembered per
    /// image and recipe: reading passwd and group costs two archive downloads.
    async fn owners(&self, builder: &Builder) -> Result<HashMap<usize, (u32, u32)>> {
        let key = format!("{} {}", builder.base.id, self.project.recipe);
        if let Some((k, owners)) = self.owners.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            if *k == key {
                return Ok(owners.clone());
            }
        }
        let owners = self.resolve_owners(builder).await?;
        *self.owners.lock().unwrap_or_else(|e| e.into_inner()) = Some((key, owners.clone()));
        Ok(owners)
    }

    async fn resolve_owners(&self, builder: &Builder) -> Result<HashMap<usize, (u32, u32)>> {
        let specs: Vec<(usize, String)> = self
            .project
            .plan
            .sync
            .iter()
            .enumerate()
            // Without --chown, COPY makes root the owner, whatever USER says.
            .map(|(i, r)| (i, r.chown.clone().unwrap_or_else(|| "0:0".to_string())))
            .collect();
        let needs_lookup = specs.iter().any(|(_, s)| s.split(':').any(|p| !p.is_empty() && p.parse::<u32>().is_err()));
        let (passwd, group) = if needs_lookup {
            let read = |bytes: Option<Vec<u8>>| String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned();
            (
                read(self.engine.read_file(&builder.id, "/etc/passwd").await?),
                read(self.engine.read_file(&builder.id, "/etc/group").await?),
            )
        } else {
            Default::default()
        };
        let mut owners = HashMap::new();
        for (rule, spec) in specs {
            let ids = owner::resolve(&spec, &passwd, &group).ok_or_else(|| {
                Error::new(
                    ErrorKind::Project,
                    format!("the user `{spec}` that should own synced files does not exist in the image"),
                    "check the Dockerfile's USER or the COPY's --chown",
                )
            })?;
            owners.insert(rule, ids);
        }
        Ok(owners)
    }

    /// The image, the builder and what a cycle would do now.
    pub async fn status(&self) -> Result<Status> {
        let image_info = self.engine.image(&self.project.plan.image).await?;
        let builder_name = self.project.builder_name();
        let builder = self.engine.container(&builder_name).await?;
        let mut status = Status {
            image: self.project.plan.image.clone(),
            image_info,
            builder_name,
            builder: None,
            pending_uploads: None,
            pending_deletes: None,
            last_build_failed: false,
        };
        if let Some(b) = builder.filter(|b| b.labels.get(LABEL_PROJECT) == Some(&self.project.label())) {
            if b.running {
                if let Some(m) = self.read_manifest(&b.id).await? {
                    let changes = m.diff(&self.host_state()?.1);
                    status.pending_uploads = Some(changes.upload.len());
                    status.pending_deletes = Some(changes.delete.len());
                    status.last_build_failed = m.pending && !self.image_holds(&m).await?;
                }
            }
            status.builder = Some(b);
        }
        Ok(status)
    }
}

enum CycleResult {
    FullBuild(String),
    Done { outcome: Outcome, uploaded: usize, deleted: usize, synced: Vec<std::path::PathBuf> },
}

/// Writes the hashes a cycle's scan took for the next process, however the cycle ends (a
/// cancelled build's scan was complete all the same).
struct KeepHashes<'a>(&'a Rebuilder);

impl Drop for KeepHashes<'_> {
    fn drop(&mut self) {
        self.0.save_hashes();
    }
}
