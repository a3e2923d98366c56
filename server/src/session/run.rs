//! The loop: takes inputs in order, makes one cycle of everything queued, runs it, and
//! reports. One cycle at a time per project, so a sync never overlaps a build or a commit.

use std::collections::VecDeque;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::mpsc;

use super::published::{Change, Published};
use super::{lock, CleanReply, CycleReply, Input, SessionEvent, Shared, Trigger, WeakHandle};
use crate::cancel::CancelToken;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind};
use crate::events::{Event, FileDiagnostic, Reporter};
use crate::project::service::ProjectSource;
use crate::project::Project;
use crate::rebuild::{BuildOptions, CycleReport, Rebuilder, ServiceExit, ServiceWatch, WATCH_FOR};
use crate::sync::watcher::{Batch, Subscription};

/// A cycle that follows saves made while the last one ran starts once none came for this
/// long: a burst (format-on-save, a save storm) becomes one cycle, not one per save. A save
/// to an idle session starts at once. (Watcher batches come only once the files went quiet.)
const SETTLE_QUIET: Duration = Duration::from_millis(150);
/// ... but never waits longer than this for the burst to end.
const SETTLE_MAX: Duration = Duration::from_secs(1);

pub(super) struct Session {
    source: ProjectSource,
    watch: bool,
    /// Our own queue, for the watcher's batches.
    queue: WeakHandle,
    shared: Arc<Shared>,
    events: mpsc::UnboundedSender<SessionEvent>,
    /// The watcher (None: it could not start) and the recipe it was set up for (a new
    /// .dockerignore or Dockerfile re-registers its folders). None until the project loads.
    watcher: Option<(Option<Subscription>, String)>,
    engine: Option<Engine>,
    /// Kept between cycles: it remembers the builder's manifest and the step started ahead.
    rebuilder: Option<Rebuilder>,
    published: Published,
    /// When the user last cancelled a cycle.
    cancelled_at: Option<SystemTime>,
    /// When the last cycle started, if it did not end clean (failed, timed out, cancelled, or
    /// an error): a change made since runs a cycle even back to content already mirrored, so
    /// what it said is said anew (a full build that failed on a broken manifest leaves the
    /// builder as it was, and the fix restores what it holds). The watcher's late news of the
    /// change that cycle built runs none.
    unclean: Option<SystemTime>,
    /// The watch of the containers the last cycle recreated (`Rebuilder::watch_service`),
    /// polled while idle; a cycle's start drops it.
    service_watch: Option<WatchTask>,
}

/// A service watch running on its own task (the loop's future must be `Send` and `Sync`
/// across awaits, which the engine's wait is not); dropping it ends the watch.
struct WatchTask(tokio::task::JoinHandle<Option<ServiceExit>>);

impl WatchTask {
    fn start(watch: ServiceWatch) -> WatchTask {
        WatchTask(tokio::spawn(watch))
    }
}

impl Drop for WatchTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Session {
    pub(super) fn new(
        source: ProjectSource,
        watch: bool,
        rebuilder: Option<Rebuilder>,
        queue: WeakHandle,
        shared: Arc<Shared>,
        events: mpsc::UnboundedSender<SessionEvent>,
    ) -> Session {
        Session {
            source,
            watch,
            queue,
            shared,
            events,
            watcher: None,
            engine: rebuilder.as_ref().map(|r| r.engine().clone()),
            rebuilder,
            published: Published::default(),
            cancelled_at: None,
            unclean: None,
            service_watch: None,
        }
    }

