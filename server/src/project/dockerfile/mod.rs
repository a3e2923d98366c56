//! Dockerfile parser that follows BuildKit's Dockerfile frontend: the moby/buildkit
//! `frontend/dockerfile/parser`, `instructions` and `shell` packages (the classic builder of
//! Docker 20.10 reads the same syntax, less the BuildKit-only parts).
//!
//! docker-rebuilder reads a project's Dockerfile to decide which files to mirror
//! into a running container and which commands rebuild it. A parser that is only
//! "close" to Docker's would quietly pick the wrong files, so this one copies
//! Docker's rules, odd ones included: comment and blank lines inside a line
//! continuation, parser directives only at the very top, JSON arrays that fall
//! back to shell form when they are not valid JSON, flags taken from the start
//! of the arguments, heredocs found by BuildKit's shell lexer, and Docker's own
//! `$VAR` expansion (see [`expand`]).
//!
//! Values are kept unexpanded: which variables are in effect depends on build
//! arguments and earlier instructions, so callers expand them with [`expand`]
//! (and [`Mount::expand`], [`Heredoc::expanded`]). What only some builders can
//! build is listed by [`Dockerfile::constructs`].

use std::fmt;

mod constructs;
mod directives;
mod flags;
mod heredoc;
mod instructions;
mod lines;
mod mounts;
mod patterns;
#[cfg(test)]
mod real_world_tests;
mod sources;
mod syntax_tree;
mod words;

pub use constructs::{Construct, ConstructKind};
pub use directives::{syntax_directive, CheckOptions};
pub use sources::SourceKind;
pub use words::{expand, MAX_EXPANSION};

use instructions::{interpret, Parsed};
use lines::LineReader;
use syntax_tree::parse_node;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// ARGs before the first FROM (usable in FROM lines, and in a stage only if re-declared).
    pub global_args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
    /// The `# syntax=` directive: the frontend image BuildKit builds the file with.
    pub syntax: Option<SyntaxDirective>,
    /// The `# check=` directive: which build checks run, and whether they fail the build.
    pub check: Option<CheckDirective>,
    escape: char,
}

/// `# syntax=<image> [options]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxDirective {
    /// The frontend image, e.g. `docker/dockerfile:1` (the value up to its first space).
    pub image: String,
    /// The whole value.
    pub value: String,
    /// 1-based
    pub line: usize,
}

/// `# check=skip=<rules|all>;error=<bool>`; see [`CheckDirective::options`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckDirective {
    pub value: String,
    /// 1-based
    pub line: usize,
}

/// One build stage: a FROM and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    /// `FROM image AS name` → Some("name") (lowercased as Docker does)
    pub name: Option<String>,
    /// raw image reference, unexpanded
    pub base: String,
    /// 1-based line of the FROM
    pub line: usize,
    /// everything after the FROM up to the next FROM
    pub instructions: Vec<Instruction>,
}

/// An instruction inside a stage, with the lines it spans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// first line, 1-based
    pub line: usize,
    /// last line, 1-based (after continuations and heredoc bodies)
    pub end_line: usize,
    pub kind: InstructionKind,
}

/// A RUN/CMD/ENTRYPOINT command line: what the build runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Shell form, run through the stage's SHELL (`/bin/sh -c` by default) with this text as
    /// its last argument. For a RUN with heredocs it is the text the shell receives: the body of
    /// a lone heredoc (`RUN <<EOF`), or else the command line followed by each heredoc's body
    /// and terminator, for the shell's own heredoc syntax.
    Shell(String),
    /// JSON array (exec) form.
    Exec(Vec<String>),
    /// `RUN <<EOF` whose body starts with `#!`: BuildKit writes the body to an executable file
    /// `/dev/pipes/<name>` (mounted read-only for the RUN) and runs that path through the
    /// stage's SHELL, so the `#!` line picks the interpreter. (For a Windows base image BuildKit
    /// runs such a body through the shell instead, as [`Command::Shell`].)
    Script {
        /// the heredoc's name: the file's name
        name: String,
        /// the body (leading tabs stripped for `<<-`)
        content: String,
    },
}

/// A heredoc: `<<EOF` on a RUN, COPY or ADD line, and the lines after it up to `EOF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The terminator word, quotes removed. For COPY/ADD, the name of the file it makes.
    pub name: String,
    /// The body, each line with its line ending, leading tabs stripped for `<<-`; variables
    /// unexpanded (see [`Heredoc::expanded`]).
    pub content: String,
    /// No part of the word was quoted (`<<EOF`, not `<<"EOF"` or `<<'EOF'`): COPY/ADD expand
    /// the build's variables in the file (RUN leaves the body to the shell).
    pub expand: bool,
    /// `<<-EOF`: leading tabs are stripped from the body's lines and the terminator line.
    pub strip_tabs: bool,
}

