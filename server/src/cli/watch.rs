//! `docker-rebuilder watch`: the rebuild loop in a terminal. The first cycle syncs whatever
//! changed while nothing was running; after it, every batch of changes the watcher sees
//! (saves, `git checkout`, generators) becomes one cycle. Compiler problems are printed as
//! `path:line:col: severity: message` relative to the folder it was started in, so terminals
//! make them clickable. Ctrl-C (or SIGTERM) stops the running build in the builder, commits
//! nothing, and exits: the builder's manifest still says exactly what it holds.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;

use super::render::{human, short_id, Mode};
use super::style::{paint, Paint};
use super::targets::Target;
use super::watch_follow::{group_of, Follow, Group};
use crate::error::Error;
use crate::events::{Event, FileDiagnostic, Phase, Reporter, Severity};
use crate::rebuild::{CycleReport, Outcome, Rebuilder, ServiceExit};
use crate::session::{self, Input, SessionEvent, SessionHandle, SessionOptions};

/// How often a compose project watched whole has its files' stamps compared (`watch_follow.rs`).
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

/// Kept of a cycle's build output, shown when it fails without a recognised problem.
const KEPT_OUTPUT: usize = 8 * 1024;

pub async fn run(projects: Vec<(Target, Rebuilder)>, mode: Mode, mut follow: Option<Follow>) -> Result<i32, Error> {
    let line = StatusLine::start(mode == Mode::Human && std::io::stderr().is_terminal());
    // Every project's session feeds one queue, its events tagged with the project's index.
    let (merged_tx, mut merged) = tokio::sync::mpsc::unbounded_channel();
    let mut watching = Watching {
        mode,
        line: line.clone(),
        merged: merged_tx,
        sessions: Arc::default(),
        reporters: Vec::new(),
        groups: Vec::new(),
        running: 0,
        stopping: Arc::default(),
    };
    let several = projects.len() > 1;
    for (target, rebuilder) in projects {
        watching.start(target, rebuilder, several);
    }
    spawn_stop_signals(watching.sessions.clone(), watching.stopping.clone());
    let mut failed = None;
    let mut follow_tick = tokio::time::interval(FOLLOW_EVERY);
    follow_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        let (index, event) = tokio::select! {
            got = merged.recv() => match got {
                Some(got) => got,
                None => break,
            },
            _ = follow_tick.tick(), if follow.is_some() => {
                if let Some(follow) = follow.as_mut() {
                    watching.follow(follow).await;
                }
                continue;
            }
        };
        let reporter = &mut watching.reporters[index];
        match event {
            SessionEvent::CycleStarted { cycle, .. } => reporter.begin(cycle),
            SessionEvent::Progress(event) => reporter.report(event),
            SessionEvent::CycleFinished { cycle, result } => match result {
                Ok(report) => reporter.summary(cycle, &report),
                // The engine stopped, the builder vanished...: said, and the next change tries again.
                Err(e) => reporter.error(&e),
            },
            SessionEvent::ServiceExited(exit) => reporter.service_exited(&exit),
            SessionEvent::WatcherUnavailable(e) => {
                // Without the watcher there is nothing to watch with.
                failed = Some(e);
                watching.stop_all();
            }
            SessionEvent::Crashed { message } => reporter.error(&Error::new(
                crate::error::ErrorKind::Internal,
                format!("docker-rebuilder hit a bug and restarted its loop: {message}"),
                "the next change builds again; please report it",
            )),
            SessionEvent::Stopped => {
                watching.running -= 1;
                if watching.running == 0 {
                    break;
                }
            }
            SessionEvent::Diagnostics { .. } | SessionEvent::Cleaned(_) | SessionEvent::Status(_) => {}
        }
    }
    line.stop();
    if let Some(e) = failed {
        return Err(e);
    }
    if let Some(reporter) = watching.reporters.first() {
        reporter.say("stopped; the builder is consistent and the image holds the last clean build");
    }
    Ok(0)
}

/// The sessions `watch` runs, each with its reporter and its compose group (`watch_follow.rs`).
struct Watching {
    mode: Mode,
    line: StatusLine,
    merged: Merged,
    sessions: Arc<Mutex<Vec<SessionHandle>>>,
    reporters: Vec<WatchReporter>,
    /// Each session's compose group while it runs (None: stopped, or a folder).
    groups: Vec<Option<Group>>,
    running: usize,
    /// A stop signal came: no session starts any more.
    stopping: Arc<AtomicBool>,
}

