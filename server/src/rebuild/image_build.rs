//! A full build through the engine's image builder: BuildKit when the engine has it and the
//! user did not ask otherwise, else the classic builder. Which one, and whether it can build
//! this Dockerfile at all, is decided here, before the context is sent.

use std::collections::HashMap;

use super::Rebuilder;
use crate::engine::{BuildEvent, BuildKitRequest, BuildRequest, BuilderSupport, SecretSource, StepState};
use crate::error::{Error, ErrorKind, Result};
use crate::events::{BuildStepState, Event, Reporter};
use crate::project::config::SecretEntry;
use crate::project::dockerfile::ConstructKind;
use crate::project::image_builder::{requested, ImageBuilder};

/// One full build's request, whichever builder runs it.
pub(super) struct ImageBuild<'a> {
    /// `name:tag`; empty: an untagged image (a stage's, for a builder or the replay).
    pub tag: &'a str,
    pub dockerfile: &'a str,
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
            // For now BuildKit builds what only it can build; the classic builder the rest
            // (a replayed image's full build reads the classic builder's step images).
            None if support.buildkit && self.needs_buildkit() => ImageBuilder::BuildKit,
            None => ImageBuilder::Classic,
        };
        self.check_constructs(builder, &support, &asked.source)?;
        Ok((builder, support))
    }

    /// Runs one full build with `builder`, its progress reported. Returns the image id.
    pub(super) async fn run_image_build(
        &self,
        builder: ImageBuilder,
        build: ImageBuild<'_>,
        context_tar: Vec<u8>,
        on_line: &mut (dyn FnMut(&str) + Send),
        reporter: &mut dyn Reporter,
    ) -> Result<String> {
        let plan = &self.project.plan;
        let build_args: HashMap<String, String> = plan.build_args.clone().into_iter().collect();
        match builder {
            ImageBuilder::Classic => {
                let request = BuildRequest {
                    tag: build.tag,
                    dockerfile: build.dockerfile,
                    target: build.target,
                    build_args,
                    labels: build.labels,
                };
                self.engine
                    .build_image(request, context_tar, &mut |line: &str| {
                        on_line(line);
                        reporter.report(Event::ImageBuildLine(line.to_string()))
                    })
                    .await
            }
            ImageBuilder::BuildKit => {
                let request = BuildKitRequest {
                    tag: build.tag,
                    dockerfile: build.dockerfile,
                    target: build.target,
                    build_args,
                    labels: build.labels,
                    secrets: self.secret_sources(),
                    ssh: std::env::var_os("SSH_AUTH_SOCK").is_some(),
                };
                let mut on_event = |event: BuildEvent<'_>| match event {
                    BuildEvent::Step { name, state, .. } => {
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
                    BuildEvent::Log { text, .. } => {
                        on_line(text);
                        reporter.report(Event::ImageBuildLine(text.to_string()));
                    }
                };
                self.engine.build_image_buildkit(request, super::context::led_by_root(context_tar), &mut on_event).await
            }
        }
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

impl Rebuilder {
    /// Whether the Dockerfile uses a construct only BuildKit builds.
    fn needs_buildkit(&self) -> bool {
        let text = std::fs::read_to_string(&self.project.plan.dockerfile).unwrap_or_default();
        crate::project::dockerfile::parse(&text).is_ok_and(|df| df.constructs().iter().any(|c| classic_lacks(&c.kind)))
    }

    /// Refuses, before anything is sent, a Dockerfile construct the chosen builder cannot
    /// build: the message names the construct and its line, the builder and its version, and
    /// what would build it. The Dockerfile itself is never blamed.
    fn check_constructs(&self, builder: ImageBuilder, support: &BuilderSupport, asked_by: &str) -> Result<()> {
        let text = std::fs::read_to_string(&self.project.plan.dockerfile).unwrap_or_default();
        let Ok(parsed) = crate::project::dockerfile::parse(&text) else { return Ok(()) };
        let major = support.engine_version.split('.').next().and_then(|m| m.parse().ok()).unwrap_or(0);
        let lacking = parsed.constructs().into_iter().find(|c| match builder {
            ImageBuilder::Classic => classic_lacks(&c.kind),
            ImageBuilder::BuildKit => builtin_frontend_lacks(&c.kind, major),
        });
        let Some(construct) = lacking else { return Ok(()) };
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
