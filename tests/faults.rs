//! Faults of the engine and of the builder, against the REAL engine: the product reaches it
//! through a fault-injecting proxy (`support::proxy`) that can "stop" the engine (every
//! connection closed, new ones refused), fail chosen requests, or stop it when one arrives,
//! without touching the shared dockerd. Results are checked with the real `docker` CLI, which
//! talks to the real socket directly.

mod support;

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};
use support::lsp::{is_status, LspClient};
use support::proxy::{Proxy, Timing};
use support::{docker_ok, repo_root, TempProject, BIN};

/// A first `docker build` of a busybox fixture on a busy machine.
const FIRST_BUILD: Duration = Duration::from_secs(120);
/// A cycle of a few files: detect, sync, a shell script, commit.
const CYCLE: Duration = Duration::from_secs(60);
/// The engine API's commit and exec-start requests, with or without a version prefix.
const COMMIT: &str = r"^(/v[0-9.]+)?/commit\?";
const EXEC_START: &str = r"^(/v[0-9.]+)?/exec/[^/]+/start$";

/// The LSP server through `proxy`, initialized on `p`, without waiting for anything.
fn lsp(proxy: &Proxy, p: &TempProject) -> LspClient {
    let mut client = proxy.lsp(BIN);
    client.initialize(&[&p.dir]);
    client
}

/// The LSP server through `proxy`, once its first cycle has built the image.
fn start(proxy: &Proxy, p: &TempProject) -> LspClient {
    let mut client = lsp(proxy, p);
    client.wait_for(0, FIRST_BUILD, |n| is_status(n, "succeeded"));
    client
}

fn command(client: &mut LspClient, name: &str) -> Value {
    client.request("workspace/executeCommand", json!({ "command": name, "arguments": [] }), CYCLE)
}

fn is_cycle_end(n: &Value) -> bool {
    n["method"] == "docker-rebuilder/status"
        && ["succeeded", "failed", "error", "idle"].contains(&n["params"]["state"].as_str().unwrap_or_default())
}

/// Writes the files, then saves the first; returns the notification mark before the save.
fn edit_and_save(client: &mut LspClient, p: &TempProject, files: &[(&str, &str)]) -> usize {
    for (rel, content) in files {
        p.write(rel, content);
    }
    let mark = client.notifications.len();
    client.did_save(&p.path(files[0].0));
    mark
}

/// The status notification ending the first cycle after `mark`.
fn cycle_end(client: &mut LspClient, mark: usize) -> Value {
    cycle_end_within(client, mark, CYCLE)
}

fn cycle_end_within(client: &mut LspClient, mark: usize, timeout: Duration) -> Value {
    client.wait_for(mark, timeout, is_cycle_end).1["params"].clone()
}

/// The first cycle after `mark` succeeds, and the image then runs `expected`.
fn expect_committed(client: &mut LspClient, p: &TempProject, mark: usize, timeout: Duration, expected: &str) {
    let end = cycle_end_within(client, mark, timeout);
    assert_eq!(end["state"], "succeeded", "{end}");
    assert_eq!(p.run_image(), expected, "after {end}");
}

/// After a cycle that failed for want of an engine, the watcher's event for the same edit
/// runs one more cycle (it cannot tell what the builder holds without an engine), which
/// fails at once too: let it, and read everything the server sent until now (a command's
/// answer comes after them), so that the next mark only sees what follows.
/// Returns the answer to that command.
fn let_the_watchers_cycle_fail(client: &mut LspClient) -> Value {
    std::thread::sleep(Duration::from_millis(1000));
    command(client, "docker-rebuilder.status")
}

/// The first `window/showMessage` of type Error after `mark`.
fn error_shown(client: &mut LspClient, mark: usize) -> String {
    let (_, shown) = client.wait_for(mark, CYCLE, |n| n["method"] == "window/showMessage" && n["params"]["type"] == 1);
    shown["params"]["message"].as_str().unwrap_or_default().to_string()
}

