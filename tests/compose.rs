//! Compose projects (issue 15) end to end: the real `docker-compose` (Debian's 1.29, installed
//! by `.ci/engine.sh`) brings a two-service project up, the real binary rebuilds the API
//! service, and the running service is checked over HTTP on its published loopback port.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::lsp::{is_diagnostics_for, is_status, LspClient};
use support::watch::Watch;
use support::{docker, docker_ok, require_images, TempProject, BIN};

/// A first build: Debian's gcc into the image (cached after the first test that builds it).
const FIRST_BUILD: Duration = Duration::from_secs(600);
/// An incremental cycle plus the service's recreate.
const CYCLE: Duration = Duration::from_secs(120);

/// A copy of the compose fixture whose compose project is its own (the folder's unique name),
/// its API published on a free loopback port. Dropping it takes the compose project down and
/// removes what docker-rebuilder made for its services.
struct ComposeProject {
    project: TempProject,
    port: u16,
}

impl ComposeProject {
    fn new() -> ComposeProject {
        require_images(&["debian:bookworm-slim", "busybox:local"]);
        let project = TempProject::fixture("compose-app");
        // Its own sources: no layer from the sources on is shared with another test's build.
        let word = project.dir.file_name().expect("name").to_string_lossy().into_owned();
        let text = project.read("api/src/greeting.c");
        project.write("api/src/greeting.c", &format!("{text}\nconst char *const fixture_stamp = \"{word}\";\n"));
        let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        ComposeProject { project, port }
    }

    /// compose v1's project name: the folder's name, lowercase, `[-_a-z0-9]` kept.
    fn name(&self) -> String {
        let folder = self.project.dir.file_name().expect("name").to_string_lossy().to_lowercase();
        folder.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
    }

    /// The image compose v1 runs the API from.
    fn api_image(&self) -> String {
        format!("{}_api", self.name())
    }

    fn compose(&self, args: &[&str]) -> Output {
        Command::new("docker-compose")
            .args(args)
            .current_dir(&self.project.dir)
            .env("API_PORT", self.port.to_string())
            .output()
            .expect("docker-compose runs (.ci/engine.sh installs it)")
    }

    fn compose_ok(&self, args: &[&str]) -> String {
        let out = self.compose(args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "docker-compose {args:?} failed:\n{text}");
        text
    }

