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
mod plugin;
mod problems;
mod progress;
mod render;
mod style;
mod targets;
mod watch;
mod watch_follow;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::engine::Engine;
use crate::error::Error;
use crate::events::Reporter as _;
use crate::project::service::ProjectSource;
use crate::rebuild::{BuildOptions, CancelToken, Outcome, Rebuilder, BUILD_WATCH_FOR};
use render::{Mode, TerminalReporter};
use targets::Target;

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
    /// Colour on stderr: auto (a terminal, unless NO_COLOR; CLICOLOR_FORCE forces it), always, never.
    #[arg(long, global = true, value_enum, default_value_t = style::ColorChoice::Auto, value_name = "WHEN")]
    color: style::ColorChoice,
    /// The build's progress: auto (a live view on a terminal), plain (one line per event).
    #[arg(long, global = true, value_enum, default_value_t = progress::ProgressChoice::Auto, value_name = "MODE")]
    progress: progress::ProgressChoice,
    #[command(flatten)]
    compose: targets::ComposeFlags,
    #[command(flatten)]
    engine: EngineArgs,
}

/// docker's own global flags, which pick the engine as `docker` does (and which docker passes
/// to a CLI plugin).
#[derive(clap::Args, Debug, Default)]
struct EngineArgs {
    /// The docker context to use (overrides DOCKER_HOST, DOCKER_CONTEXT and `docker context use`).
    #[arg(long, short = 'c', global = true, value_name = "NAME")]
    context: Option<String>,
    /// The engine's address: unix:///path, tcp://HOST:PORT, ssh://USER@HOST.
    #[arg(long, short = 'H', global = true, value_name = "ADDRESS")]
    host: Option<String>,
    /// docker's configuration folder (default: DOCKER_CONFIG, else ~/.docker).
    #[arg(long, global = true, value_name = "DIR")]
    config: Option<PathBuf>,
    /// Use TLS (implied by --tlsverify).
    #[arg(long, global = true)]
    tls: bool,
    /// Use TLS and verify the engine's certificate.
    #[arg(long, global = true)]
    tlsverify: bool,
    /// Trust certificates signed by this CA only.
    #[arg(long, global = true, value_name = "FILE")]
    tlscacert: Option<PathBuf>,
    /// The TLS client certificate.
    #[arg(long, global = true, value_name = "FILE")]
    tlscert: Option<PathBuf>,
    /// The TLS client key.
    #[arg(long, global = true, value_name = "FILE")]
    tlskey: Option<PathBuf>,
    /// docker's own, passed to a plugin: accepted, no effect here.
    #[arg(long, short = 'D', global = true, hide = true)]
    debug: bool,
    /// docker's own, passed to a plugin: accepted, no effect here.
    #[arg(long, short = 'l', global = true, hide = true, value_name = "LEVEL")]
    log_level: Option<String>,
}

