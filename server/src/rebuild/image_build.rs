//! A full build through the engine's image builder: BuildKit when the engine has it and the
//! user did not ask otherwise, else the classic builder. Which one, and whether it can build
//! this Dockerfile at all, is decided here, before the context is sent.

use std::collections::HashMap;

use super::failed_step::StepLogs;
use super::Rebuilder;
use crate::engine::{BuildEvent, BuildKitRequest, BuildRequest, BuilderSupport, SecretSource, StepState};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{BuildStepState, Event, Reporter};
use crate::project::config::SecretEntry;
use crate::project::dockerfile::{Construct, ConstructKind, Dockerfile};
use crate::project::image_builder::{requested, ImageBuilder};

/// One full build's request, whichever builder runs it.
pub(super) struct ImageBuild<'a> {
    /// `name:tag`; empty: an untagged image (a stage's, for a builder or the replay).
    pub tag: &'a str,
    pub dockerfile: &'a str,
    /// Paths in the archive for the builder only (see `BuildKitRequest::builder_only`).
    pub builder_only: &'a [String],
    pub target: Option<&'a str>,
    pub labels: HashMap<String, String>,
}

impl Rebuilder {
    /// The builder that makes this project's full builds, checked against what the engine
    /// offers and what the Dockerfile needs.
    pub(super) async fn image_builder(&self) -> Result<(ImageBuilder, BuilderSupport)> {
        let asked = requested(&self.project.config, std::env::var("DOCKER_BUILDKIT").ok().as_deref())?;
        let support = self.engine.builder_support().await?;
        let builder = match asked.builder {
            Some(ImageBuilder::BuildKit) if !support.buildkit => {
                return Err(Error::new(
                    ErrorKind::Engine,
                    format!(
                        "{} asks for BuildKit, but the engine ({}) offers only its classic builder",
                        asked.source,
                        engine_of(&support)
                    ),
                    "use an engine with BuildKit (Docker 18.09 or later; dockerd's `features.buildkit` not \
                     disabled), or remove the request to build with the classic builder",
                ))
            }
            Some(b) => b,
            // As `docker build` since Docker 23: BuildKit wherever the engine has it.
            None if support.buildkit => ImageBuilder::BuildKit,
            None => ImageBuilder::Classic,
        };
        self.check_constructs(builder, &support, &asked.source)?;
        self.check_settings(builder, &asked.source)?;
        Ok((builder, support))
    }