    /// `docker-rebuilder ARGS` in the compose folder.
    fn run(&self, args: &[&str]) -> support::Run {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(&self.project.dir)
            .env("XDG_CACHE_HOME", self.project.cache_home())
            .env("API_PORT", self.port.to_string())
            .output()
            .expect("docker-rebuilder runs");
        support::Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `docker-rebuilder lsp` with the test's cache and the API's port in its environment (as
    /// an editor started where the user runs compose).
    fn lsp(&self) -> LspClient {
        let cache = self.project.cache_home();
        let port = self.port.to_string();
        LspClient::start_with_env(
            BIN,
            &[("XDG_CACHE_HOME", cache.to_str().expect("utf-8 path")), ("API_PORT", port.as_str())],
        )
    }

    /// The id of the one container compose runs for `service`.
    fn container(&self, service: &str) -> String {
        let filter_project = format!("label=com.docker.compose.project={}", self.name());
        let filter_service = format!("label=com.docker.compose.service={service}");
        let ids = docker_ok(&["ps", "-q", "--no-trunc", "--filter", &filter_project, "--filter", &filter_service]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        assert_eq!(ids.len(), 1, "one running container of {service}: {ids:?}");
        ids[0].to_string()
    }

    fn started_at(&self, container: &str) -> String {
        docker_ok(&["inspect", "--format", "{{.State.StartedAt}}", container])
    }

    /// The API's answer to `GET /`, or None when nothing answers.
    fn get(&self) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        response.split_once("\r\n\r\n").map(|(_, body)| body.trim().to_string()).filter(|b| !b.is_empty())
    }

    /// Waits up to 30 s for the API to answer with a body containing `wanted`.
    fn expect_answer(&self, wanted: &str, why: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = None;
        while Instant::now() < deadline {
            last = self.get();
            if last.as_deref().is_some_and(|body| body.contains(wanted)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{why}: the API should answer {wanted:?}, it answered {last:?}");
    }
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-t", "1", "--rmi", "local", "-v"]);
        // docker-rebuilder's objects for the services: labelled `<context>#<service>`.
        // (And, should a run have taken a service's folder for a project of its own, its objects.)
        let api = self.project.path("api").display().to_string();
        for value in [format!("{api}#api"), format!("{api}#worker"), api] {
            let label = format!("label=dev.docker-rebuilder.project={value}");
            let ids = docker(&["ps", "-aq", "--filter", &label]);
            for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
                docker(&["rm", "-f", id]);
            }
            let images = docker(&["images", "-q", "--filter", &label]);
            for id in String::from_utf8_lossy(&images.stdout).split_whitespace() {
                docker(&["rmi", "-f", "--no-prune", id]);
            }
        }
        docker(&["rmi", "-f", "--no-prune", &self.api_image()]);
        docker(&["rmi", "-f", "--no-prune", &format!("{}_worker", self.name())]);
    }
}

/// A `watch --json` in the compose folder.
fn watch(p: &ComposeProject) -> Watch {
    Watch::spawn_env(
        &["watch", "--json"],
        &p.project.dir,
        Some(&p.project.dir),
        &[("XDG_CACHE_HOME", p.project.cache_home().as_os_str()), ("API_PORT", p.port.to_string().as_ref())],
    )
}

#[test]
fn an_edit_reaches_the_running_service_and_compose_keeps_it() {
    let p = ComposeProject::new();
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("hello from version 1 (from compose)", "after docker-compose up");
    let cache = p.container("cache");
    let cache_started = p.started_at(&cache);

    let w = watch(&p);
    // The first cycle: our own build of the image compose names, then the service onto it.
    let first = w.next(FIRST_BUILD);
    assert_eq!(first["service"], "api", "{first}");
    assert!(matches!(first["outcome"].as_str(), Some("image_built" | "up_to_date")), "{first}\n{}", w.log());

    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from version 2");
    let cycle = w.expect("succeeded", CYCLE);
    assert_eq!(cycle["image"], format!("{}:latest", p.api_image()), "{cycle}");
    assert!(
        cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")),
        "the cycle recreates the service's container: {cycle}\n{}",
        w.log()
    );
    // No manual step: the published port answers with the new code.
    p.expect_answer("hello from version 2 (from compose)", "after the edit");
    // The container runs the committed image, with compose's config (its environment).
    let api = p.container("api");
    let image_id = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &p.api_image()]);
    assert_eq!(docker_ok(&["inspect", "--format", "{{.Image}}", &api]), image_id);
    // The other service was not touched.
    assert_eq!(p.container("cache"), cache, "the cache service's container is the same");
    assert_eq!(p.started_at(&cache), cache_started, "the cache service was not restarted");
    // compose sees the API as its own, up, and up to date on the new image.
    let ps = p.compose_ok(&["ps"]);
    assert!(ps.lines().any(|l| l.contains("_api_1") && l.contains("Up")), "docker-compose ps:\n{ps}");
    let up = p.compose_ok(&["up", "-d"]);
    assert_eq!(p.container("api"), api, "`docker-compose up -d` afterwards keeps the container:\n{up}");
    p.expect_answer("hello from version 2", "after docker-compose up -d");

    // A compile error: shown, nothing recreated, the old code keeps serving.
    p.project.replace("api/src/greeting.c", "return \"hello", "return undeclared_name + \"hello");
    let failed = w.expect("build_failed", CYCLE);
    assert!(failed["errors"].as_u64().unwrap_or(0) >= 1, "{failed}");
    assert!(failed["service_update"].is_null(), "a failed build recreates nothing: {failed}");
    assert_eq!(p.container("api"), api, "the service keeps its container");
    p.expect_answer("hello from version 2", "while the build is broken");

    // Fixed: the service runs the fix.
    p.project.replace(
        "api/src/greeting.c",
        "return undeclared_name + \"hello from version 2",
        "return \"hello from version 3",
    );
    w.expect("succeeded", CYCLE);
    p.expect_answer("hello from version 3", "after the fix");
}

