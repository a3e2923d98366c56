//! Terminal rendering of core events: live progress for people, silence for `--quiet`,
//! one JSON object for `--json`.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use serde_json::{json, Value};

use super::style::{paint, Paint};
use crate::engine::ContainerInfo;
use crate::error::Error;
use crate::events::{Event, FileDiagnostic, OutputStream, Phase, Reporter};
use crate::project::compose::ComposeVersion;
use crate::project::plan::{mounts_label, CopySource, ReplayOp, StageRole, StepMount, SyncRule, ELSEWHERE};
use crate::project::Project;
use crate::rebuild::{CleanReport, CycleReport, Outcome, ServiceExit, Status};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Human,
    Quiet,
    Json,
}

/// Keeps at most this much of the build's output for `--quiet` failures and `--json`.
const KEPT_OUTPUT: usize = 64 * 1024;

pub struct TerminalReporter {
    mode: Mode,
    kept_output: String,
    notes: Vec<String>,
    found: Vec<FileDiagnostic>,
    /// The compose service it reports on, named in its JSON.
    service: Option<String>,
    /// The engine used and why, in its JSON.
    engine: Option<Value>,
    /// The live view on a terminal (Human mode), else None: plain lines.
    progress: Option<super::progress::Progress>,
    /// What `service_exited` said, for the JSON's `service_exited`.
    exited: Option<Value>,
}

impl TerminalReporter {
    /// Names `service` in the JSON it prints.
    pub fn for_service(mut self, service: Option<String>) -> TerminalReporter {
        self.service = service;
        self
    }

    /// Names the engine (and why it was chosen) in the JSON it prints.
    pub fn on_engine(mut self, target: &crate::engine::Target) -> TerminalReporter {
        self.engine = Some(super::json::engine(target));
        self
    }

    pub fn new(mode: Mode) -> TerminalReporter {
        TerminalReporter {
            mode,
            kept_output: String::new(),
            notes: Vec::new(),
            found: Vec::new(),
            service: None,
            engine: None,
            progress: if mode == Mode::Human { super::progress::Progress::start() } else { None },
            exited: None,
        }
    }

    fn dim(&self, s: &str) -> String {
        paint(Paint::Dim, s)
    }

    fn keep(&mut self, text: &str) {
        self.kept_output.push_str(text);
        if self.kept_output.len() > KEPT_OUTPUT {
            let cut = self.kept_output.len() - KEPT_OUTPUT;
            let cut = (cut..self.kept_output.len()).find(|&i| self.kept_output.is_char_boundary(i)).unwrap_or(0);
            self.kept_output.drain(..cut);
        }
    }

    /// A container the cycle's recreate started died as it started: said at once on a
    /// terminal (after the cycle's summary), in the JSON's `service_exited` (printed after it).
    pub fn service_exited(&mut self, exited: &ServiceExit) {
        match self.mode {
            Mode::Json => self.exited = Some(super::json::service_exit(exited)),
            Mode::Quiet => err!("{}", exited.message()),
            Mode::Human => {
                let cwd = std::env::current_dir().unwrap_or_default();
                err!("{} {}", paint(Paint::Bad, "✗"), exited.message());
                for d in &exited.diagnostics {
                    err!("{}", super::problems::line(d, &cwd));
                }
            }
        }
    }

