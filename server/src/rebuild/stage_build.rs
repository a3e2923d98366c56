//! The full build of a replayed image (a multi-stage Dockerfile): the image, and the images
//! the builders and the replay start from — each builder stage's, each stage the replay copies
//! from, and the image's stage just before its first instruction that reads a builder. The
//! classic builder leaves an image after every step (` ---> ID`), read from its output. BuildKit
//! keeps none: each is one more build of the same context, cut short (`dockerfile_upto`) or
//! targeted at the stage, answered from the cache of the build just made.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use super::failed_step::{FullBuild, StepLogs};
use super::image_build::ImageBuild;
use super::{context, Rebuilder};
use crate::engine::ImageInfo;
use crate::error::{Error, ErrorKind, Result};
use crate::events::{Event, Phase, Reporter};
use crate::project::image_builder::ImageBuilder;
use crate::project::plan::{dockerfile_upto, CopySource, ReplayOp, ELSEWHERE};
use crate::project::{LABEL_PROJECT, LABEL_ROLE};
use crate::sync::AssemblyRecord;

/// Where a stage's images come from after the image's build.
pub(super) enum StageImages {
    /// The classic builder's step images, and the step number of the first FROM less one.
    Steps(BuildSteps, usize),
    /// BuildKit: more builds of the same context.
    BuildKit { tar: Vec<u8>, dockerfile: String, builder_only: Vec<String> },
}

impl Rebuilder {
    /// The image's full build, then a fresh builder per builder stage from its stage's image,
    /// and the record of where the replay starts.
    pub(super) async fn full_build_stages(&self, reason: &str, reporter: &mut dyn Reporter) -> Result<FullBuild> {
        let plan = &self.project.plan;
        let Some(assembly) = plan.assembly.as_ref() else { return self.full_build(reason, reporter).await };
        let (builder, _) = self.image_builder().await?;
        self.announce_full_build(builder, reason, reporter);
        let started = Instant::now();
        reporter.report(Event::PhaseStarted { phase: Phase::ImageBuild, detail: plan.image.clone() });
        let previous = self.engine.image(&plan.image).await?;
        let previous_record = self.stages.first().and_then(|s| s.known_manifest()).and_then(|m| m.assembly);
        let context = context::pack(&self.project)?;
        // Labelled with its sources, as a replayed commit is: "up to date" right after.
        let sources = self.sources_label_for(&context.hashes)?;
        let labels = self.image_labels(Some(sources.clone()));
        let build = ImageBuild {
            tag: &plan.image,
            dockerfile: &context.dockerfile,
            builder_only: &context.builder_only,
            target: plan.target.as_deref(),
            labels,
        };
        let mut steps = BuildSteps::default();
        let tar = match builder {
            ImageBuilder::BuildKit => Some(context.tar.clone()),
            ImageBuilder::Classic => None,
        };
        let mut logs = StepLogs::default();
        let image_id = self
            .run_image_build(builder, build, context.tar, &mut |line: &str| steps.read(line), &mut logs, reporter)
            .await;
        let image_id = match self.built_or_failed(image_id, &logs, started, reporter)? {
            Ok(id) => id,
            Err(failed) => return Ok(failed),
        };
        let images = match tar {
            Some(tar) => StageImages::BuildKit {
                tar,
                dockerfile: context.dockerfile.clone(),
                builder_only: context.builder_only.clone(),
            },
            None => {
                // Steps count the ARGs before the first FROM too.
                let offset = steps.first_from().unwrap_or(1) - 1;
                StageImages::Steps(steps, offset)
            }
        };

        self.tag_also(&image_id, reporter).await;
        let image = self.image_info(&image_id).await?;
        let layout = &plan.stage_keywords;
        let whole = |stage: usize| layout[stage].len();
        let mut stage_images = BTreeMap::new();
        for op in &assembly.ops {
            if let ReplayOp::CopyFrom { source: CopySource::Stage(s), .. } = op {
                stage_images.insert(*s, self.stage_image(&images, *s, whole(*s), reporter).await?);
            }
        }
        let base = self.stage_image(&images, assembly.stage.index, assembly.cut, reporter).await?;
        reporter.report(Event::PhaseFinished { phase: Phase::ImageBuild, elapsed: started.elapsed() });

        let started = Instant::now();
        reporter
            .report(Event::PhaseStarted { phase: Phase::Builder, detail: format!("{} builders", self.stages.len()) });
        let record = AssemblyRecord { base, config: image.config.clone(), stage_images };
        let mut superseded = vec![previous.map(|p| p.id)];
        // BuildKit's stage images are ours (labelled): the ones this build replaces go.
        if let (StageImages::BuildKit { .. }, Some(old)) = (&images, previous_record) {
            superseded.push(Some(old.base));
            superseded.extend(old.stage_images.into_values().map(Some));
        }
        for (i, stage) in self.stages.iter().enumerate() {
            let builder_stage = &plan.builders[i].stage;
            let id = self.stage_image(&images, builder_stage.index, whole(builder_stage.index), reporter).await?;
            let stage_image = self.image_info(&id).await?;
            let record = (i == 0).then(|| record.clone());
            let (old, tree) = stage.fresh_builder(&stage_image, &context.hashes, record).await?;
            stage.warn_refused(&tree, reporter);
            superseded.push(old);
        }
        reporter.report(Event::PhaseFinished { phase: Phase::Builder, elapsed: started.elapsed() });
        let keep = [image.id.clone(), record.base.clone()];
        let keep: Vec<&String> = keep.iter().chain(record.stage_images.values()).collect();
        self.prune(superseded.iter().flatten().filter(|id| !keep.contains(id)), reporter).await;
        self.set_image_sources(Some(sources));
        Ok(FullBuild::Built { reason: reason.to_string() })
    }

