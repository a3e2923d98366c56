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

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// ARGs before the first FROM (usable in FROM lines, and in a stage only if re-declared).
    pub global_args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
    escape: char,
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
    Ok(Dockerfile { global_args, stages, escape })
}

/// Docker's shell-word variable expansion for instruction arguments (ENV, WORKDIR,
/// COPY/ADD, USER, ARG defaults...), i.e. `shell.Lex.ProcessWord`.
///
/// Supports `$VAR`, `${VAR}`, `${VAR:-word}` (word if VAR is unset or empty) and
/// `${VAR:+word}` (word if VAR is set and non-empty); `word` may itself contain
/// quotes and variables. `${VAR-word}` and other shell forms are not supported
/// by Docker. Single and double quotes are removed like a shell would, and the
/// file's escape character escapes the next character (`\$A` is a literal `$A`).
/// Unknown variables expand to "". `lookup` returns a variable's value in effect.
///
/// Docker fails the build on malformed input (an unterminated quote, `${`
/// without `}`, an unsupported modifier); as this function cannot fail, it
/// returns such input unchanged.
///
/// A result is cut just past [`MAX_EXPANSION`] bytes (callers treat a longer one as an error).
pub fn expand(word: &str, escape: char, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    match lex_word(word, escape) {
        Ok(pieces) => evaluate(&pieces, lookup),
        Err(_) => word.to_string(),
    }
}

// ---------------------------------------------------------------------------
// Lines: continuations, comments and parser directives (parser.Parse).

/// One instruction's text after joining continuation lines.
struct LogicalLine {
    start: usize,
    end: usize,
    text: String,
}

/// Splits `text` into instructions. Returns them with the escape character in
/// effect and the number of physical lines.
fn logical_lines(text: &str) -> Result<(Vec<LogicalLine>, char, usize), ParseError> {
    let lines = physical_lines(text);
    let mut directives = Directives::default();
    let mut out = Vec::new();
    let mut next = 0;
    while next < lines.len() {
        let mut raw = lines[next];
        if next == 0 {
            raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
        }
        next += 1;
        let start = next;
        let trimmed = raw.trim_start();
        directives.check(trimmed).map_err(|message| ParseError { line: start, message })?;
        let content = if trimmed.starts_with('#') { "" } else { trimmed };
        let (first, mut complete) = trim_continuation(content, directives.escape);
        if complete && first.is_empty() {
            continue;
        }
        let mut joined = first.to_string();
        while !complete && next < lines.len() {
            let raw = lines[next];
            next += 1;
            // Docker skips comment and blank lines inside a continuation without
            // ending the instruction. Unlike the first line, continuation lines
            // keep their leading whitespace.
            let trimmed = raw.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let (part, done) = trim_continuation(raw, directives.escape);
            joined.push_str(part);
            complete = done;
        }
        out.push(LogicalLine { start, end: next, text: joined });
    }
    Ok((out, directives.escape, lines.len()))
}

/// Lines as Go's `bufio.ScanLines` yields them: `\n`-separated, one trailing
/// `\r` dropped, no empty line after a final newline.
fn physical_lines(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line)).collect();
    if text.ends_with('\n') {
        lines.pop();
    }
    lines
}

/// A line ending in the escape character (then optional blanks) continues on
/// the next line; the escape character and those blanks are dropped.
fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    match line.trim_end_matches([' ', '\t']).strip_suffix(escape) {
        Some(kept) => (kept, false),
        None => (line, true),
    }
}

/// Parser directives (`# escape=`, `# syntax=`) are only recognised before the
/// first instruction, comment or blank line.
struct Directives {
    escape: char,
    done: bool,
    seen: Vec<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives { escape: '\\', done: false, seen: Vec::new() }
    }
}

impl Directives {
    /// Looks at a line (left-trimmed) that starts an instruction or is skipped.
    fn check(&mut self, line: &str) -> Result<(), String> {
        if self.done {
            return Ok(());
        }
        let Some((key, value)) = parse_directive(line) else {
            self.done = true;
            return Ok(());
        };
        let key = key.to_ascii_lowercase();
        if key != "escape" && key != "syntax" {
            // An unknown directive is an ordinary comment and ends the directives.
            self.done = true;
            return Ok(());
        }
        if self.seen.contains(&key) {
            return Err(format!("only one {key} parser directive can be used"));
        }
        self.seen.push(key.clone());
        if key == "escape" {
            self.escape = match value {
                "`" => '`',
                "\\" => '\\',
                other => return Err(format!("invalid escape token '{other}' does not match ` or \\")),
            };
        }
        Ok(())
    }
}

/// Matches Docker's `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` (RE2's `\s`
/// is ASCII `[\t\n\f\r ]`), returning the key and value.
fn parse_directive(line: &str) -> Option<(&str, &str)> {
    let is_space = |c: char| matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ');
    let rest = line.strip_prefix('#')?.trim_start_matches(is_space);
    let key_len = rest.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(rest.len());
    let key = &rest[..key_len];
    if !key.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let after_eq = rest[key_len..].trim_start_matches(is_space).strip_prefix('=')?;
    let value = after_eq.trim_start_matches(is_space);
    if value.is_empty() {
        // `(.+?)` needs a character, so an all-blank value is its last blank.
        let last = after_eq.chars().last()?;
        return Some((key, &after_eq[after_eq.len() - last.len_utf8()..]));
    }
    Some((key, value.trim_end_matches(is_space)))
}

// ---------------------------------------------------------------------------
// Syntax tree: keyword, flags and arguments of one instruction (newNodeFromLine).

/// Docker's parse-tree node for one instruction, arguments flattened as in
/// `instructions.nodeArgs`.
struct Node {
    /// lowercased
    keyword: String,
    /// everything after the keyword, trimmed
    raw_args: String,
    flags: Vec<String>,
    args: Vec<String>,
    /// the arguments were a JSON array
    json: bool,
}

const NOT_STRING_ARRAY: &str = "when using JSON array syntax, arrays must be comprised of strings only";

fn parse_node(text: &str, escape: char) -> Result<Node, String> {
    parse_node_nested(text, escape, false)
}

