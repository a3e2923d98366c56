//! One long-lived task per project: takes jobs in order, coalesces the saves that arrive
//! during a cycle into one next cycle, runs the core, and renders its events for the client.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tower_lsp_server::ls_types::{MessageType, NumberOrString};
use tower_lsp_server::Client;

use super::convert;
use super::protocol::{StatusNotification, StatusParams};
use crate::cancel::CancelToken;
use crate::engine::Engine;
use crate::error::{Error, ErrorKind};
use crate::events::{Event, FileDiagnostic, Phase, Reporter, Severity};
use crate::project::Project;
use crate::rebuild::{BuildOptions, CycleReport, Outcome, Rebuilder};
use crate::sync::watcher::Watcher;

/// Build output sent as log messages per cycle, at most (the rest is counted, not sent).
const LOG_BUDGET: usize = 512 * 1024;

pub type Reply = oneshot::Sender<Result<Value, String>>;

pub enum Job {
    /// A save (or startup): bring the image up to date. Which file does not matter: a
    /// cycle compares every source with the builder's manifest.
    Sync,
    /// The file watcher saw changes (made by the editor or by anything else). Like `Sync`,
    /// but when the host already matches what was last synced (the save's own cycle sent
    /// them) it ends quietly, without a cycle.
    Changed,
    /// A command: rebuild now (or a full `docker build`), replying with the outcome.
    Rebuild {
        full: bool,
        reply: Option<Reply>,
    },
    Clean {
        reply: Option<Reply>,
    },
}

#[derive(Clone)]
pub struct WorkerHandle {
    tx: mpsc::UnboundedSender<Job>,
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    status: Mutex<StatusParams>,
    /// The running cycle's progress token and cancel switch.
    running: Mutex<Option<(String, CancelToken)>>,
    /// How many times the user cancelled: a cycle that saw it change drops what was queued.
    cancels: AtomicU64,
    builder: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl WorkerHandle {
    pub fn send(&self, job: Job) {
        // The worker lives as long as the server; a closed channel means shutdown.
        let _ = self.tx.send(job);
    }

    pub fn request(&self, job: impl FnOnce(Reply) -> Job) -> oneshot::Receiver<Result<Value, String>> {
        let (tx, rx) = oneshot::channel();
        self.send(job(tx));
        rx
    }

    pub fn status_json(&self) -> Value {
        let status = lock(&self.shared.status).clone();
        let mut value = serde_json::to_value(status).unwrap_or(Value::Null);
        value["builder"] = json!(self.shared.builder);
        value
    }

    pub fn cancel_if_token(&self, token: &str) {
        if let Some((t, cancel)) = lock(&self.shared.running).as_ref() {
            if t == token {
                self.shared.cancels.fetch_add(1, Ordering::SeqCst);
                cancel.cancel();
            }
        }
    }

    pub fn cancel_running(&self) {
        if let Some((_, cancel)) = lock(&self.shared.running).as_ref() {
            self.shared.cancels.fetch_add(1, Ordering::SeqCst);
            cancel.cancel();
        }
    }
}

pub fn spawn(dir: PathBuf, client: Client) -> WorkerHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        status: Mutex::new(StatusParams {
            project: dir.display().to_string(),
            state: "idle".to_string(),
            ..Default::default()
        }),
        running: Mutex::new(None),
        cancels: AtomicU64::new(0),
        builder: crate::project::builder_name(&dir),
    });
    let worker = Worker {
        dir,
        client,
        queue: tx.downgrade(),
        watcher: None,
        shared: shared.clone(),
        engine: None,
        rebuilder: None,
        published: HashMap::new(),
        tool_error_files: Vec::new(),
        cycles: 0,
    };
    tokio::spawn(worker.run(rx));
    WorkerHandle { tx, shared }
}

