//! The command-line front end: parses arguments, runs one core operation, renders its
//! events on the terminal. No build logic lives here.

/// `println!` that ignores a closed stdout (`docker-rebuilder build --json | head`): the work
/// is done by then, and a panic would only turn it into an alarming exit code.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` (and, as `err!(no_newline: ...)`, `eprint!`) likewise for stderr.
macro_rules! err {
    (no_newline: $($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stderr(), $($arg)*);
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod json;
mod render;
mod watch;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::engine::Engine;
use crate::error::Error;
use crate::events::Reporter as _;
use crate::project::Project;
use crate::rebuild::{BuildOptions, CancelToken, Outcome, Rebuilder};
use render::{Mode, TerminalReporter};

#[derive(Parser, Debug)]
#[command(name = "docker-rebuilder", version, about = "Seconds, not minutes: incremental rebuilds of Docker images")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Print nothing but errors (and the build's output when it fails).
    #[arg(long, global = true, conflicts_with = "json")]
    quiet: bool,
    /// Print one JSON object describing the result, for scripts.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Bring the image up to date: the first run builds the image and the builder, later
    /// runs sync what changed, rebuild inside the builder, and commit a clean result.
    Build {
        /// Project folder (default: the current one, or the nearest above with a Dockerfile).
        dir: Option<PathBuf>,
        /// Force a fresh `docker build` and a new builder.
        #[arg(long)]
        full: bool,
    },
    /// Keep the image up to date as files change (saves, git checkout, generators): syncs
    /// what changed while nothing ran, then rebuilds on every change until Ctrl-C.
    Watch { dir: Option<PathBuf> },
    /// Remove this project's builder containers (the image stays; so do the caches of
    /// `RUN --mount=type=cache` unless --caches).
    Clean {
        dir: Option<PathBuf>,
        /// Also remove the cache volumes of `RUN --mount=type=cache` (the next build starts cold).
        #[arg(long)]
        caches: bool,
    },
    /// Show the image, its stages and builders, and what a build would do now.
    Status {
        dir: Option<PathBuf>,
        /// Also say what a change to this file would do (repeatable).
        #[arg(long = "file", value_name = "PATH")]
        files: Vec<PathBuf>,
    },
    /// Open an interactive shell in the builder.
    Shell {
        dir: Option<PathBuf>,
        /// In a multi-stage image: the stage whose builder to enter (default: the first).
        #[arg(long)]
        stage: Option<String>,
    },
    /// Serve the Language Server Protocol on stdin/stdout (editors start this).
    Lsp {
        /// Accepted for clients that always pass it; stdio is the only transport.
        #[arg(long)]
        stdio: bool,
    },
}

/// Runs the CLI; returns the process exit code (0 ok, 1 build failed, 2 tool error).
pub fn main() -> i32 {
    let cli = Cli::parse();
    let mode = if cli.json {
        Mode::Json
    } else if cli.quiet {
        Mode::Quiet
    } else {
        Mode::Human
    };
    // The long-lived front ends idle between saves: keep what they hold small.
    if matches!(cli.command, Command::Lsp { .. } | Command::Watch { .. }) {
        crate::memory::use_one_heap();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            err!("docker-rebuilder: cannot start: {e}");
            return 2;
        }
    };
    if let Command::Lsp { .. } = cli.command {
        runtime.block_on(crate::lsp::run_stdio());
        // The stdin reader blocks in a thread of its own: do not wait for it after `exit`.
        runtime.shutdown_background();
        return 0;
    }
    match runtime.block_on(run(cli.command, mode)) {
        Ok(code) => code,
        Err(e) => {
            render::print_error(mode, &e);
            2
        }
    }
}

async fn rebuilder(dir: Option<PathBuf>) -> Result<Rebuilder, Error> {
    let project = Project::discover(&dir.unwrap_or_else(|| PathBuf::from(".")))?;
    let engine = Engine::connect().await?;
    Ok(Rebuilder::new(engine, project))
}

/// The project's rebuilder, or, when the project folder is found but its Dockerfile or
/// rebuilder.toml does not load, the engine, the folder and why (for `clean` and `status`).
async fn loaded(dir: Option<PathBuf>) -> Result<Result<Rebuilder, (Engine, PathBuf, Error)>, Error> {
    let dir = Project::find_dir(&dir.unwrap_or_else(|| PathBuf::from(".")))?;
    let project = Project::load(&dir);
    let engine = Engine::connect().await?;
    Ok(match project {
        Ok(project) => Ok(Rebuilder::new(engine, project)),
        Err(error) => Err((engine, dir, error)),
    })
}

async fn run(command: Command, mode: Mode) -> Result<i32, Error> {
    match command {
        Command::Build { dir, full } => {
            let rebuilder = rebuilder(dir).await?;
            let mut reporter = TerminalReporter::new(mode);
            // Ctrl-C stops the build's processes in the builder; nothing is committed.
            let cancel = CancelToken::new();
            let on_interrupt = cancel.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    on_interrupt.cancel();
                }
            });
            let report = rebuilder.build(BuildOptions { full, cancel: Some(cancel) }, &mut reporter).await?;
            reporter.summary(&report);
            // What was left to do after the image was made (a replay container's removal).
            rebuilder.settle().await;
            Ok(match report.outcome {
                Outcome::BuildFailed { .. } => 1,
                Outcome::Cancelled { .. } => 130,
                Outcome::TimedOut { .. } => 1,
                _ => 0,
            })
        }
        Command::Watch { dir } => watch::run(rebuilder(dir).await?, mode).await,
        Command::Clean { dir, caches } => {
            let mut reporter = TerminalReporter::new(mode);
            let report = match loaded(dir).await? {
                Ok(rebuilder) => rebuilder.clean(caches, &mut reporter).await?,
                // A recipe that does not load strands nothing: what we made is found by label.
                Err((engine, dir, error)) => {
                    reporter.report(crate::events::Event::Note(error.one_line()));
                    crate::rebuild::clean_unloaded(&engine, &dir, caches, &mut reporter).await?
                }
            };
            reporter.clean_summary(&report);
            Ok(0)
        }
        Command::Status { dir, files } => {
            let rebuilder = match loaded(dir).await? {
                Ok(rebuilder) => rebuilder,
                Err((engine, dir, error)) => {
                    let status = crate::rebuild::status_unloaded(&engine, &dir, error).await?;
                    render::print_unloaded_status(mode, &status);
                    return Ok(2);
                }
            };
            let status = rebuilder.status().await?;
            let project = rebuilder.project();
            let effects: Vec<(String, Vec<String>)> = files
                .iter()
                .map(|f| {
                    let absolute = std::env::current_dir().map(|d| d.join(f)).unwrap_or_else(|_| f.clone());
                    let absolute = absolute.canonicalize().unwrap_or(absolute);
                    let rel = absolute.strip_prefix(&project.plan.context).map(|r| r.to_string_lossy().into_owned());
                    let lines = match &rel {
                        Ok(rel) => project.plan.effects_of(rel, &project.ignore),
                        Err(_) => vec!["outside the build context: no build sees it".to_string()],
                    };
                    (f.display().to_string(), lines)
                })
                .collect();
            render::print_status(mode, project, &status, &effects);
            Ok(0)
        }
        Command::Lsp { .. } => Ok(0),
        Command::Shell { dir, stage } => {
            let rebuilder = rebuilder(dir).await?;
            let _raw = render::RawTerminal::enter();
            let code = rebuilder.shell(render::terminal_size(), stage.as_deref()).await?;
            Ok(code as i32)
        }
    }
}
