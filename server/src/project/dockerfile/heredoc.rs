//! Heredocs (`<<EOF` … `EOF`) as BuildKit's parser finds them on RUN, COPY and ADD lines
//! (`heredocsFromLine`, `ParseHeredoc`), and what a RUN with heredocs runs (`dispatchRun`).

use super::{Command, Heredoc};

/// A heredoc word on an instruction line: `<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`, `<< EOF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct HeredocWord {
    /// quotes removed
    pub(super) name: String,
    /// no part of the word was quoted
    pub(super) expand: bool,
    /// `<<-`
    pub(super) strip_tabs: bool,
}

/// The heredocs on an instruction line, in order. Like BuildKit, a line the shell lexer cannot
/// split (an unterminated quote, `${`…) has none.
pub(super) fn heredocs_in_line(line: &str) -> Result<Vec<HeredocWord>, String> {
    let mut lexer = RawLexer::new(line, true, true);
    let Ok(words) = lexer.words() else {
        return Ok(Vec::new());
    };
    let mut found = Vec::new();
    for word in words {
        if let Some(heredoc) = parse_heredoc(&word)? {
            found.push(heredoc);
        }
    }
    Ok(found)
}

/// BuildKit's `ParseHeredoc`: `word` (all of it) as a heredoc, matching
/// `^(\d*)<<(-?)\s*([^<]*)$`, its name a single shell word.
pub(super) fn parse_heredoc(word: &str) -> Result<Option<HeredocWord>, String> {
    let is_space = |c: char| matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ');
    let Some(after) = word.trim_start_matches(|c: char| c.is_ascii_digit()).strip_prefix("<<") else {
        return Ok(None);
    };
    let (strip_tabs, after) = match after.strip_prefix('-') {
        Some(after) => (true, after),
        None => (false, after),
    };
    let rest = after.trim_start_matches(is_space);
    if rest.is_empty() || rest.contains('<') {
        return Ok(None);
    }
    let failed = |e: String| format!("failed to process {rest:?}: {e}");
    let words = RawLexer::new(rest, false, false).words().map_err(failed)?;
    let [name] = words.as_slice() else {
        return Ok(None);
    };
    let raw_words = RawLexer::new(rest, true, false).words().map_err(failed)?;
    if raw_words.len() != words.len() {
        return Err(format!("internal lexing of heredoc produced inconsistent results: {rest}"));
    }
    let quotes = |s: &str| s.chars().filter(|c| matches!(c, '\'' | '"')).count();
    // A quote that the unquoted reading removed means part of the word was quoted.
    let expand = quotes(&raw_words[0]) == quotes(name);
    Ok(Some(HeredocWord { name: name.clone(), expand, strip_tabs }))
}

/// BuildKit's `ChompHeredocContent`: leading tabs off every line.
pub(super) fn strip_leading_tabs(content: &str) -> String {
    content.split_inclusive('\n').map(|line| line.trim_start_matches('\t')).collect()
}

/// What a shell-form RUN with heredocs runs. `text` is the command as written on the line and
/// `bodies` every heredoc's word and body as read (tabs not stripped).
///
/// A command that is only a heredoc (`RUN <<EOF`) runs its body: through the shell, or as a
/// file of its own when it starts with `#!`. Otherwise the shell gets the command followed by
/// each body and terminator, so the shell's own heredoc syntax reads them.
pub(super) fn run_command(text: &str, bodies: &[(HeredocWord, String)]) -> Command {
    let Some((first, body)) = bodies.first() else {
        return Command::Shell(text.to_string());
    };
    if parse_heredoc(text).ok().flatten().is_some() {
        let content = if first.strip_tabs { strip_leading_tabs(body) } else { body.clone() };
        if content.starts_with("#!") {
            return Command::Script { name: first.name.clone(), content };
        }
        return Command::Shell(content);
    }
    let mut script = text.to_string();
    for (word, body) in bodies {
        script.push('\n');
        script.push_str(body);
        script.push_str(&word.name);
    }
    Command::Shell(script)
}

/// The heredoc as the instruction uses it.
pub(super) fn heredoc(word: &HeredocWord, body: &str) -> Heredoc {
    Heredoc {
        name: word.name.clone(),
        content: if word.strip_tabs { strip_leading_tabs(body) } else { body.to_string() },
        expand: word.expand,
        strip_tabs: word.strip_tabs,
    }
}