impl Heredoc {
    /// The file COPY/ADD make from the heredoc: its content, with variables expanded when
    /// [`Heredoc::expand`] (BuildKit expands it as one word with `\` as the escape and quotes
    /// kept). `lookup` gives the build arguments and ENV in effect.
    pub fn expanded(&self, lookup: &dyn Fn(&str) -> Option<String>) -> String {
        if self.expand {
            words::expand_raw(&self.content, lookup)
        } else {
            self.content.clone()
        }
    }
}

/// A `RUN --mount=…`. String values are as written (unexpanded), with BuildKit's defaults for
/// what the flag leaves out; [`Mount::expand`] gives the mount a build makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// `type=` (default bind)
    pub kind: MountKind,
    /// `target=`/`dst=`/`destination=`; defaults: secret `/run/secrets/<id>` (unless it has
    /// `env=`), ssh `/run/buildkit/ssh_agent.<n>` (n counting the RUN's ssh mounts). `None`
    /// for bind, cache and tmpfs means the working directory.
    pub target: Option<String>,
    /// `source=`/`src=`: a path in `from` (bind, cache), the secret's id (secret)
    pub source: Option<String>,
    /// `from=`: the stage or image a bind mount reads (default the build context) or a cache
    /// starts from
    pub from: Option<String>,
    /// `id=`; defaults: cache the target (cleaned), secret the source or the target's base
    /// name, ssh `default`
    pub id: Option<String>,
    /// `ro`/`readonly`, `rw`/`readwrite`; default read-only for bind, secret and ssh
    pub read_only: bool,
    /// `sharing=` (cache only; BuildKit's default is shared)
    pub sharing: Option<Sharing>,
    /// `mode=` (octal; cache, secret, ssh)
    pub mode: Option<u32>,
    /// `uid=` (cache, secret, ssh)
    pub uid: Option<u32>,
    /// `gid=` (cache, secret, ssh)
    pub gid: Option<u32>,
    /// `required` (secret, ssh): the build fails without it
    pub required: bool,
    /// `size=` in bytes (tmpfs)
    pub size: Option<u64>,
    /// `env=` (secret): the variable that holds the secret
    pub env: Option<String>,
    /// The flag's value as written.
    pub spec: String,
    /// Keys whose value holds a variable, quotes or escapes, so their typed setting is only
    /// known after [`Mount::expand`] (meanwhile the field keeps its default; for `type`, the
    /// type-dependent defaults and checks wait too).
    pub unresolved: Vec<&'static str>,
}

/// The `type=` of a `RUN --mount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MountKind {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

/// A cache mount's `sharing=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// `RUN --network=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Network {
    Default,
    None,
    Host,
}

/// `RUN --security=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Security {
    Sandbox,
    Insecure,
}

/// `RUN --device=` (a CDI device; `docker/dockerfile:1-labs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub required: bool,
}

/// An ARG declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    /// Unexpanded; quotes are removed the same way as for ENV values.
    pub default: Option<String>,
}

/// What an instruction does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstructionKind {
    Run {
        command: Command,
        /// raw flags like "--mount=type=cache,target=/x"
        flags: Vec<String>,
        /// `--mount`, in order
        mounts: Vec<Mount>,
        /// `--network`, when given
        network: Option<Network>,
        /// `--security`, when given
        security: Option<Security>,
        /// `--device`, in order
        devices: Vec<Device>,
        /// the heredocs of the line, in order (already part of `command`)
        heredocs: Vec<Heredoc>,
    },
    /// COPY and ADD. Sources and dest raw (unexpanded). `from` is the `--from=` value.
    Copy {
        is_add: bool,
        /// Paths in the context (or `from`), URLs and git repositories ([`SourceKind`]);
        /// heredoc sources are in `heredocs`.
        sources: Vec<String>,
        dest: String,
        from: Option<String>,
        chown: Option<String>,
        chmod: Option<String>,
        /// every flag, raw, including `--from`/`--chown`/`--chmod`
        flags: Vec<String>,
        /// `--link`
        link: bool,
        /// `--parents` (COPY)
        parents: bool,
        /// `--exclude` patterns, in order
        excludes: Vec<String>,
        /// `--checksum` (ADD)
        checksum: Option<String>,
        /// `--keep-git-dir` (ADD), when given
        keep_git_dir: Option<bool>,
        /// `--unpack` (ADD), when given
        unpack: Option<bool>,
        /// `<<EOF` sources: each makes a file named after the heredoc in `dest`
        heredocs: Vec<Heredoc>,
    },
    /// raw
    Workdir(String),
    /// Both `ENV k=v k2="v 2"` and legacy `ENV k v w` forms. Quotes and
    /// needless escapes are removed but `$vars` are left unexpanded, so that
    /// `expand(value)` gives the value Docker would set.
    Env(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    /// raw
    User(String),
    Shell(Vec<String>),
    Cmd(Command),
    Entrypoint(Command),
    /// Same quoting rules as [`InstructionKind::Env`].
    Label(Vec<(String, String)>),
    /// raw, in source order
    Expose(Vec<String>),
    /// raw
    Volume(Vec<String>),
    /// MAINTAINER, STOPSIGNAL, HEALTHCHECK, ONBUILD: `args` is everything after
    /// the keyword, flags included (for ONBUILD, followed by its heredocs' bodies
    /// and terminators, as BuildKit keeps the trigger).
    Other {
        /// uppercased
        keyword: String,
        args: String,
    },
}

