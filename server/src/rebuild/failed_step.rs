//! A full `docker build` that failed in a RUN (the project's own build, `RUN make` after the
//! sources' COPY, or one only a full build runs, `npm ci` after `COPY package.json`) is a
//! failed build of the user's code, not a problem of the Dockerfile: the step's output goes through the problem matchers as a cycle's would, and
//! the cycle ends `build_failed` with the problems at host files. Without this, a first build
//! (or any full build: a Dockerfile or go.mod edited) with a compile error showed the raw
//! output with container paths and an error asking to "fix the Dockerfile".

use std::collections::{HashMap, VecDeque};

use super::diagnose::Diagnoser;
use super::{Outcome, Rebuilder};
use crate::engine::StepState;
use crate::error::{Error, ErrorKind};
use crate::events::{Event, Phase, Reporter};
use crate::project::plan::{Plan, Step};

/// Output kept per running step: the end of it is where compilers put their errors.
const KEPT_LINES: usize = 4000;
/// A kept line is cut at this many bytes.
const KEPT_LINE_BYTES: usize = 16 * 1024;

/// The output of the steps a full build is running, so that the failed one's can be read.
#[derive(Default)]
pub(super) struct StepLogs {
    /// BuildKit: the output of each step (vertex) still running, by its id.
    running: HashMap<String, VecDeque<String>>,
    /// BuildKit: the first step that failed (not one stopped because another failed).
    failed: Option<(String, String)>,
    /// The classic builder: the number and keyword of the step running (`Step 6/6 : RUN make`).
    classic: Option<(usize, String)>,
    /// The classic builder: that step's output so far.
    classic_lines: VecDeque<String>,
}

impl StepLogs {
    /// A BuildKit step changed state: a finished one's output is no longer needed.
    pub fn step(&mut self, id: &str, name: &str, state: &StepState) {
        match state {
            StepState::Started => {
                self.running.entry(id.to_string()).or_default();
            }
            StepState::Failed { error } if !error.contains("context canceled") && self.failed.is_none() => {
                self.failed = Some((id.to_string(), name.to_string()));
            }
            StepState::Failed { .. } | StepState::Done { .. } | StepState::Cached => {
                self.running.remove(id);
            }
        }
    }

    /// A line of a BuildKit step's output.
    pub fn log(&mut self, id: &str, text: &str) {
        keep(self.running.entry(id.to_string()).or_default(), text);
    }

    /// A line of the classic builder's output: a step's header starts a new step.
    pub fn classic_line(&mut self, line: &str) {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("Step ").or_else(|| trimmed.strip_prefix("STEP ")) {
            let (numbers, text) = rest.split_once(':').unwrap_or((rest, ""));
            if let Some(n) = numbers.split('/').next().and_then(|n| n.trim().parse().ok()) {
                let keyword = text.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
                self.classic = Some((n, keyword));
                self.classic_lines.clear();
                return;
            }
        }
        if trimmed.starts_with("---> ") || trimmed.starts_with("--> ") {
            return;
        }
        keep(&mut self.classic_lines, line.trim_end_matches(['\r', '\n']));
    }

    /// The failed step: its Dockerfile line, and its output.
    fn failed_step(&self, dockerfile: &str) -> Option<(usize, Vec<String>)> {
        if let Some((id, name)) = &self.failed {
            let line = super::image_build::step_line(dockerfile, name)?;
            let output = self.running.get(id).map(|l| l.iter().cloned().collect()).unwrap_or_default();
            return Some((line, output));
        }
        let (n, keyword) = self.classic.as_ref()?;
        let line = classic_step_line(dockerfile, *n, keyword)?;
        Some((line, self.classic_lines.iter().cloned().collect()))
    }
}

fn keep(lines: &mut VecDeque<String>, text: &str) {
    if lines.len() >= KEPT_LINES {
        lines.pop_front();
    }
    let cut = (0..=KEPT_LINE_BYTES.min(text.len())).rev().find(|i| text.is_char_boundary(*i)).unwrap_or(0);
    lines.push_back(text[..cut].to_string());
}

