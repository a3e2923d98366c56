//! `docker-rebuilder shell` through the real binary: with piped stdin (no TTY: the shell reads
//! commands to EOF), and on a terminal (a pty from util-linux's `script`). Either way it returns
//! as soon as the shell exits, with the shell's exit status, while its stdin stays open.

mod support;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::{TempProject, BIN};

/// `docker-rebuilder shell DIR` with `input` piped to it; (exit code, stdout, stderr).
fn shell_piped(p: &TempProject, input: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .arg("shell")
        .arg(&p.dir)
        .env("XDG_CACHE_HOME", p.cache_home())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker-rebuilder runs");
    // Dropped at the end of the statement: stdin closes, as after `echo ls |`.
    child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
    let out = child.wait_with_output().expect("shell ends");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// Waits up to `limit` for `child` to exit, stdin still open; its exit code.
fn exits_within(child: &mut Child, limit: Duration, what: &str) -> i32 {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status.code().unwrap_or(-1);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: still running {limit:?} after the shell was told to exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_piped_shell_reads_its_commands_and_exits_with_their_status() {
    let p = TempProject::example("hello-c");
    p.build_json(&[], 0);

    let (code, stdout, stderr) = shell_piped(&p, "ls\n");
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    let listing: Vec<&str> = stdout.lines().collect();
    assert!(listing.contains(&"Makefile") && listing.contains(&"src"), "the workdir listed: {stdout:?} {stderr}");

    let (code, stdout, stderr) = shell_piped(&p, "exit 3\n");
    assert_eq!(code, 3, "{stdout}\n{stderr}");

    // No TTY: the shell's stdout and stderr stay apart, as with `docker exec -i`.
    let (code, stdout, stderr) = shell_piped(&p, "echo to-out; echo to-err >&2; false\n");
    assert_eq!((code, stdout.as_str()), (1, "to-out\n"), "{stderr}");
    assert!(stderr.contains("to-err") && !stdout.contains("to-err"), "{stderr}");

    // Nothing on stdin at all: the shell exits at once.
    let (code, _, stderr) = shell_piped(&p, "");
    assert_eq!(code, 0, "{stderr}");

    // The shell exits while our stdin stays open: it returns all the same.
    let mut child = Command::new(BIN)
        .arg("shell")
        .arg(&p.dir)
        .env("XDG_CACHE_HOME", p.cache_home())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("docker-rebuilder runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"exit 5\n").expect("write stdin");
    assert_eq!(exits_within(&mut child, Duration::from_secs(15), "piped shell"), 5);
    drop(stdin);
}

#[test]
fn a_shell_on_a_terminal_returns_when_it_exits_and_restores_the_terminal() {
    let p = TempProject::example("hello-c");
    p.build_json(&[], 0);
    let root = p.dir.parent().expect("root").to_path_buf();
    let (before, after) = (root.join("stty-before"), root.join("stty-after"));
    // In `script`'s pty: the terminal's mode before and after, and the shell's status.
    let inner = format!(
        "stty -g > '{}'; '{BIN}' shell '{}'; rc=$?; stty -g > '{}'; exit $rc",
        before.display(),
        p.dir.display(),
        after.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .env("XDG_CACHE_HOME", p.cache_home())
        .env("SHELL", "/bin/sh")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("`script` (util-linux) runs: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    // Typed keys: a terminal sends Enter as CR.
    stdin.write_all(b"echo hi-$((6*7))\rexit 7\r").expect("type");
    // Kept open, as a terminal is: the old shell waited for one more key here.
    let code = exits_within(&mut child, Duration::from_secs(15), "shell on a terminal");
    drop(stdin);
    let mut shown = String::new();
    if let Some(mut out) = child.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut shown).expect("read script's output");
    }
    assert_eq!(code, 7, "{shown}");
    assert!(shown.contains("hi-42"), "the command ran in the builder: {shown}");
    let read = |path: &std::path::Path| std::fs::read_to_string(path).expect("stty -g saved");
    assert_eq!(read(&before), read(&after), "the terminal's mode restored");
}