    pub fn summary(&mut self, report: &CycleReport) {
        let image_id = report.image_id.as_deref().map(short_id).unwrap_or("-");
        match self.mode {
            Mode::Json => {
                let mut json = super::json::cycle(report, 1, &self.found, &self.notes, &self.kept_output);
                json["service_exited"] = self.exited.take().unwrap_or(Value::Null);
                if let Some(service) = &self.service {
                    json["service"] = json!(service);
                }
                if let Some(engine) = &self.engine {
                    json["engine"] = engine.clone();
                }
                out!("{json}")
            }
            Mode::Quiet => {
                if let Outcome::BuildFailed { exit_code, step } = &report.outcome {
                    err!(no_newline: "{}", self.kept_output);
                    err!(
                        "build failed{}: `{step}` exited with {exit_code}; {} unchanged",
                        in_stage(report),
                        report.image
                    );
                }
            }
            Mode::Human => {
                if let Some(mut progress) = self.progress.take() {
                    progress.finish();
                }
                // The problems first, where the eye ends up: one clickable line each.
                let cwd = std::env::current_dir().unwrap_or_default();
                for d in &self.found {
                    err!("{}", super::problems::line(d, &cwd));
                }
                let (ok, bad) = (paint(Paint::Good, "✓"), paint(Paint::Bad, "✗"));
                let phases: Vec<String> =
                    report.timings.iter().map(|(p, d)| format!("{} {}", p.name(), human(*d))).collect();
                let split = if phases.is_empty() { String::new() } else { format!(" ({})", phases.join(" · ")) };
                // A first build that failed left no image to be unchanged.
                let unchanged = match &report.image_id {
                    Some(_) => format!("{} unchanged ({image_id})", report.image),
                    None => format!("no image {} yet", report.image),
                };
                let line = match &report.outcome {
                    Outcome::ImageBuilt { .. } => {
                        format!(
                            "{ok} image built in {}: {} ({image_id}); the builder is ready",
                            human(report.total),
                            report.image
                        )
                    }
                    Outcome::UpToDate => format!("{ok} up to date: {} ({image_id})", report.image),
                    Outcome::Succeeded { committed: true } => format!(
                        "{ok} rebuilt in {}{split}: {} file(s) synced, {} deleted → {} ({image_id})",
                        human(report.total),
                        report.uploaded,
                        report.deleted,
                        report.image
                    ),
                    Outcome::Succeeded { committed: false } => {
                        format!("{ok} built in {}{split}; not committed (commit = false)", human(report.total))
                    }
                    Outcome::BuildFailed { exit_code, step } => format!(
                        "{bad} build failed{}: `{step}` exited with {exit_code}{split}; {unchanged}",
                        in_stage(report),
                    ),
                    Outcome::Cancelled { reason } => format!("{bad} {reason}; nothing committed, {unchanged}"),
                    Outcome::TimedOut { .. } => format!(
                        "{bad} {}, {unchanged}\n  fix: {}",
                        report.message(),
                        report.outcome.fix().unwrap_or_default()
                    ),
                };
                err!("{line}");
                if let Some(update) = &report.service_update {
                    err!("  {update}");
                }
                if let Some(push) = &report.push {
                    err!("  {push}");
                }
            }
        }
    }

    pub fn clean_summary(&mut self, report: &CleanReport) {
        match self.mode {
            Mode::Json => out!(
                "{}",
                json!({
                    "builder_removed": report.builder_removed,
                    "images_removed": report.images_removed,
                    "volumes_removed": report.volumes_removed,
                    "notes": self.notes
                })
            ),
            Mode::Quiet => {}
            Mode::Human => {
                let mut removed: Vec<String> =
                    report.builder_removed.iter().map(|b| format!("the builder {b}")).collect();
                let counted = [(report.images_removed.len(), "image"), (report.volumes_removed.len(), "volume")];
                for (n, what) in counted.into_iter().filter(|(n, _)| *n > 0) {
                    removed.push(format!("{n} {what}{} of ours", if n == 1 { "" } else { "s" }));
                }
                match removed.as_slice() {
                    [] => err!("nothing to clean"),
                    [one] => err!("✓ removed {one}"),
                    [init @ .., last] => err!("✓ removed {} and {last}", init.join(", ")),
                }
            }
        }
    }
}