/// The Dockerfile line of the classic builder's step `n`: it counts the ARGs before the
/// first FROM, then each stage's FROM and instructions, in order. None unless that
/// instruction is `keyword`.
fn classic_step_line(dockerfile: &str, n: usize, keyword: &str) -> Option<usize> {
    let parsed = crate::project::dockerfile::parse(dockerfile).ok()?;
    let mut steps: Vec<(usize, &str)> = parsed.global_args.iter().map(|_| (0, "ARG")).collect();
    for stage in &parsed.stages {
        steps.push((stage.line, "FROM"));
        steps.extend(stage.instructions.iter().map(|i| (i.line, i.kind.keyword())));
    }
    let (line, found) = *steps.get(n.checked_sub(1)?)?;
    (found == keyword).then_some(line)
}

/// The exit code in the builder's error: BuildKit's `exit code: 2`, the classic builder's
/// `returned a non-zero code: 2`.
fn exit_code(cause: &str) -> i64 {
    let after = cause.rsplit_once("exit code:").or_else(|| cause.rsplit_once("non-zero code:")).map(|(_, rest)| rest);
    after.and_then(|rest| rest.trim().split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()).unwrap_or(1)
}

/// How a full build ended.
pub(super) enum FullBuild {
    /// The image and a fresh builder were made; why the build was full.
    Built { reason: String },
    /// A step of the project's own build failed (its problems were reported): the image and
    /// the builder are as they were.
    StepFailed { exit_code: i64, step: String, stage: Option<String> },
}

impl FullBuild {
    pub fn outcome(&self) -> Outcome {
        match self {
            FullBuild::Built { reason } => Outcome::ImageBuilt { reason: reason.clone() },
            FullBuild::StepFailed { exit_code, step, .. } => {
                Outcome::BuildFailed { exit_code: *exit_code, step: step.clone() }
            }
        }
    }

    pub fn stage(&self) -> Option<String> {
        match self {
            FullBuild::StepFailed { stage, .. } => stage.clone(),
            FullBuild::Built { .. } => None,
        }
    }
}

impl Rebuilder {
    /// `error`, a full build's, as a failed build when it failed in a RUN (one a builder runs
    /// again, or one only a full build runs): its problems are reported, as a cycle reports
    /// them. Else None (a COPY of a missing file, a base image not found): the error stands.
    pub(super) fn step_failure(
        &self,
        error: &Error,
        logs: &StepLogs,
        reporter: &mut dyn Reporter,
    ) -> Option<FullBuild> {
        if error.kind != ErrorKind::ImageBuild {
            return None;
        }
        let plan = &self.project.plan;
        let dockerfile = std::fs::read_to_string(&plan.dockerfile).ok()?;
        let (line, output) = logs.failed_step(&dockerfile)?;
        // The plans whose steps a builder runs: the image's own, or each builder stage's.
        let views: Vec<(Plan, Option<String>)> = if plan.assembly.is_some() {
            (0..plan.builders.len()).map(|i| (plan.builder_view(i), Some(plan.builders[i].stage.label()))).collect()
        } else {
            vec![(plan.clone(), None)]
        };
        let rebuilt = views.iter().find_map(|(view, stage)| {
            view.steps.iter().find(|s| s.line == line).map(|step| (view.clone(), step.clone(), stage.clone()))
        });
        // Else a RUN only a full build runs (`npm ci` after `COPY package.json`): the user's
        // input failed it all the same (a valid Dockerfile is never blamed).
        let (view, step, stage) = rebuilt.or_else(|| plan.run_at(&dockerfile, line))?;
        let exit_code = exit_code(&error.cause);
        reporter.report(Event::Diagnostics(diagnose(&view, &step, &output, exit_code)));
        Some(FullBuild::StepFailed { exit_code, step: step.display.clone(), stage })
    }