/// BuildKit's shell lexer (`shell.Lex.ProcessWords`) as the heredoc search runs it: the escape is
/// `\`, no variable is set and unset ones are kept as written, and quotes and escapes are kept
/// (`raw_quotes`, `raw_escapes`) or removed.
struct RawLexer {
    chars: Vec<char>,
    pos: usize,
    raw_quotes: bool,
    raw_escapes: bool,
    /// The word being built. BuildKit shares it between a word and the `${…}` words nested in
    /// it, and each nested word starts by clearing it; kept so, as the words depend on it.
    buf: String,
}

/// The words of one `processStopOn`.
#[derive(Default)]
struct Words {
    words: Vec<String>,
    in_word: bool,
}

/// Deep enough for any real line; a limit keeps hostile input from overflowing the stack.
const MAX_NESTING: usize = 64;

impl RawLexer {
    fn new(text: &str, raw_quotes: bool, raw_escapes: bool) -> Self {
        RawLexer { chars: text.chars().collect(), pos: 0, raw_quotes, raw_escapes, buf: String::new() }
    }

    fn words(&mut self) -> Result<Vec<String>, String> {
        self.stop_on(None, self.raw_escapes, 0).map(|(_, words)| words)
    }

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

    fn add_char(&mut self, words: &mut Words, ch: char) {
        if ch.is_whitespace() {
            if words.in_word && !self.buf.is_empty() {
                words.words.push(std::mem::take(&mut self.buf));
                words.in_word = false;
            }
        } else {
            self.buf.push(ch);
            words.in_word = true;
        }
    }

    fn add_raw(&mut self, words: &mut Words, s: &str) {
        self.buf.push_str(s);
        words.in_word = true;
    }