struct Worker {
    dir: PathBuf,
    client: Client,
    /// Our own queue, for the watcher's events (weak: the queue closes when the server ends).
    queue: mpsc::WeakUnboundedSender<Job>,
    /// Watches the project for changes made outside the editor (None: it could not start),
    /// and the recipe it was set up for (a new .dockerignore or Dockerfile re-registers its
    /// folders). None until the project first loads.
    watcher: Option<(Option<Watcher>, String)>,
    shared: Arc<Shared>,
    engine: Option<Engine>,
    /// Kept between cycles: it remembers the builder's manifest (see `Rebuilder::known`).
    rebuilder: Option<Rebuilder>,
    /// What is published now, per file.
    published: HashMap<PathBuf, Vec<FileDiagnostic>>,
    /// Files holding a diagnostic about the tool's own configuration.
    tool_error_files: Vec<PathBuf>,
    cycles: u64,
}

impl Worker {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Job>) {
        let mut pending: VecDeque<Job> = VecDeque::new();
        loop {
            if pending.is_empty() {
                match rx.recv().await {
                    Some(job) => pending.push_back(job),
                    None => return,
                }
            }
            // Everything queued while the last cycle ran becomes one cycle.
            while let Ok(job) = rx.try_recv() {
                pending.push_back(job);
            }
            let Some(first) = pending.pop_front() else { continue };
            if let Job::Clean { reply } = first {
                let result = self.clean().await;
                if let Some(reply) = reply {
                    let _ = reply.send(result);
                }
                continue;
            }
            let mut full = false;
            let mut replies = Vec::new();
            let mut only_watched = true;
            let mut take = |job: Job| {
                only_watched &= matches!(job, Job::Changed);
                if let Job::Rebuild { full: f, reply } = job {
                    full |= f;
                    replies.extend(reply);
                }
            };
            take(first);
            while matches!(pending.front(), Some(Job::Sync | Job::Changed | Job::Rebuild { .. })) {
                if let Some(job) = pending.pop_front() {
                    take(job);
                }
            }
            if only_watched && self.already_synced().await {
                continue;
            }
            let cancels = self.shared.cancels.load(Ordering::SeqCst);
            let result = self.cycle(full).await;
            // Idle until the next save: do not sit on the cycle's peak.
            crate::memory::release_free_memory();
            for reply in replies {
                let _ = reply.send(result.clone());
            }
            if self.shared.cancels.load(Ordering::SeqCst) != cancels {
                // The user stopped the build: what was queued behind it does not start it
                // again (the next save or command does).
                while let Ok(job) = rx.try_recv() {
                    pending.push_back(job);
                }
                pending.retain_mut(|job| match job {
                    Job::Rebuild { reply, .. } => {
                        if let Some(reply) = reply.take() {
                            let _ = reply.send(Err("cancelled".to_string()));
                        }
                        false
                    }
                    Job::Sync | Job::Changed => false,
                    Job::Clean { .. } => true,
                });
            }
            // The next save then only writes its changes to a step already started.
            if let Some(rebuilder) = &self.rebuilder {
                rebuilder.prepare_next_cycle().await;
            }
        }
    }

    /// The project as it is now (config and Dockerfile may have changed) and an engine.
    /// Hand the rebuilder back with `self.rebuilder = Some(..)` when done with it.
    async fn prepare(&mut self) -> Result<Rebuilder, Error> {
        let project = Project::load(&self.dir);
        self.clear_tool_errors(project.as_ref().err()).await;
        let project = project?;
        self.watch(&project).await;
        if let Some(mut rebuilder) = self.rebuilder.take() {
            rebuilder.project = project;
            return Ok(rebuilder);
        }
        let engine = match &self.engine {
            Some(e) => e.clone(),
            None => {
                let e = Engine::connect().await?;
                self.engine = Some(e.clone());
                e
            }
        };
        Ok(Rebuilder::new(engine, project))
    }

    /// Starts the watcher, or points it at a changed recipe. A watcher that cannot start is
    /// said once; saves still work without it.
    async fn watch(&mut self, project: &Project) {
        match &mut self.watcher {
            Some((_, recipe)) if *recipe == project.recipe => {}
            Some((watcher, recipe)) => {
                if let Some(watcher) = watcher {
                    watcher.update(crate::sync::watcher::WatchSpec::of(project));
                }
                *recipe = project.recipe.clone();
            }
            None => match Watcher::start(crate::sync::watcher::WatchSpec::of(project)) {
                Ok((watcher, mut batches)) => {
                    let queue = self.queue.clone();
                    tokio::spawn(async move {
                        while batches.recv().await.is_some() {
                            match queue.upgrade() {
                                Some(queue) if queue.send(Job::Changed).is_ok() => {}
                                _ => break,
                            }
                        }
                    });
                    self.watcher = Some((Some(watcher), project.recipe.clone()));
                }
                Err(e) => {
                    let text = format!("docker-rebuilder: not watching for changes outside the editor: {e}");
                    self.client.show_message(MessageType::WARNING, text).await;
                    self.watcher = Some((None, project.recipe.clone()));
                }
            },
        }
    }

    /// Whether the host matches what this server last synced, so a watcher event needs no
    /// cycle (false when unsure).
    async fn already_synced(&mut self) -> bool {
        let Ok(rebuilder) = self.prepare().await else { return false };
        let same = matches!(rebuilder.differs_from_known(), Ok(Some(false)));
        self.rebuilder = Some(rebuilder);
        same
    }

    async fn cycle(&mut self, full: bool) -> Result<Value, String> {
        self.set_status("building", "", None, None).await;
        let rebuilder = match self.prepare().await {
            Ok(r) => r,
            Err(e) => return Err(self.tool_error(e).await),
        };
        self.cycles += 1;
        let token = format!("docker-rebuilder/{}/{}", self.shared.builder, self.cycles);
        let cancel = CancelToken::new();
        *lock(&self.shared.running) = Some((token.clone(), cancel.clone()));

        // Progress is a request to the client: awaited here, in the worker, never in a handler.
        let progress = match self.client.create_work_done_progress(NumberOrString::String(token.clone())).await {
            Ok(()) => Some(
                self.client
                    .progress(NumberOrString::String(token), "Docker Rebuilder")
                    .with_cancel_button()
                    .with_message("checking sources")
                    .begin()
                    .await,
            ),
            Err(_) => None,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let forwarder = tokio::spawn(forward(self.client.clone(), rx, progress));
        let mut reporter = ChannelReporter(tx);
        let result = rebuilder.build(BuildOptions { full, cancel: Some(cancel) }, &mut reporter).await;
        drop(reporter);
        let (diagnostics, progress) = forwarder.await.unwrap_or((None, None));
        *lock(&self.shared.running) = None;
        self.rebuilder = Some(rebuilder);

        match result {
            Ok(report) => {
                self.publish_final(diagnostics.unwrap_or_default(), &report).await;
                let phases: Vec<String> =
                    report.stages.iter().map(|(s, d)| format!("{}={}ms", s.name(), d.as_millis())).collect();
                let total = report.total.as_millis();
                self.client
                    .log_message(
                        MessageType::INFO,
                        format!("timings: {} total={total}ms files_read={}", phases.join(" "), report.files_read),
                    )
                    .await;
                let (state, message) = summary(&report);
                if let Some(p) = progress {
                    p.finish_with_message(message.clone()).await;
                }
                let duration = report.total.as_millis() as u64;
                self.set_status(state, &message, report.image_id.clone(), Some(duration)).await;
                Ok(json!({
                    "state": state,
                    "message": message,
                    "image": report.image,
                    "imageId": report.image_id,
                    "durationMs": duration,
                    "uploaded": report.uploaded,
                    "deleted": report.deleted,
                    "filesRead": report.files_read,
                }))
            }
            Err(e) => {
                if let Some(p) = progress {
                    p.finish_with_message(e.cause.clone()).await;
                }
                Err(self.tool_error(e).await)
            }
        }
    }

    async fn clean(&mut self) -> Result<Value, String> {
        let rebuilder = match self.prepare().await {
            Ok(r) => r,
            Err(e) => return Err(self.tool_error(e).await),
        };
        let mut notes = Vec::new();
        let mut collect = |e: Event| {
            if let Event::Note(n) = e {
                notes.push(n)
            }
        };
        let result = rebuilder.clean(&mut collect).await;
        self.rebuilder = Some(rebuilder);
        match result {
            Ok(report) => {
                for note in notes {
                    self.client.log_message(MessageType::INFO, note).await;
                }
                let message = match &report.builder_removed {
                    Some(name) => format!("removed the builder {name}"),
                    None => "no builder to remove".to_string(),
                };
                self.set_status("idle", &message, None, None).await;
                Ok(json!({ "builderRemoved": report.builder_removed, "imagesRemoved": report.images_removed }))
            }
            Err(e) => Err(self.tool_error(e).await),
        }
    }

    /// Tells the user what went wrong with the tool itself, and how to fix it; returns the
    /// message. The worker stays ready for the next save.
    async fn tool_error(&mut self, e: Error) -> String {
        if e.kind == ErrorKind::EngineUnavailable {
            self.engine = None;
            self.rebuilder = None;
        }
        let text = if e.fix.is_empty() { e.cause.clone() } else { format!("{} — {}", e.cause, e.fix) };
        self.client.show_message(MessageType::ERROR, format!("docker-rebuilder: {text}")).await;
        if let Some((path, line)) = &e.location {
            if let Some(uri) = convert::uri(path) {
                let diagnostic = convert::tool_error(path, *line, &text);
                self.client.publish_diagnostics(uri, vec![diagnostic], None).await;
                self.tool_error_files.push(path.clone());
            }
        }
        self.set_status("error", &text, None, None).await;
        text
    }

    /// Clears configuration diagnostics once the configuration loads (except `keep`'s file).
    async fn clear_tool_errors(&mut self, keep: Option<&Error>) {
        let keep = keep.and_then(|e| e.location.as_ref().map(|(p, _)| p.clone()));
        for path in std::mem::take(&mut self.tool_error_files) {
            if Some(&path) != keep.as_ref() && !self.published.contains_key(&path) {
                if let Some(uri) = convert::uri(&path) {
                    self.client.publish_diagnostics(uri, Vec::new(), None).await;
                }
            }
        }
    }

    /// Publishes this cycle's diagnostics per file and clears what was fixed. After a failed
    /// build, a file that the build did not report again and that did not change keeps its
    /// diagnostics: `make -j` may have stopped before compiling it, so it is not known fixed.
    async fn publish_final(&mut self, found: Vec<FileDiagnostic>, report: &CycleReport) {
        let keep_stale = match report.outcome {
            Outcome::UpToDate | Outcome::Cancelled { .. } => return,
            Outcome::BuildFailed { .. } | Outcome::TimedOut { .. } => true,
            Outcome::Succeeded { .. } | Outcome::ImageBuilt { .. } => false,
        };
        let mut by_file: HashMap<PathBuf, Vec<FileDiagnostic>> = HashMap::new();
        for d in found {
            by_file.entry(d.path.clone()).or_default().push(d);
        }
        for (path, old) in &self.published {
            if by_file.contains_key(path) {
                continue;
            }
            let stale: Vec<FileDiagnostic> = if keep_stale && !report.synced.contains(path) {
                old.iter().filter(|d| d.tool != "build").cloned().collect()
            } else {
                Vec::new()
            };
            by_file.insert(path.clone(), stale);
        }
        for (path, diagnostics) in &by_file {
            publish(&self.client, path, diagnostics).await;
        }
        by_file.retain(|_, d| !d.is_empty());
        self.published = by_file;
    }

    async fn set_status(&self, state: &str, message: &str, image_id: Option<String>, duration_ms: Option<u64>) {
        let (errors, warnings) = self.published.values().flatten().fold((0, 0), |(e, w), d| match d.severity {
            Severity::Error => (e + 1, w),
            Severity::Warning => (e, w + 1),
            _ => (e, w),
        });
        let params = {
            let mut status = lock(&self.shared.status);
            status.state = state.to_string();
            status.message = message.to_string();
            status.errors = errors;
            status.warnings = warnings;
            if image_id.is_some() {
                status.image_id = image_id;
            }
            status.duration_ms = duration_ms.or(status.duration_ms);
            if status.image.is_empty() {
                status.image = crate::project::plan::image_name(None, &self.dir);
                if let Ok(config) = crate::project::config::Config::load(&self.dir) {
                    status.image = crate::project::plan::image_name(config.image.as_deref(), &self.dir);
                }
            }
            status.clone()
        };
        self.client.send_notification::<StatusNotification>(params).await;
    }
}