impl Reporter for TerminalReporter {
    fn report(&mut self, event: Event) {
        if let (Mode::Human, Some(progress)) = (self.mode, self.progress.as_mut()) {
            match event {
                Event::PhaseStarted { phase, detail } => progress.phase(phase, &detail),
                Event::ImageBuildLine(line) => progress.log_line(&line),
                Event::ImageBuildStep { name, state } => progress.step(&name, &state),
                Event::Output { stream, text } => progress.print(stream == OutputStream::Stdout, &text),
                Event::Note(text) => progress.print(false, &format!("{text}\n")),
                Event::Warning(text) => progress.print(false, &format!("{} {text}\n", paint(Paint::Warn, "warning:"))),
                Event::Diagnostics(found) => self.found = found,
                Event::PhaseFinished { .. } => {}
            }
            return;
        }
        match (self.mode, event) {
            (Mode::Human, Event::PhaseStarted { phase, detail }) => {
                let detail = if detail.is_empty() { String::new() } else { format!(": {detail}") };
                err!("{}", self.dim(&format!("▸ {}{detail}", phase.name())));
            }
            (Mode::Human, Event::PhaseFinished { phase, elapsed }) if phase == Phase::ImageBuild => {
                err!("{}", self.dim(&format!("  {} took {}", phase.name(), human(elapsed))));
            }
            (Mode::Human, Event::ImageBuildLine(line)) => err!("{}", self.dim(&format!("  {line}"))),
            (Mode::Human, Event::ImageBuildStep { name, state }) => {
                err!("{}", self.dim(&format!("  {}", crate::events::step_line(&name, &state))))
            }
            (Mode::Human, Event::Output { stream, text }) => {
                let _ = match stream {
                    OutputStream::Stdout => std::io::stdout().write_all(text.as_bytes()),
                    OutputStream::Stderr => std::io::stderr().write_all(text.as_bytes()),
                };
            }
            (Mode::Human, Event::Note(text)) => err!("{text}"),
            (Mode::Quiet | Mode::Human, Event::Warning(text)) => err!("{} {text}", paint(Paint::Warn, "warning:")),
            (_, Event::Output { text, .. }) => self.keep(&text),
            (_, Event::ImageBuildLine(line)) => {
                self.keep(&line);
                self.keep("\n");
            }
            (_, Event::ImageBuildStep { name, state }) => {
                self.keep(&crate::events::step_line(&name, &state));
                self.keep("\n");
            }
            (_, Event::Note(text)) => self.notes.push(text),
            (_, Event::Warning(text)) => self.notes.push(format!("warning: {text}")),
            (_, Event::Diagnostics(found)) => self.found = found,
            _ => {}
        }
    }
}

pub fn print_error(mode: Mode, error: &Error) {
    if mode == Mode::Json {
        out!("{}", json!({ "outcome": "error", "error": error.cause, "fix": error.fix }));
    } else {
        err!("{} {error}", paint(Paint::Bad, "docker-rebuilder:"));
    }
}

/// `status` of a project whose Dockerfile or rebuilder.toml does not load: why, and what
/// exists of it.
pub fn print_unloaded_status(mode: Mode, status: &crate::rebuild::UnloadedStatus, engine: &crate::engine::Target) {
    let nothing_to_rebuild = status.error.kind == crate::error::ErrorKind::NothingToRebuild;
    if mode == Mode::Json {
        let containers: Vec<Value> = status
            .containers
            .iter()
            .map(|c| json!({ "name": c.name, "running": c.running, "role": c.labels.get(crate::project::LABEL_ROLE) }))
            .collect();
        out!(
            "{}",
            json!({
                "project": status.dir,
                "service": status.service,
                "engine": super::json::engine(engine),
                "loads": false,
                "nothing_to_rebuild": nothing_to_rebuild,
                "error": status.error.cause,
                "fix": status.error.fix,
                "image": status.image,
                "image_id": status.image_info.as_ref().map(|i| i.id.clone()),
                "containers": containers,
            })
        );
        return;
    }
    match &status.service {
        Some(service) => out!("service  {service} (compose project in {})", status.dir.display()),
        None => out!("project  {}", status.dir.display()),
    }
    out!("engine   {engine}");
    if nothing_to_rebuild {
        out!("nothing  {}", status.error.one_line());
    } else {
        out!("problem  {}", status.error.one_line());
    }
    match &status.image_info {
        Some(info) => out!("image    {} ({})", status.image, short_id(&info.id)),
        None => out!("image    {} (not built)", status.image),
    }
    if status.containers.is_empty() {
        out!("builder  none");
    }
    for c in &status.containers {
        out!("builder  {} ({})", c.name, if c.running { "running" } else { "stopped" });
    }
    if nothing_to_rebuild {
        out!("a save has nothing to rebuild; `clean` removes any builder left from before");
    } else {
        out!("`clean` removes the builders; a build needs the problem fixed first");
    }
}

