//! The CLI as a person sees it: the real binary in a real terminal (tmux, a server of the
//! test's own), keys sent, screens read with `capture-pane -e` (colours kept): the live
//! progress during a first build, a green ✓ on success, a red ✗ and the problem's line on
//! failure, and `shell` returning to the prompt with the shell's status.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{TempProject, BIN};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn start(dir: &std::path::Path) -> Tmux {
        let found = Command::new("sh").args(["-c", "command -v tmux"]).output().expect("sh");
        assert!(found.status.success(), "tmux is not installed (.ci/engine.sh installs it)");
        let t = Tmux { socket: format!("drtest-{}", std::process::id()) };
        let out = Command::new("tmux")
            .args(["-L", &t.socket, "-f", "/dev/null", "new-session", "-d", "-x", "160", "-y", "48", "-c"])
            .arg(dir)
            .args(["env", "TERM=xterm-256color", "PS1=$ ", "bash", "--norc", "--noprofile"])
            .env_remove("NO_COLOR")
            .env_remove("CLICOLOR_FORCE")
            .output()
            .expect("tmux runs");
        assert!(out.status.success(), "tmux: {}", String::from_utf8_lossy(&out.stderr));
        t
    }

    fn keys(&self, text: &str) {
        let ok = Command::new("tmux").args(["-L", &self.socket, "send-keys", "-t", "0", "-l", text]).status();
        assert!(ok.is_ok_and(|s| s.success()), "send-keys");
        let ok = Command::new("tmux").args(["-L", &self.socket, "send-keys", "-t", "0", "Enter"]).status();
        assert!(ok.is_ok_and(|s| s.success()), "send-keys Enter");
    }

    /// The screen, escapes and all.
    fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket, "capture-pane", "-p", "-e", "-t", "0"])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until the screen satisfies `pred`; returns that screen.
    fn until(&self, what: &str, timeout: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "no {what} within {timeout:?}; the screen:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn clear(&self) {
        self.keys("clear");
        self.until("a cleared screen", Duration::from_secs(5), |s| s.trim() == "$");
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux").args(["-L", &self.socket, "kill-server"]).status();
    }
}

/// Without escapes (to read the words).
fn plain(screen: &str) -> String {
    regex::Regex::new("\x1b\\[[0-9;]*m").expect("regex").replace_all(screen, "").into_owned()
}

#[test]
fn a_person_sees_progress_colours_problems_and_the_shell_return() {
    let p = TempProject::fixture("busybox-app");
    // A first build slow enough to be seen while it runs, with content of this run's own: the
    // engine's build cache must not answer it from an earlier run of this test.
    p.replace("Dockerfile", "RUN sh build.sh", "RUN sleep 3 && sh build.sh");
    let nonce = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    p.write("data/run.txt", &format!("run {} {nonce}\n", std::process::id()));
    let t = Tmux::start(&p.dir);
    let cache = p.cache_home();
    let run = |args: &str| format!("XDG_CACHE_HOME={} {BIN} {args}", cache.display());

    // The first build: a live view (the header with a spinner and its time, the steps).
    t.keys(&run("build ."));
    let live = t.until("the live view", Duration::from_secs(60), |s| {
        plain(s).contains("docker build of") && plain(s).contains("RUN sleep 3")
    });
    assert!(plain(&live).lines().any(|l| l.contains("CACHED") || l.contains("✓ ")), "{live}");
    let done = t.until("the success line", Duration::from_secs(120), |s| plain(s).contains("image built in"));
    assert!(done.contains("32m✓"), "a green ✓: {done}");
    assert!(!plain(&done).contains("docker build of"), "the header is gone once done: {done}");

    // A failing edit: the problem's line, a red ✗.
    t.clear();
    p.write("data/a.txt", "FAIL\n");
    t.keys(&run("build ."));
    let failed = t.until("the failure line", Duration::from_secs(60), |s| plain(s).contains("build failed"));
    assert!(failed.contains("31m✗"), "a red ✗: {failed}");
    assert!(failed.contains("31merror"), "a red severity: {failed}");
    assert!(plain(&failed).lines().any(|l| l.contains(": error: ")), "the problem's line: {failed}");

    // Fixed: green again.
    t.clear();
    p.write("data/a.txt", "fixed\n");
    t.keys(&run("build ."));
    let fixed = t.until("the rebuilt line", Duration::from_secs(60), |s| plain(s).contains("rebuilt in"));
    assert!(fixed.contains("32m✓"), "{fixed}");

    // `shell`: a shell in the builder; `exit 4` returns to our prompt at once, with its status.
    t.clear();
    t.keys(&run("shell ."));
    t.until("the builder's shell", Duration::from_secs(30), |s| plain(s).lines().count() >= 2);
    t.keys("echo in-the-builder-$((6*7))");
    t.until("the shell's answer", Duration::from_secs(10), |s| plain(s).contains("in-the-builder-42"));
    t.keys("exit 4");
    // Back at our prompt (as a person waits for it before typing on).
    t.until("our prompt again", Duration::from_secs(10), |s| {
        plain(s).lines().rev().find(|l| !l.trim().is_empty()).is_some_and(|l| l.trim() == "$")
    });
    t.keys("echo status=$?");
    t.until("our prompt with the shell's status", Duration::from_secs(10), |s| plain(s).contains("status=4"));
}
