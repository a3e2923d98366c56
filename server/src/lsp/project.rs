//! One project in the editor: its session (the core's loop) and the task that renders the
//! session's events for the client — progress with a cancel button, bounded build output as
//! log messages, diagnostics per file, the status notification, and the messages a user must
//! see (tool errors, timeouts, a crash).

use tokio::sync::mpsc;
use tower_lsp_server::ls_types::{MessageType, NumberOrString};
use tower_lsp_server::Client;

use super::convert;
use super::protocol::{BuildState, StatusNotification, StatusParams};
use crate::events::{BuildStepState, Event, Phase};
use crate::project::service::ProjectSource;
use crate::rebuild::Outcome;
use crate::session::{self, Input, SessionEvent, SessionHandle, SessionOptions};

/// Build output sent as log messages per cycle, at most (the rest is counted, not sent).
const LOG_BUDGET: usize = 512 * 1024;

/// A project's session; clones share it.
#[derive(Clone)]
pub struct ProjectHandle {
    pub session: SessionHandle,
    /// The progress tokens of this project's cycles start with this.
    token_prefix: String,
}

impl ProjectHandle {
    pub fn send(&self, input: Input) {
        self.session.send(input);
    }

    /// A progress' cancel button: stops the cycle the token names, if it is this project's.
    pub fn cancel_token(&self, token: &str) {
        if let Some(cycle) = token.strip_prefix(&self.token_prefix).and_then(|n| n.parse().ok()) {
            self.session.cancel_cycle(cycle);
        }
    }
}

/// `watch`: the session's file watcher starts cycles (off when the client builds only on request).
pub fn spawn(source: ProjectSource, client: Client, watch: bool) -> ProjectHandle {
    // Unique per project: a compose service's token names its service too.
    let name = match source.service() {
        Some(service) => format!("{}-{service}", crate::project::builder_name(source.dir())),
        None => crate::project::builder_name(source.dir()),
    };
    let token_prefix = format!("docker-rebuilder/{name}/");
    let (session, events) = session::spawn(SessionOptions { source, watch, rebuilder: None });
    tokio::spawn(render(client, events, token_prefix.clone()));
    ProjectHandle { session, token_prefix }
}

type Progress = tower_lsp_server::OngoingProgress<tower_lsp_server::Unbounded, tower_lsp_server::Cancellable>;

