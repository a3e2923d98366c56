//! A fault-injecting proxy in front of the real Docker engine, for the fault tests.
//!
//! It listens on a Unix socket of its own and forwards every connection byte for byte to
//! `/var/run/docker.sock`: it is the real engine behind it, not a mock. Requests going to
//! the engine are parsed (request line, headers, body by Content-Length or chunked) so that
//! each one can be matched; responses are piped back untouched. A request asking for an
//! upgrade (exec attach, hijacked streams) switches its connection to raw piping both ways.
//!
//! Switches: `down()` closes every open connection at once and refuses new ones (the engine
//! "stopped"), `up()` brings it back, `drop_connections()` closes them but keeps accepting; `fail_matching` answers matching requests with an error
//! instead of forwarding them; `down_when` stops the engine when a matching request arrives.
//!
//! The product is pointed at it with `DOCKER_HOST=unix://<socket>` (see `docker_host`); the
//! tests check results with the real `docker` CLI, which talks to the real socket directly.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use regex::Regex;

use super::lsp::LspClient;
use super::{Run, TempProject};

/// Where the real engine listens.
pub const ENGINE_SOCKET: &str = "/var/run/docker.sock";

/// When a `down_when` rule stops the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// The request never reaches the engine.
    Instead,
    /// The request reaches the engine; the connections close right after it was sent, so
    /// the engine may or may not have done it, and its answer is lost.
    AfterForwarding,
}

enum Action {
    Fail {
        status: u16,
        body: String,
    },
    /// One-shot: the rule is removed when it fires.
    Down(Timing),
}

struct Rule {
    method: String,
    path: Regex,
    action: Action,
}

/// A request the proxy saw on its way to the engine.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// Whether it was answered or dropped by a fault rule instead of reaching the engine.
    pub faulted: bool,
}

struct Acceptor {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

struct Inner {
    socket: PathBuf,
    acceptor: Mutex<Option<Acceptor>>,
    /// Open connections: (the product's end, the engine's end), by id.
    connections: Mutex<HashMap<u64, (UnixStream, UnixStream)>>,
    next_id: AtomicU64,
    rules: Mutex<Vec<Rule>>,
    seen: Mutex<Vec<Seen>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Proxy {
    inner: Arc<Inner>,
    dir: tempfile::TempDir,
}

impl Proxy {
    /// A proxy listening (up) on a fresh socket.
    pub fn start() -> Proxy {
        let dir = tempfile::tempdir().expect("tempdir");
        let inner = Arc::new(Inner {
            socket: dir.path().join("engine.sock"),
            acceptor: Mutex::new(None),
            connections: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            rules: Mutex::new(Vec::new()),
            seen: Mutex::new(Vec::new()),
        });
        let proxy = Proxy { inner, dir };
        proxy.up();
        proxy
    }

    pub fn socket(&self) -> &Path {
        &self.inner.socket
    }

    /// The value of DOCKER_HOST that reaches the engine through this proxy.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.inner.socket.display())
    }

    /// The engine "starts": connections are accepted again.
    pub fn up(&self) {
        let mut acceptor = lock(&self.inner.acceptor);
        if acceptor.is_some() {
            return;
        }
        let _ = std::fs::remove_file(&self.inner.socket);
        let listener = UnixListener::bind(&self.inner.socket).expect("the proxy binds its socket");
        let stop = Arc::new(AtomicBool::new(false));
        let inner = self.inner.clone();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || accept_loop(inner, listener, flag));
        *acceptor = Some(Acceptor { stop, thread });
    }

    /// The engine "stops": every open connection closes at once and new ones are refused
    /// (the socket file stays, with nothing listening: ECONNREFUSED, as after a crash).
    pub fn down(&self) {
        self.inner.down();
    }

    /// Every open connection closes at once, but new ones are accepted: the engine stays up
    /// (as when a connection is reset, or a daemon with live-restore restarts at once).
    pub fn drop_connections(&self) {
        self.inner.drop_connections();
    }

    pub fn is_up(&self) -> bool {
        lock(&self.inner.acceptor).is_some()
    }

    /// Answers requests with `method` whose target (path and query) matches `path_regex`
    /// with `status` and `body` (JSON, as the engine sends errors), instead of forwarding them.
    pub fn fail_matching(&self, method: &str, path_regex: &str, status: u16, body: &str) {
        self.add_rule(method, path_regex, Action::Fail { status, body: body.to_string() });
    }