impl EngineArgs {
    fn flags(&self) -> crate::engine::EngineFlags {
        crate::engine::EngineFlags {
            host: self.host.clone(),
            context: self.context.clone(),
            config: self.config.clone(),
            tls: self.tls,
            tlsverify: self.tlsverify,
            tlscacert: self.tlscacert.clone(),
            tlscert: self.tlscert.clone(),
            tlskey: self.tlskey.clone(),
        }
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Bring the image up to date: the first run builds the image and the builder, later
    /// runs sync what changed, rebuild inside the builder, and commit a clean result.
    Build {
        /// Project folder (default: the current one, or the nearest above with a Dockerfile
        /// or a compose file), then the compose services to build (default: every service
        /// with `build:`).
        #[arg(value_name = "DIR|SERVICE")]
        targets: Vec<String>,
        /// Force a fresh `docker build` and a new builder.
        #[arg(long)]
        full: bool,
    },
    /// Keep the image up to date as files change (saves, git checkout, generators): syncs
    /// what changed while nothing ran, then rebuilds on every change until Ctrl-C.
    Watch {
        #[arg(value_name = "DIR|SERVICE")]
        targets: Vec<String>,
    },
    /// Remove this project's builder containers and the superseded images of ours nothing runs
    /// (the image stays; so do the caches of `RUN --mount=type=cache` unless --caches).
    Clean {
        #[arg(value_name = "DIR|SERVICE")]
        targets: Vec<String>,
        /// Also remove what is kept to make the next build incremental: the cache volumes of
        /// `RUN --mount=type=cache`, each build stage's state image and the stage images a
        /// replay starts from (the next build starts cold).
        #[arg(long)]
        caches: bool,
    },
    /// Show the image, its stages and builders, and what a build would do now.
    Status {
        #[arg(value_name = "DIR|SERVICE")]
        targets: Vec<String>,
        /// Also say what a change to this file would do (repeatable). Not `--file` (nor
        /// a field named `files`, clap's id for it): that is compose's `-f/--file`.
        #[arg(long = "change", value_name = "PATH")]
        changes: Vec<PathBuf>,
    },
    /// Open an interactive shell in the builder.
    Shell {
        /// Project folder and/or the compose service whose builder to enter.
        #[arg(value_name = "DIR|SERVICE")]
        targets: Vec<String>,
        /// In a multi-stage image: the stage whose builder to enter (default: the first).
        #[arg(long)]
        stage: Option<String>,
    },
    /// Print a shell's completion script (see the README for where it goes).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `docker-rebuilder man > ~/.local/share/man/man1/docker-rebuilder.1`.
    Man,
    /// What docker's plugin manager asks a CLI plugin (`docker rebuilder`).
    #[command(name = "docker-cli-plugin-metadata", hide = true)]
    PluginMetadata,
    /// Serve the Language Server Protocol on stdin/stdout (editors start this).
    Lsp {
        /// Accepted for clients that always pass it; stdio is the only transport.
        #[arg(long)]
        stdio: bool,
    },
}

/// Runs the CLI; returns the process exit code (0 ok, 1 build failed, 2 tool error).
pub fn main() -> i32 {
    let cli = Cli::parse_from(plugin::strip_plugin_name(std::env::args_os().collect()));
    match &cli.command {
        Command::PluginMetadata => {
            out!("{}", plugin::metadata());
            return 0;
        }
        Command::Completions { shell } => {
            // Into memory first: a reader that stops early (`| head`) is not a failure.
            let mut script = Vec::new();
            clap_complete::generate(
                *shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "docker-rebuilder",
                &mut script,
            );
            let mut script = String::from_utf8_lossy(&script).into_owned();
            if *shell == clap_complete::Shell::Bash {
                // clap_complete names a subcommand's case for a hyphenated binary differently
                // from the name its word loop computes (`docker__subcmd__rebuilder__…` vs
                // `docker__rebuilder__…`), so no subcommand's flags would complete: one name.
                script = script.replace("docker__subcmd__rebuilder__", "docker__rebuilder__");
            }
            let _ = std::io::Write::write_all(&mut std::io::stdout(), script.as_bytes());
            return 0;
        }
        Command::Man => {
            let mut page = Vec::new();
            if let Err(e) = clap_mangen::Man::new(<Cli as clap::CommandFactory>::command()).render(&mut page) {
                err!("docker-rebuilder: cannot make the man page: {e}");
                return 2;
            }
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &page);
            return 0;
        }
        _ => {}
    }
    crate::engine::use_flags(cli.engine.flags());
    style::init(cli.color);
    progress::init(cli.progress);
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
    match runtime.block_on(run(cli.command, &cli.compose, mode)) {
        Ok(code) => code,
        Err(e) => {
            render::print_error(mode, &e);
            2
        }
    }
}

/// The projects the words name, each with its rebuilder. Of the services of a compose
/// project taken whole (none named), one whose image takes nothing from its context (its code
/// comes through a bind mount, say) is left out with a note; it is an error only when no
/// other service is left, or when it was named.
async fn rebuilders(words: &[String], flags: &targets::ComposeFlags) -> Result<Vec<(Target, Rebuilder)>, Error> {
    let engine = Engine::connect().await?;
    let named = !targets::split(words).1.is_empty();
    let mut all = Vec::new();
    let mut left_out = None;
    for target in targets::resolve(words, flags, Some(&engine)).await? {
        match target.source.load() {
            Ok(project) => all.push((target, Rebuilder::new(engine.clone(), project))),
            Err(e) if e.kind == crate::error::ErrorKind::NothingToRebuild && !named && target.service.is_some() => {
                err!("docker-rebuilder: left out: {}", e.cause);
                left_out.get_or_insert(e);
            }
            Err(e) => return Err(e),
        }
    }
    match left_out {
        Some(e) if all.is_empty() => Err(e),
        _ => Ok(all),
    }
}

