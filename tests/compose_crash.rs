//! A service whose app builds but does not run: the recreate succeeds, then its new container
//! dies at start. docker-rebuilder says so (its output, its problems at the host file, the
//! status), and the save that fixes it brings the service back, though its container was no
//! longer running. And a service that does not stop on its stop signal, which makes every update
//! wait out its grace period, is told so with the fix. Real compose (v1 and v2), the real binary
//! (`watch` and the LSP server), busybox.

mod support;

use serde_json::Value;
use support::compose::{Compose, ComposeProject, CYCLE, FIRST_BUILD};
use support::lsp::{is_diagnostics_for, is_status};

/// The API as a static site whose start script checks its config first and, as many apps do,
/// names what is wrong at the config's file and line before it exits.
fn checked_site(compose: Compose) -> ComposeProject {
    let p = ComposeProject::with(compose);
    p.project.write(
        "api/Dockerfile",
        "FROM busybox:local\nCOPY start.sh /start.sh\nCOPY conf /etc/web\nCOPY src /www\nCMD [\"sh\", \"/start.sh\"]\n",
    );
    p.project.write(
        "api/start.sh",
        "line=$(grep -n '^port' /etc/web/site.conf | grep -v '= 8080' | cut -d: -f1)\n\
         if [ -n \"$line\" ]; then\n  echo 'starting the site' >&2\n  \
         echo \"/etc/web/site.conf:$line:1: error: the site listens on port 8080\" >&2\n  exit 2\nfi\n\
         exec httpd -f -p 8080 -h /www\n",
    );
    p.project.write("api/conf/site.conf", "name = site\nport = 8080\n");
    p.project.write("api/src/index.html", "page 1\n");
    p.project.write(
        "docker-compose.yml",
        "version: \"3.8\"\nservices:\n  api:\n    build: ./api\n    init: true\n    ports:\n      - \
         \"127.0.0.1:${API_PORT:-18080}:8080\"\n",
    );
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("page 1", "after compose up");
    p
}

/// A multi-stage image whose final stage takes its config out of the build stage, which had it
/// from the context (awesome-compose's react-nginx shape): the app's complaint about its
/// config, at its own path, lands at the host file two copies back.
#[test]
fn a_config_copied_out_of_a_build_stage_is_located_at_the_host_file() {
    let p = checked_site(Compose::V1);
    p.project.write(
        "api/Dockerfile",
        "FROM busybox:local AS build\nWORKDIR /app\nCOPY . /app\nRUN cat src/index.html > page.html\n\n\
         FROM busybox:local\nCOPY --from=build /app/start.sh /start.sh\n\
         COPY --from=build /app/conf/site.conf /etc/web/site.conf\nCOPY --from=build /app/page.html /www/index.html\n\
         CMD [\"sh\", \"/start.sh\"]\n",
    );
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("page 1", "the multi-stage image");
    let w = p.watch();
    w.next(FIRST_BUILD);

    p.project.write("api/conf/site.conf", "name = site\nport = 9090\n");
    w.expect("succeeded", CYCLE);
    let exited = w.next(CYCLE);
    assert_eq!(exited["event"], "service_exited", "{exited}\n{}", w.log());
    let conf = p.project.path("api/conf/site.conf");
    let problems = exited["diagnostics"].as_array().cloned().unwrap_or_default();
    assert_eq!(problems.len(), 1, "{exited}");
    assert_eq!(problems[0]["file"], conf.to_string_lossy().as_ref(), "at the host file: {exited}");
    assert_eq!(problems[0]["line"], 2, "{exited}");

    p.project.write("api/conf/site.conf", "name = site\nport = 8080\n");
    w.expect("succeeded", CYCLE);
    p.expect_answer("page 1", "the fix brought the service back");
}

#[test]
fn a_container_that_dies_after_the_recreate_is_said_and_the_fix_brings_it_back() {
    dies_and_comes_back(Compose::V1);
}

#[test]
fn a_container_that_dies_after_the_recreate_is_said_and_the_fix_brings_it_back_under_compose_v2() {
    dies_and_comes_back(Compose::V2);
}