pub fn print_status(
    mode: Mode,
    project: &Project,
    status: &Status,
    files: &[(String, Vec<String>)],
    engine: &crate::engine::Target,
) {
    let plan = &project.plan;
    let state_of = |b: &ContainerInfo| {
        if b.paused {
            "paused"
        } else if b.running {
            "running"
        } else {
            "stopped"
        }
    };
    let sync_json = |rules: &[SyncRule]| {
        rules
            .iter()
            .map(|r| json!({ "sources": r.sources, "dest": r.dest, "full_build": r.needs_full_build, "line": r.line }))
            .collect::<Vec<_>>()
    };
    // Per builder: its stage's status (a replayed image), else the image's own.
    let builder_status = |i: usize| status.stages.get(i).map(|(_, s)| s).unwrap_or(status);
    if mode == Mode::Json {
        let stages: Vec<Value> = plan
            .stages
            .iter()
            .map(|info| {
                let mut v = json!({
                    "stage": info.stage.label(),
                    "line": info.stage.line,
                    "reads": info.reads,
                    "role": stage_role(&info.role),
                });
                if let StageRole::Builder(i) = info.role {
                    let b = &plan.builders[i];
                    let st = builder_status(i);
                    v["builder"] = json!(st.builder_name);
                    v["builder_state"] = json!(st.builder.as_ref().map(state_of));
                    v["pending_uploads"] = json!(st.pending_uploads);
                    v["rebuild"] = json!(b.steps.iter().map(|s| &s.display).collect::<Vec<_>>());
                    v["sync"] = json!(sync_json(&b.sync));
                }
                if let (StageRole::Replayed, Some(a)) = (&info.role, &plan.assembly) {
                    v["replayed_from_line"] = json!(a.cut_line);
                    v["sync"] = json!(sync_json(&a.sync));
                }
                v
            })
            .collect();
        let service = project.service.as_ref().map(|s| {
            json!({
                "name": s.name,
                "compose_project": s.project,
                "compose_version": if s.version == ComposeVersion::V1 { "v1" } else { "v2" },
                "defined_at": format!("{}:{}", s.file.display(), s.line),
                "develop_watch": s.develop().iter().map(|r| json!({ "action": r.action_name(), "path": r.src, "target": r.target })).collect::<Vec<_>>(),
                "image_users": s.image_users,
                "twins": s.twins.iter().map(|t| json!({ "name": t.name, "images": t.images, "image_users": t.image_users })).collect::<Vec<_>>(),
                "containers": status.service_containers.iter().map(|(c, current)| json!({
                    "name": c.name, "service": c.service, "running": c.running, "runs_this_image": current,
                })).collect::<Vec<_>>(),
            })
        });
        let value = json!({
            "project": project.dir,
            "engine": super::json::engine(engine),
            "service": service,
            "image": status.image,
            "tags": plan.tags,
            "image_id": status.image_info.as_ref().map(|i| &i.id),
            "builder": status.builder_name,
            "builder_state": status.builder.as_ref().map(state_of),
            "pending_uploads": status.pending_uploads,
            "pending_deletes": status.pending_deletes,
            "last_build_failed": status.last_build_failed,
            "rebuild": plan.steps.iter().map(|s| &s.display).collect::<Vec<_>>(),
            "mounts": plan.steps.iter().map(|s| s.mounts.iter().map(|m| m.describe()).collect::<Vec<_>>()).collect::<Vec<_>>(),
            "sync": sync_json(&plan.sync),
            "stages": stages,
            "files": files.iter().map(|(f, lines)| json!({ "file": f, "effects": lines })).collect::<Vec<_>>(),
        });
        out!("{value}");
        return;
    }
    out!("project  {}", project.dir.display());
    out!("engine   {engine}");
    if let Some(s) = &project.service {
        let version = if s.version == ComposeVersion::V1 { "v1" } else { "v2" };
        out!(
            "service  {} of compose project {} (compose {version} names its image; {}:{})",
            s.name,
            s.project,
            s.file.display(),
            s.line
        );
        for r in s.develop() {
            let target = r.target.as_deref().map(|t| format!(" → {t}")).unwrap_or_default();
            out!("develop  {} {}{target}", r.action_name(), if r.src.is_empty() { "." } else { &r.src });
        }
        if !s.twins.is_empty() {
            let names: Vec<&str> = s.twins.iter().map(|t| t.name.as_str()).collect();
            out!(
                "twins    {} (built as {} is: this build serves them, its image is named for them too, and they are \
                 recreated with it)",
                names.join(", "),
                s.name
            );
        }
        let users: Vec<&String> = s.twins.iter().flat_map(|t| &t.image_users).collect();
        if !users.is_empty() {
            out!(
                "also run by {} (a twin's image, no build of their own: recreated with {} after each build)",
                users.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(", "),
                s.name
            );
        }
        if !s.image_users.is_empty() {
            out!(
                "also run by {} (this image, no build of their own: recreated with {} after each build)",
                s.image_users.join(", "),
                s.name
            );
        }
    }
    match &status.image_info {
        Some(i) => out!("image    {} ({}, {} layers)", status.image, short_id(&i.id), i.layers),
        None => out!("image    {} (not built yet)", status.image),
    }
    if !plan.tags.is_empty() {
        out!("tags     {} (moved to each new image)", plan.tags.join(", "));
    }
    let built = project.service.as_ref().map(|s| s.name.as_str());
    for (c, current) in &status.service_containers {
        let state = match (c.running, current) {
            (false, _) => "not running",
            (true, true) => "running this image",
            (true, false) => {
                "running an older image (the next clean build recreates it, unless its bind mounts already show \
                 all that build changes)"
            }
        };
        let of = if Some(c.service.as_str()) == built { String::new() } else { format!(" of {}", c.service) };
        out!("container {}{of} ({state})", c.name);
    }
    if plan.assembly.is_some() {
        let chain: Vec<String> = plan
            .stages
            .iter()
            .rev()
            .map(|s| match &s.role {
                StageRole::Replayed => format!("stage {} (replayed)", s.stage.label()),
                StageRole::Builder(_) => format!("{} (builder)", s.stage.label()),
                StageRole::InBuilder(b) => {
                    format!("{} (in {}'s builder)", s.stage.label(), plan.builders[*b].stage.label())
                }
                StageRole::BuiltOnce { .. } => format!("{} (built once)", s.stage.label()),
            })
            .collect();
        out!("graph    {} ← {}", status.image, chain.join(" ← "));
    }
    for (i, builder) in plan.builders.iter().enumerate() {
        let st = builder_status(i);
        if plan.assembly.is_some() {
            out!("stage    {} (line {}): builds with a builder of its own", builder.stage.label(), builder.stage.line);
        }
        let indent = if plan.assembly.is_some() { "  " } else { "" };
        match &st.builder {
            Some(b) => out!("{indent}builder  {} ({})", st.builder_name, state_of(b)),
            None => out!("{indent}builder  {} (none; `docker-rebuilder build` makes it)", st.builder_name),
        }
        if let (Some(up), Some(del)) = (st.pending_uploads, st.pending_deletes) {
            let state = if up + del == 0 && !st.last_build_failed {
                "up to date".to_string()
            } else if up + del == 0 {
                "sources synced, last build failed".to_string()
            } else {
                format!("{up} changed, {del} deleted since the last sync")
            };
            out!("{indent}sources  {state}");
        }
        for rule in &builder.sync {
            let sources = rule.sources.iter().map(|s| if s.is_empty() { "." } else { s }).collect::<Vec<_>>().join(" ");
            if rule.dest.starts_with(ELSEWHERE) {
                let why = rule.why.clone().unwrap_or_default();
                out!("{indent}watch    {sources} (line {})  (change → full docker build: {why})", rule.line);
                continue;
            }
            let note = if rule.needs_full_build { "  (change → full docker build)" } else { "" };
            let bound = builder.steps.iter().flat_map(|s| &s.mounts).find_map(|m| match m {
                StepMount::Bind { mirror, target, read_write, .. } if *mirror == rule.dest => {
                    Some(format!("{target} (bind mount{})", if *read_write { "" } else { ", read-only" }))
                }
                _ => None,
            });
            out!("{indent}sync     {sources} → {}{note}", bound.unwrap_or_else(|| rule.dest.clone()));
        }
        for step in &builder.steps {
            let mounts =
                if step.mounts.is_empty() { String::new() } else { format!("{} ", mounts_label(&step.mounts)) };
            out!("{indent}rebuild  {mounts}{}  (in {})", step.display, step.workdir);
        }
    }
    if let Some(a) = &plan.assembly {
        out!(
            "stage    {} (line {}): the image; replayed from line {} on the full build's image of the lines before",
            a.stage.label(),
            a.stage.line,
            a.cut_line
        );
        for op in &a.ops {
            match op {
                ReplayOp::CopyFrom { source, sources, dest, line, .. } => {
                    let from = match source {
                        CopySource::Builder(b) => format!("builder of {}", plan.builders[*b].stage.label()),
                        CopySource::Stage(s) => format!("stage #{s}'s image"),
                        CopySource::Image(i) => i.clone(),
                    };
                    out!("  copy     {} from {from} → {dest}  (line {line})", sources.join(" "));
                }
                ReplayOp::CopyContext { rule } => {
                    if let Some(r) = a.sync.get(*rule) {
                        let sources = r.sources.iter().map(|s| if s.is_empty() { "." } else { s }).collect::<Vec<_>>();
                        out!("  sync     {} → {}  (replayed, line {})", sources.join(" "), r.dest, r.line);
                    }
                }
                ReplayOp::Run(step) => out!("  run      {}  (line {})", step.display, step.line),
                ReplayOp::Workdir { path, line } => out!("  workdir  {path}  (line {line})"),
            }
        }
        if let Some(why) = &a.unreplayable {
            out!("  note     every change needs a full docker build: the replay cannot do {why}");
        }
    }
    for info in plan.stages.iter().filter(|s| matches!(s.role, StageRole::BuiltOnce { .. })) {
        if let StageRole::BuiltOnce { why: Some(why) } = &info.role {
            out!("stage    {} (line {}): built once by the full build: {why}", info.stage.label(), info.stage.line);
        }
    }
    for (file, lines) in files {
        if lines.is_empty() {
            out!("file     {file}: no stage of the image reads it");
        }
        for line in lines {
            out!("file     {file}: {line}");
        }
    }
}