    /// Runs one full build with `builder`, its progress reported. Returns the image id.
    pub(super) async fn run_image_build(
        &self,
        builder: ImageBuilder,
        build: ImageBuild<'_>,
        context_tar: Vec<u8>,
        on_line: &mut (dyn FnMut(&str) + Send),
        logs: &mut StepLogs,
        reporter: &mut dyn Reporter,
    ) -> Result<String> {
        let plan = &self.project.plan;
        let config = &self.project.config;
        let build_args: HashMap<String, String> = plan.build_args.clone().into_iter().collect();
        // The user's labels, under ours (namespaced: no key of theirs is lost).
        let mut labels: HashMap<String, String> = config.labels.clone().into_iter().collect();
        labels.extend(build.labels);
        let platform = self.platform();
        match builder {
            ImageBuilder::Classic => {
                let request = BuildRequest {
                    tag: build.tag,
                    dockerfile: build.dockerfile,
                    target: build.target,
                    build_args,
                    labels,
                    network: config.network.as_deref(),
                    // `check_settings` refused more than one.
                    extra_host: config.extra_hosts.first().map(String::as_str),
                    platform: platform.as_ref().map(|(p, _)| p.as_str()),
                };
                self.engine
                    .build_image(request, context_tar, &mut |line: &str| {
                        on_line(line);
                        logs.classic_line(line);
                        reporter.report(Event::ImageBuildLine(line.to_string()))
                    })
                    .await
            }
            ImageBuilder::BuildKit => {
                let request = BuildKitRequest {
                    tag: build.tag,
                    dockerfile: build.dockerfile,
                    builder_only: build.builder_only,
                    target: build.target,
                    build_args,
                    labels,
                    network: config.network.as_deref(),
                    extra_hosts: &config.extra_hosts,
                    platform: platform.as_ref().map(|(p, _)| p.as_str()),
                    secrets: self.secret_sources(),
                    ssh: std::env::var_os("SSH_AUTH_SOCK").is_some(),
                };
                let mut failed: Option<String> = None;
                let mut on_event = |event: BuildEvent<'_>| match event {
                    BuildEvent::Step { id, name, state } => {
                        logs.step(id, name, &state);
                        if let StepState::Failed { error } = &state {
                            if failed.is_none() && !error.contains("context canceled") {
                                failed = Some(name.to_string());
                            }
                        }
                        let state = match state {
                            StepState::Started => BuildStepState::Started,
                            StepState::Cached => BuildStepState::Cached,
                            StepState::Done { millis } => {
                                BuildStepState::Done(std::time::Duration::from_millis(millis))
                            }
                            StepState::Failed { error } => BuildStepState::Failed(error),
                        };
                        reporter.report(Event::ImageBuildStep { name: name.to_string(), state });
                    }
                    BuildEvent::Log { id, text } => {
                        on_line(text);
                        logs.log(id, text);
                        reporter.report(Event::ImageBuildLine(text.to_string()));
                    }
                };
                let built = self.engine.build_image_buildkit(request, context_tar, &mut on_event).await;
                // A failing step, at its Dockerfile line (editors show it there).
                let built = match (built, failed.and_then(|name| self.step_line(&name))) {
                    (Err(e), Some(line)) if e.kind == ErrorKind::ImageBuild && e.location.is_none() => {
                        Err(e.at(&self.project.plan.dockerfile, line))
                    }
                    (built, _) => built,
                };
                built.map_err(|e| self.explain_refusal(e, platform.as_ref()))
            }
        }
    }

    /// BuildKit's refusal of a valid Dockerfile, said as what it is: the frontend image a
    /// `# syntax=` line names could not be pulled, or the engine's frontend does not read a
    /// construct (at the line of its parse error). Any other error is returned as it is.
    fn explain_refusal(&self, e: Error, platform: Option<&(String, String)>) -> Error {
        if e.kind != ErrorKind::ImageBuild {
            return e;
        }
        // A base image the engine has for its own platform only, and cannot pull for another.
        if let Some((platform, asked_by)) = platform.filter(|_| e.cause.contains("load metadata for ")) {
            return Error {
                cause: format!(
                    "the build is for {platform} ({asked_by}), and the engine could not get a base image for it: {}",
                    e.cause
                ),
                fix: format!(
                    "let the engine reach the registry to pull the base images for {platform} (and run its steps \
                     under emulation), or build for the engine's own platform: remove {asked_by}; the Dockerfile \
                     itself is fine"
                ),
                ..e
            };
        }
        let df = &self.project.plan.dockerfile;
        let text = std::fs::read_to_string(df).unwrap_or_default();
        let Ok(parsed) = crate::project::dockerfile::parse(&text) else { return e };
        let engine = self.engine.builder_support_known().map(|s| engine_of(&s)).unwrap_or_else(|| "the engine".into());
        if let Some(syntax) = parsed.syntax.as_ref().filter(|_| refused_frontend(&e.cause)) {
            // Whether the engine's own frontend would read the file with the directive gone.
            let major = self.engine.builder_support_known().map_or(0, |s| engine_major(&s));
            let builtin_lacks = parsed.constructs().into_iter().find(|c| builtin_frontend_lacks(&c.kind, major));
            let fix = match builtin_lacks {
                Some(c) => format!(
                    "let the engine reach the registry (or a mirror of it), or upgrade the engine to Docker 23 or \
                     later (its built-in frontend reads Dockerfile 1.5; {engine}'s does not read {} at line {}); the \
                     Dockerfile itself is fine",
                    c.kind.name(),
                    c.line
                ),
                None => format!(
                    "let the engine reach the registry (or a mirror of it), or remove the `# syntax=` line: {engine}'s \
                     built-in frontend reads everything this Dockerfile uses; the Dockerfile itself is fine"
                ),
            };
            return Error::new(
                ErrorKind::ImageBuild,
                format!(
                    "{}:{}: `# syntax={}` asks BuildKit to pull that Dockerfile frontend, and {engine} could not: {}",
                    df.display(),
                    syntax.line,
                    syntax.value,
                    e.cause
                ),
                fix,
            )
            .at(df, syntax.line);
        }
        let Some(line) = parse_error_line(&e.cause) else { return e };
        let Some(construct) = parsed.constructs().into_iter().find(|c| c.line == line) else { return e };
        Error::new(
            ErrorKind::ImageBuild,
            format!(
                "{}:{line}: {} is valid Dockerfile syntax, but the Dockerfile frontend of {engine}'s BuildKit does \
                 not read it ({})",
                df.display(),
                construct.kind.name(),
                e.cause
            ),
            "upgrade the engine (Docker's newest BuildKit reads every current construct), or put \
             `# syntax=docker/dockerfile:1` first in the Dockerfile when the engine can pull that image, or write the \
             step without it",
        )
        .at(df, line)
    }

    /// The platform the image is built for, and what asked for it: the service's `platform:`
    /// or rebuilder.toml's, else `DOCKER_DEFAULT_PLATFORM`, as the docker CLI and compose read it.
    fn platform(&self) -> Option<(String, String)> {
        if let Some(platform) = &self.project.config.platform {
            let asked_by = match self.project.service.as_ref().filter(|s| s.platform().is_some()) {
                Some(service) => format!("the service `{}`'s platform", service.name),
                None => format!("`platform` in {}", crate::project::config::CONFIG_FILE),
            };
            return Some((platform.clone(), asked_by));
        }
        let default = std::env::var("DOCKER_DEFAULT_PLATFORM").ok().filter(|p| !p.trim().is_empty())?;
        Some((default, "DOCKER_DEFAULT_PLATFORM".to_string()))
    }

    /// The Dockerfile line of the BuildKit step `name`.
    fn step_line(&self, name: &str) -> Option<usize> {
        step_line(&std::fs::read_to_string(&self.project.plan.dockerfile).ok()?, name)
    }

    /// `[secrets]` as the BuildKit session serves them (paths made absolute).
    fn secret_sources(&self) -> HashMap<String, SecretSource> {
        self.project
            .config
            .secrets
            .iter()
            .map(|(id, entry)| {
                let source = match entry {
                    SecretEntry::Env { env } => SecretSource::Env(env.clone()),
                    SecretEntry::Path(path) | SecretEntry::File { file: path } => {
                        SecretSource::File(self.project.dir.join(path))
                    }
                };
                (id.clone(), source)
            })
            .collect()
    }
}

