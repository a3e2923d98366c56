//! The target's stage chain, walked instruction by instruction with the Dockerfile's state in
//! effect (WORKDIR, ENV, ARG, USER, SHELL): its COPY/ADD of context paths become sync rules, and
//! the RUNs after the last copy that a RUN follows become the rebuild steps.

use std::collections::BTreeMap;

use std::path::Path;

use super::{clean_container_path, clean_relative, join_container, Step, StepMount, SyncRule};
use crate::error::{Error, ErrorKind};
use crate::project::dockerfile::{self, ArgDecl, Command, Dockerfile, InstructionKind, Stage};
use crate::project::glob::{check_syntax, has_glob, BadPattern};

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Runs the `#!` script `$1`, named `$2`, from a file of its own (as a `RUN <<EOF` whose body
/// starts with `#!` runs), then removes it.
const RUN_SCRIPT: &str = "d=\"${TMPDIR:-/tmp}/.heredoc.$$\" && mkdir -p \"$d\" && printf '%s' \"$1\" > \"$d/$2\" \
    && chmod 755 \"$d/$2\" && \"$d/$2\"; s=$?; rm -rf \"$d\"; exit $s";

/// The chain's first FROM, with global ARGs expanded.
pub(super) fn base_image(df: &Dockerfile, chain: &[&Stage], build_args: &BTreeMap<String, String>) -> String {
    let base = chain.first().map(|s| s.base.as_str()).unwrap_or_default();
    let lookup = |name: &str| {
        build_args
            .get(name)
            .cloned()
            .or_else(|| df.global_args.iter().find(|a| a.name == name).and_then(|a| a.default.clone()))
    };
    dockerfile::expand(base, df.escape(), &lookup)
}

pub(super) fn stage_label(chain: &[&Stage]) -> String {
    match chain.last().and_then(|s| s.name.clone()) {
        Some(n) => format!("`{n}`"),
        None => "final".to_string(),
    }
}

/// The target stage preceded by the stages it is built `FROM` (outermost first).
pub(super) fn stage_chain<'a>(df: &'a Dockerfile, target: Option<&str>) -> Result<Vec<&'a Stage>, String> {
    let mut stage = df.target_stage(target).ok_or_else(|| match target {
        Some(t) => format!("no stage named `{t}` (stages: {})", stage_names(df)),
        None => "no build stage".to_string(),
    })?;
    let mut chain = vec![stage];
    while let Some(parent) =
        df.stages.iter().take(stage.index).find(|s| s.name.as_deref() == Some(stage.base.to_ascii_lowercase().as_str()))
    {
        chain.push(parent);
        stage = parent;
    }
    chain.reverse();
    Ok(chain)
}

fn stage_names(df: &Dockerfile) -> String {
    let names: Vec<String> =
        df.stages.iter().map(|s| s.name.clone().unwrap_or_else(|| format!("#{}", s.index))).collect();
    names.join(", ")
}

/// What the walk found, and the state the chain ends in (for commands set in rebuilder.toml).
pub(super) struct Inferred {
    pub(super) sync: Vec<SyncRule>,
    pub(super) steps: Vec<Step>,
    pub(super) final_workdir: String,
    pub(super) final_shell: Vec<String>,
    pub(super) final_user: Option<String>,
    pub(super) final_args: Vec<(String, String)>,
}

/// Why the chain's instructions give no plan; both fail `docker build` too.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum InferError {
    /// An expansion on this line grew past [`dockerfile::MAX_EXPANSION`].
    TooLong { line: usize },
    /// A COPY/ADD source that Go's filepath.Match refuses (ErrBadPattern), as expanded.
    BadPattern { line: usize, instruction: &'static str, pattern: String },
    /// A `RUN --mount` that BuildKit refuses once its variables are expanded.
    BadMount { line: usize, message: String },
}

