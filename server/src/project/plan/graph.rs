//! The image's stage graph: which stages the image needs (FROM and `COPY --from` edges),
//! which of them get a builder (they copy sources from the context and RUN a build), and how
//! the image's own stage is brought up to date after a builder rebuilt: replayed from its
//! first instruction that reads a builder (the part before it is reused from the full build).
//!
//! Every context file some needed stage reads is accounted for: synced to the builder that
//! reads it, replayed into the image, or marked as needing a full build. Nothing is stale.

use std::collections::{BTreeMap, BTreeSet};

use super::stages::{infer_from_stages, InferError, Inferred, State, Walked};
use super::{Step, SyncRule};
use crate::project::dockerfile::{Dockerfile, Stage};

/// A stage, as the user knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageRef {
    pub index: usize,
    pub name: Option<String>,
    /// The FROM line.
    pub line: usize,
}

impl StageRef {
    pub(super) fn of(stage: &Stage) -> StageRef {
        StageRef { index: stage.index, name: stage.name.clone(), line: stage.line }
    }

    /// `build`, or `#2` for an unnamed stage.
    pub fn label(&self) -> String {
        self.name.clone().unwrap_or_else(|| format!("#{}", self.index))
    }
}

/// Where a replayed `COPY --from` takes its files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// A builder's running container (index into `Plan::builders`).
    Builder(usize),
    /// A stage without sources: its image from the full build.
    Stage(usize),
    /// An image named by reference.
    Image(String),
}

/// One instruction of the image's stage, from the replay point on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayOp {
    CopyFrom {
        source: CopySource,
        /// As written (expanded): paths in the source's filesystem.
        sources: Vec<String>,
        dest: String,
        dest_is_dir: bool,
        chown: Option<String>,
        chmod: Option<String>,
        line: usize,
    },
    /// A COPY/ADD from the context: `Assembly::sync[rule]`.
    CopyContext {
        rule: usize,
    },
    Run(Step),
    /// WORKDIR: the folder exists from here on.
    Workdir {
        path: String,
        line: usize,
    },
}

/// How the image's own stage is made after a builder rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assembly {
    pub stage: StageRef,
    /// Instructions of the stage before this one (0-based, in the stage's list) are reused
    /// from the full build; from it on they are replayed.
    pub cut: usize,
    pub cut_line: usize,
    pub ops: Vec<ReplayOp>,
    /// The context copies the replay takes from the host (container paths of the image).
    pub sync: Vec<SyncRule>,
    /// Why the replay cannot be done (an ADD of a URL or an archive after the replay point):
    /// every change then needs a full build.
    pub unreplayable: Option<String>,
}

/// What the walk over the graph decided.
pub(super) struct Graph {
    /// Per builder: its stage and what its stage chain infers.
    pub builders: Vec<(StageRef, Inferred)>,
    pub assembly: Option<Assembly>,
    /// Context copies of needed stages that neither a builder nor the replay covers: a change
    /// there needs a full build.
    pub full_build_only: Vec<SyncRule>,
    /// Every needed stage, for `status`.
    pub stages: Vec<StageInfo>,
}

/// One needed stage and what docker-rebuilder does with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageInfo {
    pub stage: StageRef,
    pub role: StageRole,
    /// The stages it reads (FROM and COPY --from), by label.
    pub reads: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageRole {
    /// Has a builder (index into `Plan::builders`).
    Builder(usize),
    /// Part of a builder's stage chain (built FROM by it).
    InBuilder(usize),
    /// The image's stage, replayed after a builder rebuilt.
    Replayed,
    /// Built once by the full build and reused; `why` says why it has no builder.
    BuiltOnce { why: Option<String> },
}

/// The stage a `FROM`/`--from` word names, among the stages before `before`.
pub(super) fn stage_named(df: &Dockerfile, word: &str, before: usize) -> Option<usize> {
    let word = word.to_ascii_lowercase();
    if let Some(s) = df.stages.iter().take(before).find(|s| s.name.as_deref() == Some(word.as_str())) {
        return Some(s.index);
    }
    word.parse::<usize>().ok().filter(|i| *i < before)
}

