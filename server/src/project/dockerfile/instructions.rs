//! Each instruction's meaning, as BuildKit's `instructions.ParseInstruction` checks it: the
//! number of arguments, the flags each keyword knows (`flags.rs`), and the typed
//! [`InstructionKind`] built from the node.

use super::flags::{self, parse_flags, FlagKind};
use super::heredoc::{self, parse_heredoc};
use super::mounts::parse_mounts;
use super::syntax_tree::Node;
use super::words::unquote;
use super::{ArgDecl, Command, Heredoc, InstructionKind};

/// An instruction, or a FROM that starts a stage.
pub(super) enum Parsed {
    From { name: Option<String>, base: String },
    Kind(InstructionKind),
}

pub(super) fn interpret(node: &Node, escape: char) -> Result<Parsed, String> {
    let args = &node.args;
    let other =
        || Parsed::Kind(InstructionKind::Other { keyword: node.keyword.to_uppercase(), args: node.raw_args.clone() });
    let kind = match node.keyword.as_str() {
        "from" => {
            let name = stage_name(args)?;
            parse_flags(&node.flags, &[("platform", FlagKind::String)])?;
            let base = args.first().cloned().unwrap_or_default();
            return Ok(Parsed::From { name, base });
        }
        "run" => {
            let known = [
                ("mount", FlagKind::Strings),
                ("network", FlagKind::String),
                ("security", FlagKind::String),
                ("device", FlagKind::Strings),
            ];
            let values = parse_flags(&node.flags, &known)?;
            let network = values.string("network").map(|n| flags::network(&n)).transpose()?;
            let security = values.string("security").map(|s| flags::security(&s)).transpose()?;
            let devices = values.strings("device").iter().map(|d| flags::device(d)).collect::<Result<_, _>>()?;
            let mounts = parse_mounts(&values.strings("mount"), escape)?;
            let command = match command(node) {
                Command::Shell(text) => heredoc::run_command(&text, &node.heredocs),
                other => other,
            };
            let heredocs = node.heredocs.iter().map(|(word, body)| heredoc::heredoc(word, body)).collect();
            InstructionKind::Run { command, flags: node.flags.clone(), mounts, network, security, devices, heredocs }
        }
        "cmd" => {
            parse_flags(&node.flags, &[])?;
            InstructionKind::Cmd(command(node))
        }
        "entrypoint" => {
            parse_flags(&node.flags, &[])?;
            InstructionKind::Entrypoint(command(node))
        }
        "shell" => {
            parse_flags(&node.flags, &[])?;
            if args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            if !node.json {
                return Err("SHELL requires the arguments to be in JSON form".to_string());
            }
            InstructionKind::Shell(args.clone())
        }
        "copy" | "add" => copy(node)?,
        "workdir" => {
            let path = exactly_one(args, "WORKDIR")?;
            parse_flags(&node.flags, &[])?;
            InstructionKind::Workdir(path)
        }
        "user" => {
            let user = exactly_one(args, "USER")?;
            parse_flags(&node.flags, &[])?;
            InstructionKind::User(user)
        }
        "env" => {
            parse_flags(&node.flags, &[])?;
            InstructionKind::Env(key_values(args, "ENV", escape)?)
        }
        "label" => {
            parse_flags(&node.flags, &[])?;
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
            parse_flags(&node.flags, &[])?;
            InstructionKind::Expose(args.clone())
        }
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            parse_flags(&node.flags, &[])?;
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
            parse_flags(&node.flags, &[])?;
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
                parse_flags(&node.flags, &known)?;
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
            parse_flags(&node.flags, &[])?;
            let trigger = trigger.trim().to_uppercase();
            match trigger.as_str() {
                "ONBUILD" => return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_string()),
                "MAINTAINER" | "FROM" => return Err(format!("{trigger} isn't allowed as an ONBUILD trigger")),
                _ => {}
            }
            // BuildKit keeps the trigger with its heredocs, to parse it again in the child image.
            let mut args = node.raw_args.clone();
            for (word, body) in &node.heredocs {
                args.push('\n');
                args.push_str(body);
                args.push_str(&word.name);
            }
            InstructionKind::Other { keyword: "ONBUILD".to_string(), args }
        }
        _ => return Err(format!("unknown instruction: {}", node.keyword.to_uppercase())),
    };
    Ok(Parsed::Kind(kind))
}

/// COPY and ADD: flags, sources (heredocs apart) and destination.
fn copy(node: &Node) -> Result<InstructionKind, String> {
    let is_add = node.keyword == "add";
    let name = if is_add { "ADD" } else { "COPY" };
    let Some((dest, sources)) = node.args.split_last().filter(|(_, s)| !s.is_empty()) else {
        return Err(format!(
            "{name} requires at least two arguments, but only one was provided. \
             Destination could not be determined."
        ));
    };
    let known: &[(&str, FlagKind)] = if is_add {
        &[
            ("chown", FlagKind::String),
            ("chmod", FlagKind::String),
            ("link", FlagKind::Bool),
            ("keep-git-dir", FlagKind::Bool),
            ("checksum", FlagKind::String),
            ("unpack", FlagKind::Bool),
            ("exclude", FlagKind::Strings),
        ]
    } else {
        &[
            ("chown", FlagKind::String),
            ("from", FlagKind::String),
            ("chmod", FlagKind::String),
            ("link", FlagKind::Bool),
            ("exclude", FlagKind::Strings),
            ("parents", FlagKind::Bool),
        ]
    };
    let values = parse_flags(&node.flags, known)?;
    if parse_heredoc(dest).ok().flatten().is_some() {
        return Err(format!("{name} cannot accept a heredoc as a destination"));
    }
    let mut paths = Vec::with_capacity(sources.len());
    let mut heredocs: Vec<Heredoc> = Vec::new();
    for source in sources {
        match parse_heredoc(source).ok().flatten() {
            Some(word) => {
                // The body of the last heredoc of that name on the line (none in JSON form).
                let body = node.heredocs.iter().rev().find(|(w, _)| w.name == word.name).map(|(_, b)| b.as_str());
                heredocs.push(heredoc::heredoc(&word, body.unwrap_or_default()));
            }
            None => paths.push(source.clone()),
        }
    }
    Ok(InstructionKind::Copy {
        is_add,
        sources: paths,
        dest: dest.clone(),
        from: values.string("from"),
        chown: values.string("chown"),
        chmod: values.string("chmod"),
        flags: node.flags.clone(),
        link: values.bool("link").unwrap_or(false),
        parents: values.bool("parents").unwrap_or(false),
        excludes: values.strings("exclude"),
        checksum: values.string("checksum"),
        keep_git_dir: values.bool("keep-git-dir"),
        unpack: values.bool("unpack"),
        heredocs,
    })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::dockerfile::tests::*;

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
                link: true,
                parents: false,
                excludes: vec![],
                checksum: None,
                keep_git_dir: None,
                unpack: None,
                heredocs: vec![],
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
                link: false,
                parents: false,
                excludes: vec![],
                checksum: None,
                keep_git_dir: None,
                unpack: None,
                heredocs: vec![],
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
}