/// Renders the session's events in order. Requests to the client (progress creation) are
/// awaited here, never in the session's loop or in a handler.
async fn render(client: Client, mut events: mpsc::UnboundedReceiver<SessionEvent>, token_prefix: String) {
    let mut progress: Option<Progress> = None;
    let mut log = Log::default();
    // Files this session shows diagnostics on: cleared when it stops (its folder's settings
    // changed; its successor publishes only what changes from nothing).
    let mut shown = std::collections::BTreeSet::new();
    // Why a save has nothing to rebuild is said once as a message; after that, in the log.
    let mut told_nothing_to_rebuild = false;
    // The last status sent: a stopped session says `stopped` under it, so that status bars
    // drop a project no session builds any more (a compose service now built with another).
    let mut last_status: Option<StatusParams> = None;
    while let Some(event) = events.recv().await {
        match event {
            SessionEvent::CycleStarted { cycle, trigger } => {
                log = Log::default();
                client.log_message(MessageType::INFO, format!("cycle {cycle}: {}", trigger.describe())).await;
                let token = NumberOrString::String(format!("{token_prefix}{cycle}"));
                progress = match client.create_work_done_progress(token.clone()).await {
                    Ok(()) => Some(
                        client
                            .progress(token, "Docker Rebuilder")
                            .with_cancel_button()
                            .with_message("checking sources")
                            .begin()
                            .await,
                    ),
                    Err(_) => None,
                };
            }
            SessionEvent::Progress(event) => match event {
                Event::PhaseStarted { phase, detail } => {
                    log.flush(&client).await;
                    if let Some(p) = &progress {
                        p.report_with_message(phase_message(phase, &detail), None).await;
                    }
                }
                Event::Output { text, .. } => log.push(&text, &client).await,
                Event::ImageBuildLine(line) => log.push(&format!("{line}\n"), &client).await,
                Event::ImageBuildStep { name, state } => {
                    log.push(&format!("{}\n", crate::events::step_line(&name, &state)), &client).await;
                    if let (Some(p), BuildStepState::Started) = (&progress, &state) {
                        p.report_with_message(format!("docker build: {name}"), None).await;
                    }
                }
                Event::Note(note) => {
                    log.flush(&client).await;
                    client.log_message(MessageType::INFO, note).await;
                }
                Event::Warning(text) => {
                    log.flush(&client).await;
                    client.show_message(MessageType::WARNING, format!("docker-rebuilder: {text}")).await;
                }
                Event::PhaseFinished { .. } | Event::Diagnostics(_) => {}
            },
            SessionEvent::Diagnostics { path, diagnostics } => {
                if diagnostics.is_empty() {
                    shown.remove(&path);
                } else {
                    shown.insert(path.clone());
                }
                if let Some(uri) = convert::uri(&path) {
                    client.publish_diagnostics(uri, diagnostics.iter().map(convert::diagnostic).collect(), None).await;
                }
            }
            SessionEvent::CycleFinished { result, .. } => {
                log.flush(&client).await;
                let ended = match &result {
                    Ok(report) => {
                        let stages: Vec<String> =
                            report.stages.iter().map(|(s, d)| format!("{}={}ms", s.name(), d.as_millis())).collect();
                        let timings = format!(
                            "timings: {} total={}ms files_read={}",
                            stages.join(" "),
                            report.total.as_millis(),
                            report.files_read
                        );
                        client.log_message(MessageType::INFO, timings).await;
                        if let (Outcome::TimedOut { .. }, Some(fix)) = (&report.outcome, report.outcome.fix()) {
                            let text = format!("docker-rebuilder: {} — {fix}", report.message());
                            client.show_message(MessageType::WARNING, text).await;
                        }
                        report.message()
                    }
                    Err(e) if e.kind == crate::error::ErrorKind::NothingToRebuild => {
                        let text = format!("docker-rebuilder: {}", e.one_line());
                        if !std::mem::replace(&mut told_nothing_to_rebuild, true) {
                            client.show_message(MessageType::INFO, text.clone()).await;
                        }
                        client.log_message(MessageType::INFO, text).await;
                        e.cause.clone()
                    }
                    Err(e) => {
                        show_error(&client, e).await;
                        e.cause.clone()
                    }
                };
                if let Some(p) = progress.take() {
                    p.finish_with_message(ended).await;
                }
            }
            SessionEvent::ServiceExited(exit) => {
                let output = exit.output.join("\n");
                client.log_message(MessageType::INFO, format!("{}; its output:\n{output}", exit.message())).await;
                // Problems at files show where they are (and the status says `down`); without
                // any, only a message tells the user why the service is down.
                if exit.diagnostics.is_empty() {
                    client.show_message(MessageType::ERROR, format!("docker-rebuilder: {}", exit.message())).await;
                }
            }
            SessionEvent::Cleaned(result) => match result {
                Ok(_) => {}
                Err(e) => show_error(&client, &e).await,
            },
            SessionEvent::Status(status) => {
                // The output a status line points to ("build failed") is in the log first.
                log.flush(&client).await;
                let status = StatusParams::from(&status);
                client.send_notification::<StatusNotification>(status.clone()).await;
                last_status = Some(status);
            }
            SessionEvent::WatcherUnavailable(e) => {
                let text = format!("docker-rebuilder: not watching for changes outside the editor: {e}");
                client.show_message(MessageType::WARNING, text).await;
            }
            SessionEvent::Crashed { message } => {
                if let Some(p) = progress.take() {
                    p.finish_with_message("stopped by a bug".to_string()).await;
                }
                client.log_message(MessageType::ERROR, format!("docker-rebuilder: panic: {message}")).await;
                let text = format!(
                    "docker-rebuilder hit a bug and restarted this project's task ({message}); save again to \
                     rebuild, and please report it with the log"
                );
                client.show_message(MessageType::ERROR, text).await;
            }
            SessionEvent::Stopped => {
                for uri in shown.iter().filter_map(|path| convert::uri(path)) {
                    client.publish_diagnostics(uri, Vec::new(), None).await;
                }
                if let Some(status) = last_status.take() {
                    let message =
                        "no longer built by this session: its compose project or settings changed".to_string();
                    let stopped = StatusParams { state: BuildState::Stopped, message, ..status };
                    client.send_notification::<StatusNotification>(stopped).await;
                }
                return;
            }
        }
    }
}

async fn show_error(client: &Client, e: &crate::error::Error) {
    let text = e.one_line();
    client.show_message(MessageType::ERROR, format!("docker-rebuilder: {text}")).await;
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
        Phase::Replay => format!("making the image: {detail}"),
        Phase::Service => detail.to_string(),
        Phase::Push => format!("pushing {detail}"),
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
