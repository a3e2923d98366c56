#![no_main]
//! Dockerfile text, and Docker's `$VAR` expansion of every word it holds.
//!
//! An error names a line of the file; a parsed file has stages in order, each instruction within
//! the file and after its stage's FROM (heredoc bodies included); `target_stage` finds every
//! named stage; every construct and directive is on a line of the file; expansion never fails,
//! and leaves a word without `$`, quotes or the escape character as it is; mounts and heredocs
//! expand without panicking.

use docker_rebuilder::project::dockerfile::{self, Command, InstructionKind, SourceKind};
use libfuzzer_sys::fuzz_target;

fn lookup(name: &str) -> Option<String> {
    match name.len() % 3 {
        0 => None,
        1 => Some(String::new()),
        _ => Some(format!("<{name}>")),
    }
}

fn check_expand(word: &str, escape: char) {
    let expanded = dockerfile::expand(word, escape, &lookup);
    if !word.contains(['$', '\'', '"', escape]) {
        assert_eq!(expanded, word, "nothing to expand");
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // Go's bufio.ScanLines: no empty line after a final newline.
    let lines = text.split('\n').count() - usize::from(text.ends_with('\n'));
    let parsed = match dockerfile::parse(&text) {
        Ok(parsed) => parsed,
        Err(e) => {
            assert!((1..=lines.max(1)).contains(&e.line), "line {} of {lines}: {e}", e.line);
            return;
        }
    };
    assert!(!parsed.stages.is_empty());
    let escape = parsed.escape();
    assert!(escape == '\\' || escape == '`');
    let mut previous_end = 0;
    for arg in &parsed.global_args {
        arg.default.iter().for_each(|d| check_expand(d, escape));
    }
    for (i, stage) in parsed.stages.iter().enumerate() {
        assert_eq!(stage.index, i);
        assert!(stage.line > previous_end && stage.line <= lines, "FROM at line {} of {lines}", stage.line);
        previous_end = stage.line;
        check_expand(&stage.base, escape);
        if let Some(name) = &stage.name {
            let found = parsed.target_stage(Some(name)).expect("a named stage is a target");
            assert!(found.index <= i, "the first stage of that name wins");
        }
        for instruction in &stage.instructions {
            assert!(instruction.line > previous_end, "instructions in order");
            assert!(instruction.line <= instruction.end_line && instruction.end_line <= lines);
            previous_end = instruction.end_line;
            let mut words: Vec<&str> = Vec::new();
            match &instruction.kind {
                InstructionKind::Run { command, flags, mounts, heredocs, .. } => {
                    words.extend(flags.iter().map(String::as_str));
                    match command {
                        Command::Exec(argv) => words.extend(argv.iter().map(String::as_str)),
                        Command::Script { name, content } => {
                            assert!(content.starts_with("#!"));
                            assert_eq!(Some(name), heredocs.first().map(|h| &h.name));
                        }
                        Command::Shell(_) => {}
                    }
                    for mount in mounts {
                        let strings = [&mount.target, &mount.source, &mount.from, &mount.id, &mount.env];
                        words.extend(strings.into_iter().flatten().map(String::as_str));
                        let _ = mount.expand(escape, &lookup);
                    }
                    for heredoc in heredocs {
                        let _ = heredoc.expanded(&lookup);
                    }
                }
                InstructionKind::Copy { sources, dest, from, chown, chmod, flags, excludes, heredocs, .. } => {
                    assert!(!sources.is_empty() || !heredocs.is_empty(), "COPY needs a source");
                    words.extend(sources.iter().map(String::as_str));
                    words.push(dest);
                    words.extend([from, chown, chmod].into_iter().flatten().map(String::as_str));
                    words.extend(flags.iter().chain(excludes).map(String::as_str));
                    for source in sources {
                        let _ = SourceKind::of(source);
                    }
                    for heredoc in heredocs {
                        let _ = heredoc.expanded(&lookup);
                    }
                }
                InstructionKind::Workdir(w) | InstructionKind::User(w) => words.push(w),
                InstructionKind::Env(pairs) | InstructionKind::Label(pairs) => {
                    for (k, v) in pairs {
                        words.extend([k.as_str(), v.as_str()]);
                    }
                }
                InstructionKind::Arg(decls) => {
                    for decl in decls {
                        words.extend(decl.default.as_deref());
                    }
                }
                InstructionKind::Expose(ws) | InstructionKind::Volume(ws) | InstructionKind::Shell(ws) => {
                    words.extend(ws.iter().map(String::as_str))
                }
                InstructionKind::Cmd(_) | InstructionKind::Entrypoint(_) => {}
                InstructionKind::Other { keyword, args } => {
                    assert_eq!(keyword, &keyword.to_uppercase());
                    words.push(args);
                }
            }
            words.into_iter().for_each(|w| check_expand(w, escape));
        }
    }
    for construct in parsed.constructs() {
        assert!((1..=lines).contains(&construct.line), "{construct:?} of {lines} lines");
        assert!(!construct.kind.id().is_empty() && !construct.kind.name().is_empty());
    }
    if let Some(check) = &parsed.check {
        let _ = check.options();
    }
    assert_eq!(parsed.target_stage(None), parsed.stages.last());
    assert_eq!(parsed.target_stage(Some("")), parsed.stages.last());
});
