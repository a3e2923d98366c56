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
use crate::project::config::Config;
use crate::project::dockerfile::{self, ArgDecl, Command, Dockerfile, InstructionKind, Stage};

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

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
    pub timeout: Option<Duration>,
    /// Extra ignore patterns from the config (on top of .dockerignore).
    pub extra_ignore: Vec<String>,
    /// Problem matchers from the config, on top of the built-in ones.
    pub matchers: Vec<CustomMatcher>,
}

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
    /// Dockerfile line (0 for config rules).
    pub line: usize,
    /// A change under this rule cannot be mirrored: it needs a fresh `docker build`.
    pub needs_full_build: bool,
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
                "correct the Dockerfile (`docker build` would reject it too)",
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
        let inferred = infer_from_stages(&parsed, &stage_chain, &config.build_args).map_err(|line| {
            Error::new(
                ErrorKind::Dockerfile,
                format!(
                    "{}:{line}: a variable here expands to more than {} MiB",
                    dockerfile.display(),
                    dockerfile::MAX_EXPANSION >> 20
                ),
                "correct the Dockerfile: a value that doubles on every line (`ENV A=$A$A`) grows without bound, \
                 and no process accepts a value over 128 KiB",
            )
            .at(&dockerfile, line)
        })?;

        let sync =
            if config.sync.is_empty() { inferred.sync } else { config_sync_rules(config, &inferred.final_workdir)? };
        if sync.is_empty() {
            return Err(Error::new(
                ErrorKind::Dockerfile,
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

        let steps = match &config.rebuild {
            // Configured commands replace the inferred RUNs, and run as they would have:
            // same user, workdir and build args (else as the final stage leaves them).
            Some(cmds) => {
                let like = inferred.steps.first();
                cmds.commands()
                    .into_iter()
                    .map(|c| Step {
                        argv: inferred.final_shell.iter().cloned().chain([c.clone()]).collect(),
                        workdir: config.workdir.clone().unwrap_or_else(|| {
                            like.map_or_else(|| inferred.final_workdir.clone(), |s| s.workdir.clone())
                        }),
                        env: like.map_or_else(|| inferred.final_args.clone(), |s| s.env.clone()),
                        user: like.map_or_else(|| inferred.final_user.clone(), |s| s.user.clone()),
                        line: 0,
                        display: c,
                    })
                    .collect()
            }
            None => {
                let mut steps = inferred.steps;
                if let Some(w) = &config.workdir {
                    steps.iter_mut().for_each(|s| s.workdir = w.clone());
                }
                steps
            }
        };

        Ok(Plan {
            project_dir: project_dir.to_path_buf(),
            dockerfile,
            context,
            target: config.target.clone(),
            build_args: config.build_args.clone(),
            base_image: base_image(&parsed, &stage_chain, &config.build_args),
            image: image_name(config.image.as_deref(), project_dir),
            sync,
            steps,
            commit: config.commit.unwrap_or(true),
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
                if !first.is_empty() && crate::sync::walk::glob_segment_matches(glob, first) {
                    let base = if dir.is_empty() { self.context.clone() } else { self.context.join(dir) };
                    return Some(base.join(below));
                }
            }
        }
        None
    }

    /// The Dockerfile's path relative to the context, when it lies inside it.
    pub fn dockerfile_in_context(&self) -> Option<String> {
        let df = self.dockerfile.canonicalize().ok()?;
        let rel = df.strip_prefix(&self.context).ok()?;
        Some(rel.to_string_lossy().replace('\\', "/"))
    }
}

/// The chain's first FROM, with global ARGs expanded.
fn base_image(df: &Dockerfile, chain: &[&Stage], build_args: &BTreeMap<String, String>) -> String {
    let base = chain.first().map(|s| s.base.as_str()).unwrap_or_default();
    let lookup = |name: &str| {
        build_args
            .get(name)
            .cloned()
            .or_else(|| df.global_args.iter().find(|a| a.name == name).and_then(|a| a.default.clone()))
    };
    dockerfile::expand(base, df.escape(), &lookup)
}

fn stage_label(chain: &[&Stage]) -> String {
    match chain.last().and_then(|s| s.name.clone()) {
        Some(n) => format!("`{n}`"),
        None => "final".to_string(),
    }
}

/// The target stage preceded by the stages it is built `FROM` (outermost first).
fn stage_chain<'a>(df: &'a Dockerfile, target: Option<&str>) -> Result<Vec<&'a Stage>, String> {
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

