//! The LSP server end to end: the real binary over stdio, the real engine, a bundled example.

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::lsp::{file_uri, is_diagnostics_for, is_status, LspClient};
use support::{docker, docker_ok, TempProject, BIN};

const FIRST_BUILD: Duration = Duration::from_secs(600);
const CYCLE: Duration = Duration::from_secs(120);

fn start(p: &TempProject) -> LspClient {
    let mut client = LspClient::start(BIN);
    let init = client.initialize(&[&p.dir]);
    let commands = &init["result"]["capabilities"]["executeCommandProvider"]["commands"];
    assert_eq!(
        commands,
        &json!([
            "docker-rebuilder.rebuild",
            "docker-rebuilder.fullBuild",
            "docker-rebuilder.clean",
            "docker-rebuilder.status"
        ])
    );
    // After `initialized` the image and builder are made without waiting for a save.
    client.wait_for(0, FIRST_BUILD, |n| is_status(n, "succeeded"));
    client
}

fn command(client: &mut LspClient, name: &str, args: Value) -> Value {
    client.request("workspace/executeCommand", json!({ "command": name, "arguments": args }), CYCLE)
}

#[test]
fn a_restarted_server_reads_only_the_files_changed_while_it_was_away() {
    let p = TempProject::example("hello-c");
    let mut client = start(&p);
    // A cycle after the image was built: its scan hashes every source, and they are kept.
    let rebuilt = command(&mut client, "docker-rebuilder.rebuild", json!([]));
    assert_eq!(rebuilt["result"]["message"], "up to date", "{rebuilt}");
    client.shutdown();

    p.replace("src/greet.c", "Hello, %s!", "Hi again, %s!");
    let mut client = LspClient::start(BIN);
    client.initialize(&[&p.dir]);
    let is_timings = |n: &Value| {
        n["method"] == "window/logMessage" && n["params"]["message"].as_str().is_some_and(|m| m.starts_with("timings:"))
    };
    let (_, timings) = client.wait_for(0, CYCLE, is_timings);
    let line = timings["params"]["message"].as_str().unwrap_or_default();
    assert!(line.ends_with(" files_read=1"), "only src/greet.c is read again: {line}");
    client.wait_for(0, CYCLE, |n| is_status(n, "succeeded"));
    assert_eq!(p.run_image(), "Hi again, world!");
    client.shutdown();
}

#[test]
fn a_save_with_an_error_shows_it_at_the_right_place_and_a_fix_clears_it_and_commits() {
    let p = TempProject::example("hello-c");
    let mut client = start(&p);
    let first_id = p.image_id();
    let greet = p.path("src/greet.c");

    // Line 7 (0-based 6): `    printf("Hello, %s!\n", nme);` — 'nme' undeclared at column 27 (0-based).
    p.replace("src/greet.c", "\"Hello, %s!\\n\", name)", "\"Hello, %s!\\n\", nme)");
    let mark = client.notifications.len();
    client.did_save(&greet);
    let (_, published) = client.wait_for(mark, CYCLE, |n| {
        is_diagnostics_for(n, &greet) && !n["params"]["diagnostics"].as_array().is_none_or(|d| d.is_empty())
    });
    let d = &published["params"]["diagnostics"][0];
    assert_eq!(d["severity"], 1, "{d}");
    assert_eq!(d["source"], "docker-rebuilder", "{d}");
    assert_eq!(d["range"]["start"], json!({ "line": 6, "character": 27 }), "{d}");
    assert_eq!(d["range"]["end"], json!({ "line": 6, "character": 30 }), "the token `nme`: {d}");
    assert!(d["message"].as_str().unwrap_or_default().contains("nme"), "{d}");
    let (_, failed) = client.wait_for(mark, CYCLE, |n| is_status(n, "failed"));
    assert!(failed["params"]["errors"].as_u64() >= Some(1), "{failed}");
    assert_eq!(p.image_id(), first_id, "a failed build commits nothing");

    p.replace("src/greet.c", "nme)", "name)");
    let mark = client.notifications.len();
    client.did_save(&greet);
    let (_, cleared) = client.wait_for(mark, CYCLE, |n| is_diagnostics_for(n, &greet));
    assert_eq!(cleared["params"]["diagnostics"], json!([]), "fixed: cleared");
    let (_, ok) = client.wait_for(mark, CYCLE, |n| is_status(n, "succeeded"));
    assert_ne!(ok["params"]["imageId"], json!(first_id.clone()));
    assert_ne!(p.image_id(), first_id, "committed");
    assert_eq!(docker_ok(&["image", "inspect", "--format", "{{json .Config.Cmd}}", &p.image]), "[\"/src/hello\"]");
    assert_eq!(p.run_image(), "Hello, world!");

    let status = command(&mut client, "docker-rebuilder.status", json!([]));
    assert_eq!(status["result"]["state"], "succeeded", "{status}");
    let builder = status["result"]["builder"].as_str().expect("builder").to_string();
    assert!(docker(&["container", "inspect", &builder]).status.success());
    let clean = command(&mut client, "docker-rebuilder.clean", json!([file_uri(&p.dir)]));
    assert_eq!(clean["result"]["builderRemoved"], json!(builder), "{clean}");
    assert!(!docker(&["container", "inspect", &builder]).status.success(), "the builder is gone");
    client.shutdown();
}