    pub(super) async fn run(mut self, inputs: &mut mpsc::UnboundedReceiver<Input>, fault: &mut Option<u64>) {
        let mut pending: VecDeque<Input> = VecDeque::new();
        // Saves came while the last cycle ran: the next waits for their burst to settle.
        let mut burst = false;
        loop {
            if pending.is_empty() {
                let input = match self.service_watch.as_mut() {
                    Some(watch) => tokio::select! {
                        input = inputs.recv() => input,
                        exit = &mut watch.0 => {
                            self.service_watch = None;
                            if let Ok(Some(exit)) = exit {
                                self.service_exited(exit);
                            }
                            continue;
                        }
                    },
                    None => inputs.recv().await,
                };
                match input {
                    Some(input) => pending.push_back(input),
                    None => return,
                }
            }
            while let Ok(input) = inputs.try_recv() {
                pending.push_back(input);
            }
            if self.shared.stopping.load(Ordering::SeqCst) {
                return self.stopped(pending);
            }
            let Some(first) = pending.pop_front() else { continue };
            let first = match first {
                Input::Stop => return self.stopped(pending),
                Input::Clean { reply } => {
                    self.clean(reply).await;
                    continue;
                }
                other => other,
            };
            if std::mem::take(&mut burst) {
                self.settle().await;
                while let Ok(input) = inputs.try_recv() {
                    pending.push_back(input);
                }
            }
            // Everything queued up to the next clean or stop is part of the same change.
            let mut work = Work::default();
            work.take(first);
            while matches!(pending.front(), Some(Input::Saved | Input::Changed { .. } | Input::Rebuild { .. })) {
                if let Some(input) = pending.pop_front() {
                    work.take(input);
                }
            }
            let news_since_unclean = self.unclean.is_some() && !work.watched_before(self.unclean);
            if work.only_watched && !news_since_unclean && self.already_synced().await {
                continue;
            }
            // The watcher's news of changes made before the user cancelled: the cancel dropped
            // them as it drops everything queued (the next save or command builds them).
            if work.only_watched && work.watched_before(self.cancelled_at) {
                continue;
            }
            let cancels = self.shared.cancels.load(Ordering::SeqCst);
            let started = Instant::now();
            let next = self.shared.cycles.load(Ordering::SeqCst) + 1;
            if fault.is_some_and(|n| n == next) {
                *fault = None;
                self.shared.cycles.store(next, Ordering::SeqCst);
                panic!("injected by DOCKER_REBUILDER_FAULT at cycle {next}");
            }
            let cycle_started = SystemTime::now();
            let result = self.cycle(work.full, work.trigger.unwrap_or(Trigger::Save)).await;
            self.unclean = (!result.as_ref().is_ok_and(CycleReport::succeeded)).then_some(cycle_started);
            // Idle until the next save: do not sit on the cycle's peak.
            crate::memory::release_free_memory();
            for reply in work.replies {
                let _ = reply.send(result.clone());
            }
            if self.shared.cancels.load(Ordering::SeqCst) != cancels {
                // The user stopped the build: what was queued behind it does not start it
                // again (the next save or command does).
                self.cancelled_at = Some(SystemTime::now());
                while let Ok(input) = inputs.try_recv() {
                    pending.push_back(input);
                }
                pending.retain_mut(|input| match input {
                    Input::Rebuild { reply, .. } => {
                        if let Some(reply) = reply.take() {
                            let _ = reply.send(Err(Error::new(ErrorKind::Cancelled, "cancelled", "")));
                        }
                        false
                    }
                    Input::Saved | Input::Changed { .. } => false,
                    Input::Clean { .. } | Input::Stop => true,
                });
            }
            burst = *lock(&self.shared.last_input) > started;
            // The next save then only writes its changes to a step already started.
            if let Some(rebuilder) = &self.rebuilder {
                rebuilder.prepare_next_cycle().await;
            }
        }
    }

    /// Waits until no save or command came for SETTLE_QUIET (at most SETTLE_MAX).
    async fn settle(&self) {
        let began = Instant::now();
        loop {
            let quiet = lock(&self.shared.last_input).elapsed();
            if quiet >= SETTLE_QUIET || began.elapsed() >= SETTLE_MAX || self.shared.stopping.load(Ordering::SeqCst) {
                return;
            }
            tokio::time::sleep((SETTLE_QUIET - quiet).min(SETTLE_MAX.saturating_sub(began.elapsed()))).await;
        }
    }

    fn stopped(self, pending: VecDeque<Input>) {
        for input in pending {
            match input {
                Input::Rebuild { reply: Some(reply), .. } => {
                    let _ = reply.send(Err(Error::new(ErrorKind::Cancelled, "stopped", "")));
                }
                Input::Clean { reply: Some(reply) } => {
                    let _ = reply.send(Err(Error::new(ErrorKind::Cancelled, "stopped", "")));
                }
                _ => {}
            }
        }
        self.emit(SessionEvent::Stopped);
    }

    fn emit(&self, event: SessionEvent) {
        let _ = self.events.send(event);
    }

    fn emit_changes(&self, changes: Vec<Change>) {
        for (path, diagnostics) in changes {
            self.emit(SessionEvent::Diagnostics { path, diagnostics });
        }
    }

