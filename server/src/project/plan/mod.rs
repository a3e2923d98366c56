//! Zero-config inference: from the Dockerfile (and `rebuilder.toml` overrides) decide which
//! host files mirror to which container paths, and which commands rebuild the project.
//!
//! The rule, for the target stage (and the stages it is built `FROM`):
//! - every `COPY`/`ADD` of local context paths is a sync rule (not `--from=`, not URLs);
//! - the rebuild command is the `RUN`s after the last such copy that is followed by a `RUN`;
//! - a copy with some other `RUN` between it and that point (a dependency manifest copied
//!   before `RUN npm install`, say) cannot be mirrored: a change there needs a full build.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::diagnostics::CustomMatcher;
use crate::error::{Error, ErrorKind, Result};
use crate::project::config::{Config, StageConfig};
use crate::project::dockerfile;
use crate::project::glob::{glob_segment_matches, has_glob};

mod copied_from;
mod explain;
mod from_config;
mod graph;
mod image_name;
mod mounts;
mod prefix;
mod stages;

use from_config::{check_stage_config, config_sync_rules, dockerfile_line, extra_tags, full_build_rules};
pub use graph::{Assembly, CopySource, ReplayOp, StageInfo, StageRef, StageRole};
pub use image_name::{image_name, reference_problem, sanitize_name, with_tag};
pub use mounts::{mounts_label, StepMount, BIND_MIRRORS, RUN_SECRETS, SECRETS_DIR, SSH_AGENT};
pub use prefix::dockerfile_upto;
use stages::{base_image, stage_chain, stage_label, Inferred};

/// Everything the rebuild loop needs to know about a project, decided before touching Docker.
#[derive(Debug, Clone)]
pub struct Plan {
    pub project_dir: PathBuf,
    pub dockerfile: PathBuf,
    pub context: PathBuf,
    pub target: Option<String>,
    pub build_args: BTreeMap<String, String>,
    /// The image the target's stage chain starts `FROM` (steps without a USER of their own
    /// run as its user).
    pub base_image: String,
    /// `name:tag`
    pub image: String,
    pub sync: Vec<SyncRule>,
    pub steps: Vec<Step>,
    pub commit: bool,
    /// More names every new image takes (`tags`), each with its tag; never `image` itself.
    pub tags: Vec<String>,
    /// `push` of rebuilder.toml: where every new image goes.
    pub push: Option<String>,
    pub timeout: Option<Duration>,
    /// Extra ignore patterns from the config (on top of .dockerignore).
    pub extra_ignore: Vec<String>,
    /// Problem matchers from the config, on top of the built-in ones.
    pub matchers: Vec<CustomMatcher>,
    /// One per stage that compiles sources; the first is the image's own stage chain when
    /// nothing is replayed. `sync`, `steps` and `base_image` above are the first builder's
    /// (a builder's own view, see `Plan::builder_view`, has its own there).
    pub builders: Vec<BuilderPlan>,
    /// How the image is made after a builder rebuilt, when it is not a builder's commit.
    pub assembly: Option<Assembly>,
    /// Every stage the image needs, with its role, for `status`.
    pub stages: Vec<StageInfo>,
    /// In a builder's view: which builder it is.
    pub builder: Option<usize>,
    /// The keywords of each stage's instructions (FROM not counted), to find (and check) a
    /// stage's steps in the build's output.
    pub stage_keywords: Vec<Vec<String>>,
}

/// One builder: a stage that copies sources from the context and builds them.
#[derive(Debug, Clone)]
pub struct BuilderPlan {
    pub stage: StageRef,
    /// The image its stage chain starts FROM.
    pub base_image: String,
    pub sync: Vec<SyncRule>,
    pub steps: Vec<Step>,
}

/// Where the sync map keeps context files whose change needs a full build and that no
/// builder holds (another stage copies them): never a path in a container.
pub const ELSEWHERE: &str = "/.docker-rebuilder/elsewhere";