/// `nested` is set for an ONBUILD trigger, whose own trigger (`ONBUILD ONBUILD`,
/// refused later anyway) is not parsed, so recursion stays one level deep.
fn parse_node_nested(text: &str, escape: char, nested: bool) -> Result<Node, String> {
    let line = text.trim();
    let (keyword, after) = match line.find(is_separator) {
        Some(at) => (&line[..at], line[at..].trim_start_matches(is_separator)),
        None => (line, ""),
    };
    let (rest, flags) = extract_builder_flags(after);
    let rest = rest.trim();
    let keyword = keyword.to_lowercase();

    let mut json = false;
    let args = match keyword.as_str() {
        "add" | "copy" | "volume" => match parse_json_array(rest)? {
            Some(items) => {
                json = true;
                items
            }
            None => split_words(rest),
        },
        "run" | "cmd" | "entrypoint" | "shell" => maybe_json(rest, &mut json)?,
        "env" => parse_name_val(rest, "ENV", escape)?,
        "label" => parse_name_val(rest, "LABEL", escape)?,
        "arg" => parse_words(rest, escape),
        "expose" | "from" => split_words(rest),
        "healthcheck" => {
            // HEALTHCHECK <type> <command>, the command being maybe-JSON.
            let type_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
            if type_len == 0 {
                Vec::new()
            } else {
                let mut args = vec![rest[..type_len].to_string()];
                args.extend(maybe_json(rest[type_len..].trim_start(), &mut json)?);
                args
            }
        }
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            if rest.is_empty() {
                Vec::new()
            } else {
                vec![rest.to_string()]
            }
        }
        "onbuild" => {
            if rest.is_empty() {
                Vec::new()
            } else if nested {
                split_words(rest).into_iter().take(1).collect()
            } else {
                // The trigger is parsed now, so its syntax errors surface now.
                let trigger = parse_node_nested(rest, escape, true)?;
                let mut args = vec![trigger.keyword];
                args.extend(trigger.args);
                args
            }
        }
        _ => Vec::new(),
    };

    Ok(Node { keyword, raw_args: after.trim().to_string(), flags, args, json })
}

/// Docker's `reWhitespace` (`[\t\v\f\r ]`): what separates the keyword from its
/// arguments and the words of FROM, EXPOSE and shell-form COPY/ADD/VOLUME.
fn is_separator(c: char) -> bool {
    matches!(c, '\t' | '\u{b}' | '\u{c}' | '\r' | ' ')
}

/// Whitespace-delimited words, without any quote handling (so `COPY "a b" c`
/// has the three sources `"a`, `b"` and `c`, as in Docker).
fn split_words(rest: &str) -> Vec<String> {
    rest.split(is_separator).filter(|word| !word.is_empty()).map(str::to_string).collect()
}

/// A JSON array of strings, `None` if `rest` is not a JSON array at all (the
/// caller then falls back to shell form), an error if it is one with
/// non-string items. Like Go's `json.Decoder`, text after the array is ignored.
fn parse_json_array(rest: &str) -> Result<Option<Vec<String>>, String> {
    let rest = rest.trim_start();
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
    match values.next() {
        Some(Ok(serde_json::Value::Array(items))) => items
            .into_iter()
            .map(|item| match item {
                serde_json::Value::String(s) => Ok(s),
                _ => Err(NOT_STRING_ARRAY.to_string()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        _ => Ok(None),
    }
}

/// RUN/CMD/ENTRYPOINT/SHELL arguments: a JSON array, else the whole text.
fn maybe_json(rest: &str, json: &mut bool) -> Result<Vec<String>, String> {
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    match parse_json_array(rest)? {
        Some(items) => {
            *json = true;
            Ok(items)
        }
        None => Ok(vec![rest.to_string()]),
    }
}

/// Splits off the leading `--flag` words (Docker's `extractBuilderFlags`),
/// returning the rest of the line and the flags with their quotes processed.
/// The 20.10 parser hard-codes `\` as the escape here, whatever the directive.
fn extract_builder_flags(line: &str) -> (&str, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<(usize, char)> = line.char_indices().collect();
    let mut flags = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while let Some(&(offset, ch)) = chars.get(pos) {
        match phase {
            Phase::Spaces => {
                if ch.is_whitespace() {
                    pos += 1;
                    continue;
                }
                if ch != '-' || chars.get(pos + 1).map(|&(_, c)| c) != Some('-') {
                    return (&line[offset..], flags);
                }
                // Start of a flag: look at this character again as part of a word.
                phase = Phase::Word;
            }
            Phase::Word => {
                pos += 1;
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (&line[offset..], flags);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                } else if ch == '\'' || ch == '"' {
                    quote = ch;
                    blank_ok = true;
                    phase = Phase::Quote;
                } else if ch == '\\' {
                    // Escapes the next character; dropped at the end of the line.
                    if let Some(&(_, escaped)) = chars.get(pos) {
                        word.push(escaped);
                        pos += 1;
                    }
                } else {
                    word.push(ch);
                }
            }
            Phase::Quote => {
                pos += 1;
                if ch == quote {
                    phase = Phase::Word;
                } else if ch == '\\' {
                    match chars.get(pos) {
                        Some(&(_, escaped)) => {
                            word.push(escaped);
                            pos += 1;
                        }
                        None => phase = Phase::Word,
                    }
                } else {
                    word.push(ch);
                }
            }
        }
    }
    if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
        flags.push(word);
    }
    ("", flags)
}

/// Docker's `parseWords`: splits on whitespace outside quotes, keeping quotes
/// and escapes in the words (they are removed later, by the shell lexer).
fn parse_words(rest: &str, escape: char) -> Vec<String> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut quote = '\0';
    let mut blank_ok = false;
    let mut pos = 0;
    while let Some(&ch) = chars.get(pos) {
        pos += 1;
        match phase {
            Phase::Spaces => {
                if ch.is_whitespace() {
                    continue;
                }
                // Start of a word: look at this character again.
                phase = Phase::Word;
                pos -= 1;
            }
            Phase::Word => {
                if ch.is_whitespace() {
                    phase = Phase::Spaces;
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    quote = ch;
                    blank_ok = true;
                    phase = Phase::Quote;
                }
                if ch == escape {
                    // Keep the escape and the escaped character, even a quote;
                    // an escape at the very end is dropped.
                    match chars.get(pos) {
                        Some(&escaped) => {
                            word.push(ch);
                            word.push(escaped);
                            pos += 1;
                        }
                        None => continue,
                    }
                } else {
                    word.push(ch);
                }
            }
            Phase::Quote => {
                if ch == quote {
                    phase = Phase::Word;
                }
                // Nothing can be escaped inside single quotes.
                if ch == escape && quote != '\'' {
                    match chars.get(pos) {
                        Some(&escaped) => {
                            word.push(ch);
                            word.push(escaped);
                            pos += 1;
                        }
                        None => phase = Phase::Word,
                    }
                } else {
                    word.push(ch);
                }
            }
        }
    }
    if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// ENV/LABEL arguments as a flat key, value, key, value... list. The legacy
/// `ENV key value words` form is chosen when the first word has no `=`.
fn parse_name_val(rest: &str, command: &str, escape: char) -> Result<Vec<String>, String> {
    let words = parse_words(rest, escape);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let Some(at) = rest.find(is_separator) else {
            return Err(format!("{command} must have two arguments"));
        };
        let value = rest[at..].trim_start_matches(is_separator);
        return Ok(vec![rest[..at].to_string(), value.to_string()]);
    }
    let mut args = Vec::with_capacity(words.len() * 2);
    for word in &words {
        let Some((key, value)) = word.split_once('=') else {
            return Err(format!("Syntax error - can't find = in {word:?}. Must be of the form: name=value"));
        };
        args.push(key.to_string());
        args.push(value.to_string());
    }
    Ok(args)
}