    fn set_status(&self, change: impl FnOnce(&mut super::SessionStatus)) {
        let (errors, warnings) = self.published.counts();
        let status = {
            let mut status = lock(&self.shared.status);
            change(&mut status);
            status.errors = errors;
            status.warnings = warnings;
            status.clone()
        };
        self.emit(SessionEvent::Status(status));
    }

    /// The project as it is now (config and Dockerfile may have changed) and an engine.
    /// Hand the rebuilder back with `self.rebuilder = Some(..)` when done with it.
    async fn prepare(&mut self) -> Result<Rebuilder, Error> {
        // A compose service's image is named as the compose in use names it: asked once.
        if matches!(self.source, ProjectSource::Service { version: None, .. }) {
            let engine = self.engine().await?;
            if let ProjectSource::Service { options, version, .. } = &mut self.source {
                if let Ok(workspace) = crate::project::compose::load(options) {
                    *version = Some(crate::rebuild::compose_version(&engine, &workspace).await);
                }
            }
        }
        let project = self.source.load();
        // A failure at a file keeps its diagnostic there (one that is not the file's fault shows none).
        let failing = project.as_ref().err().filter(|e| e.kind != ErrorKind::NothingToRebuild);
        let keep = failing.and_then(|e| e.location.as_ref().map(|(p, _)| p.clone()));
        let cleared = self.published.clear_tool_errors(keep.as_deref());
        self.emit_changes(cleared);
        let project = project?;
        if self.watch {
            self.watch(&project);
        }
        let engine = self.engine().await?;
        if let Some(mut rebuilder) = self.rebuilder.take() {
            rebuilder.set_project(project);
            return Ok(rebuilder);
        }
        Ok(Rebuilder::new(engine, project))
    }

    /// The engine connection, made on first use (and again after one failed).
    async fn engine(&mut self) -> Result<Engine, Error> {
        if let Some(e) = &self.engine {
            return Ok(e.clone());
        }
        let e = Engine::connect().await?;
        self.engine = Some(e.clone());
        // A new connection after the old one failed: the rebuilder keeps what it
        // knows of the builder (a watcher's event for what it synced needs no cycle).
        if let Some(rebuilder) = &mut self.rebuilder {
            rebuilder.set_engine(e.clone());
        }
        Ok(e)
    }

    /// Starts the watcher, or points it at a changed recipe. A watcher that cannot start is
    /// said once; saves still work without it.
    fn watch(&mut self, project: &Project) {
        match &mut self.watcher {
            Some((_, recipe)) if *recipe == project.recipe => {}
            Some((watcher, recipe)) => {
                if let Some(watcher) = watcher {
                    watcher.update(crate::sync::watcher::WatchSpec::of(project));
                }
                *recipe = project.recipe.clone();
            }
            None => match Subscription::start(crate::sync::watcher::WatchSpec::of(project)) {
                Ok((watcher, mut batches)) => {
                    let queue = self.queue.clone();
                    tokio::spawn(async move {
                        while let Some(batch) = batches.recv().await {
                            if !queue.send(batch_changed(&batch)) {
                                break;
                            }
                        }
                    });
                    self.watcher = Some((Some(watcher), project.recipe.clone()));
                }
                Err(e) => {
                    self.emit(SessionEvent::WatcherUnavailable(e));
                    self.watcher = Some((None, project.recipe.clone()));
                }
            },
        }
    }

    /// Whether the host matches what this session last synced, so a watcher's batch needs no
    /// cycle (false when unsure).
    async fn already_synced(&mut self) -> bool {
        let Ok(rebuilder) = self.prepare().await else { return false };
        let same = matches!(rebuilder.differs_from_known(), Ok(Some(false)));
        self.rebuilder = Some(rebuilder);
        same
    }

    /// A container the last recreate started failed: its problems shown, the crash said, and
    /// the status saying the service is down until the next save fixes it.
    fn service_exited(&mut self, exit: ServiceExit) {
        let changes = self.published.service_exited(&exit.diagnostics);
        self.emit_changes(changes);
        let headline = exit.headline();
        self.emit(SessionEvent::ServiceExited(exit));
        self.set_status(|s| s.service_down(headline));
    }

