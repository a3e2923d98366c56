//! A multi-stage image whose own stage is replayed: the image's rebuilder runs each builder
//! stage's rebuilder (one builder container each), then makes the image from the builders'
//! new files (`replay.rs`). A full build builds the image once with `docker build`, and
//! takes every stage's image from that one build's steps: the builders start from them, and
//! the replay starts from the image's stage as it was just before its first instruction that
//! reads a builder.

use std::collections::HashMap;
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::phases::Phases;
use super::replay::Ahead;
use super::{BuildOptions, CycleReport, Outcome, Rebuilder};
use crate::error::{ErrorKind, Result};
use crate::events::{Event, FileDiagnostic, Phase, Reporter};
use crate::project::LABEL_SOURCES;
use crate::sync::walk::{scan, HashSource, HostTree};
use crate::sync::Manifest;

/// Passes a stage's events on, with the diagnostics of the stages before it kept in every
/// list (each stage's rebuilder reports its own build's problems only).
/// When a builder starts building, the replay's container starts being made (`ahead`).
struct StageReporter<'a> {
    inner: &'a mut dyn Reporter,
    earlier: Vec<FileDiagnostic>,
    current: Vec<FileDiagnostic>,
    image: &'a Rebuilder,
    ahead: Option<Ahead>,
}

impl Reporter for StageReporter<'_> {
    fn report(&mut self, event: Event) {
        if matches!(event, Event::PhaseStarted { phase: Phase::Exec, .. }) && self.ahead.is_none() {
            self.ahead = self.image.prepare_replay();
        }
        match event {
            Event::Diagnostics(list) => {
                self.current = list;
                self.inner.report(Event::Diagnostics(self.earlier.iter().chain(&self.current).cloned().collect()));
            }
            other => self.inner.report(other),
        }
    }
}

impl StageReporter<'_> {
    fn next_stage(&mut self) {
        self.earlier.append(&mut self.current);
    }
}

impl Rebuilder {
    /// One operation on a replayed image: each builder's cycle, then the image.
    pub(super) async fn build_stages(&self, options: BuildOptions, reporter: &mut dyn Reporter) -> Result<CycleReport> {
        let lock = self.lock(options.cancel.as_ref(), reporter).await?;
        let result = self.build_stages_locked(options, reporter).await;
        // The image is made (or not): now the builders that built cleanly say so.
        for stage in &self.stages {
            if let Err(e) = stage.write_deferred(reporter).await {
                reporter
                    .report(Event::Note(format!("could not record the build of stage {}: {e}", stage.stage_label())));
            }
        }
        drop(lock);
        result
    }

    async fn build_stages_locked(&self, options: BuildOptions, reporter: &mut dyn Reporter) -> Result<CycleReport> {
        let started = Instant::now();
        if options.full {
            return self.full_build_report("a full rebuild was asked for", started, reporter).await;
        }
        let mut reporter =
            StageReporter { inner: reporter, earlier: Vec::new(), current: Vec::new(), image: self, ahead: None };
        let result = self.build_builders_then_replay(options, started, &mut reporter).await;
        self.discard(reporter.ahead.take());
        result
    }

    async fn build_builders_then_replay(
        &self,
        options: BuildOptions,
        started: Instant,
        reporter: &mut StageReporter<'_>,
    ) -> Result<CycleReport> {
        let mut total = self.report(Outcome::UpToDate, started);
        let mut rebuilt = false;
        for stage in &self.stages {
            let label = stage.stage_label();
            let options = BuildOptions { full: false, cancel: options.cancel.clone(), color: options.color };
            let report = match stage.build(options, &mut *reporter).await {
                Err(e) if e.kind == ErrorKind::FullBuildNeeded => {
                    // The recipe and a missing builder concern the whole image; a file change
                    // is the stage's.
                    let whole = e.cause.contains("since the image was built") || e.cause.contains("no builder yet");
                    let reason = if whole { e.cause } else { format!("stage {label}: {}", e.cause) };
                    return self.full_build_report(&reason, started, reporter.inner).await;
                }
                other => other?,
            };
            reporter.next_stage();
            total.add(&report);
            if !report.succeeded() {
                total.outcome = report.outcome;
                total.stage = Some(label);
                total.image_id = report.image_id;
                total.total = started.elapsed();
                return Ok(total);
            }
            rebuilt |= matches!(report.outcome, Outcome::Succeeded { .. });
        }
        let mut phases = Phases::new(reporter.inner);
        let Some(record) = self.stages.first().and_then(|s| s.known_manifest()).and_then(|m| m.assembly) else {
            drop(phases);
            let reason = "the builders hold no record of the image's base (made by an older version)";
            return self.full_build_report(reason, started, reporter.inner).await;
        };
        let tree = self.replay_sources()?;
        let sources = self.sources_label(&tree);
        let image = self.engine.image(&self.project.plan.image).await?;
        let held = image.as_ref().and_then(|i| i.labels.get(LABEL_SOURCES)) == Some(&sources);
        if held && !rebuilt {
            self.set_image_sources(Some(sources));
            phases.note(format!("no changes: {} is up to date", self.project.plan.image));
            total.image_id = image.map(|i| i.id);
            total.total = started.elapsed();
            return Ok(total);
        }
        if let Some(why) = self.project.plan.assembly.as_ref().and_then(|a| a.unreplayable.clone()) {
            drop(phases);
            let reason = format!("the image's stage cannot be replayed after {why}");
            return self.full_build_report(&reason, started, reporter.inner).await;
        }
        let ahead = reporter.ahead.take();
        self.stop_service_ahead(None);
        let replayed = self.replay(&record, &tree, &sources, options.cancel.as_ref(), &mut phases, ahead).await;
        phases.finish();
        super::phases::add_times(&mut total.timings, &phases.timings);
        super::phases::add_times(&mut total.stages, &phases.stages);
        total.image_id = self.engine.image(&self.project.plan.image).await?.map(|i| i.id);
        total.total = started.elapsed();
        match replayed {
            Err(e) if e.kind == ErrorKind::FullBuildNeeded => {
                // The service serves its old code while the full build runs.
                self.restart_stopped_ahead(reporter.inner).await;
                let reason = e.cause;
                self.full_build_report(&reason, started, reporter.inner).await
            }
            Err(e) => Err(e),
            Ok(outcome) => {
                if matches!(outcome, Outcome::Succeeded { .. }) {
                    self.set_image_sources(Some(sources));
                } else {
                    total.stage =
                        Some(self.project.plan.assembly.as_ref().map_or_else(String::new, |a| a.stage.label()));
                }
                total.outcome = outcome;
                Ok(total)
            }
        }
    }