    /// `processStopOn`: the text up to `stop` (consumed) or the end, and its words.
    fn stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
        depth: usize,
    ) -> Result<(String, Vec<String>), String> {
        if depth > MAX_NESTING {
            return Err("substitutions nested too deeply".to_string());
        }
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.stop_on_inner(stop, depth);
        self.raw_escapes = saved;
        result
    }

    fn stop_on_inner(&mut self, stop: Option<char>, depth: usize) -> Result<(String, Vec<String>), String> {
        let mut result = String::new();
        self.buf.clear();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.pos += 1;
                return Ok((result, self.finish(words)));
            }
            match ch {
                '$' => {
                    let text = self.dollar(depth)?;
                    result.push_str(&text);
                    text.chars().for_each(|c| self.add_char(&mut words, c));
                }
                '<' => {
                    let text = self.possible_heredoc();
                    result.push_str(&text);
                    self.add_raw(&mut words, &text);
                }
                '\'' | '"' => {
                    let text = if ch == '\'' { self.single_quoted()? } else { self.double_quoted(depth)? };
                    result.push_str(&text);
                    self.add_raw(&mut words, &text);
                }
                _ => {
                    self.pos += 1;
                    if ch == '\\' {
                        if self.raw_escapes {
                            self.add_raw(&mut words, "\\");
                            result.push('\\');
                        }
                        let Some(escaped) = self.next() else { break };
                        self.add_raw(&mut words, &escaped.to_string());
                        result.push(escaped);
                    } else {
                        self.add_char(&mut words, ch);
                        result.push(ch);
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(format!("unexpected end of statement while looking for matching {stop}")),
            None => Ok((result, self.finish(words))),
        }
    }

    fn finish(&mut self, mut words: Words) -> Vec<String> {
        if !self.buf.is_empty() {
            words.words.push(std::mem::take(&mut self.buf));
        }
        words.words
    }

    fn single_quoted(&mut self) -> Result<String, String> {
        let mut out = String::new();
        self.pos += 1;
        if self.raw_quotes {
            out.push('\'');
        }
        loop {
            match self.next() {
                None => return Err("unexpected end of statement while looking for matching single-quote".to_string()),
                Some('\'') => {
                    if self.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self, depth: usize) -> Result<String, String> {
        let mut out = String::new();
        self.pos += 1;
        if self.raw_quotes {
            out.push('"');
        }
        loop {
            match self.peek() {
                None => return Err("unexpected end of statement while looking for matching double-quote".to_string()),
                Some('"') => {
                    self.pos += 1;
                    if self.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar(depth)?),
                Some(mut c) => {
                    self.pos += 1;
                    if c == '\\' {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some(n @ ('"' | '$' | '\\')) => {
                                self.pos += 1;
                                c = n;
                            }
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// `processDollar` with no variable set: the reference as written, or BuildKit's error.
    fn dollar(&mut self, depth: usize) -> Result<String, String> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            return Ok(format!("${name}"));
        }
        self.pos += 1;
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.name();
        // An error at the end of the text is a missing closing character.
        let missing = |lexer: &Self, error: String, message: &str| {
            if lexer.peek().is_none() {
                message.to_string()
            } else {
                error
            }
        };
        const NO_BRACE: &str = "syntax error: missing '}'";
        match self.next() {
            Some('}') => Ok(format!("${{{name}}}")),
            Some(':') => {
                let op = self.next();
                let modifier = format!(":{}", op.map(String::from).unwrap_or_default());
                if matches!(op, Some('#' | '%')) {
                    return Err(format!("unsupported modifier ({modifier}) in substitution"));
                }
                let (word, _) = self.stop_on(Some('}'), false, depth + 1).map_err(|e| missing(self, e, NO_BRACE))?;
                Ok(format!("${{{name}{modifier}{word}}}"))
            }
            Some(op @ ('+' | '-' | '?' | '#' | '%')) => {
                let raw = op == '#' || op == '%';
                let (word, _) = self.stop_on(Some('}'), raw, depth + 1).map_err(|e| missing(self, e, NO_BRACE))?;
                Ok(format!("${{{name}{op}{word}}}"))
            }
            Some('/') => {
                if self.peek() == Some('/') {
                    self.pos += 1;
                }
                let (pattern, _) = self
                    .stop_on(Some('/'), true, depth + 1)
                    .map_err(|e| missing(self, e, "syntax error: missing '/' in ${}"))?;
                let (replacement, _) =
                    self.stop_on(Some('}'), true, depth + 1).map_err(|e| missing(self, e, NO_BRACE))?;
                Ok(format!("${{{name}/{pattern}/{replacement}}}"))
            }
            other => {
                Err(format!("unsupported modifier ({}) in substitution", other.map(String::from).unwrap_or_default()))
            }
        }
    }

    /// `processPossibleHeredoc`: `<<` takes the blanks after it into its word.
    fn possible_heredoc(&mut self) -> String {
        self.pos += 1;
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.pos += 1;
        let mut out = "<<".to_string();
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            out.push(c);
            self.pos += 1;
        }
        out
    }

    /// A variable name: letters, digits and `_`; or a run of digits; or one special parameter.
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
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.pos += 1;
                return ch.to_string();
            }
            if !(ch == '_' || ch.is_alphabetic() || ch.is_numeric()) {
                break;
            }
            name.push(ch);
            self.pos += 1;
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::dockerfile::tests::*;

    /// (name, content, expand, strip_tabs) of each heredoc of an instruction.
    fn docs(kind: &InstructionKind) -> Vec<(String, String, bool, bool)> {
        let heredocs = match kind {
            InstructionKind::Run { heredocs, .. } | InstructionKind::Copy { heredocs, .. } => heredocs.clone(),
            _ => vec![],
        };
        heredocs.into_iter().map(|h| (h.name, h.content, h.expand, h.strip_tabs)).collect()
    }

    fn doc(name: &str, content: &str, expand: bool, strip_tabs: bool) -> (String, String, bool, bool) {
        (name.to_string(), content.to_string(), expand, strip_tabs)
    }

    #[test]
    fn heredocs_are_read_as_buildkit_reads_them() {
        // BuildKit's TestParseExtractsHeredoc, instruction by instruction.
        let text = "FROM alpine:3.6\n\nENV NAME=me\n\nRUN ls\n\nRUN <<EMPTY\nEMPTY\n\nRUN 3<<EMPTY2\nEMPTY2\n\n\
            RUN \"<<NOHEREDOC\"\n\nRUN <<INDENT\n\tfoo\n\tbar\nINDENT\n\nRUN <<-UNINDENT\n\tbaz\n\tquux\nUNINDENT\n\n\
            RUN <<-UNINDENT2\n\tbaz\n\tquux\n\tUNINDENT2\n\nRUN <<-EXPAND\n\texpand $NAME\nEXPAND\n\n\
            RUN <<-'NOEXPAND'\n\tdon't expand $NAME\nNOEXPAND\n\nRUN <<COPY\necho hello world\necho foo bar\nCOPY\n\n\
            RUN <<COMMENT\n# internal comment\necho hello world\necho foo bar # trailing comment\nCOMMENT\n\n\
            RUN --mount=type=cache,target=/foo <<MOUNT\necho hello\nMOUNT\n\n\
            COPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n\n\
            COPY <<EOF /quotes\n\"foo\"\n'bar'\nEOF\n\nCOPY <<X <<Y /dest\nY\nX\nX\nY\n\n\
            RUN <<COMPLEX python3\nprint('hello world')\nCOMPLEX\n\nCOPY <<file.txt /dest\nhello world\nfile.txt\n\n\
            RUN <<eo'f'\necho foo\neof\n\nRUN <<eo\\'f\necho foo\neo'f\n\nRUN <<'e'o\\'f\necho foo\neo'f\n\n\
            RUN <<'one two'\necho bar\none two\n\nRUN <<$EOF\n$EOF\n\nRUN <<  EOF\nEOF\n\nRUN <<  EOF  > foo\nEOF\n";
        let all = kinds(text);
        let expected = vec![
            vec![],
            vec![],
            vec![doc("EMPTY", "", true, false)],
            vec![doc("EMPTY2", "", true, false)],
            vec![],
            vec![doc("INDENT", "\tfoo\n\tbar\n", true, false)],
            vec![doc("UNINDENT", "baz\nquux\n", true, true)],
            vec![doc("UNINDENT2", "baz\nquux\n", true, true)],
            vec![doc("EXPAND", "expand $NAME\n", true, true)],
            vec![doc("NOEXPAND", "don't expand $NAME\n", false, true)],
            vec![doc("COPY", "echo hello world\necho foo bar\n", true, false)],
            vec![doc(
                "COMMENT",
                "# internal comment\necho hello world\necho foo bar # trailing comment\n",
                true,
                false,
            )],
            vec![doc("MOUNT", "echo hello\n", true, false)],
            vec![doc("FILE1", "content 1\n", true, false), doc("FILE2", "content 2\n", true, false)],
            vec![doc("EOF", "\"foo\"\n'bar'\n", true, false)],
            vec![doc("X", "Y\n", true, false), doc("Y", "X\n", true, false)],
            vec![doc("COMPLEX", "print('hello world')\n", true, false)],
            vec![doc("file.txt", "hello world\n", true, false)],
            vec![doc("eof", "echo foo\n", false, false)],
            vec![doc("eo'f", "echo foo\n", true, false)],
            vec![doc("eo'f", "echo foo\n", false, false)],
            vec![doc("one two", "echo bar\n", false, false)],
            vec![doc("$EOF", "", true, false)],
            vec![doc("EOF", "", true, false)],
            vec![doc("EOF", "", true, false)],
        ];
        assert_eq!(all.len(), expected.len());
        for (i, (kind, expected)) in all.iter().zip(expected).enumerate() {
            assert_eq!(docs(kind), expected, "instruction {i}: {kind:?}");
        }
    }

    #[test]
    fn heredoc_words_follow_buildkit() {
        let name = |src: &str| parse_heredoc(src).map(|h| h.map(|h| h.name));
        for valid in
            ["<<EOF", "<<'EOF'", "<<\"EOF\"", "<<-EOF", "<<-'EOF'", "<<-\"EOF\"", "<<EO\"F\"", "<< EOF", "<<- EOF"]
        {
            assert_eq!(name(valid), Ok(Some("EOF".to_string())), "{valid}");
        }
        for invalid in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(name(invalid).is_err(), "{invalid}");
        }
        for not_heredoc in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"] {
            assert_eq!(name(not_heredoc), Ok(None), "{not_heredoc}");
        }
        let names = |line: &str| heredocs_in_line(line).unwrap().into_iter().map(|h| h.name).collect::<Vec<_>>();
        assert_eq!(names("RUN <<EOF <<EOF2"), strings(&["EOF", "EOF2"]));
        assert_eq!(names("RUN << -EOF"), strings(&["-EOF"]));
        assert_eq!(names("RUN 4<<EOF"), strings(&["EOF"]));
        // `<<-` then a blank is two words for BuildKit's lexer, so no heredoc.
        assert_eq!(names("RUN <<- EOF"), strings(&[]));
        assert_eq!(names("RUN '<<EOF'"), strings(&[]));
        assert_eq!(names("RUN \"<<EOF\""), strings(&[]));
        assert_eq!(names("RUN cat<<EOF"), strings(&[]));
        // A line the lexer cannot split has none.
        assert_eq!(names("RUN echo it's <<EOF"), strings(&[]));
        assert_eq!(names("RUN echo ${HOME <<EOF"), strings(&[]));
    }

    #[test]
    fn a_lone_heredoc_is_the_script_and_a_shebang_makes_it_a_file() {
        // Docker docs, "Here-Documents".
        let (command, _) = only_run("FROM debian\nRUN <<EOF\napt-get update\napt-get install -y curl\nEOF\n");
        assert_eq!(command, shell("apt-get update\napt-get install -y curl\n"));
        let (command, _) = only_run("FROM python:3.6\nRUN <<EOT\n#!/usr/bin/env python\nprint(\"hello world\")\nEOT\n");
        assert_eq!(
            command,
            Command::Script {
                name: "EOT".to_string(),
                content: "#!/usr/bin/env python\nprint(\"hello world\")\n".to_string()
            }
        );
        let (command, _) = only_run("FROM a\nRUN <<-EOF\n\techo test\nEOF\n");
        assert_eq!(command, shell("echo test\n"));
    }

    #[test]
    fn otherwise_the_shell_gets_the_command_the_bodies_and_the_terminators() {
        let (command, _) =
            only_run("FROM debian\nRUN <<EOT bash\n  set -ex\n  apt-get update\n  apt-get install -y vim\nEOT\n");
        assert_eq!(command, shell("<<EOT bash\n  set -ex\n  apt-get update\n  apt-get install -y vim\nEOT"));
        let text =
            "FROM alpine\nRUN <<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2\n";
        assert_eq!(
            only_run(text).0,
            shell("<<FILE1 cat > file1 && <<FILE2 cat > file2\nI am\nfirst\nFILE1\nI am\nsecond\nFILE2")
        );
        let (command, _) = only_run("FROM a\nRUN <<'EOF' | python\nprint(\"hello\")\nprint(\"world\")\nEOF\n");
        assert_eq!(command, shell("<<'EOF' | python\nprint(\"hello\")\nprint(\"world\")\nEOF"));
        // The shell strips the tabs of `<<-` itself.
        let (command, _) = only_run("FROM a\nRUN cat <<-EOF > /x\n\tindented\n\tEOF\n");
        assert_eq!(command, shell("cat <<-EOF > /x\n\tindented\nEOF"));
        let (command, _) = only_run("FROM a\nRUN cat << EOF > /etc/motd\nhello\nEOF\n");
        assert_eq!(command, shell("cat << EOF > /etc/motd\nhello\nEOF"));
    }

    #[test]
    fn the_instruction_spans_its_bodies() {
        let text = "FROM a\nRUN --mount=type=cache,target=/root/.cache \\\n    <<EOF\npip install -r r.txt\nEOF\nRUN <<A cat - <<B\na\nA\nb\nB\nCMD [\"x\"]\n";
        let all = instructions(text);
        assert_eq!((all[0].line, all[0].end_line), (2, 5));
        assert_eq!((all[1].line, all[1].end_line), (6, 10));
        assert_eq!(all[2].line, 11);
        assert_eq!(
            all[0].kind,
            InstructionKind::Run {
                command: shell("pip install -r r.txt\n"),
                flags: strings(&["--mount=type=cache,target=/root/.cache"]),
                mounts: only_run("FROM a\nRUN --mount=type=cache,target=/root/.cache x\n").1,
                network: None,
                security: None,
                devices: vec![],
                heredocs: vec![Heredoc {
                    name: "EOF".into(),
                    content: "pip install -r r.txt\n".into(),
                    expand: true,
                    strip_tabs: false
                }],
            }
        );
    }

    #[test]
    fn a_missing_terminator_is_an_error_at_the_instruction() {
        let e = error("FROM a\nRUN <<EOF\necho hi\nEOT\n");
        assert_eq!((e.line, e.message.as_str()), (2, "unterminated heredoc: no line \"EOF\" ends <<EOF"));
        // The terminator is the whole line: no blanks around it (tabs only for `<<-`).
        assert_eq!(error("FROM a\nCOPY <<EOF /x\nhi\n EOF\n").line, 2);
        assert!(parse("FROM a\nCOPY <<-EOF /x\nhi\n\t\tEOF\n").is_ok());
        assert_eq!(error("FROM a\nCOPY <<EOF /x\nhi\n\tEOF\n").line, 2);
    }

    #[test]
    fn only_shell_form_run_copy_add_and_their_onbuild_take_heredocs() {
        // JSON form: no heredoc, the next line is an instruction.
        assert_eq!(error("FROM a\nRUN [\"<<EOF\"]\necho\nEOF\n").message, "unknown instruction: ECHO");
        assert_eq!(error("FROM a\nUSER <<INVALID\nINVALID\n").message, "unknown instruction: INVALID");
        // …but a JSON source like a heredoc is an empty file, as in BuildKit.
        let json = only_kind("FROM a\nCOPY [\"<<EOF\", \"/x\"]\n");
        assert_eq!(docs(&json), vec![doc("EOF", "", true, false)]);
        assert!(matches!(json, InstructionKind::Copy { sources, .. } if sources.is_empty()));
        let onbuild = instructions("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\nCMD x\n");
        assert_eq!((onbuild[0].line, onbuild[0].end_line), (2, 4));
        assert_eq!(
            onbuild[0].kind,
            InstructionKind::Other { keyword: "ONBUILD".to_string(), args: "RUN <<EOF\necho hi\nEOF".to_string() }
        );
    }

    #[test]
    fn copy_makes_a_file_per_heredoc_and_expands_unquoted_ones() {
        // Docker docs: COPY with a here-document, with and without quotes.
        let text = "FROM alpine\nARG FOO=bar\nCOPY <<-EOT /script.sh\n  echo \"hello ${FOO}\"\nEOT\nCOPY <<-\"EOT\" /raw.sh\n  echo \"hello ${FOO}\"\nEOT\n";
        let all = kinds(text);
        let heredoc = |kind: &InstructionKind| match kind {
            InstructionKind::Copy { heredocs, sources, dest, .. } => {
                assert!(sources.is_empty(), "{dest}");
                heredocs[0].clone()
            }
            other => panic!("{other:?}"),
        };
        let lookup = env(&[("FOO", "bar")]);
        let expanded = heredoc(&all[1]);
        assert_eq!((expanded.name.as_str(), expanded.expand), ("EOT", true));
        assert_eq!(expanded.expanded(&lookup), "  echo \"hello bar\"\n");
        let raw = heredoc(&all[2]);
        assert_eq!(raw.expanded(&lookup), "  echo \"hello ${FOO}\"\n");
        // BuildKit expands with `\` as the escape and keeps quotes, so `\$` is a dollar.
        let escaped = Heredoc { name: "x".into(), content: "a\\$FOO '$FOO'\n".into(), expand: true, strip_tabs: false };
        assert_eq!(escaped.expanded(&lookup), "a$FOO 'bar'\n");
        // A heredoc source next to paths; the destination cannot be one.
        assert!(matches!(&kinds("FROM a\nCOPY --chmod=755 app.sh <<EOF /bin/\nx\nEOF\n")[0],
            InstructionKind::Copy { sources, heredocs, chmod: Some(_), .. } if *sources == strings(&["app.sh"]) && heredocs.len() == 1));
        assert_eq!(error("FROM a\nCOPY /foo <<EOF\nEOF\n").message, "COPY cannot accept a heredoc as a destination");
        assert_eq!(error("FROM a\nADD /foo <<EOF\nEOF\n").message, "ADD cannot accept a heredoc as a destination");
    }

    #[test]
    fn windows_line_endings_stay_in_bodies_but_not_in_terminators() {
        let all = kinds("FROM a\r\nCOPY <<EOF /x\r\nline\r\nEOF\r\n");
        assert_eq!(docs(&all[0]), vec![doc("EOF", "line\r\n", true, false)]);
    }
}
