//! After a recreate, the service's new containers are watched for a while: an app that builds
//! but does not run (a Python or JavaScript syntax error, which no build step sees; a missing
//! setting; a port already taken) ends its container at once, and "recreated on the new image"
//! alone would leave the user with a service that is down and no word of it. A dev server
//! that outlives its app (Django's `runserver`, nodemon: they print the error and wait for a
//! file to change) keeps its container running: its output is read as it comes, and an error
//! that is a mistake in the code — a syntax error, a name or module that does not exist —
//! counts as the app's end, though no container stopped. What it printed
//! is parsed as a build's output is, so its problems land at host files, and the cycle's
//! front end says it (`session/run.rs`). The watch is a future the front end's loop polls
//! between cycles; the next cycle drops it (its own recreate is watched afresh).

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant, SystemTime};

use futures_util::future::select_all;

use super::diagnose::Diagnoser;
use super::{CycleReport, Rebuilder};
use crate::engine::{is_stop_code, ContainerExit};
use crate::events::FileDiagnostic;
use crate::project::plan::Plan;

/// How long a long-lived front end watches new containers: an app that does not start ends
/// well within it (a JVM app's startup included); a crash later is its runtime's, not this save's.
pub const WATCH_FOR: Duration = Duration::from_secs(30);
/// How long `build` waits for them before it exits: a Python, Node or Go app that does not
/// start has ended by then; the wait is only paid after a recreate.
pub const BUILD_WATCH_FOR: Duration = Duration::from_secs(2);
/// How much of the container's output is read, and shown.
const OUTPUT_LINES: usize = 60;
/// How often a running container's output is read for an error in the code.
const READ_EVERY: Duration = Duration::from_millis(500);
/// The exceptions that say the code itself is wrong (never a handled condition an app logs
/// and recovers from, as a refused database connection is), by the matchers' code.
const CODE_ERRORS: [&str; 9] = [
    "SyntaxError",
    "IndentationError",
    "TabError",
    "ModuleNotFoundError",
    "ImportError",
    "NameError",
    "ReferenceError",
    "MODULE_NOT_FOUND",
    "ERR_MODULE_NOT_FOUND",
];
const SHOWN_LINES: usize = 8;
/// After one new container failed, how long the others are given to fail as well: twins (and
/// replicas) run the same code, start together and mostly fail together; all are said at once.
const OTHERS_WITHIN: Duration = Duration::from_secs(1);

/// A new container of the service that stopped while watched.
#[derive(Debug, Clone)]
pub struct ServiceExit {
    pub service: String,
    pub container: String,
    /// A container the recreate left running (its bind mounts showed the change), not a new
    /// one.
    pub kept: bool,
    /// How it ended; None: it runs on (a dev server waiting for a change), but its output
    /// says the app stopped on an error in the code.
    pub exit: Option<ContainerExit>,
    /// From the recreate's end to the exit.
    pub after: Duration,
    /// Its last lines of output.
    pub output: Vec<String>,
    /// The problems its output names, at host files.
    pub diagnostics: Vec<FileDiagnostic>,
    /// The other new containers that failed with it (service, container): a twin's, a
    /// replica.
    pub others: Vec<(String, String)>,
}

/// The watch of one recreate: resolves when a new container fails (None: each ran on for
/// `WATCH_FOR` or was stopped, or the engine could not say). A stop is no news: the user's
/// `compose stop`, or compose recreating the container itself.
pub type ServiceWatch = Pin<Box<dyn Future<Output = Option<ServiceExit>> + Send>>;

impl ServiceExit {
    /// It failed, rather than being stopped: a code no stop gives (`is_stop_code`), or the OOM
    /// killer.
    pub fn failed(&self) -> bool {
        self.exit.as_ref().is_none_or(failed)
    }

    /// One line, for a status: what ended, how, and the line of its output most likely to say
    /// why (the last that names an error, else its last).
    pub fn headline(&self) -> String {
        let what = self.what_happened();
        let shown = shown_lines(&self.output);
        let names_an_error = |line: &&String| {
            let line = line.to_lowercase();
            ["error", "exception", "panic", "fatal", "failed"].iter().any(|word| line.contains(word))
        };
        match shown.iter().rev().find(names_an_error).or(shown.last()) {
            Some(why) => format!("{what}: {}", why.trim()),
            None => what,
        }
    }

