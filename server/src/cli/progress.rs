//! The live view of a `build` on a terminal (indicatif), as BuildKit's tty view shows one: a
//! header with the phase and its time; one line per full-build step — running with a spinner,
//! then CACHED or DONE with its time, or ERROR — and under a running step the last line of its
//! log, which goes when the step ends. Output of the rebuild steps and notes print above it.
//! Off (plain lines) when stderr is not a terminal, with `--progress plain`, or under `--json`.

use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::style::{paint, Paint};
use crate::events::{BuildStepState, Phase};

/// `--progress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum ProgressChoice {
    /// A live view on a terminal, plain lines elsewhere.
    #[default]
    Auto,
    /// Plain lines, one per event (what a log file or CI wants).
    Plain,
}

const TICK: Duration = Duration::from_millis(100);

static CHOICE: std::sync::OnceLock<ProgressChoice> = std::sync::OnceLock::new();

/// Sets `--progress` for the process (the first call wins).
pub fn init(choice: ProgressChoice) {
    let _ = CHOICE.set(choice);
}

pub struct Progress {
    multi: MultiProgress,
    header: ProgressBar,
    steps: Vec<Step>,
    /// The running step's last log line.
    tail: Option<ProgressBar>,
    /// The classic builder's current `Step N/M` (its lines, not events, say where it is).
    classic: Option<usize>,
}

struct Step {
    name: String,
    bar: ProgressBar,
    started: Instant,
    finished: bool,
}

fn spinner(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ ")
}

impl Progress {
    /// A live view, or None when the terminal should get plain lines.
    pub fn start() -> Option<Progress> {
        use std::io::IsTerminal as _;
        if CHOICE.get().copied().unwrap_or_default() == ProgressChoice::Plain || !std::io::stderr().is_terminal() {
            return None;
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(spinner("{spinner} {msg} {elapsed:.dim}"));
        header.enable_steady_tick(TICK);
        Some(Progress { multi, header, steps: Vec::new(), tail: None, classic: None })
    }

    /// A phase began: the header says it.
    pub fn phase(&mut self, phase: Phase, detail: &str) {
        let text = match phase {
            Phase::ImageBuild => format!("docker build of {detail}"),
            _ if detail.is_empty() => phase.name().to_string(),
            _ => format!("{}: {detail}", phase.name()),
        };
        self.header.set_message(paint(Paint::Bold, &text));
        self.header.reset_elapsed();
    }

    /// A full build's step changed state (BuildKit's events).
    pub fn step(&mut self, name: &str, state: &BuildStepState) {
        let i = match self.steps.iter().position(|s| s.name == name && !s.finished) {
            Some(i) => i,
            None => self.add_step(name),
        };
        self.set_state(i, state);
    }

    fn add_step(&mut self, name: &str) -> usize {
        let bar = self.multi.insert_before(&self.header, ProgressBar::new_spinner());
        bar.set_style(spinner("  {spinner} {msg} {elapsed:.dim}"));
        bar.set_message(name.to_string());
        bar.enable_steady_tick(TICK);
        self.steps.push(Step { name: name.to_string(), bar, started: Instant::now(), finished: false });
        self.steps.len() - 1
    }

    fn set_state(&mut self, i: usize, state: &BuildStepState) {
        let step = &mut self.steps[i];
        let done = |bar: &ProgressBar, text: String| {
            bar.set_style(ProgressStyle::with_template("  {msg}").unwrap_or_else(|_| ProgressStyle::default_spinner()));
            bar.finish_with_message(text);
        };
        match state {
            BuildStepState::Started => {}
            BuildStepState::Cached => {
                done(
                    &step.bar,
                    format!("{} {}", paint(Paint::Good, "✓"), paint(Paint::Dim, &format!("{} CACHED", step.name))),
                );
                step.finished = true;
            }
            BuildStepState::Done(took) => {
                done(
                    &step.bar,
                    format!("{} {} {}", paint(Paint::Good, "✓"), step.name, paint(Paint::Dim, &seconds(*took))),
                );
                step.finished = true;
            }
            BuildStepState::Failed(error) => {
                done(&step.bar, format!("{} {} {}", paint(Paint::Bad, "✗"), step.name, paint(Paint::Bad, error)));
                step.finished = true;
            }
        }
        if step.finished {
            // The step's log goes with it, as in BuildKit's view.
            if let Some(tail) = self.tail.take() {
                tail.finish_and_clear();
            }
        }
    }

    /// A line of a full build's log: the classic builder's `Step N/M : …` lines are its steps;
    /// any other line is shown under the running step until the next.
    pub fn log_line(&mut self, line: &str) {
        let trimmed = line.trim();
        if trimmed.starts_with("Step ") && trimmed.contains(" : ") {
            self.finish_classic(None);
            self.classic = Some(self.add_step(trimmed));
            return;
        }
        if trimmed == "---> Using cache" {
            self.finish_classic(Some(BuildStepState::Cached));
            return;
        }
        if trimmed.is_empty() || trimmed.starts_with("---> ") {
            return;
        }
        let tail = self.tail.get_or_insert_with(|| {
            let bar = self.multi.insert_before(&self.header, ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("    {msg:.dim}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        let shown: String = trimmed.chars().take(160).collect();
        tail.set_message(shown);
    }

    fn finish_classic(&mut self, state: Option<BuildStepState>) {
        if let Some(i) = self.classic.take() {
            let state = state.unwrap_or_else(|| BuildStepState::Done(self.steps[i].started.elapsed()));
            if !self.steps[i].finished {
                self.set_state(i, &state);
            }
        }
    }

    /// Prints above the live view (build output, notes, warnings), on stdout or stderr.
    pub fn print(&self, to_stdout: bool, text: &str) {
        self.multi.suspend(|| {
            use std::io::Write as _;
            let _ = if to_stdout {
                std::io::stdout().write_all(text.as_bytes())
            } else {
                std::io::stderr().write_all(text.as_bytes())
            };
        });
    }

    /// Ends the view: finished steps stay on screen, the rest is cleared.
    pub fn finish(&mut self) {
        self.finish_classic(None);
        if let Some(tail) = self.tail.take() {
            tail.finish_and_clear();
        }
        for step in &self.steps {
            if !step.finished {
                step.bar.finish_and_clear();
            }
        }
        self.header.finish_and_clear();
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}