/// An error that says the engine is unreachable, where the product looked, and what to do.
fn assert_engine_unreachable(message: &str, proxy: &Proxy) {
    let lower = message.to_lowercase();
    assert!(lower.contains("engine") || lower.contains("daemon"), "the cause names the engine: {message}");
    assert!(message.contains(&proxy.socket().display().to_string()), "the address it tried (DOCKER_HOST): {message}");
    assert!(lower.contains("start"), "a fix (start the engine): {message}");
}

#[test]
fn engine_down_at_start_then_up() {
    let p = TempProject::fixture("busybox-app");
    let proxy = Proxy::start();
    proxy.down();
    let mut client = lsp(&proxy, &p);

    let message = error_shown(&mut client, 0);
    assert_engine_unreachable(&message, &proxy);
    let (_, error) = client.wait_for(0, CYCLE, |n| is_status(n, "error"));
    assert_engine_unreachable(error["params"]["message"].as_str().unwrap_or_default(), &proxy);
    // Still serving: a command is answered, with the state and its cause.
    let status = command(&mut client, "docker-rebuilder.status");
    assert_eq!(status["result"]["state"], "error", "{status}");
    assert_engine_unreachable(status["result"]["message"].as_str().unwrap_or_default(), &proxy);
    assert!(client.is_running(), "the server stays up without an engine");
    assert!(!support::docker(&["image", "inspect", &p.image]).status.success(), "nothing was built");

    proxy.up();
    let mark = edit_and_save(&mut client, &p, &[("data/a.txt", "after the engine came back\n")]);
    expect_committed(&mut client, &p, mark, FIRST_BUILD, "after the engine came back\ntwo");
    let status = command(&mut client, "docker-rebuilder.status");
    assert_eq!(status["result"]["state"], "succeeded", "{status}");
    assert!(p.builder_exists(), "a builder was made once the engine answered");
    client.shutdown();
}

#[test]
fn engine_stops_during_the_build_and_comes_back() {
    let p = TempProject::fixture("slow-app");
    let proxy = Proxy::start();
    let mut client = start(&proxy, &p);
    assert_eq!(p.run_image(), "one\nfast");
    let before = p.image_id();

    // A 3 s build step; the engine goes away 0.7 s into it.
    let commits = proxy.count("POST", COMMIT);
    let mark = edit_and_save(&mut client, &p, &[("data/mode.txt", "SLOW\n"), ("data/a.txt", "lost\n")]);
    wait_for_the_build(&mut client, &proxy, mark);
    proxy.down();
    assert_eq!(proxy.count("POST", COMMIT), commits, "the engine stopped before the build ended");

    let end = cycle_end(&mut client, mark);
    assert_eq!(end["state"], "error", "{end}");
    assert_engine_unreachable(end["message"].as_str().unwrap_or_default(), &proxy);
    assert_engine_unreachable(&error_shown(&mut client, mark), &proxy);
    let status = let_the_watchers_cycle_fail(&mut client);
    assert_eq!(status["result"]["state"], "error", "still answering: {status}");
    assert!(client.is_running());
    assert_eq!(p.image_id(), before, "nothing committed");

    proxy.up();
    let mark = edit_and_save(&mut client, &p, &[("data/mode.txt", "fast\n"), ("data/a.txt", "after the stop\n")]);
    expect_committed(&mut client, &p, mark, CYCLE, "after the stop\nfast");
    client.shutdown();
}

