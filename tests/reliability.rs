//! Faults and hostile input a real machine brings, against the real engine: hangs, floods of
//! output, two editors on one project, configuration that reaches out of the project,
//! someone else's images. Nothing lost, nothing of anyone else touched.

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::lsp::{is_diagnostics_for, is_status, LspClient};
use support::{docker, docker_ok, TempProject, BIN};

const FIRST_BUILD: Duration = Duration::from_secs(600);
const CYCLE: Duration = Duration::from_secs(120);

fn start(p: &TempProject) -> LspClient {
    let mut client = LspClient::start(BIN);
    client.initialize(&[&p.dir]);
    client.wait_for(0, FIRST_BUILD, |n| is_status(n, "succeeded"));
    client
}

fn messages(client: &LspClient, since: usize, method: &str) -> Vec<String> {
    client.notifications[since..]
        .iter()
        .filter(|n| n["method"] == method)
        .map(|n| n["params"]["message"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn configuration_that_points_outside_the_project_is_refused() {
    let p = TempProject::fixture("busybox-app");
    let cases = [
        ("context = \"../..\"\n", "context"),
        ("dockerfile = \"/etc/passwd\"\n", "dockerfile"),
        ("dockerfile = \"../Dockerfile\"\n", "dockerfile"),
        ("[[sync]]\nsrc = \"../../etc\"\ndest = \"/app/etc\"\n", "outside the build context"),
        ("[[sync]]\nsrc = \"/etc\"\ndest = \"/app/etc\"\n", "outside the build context"),
        ("[[sync]]\nsrc = \"data\"\ndest = \"/\"\n", "container's root"),
    ];
    std::fs::write(p.dir.parent().expect("parent").join("Dockerfile"), "FROM busybox:local\n").expect("write");
    for (config, named) in cases {
        p.write("rebuilder.toml", config);
        let run = p.run(&["build"]);
        assert_eq!(run.code, 2, "{config}: refused as a tool error: {}\n{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(named), "{config}: the message names `{named}`: {}", run.stderr);
        assert!(run.stderr.contains("fix:"), "{config}: with a fix: {}", run.stderr);
        assert!(
            docker(&["image", "inspect", &p.image]).status.code() != Some(0),
            "{config}: nothing was built from outside the project"
        );
    }
}

#[test]
fn a_hanging_build_is_stopped_by_timeout_secs_with_its_processes_and_nothing_is_committed() {
    let p = TempProject::fixture("busybox-app");
    p.build_json(&[], 0);
    let good = p.image_id();
    // A build that never ends, with a child of its own that must die too.
    p.write("rebuilder.toml", "timeout_secs = 2\nrebuild = \"sleep 301 & sleep 302; cat data/*.txt > out.txt\"\n");
    let v = p.build_json(&[], 0); // the recipe changed: a full build first
    assert_eq!(v["outcome"], "image_built", "{v}");
    // The same Dockerfile: docker build's cache gives the same image.
    let good_after_recipe = p.image_id();
    assert_eq!(good_after_recipe, good);
    p.write("data/a.txt", "hangs\n");
    let started = Instant::now();
    let v = p.build_json(&[], 1);
    assert_eq!(v["outcome"], "timed_out", "{v}");
    assert!(v["detail"]["reason"].as_str().unwrap_or_default().contains("timeout_secs"), "says what to raise: {v}");
    assert!(started.elapsed() < Duration::from_secs(60), "stopped at its timeout, not at the sleep's end");
    let ps = p.in_builder(&["ps", "-o", "args"]);
    let ps = String::from_utf8_lossy(&ps.stdout);
    assert!(!ps.contains("sleep 30"), "the build's processes were killed, not just its exec session:\n{ps}");
    assert_eq!(p.image_id(), good_after_recipe, "nothing committed");

    // The builder is still usable: a build that finishes commits normally.
    p.write("rebuilder.toml", "timeout_secs = 20\nrebuild = \"cat data/*.txt > out.txt\"\n");
    p.build_json(&[], 0);
    let v = p.build_json(&[], 0);
    assert!(matches!(v["outcome"].as_str(), Some("succeeded" | "up_to_date")), "{v}");
    assert_eq!(p.run_image(), "hangs\ntwo");
}

#[test]
fn a_build_past_timeout_secs_in_the_editor_is_a_warning_naming_the_step_the_limit_and_the_fix() {
    let p = TempProject::fixture("busybox-app");
    // GNU tar: the changes ride on the step's exec, behind our extraction script, which must
    // never show in what the user reads.
    let dockerfile = p.read("Dockerfile").replace("FROM busybox:local", "FROM busybox:gnutar");
    p.write("Dockerfile", &dockerfile);
    p.write("rebuilder.toml", "timeout_secs = 3\nrebuild = \"sleep 301; cat data/*.txt > out.txt\"\n");
    let mut client = start(&p);
    let mark = client.notifications.len();
    p.write("data/a.txt", "hangs\n");
    client.did_save(&p.path("data/a.txt"));
    let (_, shown) = client.wait_for(mark, Duration::from_secs(120), |n| n["method"] == "window/showMessage");
    assert_eq!(shown["params"]["type"], 2, "a warning: {shown}");
    let text = shown["params"]["message"].as_str().unwrap_or_default();
    for part in ["`sleep 301; cat data/*.txt > out.txt`", "timeout_secs = 3", "raise `timeout_secs`"] {
        assert!(text.contains(part), "says {part}: {text}");
    }
    let (_, failed) = client.wait_for(mark, Duration::from_secs(60), |n| is_status(n, "failed"));
    assert!(failed["params"]["message"].as_str().unwrap_or_default().contains("timeout_secs = 3"), "{failed}");
    for n in &client.notifications[mark..] {
        let n = n.to_string();
        assert!(
            !n.contains("tar --version") && !n.contains("GNU tar"),
            "no internal script in what the user reads: {n}"
        );
    }
    client.shutdown();
}

#[test]
fn a_hundred_megabytes_of_output_keep_the_server_small() {
    let p = TempProject::fixture("busybox-app");
    p.write(
        "rebuilder.toml",
        "rebuild = \"yes 'a chatty build line, again and again and again' | head -c 100000000; \
         head -c 20000000 /dev/zero | tr '\\\\0' x; echo; cat data/*.txt > out.txt\"\n",
    );
    let mut client = start(&p);
    p.write("data/a.txt", "flooded\n");
    let mark = client.notifications.len();
    client.did_save(&p.path("data/a.txt"));
    client.wait_for(mark, Duration::from_secs(300), |n| is_status(n, "succeeded"));
    assert_eq!(p.run_image(), "flooded\ntwo");
    let status = std::fs::read_to_string(format!("/proc/{}/status", client.pid())).expect("proc status");
    let peak_kb: u64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmHWM");
    assert!(peak_kb < 80 * 1024, "peak RSS {peak_kb} kB for 120 MB of output: it must be streamed, not kept");
    let logged: usize = messages(&client, mark, "window/logMessage").iter().map(String::len).sum();
    assert!(logged < 2 * 1024 * 1024, "the log is bounded: {logged} bytes sent");
    assert!(
        messages(&client, mark, "window/logMessage").iter().any(|m| m.contains("bytes of build output not shown")),
        "the user is told output was left out"
    );
    client.shutdown();
}

#[test]
fn two_editors_on_one_project_share_one_builder_take_turns_and_both_get_diagnostics() {
    let p = TempProject::fixture("busybox-app");
    // A build that notices if another build runs in the same builder at the same time.
    p.write(
        "rebuilder.toml",
        "rebuild = \"if [ -e /tmp/in-build ]; then echo OVERLAP >&2; exit 9; fi; touch /tmp/in-build; sleep 1; \
         rm /tmp/in-build; sh build.sh\"\n",
    );
    let mut a = start(&p);
    let mut b = LspClient::start(BIN);
    b.initialize(&[&p.dir]);
    b.wait_for(0, FIRST_BUILD, |n| is_status(n, "succeeded"));
    assert_eq!(
        docker_ok(&["ps", "-aq", "--filter", &format!("label=dev.docker-rebuilder.project={}", p.dir.display())])
            .lines()
            .count(),
        1,
        "one builder for both servers"
    );

    for round in 0..3 {
        let (ma, mb) = (a.notifications.len(), b.notifications.len());
        p.write("data/a.txt", &format!("round {round}\n"));
        a.did_save(&p.path("data/a.txt"));
        b.did_save(&p.path("data/a.txt"));
        let done = |n: &Value| is_status(n, "succeeded") || is_status(n, "failed") || is_status(n, "error");
        let (_, sa) = a.wait_for(ma, CYCLE, done);
        let (_, sb) = b.wait_for(mb, CYCLE, done);
        for (who, s, client, mark) in [("a", &sa, &a, ma), ("b", &sb, &b, mb)] {
            assert_eq!(s["params"]["state"], "succeeded", "{who}, round {round}: {s}");
            let log = messages(client, mark, "window/logMessage").join("\n");
            assert!(!log.contains("OVERLAP"), "{who}: two builds ran at once in the builder:\n{log}");
        }
        assert_eq!(p.run_image(), format!("round {round}\ntwo"));
    }

    // A compile error: both editors show it.
    let (ma, mb) = (a.notifications.len(), b.notifications.len());
    p.write("data/b.txt", "FAIL\n");
    p.write("data/error.txt", "placeholder\n");
    a.did_save(&p.path("data/b.txt"));
    b.did_save(&p.path("data/b.txt"));
    let error_file = p.path("data/error.txt");
    let has_error = |n: &Value| {
        is_diagnostics_for(n, &error_file) && !n["params"]["diagnostics"].as_array().is_none_or(|d| d.is_empty())
    };
    a.wait_for(ma, CYCLE, has_error);
    b.wait_for(mb, CYCLE, has_error);
    a.shutdown();
    b.shutdown();
}

#[test]
fn a_broken_dockerfile_is_shown_at_its_line_and_fixing_it_recovers() {
    let p = TempProject::fixture("busybox-app");
    let mut client = start(&p);
    let dockerfile = p.path("Dockerfile");
    let good = p.read("Dockerfile");
    p.write("Dockerfile", &good.replacen("WORKDIR /app", "WORKDIR /app\nFROBNICATE now", 1));
    let mark = client.notifications.len();
    client.did_save(&dockerfile);
    let (_, shown) = client.wait_for(mark, CYCLE, |n| n["method"] == "window/showMessage");
    assert!(shown["params"]["message"].as_str().unwrap_or_default().contains("FROBNICATE"), "{shown}");
    let (_, at) = client.wait_for(mark, CYCLE, |n| is_diagnostics_for(n, &dockerfile));
    let line = good.lines().position(|l| l.starts_with("WORKDIR /app")).expect("WORKDIR") + 1;
    assert_eq!(at["params"]["diagnostics"][0]["range"]["start"]["line"], line, "{at}");
    client.wait_for(mark, CYCLE, |n| is_status(n, "error"));

    p.write("Dockerfile", &good);
    let mark = client.notifications.len();
    client.did_save(&dockerfile);
    let (_, cleared) = client.wait_for(mark, CYCLE, |n| is_diagnostics_for(n, &dockerfile));
    assert_eq!(cleared["params"]["diagnostics"], json!([]));
    client.wait_for(mark, FIRST_BUILD, |n| is_status(n, "succeeded"));
    assert!(client.is_running());
    client.shutdown();
}

#[test]
fn an_image_someone_else_tagged_is_never_pruned() {
    let p = TempProject::fixture("busybox-app");
    p.build_json(&[], 0);
    p.write("data/a.txt", "first edit\n");
    p.build_json(&[], 0);
    let committed = p.image_id();
    let theirs = format!("someone-else-{}:keep", std::process::id());
    docker_ok(&["tag", &committed, &theirs]);
    // The next commit supersedes `committed`: ours would be pruned, theirs must survive.
    p.write("data/a.txt", "second edit\n");
    p.build_json(&[], 0);
    assert_ne!(p.image_id(), committed);
    let kept = docker(&["image", "inspect", "--format", "{{.Id}}", &theirs]);
    assert!(kept.status.success(), "someone else's tag was removed");
    assert_eq!(String::from_utf8_lossy(&kept.stdout).trim(), committed);
    assert_eq!(docker_ok(&["run", "--rm", &theirs]), "first edit\ntwo", "and still runs");
    p.run(&["clean"]);
    assert!(docker(&["image", "inspect", &theirs]).status.success(), "clean leaves it too");
    docker(&["rmi", "--no-prune", &theirs]);
}