    /// The image of `stage` after its first `keep` instructions.
    pub(super) async fn stage_image(
        &self,
        images: &StageImages,
        stage: usize,
        keep: usize,
        reporter: &mut dyn Reporter,
    ) -> Result<String> {
        let layout = &self.project.plan.stage_keywords;
        match images {
            StageImages::Steps(steps, offset) => {
                let first = offset + 1 + layout[..stage].iter().map(|k| k.len() + 1).sum::<usize>();
                let step = first + keep;
                let keyword = keep.checked_sub(1).and_then(|i| layout[stage].get(i)).map_or("FROM", String::as_str);
                steps.image_after(step, keyword).ok_or_else(|| {
                    Error::new(
                        ErrorKind::ImageBuild,
                        format!("the engine's build output does not show the image of step {step}"),
                        "set `target` in rebuilder.toml to the stage that builds the sources (the replay of the final \
                         stage needs the classic builder's step images or BuildKit)",
                    )
                })
            }
            StageImages::BuildKit { tar, dockerfile, builder_only } => {
                let plan = &self.project.plan;
                let labels = HashMap::from([
                    (LABEL_PROJECT.to_string(), self.project.label()),
                    (LABEL_ROLE.to_string(), "stage".to_string()),
                ]);
                let name = plan.stages.iter().find(|s| s.stage.index == stage).and_then(|s| s.stage.name.clone());
                // A whole named stage: a targeted build of the same files, all from the cache.
                if let (Some(name), true) = (&name, keep == layout[stage].len()) {
                    let build = ImageBuild { tag: "", dockerfile, builder_only, target: Some(name), labels };
                    return self
                        .run_image_build(
                            ImageBuilder::BuildKit,
                            build,
                            tar.clone(),
                            &mut |_: &str| {},
                            &mut StepLogs::default(),
                            reporter,
                        )
                        .await;
                }
                // Part of a stage: the Dockerfile cut after it, in the Dockerfile's place.
                self.check_prefix_reads_no_dockerfile(stage, keep)?;
                let text = std::fs::read_to_string(&plan.dockerfile)
                    .map_err(|e| Error::io(format!("cannot read {}", plan.dockerfile.display()), e))?;
                let cut = dockerfile_upto(&text, stage, keep).ok_or_else(|| {
                    Error::new(
                        ErrorKind::Dockerfile,
                        format!("{} changed during the build", plan.dockerfile.display()),
                        "run again",
                    )
                })?;
                let tar = context::replace_file(tar, dockerfile, cut.as_bytes())?;
                let build = ImageBuild { tag: "", dockerfile, builder_only, target: None, labels };
                self.run_image_build(
                    ImageBuilder::BuildKit,
                    build,
                    tar,
                    &mut |_: &str| {},
                    &mut StepLogs::default(),
                    reporter,
                )
                .await
            }
        }
    }