/// Dockerfile state while walking instructions in order.
pub(super) struct State<'a> {
    pub(super) workdir: String,
    pub(super) env: BTreeMap<String, String>,
    pub(super) args: BTreeMap<String, String>,
    pub(super) user: Option<String>,
    pub(super) shell: Vec<String>,
    pub(super) known_dirs: Vec<String>,
    build_args: &'a BTreeMap<String, String>,
    global_args: BTreeMap<String, Option<String>>,
    /// The line of the instruction being walked.
    line: usize,
    /// The line where an expansion passed [`dockerfile::MAX_EXPANSION`].
    too_long: std::cell::Cell<Option<usize>>,
    escape: char,
    /// The next bind mount mirror's number (see `mounts::BIND_MIRRORS`).
    next_mirror: usize,
}

impl State<'_> {
    fn expand(&self, word: &str) -> String {
        let lookup = |name: &str| self.args.get(name).or_else(|| self.env.get(name)).cloned();
        let value = dockerfile::expand(word, self.escape, &lookup);
        if value.len() > dockerfile::MAX_EXPANSION {
            self.too_long.set(Some(self.line));
        }
        value
    }

    fn declare_args(&mut self, decls: &[ArgDecl]) {
        for d in decls {
            let value = match (self.build_args.get(&d.name), &d.default) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(default)) => Some(self.expand(default)),
                // `ARG NAME` in a stage re-declares a global ARG with its default.
                (None, None) => self.global_args.get(&d.name).cloned().flatten(),
            };
            if let Some(v) = value {
                self.args.insert(d.name.clone(), v);
            }
        }
    }

    fn args_env(&self) -> Vec<(String, String)> {
        // ENV wins over ARG of the same name during RUN.
        self.args.iter().filter(|(k, _)| !self.env.contains_key(*k)).map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}

enum Event {
    Copy(SyncRule),
    Run(Step),
}

impl InferError {
    /// The error at its line of `dockerfile`.
    pub(super) fn located(self, dockerfile: &Path) -> Error {
        match self {
            InferError::TooLong { line } => Error::new(
                ErrorKind::Dockerfile,
                format!(
                    "{}:{line}: a variable here expands to more than {} MiB",
                    dockerfile.display(),
                    dockerfile::MAX_EXPANSION >> 20
                ),
                "correct the Dockerfile: a value that doubles on every line (`ENV A=$A$A`) grows without bound, \
                 and no process accepts a value over 128 KiB",
            )
            .at(dockerfile, line),
            InferError::BadPattern { line, instruction, pattern } => Error::new(
                ErrorKind::Dockerfile,
                format!(
                    "{}:{line}: the {instruction} source `{pattern}` is not a valid pattern: {BadPattern}",
                    dockerfile.display()
                ),
                "correct the pattern (`docker build` refuses it too): in Go's filepath.Match syntax a `[` needs its \
                 `]`, a `-` or `]` inside `[...]` that neither makes a range nor ends it must be escaped, and a `\\` \
                 must escape a character; a literal `[` is written `[[]`",
            )
            .at(dockerfile, line),
            InferError::BadMount { line, message } => Error::new(
                ErrorKind::Dockerfile,
                format!("{}:{line}: {message}", dockerfile.display()),
                "correct the --mount flag (BuildKit refuses it too)",
            )
            .at(dockerfile, line),
        }
    }
}