/// The one queue every session's events go to, tagged with the session's index.
type Merged = tokio::sync::mpsc::UnboundedSender<(usize, SessionEvent)>;

impl Watching {
    /// Starts watching `target`, built by `rebuilder`; `several`: services' lines get their name.
    fn start(&mut self, target: Target, rebuilder: Rebuilder, several: bool) {
        let index = self.reporters.len();
        let dir = rebuilder.project().dir.clone();
        let image = rebuilder.project().plan.image.clone();
        let group = group_of(&target);
        let (session, mut events) =
            session::spawn(SessionOptions { source: target.source, watch: true, rebuilder: Some(rebuilder) });
        let tx = self.merged.clone();
        tokio::spawn(async move {
            while let Some(event) = events.recv().await {
                if tx.send((index, event)).is_err() {
                    return;
                }
            }
        });
        let prefix = match (&target.service, several) {
            (Some(service), true) => format!("[{service}] "),
            _ => String::new(),
        };
        let reporter = WatchReporter::new(self.mode, self.line.clone(), prefix, target.service.clone());
        match &target.service {
            Some(service) => {
                reporter.say(&format!("watching service {service} ({}) → {image} (Ctrl-C to stop)", dir.display()))
            }
            None => reporter.say(&format!("watching {} → {image} (Ctrl-C to stop)", dir.display())),
        }
        // The first cycle syncs whatever changed while nothing ran.
        session.send(Input::Saved);
        let mut sessions = lock(&self.sessions);
        // A stop signal sets `stopping`, then stops every session listed: one started meanwhile
        // is either listed in time or sees the flag here.
        if self.stopping.load(Ordering::SeqCst) {
            session.stop();
        }
        sessions.push(session);
        drop(sessions);
        self.reporters.push(reporter);
        self.groups.push(group);
        self.running += 1;
    }

    fn stop_all(&self) {
        lock(&self.sessions).iter().for_each(SessionHandle::stop);
    }

    /// After a cycle: the compose project's services as its files say now (`watch_follow.rs`).
    async fn follow(&mut self, follow: &mut Follow) {
        if self.stopping.load(Ordering::SeqCst) {
            return;
        }
        let watched: Vec<Group> = self.groups.iter().flatten().cloned().collect();
        let Some(regroup) = follow.regroup(&watched).await else { return };
        let first = self.reporters.first();
        for note in &regroup.notes {
            if let Some(reporter) = first {
                reporter.say(note);
            }
        }
        for group in &regroup.stop {
            if let Some(index) = self.groups.iter().position(|g| g.as_ref() == Some(group)) {
                self.groups[index] = None;
                if let Some(session) = lock(&self.sessions).get(index) {
                    session.stop();
                }
                self.reporters[index].say("its services are grouped otherwise now: watched again as below");
            }
        }
        if regroup.start.is_empty() {
            return;
        }
        // Several services now: every line says whose it is.
        for reporter in &mut self.reporters {
            if let (true, Some(service)) = (reporter.prefix.is_empty(), &reporter.service) {
                reporter.prefix = format!("[{service}] ");
            }
        }
        for (target, rebuilder) in regroup.start {
            if self.mode == Mode::Json {
                out!("{}", json!({ "event": "watching", "service": target.service }));
            }
            self.start(target, rebuilder, true);
        }
    }
}