fn dies_and_comes_back(compose: Compose) {
    let p = checked_site(compose);
    let w = p.watch();
    let first = w.next(FIRST_BUILD);
    assert_eq!(first["service"], "api", "{first}\n{}", w.log());
    p.expect_answer("page 1", "after the first cycle");

    // The config the app refuses: the image builds, the new container exits at once.
    p.project.write("api/conf/site.conf", "name = site\nport = 9090\n");
    let cycle = w.expect("succeeded", CYCLE);
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{cycle}\n{}", w.log());
    let exited = w.next(CYCLE);
    assert_eq!(exited["event"], "service_exited", "{exited}\n{}", w.log());
    assert_eq!(exited["exit_code"], 2, "{exited}");
    let message = exited["message"].as_str().unwrap_or_default();
    assert!(message.contains("exited with code 2") && message.contains("starting the site"), "{message}");
    let problems = exited["diagnostics"].as_array().cloned().unwrap_or_default();
    let conf = p.project.path("api/conf/site.conf");
    assert_eq!(problems.len(), 1, "{exited}");
    assert_eq!(problems[0]["file"], conf.to_string_lossy().as_ref(), "at the host file: {exited}");
    assert_eq!(problems[0]["line"], 2, "{exited}");
    assert!(p.get().is_none(), "the service is down");

    // The fix: its container is not running, yet it was not stopped by anyone: recreated.
    p.project.write("api/conf/site.conf", "name = site\nport = 8080\n");
    let cycle = w.expect("succeeded", CYCLE);
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{cycle}\n{}", w.log());
    p.expect_answer("page 1", "the fix brought the service back");
    w.expect_silence(std::time::Duration::from_secs(3), "the fixed container runs on");

    // A container the user stopped is no news, and stays stopped: the next edit leaves the
    // service alone.
    p.compose_ok(&["stop", "api"]);
    w.expect_silence(std::time::Duration::from_secs(2), "a stop is not a failure");
    p.project.write("api/src/index.html", "page 2\n");
    let cycle = w.expect("succeeded", CYCLE);
    assert!(cycle["service_update"].is_null(), "a stopped service is left alone: {cycle}\n{}", w.log());
    w.expect_silence(std::time::Duration::from_secs(2), "nothing recreated, nothing watched");
}

#[test]
fn in_the_editor_a_dead_container_shows_its_problem_until_the_fix() {
    let p = checked_site(Compose::V1);
    let mut lsp = p.lsp();
    lsp.initialize(&[&p.project.dir]);
    let (seen, _) = lsp.wait_for(0, FIRST_BUILD, |m| is_status(m, "succeeded"));
    let conf = p.project.path("api/conf/site.conf");

    p.project.write("api/conf/site.conf", "name = site\nport = 9090\n");
    lsp.did_save(&conf);
    let has_problems = |m: &Value| {
        is_diagnostics_for(m, &conf) && m["params"]["diagnostics"].as_array().is_some_and(|d| !d.is_empty())
    };
    let (at, shown) = lsp.wait_for(seen, CYCLE, has_problems);
    let diagnostic = &shown["params"]["diagnostics"][0];
    assert_eq!(diagnostic["range"]["start"]["line"], 1, "{shown}");
    assert!(diagnostic["message"].as_str().is_some_and(|m| m.contains("port 8080")), "{shown}");
    let (_, down) = lsp.wait_for(seen, CYCLE, |m| is_status(m, "down"));
    // One line, ending with the line of the output that says why.
    let said_down = down["params"]["message"].as_str().unwrap_or_default();
    assert!(said_down.contains("exited with code 2") && !said_down.contains('\n'), "{down}");
    assert!(said_down.ends_with("error: the site listens on port 8080"), "{down}");
    let said = |method: &str| {
        lsp.notifications.iter().any(|m| {
            m["method"] == method && m["params"]["message"].as_str().is_some_and(|t| t.contains("does not run"))
        })
    };
    assert!(said("window/logMessage"), "the crash and its output are in the log: {:?}", lsp.notifications);
    assert!(!said("window/showMessage"), "no pop-up when the problem shows at its file");

    p.project.write("api/conf/site.conf", "name = site\nport = 8080\n");
    lsp.did_save(&conf);
    let cleared =
        |m: &Value| is_diagnostics_for(m, &conf) && m["params"]["diagnostics"].as_array().is_some_and(|d| d.is_empty());
    lsp.wait_for(at + 1, CYCLE, cleared);
    lsp.wait_for(at + 1, CYCLE, |m| is_status(m, "succeeded"));
    p.expect_answer("page 1", "the fix brought the service back");
    lsp.shutdown();
}