#[test]
fn a_hundred_saves_in_a_second_run_at_most_two_cycles_and_commit_the_last_content() {
    let p = TempProject::fixture("busybox-app");
    let mut client = start(&p);
    let file = p.path("data/a.txt");
    let mark = client.notifications.len();
    for i in 0..100 {
        p.write("data/a.txt", &format!("save {i}\n"));
        client.did_save(&file);
    }
    // Wait until a cycle ends with the last content committed.
    let deadline = std::time::Instant::now() + CYCLE;
    loop {
        client.wait_for(client.notifications.len(), CYCLE, |n| is_status(n, "succeeded"));
        if p.run_image() == "save 99\ntwo" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the last save never reached the image");
    }
    let cycles = client.notifications[mark..].iter().filter(|n| is_status(n, "building")).count();
    assert!((1..=2).contains(&cycles), "{cycles} cycles for 100 saves");
    client.shutdown();
}

#[test]
fn commands_choose_their_project_and_explain_when_they_cannot() {
    let a = TempProject::fixture("busybox-app");
    let b = TempProject::fixture("busybox-app");
    let mut client = LspClient::start(BIN);
    client.initialize(&[&a.dir, &b.dir]);
    let ambiguous = command(&mut client, "docker-rebuilder.status", json!([]));
    let message = ambiguous["error"]["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("several projects") && message.contains(&a.dir.display().to_string()), "{ambiguous}");
    let rebuilt = command(&mut client, "docker-rebuilder.rebuild", json!([file_uri(&a.path("data/a.txt"))]));
    assert!(rebuilt["result"]["state"] == "succeeded", "{rebuilt}");
    let unknown = command(&mut client, "docker-rebuilder.frobnicate", json!([file_uri(&a.dir)]));
    assert!(unknown["error"]["message"].as_str().unwrap_or_default().contains("unknown command"), "{unknown}");
    client.shutdown();
}

#[test]
fn malformed_messages_get_an_error_or_a_log_line_and_the_server_keeps_running() {
    let p = TempProject::fixture("busybox-app");
    let mut client = LspClient::start(BIN);
    // A request before initialize is refused, not fatal.
    let early = client.request("workspace/executeCommand", json!({ "command": "docker-rebuilder.status" }), CYCLE);
    assert!(early.get("error").is_some(), "{early}");
    client.initialize(&[&p.dir]);
    client.send_raw("{ this is not json");
    client.send_raw(r#"{"jsonrpc":"2.0","id":99,"method":"no/such/method","params":{}}"#);
    client.send_raw(r#"{"jsonrpc":"2.0","method":"textDocument/didSave","params":{"textDocument":{"uri":42}}}"#);
    let huge = "x".repeat(4 * 1024 * 1024);
    client.send_raw(&json!({ "jsonrpc": "2.0", "method": "$/huge", "params": { "blob": huge } }).to_string());
    let status = command(&mut client, "docker-rebuilder.status", json!([]));
    assert!(status.get("result").is_some(), "still answering: {status}");
    let logged = client.notifications.iter().filter(|n| {
        n["method"] == "window/logMessage"
            && n["params"]["message"].as_str().unwrap_or_default().contains("ignored a message")
    });
    assert!(logged.count() >= 1, "the malformed frame was reported in the log");
    assert!(client.is_running());
    client.shutdown();
}

#[test]
fn a_broken_config_is_shown_at_its_line_and_the_next_save_recovers() {
    let p = TempProject::fixture("busybox-app");
    let mut client = start(&p);
    let config = p.path("rebuilder.toml");
    p.write("rebuilder.toml", "commit = true\ntimeout = 5\n");
    let mark = client.notifications.len();
    client.did_save(&config);
    let (_, shown) = client.wait_for(mark, CYCLE, |n| n["method"] == "window/showMessage");
    assert!(shown["params"]["message"].as_str().unwrap_or_default().contains("timeout"), "{shown}");
    let (_, at_line) = client.wait_for(mark, CYCLE, |n| is_diagnostics_for(n, &config));
    assert_eq!(at_line["params"]["diagnostics"][0]["range"]["start"]["line"], 1, "{at_line}");
    client.wait_for(mark, CYCLE, |n| is_status(n, "error"));

    p.write("rebuilder.toml", "commit = true\ntimeout_secs = 5\n");
    let mark = client.notifications.len();
    client.did_save(&config);
    let (_, cleared) = client.wait_for(mark, CYCLE, |n| is_diagnostics_for(n, &config));
    assert_eq!(cleared["params"]["diagnostics"], json!([]));
    client.wait_for(mark, FIRST_BUILD, |n| is_status(n, "succeeded"));
    client.shutdown();
}

#[test]
fn a_sync_by_another_process_is_noticed_before_the_next_cycle_trusts_its_memory() {
    let p = TempProject::fixture("busybox-app");
    let mut client = start(&p);
    // The CLI syncs and commits a change behind the server's back...
    p.write("data/a.txt", "from the cli\n");
    assert_eq!(p.run(&["build"]).code, 0);
    assert_eq!(p.run_image(), "from the cli\ntwo");
    // ...then the file goes back to what the server last sent. The builder holds the CLI's
    // version, so the server must not call this "up to date".
    p.write("data/a.txt", "one\n");
    let mark = client.notifications.len();
    client.did_save(&p.path("data/a.txt"));
    // A cycle for the watcher's event of the CLI's edit may end first (it waited for the
    // CLI's lock); the save's cycle must follow it and end with the file's content.
    let mut checked = mark;
    loop {
        let (i, _) = client.wait_for(checked, CYCLE, |n| is_status(n, "succeeded"));
        if p.run_image() == "one\ntwo" {
            break;
        }
        checked = i + 1;
    }
    client.shutdown();
}

#[test]
fn a_failure_no_matcher_recognises_is_shown_on_the_command_that_failed() {
    let p = TempProject::fixture("busybox-app");
    p.write("rebuilder.toml", "# the rebuild command:\nrebuild = \"echo the frobnicator jammed; exit 7\"\n");
    let mut client = start(&p);
    let config = p.path("rebuilder.toml");
    p.write("data/a.txt", "changed\n");
    let mark = client.notifications.len();
    client.did_save(&p.path("data/a.txt"));
    let (_, published) = client.wait_for(mark, CYCLE, |n| {
        is_diagnostics_for(n, &config) && !n["params"]["diagnostics"].as_array().is_none_or(|d| d.is_empty())
    });
    let d = &published["params"]["diagnostics"][0];
    assert_eq!(d["range"]["start"]["line"], 1, "on the `rebuild` line: {d}");
    let message = d["message"].as_str().unwrap_or_default();
    assert!(message.contains("exit code 7") && message.contains("the frobnicator jammed"), "{message}");
    client.wait_for(mark, CYCLE, |n| is_status(n, "failed"));
    client.shutdown();
}

#[test]
fn a_change_made_outside_the_editor_is_built_and_committed_without_a_save() {
    let p = TempProject::fixture("busybox-app");
    let mut client = start(&p);
    let mark = client.notifications.len();
    // As a `git checkout` or a code generator would: no didSave, only the file system.
    p.write("data/a.txt", "written behind the editor's back\n");
    p.write("data/new.txt", "and a new file\n");
    client.wait_for(mark, CYCLE, |n| is_status(n, "succeeded"));
    assert_eq!(p.run_image(), "written behind the editor's back\ntwo\nand a new file");
    client.shutdown();
}

#[test]
fn a_save_and_the_watchers_event_for_the_same_change_make_one_cycle() {
    let p = TempProject::fixture("busybox-app");
    let mut client = start(&p);
    let file = p.path("data/a.txt");
    let mark = client.notifications.len();
    p.write("data/a.txt", "saved once\n");
    client.did_save(&file);
    client.wait_for(mark, CYCLE, |n| is_status(n, "succeeded"));
    // Give the watcher's event for the same write time to arrive and be judged.
    std::thread::sleep(Duration::from_secs(2));
    let status = command(&mut client, "docker-rebuilder.status", json!([]));
    assert_eq!(status["result"]["state"], "succeeded", "{status}");
    let cycles = client.notifications[mark..].iter().filter(|n| is_status(n, "building")).count();
    assert_eq!(cycles, 1, "one change, one cycle: {:?}", &client.notifications[mark..]);
    assert_eq!(p.run_image(), "saved once\ntwo");
    client.shutdown();
}

#[test]
fn edits_made_while_no_server_ran_are_synced_before_the_first_build() {
    let p = TempProject::fixture("busybox-app");
    p.build_json(&[], 0);
    let before = p.image_id();
    // While nothing runs: an edit, a deletion and a new file.
    p.write("data/b.txt", "edited while closed\n");
    std::fs::remove_file(p.path("data/a.txt")).expect("rm");
    p.write("data/c.txt", "new while closed\n");
    let client = start(&p);
    assert_ne!(p.image_id(), before, "the startup cycle committed");
    assert_eq!(p.run_image(), "edited while closed\nnew while closed");
    let listed = p.in_builder(&["ls", "/app/data"]);
    assert_eq!(String::from_utf8_lossy(&listed.stdout).split_whitespace().collect::<Vec<_>>(), ["b.txt", "c.txt"]);
    client.shutdown();
}

#[test]
fn a_panic_in_a_projects_loop_is_reported_as_a_bug_and_the_next_save_builds_again() {
    let p = TempProject::fixture("busybox-app");
    // Cycle 1 is the startup's; the first save's cycle (2) panics.
    let mut client = LspClient::start_with_env(BIN, &[("DOCKER_REBUILDER_FAULT", "panic-in-cycle:2")]);
    client.initialize(&[&p.dir]);
    client.wait_for(0, FIRST_BUILD, |n| is_status(n, "succeeded"));
    let file = p.path("data/a.txt");
    p.write("data/a.txt", "after the panic\n");
    let mark = client.notifications.len();
    client.did_save(&file);
    let (_, shown) = client.wait_for(mark, CYCLE, |n| n["method"] == "window/showMessage");
    assert_eq!(shown["params"]["type"], 1, "an error: {shown}");
    let text = shown["params"]["message"].as_str().unwrap_or_default();
    assert!(text.contains("bug") && text.contains("injected"), "named a bug, with the panic: {shown}");
    let (_, status) = client.wait_for(mark, CYCLE, |n| is_status(n, "error"));
    assert!(status["params"]["message"].as_str().unwrap_or_default().contains("bug"), "{status}");
    let logged = |n: &Value| {
        n["method"] == "window/logMessage" && n["params"]["message"].as_str().is_some_and(|m| m.contains("panic:"))
    };
    client.wait_for(mark, CYCLE, logged);

    // The project's task restarted: the next save builds and commits.
    let mark = client.notifications.len();
    client.did_save(&file);
    client.wait_for(mark, CYCLE, |n| is_status(n, "succeeded"));
    assert_eq!(p.run_image(), "after the panic\ntwo");
    let status = command(&mut client, "docker-rebuilder.status", json!([]));
    assert_eq!(status["result"]["state"], "succeeded", "{status}");
    client.shutdown();
}

/// The host's processes whose command line holds `marker` (a build step's processes are the
/// host's too, whichever builder runs them).
fn processes_with(marker: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(marker))
        .collect()
}

/// Waits up to `timeout` for `done`, reading the server's messages meanwhile.
fn wait_reading(lsp: &mut LspClient, timeout: Duration, what: &str, done: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + timeout;
    while !done() {
        if std::time::Instant::now() >= deadline {
            let last: Vec<String> = lsp
                .notifications
                .iter()
                .rev()
                .take(12)
                .rev()
                .map(|n| n.to_string().chars().take(300).collect())
                .collect();
            panic!("{what}: not within {timeout:?}; the server's last messages: {last:#?}");
        }
        let _ = lsp.try_wait_for(usize::MAX, Duration::from_millis(100), |_| false);
    }
}

#[test]
fn cancelling_the_first_docker_build_stops_it_and_tags_nothing() {
    let p = TempProject::fixture("busybox-app");
    // A step of its own (no build cache answers it) that runs until it is stopped.
    let marker = format!("first-build-of-{}", p.image.trim_end_matches(":latest"));
    // The shell stays (holding the marker in its command line) as `sleep` is not its last command.
    let step = format!("echo {marker} && sleep 300 && echo done");
    p.replace("Dockerfile", "RUN sh build.sh", &format!("RUN sh build.sh && {step}"));
    let cache = p.cache_home();
    let mut lsp = LspClient::start_with_env(BIN, &[("XDG_CACHE_HOME", cache.to_str().expect("utf-8 path"))]);
    lsp.initialize(&[&p.dir]);
    let (_, begun) = lsp.wait_for(0, CYCLE, |n| n["method"] == "$/progress" && n["params"]["value"]["kind"] == "begin");
    let token = begun["params"]["token"].clone();
    wait_reading(&mut lsp, CYCLE, "the first build's step to run", || !processes_with(&step).is_empty());
    lsp.notify("window/workDoneProgress/cancel", json!({ "token": token }));
    let (_, ended) =
        lsp.wait_for(0, CYCLE, |n| is_status(n, "idle") || is_status(n, "error") || is_status(n, "succeeded"));
    assert!(is_status(&ended, "idle"), "a cancelled first build is no error: {ended}");
    assert!(ended["params"]["message"].as_str().unwrap_or_default().contains("cancelled"), "{ended}");
    wait_reading(&mut lsp, Duration::from_secs(30), "the engine to stop the cancelled step", || {
        processes_with(&step).is_empty()
    });
    assert!(!docker(&["image", "inspect", &p.image]).status.success(), "a cancelled build tags no image");
    // The next request builds again, from the start.
    p.replace("Dockerfile", &format!(" && {step}"), "");
    let built = lsp.request(
        "workspace/executeCommand",
        json!({ "command": "docker-rebuilder.rebuild", "arguments": [] }),
        FIRST_BUILD,
    );
    assert_eq!(built["result"]["state"], "succeeded", "{built}");
    assert!(docker(&["image", "inspect", &p.image]).status.success(), "the image after the rebuild");
    lsp.shutdown();
}

#[test]
fn the_clients_late_news_of_a_change_made_before_a_cancel_starts_no_build() {
    let p = TempProject::fixture("busybox-app");
    p.write("rebuilder.toml", "rebuild = \"sh build.sh && sleep 300\"\n");
    let mut lsp = start(&p);
    let image = p.image_id();
    p.write("data/a.txt", "changed, then cancelled\n");
    let mark = lsp.notifications.len();
    lsp.did_save(&p.path("data/a.txt"));
    let (_, begun) =
        lsp.wait_for(mark, CYCLE, |n| n["method"] == "$/progress" && n["params"]["value"]["kind"] == "begin");
    let token = begun["params"]["token"].clone();
    wait_reading(&mut lsp, CYCLE, "the slow build to run", || {
        String::from_utf8_lossy(&p.in_builder(&["ps"]).stdout).contains("sleep 300")
    });
    lsp.notify("window/workDoneProgress/cancel", json!({ "token": token }));
    let (idle, ended) = lsp.wait_for(mark, CYCLE, |n| is_status(n, "idle"));
    assert!(ended["params"]["message"].as_str().unwrap_or_default().contains("cancelled"), "{ended}");

    // An editor's file watcher may report the write only now (VS Code's often does): the cancel
    // dropped that change, so its late report must not start the build again.
    let changes = json!({ "changes": [{ "uri": file_uri(&p.path("data/a.txt")), "type": 2 }] });
    lsp.notify("workspace/didChangeWatchedFiles", changes);
    let again = lsp.try_wait_for(idle + 1, Duration::from_secs(5), |n| is_status(n, "building"));
    assert!(again.is_none(), "a change older than the cancel started a build: {again:?}");
    assert_eq!(p.image_id(), image, "nothing committed");

    // The next change builds both: nothing was lost.
    std::fs::remove_file(p.path("rebuilder.toml")).expect("rm rebuilder.toml");
    p.write("data/b.txt", "changed after the cancel\n");
    let changes = json!({ "changes": [
        { "uri": file_uri(&p.path("data/b.txt")), "type": 2 },
        { "uri": file_uri(&p.path("rebuilder.toml")), "type": 3 },
    ] });
    lsp.notify("workspace/didChangeWatchedFiles", changes);
    lsp.wait_for(idle + 1, CYCLE, |n| is_status(n, "succeeded"));
    assert_eq!(p.run_image(), "changed, then cancelled\nchanged after the cancel");
    lsp.shutdown();
}
