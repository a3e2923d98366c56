//! A minimal LSP client over the real binary's stdio, for end-to-end tests: framed JSON-RPC,
//! answers the server's requests (progress creation), and collects notifications.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub struct LspClient {
    child: Child,
    /// Shared with the reader thread, which answers the server's requests at once, as an
    /// editor does (a request left unanswered would hold the server's worker back).
    stdin: Arc<Mutex<ChildStdin>>,
    incoming: Receiver<Value>,
    next_id: i64,
    /// Every notification received so far, in order.
    pub notifications: Vec<Value>,
    /// What `workspace/configuration` answers, as Neovim does from its `settings`: each item's
    /// dotted section looked up in this.
    pub settings: Arc<Mutex<Value>>,
}

impl LspClient {
    pub fn start(bin: &str) -> LspClient {
        Self::start_with_env(bin, &[])
    }

    /// Starts the server with `env` added to its environment.
    pub fn start_with_env(bin: &str, env: &[(&str, &str)]) -> LspClient {
        let mut child = Command::new(bin)
            .envs(env.iter().copied())
            .arg("lsp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("server starts");
        let stdin = Arc::new(Mutex::new(child.stdin.take().expect("stdin")));
        let answers = stdin.clone();
        let settings = Arc::new(Mutex::new(Value::Null));
        let answer_settings = settings.clone();
        let stdout = child.stdout.take().expect("stdout");
        let (tx, incoming) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut length = None;
                loop {
                    let mut header = String::new();
                    if reader.read_line(&mut header).unwrap_or(0) == 0 {
                        return;
                    }
                    let header = header.trim_end();
                    if header.is_empty() {
                        break;
                    }
                    if let Some(v) = header.strip_prefix("Content-Length: ") {
                        length = v.parse::<usize>().ok();
                    }
                }
                let Some(length) = length else { return };
                let mut body = vec![0; length];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                match serde_json::from_slice::<Value>(&body) {
                    Ok(v) => {
                        if v.get("method").is_some() && v.get("id").is_some() {
                            // workspace/configuration: the settings; window/workDoneProgress/create
                            // and friends: accept.
                            let result = if v["method"] == "workspace/configuration" {
                                let settings = answer_settings.lock().unwrap_or_else(|e| e.into_inner()).clone();
                                configuration(&settings, &v["params"])
                            } else {
                                Value::Null
                            };
                            let answer =
                                json!({ "jsonrpc": "2.0", "id": v["id"].clone(), "result": result }).to_string();
                            let mut stdin = answers.lock().unwrap_or_else(|e| e.into_inner());
                            let _ = write!(stdin, "Content-Length: {}\r\n\r\n{}", answer.len(), answer);
                            let _ = stdin.flush();
                        }
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                    Err(e) => panic!("server sent invalid JSON ({e}): {}", String::from_utf8_lossy(&body)),
                }
            }
        });
        LspClient { child, stdin, incoming, next_id: 1, notifications: Vec::new(), settings }
    }

    /// Like `initialize`, declaring that this client answers `workspace/configuration` with
    /// `settings` (see the field), as Neovim and VS Code do.
    pub fn initialize_with_settings(&mut self, folders: &[&Path], settings: Value) -> Value {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = settings;
        self.initialize_with_capabilities(
            folders,
            json!({ "window": { "workDoneProgress": true }, "workspace": { "configuration": true } }),
        )
    }

    /// New settings, and the notice of it (the server reads them again).
    pub fn change_settings(&mut self, settings: Value) {
        *self.settings.lock().unwrap_or_else(|e| e.into_inner()) = settings;
        self.notify("workspace/didChangeConfiguration", json!({ "settings": null }));
    }

    pub fn send_raw(&mut self, body: &str) {
        let mut stdin = self.stdin.lock().unwrap_or_else(|e| e.into_inner());
        write!(stdin, "Content-Length: {}\r\n\r\n{}", body.len(), body).expect("write");
        stdin.flush().expect("flush");
    }

    fn send(&mut self, message: Value) {
        self.send_raw(&message.to_string());
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// Sends a request and waits for its response (the whole response object).
    pub fn request(&mut self, method: &str, params: Value, timeout: Duration) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        let deadline = Instant::now() + timeout;
        loop {
            let message = self.next(deadline).unwrap_or_else(|| panic!("no response to {method} within {timeout:?}"));
            if message.get("id") == Some(&json!(id)) && message.get("method").is_none() {
                return message;
            }
        }
    }

    /// Waits for a notification satisfying `pred` (looking at those already received first,
    /// from index `since`). Returns its index and value.
    pub fn wait_for(&mut self, since: usize, timeout: Duration, pred: impl Fn(&Value) -> bool) -> (usize, Value) {
        if let Some((i, v)) = self.notifications.iter().enumerate().skip(since).find(|(_, v)| pred(v)) {
            return (i, v.clone());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let before = self.notifications.len();
            if self.next(deadline).is_none() {
                let seen: Vec<String> = self.notifications[since..]
                    .iter()
                    .map(|n| format!("{} {}", n["method"], n["params"]).chars().take(300).collect())
                    .collect();
                panic!("timed out after {timeout:?}; notifications since: {seen:#?}");
            }
            if let Some((i, v)) = self.notifications.iter().enumerate().skip(before).find(|(_, v)| pred(v)) {
                return (i, v.clone());
            }
        }
    }

    /// Like `wait_for`, but None when `timeout` passes first.
    pub fn try_wait_for(
        &mut self,
        since: usize,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Option<(usize, Value)> {
        if let Some((i, v)) = self.notifications.iter().enumerate().skip(since).find(|(_, v)| pred(v)) {
            return Some((i, v.clone()));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let before = self.notifications.len();
            self.next(deadline)?;
            if let Some((i, v)) = self.notifications.iter().enumerate().skip(before).find(|(_, v)| pred(v)) {
                return Some((i, v.clone()));
            }
        }
    }

    /// The next message; records notifications on the way.
    fn next(&mut self, deadline: Instant) -> Option<Value> {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.incoming.recv_timeout(left) {
            Ok(message) => {
                // Requests were answered by the reader thread.
                if message.get("method").is_some() && message.get("id").is_none() {
                    self.notifications.push(message.clone());
                }
                Some(message)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => panic!("the server closed its output (did it crash?)"),
        }
    }

    pub fn initialize(&mut self, folders: &[&Path]) -> Value {
        self.initialize_with_capabilities(folders, json!({ "window": { "workDoneProgress": true } }))
    }

    fn initialize_with_capabilities(&mut self, folders: &[&Path], capabilities: Value) -> Value {
        let folders: Vec<Value> = folders
            .iter()
            .map(|f| json!({ "uri": file_uri(f), "name": f.file_name().map(|n| n.to_string_lossy().into_owned()) }))
            .collect();
        let response = self.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": null,
                "capabilities": capabilities,
                "workspaceFolders": folders,
            }),
            Duration::from_secs(10),
        );
        self.notify("initialized", json!({}));
        response
    }

    pub fn did_save(&mut self, path: &Path) {
        self.notify("textDocument/didSave", json!({ "textDocument": { "uri": file_uri(path) } }));
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn shutdown(mut self) {
        let _ = self.request("shutdown", Value::Null, Duration::from_secs(10));
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!("the server did not exit after shutdown/exit");
    }
}

impl Drop for LspClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// The answer to `workspace/configuration`: per item, its dotted section in `settings`, null
/// when absent.
fn configuration(settings: &Value, params: &Value) -> Value {
    let items = params["items"].as_array().cloned().unwrap_or_default();
    Value::Array(
        items
            .iter()
            .map(|item| {
                let mut at = settings;
                for key in item["section"].as_str().unwrap_or_default().split('.').filter(|k| !k.is_empty()) {
                    at = &at[key];
                }
                at.clone()
            })
            .collect(),
    )
}

pub fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => uri.push(byte as char),
            _ => uri.push_str(&format!("%{byte:02X}")),
        }
    }
    uri
}

pub fn is_status(n: &Value, state: &str) -> bool {
    n["method"] == "docker-rebuilder/status" && n["params"]["state"] == state
}

pub fn is_diagnostics_for(n: &Value, path: &Path) -> bool {
    n["method"] == "textDocument/publishDiagnostics" && n["params"]["uri"] == file_uri(path)
}