    /// One paragraph: what ended, how, and its last output.
    pub fn message(&self) -> String {
        let mut message = self.what_happened();
        let shown = shown_lines(&self.output);
        if !shown.is_empty() {
            message.push_str(":\n");
            message.push_str(&shown.iter().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n"));
        }
        message
    }

    /// What ended and how, in one line.
    fn what_happened(&self) -> String {
        let others = self.said_others();
        let which = if self.kept {
            format!("its container {} (kept running: its bind mounts show the change)", self.container)
        } else {
            format!("its new container {}", self.container)
        };
        let Some(exit) = &self.exit else {
            return format!(
                "service {}: {which} runs, but the app in it stopped on an error in its code{others} — the image \
                 built, but the app does not run",
                self.service
            );
        };
        // Only failures are said (the watch passes over a stop).
        let how = if exit.oom_killed {
            "was killed for lack of memory (the OOM killer)".to_string()
        } else {
            format!("exited with code {}", exit.code)
        };
        let restarting = if exit.restarting { "; its restart policy is starting it again" } else { "" };
        let ran = exit.ran_for.unwrap_or(self.after);
        let when = if ran < Duration::from_millis(100) {
            "as it started".to_string()
        } else {
            format!("after running {:.1} s", ran.as_secs_f64())
        };
        format!(
            "service {}: {which} {how} {when}{restarting}{others} — the image built, but the app does not run",
            self.service
        )
    }

    /// " (so did X of service b, Y)": the others that failed with it.
    fn said_others(&self) -> String {
        if self.others.is_empty() {
            return String::new();
        }
        let named: Vec<String> =
            self.others
                .iter()
                .map(|(service, container)| {
                    if *service == self.service {
                        container.clone()
                    } else {
                        format!("{container} of service {service}")
                    }
                })
                .collect();
        format!(" (so did {})", named.join(", "))
    }
}

/// An exit no stop gives (`is_stop_code`), or the OOM killer's.
fn failed(exit: &ContainerExit) -> bool {
    exit.oom_killed || !is_stop_code(exit.code)
}

fn shown_lines(output: &[String]) -> Vec<String> {
    const WIDTH: usize = 240;
    let kept = output.iter().filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with("at "));
    let mut seen = std::collections::HashSet::new();
    let last: Vec<&String> = kept.rev().filter(|l| seen.insert(l.as_str())).take(SHOWN_LINES).collect();
    last.into_iter()
        .rev()
        .map(|l| match l.char_indices().nth(WIDTH) {
            Some((cut, _)) => format!("{}…", &l[..cut]),
            None => l.to_string(),
        })
        .collect()
}

impl Rebuilder {
    /// The watch, for `within`, of the containers the cycle of `report` recreated, and with
    /// `kept_too` of those it left running because their bind mounts show the change (a dev
    /// server reloads the app from there: it may stop on it); None when there are none.
    pub fn watch_service(&self, report: &CycleReport, within: Duration, kept_too: bool) -> Option<ServiceWatch> {
        let service = self.project.service.as_ref()?;
        let kept = if kept_too { report.service_kept.clone() } else { Vec::new() };
        if report.service_started.is_empty() && kept.is_empty() {
            return None;
        }
        let image_id = report.image_id.clone()?;
        let engine = self.engine.clone();
        let names = report.service_started.clone();
        // A kept container's output before the change is an earlier save's: read from the
        // moment the first changed file was written (its reloader reacts to that write).
        let changed = report.files_only.iter().flatten().filter_map(|(host, _)| modified(host)).min();
        let changed = changed.unwrap_or_else(|| SystemTime::now() - Duration::from_secs(1));
        let project = service.project.clone();
        let services = service.running_services();
        // Where its output's paths are: the image's own files, then each builder stage's.
        let plans: Vec<Plan> = std::iter::once(self.project.plan.clone())
            .chain(self.stages.iter().map(|s| s.project.plan.clone()))
            .collect();
        Some(Box::pin(async move {
            let began = Instant::now();
            let mut watched = Vec::new();
            for name in &services {
                let containers = engine.service_containers(&project, name).await.ok()?;
                for c in containers {
                    let after = if c.image_id == image_id && names.contains(&c.name) {
                        None
                    } else if kept.contains(&c.name) && c.running {
                        Some(changed)
                    } else {
                        continue;
                    };
                    let (id, name, since, service) = (c.id, c.name, c.created, c.service);
                    watched.push(Watched { id, name, since, after, service });
                }
            }
            if watched.is_empty() {
                return None;
            }
            // Where the app runs: what its output names relative to nothing is relative to it.
            let image = engine.image(&image_id).await.ok().flatten();
            let workdir = image.and_then(|i| i.config.working_dir).filter(|w| w.starts_with('/'));
            let workdir = workdir.unwrap_or_else(|| "/".to_string());
            let diagnose = |output: &[u8]| diagnose(&plans, output, &workdir);
            let deadline = tokio::time::Instant::now() + within;
            let wait = |id: String| {
                let engine = engine.clone();
                Box::pin(async move { engine.wait_stopped(&id).await })
            };
            let waits: Vec<_> = watched.iter().map(|w| wait(w.id.clone())).collect();
            let mut pending = select_all(waits);
            let mut read = tokio::time::interval(READ_EVERY);
            // Those whose output said the app stopped on its code while they ran: said at the
            // next read if they still run. An app that prints its error and then exits is said
            // by its exit (the wait answers first), however slow its exit on a busy machine.
            let mut suspected: Vec<String> = Vec::new();
            loop {
                let (ended, index, rest) = tokio::select! {
                    ended = &mut pending => ended,
                    () = tokio::time::sleep_until(deadline) => return None,
                    _ = read.tick() => {
                        // Still running: does one's output say its app stopped on the code?
                        let mut stopped: Option<ServiceExit> = None;
                        for w in &watched {
                            let (id, container, service) = (&w.id, &w.name, &w.service);
                            let output = w.output(&engine).await;
                            let diagnostics = diagnose(&output);
                            // One that has just exited is said by its exit (the wait's answer
                            // is on its way), not as running on.
                            let running = || async { engine.container(id).await.ok().flatten().is_some_and(|c| c.running) };
                            if !(diagnostics.iter().any(is_code_error) && running().await) {
                                continue;
                            }
                            if !suspected.contains(id) {
                                suspected.push(id.clone());
                                continue;
                            }
                            match &mut stopped {
                                Some(first) => first.others.push((service.clone(), container.clone())),
                                None => {
                                    stopped = Some(ServiceExit {
                                        service: service.clone(),
                                        container: container.clone(),
                                        kept: w.after.is_some(),
                                        exit: None,
                                        after: began.elapsed(),
                                        output: lines(&output),
                                        diagnostics,
                                        others: Vec::new(),
                                    })
                                }
                            }
                        }
                        match stopped {
                            Some(stopped) => return Some(stopped),
                            None => continue,
                        }
                    }
                };
                // `select_all` leaves the rest as `swap_remove` does: so does `watched`.
                let gone = watched.swap_remove(index);
                if let Ok(exit) = ended {
                    // A service run from the built image names itself.
                    let mut exited = ServiceExit {
                        service: gone.service.clone(),
                        container: gone.name.clone(),
                        kept: gone.after.is_some(),
                        exit: Some(exit),
                        after: began.elapsed(),
                        output: Vec::new(),
                        diagnostics: Vec::new(),
                        others: Vec::new(),
                    };
                    if exited.failed() {
                        let output = gone.output(&engine).await;
                        exited.diagnostics = diagnose(&output);
                        exited.output = lines(&output);
                        exited.others = failing_with(&mut watched, rest).await;
                        return Some(exited);
                    }
                }
                if rest.is_empty() {
                    return None;
                }
                pending = select_all(rest);
            }
        }))
    }
}