    /// Stops the engine (as `down()`) when a matching request arrives; once.
    pub fn down_when(&self, method: &str, path_regex: &str, timing: Timing) {
        self.add_rule(method, path_regex, Action::Down(timing));
    }

    /// Removes every fault rule.
    pub fn clear(&self) {
        lock(&self.inner.rules).clear();
    }

    fn add_rule(&self, method: &str, path_regex: &str, action: Action) {
        let path = Regex::new(path_regex).expect("a valid path regex");
        lock(&self.inner.rules).push(Rule { method: method.to_string(), path, action });
    }

    /// Every request seen so far, in order.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.inner.seen).clone()
    }

    /// How many requests seen so far match.
    pub fn count(&self, method: &str, path_regex: &str) -> usize {
        let path = Regex::new(path_regex).expect("a valid path regex");
        lock(&self.inner.seen).iter().filter(|s| s.method == method && path.is_match(&s.target)).count()
    }

    /// Waits until `count(method, path_regex)` reaches `n`.
    pub fn wait_count(&self, method: &str, path_regex: &str, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count(method, path_regex) < n {
            assert!(
                Instant::now() < deadline,
                "no {n}th request {method} {path_regex} within {timeout:?}; seen: {:#?}",
                self.seen().iter().rev().take(20).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The LSP server (`docker-rebuilder lsp`) reaching the engine through this proxy.
    /// `LspClient::start` takes a program: a wrapper script sets DOCKER_HOST and execs the
    /// real binary, so the client talks to the binary itself.
    pub fn lsp(&self, bin: &str) -> LspClient {
        let script = self.dir.path().join(format!("lsp-{}.sh", self.inner.next_id.fetch_add(1, Ordering::SeqCst)));
        let text = format!("#!/bin/sh\nDOCKER_HOST='{}' exec '{}' \"$@\"\n", self.docker_host(), bin);
        std::fs::write(&script, text).expect("write the wrapper");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod the wrapper");
        LspClient::start(script.to_str().expect("a UTF-8 temp path"))
    }

    /// `docker-rebuilder <args> <project dir>` reaching the engine through this proxy.
    pub fn run(&self, bin: &str, project: &TempProject, args: &[&str]) -> Run {
        let out = Command::new(bin)
            .args(args)
            .arg(&project.dir)
            .env("DOCKER_HOST", self.docker_host())
            .output()
            .expect("docker-rebuilder runs");
        Run::from(out)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.inner.down();
    }
}

impl Inner {
    fn down(&self) {
        let acceptor = lock(&self.acceptor).take();
        if let Some(acceptor) = acceptor {
            acceptor.stop.store(true, Ordering::SeqCst);
            // Wake the blocked accept(); the loop sees the flag and drops the listener.
            let _ = UnixStream::connect(&self.socket);
            let _ = acceptor.thread.join();
        }
        // Everything accepted before the listener closed is registered by now.
        self.drop_connections();
    }

    fn drop_connections(&self) {
        for (_, (client, engine)) in lock(&self.connections).drain() {
            let _ = client.shutdown(std::net::Shutdown::Both);
            let _ = engine.shutdown(std::net::Shutdown::Both);
        }
    }

    /// The action of the first rule matching, consuming it when one-shot.
    fn rule_for(&self, method: &str, target: &str) -> Option<Action> {
        let mut rules = lock(&self.rules);
        let i = rules.iter().position(|r| r.method.eq_ignore_ascii_case(method) && r.path.is_match(target))?;
        match &rules[i].action {
            Action::Fail { status, body } => Some(Action::Fail { status: *status, body: body.clone() }),
            Action::Down(timing) => {
                let timing = *timing;
                rules.remove(i);
                Some(Action::Down(timing))
            }
        }
    }
}

fn accept_loop(inner: Arc<Inner>, listener: UnixListener, stop: Arc<AtomicBool>) {
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(engine) = UnixStream::connect(ENGINE_SOCKET) else {
            // The real engine is gone: nothing to proxy to.
            continue;
        };
        let (Ok(c), Ok(e)) = (client.try_clone(), engine.try_clone()) else { continue };
        let id = inner.next_id.fetch_add(1, Ordering::SeqCst);
        lock(&inner.connections).insert(id, (c, e));
        let inner = inner.clone();
        std::thread::spawn(move || serve(inner, id, client, engine));
    }
}

/// One connection: requests parsed on their way to the engine, responses piped back.
fn serve(inner: Arc<Inner>, id: u64, client: UnixStream, engine: UnixStream) {
    let to_client = Arc::new(Mutex::new(client.try_clone().expect("clone")));
    let back = {
        let to_client = to_client.clone();
        let mut from_engine = engine.try_clone().expect("clone");
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match from_engine.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => {
                        if lock(&to_client).write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
            }
            let _ = lock(&to_client).shutdown(std::net::Shutdown::Write);
        })
    };
    let _ = forward_requests(&inner, BufReader::new(client), &engine, &to_client);
    let _ = engine.shutdown(std::net::Shutdown::Write);
    let _ = back.join();
    lock(&inner.connections).remove(&id);
}