impl<'a> State<'a> {
    /// The state at the start of a stage chain.
    pub(super) fn new(df: &Dockerfile, build_args: &'a BTreeMap<String, String>) -> State<'a> {
        State {
            workdir: "/".to_string(),
            env: BTreeMap::new(),
            args: BTreeMap::new(),
            user: None,
            shell: DEFAULT_SHELL.iter().map(|s| s.to_string()).collect(),
            known_dirs: vec!["/".to_string()],
            build_args,
            global_args: df.global_args.iter().map(|a| (a.name.clone(), a.default.clone())).collect(),
            escape: df.escape(),
            line: 0,
            too_long: std::cell::Cell::new(None),
            next_mirror: 0,
        }
    }

    /// Enters a stage of the chain (ARGs are scoped to their stage).
    pub(super) fn enter_stage(&mut self) {
        self.args.clear();
    }

    /// Takes in an instruction's effect on the state; what it does besides is the caller's.
    pub(super) fn apply(&mut self, ins: &dockerfile::Instruction) -> Result<Walked, InferError> {
        if let Some(line) = self.too_long.get() {
            return Err(InferError::TooLong { line });
        }
        self.line = ins.line;
        Ok(match &ins.kind {
            InstructionKind::Workdir(w) => {
                let w = self.expand(w);
                self.workdir = clean_container_path(&join_container(&self.workdir, &w));
                self.known_dirs.push(self.workdir.clone());
                Walked::Workdir(self.workdir.clone())
            }
            InstructionKind::Env(pairs) => {
                for (k, v) in pairs {
                    let v = self.expand(v);
                    self.env.insert(k.clone(), v);
                }
                Walked::Other
            }
            InstructionKind::Arg(decls) => {
                self.declare_args(decls);
                Walked::Other
            }
            InstructionKind::User(u) => {
                self.user = Some(self.expand(u));
                Walked::Other
            }
            InstructionKind::Shell(s) => {
                self.shell = s.clone();
                Walked::Other
            }
            InstructionKind::Run { command, mounts, .. } => {
                let (argv, display) = match command {
                    Command::Shell(s) => (self.shell.iter().cloned().chain([s.clone()]).collect(), s.clone()),
                    Command::Exec(v) => (v.clone(), v.join(" ")),
                    Command::Script { name, content } => {
                        // BuildKit runs the file `/dev/pipes/<name>` through the SHELL. The file is
                        // made here as the RUN's user could, then run through the SHELL too.
                        let args = [RUN_SCRIPT.to_string(), "sh".to_string(), content.clone(), name.clone()];
                        (self.shell.iter().cloned().chain(args).collect(), content.clone())
                    }
                };
                let escape = self.escape;
                let expand = |m: &dockerfile::Mount| {
                    let lookup = |name: &str| self.args.get(name).or_else(|| self.env.get(name)).cloned();
                    m.expand(escape, &lookup)
                };
                let resolved = super::mounts::resolve(mounts, &expand, &self.workdir, &mut self.next_mirror)
                    .map_err(|message| InferError::BadMount { line: ins.line, message })?;
                let argv = super::mounts::with_env_secrets(argv, &resolved.mounts);
                let mut env = self.args_env();
                // As BuildKit: the step's SSH_AUTH_SOCK is its first ssh mount.
                if let Some(target) = resolved.mounts.iter().find_map(|m| match m {
                    StepMount::Ssh { target, .. } => Some(target.clone()),
                    _ => None,
                }) {
                    env.retain(|(k, _)| k != "SSH_AUTH_SOCK");
                    env.push(("SSH_AUTH_SOCK".to_string(), target));
                }
                let step = Step {
                    argv,
                    workdir: self.workdir.clone(),
                    env,
                    user: self.user.clone(),
                    line: ins.line,
                    display,
                    mounts: resolved.mounts,
                };
                if resolved.binds.is_empty() && resolved.unmirrorable.is_none() {
                    Walked::Run(step)
                } else {
                    let binds = resolved
                        .binds
                        .into_iter()
                        .map(|(source, mirror)| SyncRule {
                            sources: vec![source],
                            dest: mirror,
                            dest_is_dir: true,
                            chown: None,
                            chmod: None,
                            excludes: Vec::new(),
                            includes: Vec::new(),
                            parents: false,
                            line: ins.line,
                            needs_full_build: resolved.unmirrorable.is_some(),
                            why: resolved.unmirrorable.clone(),
                        })
                        .collect();
                    Walked::RunWithBinds { step, binds, unmirrorable: resolved.unmirrorable }
                }
            }
            InstructionKind::Copy { is_add, sources, dest, from, chown, chmod, excludes, parents, .. } => {
                let raw_dest = self.expand(dest);
                let dest_abs = clean_container_path(&join_container(&self.workdir, &raw_dest));
                let chown = chown.as_ref().map(|c| self.expand(c));
                if let Some(from) = from {
                    let sources: Vec<String> = sources.iter().map(|s| self.expand(s)).collect();
                    let dest_is_dir = raw_dest.ends_with('/')
                        || raw_dest == "."
                        || raw_dest.ends_with("/.")
                        || sources.len() > 1
                        || sources.iter().any(|s| has_glob(s))
                        || self.known_dirs.contains(&dest_abs);
                    if dest_is_dir {
                        self.known_dirs.push(dest_abs.clone());
                    }
                    return Ok(Walked::CopyFrom {
                        from: self.expand(from),
                        sources,
                        dest: dest_abs,
                        dest_is_dir,
                        chown,
                        chmod: chmod.clone(),
                        is_add: *is_add,
                    });
                }
                let mut local: Vec<String> = Vec::new();
                let mut remote = false;
                for source in sources.iter().map(|s| self.expand(s)) {
                    if is_url(&source) {
                        remote = true;
                        continue;
                    }
                    let cleaned = clean_relative(&source);
                    // `docker build` refuses sources above the context; never read them.
                    if cleaned == ".." || cleaned.starts_with("../") {
                        continue;
                    }
                    // `docker build` (BuildKit) fails on a source that Go's filepath.Match
                    // refuses, without naming the line.
                    if check_syntax(&cleaned).is_err() {
                        let instruction = if *is_add { "ADD" } else { "COPY" };
                        return Err(InferError::BadPattern { line: ins.line, instruction, pattern: source });
                    }
                    local.push(cleaned);
                }
                if local.is_empty() {
                    return Ok(if remote { Walked::Remote } else { Walked::Other });
                }
                // ADD unpacks local archives: the result is not a mirror of the file.
                let unpacks = *is_add && local.iter().any(|s| is_archive_name(s));
                let dest_is_dir = raw_dest.ends_with('/')
                    || raw_dest == "."
                    || raw_dest.ends_with("/.")
                    || local.len() > 1
                    || local.iter().any(|s| has_glob(s))
                    || self.known_dirs.contains(&dest_abs);
                if dest_is_dir {
                    self.known_dirs.push(dest_abs.clone());
                }
                // A mode BuildKit reads as octal; a symbolic one (`u+x`, Dockerfile 1.14) is
                // not mirrored: a change under it needs a full build.
                let mode = chmod.as_ref().map(|c| u32::from_str_radix(&self.expand(c), 8).ok());
                Walked::Copy(SyncRule {
                    sources: local,
                    dest: dest_abs,
                    dest_is_dir: dest_is_dir || *parents,
                    chown,
                    chmod: mode.flatten(),
                    excludes: excludes.iter().map(|e| self.expand(e)).collect(),
                    includes: Vec::new(),
                    parents: *parents,
                    line: ins.line,
                    needs_full_build: unpacks || mode == Some(None),
                    why: (mode == Some(None)).then(|| "its --chmod is not an octal mode".to_string()),
                })
            }
            _ => Walked::Other,
        })
    }

    /// The error an expansion ran into, if one did.
    pub(super) fn check(&self) -> Result<(), InferError> {
        match self.too_long.get() {
            Some(line) => Err(InferError::TooLong { line }),
            None => Ok(()),
        }
    }
}

/// What an instruction does besides changing the walk's state.
pub(super) enum Walked {
    Copy(SyncRule),
    CopyFrom {
        from: String,
        sources: Vec<String>,
        dest: String,
        dest_is_dir: bool,
        chown: Option<String>,
        chmod: Option<String>,
        is_add: bool,
    },
    /// An ADD of URLs only.
    Remote,
    Run(Step),
    /// A RUN that reads context folders through bind mounts (each a sync rule into its
    /// mirror; a full build's when a mount is one a builder cannot give the step).
    RunWithBinds {
        step: Step,
        binds: Vec<SyncRule>,
        /// Why a builder cannot give the step one of its mounts.
        unmirrorable: Option<String>,
    },
    Workdir(String),
    Other,
}

pub(super) fn infer_from_stages(
    df: &Dockerfile,
    chain: &[&Stage],
    build_args: &BTreeMap<String, String>,
) -> Result<Inferred, InferError> {
    let mut state = State::new(df, build_args);
    let mut events = Vec::new();
    let mut cannot_mount: Vec<(usize, String)> = Vec::new();
    for stage in chain {
        state.enter_stage();
        for ins in &stage.instructions {
            match state.apply(ins)? {
                Walked::Run(mut step) => {
                    if let Some(why) = super::graph::resolve_bind_froms(df, stage.index, build_args, &mut step) {
                        cannot_mount.push((step.line, why));
                    }
                    events.push(Event::Run(step))
                }
                // The context a RUN binds is copied in just before it runs, as a COPY would be.
                Walked::RunWithBinds { mut step, binds, unmirrorable } => {
                    events.extend(binds.into_iter().map(Event::Copy));
                    let from_why = super::graph::resolve_bind_froms(df, stage.index, build_args, &mut step);
                    if let Some(why) = unmirrorable.or(from_why) {
                        cannot_mount.push((step.line, why));
                    }
                    events.push(Event::Run(step));
                }
                Walked::Copy(rule) => events.push(Event::Copy(rule)),
                _ => {}
            }
        }
    }

    // The last copy that some RUN follows (else the last copy): its RUNs rebuild.
    let is_copy = |e: &Event| matches!(e, Event::Copy(_));
    let is_run = |e: &Event| matches!(e, Event::Run(_));
    let pivot = (0..events.len())
        .rev()
        .find(|&i| is_copy(&events[i]) && events[i + 1..].iter().any(is_run))
        .or_else(|| events.iter().rposition(is_copy));
    let mut sync = Vec::new();
    let mut steps = Vec::new();
    if let Some(pivot) = pivot {
        // Copies separated from the pivot by a RUN feed a step we do not re-run.
        let last_run_before_pivot = events[..pivot].iter().rposition(is_run);
        for (i, e) in events.iter().enumerate() {
            match e {
                Event::Copy(rule) => {
                    let mut rule = rule.clone();
                    if last_run_before_pivot.is_some_and(|r| i < r) {
                        rule.needs_full_build = true;
                    }
                    sync.push(rule);
                }
                Event::Run(step) if i > pivot => steps.push(step.clone()),
                Event::Run(_) => {}
            }
        }
    }
    // A rebuild step the builder cannot give its mounts: every change is a full build.
    if let Some((_, why)) = cannot_mount.iter().find(|(line, _)| steps.iter().any(|s| s.line == *line)) {
        for rule in &mut sync {
            rule.needs_full_build = true;
            rule.why = Some(why.clone());
        }
    }
    state.check()?;
    Ok(Inferred {
        sync,
        steps,
        final_workdir: state.workdir.clone(),
        final_shell: state.shell.clone(),
        final_user: state.user.clone(),
        final_args: state.args_env(),
    })
}

fn is_url(s: &str) -> bool {
    dockerfile::SourceKind::of(s) != dockerfile::SourceKind::Local
}

fn is_archive_name(s: &str) -> bool {
    [".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz"].iter().any(|ext| s.ends_with(ext))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn try_infer(dockerfile: &str) -> Result<Inferred, InferError> {
        let df = dockerfile::parse(dockerfile).expect("parses");
        let chain = stage_chain(&df, None).expect("stage");
        infer_from_stages(&df, &chain, &BTreeMap::new())
    }

    fn infer(dockerfile: &str) -> Inferred {
        try_infer(dockerfile).expect("infers")
    }

    #[test]
    fn a_value_doubled_on_every_line_stops_at_the_line_that_passes_the_bound() {
        // 2^(k-2) bytes after line k: line 22 holds exactly 1 MiB, line 23 passes it. Unbounded,
        // the 60 lines would need 2^58 bytes.
        let mut text = "FROM scratch\nENV A=x\n".to_string();
        text.push_str(&"ENV A=$A$A\n".repeat(60));
        text.push_str("COPY . /src\nRUN make\n");
        assert_eq!(try_infer(&text).err(), Some(InferError::TooLong { line: 23 }));
        // Twenty doublings (512 KiB) infer as usual; the bound cuts a value just past itself.
        let text = format!("FROM scratch\nENV A=x\n{}COPY . /src\nRUN echo $A\n", "ENV A=$A$A\n".repeat(20));
        assert_eq!(displays(&infer(&text)), ["echo $A"]);
        let lookup = |_: &str| Some("y".repeat(dockerfile::MAX_EXPANSION));
        assert_eq!(dockerfile::expand("$A", '\\', &lookup).len(), dockerfile::MAX_EXPANSION);
        assert_eq!(dockerfile::expand("$A$A$A", '\\', &lookup).len(), dockerfile::MAX_EXPANSION + 1);
    }

    fn displays(i: &Inferred) -> Vec<String> {
        i.steps.iter().map(|s| s.display.clone()).collect()
    }

    #[test]
    fn copy_everything_then_make_rebuilds_with_make_in_the_workdir() {
        let i = infer("FROM debian\nWORKDIR /src\nCOPY . .\nRUN make\nCMD [\"/src/app\"]\n");
        assert_eq!(i.sync.len(), 1);
        assert_eq!(i.sync[0].sources, vec![String::new()]);
        assert_eq!(i.sync[0].dest, "/src");
        assert!(i.sync[0].dest_is_dir);
        assert!(!i.sync[0].needs_full_build);
        assert_eq!(displays(&i), vec!["make"]);
        assert_eq!(i.steps[0].argv, vec!["/bin/sh", "-c", "make"]);
        assert_eq!(i.steps[0].workdir, "/src");
        assert_eq!(i.steps[0].line, 4);
    }

    #[test]
    fn dependency_manifest_copied_before_install_needs_a_full_build() {
        let i = infer(
            "FROM node\nWORKDIR /app\nCOPY package.json ./\nRUN npm install\nCOPY src ./src\nRUN npm run build\n",
        );
        assert_eq!(i.sync.len(), 2);
        assert!(i.sync[0].needs_full_build, "package.json feeds `npm install`");
        assert_eq!(i.sync[0].dest, "/app");
        assert!(i.sync[0].dest_is_dir);
        assert!(!i.sync[1].needs_full_build);
        assert_eq!(i.sync[1].dest, "/app/src");
        assert_eq!(displays(&i), vec!["npm run build"]);
    }

    #[test]
    fn copies_after_the_last_run_are_synced_without_hiding_the_build() {
        let i = infer("FROM d\nWORKDIR /app\nCOPY src src\nRUN make\nCOPY config.yml /etc/app/\n");
        assert_eq!(displays(&i), vec!["make"]);
        assert_eq!(i.sync.len(), 2);
        assert!(i.sync.iter().all(|r| !r.needs_full_build));
        assert_eq!(i.sync[1].dest, "/etc/app");
    }

    #[test]
    fn several_runs_after_the_copy_run_in_order_with_their_own_workdir() {
        let i = infer("FROM d\nWORKDIR /a\nCOPY . .\nRUN make\nWORKDIR /a/tests\nRUN ./run.sh\n");
        assert_eq!(displays(&i), vec!["make", "./run.sh"]);
        assert_eq!(i.steps[1].workdir, "/a/tests");
    }

    #[test]
    fn from_copies_and_urls_are_not_sources() {
        let i = infer(
            "FROM d AS b\nRUN true\nFROM d\nCOPY --from=b /x /x\nADD https://e.org/f /f\nCOPY src /s\nRUN make\n",
        );
        assert_eq!(i.sync.len(), 1);
        assert_eq!(i.sync[0].sources, vec!["src"]);
    }

    #[test]
    fn env_args_shell_and_user_are_those_in_effect() {
        let i = infer(
            "FROM d\nARG MODE=debug\nENV ROOT=/srv\nWORKDIR $ROOT/app\nSHELL [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]\nUSER builder\nCOPY --chown=builder:builder . .\nRUN make MODE=$MODE\n",
        );
        let s = &i.steps[0];
        assert_eq!(s.workdir, "/srv/app");
        assert_eq!(s.argv, vec!["/bin/bash", "-eo", "pipefail", "-c", "make MODE=$MODE"]);
        assert_eq!(s.env, vec![("MODE".to_string(), "debug".to_string())]);
        assert_eq!(s.user.as_deref(), Some("builder"));
        assert_eq!(i.sync[0].chown.as_deref(), Some("builder:builder"));
    }

    #[test]
    fn the_target_inherits_its_parent_stage() {
        let df = dockerfile::parse(
            "FROM debian AS base\nWORKDIR /w\nCOPY deps.txt .\nRUN install\nFROM base AS dev\nCOPY src src\nRUN make\nFROM scratch\nCOPY --from=dev /w/app /app\n",
        )
        .expect("parses");
        let chain = stage_chain(&df, Some("dev")).expect("dev");
        let i = infer_from_stages(&df, &chain, &BTreeMap::new()).expect("no runaway expansion");
        assert_eq!(i.sync.len(), 2);
        assert!(i.sync[0].needs_full_build);
        assert_eq!(i.sync[1].dest, "/w/src");
        assert_eq!(displays(&i), vec!["make"]);
    }

    #[test]
    fn a_file_copied_to_a_name_is_not_a_directory() {
        let i = infer("FROM d\nCOPY app.conf /etc/app.conf\nCOPY a.c b.c /src/\nRUN make\n");
        assert!(!i.sync[0].dest_is_dir);
        assert!(i.sync[1].dest_is_dir);
    }

    #[test]
    fn add_of_a_local_archive_needs_a_full_build() {
        let i = infer("FROM d\nADD vendor.tar.gz /v/\nCOPY . /s\nRUN make\n");
        assert!(i.sync[0].needs_full_build);
    }

    #[test]
    fn a_source_that_go_refuses_as_a_pattern_is_an_error_on_its_line() {
        for (text, line, instruction, pattern) in [
            ("FROM d\nWORKDIR /app\nCOPY [a-.txt ./\nRUN make\n", 3, "COPY", "[a-.txt"),
            ("FROM d\nCOPY src/*.c ./src/[ab /app/\nRUN make\n", 2, "COPY", "./src/[ab"),
            ("FROM d\nARG P=[]x]\nADD $P /app/\nRUN make\n", 3, "ADD", "[]x]"),
            ("FROM d\nCOPY [\"x[a-]\", \"/app/\"]\nRUN make\n", 2, "COPY", "x[a-]"),
            // With the backtick escape a `\` reaches the pattern, and escapes nothing at its end.
            ("# escape=`\nFROM d\nCOPY src\\ /app/\nRUN make\n", 3, "COPY", "src\\"),
        ] {
            let error = try_infer(text).err();
            let expected = InferError::BadPattern { line, instruction, pattern: pattern.to_string() };
            assert_eq!(error, Some(expected), "{text:?}");
        }
    }

    #[test]
    fn patterns_go_accepts_and_sources_docker_does_not_match_are_not_checked() {
        let i = infer(
            "FROM d AS b\nFROM d\nCOPY [[]x.txt [!b]* /app/\nCOPY --from=b [ /x\nADD https://e.org/[ /f\nRUN make\n",
        );
        assert_eq!(i.sync.len(), 1);
        assert_eq!(i.sync[0].sources, vec!["[[]x.txt", "[!b]*"]);
        // A stage the target is not built from is not the target's business.
        assert!(try_infer("FROM d AS other\nCOPY [ /x\nFROM d\nCOPY . /app\nRUN make\n").is_ok());
    }
}