/// Those of `watched` (their waits in `waits`, in the same order) that fail within
/// OTHERS_WITHIN: (service, container).
async fn failing_with<W, E>(watched: &mut Vec<Watched>, mut waits: Vec<W>) -> Vec<(String, String)>
where
    W: Future<Output = Result<ContainerExit, E>> + Unpin,
{
    let deadline = tokio::time::Instant::now() + OTHERS_WITHIN;
    let mut others = Vec::new();
    while !waits.is_empty() {
        let Ok((ended, index, rest)) = tokio::time::timeout_at(deadline, select_all(waits)).await else { break };
        let gone = watched.swap_remove(index);
        if ended.as_ref().is_ok_and(failed) {
            others.push((gone.service, gone.name));
        }
        waits = rest;
    }
    others
}

/// A container the watch reads.
struct Watched {
    id: String,
    name: String,
    /// When it was made (unix seconds): a new container's whole output is read.
    since: i64,
    /// Left running (its binds show the change): only its output from the change on.
    after: Option<SystemTime>,
    service: String,
}

impl Watched {
    async fn output(&self, engine: &crate::engine::Engine) -> Vec<u8> {
        let output = match self.after {
            Some(after) => engine.container_output_after(&self.id, OUTPUT_LINES, after).await,
            None => engine.container_output(&self.id, OUTPUT_LINES, self.since).await,
        };
        output.unwrap_or_default()
    }
}

fn modified(path: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(path).ok()?.modified().ok()
}

fn lines(output: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(output).lines().map(|l| l.trim_end().to_string()).collect()
}

/// An error that says the code itself is wrong (see CODE_ERRORS), at a file of the project.
fn is_code_error(d: &FileDiagnostic) -> bool {
    d.severity == crate::diagnostics::Severity::Error
        && matches!(d.tool, "python" | "node")
        && d.code.as_deref().is_some_and(|code| CODE_ERRORS.contains(&code))
}

