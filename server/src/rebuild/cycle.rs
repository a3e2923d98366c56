//! One cycle: detect → sync → exec → commit → prune. Sync never overlaps the build or the
//! commit: they run in sequence here, and a Rebuilder runs one operation at a time. (Beside
//! the commit only a `develop.watch` copy into the service's containers runs: `sync_ahead.rs`.)

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Instant, SystemTime};

use super::builder::{Builder, Ensured};
use super::diagnose::Diagnoser;
use super::lock::{BuildMark, ProjectLock};
use super::phases::Phases;
use super::{BuildOptions, CancelToken, CycleReport, Outcome, Rebuilder};
use crate::engine::CommitConfig;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, Phase, Reporter, Stage};
use crate::project::plan::Step;
use crate::project::{LABEL_PROJECT, LABEL_ROLE, LABEL_SOURCES};
use crate::sync::extract::{self, Verdict};

impl Rebuilder {
    /// Brings the image up to date with the host's sources (and, for a compose service, its
    /// running containers onto the image).
    pub async fn build(&self, options: BuildOptions, reporter: &mut dyn Reporter) -> Result<CycleReport> {
        self.color.store(options.color, std::sync::atomic::Ordering::SeqCst);
        self.forget_synced_ahead();
        let mut report = match self.build_image(options, reporter).await {
            Ok(report) => report,
            Err(e) => {
                self.restart_stopped_ahead(reporter).await;
                return Err(e);
            }
        };
        self.update_service(&mut report, reporter).await;
        // Containers stopped ahead that no recreate took over (the commit failed, or the
        // update was not one) serve the old code again.
        self.restart_stopped_ahead(reporter).await;
        self.prune_deferred(reporter).await;
        self.push_image(&mut report, reporter).await;
        Ok(report)
    }

    async fn build_image(&self, options: BuildOptions, reporter: &mut dyn Reporter) -> Result<CycleReport> {
        if !self.stages.is_empty() {
            let result = Box::pin(self.build_stages(options, reporter)).await;
            self.save_hashes();
            return result;
        }
        let started = Instant::now();
        let lock = self.lock(options.cancel.as_ref(), reporter).await?;
        // Kept under the lock, so the next process reads what this one saw.
        let _keep = KeepHashes(self);
        self.set_built(None);
        let result = self.build_locked(options, started, &lock, reporter).await;
        self.record_build_mark(&lock);
        result
    }

    /// After an operation: when a build ran in the builder, records its end with the
    /// manifest's stat (see `mtime_floor`).
    fn record_build_mark(&self, lock: &ProjectLock) {
        let Some(ended) = *self.built.lock().unwrap_or_else(|e| e.into_inner()) else {
            return;
        };
        if let Some((container, manifest)) = self.known_stamp() {
            lock.record_build(&BuildMark { container, manifest, ended });
        }
    }

    /// A stage's builder: writes the manifest of its clean build (deferred until the image
    /// was made), keeping the build mark true for the manifest's new stat.
    pub(super) async fn write_deferred(&self, reporter: &mut dyn Reporter) -> Result<()> {
        let deferred = self.deferred.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some((id, base, manifest)) = deferred else { return Ok(()) };
        let lock = self.lock(None, reporter).await?;
        let mark =
            lock.last_build().filter(|m| self.known_stamp().is_some_and(|(c, s)| m.container == c && m.manifest == s));
        self.write_manifest(&id, &base, &manifest).await?;
        if let (Some(mark), Some((container, stamp))) = (mark, self.known_stamp()) {
            lock.record_build(&BuildMark { container, manifest: stamp, ended: mark.ended });
        }
        Ok(())
    }