fn summary(report: &CycleReport) -> (&'static str, String) {
    match &report.outcome {
        Outcome::ImageBuilt { reason } => ("succeeded", format!("image built ({reason})")),
        Outcome::UpToDate => ("succeeded", "up to date".to_string()),
        Outcome::Succeeded { committed: true } => ("succeeded", format!("rebuilt and committed {}", report.image)),
        Outcome::Succeeded { committed: false } => ("succeeded", "built (not committed)".to_string()),
        Outcome::BuildFailed { exit_code, step } => ("failed", format!("`{step}` failed with exit code {exit_code}")),
        Outcome::Cancelled { reason } => ("idle", reason.clone()),
        Outcome::TimedOut { reason } => ("failed", reason.clone()),
    }
}

async fn publish(client: &Client, path: &Path, diagnostics: &[FileDiagnostic]) {
    if let Some(uri) = convert::uri(path) {
        client.publish_diagnostics(uri, diagnostics.iter().map(convert::diagnostic).collect(), None).await;
    }
}

struct ChannelReporter(mpsc::UnboundedSender<Event>);

impl Reporter for ChannelReporter {
    fn report(&mut self, event: Event) {
        let _ = self.0.send(event);
    }
}

type Progress = tower_lsp_server::OngoingProgress<tower_lsp_server::Unbounded, tower_lsp_server::Cancellable>;