/// The one project a command that takes one (`shell`) runs on.
async fn one_rebuilder(words: &[String], flags: &targets::ComposeFlags) -> Result<Rebuilder, Error> {
    let mut all = rebuilders(words, flags).await?;
    if all.len() > 1 {
        let names: Vec<String> = all.iter().filter_map(|(t, _)| t.service.clone()).collect();
        return Err(Error::new(
            crate::error::ErrorKind::Project,
            format!("this compose project builds several services: {}", names.join(", ")),
            "name the service: `docker-rebuilder shell SERVICE`",
        ));
    }
    all.pop().map(|(_, r)| r).ok_or_else(|| Error::new(crate::error::ErrorKind::Project, "no project", ""))
}

/// Each project's rebuilder, or, when the project is found but its Dockerfile, rebuilder.toml
/// or compose file does not load, the engine, the project and why (for `clean` and `status`).
type Loaded = Result<Rebuilder, (Engine, ProjectSource, Error)>;

async fn loaded(words: &[String], flags: &targets::ComposeFlags) -> Result<Vec<(Option<String>, Loaded)>, Error> {
    let engine = Engine::connect().await?;
    let found = match targets::resolve(words, flags, Some(&engine)).await {
        Ok(found) => found,
        // A compose file that does not load: the folder's own objects still have labels.
        Err(e) if e.kind == crate::error::ErrorKind::Compose => {
            let (dir, services) = targets::split(words);
            let dir = dir.canonicalize().unwrap_or(dir);
            let dir = crate::project::compose::find_dir(&dir).unwrap_or(dir);
            let services = if services.is_empty() { services_of_ours(&engine, &dir).await? } else { services };
            if services.is_empty() {
                return Err(e);
            }
            let options = crate::project::compose::ComposeOptions { dir, ..Default::default() };
            return Ok(services
                .into_iter()
                .map(|service| {
                    let source = ProjectSource::Service {
                        options: options.clone(),
                        service: service.clone(),
                        twins: Vec::new(),
                        version: None,
                    };
                    (Some(service), Err((engine.clone(), source, e.clone())))
                })
                .collect());
        }
        Err(e) => return Err(e),
    };
    Ok(found
        .into_iter()
        .map(|target| {
            let loaded = match target.source.load() {
                Ok(project) => Ok(Rebuilder::new(engine.clone(), project)),
                Err(error) => Err((engine.clone(), target.source, error)),
            };
            (target.service, loaded)
        })
        .collect())
}

/// The compose services under `dir` that we have objects for (by their project label,
/// `<context>#<service>`): what `clean` removes when the compose file does not load.
async fn services_of_ours(engine: &Engine, dir: &std::path::Path) -> Result<Vec<String>, Error> {
    let labels = engine.label_values(crate::project::LABEL_PROJECT).await?;
    let mut services: Vec<String> = labels
        .iter()
        .filter_map(|l| l.rsplit_once('#'))
        .filter(|(context, _)| std::path::Path::new(context).starts_with(dir))
        .map(|(_, service)| service.to_string())
        .collect();
    services.dedup();
    Ok(services)
}

/// A header before each service's output, when a command runs on several.
fn header(mode: Mode, service: &Option<String>, several: bool) {
    if let (Some(service), true, Mode::Human) = (service, several, mode) {
        err!("── service {service}");
    }
}

