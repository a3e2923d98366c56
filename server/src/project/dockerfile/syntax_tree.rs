//! One instruction's parse-tree node, as Docker's `newNodeFromLine` builds it: the keyword, the
//! leading `--flags`, and the arguments split the way that keyword wants them (a JSON array,
//! whitespace-separated words, `name=value` pairs, or the whole text), and whether heredocs
//! may follow it.

use super::heredoc::HeredocWord;

/// Docker's parse-tree node for one instruction, arguments flattened as in
/// `instructions.nodeArgs`.
pub(super) struct Node {
    /// lowercased
    pub(super) keyword: String,
    /// everything after the keyword, trimmed
    pub(super) raw_args: String,
    pub(super) flags: Vec<String>,
    pub(super) args: Vec<String>,
    /// the arguments were a JSON array
    pub(super) json: bool,
    /// RUN, COPY and ADD (also as an ONBUILD trigger) in shell form: BuildKit reads heredocs
    pub(super) takes_heredocs: bool,
    /// the heredocs after the line, with their bodies as read (filled by the caller)
    pub(super) heredocs: Vec<(HeredocWord, String)>,
}

const NOT_STRING_ARRAY: &str = "when using JSON array syntax, arrays must be comprised of strings only";

pub(super) fn parse_node(text: &str, escape: char) -> Result<Node, String> {
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
    let (rest, flags) = extract_builder_flags(after, escape);
    let rest = rest.trim();
    let keyword = keyword.to_lowercase();

    let mut json = false;
    let mut trigger_takes_heredocs = false;
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
                trigger_takes_heredocs = trigger.takes_heredocs;
                let mut args = vec![trigger.keyword];
                args.extend(trigger.args);
                args
            }
        }
        _ => Vec::new(),
    };

    let takes_heredocs = trigger_takes_heredocs || (matches!(keyword.as_str(), "run" | "copy" | "add") && !json);
    Ok(Node { keyword, raw_args: after.trim().to_string(), flags, args, json, takes_heredocs, heredocs: Vec::new() })
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
/// The escape is the file's (the 20.10 parser hard-coded `\` here; BuildKit no longer does).
fn extract_builder_flags(line: &str, escape: char) -> (&str, Vec<String>) {
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
                } else if ch == escape {
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
                } else if ch == escape {
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

#[cfg(test)]
mod tests {
    use crate::project::dockerfile::tests::*;

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
    fn copy_in_json_form_keeps_spaces_in_paths() {
        assert_eq!(
            only_kind("FROM a\nCOPY [\"my file.txt\", \"other dir/\", \"/dest dir/\"]\n"),
            copy(false, &["my file.txt", "other dir/"], "/dest dir/")
        );
        // Shell form does not interpret quotes: the words stay raw.
        assert!(matches!(
            only_kind("FROM a\nCOPY \"a b\" c\n"),
            InstructionKind::Copy { sources, dest, .. }
                if sources == strings(&["\"a", "b\""]) && dest == "c"
        ));
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
                mounts: vec![Mount {
                    kind: MountKind::Cache,
                    target: Some("/root/.cache".to_string()),
                    id: Some("/root/.cache".to_string()),
                    read_only: false,
                    spec: "type=cache,target=/root/.cache".to_string(),
                    ..Mount::bind()
                }],
                network: Some(Network::None),
                security: None,
                devices: vec![],
                heredocs: vec![],
            }
        );
        // The flags' escape is the file's: with a backtick, a backslash is a backslash.
        let windows = parse("# escape=`\nFROM a\nCOPY --chown=\"a`\"b\" C:\\src C:\\app\\\n").expect("parses");
        assert!(matches!(&windows.stages[0].instructions[0].kind,
            InstructionKind::Copy { chown: Some(chown), .. } if chown == "a\"b"));
        let mounts = only_run("# escape=`\nFROM a\nRUN --mount=type=bind,source=C:\\src,target=C:\\app dir\n").1;
        assert_eq!(mounts[0].source.as_deref(), Some("C:\\src"));
        // A flag-looking word after the command is part of the command.
        assert_eq!(only_kind("FROM a\nRUN ls --all\n"), run(shell("ls --all")));
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
    fn heredoc_bodies_are_not_instructions() {
        // The classic builder read `RUN <<EOF`'s body as instructions ("unknown instruction:
        // ECHO"); BuildKit reads it as the heredoc's body.
        let all = instructions("FROM a\nRUN <<EOF\necho hello\nEOF\nCOPY <<EOF /x\nFROM b\nEOF\n");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].kind.keyword(), "RUN");
        assert!(matches!(&all[1].kind, InstructionKind::Copy { sources, heredocs, .. }
            if sources.is_empty() && heredocs[0].content == "FROM b\n"));
    }
}