/// One `COPY`/`ADD` (or `[[sync]]` entry): context paths → a container path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRule {
    /// Context-relative, `/`-separated, cleaned; `""` is the whole context. May hold globs.
    pub sources: Vec<String>,
    /// Absolute container path, cleaned.
    pub dest: String,
    /// Whether `dest` is a directory (trailing `/`, several sources, a glob, or a known dir).
    pub dest_is_dir: bool,
    /// `--chown` of the instruction, unexpanded owner spec (`user[:group]`).
    pub chown: Option<String>,
    /// `--chmod` of the instruction: the mode every copied file and folder gets.
    pub chmod: Option<u32>,
    /// `--exclude` patterns: context paths the copy leaves out (.dockerignore syntax).
    pub excludes: Vec<String>,
    /// When not empty, only files matching one of these (below the source, .dockerignore
    /// syntax, at any depth when the pattern names no folder) are copied: compose's `include`.
    pub includes: Vec<String>,
    /// `--parents`: each source keeps its path below the context under `dest`.
    pub parents: bool,
    /// Dockerfile line (0 for config rules).
    pub line: usize,
    /// A change under this rule cannot be mirrored: it needs a fresh `docker build`.
    pub needs_full_build: bool,
    /// Why, when it is not the usual reason (a copy before a RUN that a sync cannot replay).
    pub why: Option<String>,
}

/// One rebuild command, run by exec in the builder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// argv: the SHELL plus the command, or the exec form as written.
    pub argv: Vec<String>,
    pub workdir: String,
    /// Build args in effect (they are environment variables during `RUN`).
    pub env: Vec<(String, String)>,
    /// USER in effect, when the Dockerfile set one (else the base image's user).
    pub user: Option<String>,
    /// Dockerfile line (0 for config commands).
    pub line: usize,
    /// What to show the user.
    pub display: String,
    /// Its `RUN --mount`s (configured commands take those of the RUNs they replace).
    pub mounts: Vec<StepMount>,
}

/// What to do about a Dockerfile that does not parse. The parser reads what BuildKit's
/// Dockerfile frontend reads, so its errors are the frontend's; a file written for another
/// frontend (`# syntax=`) is not in that syntax at all.
fn parse_error_hint(text: &str) -> String {
    match dockerfile::syntax_directive(text) {
        Some(syntax) if !syntax.is_dockerfile_frontend() => format!(
            "the file asks for the frontend `{}` (line {}), whose syntax docker-rebuilder does not read: \
             it reads Dockerfiles as BuildKit's `docker/dockerfile` frontend does",
            syntax.image, syntax.line
        ),
        _ => "correct the Dockerfile (BuildKit's Dockerfile frontend refuses it too)".to_string(),
    }
}