/// With a twin (a second service built as the first is): both new containers die, and both are
/// said, the first with its output and the other beside it.
#[test]
fn build_waits_for_a_recreated_container_and_says_when_it_dies() {
    let p = checked_site(Compose::V1);
    let compose_file = p.project.read("docker-compose.yml");
    p.project.write("docker-compose.yml", &format!("{compose_file}  worker:\n    build: ./api\n    init: true\n"));
    p.compose_ok(&["up", "-d", "--build"]);
    let first = p.run(&["build"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);

    p.project.write("api/conf/site.conf", "name = site\nport = 9090\n");
    let broken = p.run(&["--json", "build"]);
    assert_eq!(broken.code, 1, "the image is made, the service is down: {}\n{}", broken.stdout, broken.stderr);
    let v: Value = serde_json::from_str(broken.stdout.trim()).expect("one JSON object");
    assert_eq!(v["outcome"], "succeeded", "{v}");
    let exited = &v["service_exited"];
    assert_eq!(exited["exit_code"], 2, "{v}");
    assert_eq!(exited["diagnostics"][0]["line"], 2, "{v}");
    let mut died: Vec<&str> = std::iter::once(&exited["service"])
        .chain(exited["others"].as_array().into_iter().flatten().map(|o| &o["service"]))
        .filter_map(Value::as_str)
        .collect();
    died.sort_unstable();
    assert_eq!(died, ["api", "worker"], "both new containers died, both are said: {v}");
    let other = exited["others"][0]["container"].as_str().unwrap_or_default();
    assert!(exited["message"].as_str().is_some_and(|m| m.contains(&format!("(so did {other}"))), "{v}");

    p.project.write("api/conf/site.conf", "name = site\nport = 8080\n");
    let fixed = p.run(&["build"]);
    assert_eq!(fixed.code, 0, "{}\n{}", fixed.stdout, fixed.stderr);
    assert!(fixed.stderr.contains("recreated"), "the crashed container is brought back: {}", fixed.stderr);
    p.expect_answer("page 1", "after the fix");
    let worker = p.compose_ok(&["ps", "-q", "worker"]);
    let state = support::docker_ok(&["inspect", "-f", "{{.State.Running}}", worker.trim()]);
    assert_eq!(state, "true", "the twin is back too");
}

/// A Python web app's image: the app and the reloader that runs it (each test's own).
const PYTHON_WEB: &str = "FROM debian:bookworm-slim\nRUN apt-get update && apt-get install -y --no-install-recommends \
                          python3 && rm -rf /var/lib/apt/lists/*\nWORKDIR /app\nCOPY reloader.py app.py ./\n\
                          CMD [\"python3\", \"-u\", \"reloader.py\"]\n";

/// The app: `GET /` answers `web <version>`; its line 7 is `self.end_headers()`.
fn python_app(version: &str) -> String {
    format!(
        "from http.server import BaseHTTPRequestHandler, HTTPServer\n\n\nclass Hello(BaseHTTPRequestHandler):\n    \
         def do_GET(self):\n        self.send_response(200)\n        self.end_headers()\n        \
         self.wfile.write(b\"web {version}\")\n\n\nHTTPServer((\"\", 8080), Hello).serve_forever()\n"
    )
}

/// A Python web app run by a reloader that, as Django's `runserver` does, prints the error of an
/// app that fails to load and waits for a file to change: its container runs on, but nothing
/// serves. A syntax error saved is said as the app's end, at the host file and line; the fix
/// serves again.
#[test]
fn a_dev_server_that_outlives_its_app_says_the_error_in_the_code() {
    let p = ComposeProject::with(Compose::V2);
    p.project.write("web/Dockerfile", PYTHON_WEB);
    p.project.write(
        "web/reloader.py",
        "import runpy, time, traceback\ntry:\n    runpy.run_path(\"app.py\", run_name=\"__main__\")\nexcept Exception:\n    \
         traceback.print_exc()\nprint(\"Watching for file changes\", flush=True)\ntime.sleep(1000000)\n",
    );
    let app = python_app;
    p.project.write("web/app.py", &app("version 1"));
    p.project.write(
        "docker-compose.yml",
        "services:\n  web:\n    build: ./web\n    ports:\n      - \"127.0.0.1:${API_PORT:-18080}:8080\"\n",
    );
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("web version 1", "after compose up");
    let w = p.watch();
    assert_eq!(w.next(FIRST_BUILD)["service"], "web", "{}", w.log());

    // A parenthesis left open: the image builds (nothing compiles Python), the reloader says why.
    p.project.write("web/app.py", &app("version 2").replace("self.end_headers()", "self.end_headers("));
    let cycle = w.expect("succeeded", CYCLE);
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{cycle}\n{}", w.log());
    let said = w.next(CYCLE);
    assert_eq!((&said["event"], &said["running"]), (&"service_exited".into(), &true.into()), "{said}\n{}", w.log());
    assert!(said["exit_code"].is_null(), "{said}");
    let app_py = p.project.path("web/app.py").canonicalize().expect("app.py");
    let problems = said["diagnostics"].as_array().cloned().unwrap_or_default();
    let at_app = problems.iter().any(|d| {
        d["file"] == app_py.to_string_lossy().as_ref()
            && d["line"] == 7
            && d["message"].as_str().is_some_and(|m| m.starts_with("SyntaxError"))
    });
    assert!(at_app, "the syntax error at app.py:7: {said}");
    assert!(said["message"].as_str().is_some_and(|m| m.contains("runs, but the app in it stopped")), "{said}");

    p.project.write("web/app.py", &app("version 2"));
    w.expect("succeeded", CYCLE);
    p.expect_answer("web version 2", "the fix serves again");
    w.expect_silence(std::time::Duration::from_secs(2), "the fixed app runs on, nothing said");

    // Run without the reloader, the same error ends the container: said by its exit code, not
    // as a container running on (its output shows the error as it exits).
    p.project.replace("web/Dockerfile", "\"reloader.py\"", "\"app.py\"");
    p.expect_answer("web version 2", "before the broken save");
    w.expect("image_built", CYCLE);
    p.expect_answer("web version 2", "the app run on its own");
    p.project.write("web/app.py", &app("version 3").replace("self.end_headers()", "self.end_headers("));
    w.expect("succeeded", CYCLE);
    let exited = w.next(CYCLE);
    assert_eq!((&exited["event"], &exited["running"]), (&"service_exited".into(), &false.into()), "{exited}");
    assert_eq!(exited["exit_code"], 1, "{exited}");
}

/// A dev server that reloads the app from a bind mount of the sources (nodemon, Flask's
/// debug server): its container is kept running, since its binds show each save, and a syntax
/// error it reloads is said all the same — from its output after the save only, so the error
/// of an earlier save is not said again once fixed.
#[test]
fn a_reloader_on_a_bind_mount_says_the_error_in_the_code_it_reloads() {
    let p = ComposeProject::with(Compose::V1);
    p.project.write("web/Dockerfile", PYTHON_WEB);
    // Runs the app, and runs it again when app.py changes; an app that fails waits for a change.
    p.project.write(
        "web/reloader.py",
        "import os, subprocess, sys, time\n\n\ndef stamp():\n    return os.stat(\"app.py\").st_mtime_ns\n\n\n\
         while True:\n    seen = stamp()\n    child = subprocess.Popen([sys.executable, \"-u\", \"app.py\"])\n    \
         while child.poll() is None and stamp() == seen:\n        time.sleep(0.1)\n    if child.poll() is None:\n        \
         child.terminate()\n        child.wait()\n    else:\n        print(\"Watching for file changes\", flush=True)\n        \
         while stamp() == seen:\n            time.sleep(0.1)\n",
    );
    let app = python_app;
    p.project.write("web/app.py", &app("version 1"));
    p.project.write(
        "docker-compose.yml",
        "version: \"3.8\"\nservices:\n  web:\n    build: ./web\n    init: true\n    volumes:\n      - ./web:/app\n    \
         ports:\n      - \"127.0.0.1:${API_PORT:-18080}:8080\"\n",
    );
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("web version 1", "after compose up");
    let w = p.watch();
    assert_eq!(w.next(FIRST_BUILD)["service"], "web", "{}", w.log());

    p.project.write("web/app.py", &app("version 2"));
    let cycle = w.expect("succeeded", CYCLE);
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("kept running")), "{cycle}\n{}", w.log());
    p.expect_answer("web version 2", "reloaded from the bind mount");

    p.project.write("web/app.py", &app("version 3").replace("self.end_headers()", "self.end_headers("));
    w.expect("succeeded", CYCLE);
    let said = w.next(CYCLE);
    assert_eq!((&said["event"], &said["kept"]), (&"service_exited".into(), &true.into()), "{said}\n{}", w.log());
    assert_eq!(said["running"], true, "{said}");
    let app_py = p.project.path("web/app.py").canonicalize().expect("app.py");
    let at_app = said["diagnostics"].as_array().into_iter().flatten().any(|d| {
        d["file"] == app_py.to_string_lossy().as_ref()
            && d["line"] == 7
            && d["message"].as_str().is_some_and(|m| m.starts_with("SyntaxError"))
    });
    assert!(at_app, "the syntax error at app.py:7: {said}");

    // Fixed at once: the error printed before this save is not said again.
    p.project.write("web/app.py", &app("version 4"));
    w.expect("succeeded", CYCLE);
    p.expect_answer("web version 4", "the fix is reloaded");
    w.expect_silence(std::time::Duration::from_secs(3), "the fixed app runs on, nothing said");
}