/// Reads requests from the product one by one, forwarding each (or answering it with a
/// fault); after an upgrade request, pipes the rest raw. Ends at EOF or on an error.
fn forward_requests(
    inner: &Inner,
    mut reader: BufReader<UnixStream>,
    mut engine: &UnixStream,
    to_client: &Mutex<UnixStream>,
) -> io::Result<()> {
    loop {
        let mut head = Vec::new();
        if reader.read_until(b'\n', &mut head)? == 0 {
            return Ok(());
        }
        let request_line = String::from_utf8_lossy(&head).trim_end().to_string();
        let mut parts = request_line.split(' ');
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let mut headers = Vec::new();
        loop {
            let mut line = Vec::new();
            if reader.read_until(b'\n', &mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            head.extend_from_slice(&line);
            let text = String::from_utf8_lossy(&line).trim_end().to_string();
            if text.is_empty() {
                break;
            }
            if let Some((name, value)) = text.split_once(':') {
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
            }
        }
        let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let chunked = header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
        let length: u64 = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let upgrade = header("upgrade").is_some()
            || header("connection").is_some_and(|v| v.to_ascii_lowercase().contains("upgrade"));

        let action = inner.rule_for(&method, &target);
        lock(&inner.seen).push(Seen {
            method: method.clone(),
            target: target.clone(),
            faulted: matches!(action, Some(Action::Fail { .. } | Action::Down(Timing::Instead))),
        });
        match action {
            Some(Action::Down(Timing::Instead)) => {
                inner.down();
                return Ok(());
            }
            Some(Action::Fail { status, body }) => {
                copy_body(&mut reader, &mut io::sink(), chunked, length)?;
                let response = format!(
                    "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    reason(status),
                    body.len()
                );
                lock(to_client).write_all(response.as_bytes())?;
                if upgrade {
                    // The engine never saw it: nothing to pipe; close like an engine would.
                    return Ok(());
                }
                continue;
            }
            Some(Action::Down(Timing::AfterForwarding)) => {
                engine.write_all(&head)?;
                copy_body(&mut reader, &mut engine, chunked, length)?;
                engine.flush()?;
                inner.down();
                return Ok(());
            }
            None => {}
        }
        engine.write_all(&head)?;
        copy_body(&mut reader, &mut engine, chunked, length)?;
        if upgrade {
            // A hijacked stream (exec attach...): whatever follows is raw, both ways.
            io::copy(&mut reader, &mut engine)?;
            return Ok(());
        }
    }
}

/// Copies one request body, framed by chunked encoding or Content-Length, byte for byte.
fn copy_body(reader: &mut BufReader<UnixStream>, out: &mut dyn Write, chunked: bool, length: u64) -> io::Result<()> {
    if !chunked {
        let copied = io::copy(&mut reader.by_ref().take(length), out)?;
        if copied < length {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        return Ok(());
    }
    loop {
        let mut line = Vec::new();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        out.write_all(&line)?;
        let text = String::from_utf8_lossy(&line);
        let size = text.trim().split(';').next().unwrap_or_default().trim();
        let size = u64::from_str_radix(size, 16).map_err(|_| io::Error::other(format!("bad chunk size {text:?}")))?;
        if size == 0 {
            // Trailers, up to the empty line.
            loop {
                let mut trailer = Vec::new();
                if reader.read_until(b'\n', &mut trailer)? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                out.write_all(&trailer)?;
                if trailer == b"\r\n" || trailer == b"\n" {
                    return Ok(());
                }
            }
        }
        // The chunk's data and its CRLF.
        let copied = io::copy(&mut reader.by_ref().take(size + 2), out)?;
        if copied < size + 2 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        404 => "Not Found",
        409 => "Conflict",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}