    /// A full build's image id; or, when it failed in a step a builder runs, the failed build
    /// (its problems reported, its phase ended); any other failure is the error it was.
    pub(super) fn built_or_failed(
        &self,
        built: crate::error::Result<String>,
        logs: &StepLogs,
        started: std::time::Instant,
        reporter: &mut dyn Reporter,
    ) -> crate::error::Result<Result<String, FullBuild>> {
        match built {
            Ok(id) => Ok(Ok(id)),
            Err(e) => {
                let failed = self.step_failure(&e, logs, reporter).ok_or(e)?;
                reporter.report(Event::PhaseFinished { phase: Phase::ImageBuild, elapsed: started.elapsed() });
                Ok(Err(failed))
            }
        }
    }
}

/// The problems in a step's output, as a cycle finds them.
fn diagnose(plan: &Plan, step: &Step, output: &[String], exit_code: i64) -> Vec<crate::events::FileDiagnostic> {
    let mut diagnoser = Diagnoser::new(plan);
    diagnoser.start_step(step);
    for line in output {
        diagnoser.feed(line.as_bytes());
        diagnoser.feed(b"\n");
    }
    diagnoser.finish_step();
    diagnoser.fallback_for_failure(step, exit_code);
    diagnoser.diagnostics().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKERFILE: &str = "ARG BASE=debian:bookworm-slim\nFROM ${BASE} AS build\nWORKDIR /src\nCOPY src ./src\n\
                              RUN make\n\nFROM ${BASE}\nCOPY --from=build /src/app /app\nRUN /app --check\n";

    #[test]
    fn the_classic_builder_s_step_number_is_its_dockerfile_line() {
        assert_eq!(classic_step_line(DOCKERFILE, 5, "RUN"), Some(5));
        assert_eq!(classic_step_line(DOCKERFILE, 8, "RUN"), Some(9));
        assert_eq!(classic_step_line(DOCKERFILE, 2, "FROM"), Some(2));
        assert_eq!(classic_step_line(DOCKERFILE, 5, "COPY"), None, "another instruction there");
        assert_eq!(classic_step_line(DOCKERFILE, 0, "RUN"), None);
    }

    #[test]
    fn the_failed_step_s_own_output_is_kept() {
        let mut logs = StepLogs::default();
        logs.step("a", "[build 3/4] COPY src ./src", &StepState::Started);
        logs.step("b", "[build 4/4] RUN make", &StepState::Started);
        logs.log("b", "src/main.c:3:5: error: 'x' undeclared");
        logs.log("a", "not the failed step's");
        logs.step("a", "[build 3/4] COPY src ./src", &StepState::Done { millis: 1 });
        logs.step("b", "[build 4/4] RUN make", &StepState::Failed { error: "exit code: 2".into() });
        logs.step("c", "[stage-1 2/2] RUN /app", &StepState::Failed { error: "context canceled".into() });
        let (line, output) = logs.failed_step(DOCKERFILE).expect("a failed step");
        assert_eq!(line, 5);
        assert_eq!(output, ["src/main.c:3:5: error: 'x' undeclared"]);

        let mut classic = StepLogs::default();
        for line in ["Step 4/9 : COPY src ./src", " ---> 1234567890ab", "Step 5/9 : RUN make", " ---> Running in 0a"] {
            classic.classic_line(line);
        }
        classic.classic_line("src/main.c:3:5: error: 'x' undeclared\n");
        let (line, output) = classic.failed_step(DOCKERFILE).expect("a failed step");
        assert_eq!((line, output.as_slice()), (5, ["src/main.c:3:5: error: 'x' undeclared".to_string()].as_slice()));
    }

    #[test]
    fn the_exit_code_is_read_from_either_builder_s_error() {
        assert_eq!(exit_code("executor failed running [/bin/sh -c make]: exit code: 2"), 2);
        assert_eq!(exit_code("The command '/bin/sh -c make' returned a non-zero code: 127"), 127);
        assert_eq!(exit_code("something else"), 1);
    }
}