impl Plan {
    /// Infers the plan for the project in `project_dir`.
    pub fn infer(project_dir: &Path, config: &Config) -> Result<Plan> {
        let dockerfile = project_dir.join(config.dockerfile.as_deref().unwrap_or(Path::new("Dockerfile")));
        if let Some(df) = &config.dockerfile {
            inside_project(project_dir, &dockerfile, "dockerfile", df)?;
        }
        let text = std::fs::read_to_string(&dockerfile).map_err(|e| {
            Error::new(
                ErrorKind::Project,
                format!("cannot read the Dockerfile {}: {e}", dockerfile.display()),
                "create a Dockerfile in the project folder, or set `dockerfile = \"path\"` in rebuilder.toml",
            )
        })?;
        let parsed = dockerfile::parse(&text).map_err(|e| {
            Error::new(
                ErrorKind::Dockerfile,
                format!("{}:{}: {}", dockerfile.display(), e.line, e.message),
                parse_error_hint(&text),
            )
            .at(&dockerfile, e.line)
        })?;
        let context = match &config.context {
            Some(c) => project_dir.join(c),
            None => project_dir.to_path_buf(),
        };
        let context = context.canonicalize().map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("the build context {} does not exist: {e}", context.display()),
                "correct `context` in rebuilder.toml",
            )
        })?;
        if let Some(c) = &config.context {
            inside_project(project_dir, &context, "context", c)?;
        }
        let stage_chain = stage_chain(&parsed, config.target.as_deref()).map_err(|m| {
            Error::new(
                ErrorKind::Dockerfile,
                format!("{}: {m}", dockerfile.display()),
                "correct `target` in rebuilder.toml",
            )
        })?;
        let target_index = stage_chain.last().map_or(0, |s| s.index);
        let walked =
            graph::walk(&parsed, target_index, &config.build_args).map_err(|error| error.located(&dockerfile))?;
        check_stage_config(project_dir, config, &walked)?;
        let several = walked.builders.len() > 1;
        let mut builders = Vec::new();
        for (stage, inferred) in walked.builders {
            let named = stage.name.as_ref().and_then(|n| config.stages.get(n));
            let own = StageConfig {
                rebuild: named
                    .and_then(|c| c.rebuild.clone())
                    .or_else(|| (!several).then(|| config.rebuild.clone()).flatten()),
                workdir: named
                    .and_then(|c| c.workdir.clone())
                    .or_else(|| (!several).then(|| config.workdir.clone()).flatten()),
                sync: match named.filter(|c| !c.sync.is_empty()) {
                    Some(c) => c.sync.clone(),
                    None if !several => config.sync.clone(),
                    None => Vec::new(),
                },
            };
            let base_image = base_image(&parsed, &graph::chain_stages(&parsed, stage.index), &config.build_args);
            builders.push(builder_plan(stage, inferred, &own, base_image, &context)?);
        }
        for builder in &mut builders {
            settle_binds(builder, &context);
        }
        let mut elsewhere: Vec<SyncRule> = walked
            .full_build_only
            .into_iter()
            .map(|rule| SyncRule { dest: format!("{ELSEWHERE}/line-{}{}", rule.line, rule.dest), ..rule })
            .collect();
        elsewhere.extend(full_build_rules(&config.full_build_paths));
        if let Some(first) = builders.first_mut() {
            first.sync.append(&mut elsewhere);
        }
        let first = builders.first().cloned();
        let sync = first.as_ref().map(|b| b.sync.clone()).unwrap_or_default();
        let copies_something = builders.iter().any(|b| b.sync.iter().any(|r| !r.dest.starts_with(ELSEWHERE)))
            || walked.assembly.as_ref().is_some_and(|a| !a.sync.is_empty());
        if !copies_something {
            return Err(Error::new(
                ErrorKind::NothingToRebuild,
                format!(
                    "{}: the {} stage copies no files from the build context, so there is nothing to mirror",
                    dockerfile.display(),
                    stage_label(&stage_chain)
                ),
                "set `target` in rebuilder.toml to the stage that COPYs the sources and builds them, \
                 or list `[[sync]]` rules",
            )
            .at(&dockerfile, stage_chain.last().map_or(1, |s| s.line)));
        }
        let steps = first.as_ref().map(|b| b.steps.clone()).unwrap_or_default();
        let base = first.map(|b| b.base_image).unwrap_or_else(|| base_image(&parsed, &stage_chain, &config.build_args));

        let image = image_name(config.image.as_deref(), project_dir);
        Ok(Plan {
            project_dir: project_dir.to_path_buf(),
            dockerfile,
            context,
            target: config.target.clone(),
            build_args: config.build_args.clone(),
            base_image: base,
            image: image.clone(),
            tags: extra_tags(&config.tags, &image),
            sync,
            steps,
            builders,
            assembly: walked.assembly,
            stages: walked.stages,
            builder: None,
            stage_keywords: parsed
                .stages
                .iter()
                .map(|s| s.instructions.iter().map(|i| i.kind.keyword().to_string()).collect())
                .collect(),
            commit: config.commit.unwrap_or(true),
            push: config.push.clone(),
            timeout: config.timeout_secs.map(Duration::from_secs),
            extra_ignore: config.ignore.clone(),
            matchers: config.custom_matchers(project_dir)?,
        })
    }

    /// The host file that the sync rules mirror to `container_path`, if any (later rules win,
    /// as later COPYs overwrite earlier ones). The file need not exist (a deleted one).
    pub fn host_path(&self, container_path: &str) -> Option<PathBuf> {
        let container_path = clean_container_path(container_path);
        for rule in self.sync.iter().rev() {
            let below_dest = if container_path == rule.dest {
                Some("")
            } else {
                container_path.strip_prefix(rule.dest.trim_end_matches('/')).and_then(|r| r.strip_prefix('/'))
            };
            let Some(below) = below_dest else { continue };
            for source in rule.sources.iter().filter(|s| !has_glob(s)) {
                let host = if source.is_empty() { self.context.clone() } else { self.context.join(source) };
                if host.is_dir() && !below.is_empty() {
                    return Some(host.join(below));
                }
                // A file source: lands at `dest` itself, or at `dest/<name>` in a folder.
                let name = source.rsplit('/').next().unwrap_or(source);
                if (!rule.dest_is_dir && below.is_empty()) || (rule.dest_is_dir && below == name) {
                    return Some(host);
                }
            }
            for pattern in rule.sources.iter().filter(|s| has_glob(s)) {
                // `COPY src/*.c /dst/`: dest/<name> comes from the matching file.
                let (dir, glob) = pattern.rsplit_once('/').unwrap_or(("", pattern));
                let first = below.split('/').next().unwrap_or_default();
                if !first.is_empty() && glob_segment_matches(glob, first) {
                    let base = if dir.is_empty() { self.context.clone() } else { self.context.join(dir) };
                    return Some(base.join(below));
                }
            }
        }
        None
    }

    /// The plan a builder works by: its own sync rules, steps and base image.
    pub fn builder_view(&self, builder: usize) -> Plan {
        let mut view = self.clone();
        if let Some(b) = self.builders.get(builder) {
            view.sync = b.sync.clone();
            view.steps = b.steps.clone();
            view.base_image = b.base_image.clone();
            view.target = b.stage.name.clone();
        }
        view.builder = Some(builder);
        view
    }

    /// The RUN at Dockerfile `line` (of `dockerfile_text`, the plan's Dockerfile as read),
    /// whichever stage it is in, as a step: the plan that maps
    /// its paths (the builder view whose chain holds it, else this plan), and its stage's
    /// label in a multi-stage image. For a full build that failed in a RUN no builder runs.
    pub fn run_at(&self, dockerfile_text: &str, line: usize) -> Option<(Plan, Step, Option<String>)> {
        let df = dockerfile::parse(dockerfile_text).ok()?;
        let builders: Vec<usize> = self.builders.iter().map(|b| b.stage.index).collect();
        let (step, stage, builder) = graph::run_at_line(&df, line, &self.build_args, &builders)?;
        let view = builder.map_or_else(|| self.clone(), |b| self.builder_view(b));
        let label = (df.stages.len() > 1).then(|| StageRef::of(&df.stages[stage]).label());
        Some((view, step, label))
    }

    /// The plan of the image's replayed context copies (no steps): what `scan` reads for them.
    pub fn assembly_view(&self) -> Option<Plan> {
        let assembly = self.assembly.as_ref()?;
        let mut view = self.clone();
        view.sync = assembly.sync.clone();
        view.steps = Vec::new();
        Some(view)
    }

    /// The Dockerfile's path relative to the context, when it lies inside it.
    pub fn dockerfile_in_context(&self) -> Option<String> {
        let df = self.dockerfile.canonicalize().ok()?;
        let rel = df.strip_prefix(&self.context).ok()?;
        Some(rel.to_string_lossy().replace('\\', "/"))
    }
}