/// The engine, for messages: "Docker Engine 20.10.24".
/// The engine's major version (0 when it says none).
fn engine_major(support: &BuilderSupport) -> u32 {
    support.engine_version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0)
}

fn engine_of(support: &BuilderSupport) -> String {
    let version = support.engine_version.split(['+', '-']).next().unwrap_or_default();
    format!("{} {version}", support.engine_name)
}

/// The newest construct an engine's built-in BuildKit frontend lacks is decided by the
/// engine's major version: Docker 20.10 vendors BuildKit 0.8, whose `dockerfile.v0` reads
/// Dockerfile syntax 1.2 (RUN --mount, COPY --chmod); Docker 23 brought BuildKit 0.11
/// (syntax 1.5: heredocs, --link, RUN --network). Newer constructs on newer engines are left
/// to the engine, whose refusal is explained when it comes (`explain_refusal`).
fn builtin_frontend_lacks(kind: &ConstructKind, engine_major: u32) -> bool {
    if engine_major >= 23 {
        return false;
    }
    !matches!(
        kind,
        ConstructKind::RunMount(_)
            | ConstructKind::Chmod { add: false }
            | ConstructKind::Syntax { .. }
            | ConstructKind::Check
    )
}

/// What the classic builder cannot build (it ignores `# syntax=` and `# check=` as comments).
fn classic_lacks(kind: &ConstructKind) -> bool {
    !matches!(kind, ConstructKind::Syntax { .. } | ConstructKind::Check)
}

/// The first construct of `dockerfile` that `builder` cannot build on an engine of major
/// version `engine_major`. A `# syntax=` directive hands the file to the frontend it names,
/// which BuildKit pulls: what that frontend reads is not the engine's to say (a heredoc under
/// `# syntax=docker/dockerfile:1.4` builds on Docker 20.10 with a registry), and a pull that
/// fails or a frontend that refuses is explained when the engine says so (`explain_refusal`).
fn refused_construct(dockerfile: &Dockerfile, builder: ImageBuilder, engine_major: u32) -> Option<Construct> {
    if builder == ImageBuilder::BuildKit && dockerfile.syntax.is_some() {
        return None;
    }
    dockerfile.constructs().into_iter().find(|c| match builder {
        ImageBuilder::Classic => classic_lacks(&c.kind),
        ImageBuilder::BuildKit => builtin_frontend_lacks(&c.kind, engine_major),
    })
}

impl Rebuilder {
    /// Says a full build starts, why, and which of the compose service's build keys it leaves
    /// out.
    pub(super) fn announce_full_build(&self, builder: ImageBuilder, reason: &str, reporter: &mut dyn Reporter) {
        reporter.report(Event::Note(format!("full docker build ({builder}): {reason}")));
        if let Some(warning) = self.project.service.as_ref().and_then(|s| s.unapplied_warning()) {
            reporter.report(Event::Warning(warning));
        }
    }