fn stage_role(role: &StageRole) -> Value {
    match role {
        StageRole::Builder(_) => json!("builder"),
        StageRole::InBuilder(_) => json!("in_builder"),
        StageRole::Replayed => json!("replayed"),
        StageRole::BuiltOnce { why } => json!({ "built_once": why }),
    }
}

pub(super) fn short_id(id: &str) -> &str {
    let id = id.trim_start_matches("sha256:");
    &id[..id.len().min(12)]
}

pub(crate) fn millis(d: Duration) -> u64 {
    d.as_millis() as u64
}

pub(super) fn human(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{} ms", d.as_millis())
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// Raw terminal mode for `shell`, restored on drop. Uses `stty` (not Docker) so no
/// terminal crate is needed for this one command.
pub struct RawTerminal {
    saved: Option<String>,
}

impl RawTerminal {
    pub fn enter() -> RawTerminal {
        if !std::io::stdin().is_terminal() {
            return RawTerminal { saved: None };
        }
        let saved = std::process::Command::new("stty")
            .arg("-g")
            .stdin(std::process::Stdio::inherit())
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
        let _ =
            std::process::Command::new("stty").args(["raw", "-echo"]).stdin(std::process::Stdio::inherit()).status();
        RawTerminal { saved }
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = std::process::Command::new("stty").arg(saved).stdin(std::process::Stdio::inherit()).status();
        }
    }
}

/// (rows, cols) of the controlling terminal.
pub fn terminal_size() -> Option<(u16, u16)> {
    if !std::io::stdin().is_terminal() {
        return None;
    }
    let out = std::process::Command::new("stty").arg("size").stdin(std::process::Stdio::inherit()).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.split_whitespace().map(|p| p.parse::<u16>().ok());
    Some((parts.next()??, parts.next()??))
}

/// ` in stage NAME` when a multi-stage image's builder failed.
pub fn in_stage(report: &CycleReport) -> String {
    report.stage.as_ref().map(|s| format!(" in stage {s}")).unwrap_or_default()
}