/// Refuses a configured path that leads out of the project folder (`..`, absolute paths,
/// links): docker-rebuilder reads and mirrors nothing from outside the project.
fn inside_project(project_dir: &Path, path: &Path, key: &str, written: &Path) -> Result<()> {
    let root = project_dir.canonicalize().unwrap_or_else(|_| project_dir.to_path_buf());
    let inside = match path.canonicalize() {
        Ok(resolved) => resolved.starts_with(&root),
        // Not there (reading it will say so): judge the words.
        Err(_) => !written.is_absolute() && !written.components().any(|c| c == std::path::Component::ParentDir),
    };
    if inside {
        return Ok(());
    }
    let config = project_dir.join(crate::project::config::CONFIG_FILE);
    let line = std::fs::read_to_string(&config)
        .ok()
        .and_then(|text| text.lines().position(|l| l.trim_start().starts_with(key)).map(|i| i + 1))
        .unwrap_or(1);
    Err(Error::new(
        ErrorKind::Config,
        format!(
            "{}:{line}: `{key} = \"{}\"` points outside the project folder {}",
            config.display(),
            written.display(),
            project_dir.display()
        ),
        "docker-rebuilder never reads or mirrors files from outside the project: put rebuilder.toml in the folder \
         that holds both the build context and the Dockerfile (e.g. the repository root), with paths relative to it",
    )
    .at(&config, line))
}