    /// The build settings the chosen builder cannot honour, refused before anything is sent.
    fn check_settings(&self, builder: ImageBuilder, asked_by: &str) -> Result<()> {
        let config = &self.project.config;
        let settings = match &self.project.service {
            Some(service) => format!("the service `{}`'s `build:`", service.name),
            None => crate::project::config::CONFIG_FILE.to_string(),
        };
        match builder {
            ImageBuilder::BuildKit => match config.network.as_deref() {
                None | Some("default" | "host" | "none") => Ok(()),
                Some(network) => Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "{settings} builds on the network `{network}`: BuildKit runs RUN steps only on \
                         `default`, `host` or `none`"
                    ),
                    "use one of those, or build with the classic builder (`builder = \"classic\"` in \
                     rebuilder.toml, or DOCKER_BUILDKIT=0), which runs them on a named network",
                )),
            },
            ImageBuilder::Classic if config.extra_hosts.len() > 1 => Err(Error::new(
                ErrorKind::Config,
                format!(
                    "{settings} has {} extra hosts, and the classic builder (chosen by {asked_by}) is given one \
                     through the Engine API client docker-rebuilder uses",
                    config.extra_hosts.len()
                ),
                "build with BuildKit (the engine's default when it has it), or keep one extra host",
            )),
            ImageBuilder::Classic => Ok(()),
        }
    }

    /// Refuses, before anything is sent, a Dockerfile construct the chosen builder cannot
    /// build: the message names the construct and its line, the builder and its version, and
    /// what would build it. The Dockerfile itself is never blamed.
    fn check_constructs(&self, builder: ImageBuilder, support: &BuilderSupport, asked_by: &str) -> Result<()> {
        let text = std::fs::read_to_string(&self.project.plan.dockerfile).unwrap_or_default();
        let Ok(parsed) = crate::project::dockerfile::parse(&text) else { return Ok(()) };
        let major = engine_major(support);
        let Some(construct) = refused_construct(&parsed, builder, major) else { return Ok(()) };
        let df = &self.project.plan.dockerfile;
        let (cause, fix) = match builder {
            ImageBuilder::Classic => (
                format!(
                    "{}:{}: {} needs BuildKit, and the build would use the classic builder of {} ({})",
                    df.display(),
                    construct.line,
                    construct.kind.name(),
                    engine_of(support),
                    if support.buildkit {
                        format!("chosen by {asked_by}")
                    } else {
                        "the engine has no BuildKit".into()
                    }
                ),
                if support.buildkit {
                    format!("let BuildKit build it: remove {asked_by}'s request for the classic builder")
                } else {
                    "use an engine with BuildKit (Docker 18.09 or later), or a Dockerfile without it".to_string()
                },
            ),
            ImageBuilder::BuildKit => (
                format!(
                    "{}:{}: {} is valid Dockerfile syntax, but newer than the Dockerfile frontend built into the \
                     BuildKit of {} (it reads Dockerfile syntax up to 1.2: RUN --mount, COPY --chmod)",
                    df.display(),
                    construct.line,
                    construct.kind.name(),
                    engine_of(support)
                ),
                "upgrade the engine to Docker 23 or later (its BuildKit reads Dockerfile 1.5: heredocs, --link, RUN \
                 --network), or put `# syntax=docker/dockerfile:1` first in the Dockerfile when the engine can pull \
                 that image from Docker Hub, or write the step without it"
                    .to_string(),
            ),
        };
        Err(Error::new(ErrorKind::ImageBuild, cause, fix).at(df, construct.line))
    }
}

/// The line of the BuildKit step named `[stage i/n] KEYWORD …` (`stage-N` for an unnamed
/// stage) in the Dockerfile `text`: the stage's i-th step, FROM counting as the first and RUN,
/// COPY, ADD and WORKDIR as the others (the instructions BuildKit 0.8 shows as steps), checked
/// against the keyword.
pub(super) fn step_line(text: &str, name: &str) -> Option<usize> {
    let inner = name.strip_prefix('[')?;
    let (label, rest) = inner.split_once(']')?;
    let (stage, position) = label.rsplit_once(' ').unwrap_or(("", label));
    let index: usize = position.split('/').next()?.parse().ok()?;
    let keyword = rest.split_whitespace().next()?.to_ascii_uppercase();
    let parsed = crate::project::dockerfile::parse(text).ok()?;
    let found = match stage.strip_prefix("stage-").and_then(|n| n.parse::<usize>().ok()) {
        Some(n) => parsed.stages.get(n),
        None if stage.is_empty() => parsed.stages.last(),
        None => parsed.stages.iter().find(|s| s.name.as_deref() == Some(stage)),
    }?;
    if index <= 1 {
        return (keyword == "FROM").then_some(found.line);
    }
    let mut steps =
        found.instructions.iter().filter(|i| matches!(i.kind.keyword(), "RUN" | "COPY" | "ADD" | "WORKDIR"));
    let instruction = steps.nth(index - 2)?;
    (instruction.kind.keyword() == keyword).then_some(instruction.line)
}