    /// A stage cut short is built from the Dockerfile cut short in its place: fine unless that
    /// part of the stage copies the Dockerfile itself from the context (its copy would differ).
    fn check_prefix_reads_no_dockerfile(&self, stage: usize, keep: usize) -> Result<()> {
        let plan = &self.project.plan;
        let Some(df) = plan.dockerfile_in_context() else { return Ok(()) };
        let Some(info) = plan.stages.iter().find(|s| s.stage.index == stage) else { return Ok(()) };
        let end = plan.assembly.as_ref().filter(|a| a.stage.index == stage && a.cut == keep).map(|a| a.cut_line);
        let reads_dockerfile = plan.builders.first().into_iter().flat_map(|b| &b.sync).any(|rule| {
            rule.dest.starts_with(ELSEWHERE)
                && rule.line > info.stage.line
                && end.is_none_or(|end| rule.line < end)
                && rule.sources.iter().any(|s| {
                    s.is_empty() || df == *s || df.starts_with(&format!("{s}/")) || s.contains(['*', '?', '['])
                })
        });
        if reads_dockerfile {
            return Err(Error::new(
                ErrorKind::ImageBuild,
                format!(
                    "stage {} copies the Dockerfile from the context before the instructions replayed on each change, \
                     so BuildKit cannot give its image at that point",
                    info.stage.label()
                ),
                "add the Dockerfile to .dockerignore (COPY then leaves it out), or set `builder = \"classic\"` in \
                 rebuilder.toml when the Dockerfile builds without BuildKit",
            ));
        }
        Ok(())
    }

    async fn image_info(&self, id: &str) -> Result<ImageInfo> {
        self.engine.image(id).await?.ok_or_else(|| {
            Error::new(ErrorKind::Engine, format!("the image {id} vanished right after it was built"), "run again")
        })
    }
}

/// The image after each step of a classic `docker build` (`Step N/M : …` then ` ---> ID`),
/// or of Buildah's (`STEP N/M: …` then `--> ID`).
#[derive(Default, Debug)]
pub(super) struct BuildSteps {
    current: usize,
    /// Keyword of each step, and the last image id seen after it.
    steps: BTreeMap<usize, (String, Option<String>)>,
}

impl BuildSteps {
    fn read(&mut self, line: &str) {
        let trimmed = line.trim();
        let header = trimmed.strip_prefix("Step ").or_else(|| trimmed.strip_prefix("STEP "));
        if let Some(rest) = header {
            let (numbers, text) = rest.split_once(':').unwrap_or((rest, ""));
            if let Some(n) = numbers.split('/').next().and_then(|n| n.trim().parse().ok()) {
                self.current = n;
                let keyword = text.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
                self.steps.insert(n, (keyword, None));
            }
            return;
        }
        let id = trimmed.strip_prefix("---> ").or_else(|| trimmed.strip_prefix("--> "));
        let id = id.map(|rest| rest.trim_start_matches("Using cache").trim());
        if let Some(id) = id.filter(|id| id.len() >= 12 && id.chars().all(|c| c.is_ascii_hexdigit())) {
            if let Some(step) = self.steps.get_mut(&self.current) {
                step.1 = Some(id.to_string());
            }
        }
    }

    /// The number of the first FROM step.
    fn first_from(&self) -> Option<usize> {
        self.steps.iter().find(|(_, (keyword, _))| keyword == "FROM").map(|(n, _)| *n)
    }

    /// The image after `step`, when the step is the instruction (`keyword`) it should be.
    fn image_after(&self, step: usize, keyword: &str) -> Option<String> {
        let (seen, id) = self.steps.get(&step)?;
        if seen != keyword {
            return None;
        }
        id.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_classic_builder_s_and_buildah_s_step_images_are_read() {
        let mut steps = BuildSteps::default();
        for line in [
            "Step 1/4 : FROM busybox:local AS build",
            " ---> e8d78c532ce7",
            "Step 2/4 : RUN make",
            " ---> Using cache",
            " ---> 16776395d1ae",
            "Step 3/4 : FROM busybox:local",
            " ---> e8d78c532ce7",
            "Step 4/4 : COPY --from=build /out/app /bin/app",
            " ---> Running in aeea1862ed5d",
            "Removing intermediate container aeea1862ed5d",
            " ---> 8cde08b2a150",
        ] {
            steps.read(line);
        }
        assert_eq!(steps.image_after(2, "RUN").as_deref(), Some("16776395d1ae"));
        assert_eq!(steps.image_after(3, "FROM").as_deref(), Some("e8d78c532ce7"));
        assert_eq!(steps.image_after(4, "COPY").as_deref(), Some("8cde08b2a150"));
        assert_eq!(steps.image_after(2, "FROM"), None, "step 2 is no FROM");
        let mut buildah = BuildSteps::default();
        for line in
            ["STEP 1/2: FROM busybox", "STEP 2/2: RUN make", "--> Using cache 0123456789abcdef0123", "--> 0123456789ab"]
        {
            buildah.read(line);
        }
        assert_eq!(buildah.image_after(2, "RUN").as_deref(), Some("0123456789ab"));
    }
}