/// A builder's plan: what its stage chain infers, with its configuration applied.
fn builder_plan(
    stage: StageRef,
    inferred: Inferred,
    own: &StageConfig,
    base_image: String,
    context: &Path,
) -> Result<BuilderPlan> {
    let sync = if own.sync.is_empty() {
        inferred.sync.clone()
    } else {
        let mut rules = config_sync_rules(&own.sync, &inferred.final_workdir)?;
        for rule in &mut rules {
            rule.line = dockerfile_line(rule, &inferred.sync, context);
        }
        rules
    };
    let steps = match &own.rebuild {
        // Configured commands replace the inferred RUNs, and run as they would have:
        // same user, workdir and build args (else as the stage chain leaves them).
        Some(cmds) => {
            let like = inferred.steps.first();
            cmds.commands()
                .into_iter()
                .map(|c| Step {
                    argv: inferred.final_shell.iter().cloned().chain([c.clone()]).collect(),
                    workdir: own
                        .workdir
                        .clone()
                        .unwrap_or_else(|| like.map_or_else(|| inferred.final_workdir.clone(), |s| s.workdir.clone())),
                    env: like.map_or_else(|| inferred.final_args.clone(), |s| s.env.clone()),
                    user: like.map_or_else(|| inferred.final_user.clone(), |s| s.user.clone()),
                    line: 0,
                    display: c,
                    mounts: all_mounts(&inferred.steps),
                })
                .collect()
        }
        None => {
            let mut steps = inferred.steps;
            if let Some(w) = &own.workdir {
                steps.iter_mut().for_each(|s| s.workdir = w.clone());
            }
            steps
        }
    };
    Ok(BuilderPlan { stage, base_image, sync, steps })
}

/// Bind mounts once the context is known: a file is copied to its target (a volume can only
/// be a folder); a bind whose change needs a full build is watched, never mirrored (its
/// mirror would start empty in every new builder).
fn settle_binds(builder: &mut BuilderPlan, context: &Path) {
    let mut files = Vec::new();
    for step in &builder.steps {
        for mount in &step.mounts {
            if let StepMount::Bind { source, target, mirror, .. } = mount {
                if !source.is_empty() && context.join(source).is_file() {
                    files.push((mirror.clone(), target.clone()));
                }
            }
        }
    }
    for rule in &mut builder.sync {
        if let Some((_, target)) = files.iter().find(|(mirror, _)| *mirror == rule.dest) {
            rule.dest = target.clone();
            rule.dest_is_dir = false;
        } else if rule.needs_full_build && rule.dest.starts_with(BIND_MIRRORS) {
            rule.dest = format!("{ELSEWHERE}/bind-line-{}{}", rule.line, &rule.dest[BIND_MIRRORS.len()..]);
        }
    }
    for step in &mut builder.steps {
        step.mounts.retain(|m| !matches!(m, StepMount::Bind { mirror, .. } if files.iter().any(|(f, _)| f == mirror)));
    }
}

/// Every mount of `steps`, once each (by target), in order.
fn all_mounts(steps: &[Step]) -> Vec<StepMount> {
    let mut mounts: Vec<StepMount> = Vec::new();
    for m in steps.iter().flat_map(|s| &s.mounts) {
        if !mounts.iter().any(|seen| seen.target() == m.target() && seen.target().is_some()) {
            mounts.push(m.clone());
        }
    }
    mounts
}