/// Whether BuildKit's error is its failure to get a `# syntax=` frontend image.
fn refused_frontend(cause: &str) -> bool {
    cause.contains("frontend gateway") || cause.contains("docker/dockerfile") || cause.contains("resolve image config")
}

/// The line of the Dockerfile frontend's parse error (`dockerfile parse error line 5: …`,
/// newer: `dockerfile parse error on line 5: …`).
fn parse_error_line(cause: &str) -> Option<usize> {
    let rest = cause.split("dockerfile parse error").nth(1)?;
    let rest = rest.trim_start().trim_start_matches("on ").trim_start_matches("line ");
    rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frontend_s_parse_error_gives_its_line() {
        let old = "failed to solve with frontend dockerfile.v0: failed to create LLB definition: dockerfile parse \
                   error line 7: Unknown flag: link";
        assert_eq!(parse_error_line(old), Some(7));
        assert_eq!(parse_error_line("dockerfile parse error on line 12: unknown instruction: X"), Some(12));
        assert_eq!(parse_error_line("exit code: 2"), None);
        assert!(refused_frontend("failed to solve with frontend gateway.v0: failed to do request: Head \"https://registry-1.docker.io/v2/docker/dockerfile/manifests/1.4\""));
    }

    #[test]
    fn a_frontend_named_by_a_syntax_directive_decides_what_buildkit_reads() {
        // awesome-compose's flask: a heredoc in a stage the target leaves out, under `# syntax=`.
        let named = "# syntax=docker/dockerfile:1.4\nFROM d AS builder\nRUN --mount=type=cache,target=/c true\n\
                     FROM builder AS dev\nRUN <<EOF\napk update\nEOF\n";
        let parsed = crate::project::dockerfile::parse(named).expect("parses");
        assert_eq!(refused_construct(&parsed, ImageBuilder::BuildKit, 20), None, "the named frontend reads it");
        let classic = refused_construct(&parsed, ImageBuilder::Classic, 20).expect("the classic builder cannot");
        assert_eq!(classic.line, 3, "RUN --mount is the first construct the classic builder lacks");

        // Without the directive, the engine's built-in frontend decides: 20.10's lacks heredocs.
        let builtin = "FROM d\nRUN --mount=type=cache,target=/c true\nRUN <<EOF\napk update\nEOF\n";
        let parsed = crate::project::dockerfile::parse(builtin).expect("parses");
        let lacked = refused_construct(&parsed, ImageBuilder::BuildKit, 20).expect("20.10's frontend lacks heredocs");
        assert_eq!(lacked.line, 3);
        assert_eq!(refused_construct(&parsed, ImageBuilder::BuildKit, 23), None);
    }

    #[test]
    fn a_buildkit_step_is_found_at_its_line_in_named_and_unnamed_stages() {
        // The step names are those Docker 20.10's BuildKit printed for this file.
        let text = "FROM busybox:local\nRUN echo one\nFROM busybox:local AS two\nENV A=1\n\
                    RUN --mount=type=cache,target=/c echo two \\\n  more\nFROM busybox:local\n\
                    COPY --from=two /bin/sh /x\nRUN   exit   3\n";
        assert_eq!(step_line(text, "[two 2/2] RUN --mount=type=cache,target=/c echo two   more"), Some(5));
        assert_eq!(step_line(text, "[stage-2 3/3] RUN   exit   3"), Some(9));
        assert_eq!(step_line(text, "[stage-2 2/3] COPY --from=two /bin/sh /x"), Some(8));
        assert_eq!(step_line(text, "[two 1/2] FROM docker.io/library/busybox:local"), Some(3));
        assert_eq!(step_line(text, "[stage-2 2/3] RUN something else"), None, "the keyword must agree");
        assert_eq!(step_line(text, "[internal] load .dockerignore"), None);
    }
}