    async fn cycle(&mut self, full: bool, trigger: Trigger) -> Result<CycleReport, Error> {
        // What the last recreate started is this cycle's to stop and watch again.
        self.service_watch = None;
        let cycle = self.shared.cycles.fetch_add(1, Ordering::SeqCst) + 1;
        // Cancellable from its start, before anyone is told it runs: the user sees it building
        // (and may press Cancel) while the engine is reached and the project loaded.
        let cancel = CancelToken::new();
        *lock(&self.shared.running) = Some((cycle, cancel.clone()));
        self.emit(SessionEvent::CycleStarted { cycle, trigger });
        self.set_status(|s| s.building());
        let rebuilder = match self.prepare().await {
            Ok(r) => r,
            Err(e) => {
                *lock(&self.shared.running) = None;
                return Err(self.tool_error(cycle, e));
            }
        };
        let mut reporter = CycleReporter { events: &self.events, published: &mut self.published, found: Vec::new() };
        let result = rebuilder.build(BuildOptions { full, cancel: Some(cancel), color: false }, &mut reporter).await;
        let found = std::mem::take(&mut reporter.found);
        *lock(&self.shared.running) = None;
        match result {
            Ok(report) => {
                let changes = self.published.cycle_ended(&found, &report);
                self.emit_changes(changes);
                // The cycle's end (its timings, in the log) before the status that follows it.
                self.emit(SessionEvent::CycleFinished { cycle, result: Ok(report.clone()) });
                self.set_status(|s| s.finished(&report));
                // Armed once the cycle's end is out: nothing of it delays the diagnostics.
                self.service_watch = rebuilder.watch_service(&report, WATCH_FOR, true).map(WatchTask::start);
                self.rebuilder = Some(rebuilder);
                Ok(report)
            }
            Err(e) => {
                self.rebuilder = Some(rebuilder);
                Err(self.tool_error(cycle, e))
            }
        }
    }