impl InstructionKind {
    /// The instruction's keyword, uppercased (as a build's step lines name it).
    pub fn keyword(&self) -> &str {
        match self {
            InstructionKind::Run { .. } => "RUN",
            InstructionKind::Copy { is_add: true, .. } => "ADD",
            InstructionKind::Copy { .. } => "COPY",
            InstructionKind::Workdir(_) => "WORKDIR",
            InstructionKind::Env(_) => "ENV",
            InstructionKind::Arg(_) => "ARG",
            InstructionKind::User(_) => "USER",
            InstructionKind::Shell(_) => "SHELL",
            InstructionKind::Cmd(_) => "CMD",
            InstructionKind::Entrypoint(_) => "ENTRYPOINT",
            InstructionKind::Label(_) => "LABEL",
            InstructionKind::Expose(_) => "EXPOSE",
            InstructionKind::Volume(_) => "VOLUME",
            InstructionKind::Other { keyword, .. } => keyword,
        }
    }
}

/// A Dockerfile that BuildKit's Dockerfile frontend refuses (as of the version this parser
/// follows), with the (1-based) line of the offending instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

impl Dockerfile {
    /// The escape character from the `# escape=` parser directive (default `\`).
    pub fn escape(&self) -> char {
        self.escape
    }

    /// The stage a build with `target` produces: the named stage, or the last one.
    ///
    /// Like the classic builder, the first stage with a matching name wins and
    /// names compare case-insensitively; an empty target means no target.
    pub fn target_stage(&self, target: Option<&str>) -> Option<&Stage> {
        match target.filter(|t| !t.is_empty()) {
            None => self.stages.last(),
            Some(target) => self
                .stages
                .iter()
                .find(|stage| stage.name.as_deref().is_some_and(|name| name.eq_ignore_ascii_case(target))),
        }
    }
}

/// Parses a Dockerfile's text.
pub fn parse(text: &str) -> Result<Dockerfile, ParseError> {
    let mut reader = LineReader::new(text);

    // Docker builds the whole syntax tree before interpreting any instruction,
    // so a syntax error further down is reported before a semantic one above it.
    let mut nodes = Vec::new();
    while let Some(mut line) = reader.next_instruction()? {
        let located = |message| ParseError { line: line.start, message };
        let mut node = parse_node(&line.text, reader.escape()).map_err(located)?;
        if node.takes_heredocs && line.text.contains("<<") {
            for word in heredoc::heredocs_in_line(&line.text).map_err(located)? {
                let Some(body) = reader.heredoc_body(&word.name, word.strip_tabs) else {
                    let message = format!("unterminated heredoc: no line {:?} ends <<{}", word.name, word.name);
                    return Err(ParseError { line: line.start, message });
                };
                node.heredocs.push((word, body));
            }
            line.end = reader.current_line();
        }
        nodes.push((line, node));
    }
    if nodes.is_empty() {
        return Err(ParseError { line: reader.line_count().max(1), message: "file with no instructions".to_string() });
    }

    let escape = reader.escape();
    let mut global_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for (line, node) in &nodes {
        let error = |message: String| ParseError { line: line.start, message };
        match interpret(node, escape).map_err(error)? {
            Parsed::From { name, base } => {
                stages.push(Stage { index: stages.len(), name, base, line: line.start, instructions: Vec::new() })
            }
            Parsed::Kind(kind) => match (stages.last_mut(), kind) {
                (None, InstructionKind::Arg(decls)) => global_args.extend(decls),
                (None, _) => return Err(error("no build stage in current context".to_string())),
                (Some(stage), kind) => {
                    stage.instructions.push(Instruction { line: line.start, end_line: line.end, kind })
                }
            },
        }
    }

    if stages.is_empty() {
        // Only ARGs: Docker has nothing to build. The error is about the whole file.
        return Err(ParseError { line: 1, message: "dockerfile contains no stages to build".to_string() });
    }
    let syntax = directives::syntax_directive(text);
    let check = directives::check_directive(text);
    Ok(Dockerfile { global_args, stages, syntax, check, escape })
}

