//! The LSP service in-process over an in-memory duplex (as typos-lsp tests do): protocol
//! behaviour — initialize, commands, coalescing, cancel — with the real engine behind it.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::lsp::{file_uri, is_status};
use support::{docker, TempProject};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};
use tower_lsp_server::Server;

struct TestClient {
    reader: BufReader<ReadHalf<DuplexStream>>,
    writer: WriteHalf<DuplexStream>,
    next_id: i64,
    notifications: Vec<Value>,
}

impl TestClient {
    fn start() -> TestClient {
        let (service, socket) = docker_rebuilder::lsp::service();
        let (client, server) = tokio::io::duplex(1 << 20);
        let (server_read, server_write) = tokio::io::split(server);
        tokio::spawn(Server::new(server_read, server_write, socket).serve(service));
        let (reader, writer) = tokio::io::split(client);
        TestClient { reader: BufReader::new(reader), writer, next_id: 1, notifications: Vec::new() }
    }

    async fn send(&mut self, message: Value) {
        let body = message.to_string();
        let framed = format!("Content-Length: {}\r\n\r\n{body}", body.len());
        self.writer.write_all(framed.as_bytes()).await.expect("write");
    }

    async fn recv(&mut self) -> Value {
        let mut length = 0;
        loop {
            let mut line = String::new();
            assert!(self.reader.read_line(&mut line).await.expect("read") > 0, "server closed");
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                length = v.parse().expect("length");
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).await.expect("body");
        serde_json::from_slice(&body).expect("json")
    }

    /// The next message that is not a server request (those are answered here).
    async fn next(&mut self) -> Value {
        loop {
            let m = self.recv().await;
            if m.get("method").is_some() && m.get("id").is_some() {
                let id = m["id"].clone();
                self.send(json!({ "jsonrpc": "2.0", "id": id, "result": null })).await;
                self.notifications.push(m);
                continue;
            }
            if m.get("method").is_some() {
                self.notifications.push(m.clone());
            }
            return m;
        }
    }

    async fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        loop {
            let m = tokio::time::timeout_at(deadline, self.next()).await.expect("response in time");
            if m.get("id") == Some(&json!(id)) && m.get("method").is_none() {
                return m;
            }
        }
    }

    async fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params })).await;
    }

    async fn wait_for(&mut self, since: usize, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(v) = self.notifications.iter().skip(since).find(|v| pred(v)) {
            return v.clone();
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
        loop {
            let m = tokio::time::timeout_at(deadline, self.next()).await.expect("notification in time");
            if m.get("method").is_some() && pred(&m) {
                return m;
            }
        }
    }

    async fn initialize(&mut self, folders: &[&std::path::Path]) -> Value {
        let folders: Vec<Value> = folders.iter().map(|f| json!({ "uri": file_uri(f), "name": "p" })).collect();
        let init = self
            .request(
                "initialize",
                json!({ "capabilities": { "window": { "workDoneProgress": true } }, "workspaceFolders": folders }),
            )
            .await;
        self.notify("initialized", json!({})).await;
        init
    }
}

#[tokio::test]
async fn initialize_announces_save_sync_and_exactly_our_commands() {
    let empty = tempfile::tempdir().expect("tempdir");
    let mut client = TestClient::start();
    let init = client.initialize(&[empty.path()]).await;
    let caps = &init["result"]["capabilities"];
    assert_eq!(caps["textDocumentSync"]["save"], json!({ "includeText": false }), "{caps}");
    assert_eq!(caps["textDocumentSync"]["openClose"], true);
    assert_eq!(caps["executeCommandProvider"]["commands"].as_array().map(Vec::len), Some(4));
    let status = client
        .request("workspace/executeCommand", json!({ "command": "docker-rebuilder.status", "arguments": [] }))
        .await;
    let message = status["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("no project"), "{status}");
}

#[tokio::test]
async fn saves_during_a_cycle_become_one_next_cycle() {
    let p = TempProject::fixture("busybox-app");
    let mut client = TestClient::start();
    client.initialize(&[&p.dir]).await;
    client.wait_for(0, |n| is_status(n, "succeeded")).await;
    let mark = client.notifications.len();
    for i in 0..10 {
        p.write("data/b.txt", &format!("b{i}\n"));
        client
            .notify("textDocument/didSave", json!({ "textDocument": { "uri": file_uri(&p.path("data/b.txt")) } }))
            .await;
    }
    client.wait_for(mark, |n| is_status(n, "succeeded")).await;
    // Whatever the timing, the queue settles on the last content within two cycles.
    let status = client
        .request("workspace/executeCommand", json!({ "command": "docker-rebuilder.rebuild", "arguments": [] }))
        .await;
    assert_eq!(status["result"]["state"], "succeeded", "{status}");
    let cycles = client.notifications[mark..].iter().filter(|n| is_status(n, "building")).count();
    assert!(cycles <= 3, "10 saves + 1 command ran {cycles} cycles");
    assert_eq!(p.run_image(), "one\nb9");
}

#[tokio::test]
async fn cancelling_the_progress_stops_the_build_in_the_container_and_commits_nothing() {
    let p = TempProject::fixture("busybox-app");
    p.write("rebuilder.toml", "rebuild = \"sh build.sh && sleep 300\"\n");
    let mut client = TestClient::start();
    client.initialize(&[&p.dir]).await;
    client.wait_for(0, |n| is_status(n, "succeeded")).await;
    let image = p.image_id();

    p.write("data/a.txt", "changed\n");
    let mark = client.notifications.len();
    client.notify("textDocument/didSave", json!({ "textDocument": { "uri": file_uri(&p.path("data/a.txt")) } })).await;
    let building = client
        .wait_for(mark, |n| {
            n["method"] == "$/progress"
                && n["params"]["value"]["message"].as_str().is_some_and(|m| m.starts_with("building"))
        })
        .await;
    let token = building["params"]["token"].clone();
    // The sleep is running inside the builder now.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !String::from_utf8_lossy(&p.in_builder(&["ps"]).stdout).contains("sleep 300") {
        assert!(std::time::Instant::now() < deadline, "the build never started");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    client.notify("window/workDoneProgress/cancel", json!({ "token": token })).await;
    let idle = client.wait_for(mark, |n| is_status(n, "idle")).await;
    assert!(idle["params"]["message"].as_str().unwrap_or_default().contains("cancelled"), "{idle}");
    let ps = String::from_utf8_lossy(&p.in_builder(&["ps"]).stdout).into_owned();
    assert!(!ps.contains("sleep 300"), "the build's processes are gone: {ps}");
    assert_eq!(p.image_id(), image, "nothing committed");
    assert!(docker(&["exec", &p.builder(), "true"]).status.success(), "the builder stays usable");
}