/// Renders core events for the client, in order: progress, bounded log, diagnostics as they
/// are found. Returns the last diagnostics seen and the progress, for the cycle's end.
async fn forward(
    client: Client,
    mut events: mpsc::UnboundedReceiver<Event>,
    progress: Option<Progress>,
) -> (Option<Vec<FileDiagnostic>>, Option<Progress>) {
    let mut last = None;
    let mut log = Log::default();
    while let Some(event) = events.recv().await {
        match event {
            Event::PhaseStarted { phase, detail } => {
                log.flush(&client).await;
                if let Some(p) = &progress {
                    p.report_with_message(phase_message(phase, &detail), None).await;
                }
            }
            Event::PhaseFinished { .. } => {}
            Event::Output { text, .. } => log.push(&text, &client).await,
            Event::ImageBuildLine(line) => log.push(&format!("{line}\n"), &client).await,
            Event::Note(note) => {
                log.flush(&client).await;
                client.log_message(MessageType::INFO, note).await;
            }
            Event::Warning(text) => {
                log.flush(&client).await;
                client.show_message(MessageType::WARNING, format!("docker-rebuilder: {text}")).await;
            }
            Event::Diagnostics(found) => {
                let mut by_file: HashMap<&Path, Vec<FileDiagnostic>> = HashMap::new();
                for d in &found {
                    by_file.entry(&d.path).or_default().push(d.clone());
                }
                for (path, ds) in by_file {
                    publish(&client, path, &ds).await;
                }
                last = Some(found);
            }
        }
    }
    log.flush(&client).await;
    (last, progress)
}