/// The problems `output` names at files of the image (or of a builder stage), each once;
/// `workdir`: the container's working directory.
fn diagnose(plans: &[Plan], output: &[u8], workdir: &str) -> Vec<FileDiagnostic> {
    let mut found: Vec<FileDiagnostic> = Vec::new();
    for plan in plans {
        let mut diagnoser = Diagnoser::new(plan);
        diagnoser.in_dir(workdir);
        diagnoser.feed(output);
        diagnoser.finish_step();
        for d in diagnoser.diagnostics() {
            if !found.contains(d) {
                found.push(d.clone());
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(code: i64, output: &str) -> ServiceExit {
        ServiceExit {
            service: "web".into(),
            container: "p-web-1".into(),
            kept: false,
            exit: Some(ContainerExit {
                code,
                oom_killed: false,
                restarting: false,
                ran_for: Some(Duration::from_millis(40)),
            }),
            after: Duration::from_millis(300),
            output: output.lines().map(str::to_string).collect(),
            diagnostics: Vec::new(),
            others: Vec::new(),
        }
    }

    #[test]
    fn the_others_that_failed_with_it_are_named_with_their_service_when_it_is_another() {
        let mut crashed = exit(1, "boom\n");
        crashed.others = vec![("web".into(), "p-web-2".into()), ("worker".into(), "p-worker-1".into())];
        let headline = crashed.headline();
        assert!(
            headline.starts_with(
                "service web: its new container p-web-1 exited with code 1 as it started (so did p-web-2, p-worker-1 \
                 of service worker) — the image built"
            ),
            "{headline}"
        );
        crashed.exit = None;
        assert!(crashed.headline().contains("error in its code (so did p-web-2,"), "{}", crashed.headline());
        crashed.kept = true;
        assert!(
            crashed.headline().starts_with(
                "service web: its container p-web-1 (kept running: its bind mounts show the change) runs, but"
            ),
            "{}",
            crashed.headline()
        );
    }

    #[test]
    fn a_crash_shows_the_error_above_its_stack_not_the_stack() {
        let node = include_str!("../diagnostics/fixtures/node18-npm-start.txt");
        let crashed = exit(1, node);
        assert!(crashed.failed());
        let message = crashed.message();
        assert!(
            message.starts_with("service web: its new container p-web-1 exited with code 1 as it started"),
            "{message}"
        );
        assert!(message.contains("SyntaxError: missing ) after argument list"), "{message}");
        assert!(message.contains("/usr/src/app/server.js:16"), "{message}");
        assert!(!message.contains("at Module"), "no stack frames: {message}");
    }

    #[test]
    fn a_status_line_ends_with_the_output_line_that_says_why() {
        let node = exit(1, include_str!("../diagnostics/fixtures/node18-npm-start.txt")).headline();
        assert!(node.starts_with("service web: its new container p-web-1 exited with code 1 as it started"), "{node}");
        assert!(node.ends_with("does not run: SyntaxError: missing ) after argument list"), "{node}");
        let perror = exit(1, "listen on 8080: Address in use\nlisten on 8080: Success\n").headline();
        assert!(
            perror.ends_with("does not run: listen on 8080: Success"),
            "the last line when none names an error: {perror}"
        );
        let restarted = exit(1, "listen on 8080: Success\nlisten on 8080: Success\nlisten on 8080: Success\n");
        assert_eq!(restarted.message().matches("listen on 8080").count(), 1, "each run's same line once");
        let silent = exit(3, "").headline();
        assert!(silent.ends_with("the app does not run"), "{silent}");
        assert_eq!(node.lines().count(), 1);
    }

    #[test]
    fn a_stop_is_no_failure() {
        for code in [0, 130, 137, 143] {
            assert!(!exit(code, "").failed(), "{code}");
        }
        let mut oom = exit(137, "");
        if let Some(e) = oom.exit.as_mut() {
            e.oom_killed = true;
        }
        assert!(oom.failed());
        assert!(oom.message().contains("lack of memory"), "{}", oom.message());
        assert!(exit(2, "").failed());
    }

    #[test]
    fn a_container_that_runs_on_is_said_only_for_an_error_in_the_code() {
        let mut running = exit(0, "");
        running.exit = None;
        assert!(running.failed());
        assert!(running.headline().contains("runs, but the app in it stopped on an error in its code"));
        let problem = |tool: &'static str, code: &str| FileDiagnostic {
            path: "/p/app.py".into(),
            range: Default::default(),
            severity: crate::diagnostics::Severity::Error,
            message: format!("{code}: x"),
            code: Some(code.to_string()),
            tool,
            related: Vec::new(),
        };
        assert!(is_code_error(&problem("python", "SyntaxError")));
        assert!(is_code_error(&problem("node", "ReferenceError")));
        assert!(!is_code_error(&problem("python", "ConnectionRefusedError")), "a condition an app may log");
        assert!(!is_code_error(&problem("gcc", "SyntaxError")));
        let mut warning = problem("python", "SyntaxError");
        warning.severity = crate::diagnostics::Severity::Warning;
        assert!(!is_code_error(&warning));
    }
}