/// The service's containers are stopped beside the commit (the recreate would stop them
/// first anyway); when compose then refuses the recreate, they are started again: the old
/// code keeps serving and nothing else is touched.
#[test]
fn a_recreate_compose_refuses_leaves_the_old_container_serving() {
    let p = ComposeProject::new();
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("hello from version 1", "after docker-compose up");
    let api = p.container("api");
    // From now on compose refuses every `up`, before it touches a container: the API needs
    // an external volume that does not exist.
    let volume = format!("{}_missing", p.name());
    let text = p.project.read("docker-compose.yml");
    let text = text.replacen(
        "    restart: unless-stopped\n",
        &format!("    restart: unless-stopped\n    volumes:\n      - {volume}:/data\n"),
        1,
    );
    p.project.write("docker-compose.yml", &format!("{text}volumes:\n  {volume}:\n    external: true\n"));
    assert!(!p.compose(&["up", "-d", "--no-build", "api"]).status.success(), "compose refuses the file");

    let w = watch(&p);
    w.next(FIRST_BUILD);
    p.expect_answer("hello from version 1", "after the first cycle");
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from version 2");
    let cycle = w.expect("succeeded", CYCLE);
    let update = cycle["service_update"].as_str().unwrap_or_default();
    assert!(update.contains("failed") && update.contains(&volume), "compose's refusal is reported: {cycle}");
    let running = docker_ok(&["inspect", "--format", "{{.State.Running}} {{.Id}}", &api]);
    assert_eq!(running, format!("true {api}"), "the old container runs again\n{}", w.log());
    p.expect_answer("hello from version 1", "the old code keeps serving after compose refused");
    assert_eq!(p.container("api"), api, "no other container took its place");
}