    async fn clean(&mut self, reply: Option<CleanReply>) {
        let events = self.events.clone();
        let mut notes = |e: Event| {
            if matches!(e, Event::Note(_) | Event::Warning(_)) {
                let _ = events.send(SessionEvent::Progress(e));
            }
        };
        let result = match self.prepare().await {
            Ok(rebuilder) => {
                let result = rebuilder.clean(false, &mut notes).await;
                self.rebuilder = Some(rebuilder);
                result
            }
            // A Dockerfile or rebuilder.toml that does not load strands no builder.
            Err(e)
                if matches!(
                    e.kind,
                    ErrorKind::Dockerfile | ErrorKind::NothingToRebuild | ErrorKind::Config | ErrorKind::Project
                ) =>
            {
                match self.engine().await {
                    Ok(engine) => crate::rebuild::clean_unloaded(&engine, &self.source, false, &mut notes).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        match &result {
            Ok(report) => {
                let message = match &report.builder_removed {
                    Some(name) => format!("removed the builder {name}"),
                    None => "no builder to remove".to_string(),
                };
                self.set_status(|s| s.idle(message));
            }
            Err(e) => self.tool_failed(e),
        }
        self.emit(SessionEvent::Cleaned(result.clone()));
        if let Some(reply) = reply {
            let _ = reply.send(result);
        }
    }

    /// What kept a cycle from doing its job: told to the front end (with the fix, and at its
    /// file and line when it has one); the session stays ready for the next save.
    fn tool_error(&mut self, cycle: u64, e: Error) -> Error {
        self.tool_failed(&e);
        self.emit(SessionEvent::CycleFinished { cycle, result: Err(e.clone()) });
        e
    }

    fn tool_failed(&mut self, e: &Error) {
        if e.kind == ErrorKind::EngineUnavailable {
            self.engine = None;
        }
        if e.kind == ErrorKind::NothingToRebuild {
            // Not a fault of the Dockerfile: no diagnostic on it, the status says why it idles.
            self.set_status(|s| s.idle(e.one_line()));
            return;
        }
        let changes = self.published.tool_error(e);
        self.emit_changes(changes);
        self.set_status(|s| s.failed(e));
    }
}

/// What a cycle's queued inputs amount to.
struct Work {
    full: bool,
    /// What the first input asked for.
    trigger: Option<Trigger>,
    replies: Vec<CycleReply>,
    /// Only watcher batches: a cycle runs only if the host differs from what was synced.
    only_watched: bool,
    /// The watcher batches' newest change: Some(None) before any, None when unknown.
    watched_changed_at: Option<Option<SystemTime>>,
}

impl Default for Work {
    fn default() -> Self {
        Work { full: false, trigger: None, replies: Vec::new(), only_watched: true, watched_changed_at: Some(None) }
    }
}

impl Work {
    fn take(&mut self, input: Input) {
        self.trigger.get_or_insert(match &input {
            Input::Changed { .. } => Trigger::FilesChanged,
            Input::Rebuild { full, .. } => Trigger::Command { full: *full },
            _ => Trigger::Save,
        });
        self.only_watched &= matches!(input, Input::Changed { .. });
        if let Input::Changed { changed_at } = input {
            // The newest of the batches' times; unknown if any batch's is.
            self.watched_changed_at = match (self.watched_changed_at, changed_at) {
                (Some(newest), Some(at)) => Some(newest.max(Some(at))),
                _ => None,
            };
        }
        if let Input::Rebuild { full, reply } = input {
            self.full |= full;
            self.replies.extend(reply);
        }
    }
}

impl Work {
    /// Whether every watched change is known to be older than `moment` (a cancel, an unclean
    /// cycle's start).
    fn watched_before(&self, moment: Option<SystemTime>) -> bool {
        match (self.watched_changed_at, moment) {
            (Some(Some(changed)), Some(moment)) => changed <= moment,
            _ => false,
        }
    }
}

/// A watcher batch as a session input: a rescan's time is unknown.
fn batch_changed(batch: &Batch) -> Input {
    if batch.rescan {
        return Input::Changed { changed_at: None };
    }
    Input::files_changed(&batch.paths)
}

/// Passes the core's events on, and turns the problems found so far into per-file changes.
struct CycleReporter<'a> {
    events: &'a mpsc::UnboundedSender<SessionEvent>,
    published: &'a mut Published,
    found: Vec<FileDiagnostic>,
}

impl Reporter for CycleReporter<'_> {
    fn report(&mut self, event: Event) {
        if let Event::Diagnostics(found) = &event {
            for (path, diagnostics) in self.published.found(found) {
                let _ = self.events.send(SessionEvent::Diagnostics { path, diagnostics });
            }
            self.found = found.clone();
        }
        let _ = self.events.send(SessionEvent::Progress(event));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn changed(at: Option<SystemTime>) -> Input {
        Input::Changed { changed_at: at }
    }

    #[test]
    fn watched_changes_older_than_the_cancel_are_dropped_and_newer_or_unknown_ones_are_not() {
        let cancel = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let before = cancel - Duration::from_millis(5);
        let after = cancel + Duration::from_millis(5);
        let work = |inputs: Vec<Input>| {
            let mut w = Work::default();
            inputs.into_iter().for_each(|i| w.take(i));
            w
        };
        assert!(work(vec![changed(Some(before)), changed(Some(before))]).watched_before(Some(cancel)));
        assert!(!work(vec![changed(Some(before)), changed(Some(after))]).watched_before(Some(cancel)));
        assert!(!work(vec![changed(Some(before)), changed(None)]).watched_before(Some(cancel)));
        assert!(!work(vec![changed(Some(before))]).watched_before(None), "no cancel yet");
        let mixed = work(vec![changed(Some(before)), Input::Saved]);
        assert!(!mixed.only_watched, "a save is never dropped");
    }

    #[test]
    fn a_batch_changed_at_is_its_newest_ctime_and_unknown_for_a_deletion_or_a_rescan() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a.txt");
        let start = SystemTime::now() - Duration::from_secs(1);
        std::fs::write(&file, "x").expect("write");
        let batch = |paths: &[&std::path::Path], rescan| Batch {
            paths: paths.iter().map(|p| p.to_path_buf()).collect::<BTreeSet<_>>(),
            rescan,
        };
        let changed_at = |b: &Batch| match batch_changed(b) {
            Input::Changed { changed_at } => changed_at,
            _ => panic!("a batch is a change"),
        };
        let at = changed_at(&batch(&[&file], false)).expect("a file's ctime");
        assert!(at >= start && at <= SystemTime::now() + Duration::from_secs(1), "{at:?}");
        assert_eq!(changed_at(&batch(&[&file, &dir.path().join("gone")], false)), None);
        assert_eq!(changed_at(&batch(&[&file], true)), None);
    }
}