/// Shorthands for the tests of every part of the parser.
#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    pub(super) use super::{parse, ArgDecl, Command, Device, InstructionKind, Mount, MountKind, Network, Security};

    impl Mount {
        /// `--mount=` with no options set, for tests to fill in.
        pub(in crate::project::dockerfile) fn bind() -> Mount {
            Mount {
                kind: MountKind::Bind,
                target: None,
                source: None,
                from: None,
                id: None,
                read_only: true,
                sharing: None,
                mode: None,
                uid: None,
                gid: None,
                required: false,
                size: None,
                env: None,
                spec: String::new(),
                unresolved: vec![],
            }
        }
    }

    /// The only RUN of `text`'s instructions, as (command, mounts).
    pub(super) fn only_run(text: &str) -> (Command, Vec<Mount>) {
        match only_kind(text) {
            InstructionKind::Run { command, mounts, .. } => (command, mounts),
            other => panic!("not a RUN: {other:?}"),
        }
    }

    pub(super) fn instructions(text: &str) -> Vec<Instruction> {
        let dockerfile = parse(text).expect("should parse");
        dockerfile.stages.into_iter().flat_map(|s| s.instructions).collect()
    }

    pub(super) fn kinds(text: &str) -> Vec<InstructionKind> {
        instructions(text).into_iter().map(|i| i.kind).collect()
    }

    pub(super) fn only_kind(text: &str) -> InstructionKind {
        let mut all = kinds(text);
        assert_eq!(all.len(), 1, "expected one instruction in {text:?}: {all:?}");
        all.remove(0)
    }

    pub(super) fn error(text: &str) -> ParseError {
        parse(text).expect_err("should fail")
    }

    pub(super) fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    pub(super) fn shell(s: &str) -> Command {
        Command::Shell(s.to_string())
    }

    pub(super) fn exec(items: &[&str]) -> Command {
        Command::Exec(items.iter().map(|s| s.to_string()).collect())
    }

    pub(super) fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    pub(super) fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    pub(super) fn run(command: Command) -> InstructionKind {
        InstructionKind::Run {
            command,
            flags: vec![],
            mounts: vec![],
            network: None,
            security: None,
            devices: vec![],
            heredocs: vec![],
        }
    }

    /// A COPY or ADD without the flags BuildKit added.
    pub(super) fn copy(is_add: bool, sources: &[&str], dest: &str) -> InstructionKind {
        InstructionKind::Copy {
            is_add,
            sources: strings(sources),
            dest: dest.to_string(),
            from: None,
            chown: None,
            chmod: None,
            flags: vec![],
            link: false,
            parents: false,
            excludes: vec![],
            checksum: None,
            keep_git_dir: None,
            unpack: None,
            heredocs: vec![],
        }
    }

    #[test]
    fn multiple_stages_and_the_target_stage() {
        let text = "FROM node:20 AS deps\nRUN npm ci\nFROM deps AS Build\nRUN npm run build\nFROM nginx\nCOPY --from=build /app/dist /usr/share/nginx/html\n";
        let dockerfile = parse(text).expect("parses");
        assert_eq!(dockerfile.stages.len(), 3);
        assert_eq!(dockerfile.stages[2].index, 2);
        assert_eq!(dockerfile.stages[1].instructions.len(), 1);
        let target = |t| dockerfile.target_stage(t).map(|s| s.index);
        assert_eq!(target(None), Some(2));
        assert_eq!(target(Some("")), Some(2));
        assert_eq!(target(Some("build")), Some(1));
        assert_eq!(target(Some("BUILD")), Some(1));
        assert_eq!(target(Some("missing")), None);
    }

    #[test]
    fn args_before_the_first_from_are_global() {
        let dockerfile = parse("ARG BASE=alpine:3.19\nARG TAG\nFROM ${BASE}\nARG BASE\n").expect("parses");
        assert_eq!(
            dockerfile.global_args,
            vec![
                ArgDecl { name: "BASE".to_string(), default: Some("alpine:3.19".to_string()) },
                ArgDecl { name: "TAG".to_string(), default: None },
            ]
        );
        assert_eq!(dockerfile.stages[0].base, "${BASE}");
        assert_eq!(dockerfile.stages[0].instructions.len(), 1);
    }

    #[test]
    fn syntax_errors_are_reported_before_unknown_instructions_above_them() {
        // Docker builds the whole tree first, as here.
        let e = error("FROM a\nFOO bar\nCMD [1]\n");
        assert_eq!(e.line, 3);
    }

    #[test]
    fn a_dockerfile_without_from_is_an_error() {
        let e = error("# just a comment\nRUN make\n");
        assert_eq!(e.to_string(), "line 2: no build stage in current context");
        assert_eq!(error("ARG A=1\n").message, "dockerfile contains no stages to build");
        assert_eq!(error("").message, "file with no instructions");
        assert_eq!(error("# only\n\n# comments\n").message, "file with no instructions");
    }
}