/// A stage's parent stage (the stage it is built FROM), if it is one of this file's.
fn parent(df: &Dockerfile, stage: &Stage) -> Option<usize> {
    stage_named(df, &stage.base, stage.index)
}

/// The stages `stage` reads through `COPY --from` (as written; ARGs are rare there).
fn copies_from(df: &Dockerfile, stage: &Stage, build_args: &BTreeMap<String, String>) -> Vec<usize> {
    use crate::project::dockerfile::InstructionKind;
    // `--from=$NAME`: the build args, the stage's ARG defaults, then the global ones.
    let mut defaults: BTreeMap<String, String> =
        df.global_args.iter().filter_map(|a| Some((a.name.clone(), a.default.clone()?))).collect();
    let mut found = Vec::new();
    for ins in &stage.instructions {
        match &ins.kind {
            InstructionKind::Arg(decls) => {
                for d in decls {
                    if let Some(v) = &d.default {
                        defaults.insert(d.name.clone(), v.clone());
                    }
                }
            }
            InstructionKind::Copy { from: Some(from), .. } => {
                let lookup = |name: &str| build_args.get(name).or_else(|| defaults.get(name)).cloned();
                let from = crate::project::dockerfile::expand(from, df.escape(), &lookup);
                found.extend(stage_named(df, &from, stage.index));
            }
            _ => {}
        }
    }
    found
}

/// Resolves the `from=` of `step`'s bind mounts (a stage before `stage`, else an image), and
/// says why a builder cannot give the step one: the stage reads files from the context, so a
/// change to them would change the files the step sees (full builds then rebuild it).
pub(super) fn resolve_bind_froms(
    df: &Dockerfile,
    stage: usize,
    build_args: &BTreeMap<String, String>,
    step: &mut Step,
) -> Option<String> {
    let mut why = None;
    for mount in &mut step.mounts {
        if let super::StepMount::BindFrom { from, stage: resolved, .. } = mount {
            *resolved = stage_named(df, from, stage);
            if let Some(s) = *resolved {
                if reads_context(df, s, build_args, &mut BTreeSet::new()) {
                    why.get_or_insert_with(|| {
                        format!(
                            "`RUN --mount=type=bind,from={from}` reads stage {}, which copies files from the context: \
                             a change to them rebuilds that stage",
                            StageRef::of(&df.stages[s]).label()
                        )
                    });
                }
            }
        }
    }
    why
}