async fn run(command: Command, flags: &targets::ComposeFlags, mode: Mode) -> Result<i32, Error> {
    match command {
        Command::Build { targets, full } => {
            let all = rebuilders(&targets, flags).await?;
            let several = all.len() > 1;
            // Ctrl-C stops the build's processes in the builder; nothing is committed.
            let cancel = CancelToken::new();
            let on_interrupt = cancel.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    on_interrupt.cancel();
                }
            });
            let mut code = 0;
            for (target, rebuilder) in all {
                header(mode, &target.service, several);
                let mut reporter = TerminalReporter::new(mode)
                    .for_service(target.service.clone())
                    .on_engine(rebuilder.engine().target());
                let report = rebuilder
                    .build(
                        BuildOptions {
                            full,
                            cancel: Some(cancel.clone()),
                            color: mode == Mode::Human && style::enabled(),
                        },
                        &mut reporter,
                    )
                    .await?;
                // A recreated container that dies as it starts: said, and the exit code says so.
                // A terminal shows the cycle's end at once; the JSON waits to hold what was seen.
                // (A container kept running is watched by `watch` and the editors only: a
                // one-shot build does not wait on a reloader.)
                let watch = rebuilder.watch_service(&report, BUILD_WATCH_FOR, false);
                if mode != Mode::Json {
                    reporter.summary(&report);
                }
                let exited = match watch {
                    Some(watch) => watch.await,
                    None => None,
                };
                if let Some(exited) = &exited {
                    reporter.service_exited(exited);
                }
                if mode == Mode::Json {
                    reporter.summary(&report);
                }
                // What was left to do after the image was made (a replay container's removal).
                rebuilder.settle().await;
                code = code.max(match report.outcome {
                    Outcome::BuildFailed { .. } => 1,
                    Outcome::Cancelled { .. } => 130,
                    Outcome::TimedOut { .. } => 1,
                    _ if exited.is_some() => 1,
                    _ => 0,
                });
                if code == 130 {
                    break;
                }
            }
            Ok(code)
        }
        Command::Watch { targets } => {
            let all = rebuilders(&targets, flags).await?;
            let follow = watch_follow::Follow::of(&targets, flags, &all.iter().map(|(t, _)| t).collect::<Vec<_>>());
            watch::run(all, mode, follow).await
        }
        Command::Clean { targets, caches } => {
            let all = loaded(&targets, flags).await?;
            let several = all.len() > 1;
            for (service, loaded) in all {
                header(mode, &service, several);
                let mut reporter = TerminalReporter::new(mode).for_service(service);
                let report = match loaded {
                    Ok(rebuilder) => rebuilder.clean(caches, &mut reporter).await?,
                    // A recipe that does not load strands nothing: what we made is found by label.
                    Err((engine, source, error)) => {
                        reporter.report(crate::events::Event::Note(error.one_line()));
                        crate::rebuild::clean_unloaded(&engine, &source, caches, &mut reporter).await?
                    }
                };
                reporter.clean_summary(&report);
            }
            Ok(0)
        }
        Command::Status { targets, changes } => {
            let all = loaded(&targets, flags).await?;
            let several = all.len() > 1;
            let mut code = 0;
            for (service, loaded) in all {
                header(mode, &service, several);
                let rebuilder = match loaded {
                    Ok(rebuilder) => rebuilder,
                    Err((engine, source, error)) => {
                        // An image that takes nothing from its context is not a problem to fix.
                        if error.kind != crate::error::ErrorKind::NothingToRebuild {
                            code = 2;
                        }
                        let status = crate::rebuild::status_unloaded(&engine, &source, error).await?;
                        render::print_unloaded_status(mode, &status, engine.target());
                        continue;
                    }
                };
                let status = rebuilder.status().await?;
                let project = rebuilder.project();
                let effects: Vec<(String, Vec<String>)> = changes
                    .iter()
                    .map(|f| {
                        let absolute = std::env::current_dir().map(|d| d.join(f)).unwrap_or_else(|_| f.clone());
                        let absolute = absolute.canonicalize().unwrap_or(absolute);
                        let rel =
                            absolute.strip_prefix(&project.plan.context).map(|r| r.to_string_lossy().into_owned());
                        let recipe =
                            project.recipe_files().iter().any(|r| r.canonicalize().ok().as_ref() == Some(&absolute));
                        let lines = match &rel {
                            _ if recipe => {
                                vec!["part of the image's recipe: a change makes a full docker build and a new builder"
                                    .to_string()]
                            }
                            Ok(rel) => project.plan.effects_of(rel, &project.ignore),
                            Err(_) => vec!["outside the build context: no build sees it".to_string()],
                        };
                        (f.display().to_string(), lines)
                    })
                    .collect();
                render::print_status(mode, project, &status, &effects, rebuilder.engine().target());
            }
            Ok(code)
        }
        Command::Lsp { .. } | Command::PluginMetadata | Command::Completions { .. } | Command::Man => Ok(0),
        Command::Shell { targets, stage } => {
            let rebuilder = one_rebuilder(&targets, flags).await?;
            // As `docker exec -i`, with `-t` only when stdin is a terminal: through a pipe the
            // shell reads commands until EOF, then exits.
            let io = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                crate::engine::ShellIo::Terminal(render::terminal_size())
            } else {
                crate::engine::ShellIo::Piped
            };
            // Restored when dropped: on return, as soon as the shell exits, or on an error.
            let _raw = render::RawTerminal::enter();
            let code = rebuilder.shell(io, stage.as_deref()).await?;
            Ok(code as i32)
        }
    }
}