#[test]
fn engine_stops_during_the_commit_and_comes_back() {
    let p = TempProject::fixture("slow-app");
    let proxy = Proxy::start();
    let mut client = start(&proxy, &p);
    let before = p.image_id();

    // The commit request never reaches the engine.
    proxy.down_when("POST", COMMIT, Timing::Instead);
    let mark = edit_and_save(&mut client, &p, &[("data/a.txt", "not committed\n")]);
    let end = cycle_end(&mut client, mark);
    assert_eq!(end["state"], "error", "{end}");
    assert_engine_unreachable(end["message"].as_str().unwrap_or_default(), &proxy);
    assert!(!proxy.is_up(), "the commit was seen and stopped the engine");
    assert!(client.is_running());
    assert_eq!(p.image_id(), before, "nothing committed");

    let_the_watchers_cycle_fail(&mut client);
    proxy.up();
    let mark = edit_and_save(&mut client, &p, &[("data/a.txt", "committed after the stop\n")]);
    expect_committed(&mut client, &p, mark, CYCLE, "committed after the stop\nfast");

    // The commit reaches the engine, which may do it, but its answer is lost. Whatever the
    // engine did, once it is back a save of the same content leaves the image holding it.
    proxy.down_when("POST", COMMIT, Timing::AfterForwarding);
    let mark = edit_and_save(&mut client, &p, &[("data/a.txt", "answer lost\n")]);
    let end = cycle_end(&mut client, mark);
    assert_eq!(end["state"], "error", "{end}");
    assert!(!proxy.is_up(), "the commit was seen and stopped the engine");
    let_the_watchers_cycle_fail(&mut client);
    proxy.up();
    let mark = client.notifications.len();
    client.did_save(&p.path("data/a.txt"));
    expect_committed(&mut client, &p, mark, CYCLE, "answer lost\nfast");
    client.shutdown();
}

