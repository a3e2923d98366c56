//! A running `docker-rebuilder watch`: its stdout (JSON lines) and stderr read on threads.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{TempProject, BIN};

/// A running `docker-rebuilder watch`, its stdout and stderr read line by line on threads.
/// Dropping it stops it (SIGINT, then SIGKILL) so no test leaves a watcher behind.
pub struct Watch {
    child: Child,
    pub stdout: Receiver<String>,
    stderr: Receiver<String>,
    /// Everything printed so far, for failure messages.
    log: Arc<Mutex<String>>,
    status: Option<ExitStatus>,
}

impl Watch {
    /// `watch --json DIR`.
    pub fn json(p: &TempProject) -> Watch {
        Watch::spawn(&["watch", "--json"], &p.dir, None)
    }

    pub fn spawn(args: &[&str], dir: &Path, cwd: Option<&Path>) -> Watch {
        Watch::spawn_env(args, dir, cwd, &[])
    }

    /// `spawn`, with more environment variables for the process.
    pub fn spawn_env(args: &[&str], dir: &Path, cwd: Option<&Path>, env: &[(&str, &std::ffi::OsStr)]) -> Watch {
        let mut cmd = Command::new(BIN);
        cmd.args(args).arg(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.envs(env.iter().copied());
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        let mut child = cmd.spawn().expect("docker-rebuilder watch starts");
        let log = Arc::new(Mutex::new(String::new()));
        let stdout = lines_of(child.stdout.take().expect("stdout"), "stdout", log.clone());
        let stderr = lines_of(child.stderr.take().expect("stderr"), "stderr", log.clone());
        Watch { child, stdout, stderr, log, status: None }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The next JSON line on stdout, within `timeout`.
    pub fn next(&self, timeout: Duration) -> Value {
        match self.stdout.recv_timeout(timeout) {
            Ok(line) => {
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}\n{}", self.log()))
            }
            Err(RecvTimeoutError::Timeout) => panic!("no cycle reported within {timeout:?}; so far:\n{}", self.log()),
            Err(RecvTimeoutError::Disconnected) => panic!("watch ended early; it printed:\n{}", self.log()),
        }
    }

    /// The next cycle, which must have `outcome`.
    pub fn expect(&self, outcome: &str, timeout: Duration) -> Value {
        let v = self.next(timeout);
        assert_eq!(v["outcome"], outcome, "{v}\nso far:\n{}", self.log());
        v
    }

    /// Fails if a line arrives on stdout within `window`.
    pub fn expect_silence(&self, window: Duration, why: &str) {
        if let Ok(line) = self.stdout.recv_timeout(window) {
            panic!("{why}, yet a cycle ran: {line}\nso far:\n{}", self.log());
        }
    }

    /// The next stderr line for which `wanted` holds, within `timeout`.
    pub fn stderr_line(&self, timeout: Duration, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            match self.stderr.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if wanted(&line) => return line,
                Ok(_) => {}
                Err(_) => panic!("no {what} on stderr within {timeout:?}; so far:\n{}", self.log()),
            }
        }
    }

    /// How many inotify instances the process holds (one per file watch it runs).
    pub fn inotify_instances(&self) -> usize {
        let fds = std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).expect("the process's fds");
        fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
            .filter(|target| target.to_string_lossy() == "anon_inode:inotify")
            .count()
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").args([&format!("-{name}"), &self.child.id().to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} {}", self.child.id());
    }

    /// The exit status, if the process ends within `timeout`.
    pub fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
            if self.status.is_none() {
                if Instant::now() > deadline {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        self.status
    }

    /// The stdout lines printed until the end of the (exited) process.
    pub fn remaining(&self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Ok(line) = self.stdout.recv_timeout(Duration::from_secs(5)) {
            out.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")));
        }
        out
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        if self.status.is_some() || self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        let _ = Command::new("kill").args(["-INT", &self.child.id().to_string()]).status();
        if self.wait(Duration::from_secs(10)).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Reads `stream` line by line on a thread, into a channel and the shared log.
pub fn lines_of(
    stream: impl std::io::Read + Send + 'static,
    name: &'static str,
    log: Arc<Mutex<String>>,
) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            log.lock().unwrap_or_else(|e| e.into_inner()).push_str(&format!("[{name}] {line}\n"));
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}