struct Inferred {
    sync: Vec<SyncRule>,
    steps: Vec<Step>,
    final_workdir: String,
    final_shell: Vec<String>,
    final_user: Option<String>,
    final_args: Vec<(String, String)>,
}

/// Dockerfile state while walking instructions in order.
struct State<'a> {
    workdir: String,
    env: BTreeMap<String, String>,
    args: BTreeMap<String, String>,
    user: Option<String>,
    shell: Vec<String>,
    known_dirs: Vec<String>,
    build_args: &'a BTreeMap<String, String>,
    global_args: BTreeMap<String, Option<String>>,
    /// The line of the instruction being walked.
    line: usize,
    /// The line where an expansion passed [`dockerfile::MAX_EXPANSION`].
    too_long: std::cell::Cell<Option<usize>>,
    escape: char,
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

/// Errs with the line of an instruction whose expansion grew past [`dockerfile::MAX_EXPANSION`].
fn infer_from_stages(
    df: &Dockerfile,
    chain: &[&Stage],
    build_args: &BTreeMap<String, String>,
) -> std::result::Result<Inferred, usize> {
    let mut state = State {
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
    };
    let mut events = Vec::new();
    for stage in chain {
        // ARGs are scoped to their stage.
        state.args.clear();
        for ins in &stage.instructions {
            if let Some(line) = state.too_long.get() {
                return Err(line);
            }
            state.line = ins.line;
            match &ins.kind {
                InstructionKind::Workdir(w) => {
                    let w = state.expand(w);
                    state.workdir = clean_container_path(&join_container(&state.workdir, &w));
                    state.known_dirs.push(state.workdir.clone());
                }
                InstructionKind::Env(pairs) => {
                    for (k, v) in pairs {
                        let v = state.expand(v);
                        state.env.insert(k.clone(), v);
                    }
                }
                InstructionKind::Arg(decls) => state.declare_args(decls),
                InstructionKind::User(u) => state.user = Some(state.expand(u)),
                InstructionKind::Shell(s) => state.shell = s.clone(),
                InstructionKind::Run { command, .. } => {
                    let (argv, display) = match command {
                        Command::Shell(s) => (state.shell.iter().cloned().chain([s.clone()]).collect(), s.clone()),
                        Command::Exec(v) => (v.clone(), v.join(" ")),
                    };
                    events.push(Event::Run(Step {
                        argv,
                        workdir: state.workdir.clone(),
                        env: state.args_env(),
                        user: state.user.clone(),
                        line: ins.line,
                        display,
                    }));
                }
                InstructionKind::Copy { is_add, sources, dest, from, chown, .. } => {
                    if from.is_some() {
                        continue;
                    }
                    let local: Vec<String> = sources
                        .iter()
                        .map(|s| state.expand(s))
                        .filter(|s| !is_url(s))
                        .map(|s| clean_relative(&s))
                        // `docker build` refuses sources above the context; never read them.
                        .filter(|s| s != ".." && !s.starts_with("../"))
                        .collect();
                    if local.is_empty() {
                        continue;
                    }
                    // ADD unpacks local archives: the result is not a mirror of the file.
                    let unpacks = *is_add && local.iter().any(|s| is_archive_name(s));
                    let raw_dest = state.expand(dest);
                    let dest_abs = clean_container_path(&join_container(&state.workdir, &raw_dest));
                    let dest_is_dir = raw_dest.ends_with('/')
                        || raw_dest == "."
                        || raw_dest.ends_with("/.")
                        || local.len() > 1
                        || local.iter().any(|s| has_glob(s))
                        || state.known_dirs.contains(&dest_abs);
                    if dest_is_dir {
                        state.known_dirs.push(dest_abs.clone());
                    }
                    events.push(Event::Copy(SyncRule {
                        sources: local,
                        dest: dest_abs,
                        dest_is_dir,
                        chown: chown.as_ref().map(|c| state.expand(c)),
                        line: ins.line,
                        needs_full_build: unpacks,
                    }));
                }
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
    if let Some(line) = state.too_long.get() {
        return Err(line);
    }
    Ok(Inferred {
        sync,
        steps,
        final_workdir: state.workdir.clone(),
        final_shell: state.shell.clone(),
        final_user: state.user.clone(),
        final_args: state.args_env(),
    })
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

fn config_sync_rules(config: &Config, workdir: &str) -> Result<Vec<SyncRule>> {
    config
        .sync
        .iter()
        .map(|entry| {
            let src = clean_relative(&entry.src);
            if src.starts_with("..") || Path::new(&entry.src).is_absolute() {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("rebuilder.toml: sync src `{}` is outside the build context", entry.src),
                    "give `src` relative to the build context, inside it",
                ));
            }
            let dest = clean_container_path(&join_container(workdir, &entry.dest));
            if dest == "/" {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!("rebuilder.toml: sync dest `{}` would mirror over the container's root", entry.dest),
                    "give `dest` a folder of its own, e.g. /app/src",
                ));
            }
            Ok(SyncRule {
                sources: vec![src],
                dest,
                dest_is_dir: entry.dest.ends_with('/'),
                chown: None,
                line: 0,
                needs_full_build: false,
            })
        })
        .collect()
}