// ---------------------------------------------------------------------------
// Instructions: per-keyword validation (instructions.ParseInstruction).

enum Parsed {
    From { name: Option<String>, base: String },
    Kind(InstructionKind),
}

fn interpret(node: &Node, escape: char) -> Result<Parsed, String> {
    let args = &node.args;
    let other =
        || Parsed::Kind(InstructionKind::Other { keyword: node.keyword.to_uppercase(), args: node.raw_args.clone() });
    let kind = match node.keyword.as_str() {
        "from" => {
            let name = stage_name(args)?;
            parse_flags(&node.flags, &[("platform", FlagKind::String)], false)?;
            let base = args.first().cloned().unwrap_or_default();
            return Ok(Parsed::From { name, base });
        }
        "run" => {
            // Kept open to flags newer than 20.10 (--device...); the known
            // ones are still checked.
            let known = [("mount", FlagKind::Strings), ("network", FlagKind::String), ("security", FlagKind::String)];
            parse_flags(&node.flags, &known, true)?;
            InstructionKind::Run { command: command(node), flags: node.flags.clone() }
        }
        "cmd" => {
            parse_flags(&node.flags, &[], false)?;
            InstructionKind::Cmd(command(node))
        }
        "entrypoint" => {
            parse_flags(&node.flags, &[], false)?;
            InstructionKind::Entrypoint(command(node))
        }
        "shell" => {
            parse_flags(&node.flags, &[], false)?;
            if args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".to_string());
            }
            InstructionKind::Shell(args.clone())
        }
        "copy" | "add" => {
            let is_add = node.keyword == "add";
            let name = if is_add { "ADD" } else { "COPY" };
            let Some((dest, sources)) = args.split_last().filter(|(_, s)| !s.is_empty()) else {
                return Err(format!(
                    "{name} requires at least two arguments, but only one was provided. \
                     Destination could not be determined."
                ));
            };
            let mut known = vec![("chown", FlagKind::String), ("chmod", FlagKind::String), ("link", FlagKind::Bool)];
            if is_add {
                known.extend([("checksum", FlagKind::String), ("keep-git-dir", FlagKind::Bool)]);
            } else {
                known.push(("from", FlagKind::String));
            }
            // Open to flags newer than the ones above (--parents, --exclude...).
            let values = parse_flags(&node.flags, &known, true)?;
            let value = |flag: &str| {
                values.iter().find(|(name, value)| *name == flag && !value.is_empty()).map(|(_, value)| value.clone())
            };
            InstructionKind::Copy {
                is_add,
                sources: sources.to_vec(),
                dest: dest.clone(),
                from: value("from"),
                chown: value("chown"),
                chmod: value("chmod"),
                flags: node.flags.clone(),
            }
        }
        "workdir" => {
            let path = exactly_one(args, "WORKDIR")?;
            parse_flags(&node.flags, &[], false)?;
            InstructionKind::Workdir(path)
        }
        "user" => {
            let user = exactly_one(args, "USER")?;
            parse_flags(&node.flags, &[], false)?;
            InstructionKind::User(user)
        }
        "env" => {
            parse_flags(&node.flags, &[], false)?;
            InstructionKind::Env(key_values(args, "ENV", escape)?)
        }
        "label" => {
            parse_flags(&node.flags, &[], false)?;
            InstructionKind::Label(key_values(args, "LABEL", escape)?)
        }
        "arg" => {
            // Docker 20.10 takes one name per ARG; later versions (and this
            // parser) accept several.
            if args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            let mut decls = Vec::with_capacity(args.len());
            for arg in args {
                let decl = match arg.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".to_string()),
                    Some((name, default)) => {
                        ArgDecl { name: unquote(name, escape)?, default: Some(unquote(default, escape)?) }
                    }
                    None => ArgDecl { name: unquote(arg, escape)?, default: None },
                };
                decls.push(decl);
            }
            InstructionKind::Arg(decls)
        }
        "expose" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            parse_flags(&node.flags, &[], false)?;
            InstructionKind::Expose(args.clone())
        }
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            parse_flags(&node.flags, &[], false)?;
            let mut volumes = Vec::with_capacity(args.len());
            for volume in args {
                let volume = volume.trim();
                if volume.is_empty() {
                    return Err("VOLUME specified can not be an empty string".to_string());
                }
                volumes.push(volume.to_string());
            }
            InstructionKind::Volume(volumes)
        }
        "maintainer" => {
            exactly_one(args, "MAINTAINER")?;
            parse_flags(&node.flags, &[], false)?;
            return Ok(other());
        }
        "stopsignal" => {
            // Docker does not look at STOPSIGNAL's flags.
            exactly_one(args, "STOPSIGNAL")?;
            return Ok(other());
        }
        "healthcheck" => {
            let Some(kind) = args.first() else {
                return Err(at_least_one("HEALTHCHECK"));
            };
            let kind = kind.to_uppercase();
            if kind == "NONE" {
                if args.len() != 1 {
                    return Err("HEALTHCHECK NONE takes no arguments".to_string());
                }
            } else {
                let known = [
                    ("interval", FlagKind::String),
                    ("timeout", FlagKind::String),
                    ("start-period", FlagKind::String),
                    ("start-interval", FlagKind::String),
                    ("retries", FlagKind::String),
                ];
                parse_flags(&node.flags, &known, false)?;
                if kind != "CMD" {
                    return Err(format!("Unknown type {kind:?} in HEALTHCHECK (try CMD)"));
                }
                if args.len() == 1 {
                    return Err("Missing command after HEALTHCHECK CMD".to_string());
                }
            }
            return Ok(other());
        }
        "onbuild" => {
            let Some(trigger) = args.first() else {
                return Err(at_least_one("ONBUILD"));
            };
            parse_flags(&node.flags, &[], false)?;
            let trigger = trigger.trim().to_uppercase();
            match trigger.as_str() {
                "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_string()),
                "MAINTAINER" | "FROM" => return Err(format!("{trigger} isn't allowed as an ONBUILD trigger")),
                _ => {}
            }
            return Ok(other());
        }
        _ => return Err(format!("unknown instruction: {}", node.keyword.to_uppercase())),
    };
    Ok(Parsed::Kind(kind))
}

fn at_least_one(command: &str) -> String {
    format!("{command} requires at least one argument")
}

fn exactly_one(args: &[String], command: &str) -> Result<String, String> {
    match args {
        [only] => Ok(only.clone()),
        _ => Err(format!("{command} requires exactly one argument")),
    }
}