    pub(super) fn set_image_sources(&self, sources: Option<String>) {
        *self.image_sources.lock().unwrap_or_else(|e| e.into_inner()) = sources;
    }

    /// The sources label of the image as this process last left it (a replayed image).
    pub(super) fn known_image_sources(&self) -> Option<String> {
        self.image_sources.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The image's context copies after the replay point, as the host has them now.
    pub(super) fn replay_sources(&self) -> Result<HostTree> {
        match self.project.plan.assembly_view() {
            Some(view) => scan(&view, &self.project.ignore, HashSource::Cached(&self.hashes)),
            None => Ok(HostTree::default()),
        }
    }

    /// What the image is labelled with: every builder's sources and the replayed copies.
    pub(super) fn sources_label(&self, tree: &HostTree) -> String {
        let manifests: Vec<Manifest> = self.stages.iter().map(|s| s.known_manifest().unwrap_or_default()).collect();
        self.sources_label_of(&manifests, tree)
    }

    fn sources_label_of(&self, manifests: &[Manifest], tree: &HostTree) -> String {
        let mut digest = Sha256::new();
        for (stage, manifest) in self.stages.iter().zip(manifests) {
            digest.update(stage.stage_label().as_bytes());
            digest.update(manifest.sources_hash().as_bytes());
        }
        digest.update(Manifest::of(tree, "").sources_hash().as_bytes());
        digest.finalize().iter().take(16).map(|b| format!("{b:02x}")).collect()
    }

    /// The sources label of an image built from `context` (a full build's).
    pub(super) fn sources_label_for(&self, hashes: &HashMap<String, String>) -> Result<String> {
        let mut manifests = Vec::new();
        for stage in &self.stages {
            let tree = scan(&stage.project.plan, &self.project.ignore, HashSource::Recorded(hashes))?;
            manifests.push(Manifest::of(&tree, ""));
        }
        let tree = match self.project.plan.assembly_view() {
            Some(view) => scan(&view, &self.project.ignore, HashSource::Recorded(hashes))?,
            None => HostTree::default(),
        };
        Ok(self.sources_label_of(&manifests, &tree))
    }

    /// The stage this rebuilder builds, as the user knows it.
    pub(super) fn stage_label(&self) -> String {
        let plan = &self.project.plan;
        plan.builder.and_then(|b| plan.builders.get(b)).map_or_else(|| "final".to_string(), |b| b.stage.label())
    }

    /// A report of `outcome` that ran no cycle of its own (nothing synced, no phases).
    pub(super) fn report(&self, outcome: Outcome, started: Instant) -> CycleReport {
        CycleReport {
            outcome,
            uploaded: 0,
            deleted: 0,
            synced: Vec::new(),
            files_only: None,
            steps_skipped: 0,
            timings: Vec::new(),
            stages: Vec::new(),
            image: self.project.plan.image.clone(),
            image_id: None,
            total: started.elapsed(),
            files_read: 0,
            stage: None,
            service_update: None,
            service_started: Vec::new(),
            service_kept: Vec::new(),
            push: None,
        }
    }

    async fn full_build_report(
        &self,
        reason: &str,
        started: Instant,
        reporter: &mut dyn Reporter,
    ) -> Result<CycleReport> {
        let built = self.full_build_stages(reason, reporter).await?;
        let mut report = self.report(built.outcome(), started);
        report.stage = built.stage();
        report.image_id = self.engine.image(&self.project.plan.image).await?.map(|i| i.id);
        Ok(report)
    }
}

impl CycleReport {
    /// Adds a stage's cycle to the image's.
    fn add(&mut self, stage: &CycleReport) {
        self.uploaded += stage.uploaded;
        self.deleted += stage.deleted;
        self.synced.extend(stage.synced.iter().cloned());
        super::phases::add_times(&mut self.timings, &stage.timings);
        super::phases::add_times(&mut self.stages, &stage.stages);
        self.files_read += stage.files_read;
        self.steps_skipped += stage.steps_skipped;
    }
}