/// Context-relative path, `/`-separated, without `.`/`..` segments or leading `/`; `""` is the root.
pub fn clean_relative(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            // A `..` that climbs above the start stays (and stacks): the caller refuses it.
            ".." => match parts.last() {
                Some(&last) if last != ".." => {
                    parts.pop();
                }
                _ => parts.push(".."),
            },
            s => parts.push(s),
        }
    }
    parts.join("/")
}

fn join_container(base: &str, p: &str) -> String {
    if p.starts_with('/') {
        p.to_string()
    } else {
        format!("{}/{}", base.trim_end_matches('/'), p)
    }
}

/// Absolute, cleaned container path (`/` stays `/`).
pub fn clean_container_path(p: &str) -> String {
    let rel = clean_relative(p);
    // Above the root is the root. Whole components: `...` is a name, not `..` and a dot.
    let below_root: Vec<&str> = rel.split('/').skip_while(|part| *part == "..").collect();
    format!("/{}", below_root.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configured_rebuild_runs_as_the_inferred_run_would_not_as_the_final_user() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM d\nWORKDIR /app\nCOPY . .\nRUN make\nUSER app\nWORKDIR /\n",
        )
        .expect("write");
        let config = Config {
            rebuild: Some(crate::project::config::RebuildCommand::One("make -j4".into())),
            ..Default::default()
        };
        let plan = Plan::infer(dir.path(), &config).expect("plan");
        assert_eq!(plan.steps.len(), 1);
        assert_eq!(plan.steps[0].display, "make -j4");
        assert_eq!(plan.steps[0].user, None, "no USER before the RUN: the base image's user");
        assert_eq!(plan.steps[0].workdir, "/app");
    }

    #[test]
    fn stage_tables_configure_their_builder_and_an_unknown_stage_is_an_error_listing_the_builders() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join("Dockerfile"),
            "FROM d AS tool\nCOPY tool /t\nRUN make -C /t\nFROM g AS app\nCOPY . /s\nRUN go build\nFROM d\nCOPY --from=tool /t/x /x\nCOPY --from=app /s/a /a\n",
        )
        .expect("write");
        let text = "[stage.app]\nrebuild = \"go build -v\"\n";
        std::fs::write(dir.path().join("rebuilder.toml"), text).expect("write");
        let config = Config::parse(text, &dir.path().join("rebuilder.toml")).expect("config");
        let plan = Plan::infer(dir.path(), &config).expect("plan");
        assert_eq!(plan.builders[1].steps[0].display, "go build -v");
        assert_eq!(plan.builders[0].steps[0].display, "make -C /t");

        let text = "timeout_secs = 5\n\n[stage.nope]\nrebuild = \"x\"\n";
        std::fs::write(dir.path().join("rebuilder.toml"), text).expect("write");
        let config = Config::parse(text, &dir.path().join("rebuilder.toml")).expect("config");
        let err = Plan::infer(dir.path(), &config).expect_err("an unknown stage");
        assert_eq!(err.kind, ErrorKind::Config);
        assert_eq!(err.location.as_ref().map(|l| l.1), Some(3), "{err}");
        assert!(err.fix.contains("tool, app"), "{err}");

        let text = "rebuild = \"make\"\n";
        std::fs::write(dir.path().join("rebuilder.toml"), text).expect("write");
        let config = Config::parse(text, &dir.path().join("rebuilder.toml")).expect("config");
        let err = Plan::infer(dir.path(), &config).expect_err("ambiguous with two builders");
        assert!(err.cause.contains("ambiguous"), "{err}");
    }

    #[test]
    fn an_image_that_copies_nothing_from_the_context_has_nothing_to_rebuild() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dockerfile = dir.path().join("Dockerfile");
        std::fs::write(&dockerfile, "FROM d\nRUN apt-get install -y php\nCMD [\"php\"]\n").expect("write");
        let err = Plan::infer(dir.path(), &Config::default()).expect_err("nothing to mirror");
        assert_eq!(err.kind, ErrorKind::NothingToRebuild, "{err}");
        assert_eq!(err.location, Some((dockerfile, 1)));
    }

    #[test]
    fn a_malformed_copy_pattern_is_a_dockerfile_error_at_its_line() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dockerfile = dir.path().join("Dockerfile");
        std::fs::write(&dockerfile, "FROM d\nWORKDIR /app\nCOPY [a-.txt ./\nRUN make\n").expect("write");
        let err = Plan::infer(dir.path(), &Config::default()).expect_err("a malformed pattern");
        assert_eq!(err.kind, ErrorKind::Dockerfile);
        assert_eq!(err.location, Some((dockerfile.clone(), 3)));
        let cause = "the COPY source `[a-.txt` is not a valid pattern: syntax error in pattern";
        assert_eq!(err.cause, format!("{}:3: {cause}", dockerfile.display()));
        assert!(err.fix.contains("`[[]`"), "{err}");
    }

    #[test]
    fn heredoc_runs_are_rebuild_steps_that_run_what_buildkit_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let text = "# syntax=docker/dockerfile:1\nFROM d\nWORKDIR /app\nCOPY . .\nRUN <<EOF\nmake\nmake install\nEOF\n\
                    RUN <<EOT\n#!/usr/bin/env python3\nprint('hi')\nEOT\n";
        std::fs::write(dir.path().join("Dockerfile"), text).expect("write");
        let plan = Plan::infer(dir.path(), &Config::default()).expect("plan");
        assert_eq!(plan.steps[0].argv, ["/bin/sh", "-c", "make\nmake install\n"]);
        assert_eq!((plan.steps[0].line, plan.steps[1].line), (5, 9));
        let script = "#!/usr/bin/env python3\nprint('hi')\n";
        assert_eq!(plan.steps[1].argv[..2], ["/bin/sh", "-c"]);
        assert_eq!(plan.steps[1].argv[3..], ["sh", script, "EOT"]);
        assert_eq!(plan.steps[1].display, script);
    }

    #[test]
    fn a_dockerfile_error_says_buildkit_refuses_it_or_names_the_other_frontend() {
        let dir = tempfile::tempdir().expect("tempdir");
        let dockerfile = dir.path().join("Dockerfile");
        std::fs::write(&dockerfile, "# syntax=docker/dockerfile:1\nFROM d\nRUN --mount=type=nope make\n")
            .expect("write");
        let err = Plan::infer(dir.path(), &Config::default()).expect_err("an invalid mount");
        assert_eq!((err.kind, err.location.clone()), (ErrorKind::Dockerfile, Some((dockerfile.clone(), 3))));
        assert!(err.cause.ends_with("unsupported mount type \"nope\""), "{err}");
        assert_eq!(err.fix, "correct the Dockerfile (BuildKit's Dockerfile frontend refuses it too)");

        std::fs::write(&dockerfile, "# syntax=tonistiigi/pack\nname: app\n").expect("write");
        let err = Plan::infer(dir.path(), &Config::default()).expect_err("not a Dockerfile");
        assert!(err.fix.contains("frontend `tonistiigi/pack` (line 1)"), "{err}");
    }

    #[test]
    fn relative_paths_are_cleaned() {
        assert_eq!(clean_relative("./src/../lib/"), "lib");
        assert_eq!(clean_relative("."), "");
        assert_eq!(clean_relative("../x"), "../x");
        assert_eq!(clean_relative("../../etc"), "../../etc");
        assert_eq!(clean_relative("a/../../b"), "../b");
        assert_eq!(clean_container_path("/a/./b/../c/"), "/a/c");
        assert_eq!(clean_container_path("../../x/.."), "/");
        assert_eq!(clean_container_path("/../etc"), "/etc");
        // Found by the fuzzer (`COPY Makefile ...//` in WORKDIR /): names made of dots are names.
        assert_eq!(clean_container_path("/...//"), "/...");
        assert_eq!(clean_container_path("/../..x/y"), "/..x/y");
        assert_eq!(clean_container_path("..."), "/...");
        for path in ["/...//", "/../..x/y", "../../x/..", "/a/./b/../c/", "/"] {
            let clean = clean_container_path(path);
            assert_eq!(clean_container_path(&clean), clean, "cleaning {path:?} is idempotent");
        }
    }
}