#[test]
fn a_failed_commit_keeps_the_image_and_the_next_success_commits() {
    let p = TempProject::fixture("busybox-app");
    let proxy = Proxy::start();
    let mut client = start(&proxy, &p);
    let before = p.image_id();

    proxy.fail_matching("POST", COMMIT, 500, r#"{"message":"no space left on device"}"#);
    let mark = edit_and_save(&mut client, &p, &[("data/a.txt", "after the disk filled\n")]);
    let end = cycle_end(&mut client, mark);
    assert!(proxy.seen().iter().any(|s| s.faulted), "the commit was attempted and failed");
    assert_eq!(end["state"], "error", "{end}");
    assert!(end["message"].as_str().unwrap_or_default().contains("no space left on device"), "{end}");
    let shown = error_shown(&mut client, mark);
    assert!(shown.contains("no space left on device"), "{shown}");
    assert_eq!(p.image_id(), before, "the tag still names the last good image");
    assert_eq!(p.run_image(), "one\ntwo");
    assert!(client.is_running());

    // Space again: a save with nothing new still builds and commits the pending sources.
    proxy.clear();
    let mark = client.notifications.len();
    client.did_save(&p.path("data/a.txt"));
    let end = cycle_end(&mut client, mark);
    assert_eq!(end["state"], "succeeded", "{end}");
    assert_ne!(p.image_id(), before, "committed");
    assert_eq!(p.run_image(), "after the disk filled\ntwo");
    client.shutdown();
}

#[test]
fn a_builder_killed_removed_or_paused_by_someone_else_is_recovered() {
    let p = TempProject::fixture("busybox-app");
    let proxy = Proxy::start();
    let mut client = start(&proxy, &p);
    let builder = p.builder();
    for (what, action) in [("killed", "kill"), ("removed", "rm"), ("paused", "pause")] {
        match action {
            "rm" => docker_ok(&["rm", "-f", &builder]),
            other => docker_ok(&[other, &builder]),
        };
        let content = format!("after the builder was {what}\n");
        let mark = edit_and_save(&mut client, &p, &[("data/a.txt", &content)]);
        let end = cycle_end(&mut client, mark);
        assert_eq!(end["state"], "succeeded", "the first cycle after the builder was {what}: {end}");
        assert_eq!(p.run_image(), format!("{content}two"), "builder {what}");
        let state = docker_ok(&["container", "inspect", "--format", "{{.State.Running}} {{.State.Paused}}", &builder]);
        assert_eq!(state, "true false", "the builder runs again after it was {what}");
        let synced = p.in_builder(&["cat", "/app/data/a.txt"]);
        assert_eq!(String::from_utf8_lossy(&synced.stdout), content, "builder {what}: its sources are current");
    }
    client.shutdown();
}

#[test]
fn the_builder_is_never_privileged_and_mounts_nothing() {
    let p = TempProject::fixture("busybox-app");
    let proxy = Proxy::start();
    let run = proxy.run(BIN, &p, &["build", "--json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);

    let inspect = docker_ok(&["container", "inspect", &p.builder()]);
    let all: Value = serde_json::from_str(&inspect).expect("inspect JSON");
    let c = &all[0];
    let host = &c["HostConfig"];
    let empty = |v: &Value| v.is_null() || v.as_array().is_some_and(|a| a.is_empty()) || v == "";
    assert_eq!(host["Privileged"], false, "{host}");
    for key in ["Binds", "Mounts", "CapAdd", "Devices", "DeviceCgroupRules", "VolumesFrom", "SecurityOpt"] {
        assert!(empty(&host[key]), "HostConfig.{key} is {}", host[key]);
    }
    assert!(empty(&c["Mounts"]), "the builder mounts {}", c["Mounts"]);
    assert!(empty(&c["Config"]["Volumes"]) || c["Config"]["Volumes"] == json!({}), "{}", c["Config"]["Volumes"]);
    let network = host["NetworkMode"].as_str().unwrap_or_default();
    assert!(["default", "bridge"].contains(&network), "NetworkMode {network}");
    for key in ["PidMode", "IpcMode", "UsernsMode"] {
        let mode = host[key].as_str().unwrap_or_default();
        assert!(!mode.starts_with("host") && !mode.starts_with("container:"), "{key} {mode}");
    }
    assert!(!inspect.contains("docker.sock"), "the Docker socket reaches the builder: {inspect}");
    assert!(
        !c["Config"]["Env"].to_string().contains("DOCKER_HOST"),
        "the builder is told where the engine is: {}",
        c["Config"]["Env"]
    );

    // And the engine code never asks for any of it. One bind of a host path exists, by
    // design: the user's SSH agent socket, for a Dockerfile whose steps mount `type=ssh` (what
    // `docker build --ssh` forwards); `tests/buildkit.rs` checks it is the only one then.
    let mut offenders = Vec::new();
    grep(&repo_root().join("server/src/engine"), &mut offenders);
    let agent_bind =
        |line: &String| line.contains("engine/volume.rs:") && line.ends_with("typ: Some(MountType::BIND),");
    assert_eq!(offenders.iter().filter(|l| agent_bind(l)).count(), 1, "the SSH agent's bind: {offenders:#?}");
    offenders.retain(|l| !agent_bind(l));
    // And one network: the one the user's build asks for (`network` in rebuilder.toml, a
    // service's `build.network`), which `docker build --network` gives its RUN steps too; the
    // builder above, whose build asks for none, is on the default one (`tests/build_settings.rs`
    // checks the asked-for one).
    let build_network =
        |line: &String| line.contains("engine/container.rs:") && line.ends_with("network_mode: build_network,");
    assert_eq!(offenders.iter().filter(|l| build_network(l)).count(), 1, "the build's network: {offenders:#?}");
    offenders.retain(|l| !build_network(l));
    assert!(offenders.is_empty(), "server/src/engine sets host access for containers: {offenders:#?}");
}

/// A builder whose steps mount (`RUN --mount`) gets named volumes of its own project and tmpfs,
/// never a host path, and nothing else of the host.
#[test]
fn a_builder_s_mounts_are_its_own_volumes_and_tmpfs_never_the_host() {
    let p = TempProject::fixture("storm-app-buildkit");
    let run = p.run(&["build", "--json"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let inspect = docker_ok(&["container", "inspect", &p.builder()]);
    let all: Value = serde_json::from_str(&inspect).expect("inspect JSON");
    let host = &all[0]["HostConfig"];
    let empty = |v: &Value| v.is_null() || v.as_array().is_some_and(|a| a.is_empty()) || v == "";
    assert_eq!(host["Privileged"], false, "{host}");
    for key in ["Binds", "CapAdd", "Devices", "DeviceCgroupRules", "VolumesFrom", "SecurityOpt"] {
        assert!(empty(&host[key]), "HostConfig.{key} is {}", host[key]);
    }
    let mounts = host["Mounts"].as_array().cloned().unwrap_or_default();
    assert!(!mounts.is_empty(), "the step's cache mount is there: {host}");
    for m in &mounts {
        match m["Type"].as_str() {
            Some("volume") => {
                let name = m["Source"].as_str().unwrap_or_default();
                let label = docker_ok(&[
                    "volume",
                    "inspect",
                    "--format",
                    "{{index .Labels \"dev.docker-rebuilder.project\"}}",
                    name,
                ]);
                assert_eq!(label, p.dir.display().to_string(), "the volume {name} is this project's");
            }
            Some("tmpfs") => {}
            other => panic!("a builder mount of type {other:?}: {m}"),
        }
    }
    assert!(!inspect.contains("docker.sock"), "the Docker socket reaches the builder: {inspect}");
}

/// Lines of Rust under `dir` that set a container's host access (bollard's HostConfig fields).
fn grep(dir: &Path, out: &mut Vec<String>) {
    // Mounts are allowed (a builder's RUN --mount volumes and tmpfs), a bind of a host path is not.
    const FIELDS: [&str; 7] =
        ["privileged", "binds", "mounttype::bind", "cap_add", "devices", "network_mode", "volumes_from"];
    for entry in std::fs::read_dir(dir).expect("read the engine's sources") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            grep(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).expect("read");
            for (i, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or_default().to_lowercase();
                if FIELDS.iter().any(|f| code.contains(f)) {
                    out.push(format!("{}:{}: {}", path.display(), i + 1, line.trim()));
                }
            }
        }
    }
}

#[test]
fn a_connection_lost_during_the_build_is_said_and_the_build_does_not_run_on_under_the_next() {
    let p = TempProject::fixture("slow-app");
    let proxy = Proxy::start();
    let mut client = start(&proxy, &p);
    let before = p.image_id();

    // The engine stays up, and the build goes on in the builder: only the connections drop
    // (a reset, or a daemon with live-restore restarting).
    let mark = edit_and_save(&mut client, &p, &[("data/mode.txt", "SLOW 20\n"), ("data/a.txt", "cut off\n")]);
    wait_for_the_build(&mut client, &proxy, mark);
    proxy.drop_connections();
    let end = cycle_end(&mut client, mark);
    assert_eq!(end["state"], "error", "{end}");
    assert_eq!(p.image_id(), before, "nothing committed");
    let mut problems = Vec::new();
    let message = end["message"].as_str().unwrap_or_default().to_string();
    let lower = message.to_lowercase();
    if !(lower.contains("engine") || lower.contains("connection")) {
        problems.push(format!("the error does not say the connection to the engine was lost: {message:?}"));
    }

    // The next save's cycle syncs, builds and commits: the cut-off build (sleeping 20 s) must
    // not still be running in the builder by then, or the sync and the commit overlap it.
    // (The watcher's event for the edit finds it synced here: no second cycle, but the wait
    // does no harm, and reading what the server sent so far keeps the next mark exact.)
    let status = let_the_watchers_cycle_fail(&mut client);
    assert!(status.get("result").is_some(), "{status}");
    let mark = edit_and_save(&mut client, &p, &[("data/mode.txt", "fast\n"), ("data/a.txt", "next\n")]);
    expect_committed(&mut client, &p, mark, CYCLE, "next\nfast");
    let ps = p.in_builder(&["ps", "-o", "pid,args"]);
    let ps = String::from_utf8_lossy(&ps.stdout).into_owned();
    if ps.contains("sleep 20") {
        problems.push(format!("the cut-off build still runs after the next cycle committed:\n{ps}"));
    }
    assert!(problems.is_empty(), "{problems:#?}");
    client.shutdown();
}

/// Reads the server's messages up to its build phase (the worker awaits the client's answer
/// to its progress request), then waits until the build's exec has started in the engine and
/// runs for a moment.
fn wait_for_the_build(client: &mut LspClient, proxy: &Proxy, mark: usize) {
    let execs = proxy.count("POST", EXEC_START);
    client.wait_for(mark, CYCLE, |n| {
        n["method"] == "$/progress"
            && n["params"]["value"]["message"].as_str().is_some_and(|m| m.starts_with("building"))
    });
    proxy.wait_count("POST", EXEC_START, execs + 1, CYCLE);
    std::thread::sleep(Duration::from_millis(700));
}

/// The engine API's exec-create requests.
const EXEC_CREATE: &str = r"^(/v[0-9.]+)?/containers/[^/]+/exec$";

/// Waits until the builder runs the next cycle's step started ahead (its `tar` waits for the
/// changes), and the exec creations have settled; returns how many there were.
fn wait_for_step_started_ahead(proxy: &Proxy, p: &TempProject, at_least: usize) -> usize {
    proxy.wait_count("POST", EXEC_CREATE, at_least, CYCLE);
    let deadline = std::time::Instant::now() + CYCLE;
    while !String::from_utf8_lossy(&p.in_builder(&["ps", "-o", "args"]).stdout).contains("tar -x") {
        assert!(std::time::Instant::now() < deadline, "no step was started ahead in the builder");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    proxy.count("POST", EXEC_CREATE)
}

fn wait_until_no_step_waits(p: &TempProject) {
    let deadline = std::time::Instant::now() + CYCLE;
    while String::from_utf8_lossy(&p.in_builder(&["ps", "-o", "args"]).stdout).contains("tar -x") {
        assert!(std::time::Instant::now() < deadline, "a step started ahead is still there");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_save_only_writes_its_changes_to_a_step_started_ahead_and_a_killed_one_is_replaced() {
    let p = TempProject::fixture("busybox-app");
    p.replace("Dockerfile", &format!("FROM {}", support::base_image()), "FROM busybox:gnutar");
    let proxy = Proxy::start();
    let mut client = start(&proxy, &p);
    // The first save rides its changes on an exec of its own; from then on one waits ahead.
    let mark = edit_and_save(&mut client, &p, &[("data/a.txt", "the first save\n")]);
    expect_committed(&mut client, &p, mark, CYCLE, "the first save\ntwo");
    let ahead = wait_for_step_started_ahead(&proxy, &p, 1);

    // The save's cycle starts no exec of its own: the one creation is the next step ahead.
    let mark = edit_and_save(&mut client, &p, &[("data/a.txt", "written to the waiting step\n")]);
    expect_committed(&mut client, &p, mark, CYCLE, "written to the waiting step\ntwo");
    let after = wait_for_step_started_ahead(&proxy, &p, ahead + 1);
    assert_eq!(after, ahead + 1, "the save's own build used the step started ahead: {:#?}", proxy.seen());

    // Someone kills it (a `kill -1` as a cancel does): the next save starts its own, once.
    support::docker(&["exec", "-u", "0", &p.builder(), "sh", "-c", "kill -KILL -1"]);
    wait_until_no_step_waits(&p);
    let mark = edit_and_save(&mut client, &p, &[("data/a.txt", "after the waiting step was killed\n")]);
    expect_committed(&mut client, &p, mark, CYCLE, "after the waiting step was killed\ntwo");
    let last = wait_for_step_started_ahead(&proxy, &p, after + 2);
    assert_eq!(last, after + 2, "one exec for the save, one ahead for the next");

    // Unused, it extracts nothing and ends with the server.
    let before = p.in_builder(&["cat", "/app/data/a.txt"]);
    client.shutdown();
    wait_until_no_step_waits(&p);
    assert_eq!(p.in_builder(&["cat", "/app/data/a.txt"]).stdout, before.stdout);
}