    /// Marks the builder's files as (possibly) changed by a build until now.
    pub(super) fn set_built(&self, at: Option<SystemTime>) {
        *self.built.lock().unwrap_or_else(|e| e.into_inner()) = at;
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
        let ensured = until_cancelled(options.cancel.as_ref(), self.ensure_builder(options.full, reporter)).await;
        let builder = match ensured {
            Ok(Ensured::Ready(b)) => b,
            Ok(Ensured::Built(built)) => {
                return self.report_without_cycle(built.outcome(), started, reads_before).await;
            }
            Err(e) if e.kind == ErrorKind::Cancelled => {
                return self.report_without_cycle(Outcome::Cancelled { reason: e.cause }, started, reads_before).await;
            }
            Err(e) => return Err(e),
        };
        let mut phases = Phases::new(reporter);
        let floor = self.mtime_floor(lock);
        let result = self.cycle(*builder, floor, options.cancel.as_ref(), &mut phases).await;
        phases.finish();
        let (outcome, uploaded, deleted, synced, files_only, steps_skipped) = match result {
            Err(e) if e.kind == ErrorKind::Cancelled => {
                (Outcome::Cancelled { reason: e.cause }, 0, 0, Vec::new(), None, 0)
            }
            Err(e) => return Err(e),
            Ok(CycleResult::FullBuild(reason)) if self.stage_of.is_some() => {
                return Err(Error::new(ErrorKind::FullBuildNeeded, reason, ""));
            }
            Ok(CycleResult::FullBuild(reason)) => {
                match until_cancelled(options.cancel.as_ref(), self.full_build(&reason, phases.reporter)).await {
                    Ok(built) => (built.outcome(), 0, 0, Vec::new(), None, 0),
                    Err(e) if e.kind == ErrorKind::Cancelled => {
                        (Outcome::Cancelled { reason: e.cause }, 0, 0, Vec::new(), None, 0)
                    }
                    Err(e) => return Err(e),
                }
            }
            Ok(CycleResult::Done { outcome, uploaded, deleted, synced, files_only, steps_skipped }) => {
                (outcome, uploaded, deleted, synced, files_only, steps_skipped)
            }
        };
        let image_id = self.engine.image(&self.project.plan.image).await?.map(|i| i.id);
        Ok(CycleReport {
            outcome,
            uploaded,
            deleted,
            synced,
            files_only,
            steps_skipped,
            timings: phases.timings,
            stages: phases.stages,
            image: self.project.plan.image.clone(),
            image_id,
            total: started.elapsed(),
            files_read: self.hashes.reads() - reads_before,
            stage: None,
            service_update: None,
            service_started: Vec::new(),
            service_kept: Vec::new(),
            push: None,
        })
    }

    /// The report of a cycle that ended with the builder's `docker build` (done or cancelled).
    async fn report_without_cycle(
        &self,
        outcome: Outcome,
        started: Instant,
        reads_before: usize,
    ) -> Result<CycleReport> {
        let image_id = self.engine.image(&self.project.plan.image).await?.map(|i| i.id);
        let mut report = self.report(outcome, started);
        report.image_id = image_id;
        report.files_read = self.hashes.reads() - reads_before;
        Ok(report)
    }

    async fn cycle(
        &self,
        builder: Builder,
        floor: SystemTime,
        cancel: Option<&CancelToken>,
        phases: &mut Phases<'_>,
    ) -> Result<CycleResult> {
        let plan = &self.project.plan;
        // A cancel that came while the cycle was prepared (the engine reached, the builder
        // ensured) stops it before anything runs.
        if cancel.is_some_and(CancelToken::is_cancelled) {
            return Err(Error::new(ErrorKind::Cancelled, "the build was cancelled before it started", ""));
        }
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
            if let Some(why) = rule.and_then(|r| plan.sync[r].why.as_ref()) {
                return Ok(CycleResult::FullBuild(format!("{shown}{others} changed: {why}")));
            }
            let line = rule.map(|r| plan.sync[r].line).filter(|l| *l > 0);
            let at = line.map(|l| format!(" at Dockerfile line {l}")).unwrap_or_default();
            return Ok(CycleResult::FullBuild(format!(
                "{shown}{others} changed, and the Dockerfile copies it{at} before a RUN that a sync cannot replay"
            )));
        }
        if changes.is_empty() {
            if !builder.manifest.pending || self.image_holds(&builder.manifest).await? {
                phases.finish();
                // A stage's builder says nothing: the image's rebuilder tells what it all came to.
                if self.stage_of.is_none() {
                    phases.note(format!("no changes: {} is up to date", plan.image));
                }
                return Ok(CycleResult::Done {
                    outcome: Outcome::UpToDate,
                    uploaded: 0,
                    deleted: 0,
                    synced: Vec::new(),
                    files_only: None,
                    steps_skipped: 0,
                });
            }
            phases.note("no new changes; the last build failed, so building again");
        }