fn phase_message(phase: Phase, detail: &str) -> String {
    match phase {
        Phase::ImageBuild => format!("docker build of {detail}"),
        Phase::Builder => "starting the builder".to_string(),
        Phase::Detect => "checking sources".to_string(),
        Phase::Sync => format!("syncing: {detail}"),
        Phase::Exec => format!("building: {detail}"),
        Phase::Commit => format!("committing {detail}"),
        Phase::Prune => "cleaning up".to_string(),
    }
}

/// Build output as `window/logMessage`, whole lines at a time, within LOG_BUDGET.
#[derive(Default)]
struct Log {
    pending: String,
    sent: usize,
    dropped: usize,
}

impl Log {
    async fn push(&mut self, text: &str, client: &Client) {
        if self.sent + self.pending.len() >= LOG_BUDGET {
            self.dropped += text.len();
            return;
        }
        self.pending.push_str(text);
        if self.pending.len() > 8 * 1024 {
            self.flush(client).await;
        }
    }

    async fn flush(&mut self, client: &Client) {
        let text = std::mem::take(&mut self.pending);
        let text = text.trim_end_matches('\n');
        if !text.is_empty() {
            self.sent += text.len();
            client.log_message(MessageType::LOG, text).await;
        }
        if self.dropped > 0 {
            client.log_message(MessageType::LOG, format!("[{} bytes of build output not shown]", self.dropped)).await;
            self.dropped = 0;
        }
    }
}