/// The image name: config's, else the folder name sanitised for Docker; tag `latest` by default.
pub fn image_name(configured: Option<&str>, project_dir: &Path) -> String {
    if let Some(image) = configured {
        let last = image.rsplit('/').next().unwrap_or(image);
        return if last.contains(':') || last.contains('@') { image.to_string() } else { format!("{image}:latest") };
    }
    let folder = project_dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!("{}:latest", sanitize_name(&folder))
}

/// Lowercase, `[a-z0-9]` separated by single `.`, `_` or `-`, starting with an alphanumeric.
pub fn sanitize_name(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(['-', '.', '_']) {
            out.push(if matches!(c, '.' | '_') { c } else { '-' });
        }
    }
    let out = out.trim_end_matches(['-', '.', '_']).to_string();
    if out.is_empty() {
        "project".to_string()
    } else {
        out
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@")
}

fn is_archive_name(s: &str) -> bool {
    [".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz"].iter().any(|ext| s.ends_with(ext))
}

pub fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
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

    fn try_infer(dockerfile: &str) -> std::result::Result<Inferred, usize> {
        let df = dockerfile::parse(dockerfile).expect("parses");
        let chain = stage_chain(&df, None).expect("stage");
        infer_from_stages(&df, &chain, &BTreeMap::new())
    }

    fn infer(dockerfile: &str) -> Inferred {
        try_infer(dockerfile).expect("no runaway expansion")
    }

    #[test]
    fn a_value_doubled_on_every_line_stops_at_the_line_that_passes_the_bound() {
        // 2^(k-2) bytes after line k: line 22 holds exactly 1 MiB, line 23 passes it. Unbounded,
        // the 60 lines would need 2^58 bytes.
        let mut text = "FROM scratch\nENV A=x\n".to_string();
        text.push_str(&"ENV A=$A$A\n".repeat(60));
        text.push_str("COPY . /src\nRUN make\n");
        assert_eq!(try_infer(&text).err(), Some(23));
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
    fn image_names_are_sanitised_folder_names() {
        assert_eq!(image_name(None, Path::new("/x/My Project_2")), "my-project_2:latest");
        assert_eq!(image_name(None, Path::new("/x/--weird--")), "weird:latest");
        assert_eq!(image_name(Some("reg:5000/team/app"), Path::new("/x")), "reg:5000/team/app:latest");
        assert_eq!(image_name(Some("app:dev"), Path::new("/x")), "app:dev");
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