        // A build cut off with the engine's connection may still run: never sync under it.
        self.engine.stop_interrupted_build(&builder.id).await;
        let (mut manifest, archive) = self.pack(&builder, &tree, &host, &changes, floor, phases).await?;
        // Each changed path in the builder with its host file (None: not known), once.
        let changed: Vec<(Option<PathBuf>, &String)> = changes
            .upload
            .iter()
            .map(|p| (tree.entries.get(p).map(|f| f.host.clone()), p))
            .chain(changes.delete.iter().map(|p| (plan.host_path(p), p)))
            .collect();
        let synced: Vec<PathBuf> = changed.iter().filter_map(|(host, _)| host.clone()).collect();

        let first_step = self.first_step(&builder, &changed).await?;
        let steps = &plan.steps[first_step..];
        if first_step > 0 {
            let skipped: Vec<String> = plan.steps[..first_step].iter().map(|s| format!("`{}`", s.display)).collect();
            phases.note(format!(
                "not run, as docker's layer cache would not: {} (what changed is copied after it)",
                skipped.join(", ")
            ));
        }
        let files_only = self.files_only(&changed, steps.is_empty());

        let base_user = self.base_user().await?;
        let user_of = |step: &Step| step.user.clone().unwrap_or_else(|| base_user.clone());
        // The changes ride on the first step's exec when it can extract them (see
        // `sync::extract`); otherwise they go through the archive endpoint now. (The exec
        // started ahead is the first step's: a cycle that starts later sends them first.)
        let mut ride = first_step == 0
            && plan.steps.first().is_some_and(|s| extract::is_root(&user_of(s)))
            && self.lock_rides().get(&builder.id) != Some(&false);
        if !ride {
            self.deliver(&builder, &manifest, &archive, phases).await?;
        }
        let mut diagnoser = Diagnoser::new(plan);
        for step in steps {
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
                    if e.kind == ErrorKind::Timeout {
                        phases.finish();
                        let timeout_secs = plan.timeout.map_or(0, |t| t.as_secs());
                        return Ok(CycleResult::Done {
                            outcome: Outcome::TimedOut { step: step.display.clone(), timeout_secs },
                            uploaded: changes.upload.len(),
                            deleted: changes.delete.len(),
                            synced,
                            files_only: None,
                            steps_skipped: 0,
                        });
                    }
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
                    files_only: None,
                    steps_skipped: 0,
                });
            }
        }
        // Warnings of a clean build, published before the commit starts.
        phases.reporter.report(Event::Diagnostics(diagnoser.diagnostics().to_vec()));

        if cancel.is_some_and(|c| c.is_cancelled()) {
            return Err(Error::new(ErrorKind::Cancelled, "the build was cancelled before its commit", ""));
        }
        let committed = if plan.commit {
            self.stop_service_ahead(files_only.clone());
            phases.start(Phase::Commit, plan.image.clone());
            let committing = Instant::now();
            let previous = self.engine.image(&plan.image).await?.map(|i| i.id);
            // The label, not a manifest rewrite, records that these sources built cleanly.
            let mut labels = HashMap::from([
                (LABEL_PROJECT.to_string(), self.project.label()),
                (LABEL_ROLE.to_string(), "image".to_string()),
                (LABEL_SOURCES.to_string(), manifest.sources_hash()),
            ]);
            // The builder's emptied compose labels must not reach the image.
            labels.extend(self.compose_labels(true));
            let commit = self.engine.commit(
                &builder.id,
                &plan.image,
                CommitConfig { original: &builder.base.config, extra_labels: labels },
            );
            // A develop.watch copy into the running containers needs no image: beside it.
            let (new_id, ()) = tokio::join!(commit, self.sync_service_ahead(&synced));
            let new_id = new_id?;
            phases.stage(Stage::Commit, committing.elapsed());
            self.tag_also(&new_id, phases.reporter).await;
            phases.start(Phase::Prune, "");
            let superseded = previous.filter(|p| *p != new_id && *p != builder.base.id);
            let pruning = Instant::now();
            self.prune_superseded(superseded, phases.reporter).await;
            phases.stage(Stage::Prune, pruning.elapsed());
            let rebasing = Instant::now();
            let image = self.engine.image(&new_id).await?;
            if let Some(image) = &image {
                self.rebase_if_large(&builder, image, &manifest, phases.reporter).await?;
            }
            phases.stage(Stage::Rebase, rebasing.elapsed());
            true
        } else if self.stage_of.is_some() {
            // A stage's builder: recorded as built once the image is made (off the save's path).
            manifest.pending = false;
            *self.deferred.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((builder.id.clone(), builder.base.clone(), manifest));
            false
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
            files_only: files_only.filter(|_| committed),
            steps_skipped: first_step,
        })
    }
}