/// The first Ctrl-C or SIGTERM stops the running build (nothing is committed) and ends the
/// loop; a second one exits at once.
fn spawn_stop_signals(sessions: Arc<Mutex<Vec<SessionHandle>>>, stopping: Arc<AtomicBool>) {
    tokio::spawn(async move {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        let mut signals = 0;
        loop {
            let terminated = async {
                match term.as_mut() {
                    Some(t) => t.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = tokio::signal::ctrl_c() => if r.is_err() { return },
                _ = terminated => {}
            }
            signals += 1;
            if signals > 1 {
                err!("\ndocker-rebuilder: stopped at once; the next run re-syncs whatever this one left");
                std::process::exit(130);
            }
            stopping.store(true, Ordering::SeqCst);
            lock(&sessions).iter().for_each(SessionHandle::stop);
        }
    });
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Renders one cycle at a time: the live line, problems as they are found, a summary.
struct WatchReporter {
    mode: Mode,
    line: StatusLine,
    cwd: PathBuf,
    printed: HashSet<(PathBuf, (u32, u32), String)>,
    found: Vec<FileDiagnostic>,
    output: String,
    notes: Vec<String>,
    /// `[service] ` before its lines when several services are watched; else empty.
    prefix: String,
    /// The compose service, named in its JSON.
    service: Option<String>,
}

impl WatchReporter {
    fn new(mode: Mode, line: StatusLine, prefix: String, service: Option<String>) -> WatchReporter {
        WatchReporter {
            mode,
            line,
            prefix,
            service,
            cwd: std::env::current_dir().unwrap_or_default(),
            printed: HashSet::new(),
            found: Vec::new(),
            output: String::new(),
            notes: Vec::new(),
        }
    }

    fn say(&self, text: &str) {
        if self.mode == Mode::Human {
            self.line.print(&format!("{}{text}", self.prefix));
        }
    }

    fn begin(&mut self, cycle: u64) {
        self.printed.clear();
        self.found.clear();
        self.output.clear();
        self.notes.clear();
        self.line.set(format!("{}#{cycle} checking sources", self.prefix));
    }

    fn error(&mut self, e: &Error) {
        self.line.idle();
        match self.mode {
            Mode::Json => {
                out!("{}", json!({ "outcome": "error", "error": e.cause, "fix": e.fix, "service": self.service }))
            }
            _ => self.line.print(&format!(
                "{}{} docker-rebuilder: {e}; waiting for the next change",
                self.prefix,
                paint(Paint::Bad, "✗")
            )),
        }
    }

    fn summary(&mut self, cycle: u64, report: &CycleReport) {
        self.line.idle();
        let (errors, warnings) = self.found.iter().fold((0, 0), |(e, w), d| match d.severity {
            Severity::Error => (e + 1, w),
            Severity::Warning => (e, w + 1),
            _ => (e, w),
        });
        if self.mode == Mode::Json {
            let mut json = super::json::cycle(report, cycle, &self.found, &self.notes, "");
            if let Some(service) = &self.service {
                json["service"] = json!(service);
            }
            out!("{json}");
            return;
        }
        let id = report.image_id.as_deref().map(short_id).unwrap_or("-");
        let took = human(report.total);
        let phases: Vec<String> = report.timings.iter().map(|(p, d)| format!("{} {}", p.name(), human(*d))).collect();
        let split = if phases.is_empty() { String::new() } else { format!(" ({})", phases.join(" · ")) };
        let (ok, bad) = (paint(Paint::Good, "✓"), paint(Paint::Bad, "✗"));
        let text = match &report.outcome {
            Outcome::ImageBuilt { reason } => format!("#{cycle} {ok} image built in {took} ({reason}) → {id}"),
            Outcome::UpToDate => format!("#{cycle} {ok} up to date ({id})"),
            Outcome::Succeeded { committed } => format!(
                "#{cycle} {ok} {} {} changed, {} deleted in {took}{split} → {}",
                if *committed { "committed:" } else { "built (not committed):" },
                report.uploaded,
                report.deleted,
                if *committed { id } else { "image unchanged" }
            ),
            Outcome::BuildFailed { exit_code, step } => {
                if self.found.is_empty() && !self.output.is_empty() {
                    self.line.print(self.output.trim_end());
                }
                format!(
                    "#{cycle} {bad} build failed{}: {errors} error(s), {warnings} warning(s); `{step}` exited with \
                     {exit_code} after {took}; image unchanged",
                    super::render::in_stage(report)
                )
            }
            Outcome::Cancelled { reason } => format!("#{cycle} {bad} {reason}; nothing committed"),
            Outcome::TimedOut { .. } => {
                format!("#{cycle} {bad} {}\n  fix: {}", report.message(), report.outcome.fix().unwrap_or_default())
            }
        };
        let mut text = format!("{}{text}", self.prefix);
        for extra in [&report.service_update, &report.push].into_iter().flatten() {
            text.push_str(&format!("\n{}  {extra}", self.prefix));
        }
        if self.mode == Mode::Human || matches!(report.outcome, Outcome::BuildFailed { .. }) {
            self.line.print(&text);
        }
    }

    /// A container the last recreate started failed: said with its output's last lines, its
    /// problems as clickable lines; a JSON line of its own (`"event": "service_exited"`).
    fn service_exited(&mut self, exit: &ServiceExit) {
        self.line.idle();
        if self.mode == Mode::Json {
            let mut json = super::json::service_exit(exit);
            json["event"] = json!("service_exited");
            out!("{json}");
            return;
        }
        self.line.print(&format!("{}{} {}", self.prefix, paint(Paint::Bad, "✗"), exit.message()));
        for d in &exit.diagnostics {
            self.line.print(&self.problem_line(d));
        }
    }

    fn problem_line(&self, d: &FileDiagnostic) -> String {
        super::problems::line(d, &self.cwd)
    }
}

impl Reporter for WatchReporter {
    fn report(&mut self, event: Event) {
        match event {
            Event::PhaseStarted { phase, detail } => {
                let text = match phase {
                    Phase::Exec | Phase::Sync | Phase::ImageBuild => format!("{}: {detail}", phase.name()),
                    _ => phase.name().to_string(),
                };
                self.line.phase(text);
            }
            Event::Output { text, .. } => {
                self.output.push_str(&text);
                if self.output.len() > KEPT_OUTPUT {
                    let cut = self.output.len() - KEPT_OUTPUT;
                    let cut = (cut..self.output.len()).find(|&i| self.output.is_char_boundary(i)).unwrap_or(0);
                    self.output.drain(..cut);
                }
            }
            Event::Diagnostics(found) => {
                for d in &found {
                    let key = (d.path.clone(), (d.range.start.line, d.range.start.utf16), d.message.clone());
                    if self.mode != Mode::Json && self.printed.insert(key) {
                        self.line.print(&self.problem_line(d));
                    }
                }
                self.found = found;
            }
            Event::Note(text) => {
                self.say(&text);
                self.notes.push(text);
            }
            Event::Warning(text) => match self.mode {
                Mode::Json => self.notes.push(format!("warning: {text}")),
                _ => self.line.print(&format!("{}warning: {text}", self.prefix)),
            },
            Event::PhaseFinished { .. } | Event::ImageBuildLine(_) | Event::ImageBuildStep { .. } => {}
        }
    }
}

/// One terminal line rewritten in place (spinner, phase, elapsed) while a cycle runs;
/// other output is printed above it. Without a terminal it prints nothing of its own.
#[derive(Clone)]
struct StatusLine {
    state: Arc<Mutex<LineState>>,
}

struct LineState {
    live: bool,
    stopped: bool,
    text: Option<String>,
    phase: String,
    started: Instant,
    frame: usize,
    width: usize,
}

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

impl StatusLine {
    fn start(live: bool) -> StatusLine {
        let state = Arc::new(Mutex::new(LineState {
            live,
            stopped: false,
            text: None,
            phase: String::new(),
            started: Instant::now(),
            frame: 0,
            width: if live {
                super::render::terminal_size().map(|(_, c)| c as usize).filter(|c| *c > 0).unwrap_or(100).max(20)
            } else {
                100
            },
        }));
        if live {
            let ticking = state.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(100));
                loop {
                    tick.tick().await;
                    let mut s = lock(&ticking);
                    if s.stopped {
                        return;
                    }
                    s.frame += 1;
                    s.draw();
                }
            });
        }
        StatusLine { state }
    }

    fn set(&self, text: String) {
        let mut s = lock(&self.state);
        s.text = Some(text);
        s.phase.clear();
        s.started = Instant::now();
        s.draw();
    }

    fn phase(&self, phase: String) {
        let mut s = lock(&self.state);
        s.phase = phase;
        s.draw();
    }

    fn idle(&self) {
        let mut s = lock(&self.state);
        s.text = None;
        s.clear();
    }

    fn stop(&self) {
        let mut s = lock(&self.state);
        s.stopped = true;
        s.text = None;
        s.clear();
    }

    fn print(&self, text: &str) {
        let mut s = lock(&self.state);
        s.clear();
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{text}");
        drop(err);
        s.draw();
    }
}

impl LineState {
    fn clear(&mut self) {
        if self.live {
            let _ = write!(std::io::stderr(), "\r\x1b[K");
        }
    }

    fn draw(&mut self) {
        let Some(text) = &self.text else { return };
        if !self.live || self.stopped {
            return;
        }
        let spinner = SPINNER[self.frame % SPINNER.len()];
        let phase = if self.phase.is_empty() { String::new() } else { format!(" · {}", self.phase) };
        let mut line = format!("{spinner} {text}{phase} · {:.1}s", self.started.elapsed().as_secs_f64());
        if line.chars().count() > self.width - 1 {
            line = line.chars().take(self.width - 2).collect::<String>() + "…";
        }
        let _ = write!(std::io::stderr(), "\r\x1b[K{line}");
        let _ = std::io::stderr().flush();
    }
}