/// A service whose main process has no SIGTERM handler (busybox httpd, from a start script):
/// as PID 1 it ignores the signal, so every stop of it lasts its grace period, then the engine
/// kills it. docker-rebuilder says so, with the fix, once as a warning and then as a note; with
/// `init: true`, the next update says nothing of it.
#[test]
fn a_service_that_ignores_its_stop_signal_is_told_with_the_fix() {
    ignores_its_stop_signal(Compose::V1);
}

#[test]
fn a_service_that_ignores_its_stop_signal_is_told_with_the_fix_under_compose_v2() {
    ignores_its_stop_signal(Compose::V2);
}

fn ignores_its_stop_signal(compose: Compose) {
    let p = ComposeProject::with(compose);
    p.project.write(
        "api/Dockerfile",
        "FROM busybox:local\nCOPY start.sh /start.sh\nCOPY src /www\nCMD [\"sh\", \"/start.sh\"]\n",
    );
    p.project.write("api/start.sh", "httpd -f -p 8080 -h /www\n");
    p.project.write("api/src/index.html", "page 1\n");
    p.project.write(
        "docker-compose.yml",
        "version: \"3.8\"\nservices:\n  api:\n    build: ./api\n    stop_grace_period: 1s\n    ports:\n      - \
         \"127.0.0.1:${API_PORT:-18080}:8080\"\n",
    );
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("page 1", "after compose up");
    let container = format!("{}{sep}api{sep}1", p.name(), sep = p.sep());
    let told = |cycle: &Value| -> Vec<String> {
        let notes = cycle["notes"].as_array().cloned().unwrap_or_default();
        let notes = notes.iter().filter_map(|n| n.as_str().map(str::to_string));
        notes.filter(|n| n.contains("did not exit on the stop signal")).collect()
    };
    // The first cycle is a full build: under v1 (compose's classic build has other layers)
    // it recreates the container compose made, and that stop is the first one killed; under
    // v2 it is answered from compose's BuildKit cache and the container runs on. Then edits.
    let w = p.watch();
    let mut said: Vec<String> = told(&w.next(FIRST_BUILD));
    for page in ["page 2", "page 3"] {
        p.project.write("api/src/index.html", &format!("{page}\n"));
        let cycle = w.expect("succeeded", CYCLE);
        p.expect_answer(page, "the new code serves");
        said.extend(told(&cycle));
    }
    assert!(said.len() >= 2, "each recreate's stop was killed: {said:?}\n{}", w.log());
    assert!(said[0].starts_with("warning: "), "the first time, a warning: {said:?}");
    for words in [container.as_str(), "`stop_grace_period` (1.0 s)", "PID 1", "init: true"] {
        assert!(said[0].contains(words), "names {words}: {said:?}");
    }
    assert!(said[1..].iter().all(|n| !n.starts_with("warning: ")), "then a note: {said:?}");

    // The fix, a run setting: compose recreates the container with an init, which passes the
    // stop signal on; the next update stops it at once.
    p.project.write(
        "docker-compose.yml",
        "version: \"3.8\"\nservices:\n  api:\n    build: ./api\n    init: true\n    stop_grace_period: 1s\n    \
         ports:\n      - \"127.0.0.1:${API_PORT:-18080}:8080\"\n",
    );
    p.compose_ok(&["up", "-d"]);
    p.expect_answer("page 3", "compose kept the image");
    p.project.write("api/src/index.html", "page 4\n");
    let cycle = loop {
        let cycle = w.next(CYCLE);
        if cycle["outcome"] != "up_to_date" {
            break cycle;
        }
    };
    assert_eq!(cycle["outcome"], "succeeded", "{cycle}\n{}", w.log());
    p.expect_answer("page 4", "after the fix");
    assert!(told(&cycle).is_empty(), "a stop that ends the app is no news: {cycle}\n{}", w.log());
}