impl Rebuilder {
    /// The first rebuild step this cycle runs (`Plan::first_step_for`): the first one when
    /// the last build did not end clean, as a failed step must run again whatever changed.
    async fn first_step(&self, builder: &Builder, changed: &[(Option<PathBuf>, &String)]) -> Result<usize> {
        let plan = &self.project.plan;
        let rel = |host: &PathBuf| host.strip_prefix(&plan.context).ok().map(|r| r.to_string_lossy().into_owned());
        let first =
            plan.first_step_for(&changed.iter().map(|(host, _)| host.as_ref().and_then(rel)).collect::<Vec<_>>());
        if first == 0 || !builder.manifest.pending || self.image_holds(&builder.manifest).await? {
            return Ok(first);
        }
        Ok(0)
    }

    /// With no step to run, the image changes by the synced files alone: each host file with
    /// its path in the image (see `bind_view.rs`). None when a step runs, the image is not this
    /// builder's commit, or a changed file's host path is not known (it could not be shown to be
    /// in a bind mount).
    fn files_only(&self, changed: &[(Option<PathBuf>, &String)], runs_no_step: bool) -> Option<Vec<(PathBuf, String)>> {
        let plan = &self.project.plan;
        if !runs_no_step || !plan.commit || self.stage_of.is_some() {
            return None;
        }
        changed.iter().map(|(host, path)| host.clone().map(|h| (h, path.to_string()))).collect()
    }
}

enum CycleResult {
    FullBuild(String),
    Done {
        outcome: Outcome,
        uploaded: usize,
        deleted: usize,
        synced: Vec<PathBuf>,
        files_only: Option<Vec<(PathBuf, String)>>,
        steps_skipped: usize,
    },
}

/// Writes the hashes a cycle's scan took for the next process, however the cycle ends (a
/// cancelled build's scan was complete all the same).
struct KeepHashes<'a>(&'a Rebuilder);

impl Drop for KeepHashes<'_> {
    fn drop(&mut self) {
        self.0.save_hashes();
    }
}

/// Runs `work` (a `docker build` and what follows it) until `cancel` fires. A cancelled build
/// is dropped: its connection closes and the engine stops the build (the classic builder
/// removes its step's container, BuildKit ends the solve); nothing is tagged.
async fn until_cancelled<T>(
    cancel: Option<&CancelToken>,
    work: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let Some(cancel) = cancel else { return work.await };
    tokio::select! {
        result = work => result,
        _ = cancel.cancelled() => Err(Error::new(ErrorKind::Cancelled, "the docker build was cancelled", "")),
    }
}