/// `FROM image [AS name]`: the stage name, lowercased and validated.
fn stage_name(args: &[String]) -> Result<Option<String>, String> {
    match args {
        [_] => Ok(None),
        [_, as_keyword, name] if as_keyword.eq_ignore_ascii_case("as") => {
            let lowered = name.to_lowercase();
            let mut chars = lowered.chars();
            let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
            if !valid {
                return Err(format!(
                    "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                ));
            }
            Ok(Some(lowered))
        }
        _ => Err("FROM requires either one or three arguments".to_string()),
    }
}

fn command(node: &Node) -> Command {
    if node.json {
        Command::Exec(node.args.clone())
    } else {
        Command::Shell(node.args.join(" "))
    }
}

/// ENV/LABEL pairs from the flat list, with quotes removed from keys and values.
fn key_values(args: &[String], command: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    if args.is_empty() {
        return Err(at_least_one(command));
    }
    if !args.len().is_multiple_of(2) {
        return Err(format!("Bad input to {command}, too many arguments"));
    }
    let mut pairs = Vec::with_capacity(args.len() / 2);
    for pair in args.chunks_exact(2) {
        if let [key, value] = pair {
            if key.is_empty() {
                return Err(format!("{command} names can not be blank"));
            }
            pairs.push((unquote(key, escape)?, unquote(value, escape)?));
        }
    }
    Ok(pairs)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum FlagKind {
    Bool,
    String,
    /// may be repeated
    Strings,
}

/// Docker's `BFlags.Parse`: checks `flags` against the `known` ones and returns
/// their values. Unknown flags are an error unless `allow_unknown`.
fn parse_flags(
    flags: &[String],
    known: &[(&'static str, FlagKind)],
    allow_unknown: bool,
) -> Result<Vec<(&'static str, String)>, String> {
    let mut values: Vec<(&'static str, String)> = Vec::new();
    for flag in flags {
        let Some(body) = flag.strip_prefix("--") else {
            return Err(format!("Arguments should start with -- : {flag}"));
        };
        if body.is_empty() {
            break;
        }
        let (name, value) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value)),
            None => (body, None),
        };
        let Some(&(name, kind)) = known.iter().find(|(known, _)| *known == name) else {
            if allow_unknown {
                continue;
            }
            return Err(format!("unknown flag: {name}"));
        };
        if kind != FlagKind::Strings && values.iter().any(|(used, _)| *used == name) {
            return Err(format!("Duplicate flag specified: {name}"));
        }
        let value = match (kind, value) {
            (FlagKind::Bool, Some("")) | (FlagKind::String | FlagKind::Strings, None) => {
                return Err(format!("Missing a value on flag: {name}"));
            }
            (FlagKind::Bool, value) => match value.map(str::to_lowercase).as_deref() {
                None | Some("true") => "true".to_string(),
                Some("false") => "false".to_string(),
                Some(_) => {
                    return Err(format!("Expecting boolean value for flag {name}, not: {}", value.unwrap_or_default()))
                }
            },
            (_, Some(value)) => value.to_string(),
        };
        values.push((name, value));
    }
    Ok(values)
}

// ---------------------------------------------------------------------------
// Words: Docker's shell lexer (shell.Lex) for quotes, escapes and variables.

/// A word after lexing: literal characters and variable references.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(char),
    /// `$NAME`
    Var(String),
    /// `${NAME}`
    Braced(String),
    /// `${NAME:-word}` or `${NAME:+word}`
    Modified {
        name: String,
        op: char,
        word: Vec<Piece>,
    },
}

fn lex_word(word: &str, escape: char) -> Result<Vec<Piece>, String> {
    let mut lexer = WordLexer { chars: word.chars().collect(), pos: 0, escape, depth: 0 };
    lexer.until(None)
}

/// Removes quotes and needless escapes from an ENV/LABEL/ARG word, leaving
/// variable references for [`expand`] (`expand` of the result is what Docker
/// gets from the original).
fn unquote(word: &str, escape: char) -> Result<String, String> {
    lex_word(word, escape)
        .map(|pieces| render(&pieces, escape, false))
        .map_err(|error| format!("failed to process {word:?}: {error}"))
}

/// How deep `${A:-${B:-...}}` may nest. Docker has no limit, but no real
/// Dockerfile comes close, and a limit keeps hostile input from overflowing
/// the stack.
const MAX_NESTING: usize = 64;

struct WordLexer {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    /// current `${NAME:...}` nesting
    depth: usize,
}

impl WordLexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// `processStopOn`: lexes up to `stop` (consumed) or the end of the word.
    fn until(&mut self, stop: Option<char>) -> Result<Vec<Piece>, String> {
        let mut out = Vec::new();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok(out);
            }
            match ch {
                '\'' => self.single_quoted(&mut out)?,
                '"' => self.double_quoted(&mut out)?,
                '$' => out.push(self.dollar()?),
                _ => {
                    self.pos += 1;
                    if ch != self.escape {
                        out.push(Piece::Lit(ch));
                    } else if let Some(escaped) = self.next() {
                        out.push(Piece::Lit(escaped));
                    } else {
                        // An escape at the very end is dropped.
                        break;
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(format!("unexpected end of statement while looking for matching {stop}")),
            None => Ok(out),
        }
    }

    /// Everything up to the next `'` is literal; nothing can be escaped.
    fn single_quoted(&mut self, out: &mut Vec<Piece>) -> Result<(), String> {
        self.pos += 1;
        loop {
            match self.next() {
                None => return Err("unexpected end of statement while looking for matching single-quote".to_string()),
                Some('\'') => return Ok(()),
                Some(c) => out.push(Piece::Lit(c)),
            }
        }
    }

    /// Variables are expanded; the escape only escapes `"`, `$` and itself.
    fn double_quoted(&mut self, out: &mut Vec<Piece>) -> Result<(), String> {
        self.pos += 1;
        loop {
            match self.peek() {
                None => return Err("unexpected end of statement while looking for matching double-quote".to_string()),
                Some('"') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some('$') => out.push(self.dollar()?),
                Some(mut c) => {
                    self.pos += 1;
                    if c == self.escape {
                        match self.peek() {
                            // Dropped; the missing quote is reported next.
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                c = n;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(Piece::Lit(c));
                }
            }
        }
    }

    /// `$NAME`, `${NAME}`, `${NAME:-word}`, `${NAME:+word}`; a `$` that starts
    /// no name is literal.
    fn dollar(&mut self) -> Result<Piece, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            return Ok(if name.is_empty() { Piece::Lit('$') } else { Piece::Var(name) });
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.name();
        match self.next() {
            Some('}') => Ok(Piece::Braced(name)),
            Some(':') => {
                let op = self.next();
                if self.depth >= MAX_NESTING {
                    return Err("substitutions nested too deeply".to_string());
                }
                self.depth += 1;
                let word = self.until(Some('}'));
                self.depth -= 1;
                let word = match word {
                    Ok(word) => word,
                    Err(_) if self.peek().is_none() => return Err("syntax error: missing '}'".to_string()),
                    Err(error) => return Err(error),
                };
                match op {
                    Some(op @ ('-' | '+')) => Ok(Piece::Modified { name, op, word }),
                    Some(op) => Err(format!("unsupported modifier ({op}) in substitution")),
                    None => Err("syntax error: missing '}'".to_string()),
                }
            }
            _ => Err("missing ':' in substitution".to_string()),
        }
    }

    /// A variable name: letters, digits and `_`; or a run of digits; or one
    /// special parameter character.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(digit) = self.peek().filter(|c| c.is_numeric()) {
                    name.push(digit);
                    self.pos += 1;
                }
                return name;
            }
            if name.is_empty() && is_special_param(ch) {
                self.pos += 1;
                return ch.to_string();
            }
            if !is_name_char(ch) {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

fn is_name_char(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

/// The longest value an expansion yields. Without a bound, lines like `ENV A=$A$A` double a value
/// each time: three dozen exhaust any memory (docker build dies the same way). Linux passes no
/// argument or variable over 128 KiB to a process, so no working Dockerfile comes near this.
pub const MAX_EXPANSION: usize = 1 << 20;

fn evaluate(pieces: &[Piece], lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    for piece in pieces {
        if out.len() > MAX_EXPANSION {
            break;
        }
        match piece {
            Piece::Lit(c) => out.push(*c),
            Piece::Var(name) | Piece::Braced(name) => {
                out.push_str(&lookup(name).unwrap_or_default());
            }
            Piece::Modified { name, op, word } => {
                let value = lookup(name).unwrap_or_default();
                let use_word = if *op == '+' { !value.is_empty() } else { value.is_empty() };
                if use_word {
                    out.push_str(&evaluate(word, lookup));
                } else {
                    // For `:+` this is the empty value.
                    out.push_str(&value);
                }
            }
        }
    }
    if out.len() > MAX_EXPANSION {
        let mut cut = MAX_EXPANSION + 1;
        while !out.is_char_boundary(cut) {
            cut += 1;
        }
        out.truncate(cut);
    }
    out
}

/// Writes lexed pieces back as a word that lexes to the same pieces, escaping
/// only what would otherwise be read differently.
fn render(pieces: &[Piece], escape: char, in_braces: bool) -> String {
    let mut out = String::new();
    for (i, piece) in pieces.iter().enumerate() {
        let next = pieces.get(i + 1);
        match piece {
            Piece::Lit(c) => {
                let needs_escape = match *c {
                    '\'' | '"' => true,
                    // A bare `$` is literal unless a name or `{` follows it.
                    '$' => match next {
                        None => false,
                        Some(Piece::Lit(n)) => *n == '{' || is_name_char(*n) || is_special_param(*n),
                        Some(_) => true,
                    },
                    '}' => in_braces,
                    c => c == escape,
                };
                if needs_escape {
                    out.push(escape);
                }
                out.push(*c);
            }
            Piece::Var(name) => {
                // `$A` followed by a literal `B` must not read as `$AB`.
                if matches!(next, Some(Piece::Lit(n)) if is_name_char(*n)) {
                    out.push_str(&format!("${{{name}}}"));
                } else {
                    out.push('$');
                    out.push_str(name);
                }
            }
            Piece::Braced(name) => out.push_str(&format!("${{{name}}}")),
            Piece::Modified { name, op, word } => {
                out.push_str(&format!("${{{name}:{op}"));
                out.push_str(&render(word, escape, true));
                out.push('}');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn instructions(text: &str) -> Vec<Instruction> {
        let dockerfile = parse(text).expect("should parse");
        dockerfile.stages.into_iter().flat_map(|s| s.instructions).collect()
    }

    fn kinds(text: &str) -> Vec<InstructionKind> {
        instructions(text).into_iter().map(|i| i.kind).collect()
    }

    fn only_kind(text: &str) -> InstructionKind {
        let mut all = kinds(text);
        assert_eq!(all.len(), 1, "expected one instruction in {text:?}: {all:?}");
        all.remove(0)
    }

    fn error(text: &str) -> ParseError {
        parse(text).expect_err("should fail")
    }

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| map.get(name).cloned()
    }

    fn shell(s: &str) -> Command {
        Command::Shell(s.to_string())
    }

    fn exec(items: &[&str]) -> Command {
        Command::Exec(items.iter().map(|s| s.to_string()).collect())
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn run(command: Command) -> InstructionKind {
        InstructionKind::Run { command, flags: vec![] }
    }

    #[test]
    fn a_run_split_over_lines_is_one_shell_command() {
        let kind = only_kind("FROM alpine\nRUN apk add \\\n    curl \\\n    git\n");
        assert_eq!(kind, run(shell("apk add     curl     git")));
    }

    #[test]
    fn comments_and_blank_lines_inside_a_continuation_are_skipped() {
        let text = "FROM alpine\nRUN apt-get update && \\\n  # install tools\n\n   \n  apt-get install -y curl\nRUN echo done\n";
        let all = instructions(text);
        assert_eq!(all[0].kind, run(shell("apt-get update &&   apt-get install -y curl")));
        assert_eq!((all[0].line, all[0].end_line), (2, 6));
        assert_eq!((all[1].line, all[1].end_line), (7, 7));
    }

    #[test]
    fn line_numbers_count_physical_lines_after_continuations_and_comments() {
        let text =
            "# a comment\n\nFROM alpine AS base\nENV A=1 \\\n    B=2\n\n# another\nWORKDIR /app\nFROM base\nCOPY . .\n";
        let dockerfile = parse(text).expect("parses");
        assert_eq!(dockerfile.stages[0].line, 3);
        let env = &dockerfile.stages[0].instructions[0];
        assert_eq!((env.line, env.end_line), (4, 5));
        assert_eq!(dockerfile.stages[0].instructions[1].line, 8);
        assert_eq!(dockerfile.stages[1].line, 9);
        assert_eq!(dockerfile.stages[1].instructions[0].line, 10);
    }

    #[test]
    fn a_continuation_at_the_end_of_the_file_ends_the_instruction() {
        let all = instructions("FROM alpine\nRUN echo hi \\\n");
        assert_eq!(all[0].kind, run(shell("echo hi")));
        assert_eq!((all[0].line, all[0].end_line), (2, 2));
    }

    #[test]
    fn the_escape_directive_makes_backtick_the_continuation_character() {
        let text = "# escape=`\nFROM mcr.microsoft.com/windows/servercore\nCOPY C:\\src\\app C:\\app\\\nRUN dir `\n    C:\\app\n";
        let dockerfile = parse(text).expect("parses");
        assert_eq!(dockerfile.escape(), '`');
        let kinds: Vec<_> = dockerfile.stages[0].instructions.iter().map(|i| i.kind.clone()).collect();
        assert!(matches!(
            &kinds[0],
            InstructionKind::Copy { sources, dest, .. }
                if *sources == strings(&["C:\\src\\app"]) && dest == "C:\\app\\"
        ));
        assert_eq!(kinds[1], run(shell("dir     C:\\app")));
        assert_eq!(parse("FROM a\n").map(|d| d.escape()), Ok('\\'));
    }

    #[test]
    fn directives_count_only_at_the_top_of_the_file() {
        // syntax then escape, both honoured.
        let top = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM a\n").expect("parses");
        assert_eq!(top.escape(), '`');
        // After a blank line, a comment or an instruction it is a plain comment.
        for text in ["\n# escape=`\nFROM a\n", "# hello\n# escape=`\nFROM a\n", "FROM a\n# escape=`\n"] {
            assert_eq!(parse(text).map(|d| d.escape()), Ok('\\'), "{text:?}");
        }
        // Directive keys and surrounding blanks are lenient, as in Docker.
        assert_eq!(parse("#  ESCAPE = `  \nFROM a\n").map(|d| d.escape()), Ok('`'));
    }

    #[test]
    fn a_repeated_or_invalid_directive_is_an_error() {
        let repeated = error("# escape=`\n# escape=\\\nFROM a\n");
        assert_eq!(repeated.line, 2);
        assert_eq!(repeated.message, "only one escape parser directive can be used");
        let syntax = error("# syntax=a\n# syntax=b\nFROM a\n");
        assert_eq!(syntax.message, "only one syntax parser directive can be used");
        let invalid = error("# escape=x\nFROM a\n");
        assert_eq!(
            (invalid.line, invalid.to_string()),
            (1, "line 1: invalid escape token 'x' does not match ` or \\".to_string())
        );
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let dockerfile = parse("from alpine as Builder\nrun make\nCoPy a b\n").expect("parses");
        assert_eq!(dockerfile.stages[0].name.as_deref(), Some("builder"));
        let kinds: Vec<_> = dockerfile.stages[0].instructions.iter().map(|i| i.kind.clone()).collect();
        assert_eq!(kinds[0], run(shell("make")));
        assert!(matches!(kinds[1], InstructionKind::Copy { is_add: false, .. }));
    }

    #[test]
    fn run_cmd_and_entrypoint_accept_exec_and_shell_forms() {
        let text = "FROM a\nRUN [\"apt-get\", \"install\", \"-y\", \"a b\"]\nRUN echo \"$HOME\" && ls\nCMD [\"node\", \"server.js\"]\nCMD node server.js\nENTRYPOINT [\"/entry.sh\"]\nENTRYPOINT exec /entry.sh\nENTRYPOINT []\n";
        assert_eq!(
            kinds(text),
            vec![
                run(exec(&["apt-get", "install", "-y", "a b"])),
                run(shell("echo \"$HOME\" && ls")),
                InstructionKind::Cmd(exec(&["node", "server.js"])),
                InstructionKind::Cmd(shell("node server.js")),
                InstructionKind::Entrypoint(exec(&["/entry.sh"])),
                InstructionKind::Entrypoint(shell("exec /entry.sh")),
                InstructionKind::Entrypoint(exec(&[])),
            ]
        );
    }

    #[test]
    fn invalid_json_falls_back_to_shell_form() {
        assert_eq!(
            kinds("FROM a\nRUN [echo, hi]\nCMD ['single', 'quotes']\nRUN [\"unterminated\"\n"),
            vec![
                run(shell("[echo, hi]")),
                InstructionKind::Cmd(shell("['single', 'quotes']")),
                run(shell("[\"unterminated\"")),
            ]
        );
        // Like Go's json.Decoder, text after a complete array is ignored.
        assert_eq!(only_kind("FROM a\nCMD [\"a\"] trailing\n"), InstructionKind::Cmd(exec(&["a"])));
    }

    #[test]
    fn a_json_array_of_non_strings_is_an_error() {
        let e = error("FROM a\nCMD [\"sleep\", 10]\n");
        assert_eq!(e.line, 2);
        assert_eq!(e.message, "when using JSON array syntax, arrays must be comprised of strings only");
    }

    #[test]
    fn shell_must_be_a_json_array() {
        assert_eq!(
            only_kind("FROM a\nSHELL [\"/bin/bash\", \"-euo\", \"pipefail\", \"-c\"]\n"),
            InstructionKind::Shell(strings(&["/bin/bash", "-euo", "pipefail", "-c"]))
        );
        assert_eq!(error("FROM a\nSHELL /bin/bash -c\n").message, "SHELL requires the arguments to be in JSON form");
        assert_eq!(error("FROM a\nSHELL []\n").message, "SHELL requires at least one argument");
    }

    #[test]
    fn copy_in_json_form_keeps_spaces_in_paths() {
        assert_eq!(
            only_kind("FROM a\nCOPY [\"my file.txt\", \"other dir/\", \"/dest dir/\"]\n"),
            InstructionKind::Copy {
                is_add: false,
                sources: strings(&["my file.txt", "other dir/"]),
                dest: "/dest dir/".to_string(),
                from: None,
                chown: None,
                chmod: None,
                flags: vec![],
            }
        );
        // Shell form does not interpret quotes: the words stay raw.
        assert!(matches!(
            only_kind("FROM a\nCOPY \"a b\" c\n"),
            InstructionKind::Copy { sources, dest, .. }
                if sources == strings(&["\"a", "b\""]) && dest == "c"
        ));
    }

    #[test]
    fn copy_flags_are_parsed_and_kept_raw() {
        let kind =
            only_kind("FROM a\nCOPY --from=builder --chown=app:app --chmod=0755 --link /out/bin ./x /usr/local/bin/\n");
        assert_eq!(
            kind,
            InstructionKind::Copy {
                is_add: false,
                sources: strings(&["/out/bin", "./x"]),
                dest: "/usr/local/bin/".to_string(),
                from: Some("builder".to_string()),
                chown: Some("app:app".to_string()),
                chmod: Some("0755".to_string()),
                flags: strings(&["--from=builder", "--chown=app:app", "--chmod=0755", "--link"]),
            }
        );
    }

    #[test]
    fn add_is_a_copy_that_knows_it_is_an_add() {
        assert_eq!(
            only_kind("FROM a\nADD --chown=1000 https://example.com/x.tgz /opt/\n"),
            InstructionKind::Copy {
                is_add: true,
                sources: strings(&["https://example.com/x.tgz"]),
                dest: "/opt/".to_string(),
                from: None,
                chown: Some("1000".to_string()),
                chmod: None,
                flags: strings(&["--chown=1000"]),
            }
        );
    }

    #[test]
    fn bad_flags_are_errors_with_docker_messages() {
        assert_eq!(error("FROM a\nCOPY --from a b\n").message, "Missing a value on flag: from");
        assert_eq!(error("FROM a\nCOPY --from=x --from=y a b\n").message, "Duplicate flag specified: from");
        assert_eq!(
            error("FROM a\nCOPY --link=maybe a b\n").message,
            "Expecting boolean value for flag link, not: maybe"
        );
        assert_eq!(error("FROM a\nENV --x=1 A=1\n").message, "unknown flag: x");
        assert_eq!(error("FROM --foo a\n").message, "unknown flag: foo");
    }

    #[test]
    fn run_mount_flags_are_kept_raw_with_quotes_processed() {
        assert_eq!(
            only_kind(
                "FROM a\nRUN --mount=\"type=cache,target=/root/.cache\" --network=none pip install -r requirements.txt\n"
            ),
            InstructionKind::Run {
                command: shell("pip install -r requirements.txt"),
                flags: strings(&["--mount=type=cache,target=/root/.cache", "--network=none"]),
            }
        );
        // A flag-looking word after the command is part of the command.
        assert_eq!(only_kind("FROM a\nRUN ls --all\n"), run(shell("ls --all")));
    }

    #[test]
    fn from_takes_a_platform_and_a_lowercased_stage_name() {
        let dockerfile =
            parse("FROM --platform=$BUILDPLATFORM golang:1.22 AS Build-Env\nFROM build-env\n").expect("parses");
        let first = &dockerfile.stages[0];
        assert_eq!(first.base, "golang:1.22");
        assert_eq!(first.name.as_deref(), Some("build-env"));
        assert_eq!((first.index, first.line), (0, 1));
        assert_eq!(dockerfile.stages[1].name, None);
        assert_eq!(dockerfile.stages[1].base, "build-env");
    }

    #[test]
    fn malformed_from_lines_are_errors() {
        let empty = error("FROM\n");
        assert_eq!((empty.line, empty.message.as_str()), (1, "FROM requires either one or three arguments"));
        assert_eq!(error("FROM a b\n").message, "FROM requires either one or three arguments");
        assert_eq!(
            error("FROM a AS 1st\n").message,
            "invalid name for build stage: \"1st\", name can't start with a number or contain symbols"
        );
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
    fn env_in_key_value_form_removes_quotes_and_escapes() {
        assert_eq!(
            only_kind(
                "FROM a\nENV A=1 B=\"two words\" C=three\\ words D='single $quoted' E=\"say \\\"hi\\\"\" PATH=$PATH:/opt/bin\n"
            ),
            InstructionKind::Env(pairs(&[
                ("A", "1"),
                ("B", "two words"),
                ("C", "three words"),
                ("D", "single \\$quoted"),
                ("E", "say \\\"hi\\\""),
                ("PATH", "$PATH:/opt/bin"),
            ]))
        );
    }

    #[test]
    fn env_in_legacy_form_takes_the_rest_of_the_line() {
        assert_eq!(
            kinds("FROM a\nENV GREETING hello   \"big\" world\nENV EMPTY_LOOKING \"\"\n"),
            vec![
                InstructionKind::Env(pairs(&[("GREETING", "hello   big world")])),
                InstructionKind::Env(pairs(&[("EMPTY_LOOKING", "")])),
            ]
        );
        assert_eq!(error("FROM a\nENV ONLY\n").message, "ENV must have two arguments");
        assert_eq!(
            error("FROM a\nENV A=1 B\n").message,
            "Syntax error - can't find = in \"B\". Must be of the form: name=value"
        );
        assert_eq!(error("FROM a\nENV =x\n").message, "ENV names can not be blank");
    }

    #[test]
    fn unquoted_values_expand_exactly_like_the_raw_values_docker_sees() {
        // Whatever the quoting, expanding the stored value must give what Docker
        // gets by expanding the raw text.
        let raws = [
            "plain",
            "\"double $A quoted\"",
            "'single $A quoted'",
            "$A\"B\"",
            "\"$\"A",
            "'$'{A}",
            "a\\ b\\\\c",
            "${A:-'x y'}z",
            "${UNSET:-\"}\"}",
            "'$$'",
            "\"\\q\"",
        ];
        let lookup = env(&[("A", "va"), ("AB", "wrong"), ("$", "pid")]);
        for raw in raws {
            let stored = unquote(raw, '\\').expect("valid");
            assert_eq!(expand(&stored, '\\', &lookup), expand(raw, '\\', &lookup), "raw {raw:?} stored as {stored:?}");
        }
        assert_eq!(unquote("'unterminated", '\\').map_err(|e| e.contains("single-quote")), Err(true));
    }

    #[test]
    fn arg_declares_several_names_with_and_without_defaults() {
        assert_eq!(
            only_kind("FROM a\nARG VERSION=1.0 TARGETOS NAME=\"my app\" EMPTY=\n"),
            InstructionKind::Arg(vec![
                ArgDecl { name: "VERSION".to_string(), default: Some("1.0".to_string()) },
                ArgDecl { name: "TARGETOS".to_string(), default: None },
                ArgDecl { name: "NAME".to_string(), default: Some("my app".to_string()) },
                ArgDecl { name: "EMPTY".to_string(), default: Some(String::new()) },
            ])
        );
        assert_eq!(error("FROM a\nARG\n").message, "ARG requires at least one argument");
        assert_eq!(error("FROM a\nARG =1\n").message, "ARG names can not be blank");
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
    fn label_values_may_be_quoted_and_span_lines() {
        assert_eq!(
            only_kind(
                "FROM a\nLABEL org.opencontainers.image.title=\"My App\" \\\n      \"com.example.quoted key\"='v 1' version=2\n"
            ),
            InstructionKind::Label(pairs(&[
                ("org.opencontainers.image.title", "My App"),
                ("com.example.quoted key", "v 1"),
                ("version", "2"),
            ]))
        );
        assert_eq!(
            only_kind("FROM a\nLABEL description This is my app\n"),
            InstructionKind::Label(pairs(&[("description", "This is my app")]))
        );
    }

    #[test]
    fn copy_with_a_single_argument_is_an_error() {
        let e = error("FROM a\n\nCOPY onlyone\n");
        assert_eq!(e.line, 3);
        assert_eq!(
            e.to_string(),
            "line 3: COPY requires at least two arguments, but only one was provided. Destination could not be determined."
        );
        assert!(error("FROM a\nADD\n").message.starts_with("ADD requires at least two"));
    }

    #[test]
    fn instructions_missing_arguments_are_errors() {
        for (text, message) in [
            ("FROM a\nWORKDIR\n", "WORKDIR requires exactly one argument"),
            ("FROM a\nUSER\n", "USER requires exactly one argument"),
            ("FROM a\nENV\n", "ENV requires at least one argument"),
            ("FROM a\nLABEL\n", "LABEL requires at least one argument"),
            ("FROM a\nEXPOSE\n", "EXPOSE requires at least one argument"),
            ("FROM a\nVOLUME\n", "VOLUME requires at least one argument"),
            ("FROM a\nONBUILD\n", "ONBUILD requires at least one argument"),
            ("FROM a\nHEALTHCHECK\n", "HEALTHCHECK requires at least one argument"),
            ("FROM a\nHEALTHCHECK CMD\n", "Missing command after HEALTHCHECK CMD"),
            ("FROM a\nSTOPSIGNAL\n", "STOPSIGNAL requires exactly one argument"),
            ("FROM a\nMAINTAINER\n", "MAINTAINER requires exactly one argument"),
        ] {
            let e = error(text);
            assert_eq!((e.line, e.message.as_str()), (2, message), "{text:?}");
        }
    }

    #[test]
    fn an_unknown_instruction_is_an_error() {
        let e = error("FROM a\nRUN ok\nFOO bar\n");
        assert_eq!(e.to_string(), "line 3: unknown instruction: FOO");
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

    #[test]
    fn heredocs_are_ordinary_text_for_the_classic_builder() {
        assert_eq!(
            kinds("FROM a\nRUN cat <<EOF > /etc/motd\nCOPY <<EOF /x\n"),
            vec![
                run(shell("cat <<EOF > /etc/motd")),
                InstructionKind::Copy {
                    is_add: false,
                    sources: strings(&["<<EOF"]),
                    dest: "/x".to_string(),
                    from: None,
                    chown: None,
                    chmod: None,
                    flags: vec![],
                },
            ]
        );
        // The body is read as instructions.
        let e = error("FROM a\nRUN <<EOF\necho hello\nEOF\n");
        assert_eq!(e.to_string(), "line 3: unknown instruction: ECHO");
    }

    #[test]
    fn workdir_user_expose_and_volume_keep_their_raw_arguments() {
        assert_eq!(
            kinds("FROM a\nWORKDIR \"/my app\"\nUSER app:app\nEXPOSE 8080/tcp 443\nVOLUME [\"/data\", \"/logs\"]\nVOLUME /a /b\n"),
            vec![
                InstructionKind::Workdir("\"/my app\"".to_string()),
                InstructionKind::User("app:app".to_string()),
                InstructionKind::Expose(strings(&["8080/tcp", "443"])),
                InstructionKind::Volume(strings(&["/data", "/logs"])),
                InstructionKind::Volume(strings(&["/a", "/b"])),
            ]
        );
        assert_eq!(error("FROM a\nVOLUME [\" \"]\n").message, "VOLUME specified can not be an empty string");
    }

    #[test]
    fn other_instructions_keep_everything_after_the_keyword() {
        assert_eq!(
            kinds("FROM a\nHEALTHCHECK --interval=5s CMD curl -f http://localhost/\nonbuild RUN make\nSTOPSIGNAL SIGTERM\nMAINTAINER me <me@example.com>\n"),
            vec![
                InstructionKind::Other {
                    keyword: "HEALTHCHECK".to_string(),
                    args: "--interval=5s CMD curl -f http://localhost/".to_string()
                },
                InstructionKind::Other {
                    keyword: "ONBUILD".to_string(),
                    args: "RUN make".to_string()
                },
                InstructionKind::Other {
                    keyword: "STOPSIGNAL".to_string(),
                    args: "SIGTERM".to_string()
                },
                InstructionKind::Other {
                    keyword: "MAINTAINER".to_string(),
                    args: "me <me@example.com>".to_string()
                },
            ]
        );
        assert_eq!(error("FROM a\nONBUILD FROM b\n").message, "FROM isn't allowed as an ONBUILD trigger");
        assert_eq!(error("FROM a\nHEALTHCHECK PING x\n").message, "Unknown type \"PING\" in HEALTHCHECK (try CMD)");
    }

    #[test]
    fn windows_line_endings_and_a_byte_order_mark_are_ignored() {
        let dockerfile = parse("\u{feff}# escape=`\r\nFROM a\r\nRUN echo `\r\n  hi\r\n").expect("parses");
        assert_eq!(dockerfile.escape(), '`');
        assert_eq!(dockerfile.stages[0].instructions[0].kind, run(shell("echo   hi")));
    }

    #[test]
    fn expand_uses_defaults_for_unset_or_empty_variables() {
        let lookup = env(&[("HOME", "/home/me"), ("EMPTY", "")]);
        assert_eq!(expand("${HOME:-/root}/x", '\\', &lookup), "/home/me/x");
        assert_eq!(expand("${NOPE:-/root}/x", '\\', &lookup), "/root/x");
        assert_eq!(expand("${EMPTY:-/root}/x", '\\', &lookup), "/root/x");
        assert_eq!(expand("${NOPE:-$HOME/y}", '\\', &lookup), "/home/me/y");
    }

    #[test]
    fn expand_concatenates_adjacent_variables() {
        let lookup = env(&[("A", "foo"), ("B", "bar")]);
        assert_eq!(expand("$A$B", '\\', &lookup), "foobar");
        assert_eq!(expand("${A}_$B.txt", '\\', &lookup), "foo_bar.txt");
        assert_eq!(expand("$A_$B", '\\', &lookup), "bar", "A_ is one name");
    }

    #[test]
    fn expand_keeps_escaped_and_single_quoted_dollars_literal() {
        let lookup = env(&[("A", "foo")]);
        assert_eq!(expand("\\$A", '\\', &lookup), "$A");
        assert_eq!(expand("`$A", '`', &lookup), "$A");
        assert_eq!(expand("'$A'", '\\', &lookup), "$A");
        assert_eq!(expand("\"$A and \\$A\"", '\\', &lookup), "foo and $A");
        assert_eq!(expand("a\\ b", '\\', &lookup), "a b");
        assert_eq!(expand("C:\\dir", '`', &lookup), "C:\\dir");
        assert_eq!(expand("cost: $", '\\', &lookup), "cost: $");
    }

    #[test]
    fn expand_plus_gives_the_word_only_when_the_variable_is_set() {
        let lookup = env(&[("A", "1"), ("EMPTY", "")]);
        assert_eq!(expand("${A:+yes}", '\\', &lookup), "yes");
        assert_eq!(expand("${EMPTY:+yes}", '\\', &lookup), "");
        assert_eq!(expand("${NOPE:+yes}", '\\', &lookup), "");
    }

    #[test]
    fn expand_turns_unknown_variables_into_nothing() {
        let lookup = env(&[]);
        assert_eq!(expand("/opt/$NOPE/bin", '\\', &lookup), "/opt//bin");
        assert_eq!(expand("${NOPE}x", '\\', &lookup), "x");
        assert_eq!(expand("$1$@", '\\', &lookup), "");
    }

    #[test]
    fn hostile_nesting_is_refused_instead_of_overflowing_the_stack() {
        let deep = format!("{}x{}", "${A:-".repeat(10_000), "}".repeat(10_000));
        assert_eq!(expand(&deep, '\\', &env(&[])), deep);
        let shallow = format!("{}x{}", "${A:-".repeat(10), "}".repeat(10));
        assert_eq!(expand(&shallow, '\\', &env(&[])), "x");
        let onbuilds = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(100_000));
        assert_eq!(error(&onbuilds).message, "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    }

    #[test]
    fn expand_returns_what_docker_rejects_unchanged() {
        let lookup = env(&[("A", "1")]);
        for word in ["${A-default}", "${A", "${}", "\"open", "${A:?err}", "${A:-x"] {
            assert_eq!(expand(word, '\\', &lookup), word);
        }
    }
}
