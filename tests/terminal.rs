//! The CLI as a terminal user meets it through a pipe: each problem a build finds on one
//! clickable line relative to the current folder, `--json` carrying the same problems the LSP
//! server publishes, and colour only when asked for (`--color`, CLICOLOR_FORCE), never with
//! NO_COLOR, never into a pipe by default.

mod support;

use std::process::Command;

use support::{TempProject, BIN};

const ESC: &str = "\x1b[";

/// `docker-rebuilder ARGS .` run in the project's folder, with `env`: (code, stdout, stderr).
fn run_in(p: &TempProject, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg(".")
        .current_dir(&p.dir)
        .env("XDG_CACHE_HOME", p.cache_home())
        .env_remove("NO_COLOR")
        .env_remove("CLICOLOR_FORCE")
        .envs(env.iter().copied())
        .output()
        .expect("docker-rebuilder runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

#[test]
fn build_prints_each_problem_and_json_carries_them() {
    let p = TempProject::fixture("watch-app");
    let (code, _, err) = run_in(&p, &["build"], &[]);
    assert_eq!(code, 0, "{err}");
    p.write("data/sub/x.txt", "fine\nstill FAIL here\n");

    // A pipe, nothing set: the problem as `path:line:col: severity: message`, no escapes.
    let (code, _, err) = run_in(&p, &["build"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.lines().any(|l| l == "data/sub/x.txt:2:7: error: this line says FAIL"), "{err}");
    assert!(!err.contains(ESC), "escapes into a pipe: {err:?}");

    // --json: the diagnostics array, as the LSP server would publish them.
    let (code, out, err) = run_in(&p, &["build", "--json"], &[]);
    assert_eq!(code, 1, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    let d = &v["diagnostics"][0];
    assert_eq!(d["file"], p.path("data/sub/x.txt").display().to_string(), "{v}");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(2), Some(7)), "{d}");
    assert_eq!(d["range"]["start"], serde_json::json!({ "line": 1, "character": 6 }), "{d}");
    assert_eq!(d["severity"], "error");
    assert_eq!(d["message"], "this line says FAIL");
    assert!(d["tool"].as_str().is_some_and(|t| !t.is_empty()), "{d}");
    assert_eq!(v["errors"], 1, "{v}");

    // Colour when asked: --color always, CLICOLOR_FORCE; never with NO_COLOR or --color never.
    let (_, _, err) = run_in(&p, &["build", "--color", "always"], &[]);
    assert!(err.contains(&format!("{ESC}1;31merror{ESC}0m")), "a red severity: {err:?}");
    assert!(err.contains(&format!("{ESC}1;31m✗{ESC}0m build failed")), "a red failure: {err:?}");
    let (_, _, err) = run_in(&p, &["build"], &[("CLICOLOR_FORCE", "1")]);
    assert!(err.contains(ESC), "CLICOLOR_FORCE colours a pipe: {err:?}");
    let (_, _, err) = run_in(&p, &["build"], &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert!(!err.contains(ESC), "NO_COLOR wins: {err:?}");
    let (_, _, err) = run_in(&p, &["build", "--color", "never"], &[("CLICOLOR_FORCE", "1")]);
    assert!(!err.contains(ESC), "--color never wins: {err:?}");

    // Fixed: a green success.
    p.write("data/sub/x.txt", "fine\nfixed\n");
    let (code, _, err) = run_in(&p, &["build", "--color", "always"], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains(&format!("{ESC}1;32m✓{ESC}0m rebuilt")), "a green success: {err:?}");
}

/// The binary's own output for `args` (no project folder).
fn output_of(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().expect("docker-rebuilder runs");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn completions_that_bash_completes_with_and_a_man_page() {
    // bash: the script loaded into a real bash, asked to complete `docker-rebuilder b` and the
    // value of --color, as bash's completion machinery asks.
    let script = output_of(&["completions", "bash"]);
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("completion.bash"), &script).expect("write");
    let complete = |words: &str, cword: usize| {
        let probe = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{words}'; COMP_POINT=${{#COMP_LINE}}; \
             _docker__rebuilder docker-rebuilder \"${{COMP_WORDS[$COMP_CWORD]}}\" \"${{COMP_WORDS[$COMP_CWORD-1]}}\"; \
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            dir.path().join("completion.bash").display()
        );
        let out = Command::new("bash").arg("-c").arg(&probe).output().expect("bash");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && said.is_empty(), "bash: {said}\n{probe}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let commands = complete("docker-rebuilder b", 1);
    assert!(commands.lines().any(|l| l == "build"), "{commands}");
    let colors = complete("docker-rebuilder build --color ''", 3);
    assert!(["auto", "always", "never"].iter().all(|c| colors.lines().any(|l| l == *c)), "{colors}");
    // zsh and fish: their formats, every command named.
    let zsh = output_of(&["completions", "zsh"]);
    assert!(zsh.starts_with("#compdef docker-rebuilder") && zsh.contains("'watch:"), "{zsh}");
    let fish = output_of(&["completions", "fish"]);
    assert!(fish.contains("complete -c docker-rebuilder") && fish.contains("-a \"shell\""), "{fish}");
    // The man page: roff, with every command and the engine flags.
    let man = output_of(&["man"]);
    assert!(man.contains(".TH docker-rebuilder 1"), "{man}");
    for word in ["build", "watch", "clean", "status", "shell", "lsp", "\\-\\-context", "\\-\\-color"] {
        assert!(man.contains(word), "the man page lacks {word}");
    }
}