#[test]
fn a_service_with_no_running_container_is_left_alone() {
    let p = ComposeProject::new();
    let run = p.run(&["build", "--json", "api"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(report["service"], "api");
    assert_eq!(report["image"], format!("{}:latest", p.api_image()), "compose v1's name for the image");
    assert!(report["service_update"].is_null(), "nothing ran, nothing is recreated: {report}");
    let filter = format!("label=com.docker.compose.project={}", p.name());
    assert_eq!(docker_ok(&["ps", "-aq", "--filter", &filter]), "", "no container of the project was made");
    // compose then runs the image we built: `up` without building.
    p.compose_ok(&["up", "-d", "--no-build"]);
    p.expect_answer("hello from version 1", "docker-compose up on our image");
    // `status` names the service and its container, on this image.
    let run = p.run(&["status", "--json", "api"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status: Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(status["service"]["name"], "api", "{status}");
    assert_eq!(status["service"]["compose_project"], p.name().as_str(), "{status}");
    assert_eq!(status["service"]["containers"][0]["running"], true, "{status}");
    assert_eq!(status["service"]["containers"][0]["runs_this_image"], true, "{status}");
}

#[test]
fn the_lsp_server_on_the_compose_folder_updates_the_service_on_save() {
    let p = ComposeProject::new();
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("hello from version 1", "after docker-compose up");
    let mut lsp = p.lsp();
    lsp.initialize(&[&p.project.dir]);
    // `initialized` starts the service's session: our build of its image, then the service
    // onto it.
    let (seen, status) = lsp.wait_for(0, FIRST_BUILD, |m| is_status(m, "succeeded") || is_status(m, "failed"));
    assert_eq!(status["params"]["service"], "api", "{status}");
    assert!(is_status(&status, "succeeded"), "{status}");
    let source = p.project.path("api/src/greeting.c");
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from LSP");
    lsp.did_save(&source);
    p.expect_answer("hello from LSP", "after a save in the editor");
    p.project.replace("api/src/greeting.c", "return \"hello", "return nope + \"hello");
    lsp.did_save(&source);
    let (_, diagnostics) = lsp.wait_for(seen, CYCLE, |m| {
        is_diagnostics_for(m, &source) && m["params"]["diagnostics"].as_array().is_some_and(|d| !d.is_empty())
    });
    assert!(diagnostics.to_string().contains("nope"), "{diagnostics}");
    p.expect_answer("hello from LSP", "the service keeps serving while the build is broken");
    lsp.shutdown();
}

/// A compose file of `text` in a fresh folder holding the fixture's API.
fn with_compose(text: &str) -> ComposeProject {
    let p = ComposeProject::new();
    p.project.write("docker-compose.yml", text);
    p
}

fn assert_refused(p: &ComposeProject, args: &[&str], wanted: &[&str]) {
    let run = p.run(args);
    assert_eq!(run.code, 2, "{args:?} must fail as a tool error:\n{}\n{}", run.stdout, run.stderr);
    for w in wanted {
        assert!(run.stderr.contains(w), "{args:?}: the error should say {w:?}:\n{}", run.stderr);
    }
}

#[test]
fn bad_compose_files_get_located_errors_and_nothing_is_touched() {
    let p = with_compose("services:\n  api:\n    build: ./api\n    ports: [\"1:2\"\n  cache:\n    image: x\n");
    assert_refused(&p, &["build", "api"], &["docker-compose.yml:", "fix:"]);

    let p = with_compose("services:\n  api:\n    build: ./api\n  cache:\n    image: busybox:local\n");
    assert_refused(&p, &["build", "web"], &["web", "api"]);
    assert_refused(&p, &["build", "cache"], &["docker-compose.yml:4", "has no `build:` section"]);

    let p = with_compose("services:\n  api:\n    build: ../elsewhere\n");
    std::fs::create_dir_all(p.project.dir.parent().expect("parent").join("elsewhere")).expect("mkdir");
    assert_refused(&p, &["build", "api"], &["docker-compose.yml:2", "outside the compose folder"]);

    let p = with_compose("services:\n  api:\n    build: https://github.com/docker/getting-started.git\n");
    assert_refused(&p, &["build", "api"], &["docker-compose.yml:2", "remote"]);

    let p = with_compose("services:\n  api:\n    build: ./api\n    image: ${IMAGE_NAME:?set IMAGE_NAME}\n");
    assert_refused(&p, &["build"], &["docker-compose.yml:4", "IMAGE_NAME"]);
    // Nothing was made for any of them.
    let label = format!("label=dev.docker-rebuilder.project={}#api", p.project.path("api").display());
    assert_eq!(docker_ok(&["ps", "-aq", "--filter", &label]), "");
}

#[test]
fn a_container_of_another_compose_project_is_never_touched() {
    let p = ComposeProject::new();
    // Another project's container for a service of the same name, on the same image name.
    let other = format!("{}-other", p.name());
    let out = p.compose(&["-p", &other, "up", "-d", "--build"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let filter = format!("label=com.docker.compose.project={other}");
    let before = docker_ok(&["ps", "-q", "--no-trunc", "--filter", &filter]);
    let run = p.run(&["build", "--json", "api"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert!(report["service_update"].is_null(), "our project runs nothing: {report}");
    assert_eq!(docker_ok(&["ps", "-q", "--no-trunc", "--filter", &filter]), before, "the other project is untouched");
    let _ = p.compose(&["-p", &other, "down", "-t", "1", "--rmi", "local"]);

    // A `container_name:` held by a container of no compose project: said, at the service's
    // line, and that container left running as it was.
    let name = format!("{}-api", p.name());
    p.project.replace(
        "docker-compose.yml",
        "    build: ./api\n",
        &format!("    build: ./api\n    container_name: {name}\n"),
    );
    let squatter = docker_ok(&["run", "-d", "--name", &name, "busybox:local", "sleep", "600"]);
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from version 2");
    let run = p.run(&["build", "--json", "api"]);
    let still = docker_ok(&["inspect", "--format", "{{.Id}} {{.State.Running}}", &name]);
    docker(&["rm", "-f", &name]);
    assert_eq!(still, format!("{squatter} true"), "the squatting container is left running as it was");
    assert_eq!(run.code, 0, "the image is still built: {}\n{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    let update = report["service_update"].as_str().unwrap_or_default();
    assert!(update.contains("docker-compose.yml:5") && update.contains("no compose project"), "{report}");
    assert!(report["notes"].to_string().contains(&name), "a warning names the container: {report}");
}

/// A `develop.watch` section for the API, in a file of its own given with `-f` after the
/// fixture's: compose v1 (the one installable here) refuses `develop` in the file it runs, and
/// the service's containers record only the file compose ran with, which the recreate uses.
const DEVELOP: &str = r#"services:
  api:
    develop:
      watch:
        - action: sync+restart
          path: ./api/src
          target: /src/src
          ignore:
            - "*.tmp"
        - action: rebuild
          path: ./api/Makefile
        - action: sync+exec
          path: ./api/conf
          target: /etc/api
          exec:
            command: ["sh", "-c", "cat /etc/api/motd > /tmp/motd-seen"]
"#;

#[test]
fn develop_watch_rules_decide_what_is_synced_rebuilt_restarted_and_run() {
    let p = ComposeProject::new();
    p.project.write("compose.develop.yml", DEVELOP);
    p.project.write("api/conf/motd", "first\n");
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("hello from version 1", "after docker-compose up");
    let w = Watch::spawn_env(
        &["watch", "--json", "-f", "docker-compose.yml", "-f", "compose.develop.yml"],
        &p.project.dir,
        Some(&p.project.dir),
        &[("XDG_CACHE_HOME", p.project.cache_home().as_os_str()), ("API_PORT", p.port.to_string().as_ref())],
    );
    let first = w.next(FIRST_BUILD);
    assert!(matches!(first["outcome"].as_str(), Some("image_built" | "up_to_date")), "{first}\n{}", w.log());

    // sync+restart: synced to its target, built, and the service restarted on the new code.
    let before = p.container("api");
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from version 2");
    let cycle = w.expect("succeeded", CYCLE);
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{cycle}");
    p.expect_answer("hello from version 2", "after a sync+restart change");
    assert_ne!(p.container("api"), before, "sync+restart restarts the service");

    // An ignored file, and a file no rule names: nothing happens.
    p.project.write("api/src/notes.tmp", "scratch");
    p.project.write("api/README.md", "not watched");
    w.expect_silence(Duration::from_secs(3), "files the develop rules leave out changed");

    // sync+exec: copied into the running container, the command run there, no restart.
    let running = p.container("api");
    p.project.write("api/conf/motd", "second\n");
    let cycle = w.expect("succeeded", CYCLE);
    let update = cycle["service_update"].as_str().unwrap_or_default().to_string();
    assert!(update.contains("synced 1 file") && update.contains("cat /etc/api/motd"), "{cycle}");
    assert_eq!(p.container("api"), running, "sync+exec does not restart the service");
    let seen = docker_ok(&["exec", &running, "cat", "/tmp/motd-seen"]);
    assert_eq!(seen.trim(), "second", "the command ran after the file was there");

    // rebuild: a full build, with the rule named, and the service on the new image.
    p.project.replace("api/Makefile", "-O1", "-O2");
    let cycle = w.expect("image_built", CYCLE);
    assert!(cycle["detail"]["reason"].as_str().is_some_and(|r| r.contains("develop.watch")), "{cycle}");
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{cycle}");
    p.expect_answer("hello from version 2", "after the rebuild");
    let image_id = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &p.api_image()]);
    assert_eq!(docker_ok(&["inspect", "--format", "{{.Image}}", &p.container("api")]), image_id);
}

#[test]
fn two_services_built_from_one_context_are_both_rebuilt_and_updated() {
    let p = ComposeProject::new();
    let second = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    p.project.replace(
        "docker-compose.yml",
        "  cache:\n",
        &format!(
            "  worker:\n    build: ./api\n    ports:\n      - \"127.0.0.1:{second}:8080\"\n    environment:\n      \
             GREETING_SUFFIX: \" (worker)\"\n  cache:\n"
        ),
    );
    p.compose_ok(&["up", "-d", "--build"]);
    let get_second = || {
        let mut stream = TcpStream::connect(("127.0.0.1", second)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        stream.write_all(b"GET / HTTP/1.0\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        Some(response)
    };
    let w = watch(&p);
    // One first cycle per service.
    let mut services: Vec<String> =
        (0..2).map(|_| w.next(FIRST_BUILD)["service"].as_str().unwrap_or_default().to_string()).collect();
    services.sort();
    assert_eq!(services, ["api", "worker"], "{}", w.log());
    // Both services are built from ./api: one watch of it serves both.
    assert_eq!(w.inotify_instances(), 1, "one file watch for the shared context");

    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from version 2");
    let mut updated: Vec<String> = (0..2)
        .map(|_| {
            let cycle = w.expect("succeeded", CYCLE);
            assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{cycle}");
            cycle["service"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    updated.sort();
    assert_eq!(updated, ["api", "worker"], "one save rebuilt both services");
    p.expect_answer("hello from version 2 (from compose)", "the api service");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get_second().is_some_and(|r| r.contains("hello from version 2 (worker)")) {
        assert!(Instant::now() < deadline, "the worker service answers the new code: {:?}", get_second());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Each service has a builder of its own, and both images are compose's names.
    for service in ["api", "worker"] {
        let label = format!("label=dev.docker-rebuilder.project={}#{service}", p.project.path("api").display());
        let builders =
            docker_ok(&["ps", "-q", "--filter", &label, "--filter", "label=dev.docker-rebuilder.role=builder"]);
        assert_eq!(builders.lines().count(), 1, "{service}'s builder");
        docker_ok(&["image", "inspect", &format!("{}_{service}", p.name())]);
    }
}

#[test]
fn a_service_from_an_included_compose_file_builds_from_that_files_folder() {
    // `include:` (compose v2.20+; v1 refuses the key, so only docker-rebuilder reads it here):
    // the API's compose file lives beside its sources, its context relative to it, its own
    // .env interpolated into it.
    let p = with_compose("include:\n  - api/compose.yaml\nservices:\n  cache:\n    image: busybox:local\n");
    p.project.write("api/compose.yaml", "services:\n  api:\n    build: .\n    image: \"${API_IMAGE}\"\n");
    let image = format!("{}-included:latest", p.name());
    p.project.write("api/.env", &format!("API_IMAGE={image}\n"));
    let run = p.run(&["build", "--json", "api"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(report["service"], "api", "{report}");
    assert_eq!(report["image"], image.as_str(), "the name the included file's .env gives: {report}");
    let label = format!("label=dev.docker-rebuilder.project={}#api", p.project.path("api").display());
    assert_eq!(docker_ok(&["ps", "-aq", "--filter", &label]).lines().count(), 1, "the builder, of context api/");
    let run = docker(&["run", "--rm", "--entrypoint", "sh", &image, "-c", "ls /src/src/server.c /src/server"]);
    let listed = String::from_utf8_lossy(&run.stdout);
    docker(&["rmi", "-f", "--no-prune", &image]);
    assert!(listed.contains("server.c"), "the image holds what api/ holds: {listed}");
}

#[test]
fn the_env_file_given_to_us_is_given_to_the_recreate_too() {
    let p = ComposeProject::new();
    // The published port comes only from this file: a recreate that read no env file would
    // publish the compose file's default port instead, and the answer would not come here.
    p.project.write("dev.env", &format!("API_PORT={}\n", p.port));
    let up = Command::new("docker-compose")
        .args(["--env-file", "dev.env", "up", "-d", "--build"])
        .current_dir(&p.project.dir)
        .env_remove("API_PORT")
        .output()
        .expect("docker-compose runs");
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    p.expect_answer("hello from version 1 (from compose)", "after docker-compose --env-file dev.env up");

    let cache = p.project.cache_home();
    let w = Watch::spawn_env(
        &["watch", "--json", "--env-file", "dev.env"],
        &p.project.dir,
        Some(&p.project.dir),
        &[("XDG_CACHE_HOME", cache.as_os_str())],
    );
    let first = w.next(FIRST_BUILD);
    assert_eq!(first["service"], "api", "{first}\n{}", w.log());
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from the env file's port");
    let cycle = w.expect("succeeded", CYCLE);
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{cycle}\n{}", w.log());
    p.expect_answer("hello from the env file's port", "the recreated container on the env file's port");
}

#[test]
fn the_editors_compose_settings_are_the_flags_the_user_runs_compose_with() {
    let p = ComposeProject::new();
    // As the user runs it: an override file and an env file, neither found by default. The
    // suffix comes only from the override and the published port only from the env file, so
    // a recreate without either would not answer here with the override's suffix.
    p.project
        .write("stack.dev.yml", "services:\n  api:\n    environment:\n      GREETING_SUFFIX: \" (dev override)\"\n");
    p.project.write("dev.env", &format!("API_PORT={}\n", p.port));
    let flags = ["-f", "docker-compose.yml", "-f", "stack.dev.yml", "--env-file", "dev.env"];
    let up = Command::new("docker-compose")
        .args(flags)
        .args(["up", "-d", "--build"])
        .current_dir(&p.project.dir)
        .env_remove("API_PORT")
        .output()
        .expect("docker-compose runs");
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    p.expect_answer("hello from version 1 (dev override)", "after docker-compose up with the flags");

    let cache = p.project.cache_home();
    let mut lsp = LspClient::start_with_env(BIN, &[("XDG_CACHE_HOME", cache.to_str().expect("utf-8 path"))]);
    let settings = serde_json::json!({ "dockerRebuilder": { "compose": {
        "files": ["docker-compose.yml", "stack.dev.yml"], "envFiles": ["dev.env"] } } });
    lsp.initialize_with_settings(&[&p.project.dir], settings);
    let (seen, status) = lsp.wait_for(0, FIRST_BUILD, |m| is_status(m, "succeeded") || is_status(m, "failed"));
    assert!(is_status(&status, "succeeded") && status["params"]["service"] == "api", "{status}");
    let source = p.project.path("api/src/greeting.c");
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from the settings");
    lsp.did_save(&source);
    p.expect_answer("hello from the settings (dev override)", "the service recreated with the settings' flags");

    // Settings the server cannot read: said, naming the setting; the service keeps serving.
    lsp.change_settings(serde_json::json!({ "dockerRebuilder": { "compose": { "files": "stack.dev.yml" } } }));
    let (_, message) = lsp.wait_for(seen, CYCLE, |m| m["method"] == "window/showMessage");
    let text = message["params"]["message"].as_str().unwrap_or_default();
    assert!(text.contains("dockerRebuilder.compose.files must be a list of strings"), "{message}");
    p.expect_answer("hello from the settings (dev override)", "invalid settings change nothing");
    lsp.shutdown();
}

#[test]
fn a_compose_folder_that_does_not_load_in_the_editor_says_where_and_starts_once_fixed() {
    let p = ComposeProject::new();
    let good = p.project.read("docker-compose.yml");
    p.project.write(
        "docker-compose.yml",
        "services:\n  api:\n    build: ./api\n    ports: [\"1:2\"\n  cache:\n    image: x\n",
    );
    let compose_file = p.project.path("docker-compose.yml");
    let mut lsp = p.lsp();
    lsp.initialize(&[&p.project.dir]);
    // No service can start, so the workspace says it: on the compose file's line, and aloud.
    let (_, diagnostics) = lsp.wait_for(0, CYCLE, |m| {
        is_diagnostics_for(m, &compose_file) && m["params"]["diagnostics"].as_array().is_some_and(|d| !d.is_empty())
    });
    let first = &diagnostics["params"]["diagnostics"][0];
    assert!(first["range"]["start"]["line"].as_u64().is_some_and(|l| l >= 3), "{diagnostics}");
    assert!(first["message"].as_str().is_some_and(|m| m.contains("YAML")), "{diagnostics}");
    let (seen, message) = lsp.wait_for(0, CYCLE, |m| m["method"] == "window/showMessage");
    let text = message["params"]["message"].as_str().unwrap_or_default();
    assert!(text.contains("does not load") && text.contains("docker-compose.yml"), "{message}");

    p.project.write("docker-compose.yml", &good);
    lsp.did_save(&compose_file);
    lsp.wait_for(seen, CYCLE, |m| {
        is_diagnostics_for(m, &compose_file) && m["params"]["diagnostics"].as_array().is_some_and(|d| d.is_empty())
    });
    let (_, status) = lsp.wait_for(seen, FIRST_BUILD, |m| is_status(m, "succeeded") || is_status(m, "failed"));
    assert!(is_status(&status, "succeeded") && status["params"]["service"] == "api", "{status}");
    lsp.shutdown();
}

#[test]
fn the_lsp_server_on_a_services_own_folder_updates_the_running_service() {
    // The user opened `api/` (the service's build context), not the compose folder above it:
    // built on its own it would be `api:latest`, an image compose never runs.
    let p = ComposeProject::new();
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("hello from version 1", "after docker-compose up");
    let mut lsp = p.lsp();
    lsp.initialize(&[&p.project.path("api")]);
    let (_, status) = lsp.wait_for(0, FIRST_BUILD, |m| is_status(m, "succeeded") || is_status(m, "failed"));
    assert!(is_status(&status, "succeeded"), "{status}");
    assert_eq!(status["params"]["service"], "api", "the folder's files are the compose service's: {status}");
    let source = p.project.path("api/src/greeting.c");
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from the service's folder");
    lsp.did_save(&source);
    p.expect_answer("hello from the service's folder", "after a save in the service's own folder");
    let own = format!("label=dev.docker-rebuilder.project={}", p.project.path("api").display());
    assert_eq!(docker_ok(&["images", "-q", "--filter", &own]), "", "no image of the folder's own was made");
    lsp.shutdown();
}
