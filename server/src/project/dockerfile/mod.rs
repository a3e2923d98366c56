//! Dockerfile parser that follows Docker's classic builder: the moby/buildkit
//! `frontend/dockerfile/parser`, `instructions` and `shell` packages as vendored
//! by Docker 20.10.
//!
//! docker-rebuilder reads a project's Dockerfile to decide which files to mirror
//! into a running container and which commands rebuild it. A parser that is only
//! "close" to Docker's would quietly pick the wrong files, so this one copies
//! Docker's rules, odd ones included: comment and blank lines inside a line
//! continuation, parser directives only at the very top, JSON arrays that fall
//! back to shell form when they are not valid JSON, flags taken from the start
//! of the arguments, and Docker's own `$VAR` expansion (see [`expand`]).
//!
//! Values are kept unexpanded: which variables are in effect depends on build
//! arguments and earlier instructions, so callers expand them with [`expand`].

use std::fmt;

mod directives;
mod instructions;
mod lines;
mod syntax_tree;
mod words;

pub use directives::{syntax_directive, CheckOptions};
pub use words::{expand, MAX_EXPANSION};

use instructions::{interpret, Parsed};
use lines::logical_lines;
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
    /// last line, 1-based (after continuations)
    pub end_line: usize,
    pub kind: InstructionKind,
}

/// A RUN/CMD/ENTRYPOINT command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Shell form, run through the stage's SHELL (`/bin/sh -c` by default).
    Shell(String),
    /// JSON array (exec) form.
    Exec(Vec<String>),
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
    },
    /// COPY and ADD. Sources and dest raw (unexpanded). `from` is the `--from=` value.
    Copy {
        is_add: bool,
        sources: Vec<String>,
        dest: String,
        from: Option<String>,
        chown: Option<String>,
        chmod: Option<String>,
        /// every flag, raw, including `--from`/`--chown`/`--chmod`
        flags: Vec<String>,
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
    /// the keyword, flags included.
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

/// A Dockerfile that Docker would refuse, with the (1-based) line of the
/// offending instruction.
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
    let (lines, escape, line_count) = logical_lines(text)?;
    if lines.is_empty() {
        return Err(ParseError { line: line_count.max(1), message: "file with no instructions".to_string() });
    }

    // Docker builds the whole syntax tree before interpreting any instruction,
    // so a syntax error further down is reported before a semantic one above it.
    let mut nodes = Vec::with_capacity(lines.len());
    for line in &lines {
        let node = parse_node(&line.text, escape).map_err(|message| ParseError { line: line.start, message })?;
        nodes.push((line, node));
    }

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

    pub(super) use super::{parse, ArgDecl, InstructionKind};

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
        InstructionKind::Run { command, flags: vec![] }
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