/// Whether stage `index` (through its chain, its `COPY --from`s and its mounts' `from=`)
/// reads anything from the build context.
fn reads_context(
    df: &Dockerfile,
    index: usize,
    build_args: &BTreeMap<String, String>,
    seen: &mut BTreeSet<usize>,
) -> bool {
    use crate::project::dockerfile::{InstructionKind, MountKind};
    if !seen.insert(index) {
        return false;
    }
    for i in chain(df, index) {
        let stage = &df.stages[i];
        if copies_from(df, stage, build_args).into_iter().any(|s| reads_context(df, s, build_args, seen)) {
            return true;
        }
        for ins in &stage.instructions {
            match &ins.kind {
                InstructionKind::Copy { from: None, .. } => return true,
                InstructionKind::Run { mounts, .. } => {
                    for m in mounts {
                        match (&m.kind, &m.from) {
                            (MountKind::Bind, None) => return true,
                            (MountKind::Bind | MountKind::Cache, Some(from)) => {
                                if let Some(s) = stage_named(df, from, i) {
                                    if reads_context(df, s, build_args, seen) {
                                        return true;
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    }
    false
}

/// `stage` and the stages it is built FROM, outermost first.
fn chain(df: &Dockerfile, index: usize) -> Vec<usize> {
    let mut out = vec![index];
    let mut at = index;
    while let Some(p) = parent(df, &df.stages[at]) {
        out.push(p);
        at = p;
    }
    out.reverse();
    out
}

/// The RUN at Dockerfile `line` as a step, in the state its stage's chain gives it there
/// (WORKDIR, USER, ARGs, SHELL), with the index of its stage, and whether `builder`'s chain
/// holds that stage (per builder stage given). For a full build that failed in a RUN no
/// builder runs again (`npm ci` after `COPY package.json`, before the sources' COPY).
pub(super) fn run_at_line(
    df: &Dockerfile,
    line: usize,
    build_args: &BTreeMap<String, String>,
    builders: &[usize],
) -> Option<(Step, usize, Option<usize>)> {
    let stage = df.stages.iter().rposition(|s| s.line <= line)?;
    let mut state = State::new(df, build_args);
    for &c in &chain(df, stage) {
        state.enter_stage();
        for ins in &df.stages[c].instructions {
            match state.apply(ins).ok()? {
                Walked::Run(step) | Walked::RunWithBinds { step, .. } if c == stage && ins.line == line => {
                    let builder = builders.iter().position(|&b| chain(df, b).contains(&stage));
                    return Some((step, stage, builder));
                }
                _ => {}
            }
        }
    }
    None
}

/// The stages of `index`'s chain, outermost first.
pub(super) fn chain_stages(df: &Dockerfile, index: usize) -> Vec<&Stage> {
    chain(df, index).into_iter().map(|i| &df.stages[i]).collect()
}

pub(super) fn walk(df: &Dockerfile, target: usize, build_args: &BTreeMap<String, String>) -> Result<Graph, InferError> {
    // The stages the image needs.
    let mut needed = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if needed.insert(i) {
            let stage = &df.stages[i];
            todo.extend(parent(df, stage));
            todo.extend(copies_from(df, stage, build_args));
        }
    }
    let stages_of = |indexes: &[usize]| indexes.iter().map(|i| &df.stages[*i]).collect::<Vec<_>>();
    let mut inferred: BTreeMap<usize, Inferred> = BTreeMap::new();
    for &i in &needed {
        inferred.insert(i, infer_from_stages(df, &stages_of(&chain(df, i)), build_args)?);
    }
    let compiles = |i: usize| inferred.get(&i).is_some_and(|inf| !inf.steps.is_empty());
    // Who reads each stage, and how.
    let mut read_by_from: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut read_by_copy: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for &i in &needed {
        if let Some(p) = parent(df, &df.stages[i]) {
            read_by_from.entry(p).or_default().push(i);
        }
        for c in copies_from(df, &df.stages[i], build_args) {
            read_by_copy.entry(c).or_default().push(i);
        }
    }
    // A stage that compiles is a builder unless a needed stage is built FROM it and compiles
    // too (that one runs the whole chain).
    let derived_compiles = |i: usize| needed.iter().any(|&j| j != i && chain(df, j).contains(&i) && compiles(j));
    let candidates: Vec<usize> = needed.iter().copied().filter(|&i| compiles(i) && !derived_compiles(i)).collect();

    let target_chain = chain(df, target);
    let target_reads_candidate = copies_from(df, &df.stages[target], build_args).iter().any(|c| candidates.contains(c));
    let target_in_builder = target_chain.iter().any(|i| candidates.contains(i));
    let assembled = target_reads_candidate && !target_in_builder;

    let mut builders: Vec<usize> = Vec::new();
    let mut demoted: BTreeMap<usize, String> = BTreeMap::new();
    let mut assembled = assembled;
    if assembled {
        for &c in &candidates {
            let others: Vec<usize> = read_by_copy
                .get(&c)
                .into_iter()
                .flatten()
                .chain(read_by_from.get(&c).into_iter().flatten())
                .copied()
                .filter(|&r| r != target)
                .collect();
            if !copies_from(df, &df.stages[target], build_args).contains(&c) {
                demoted.insert(c, "the image's stage does not copy from it".to_string());
            } else if let Some(&other) = others.first() {
                demoted.insert(
                    c,
                    format!(
                        "stage {} reads it too, and only the image's own stage is replayed",
                        StageRef::of(&df.stages[other]).label()
                    ),
                );
            } else {
                builders.push(c);
            }
        }
        // Nothing left to replay from: the image's stage chain is the builder after all.
        assembled = !builders.is_empty();
    }
    if !assembled {
        let own = target_chain.iter().copied().find(|i| candidates.contains(i)).map(|_| target);
        for &c in &candidates {
            if !target_chain.contains(&c) {
                demoted
                    .entry(c)
                    .or_insert_with(|| "the image's stage is itself a builder, and copies from it".to_string());
            }
        }
        // The image's stage chain is the builder, as for a single-stage Dockerfile, even when
        // it only copies (no RUN): the sync then commits the copied files.
        builders.push(own.unwrap_or(target));
    }
    let builder_of = |i: usize| builders.iter().position(|&b| b == i);
    // Which stages a builder's chain covers.
    let mut covered: BTreeMap<usize, usize> = BTreeMap::new();
    for (n, &b) in builders.iter().enumerate() {
        for i in chain(df, b) {
            covered.entry(i).or_insert(n);
        }
    }

    let mut assembly = None;
    let mut full_build_only = Vec::new();
    if assembled {
        let stage = &df.stages[target];
        let mut state = State::new(df, build_args);
        for &i in &target_chain[..target_chain.len() - 1] {
            state.enter_stage();
            for ins in &df.stages[i].instructions {
                state.apply(ins)?;
            }
        }
        state.enter_stage();
        let mut cut = None;
        let mut ops = Vec::new();
        let mut sync = Vec::new();
        let mut unreplayable = None;
        for (n, ins) in stage.instructions.iter().enumerate() {
            let walked = state.apply(ins)?;
            if cut.is_none() {
                let reads_builder = matches!(&walked, Walked::CopyFrom { from, .. }
                    if stage_named(df, from, target).is_some_and(|s| builder_of(s).is_some()));
                if !reads_builder {
                    let rules = match walked {
                        Walked::Copy(rule) => vec![rule],
                        Walked::RunWithBinds { binds, .. } => binds,
                        _ => Vec::new(),
                    };
                    for rule in rules {
                        let why = format!(
                            "the image's stage reads it before line {}, the first that reads a builder, from which \
                             a save is replayed",
                            rule.line
                        );
                        full_build_only.push(SyncRule { why: Some(why), ..rule });
                    }
                    continue;
                }
                cut = Some(n);
            }
            match walked {
                Walked::CopyFrom { from, sources, dest, dest_is_dir, chown, chmod, is_add } => {
                    let source = match stage_named(df, &from, target) {
                        Some(s) => match builder_of(s) {
                            Some(b) => CopySource::Builder(b),
                            None => CopySource::Stage(s),
                        },
                        None => CopySource::Image(from),
                    };
                    if is_add {
                        unreplayable.get_or_insert_with(|| format!("ADD --from at line {}", ins.line));
                    }
                    ops.push(ReplayOp::CopyFrom { source, sources, dest, dest_is_dir, chown, chmod, line: ins.line });
                }
                Walked::Copy(rule) => {
                    if rule.needs_full_build {
                        unreplayable.get_or_insert_with(|| {
                            format!("the ADD of an archive at line {}, which unpacks", rule.line)
                        });
                    }
                    ops.push(ReplayOp::CopyContext { rule: sync.len() });
                    sync.push(SyncRule { needs_full_build: false, ..rule });
                }
                Walked::Remote => {
                    unreplayable.get_or_insert_with(|| format!("the ADD of a URL at line {}", ins.line));
                }
                Walked::Run(step) => {
                    if !step.mounts.is_empty() {
                        unreplayable.get_or_insert_with(|| format!("the RUN --mount at line {}", step.line));
                    }
                    ops.push(ReplayOp::Run(step))
                }
                Walked::RunWithBinds { step, .. } => {
                    unreplayable.get_or_insert_with(|| format!("the RUN --mount at line {}", step.line));
                    ops.push(ReplayOp::Run(step))
                }
                Walked::Workdir(path) => ops.push(ReplayOp::Workdir { path, line: ins.line }),
                Walked::Other => {}
            }
        }
        state.check()?;
        let cut = cut.unwrap_or(stage.instructions.len());
        let cut_line = stage.instructions.get(cut).map_or(stage.line, |i| i.line);
        assembly = Some(Assembly { stage: StageRef::of(stage), cut, cut_line, ops, sync, unreplayable });
        covered.insert(target, usize::MAX);
    }
    // Context copies of needed stages nobody covers: a change there needs a full build.
    for &i in &needed {
        if covered.contains_key(&i) {
            continue;
        }
        let mut state = State::new(df, build_args);
        for &c in &chain(df, i) {
            state.enter_stage();
            for ins in &df.stages[c].instructions {
                let rules = match state.apply(ins)? {
                    Walked::Copy(rule) => vec![rule],
                    Walked::RunWithBinds { binds, .. } => binds,
                    _ => Vec::new(),
                };
                for rule in rules {
                    if c == i {
                        let label = StageRef::of(&df.stages[i]).label();
                        let why = match demoted.get(&i) {
                            Some(reason) => format!("stage {label} copies it, and has no builder: {reason}"),
                            None => format!("stage {label} copies it, and has no builder (it runs no build after)"),
                        };
                        full_build_only.push(SyncRule { why: Some(why), ..rule });
                    }
                }
            }
        }
        state.check()?;
    }
    // For target chains that are not a builder's (assembled): their ancestors' copies.
    for rule in &mut full_build_only {
        rule.needs_full_build = true;
    }

    let stages = needed
        .iter()
        .map(|&i| {
            let stage = &df.stages[i];
            let role = if let Some(b) = builder_of(i) {
                StageRole::Builder(b)
            } else if assembled && i == target {
                StageRole::Replayed
            } else if let Some(&b) = covered.get(&i).filter(|b| **b != usize::MAX) {
                StageRole::InBuilder(b)
            } else {
                StageRole::BuiltOnce { why: demoted.get(&i).cloned() }
            };
            let mut reads: Vec<String> = parent(df, stage)
                .into_iter()
                .chain(copies_from(df, stage, build_args))
                .map(|s| StageRef::of(&df.stages[s]).label())
                .collect();
            reads.dedup();
            StageInfo { stage: StageRef::of(stage), role, reads }
        })
        .collect();
    let builders = builders
        .into_iter()
        .map(|b| (StageRef::of(&df.stages[b]), inferred.remove(&b).unwrap_or_else(empty_inferred)))
        .collect();
    Ok(Graph { builders, assembly, full_build_only, stages })
}

fn empty_inferred() -> Inferred {
    Inferred {
        sync: Vec::new(),
        steps: Vec::new(),
        final_workdir: "/".to_string(),
        final_shell: vec!["/bin/sh".to_string(), "-c".to_string()],
        final_user: None,
        final_args: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::dockerfile;

    fn graph(text: &str) -> Graph {
        let df = dockerfile::parse(text).expect("parses");
        walk(&df, df.stages.len() - 1, &BTreeMap::new()).expect("walks")
    }

    const GO_DISTROLESS: &str = "FROM golang AS build\nWORKDIR /src\nCOPY go.mod ./\nRUN go mod download\nCOPY . .\nRUN go build -o /out/app .\nFROM distroless\nCOPY --from=build /out/app /app\nUSER nonroot\nENTRYPOINT [\"/app\"]\n";

    #[test]
    fn a_go_build_stage_gets_the_builder_and_the_distroless_stage_is_replayed_from_its_copy() {
        let g = graph(GO_DISTROLESS);
        assert_eq!(g.builders.len(), 1);
        assert_eq!(g.builders[0].0.name.as_deref(), Some("build"));
        assert_eq!(
            g.builders[0].1.steps.iter().map(|s| s.display.as_str()).collect::<Vec<_>>(),
            ["go build -o /out/app ."]
        );
        let a = g.assembly.expect("replayed");
        assert_eq!((a.cut, a.cut_line), (0, 8));
        assert_eq!(
            a.ops,
            [ReplayOp::CopyFrom {
                source: CopySource::Builder(0),
                sources: vec!["/out/app".into()],
                dest: "/app".into(),
                dest_is_dir: false,
                chown: None,
                chmod: None,
                line: 8
            }]
        );
        assert!(g.full_build_only.is_empty());
        assert_eq!(
            g.stages.iter().map(|s| s.role.clone()).collect::<Vec<_>>(),
            [StageRole::Builder(0), StageRole::Replayed]
        );
    }

    #[test]
    fn a_context_copy_in_the_final_stage_is_replayed_after_the_cut_and_needs_a_full_build_before_it() {
        let g = graph(
            &format!("{GO_DISTROLESS}COPY README.md /README.md\n")
                .replace("FROM distroless\n", "FROM distroless\nCOPY config.json /etc/app.json\n"),
        );
        let a = g.assembly.expect("replayed");
        assert_eq!(a.sync.len(), 1);
        assert_eq!(a.sync[0].sources, ["README.md"]);
        assert_eq!(a.ops.len(), 2);
        assert_eq!(g.full_build_only.len(), 1, "config.json is copied before the replay point");
        assert!(g.full_build_only[0].needs_full_build);
    }

    #[test]
    fn two_source_stages_get_a_builder_each() {
        let g = graph(
            "FROM d AS tool\nCOPY tool/ /t/\nRUN make -C /t\nFROM g AS app\nCOPY server/ /s/\nRUN go build\nFROM d\nCOPY --from=tool /t/tool /bin/tool\nCOPY --from=app /s/app /bin/app\nRUN tool --check\n",
        );
        assert_eq!(g.builders.iter().map(|b| b.0.label()).collect::<Vec<_>>(), ["tool", "app"]);
        let a = g.assembly.expect("replayed");
        assert!(matches!(a.ops.last(), Some(ReplayOp::Run(s)) if s.display == "tool --check"));
    }

    #[test]
    fn a_deps_stage_built_from_by_the_build_stage_is_part_of_its_builder() {
        let g = graph(
            "FROM g AS deps\nCOPY go.mod .\nRUN go mod download\nFROM deps AS build\nCOPY . .\nRUN go build -o /app\nFROM scratch\nCOPY --from=build /app /app\n",
        );
        assert_eq!(g.builders.len(), 1);
        assert_eq!(g.builders[0].0.label(), "build");
        assert!(g.builders[0].1.sync[0].needs_full_build, "go.mod feeds `go mod download`");
        assert_eq!(g.stages[0].role, StageRole::InBuilder(0));
    }

    #[test]
    fn a_single_stage_is_its_own_builder_and_nothing_is_replayed() {
        let g = graph("FROM d\nCOPY . /src\nRUN make\n");
        assert_eq!(g.builders.len(), 1);
        assert!(g.assembly.is_none());
    }

    #[test]
    fn a_builder_another_stage_reads_too_is_built_once_and_its_sources_need_a_full_build() {
        let g = graph(
            "FROM g AS build\nCOPY . .\nRUN make\nFROM build AS test\nRUN make test\nFROM d AS docs\nCOPY --from=build /x /x\nFROM d\nCOPY --from=build /app /app\nCOPY --from=docs /x /x\n",
        );
        assert!(g.builders.iter().all(|b| b.0.label() != "build"));
        assert!(g.full_build_only.iter().any(|r| r.sources == [""]), "COPY . . of `build` needs a full build");
    }

    #[test]
    fn a_copy_from_a_stage_named_by_an_arg_is_an_edge() {
        let g = graph("ARG B=build\nFROM g AS build\nCOPY . .\nRUN b\nFROM d\nARG B\nCOPY --from=$B /a /a\n");
        assert_eq!(g.builders.len(), 1);
        assert_eq!(g.builders[0].0.label(), "build");
        assert!(g.assembly.is_some(), "the final stage reads the builder through the ARG");
    }

    #[test]
    fn copies_of_an_unused_stage_are_not_the_image_s_business() {
        let g = graph(
            "FROM d AS other\nCOPY x /x\nRUN make\nFROM g AS build\nCOPY . .\nRUN b\nFROM d\nCOPY --from=build /a /a\n",
        );
        assert_eq!(g.builders.len(), 1);
        assert!(g.full_build_only.is_empty());
        assert_eq!(g.stages.len(), 2);
    }
}
