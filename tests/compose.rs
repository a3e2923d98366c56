//! Compose projects (issue 15) end to end: the real `docker-compose` (Debian's 1.29, installed
//! by `.ci/engine.sh`) brings a two-service project up, the real binary rebuilds the API
//! service, and the running service is checked over HTTP on its published loopback port.
//! How the project is found and read (include, env files, the editor's settings) is in
//! `compose_files.rs`; services sharing a build context in `compose_contexts.rs`.

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::compose::{get_body, Compose, ComposeProject, CYCLE, FIRST_BUILD};
use support::lsp::is_diagnostics_for;
use support::remote::{free_port, make_certs, proxy};
use support::{docker, docker_ok};

#[test]
fn an_edit_reaches_the_running_service_and_compose_keeps_it() {
    an_edit_reaches_the_running_service(Compose::V1);
}

#[test]
fn an_edit_reaches_the_running_service_and_compose_v2_keeps_it() {
    an_edit_reaches_the_running_service(Compose::V2);
}

/// compose v2 as a standalone `docker-compose`, no plugin: the recreate's `docker compose`
/// is not a docker command, and the standalone one does it.
#[test]
fn an_edit_reaches_the_running_service_and_a_standalone_compose_v2_keeps_it() {
    an_edit_reaches_the_running_service(Compose::V2Standalone);
}

fn an_edit_reaches_the_running_service(compose: Compose) {
    let p = ComposeProject::with(compose);
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("hello from version 1 (from compose)", "after docker-compose up");
    let cache = p.container("cache");
    let cache_started = p.started_at(&cache);
    let (api_before, api_started) = (p.container("api"), p.started_at(&p.container("api")));

    let w = p.watch();
    // The first cycle: our own build of the image compose names, then the service onto it.
    let first = w.next(FIRST_BUILD);
    assert_eq!(first["service"], "api", "{first}");
    assert_eq!(first["outcome"], "image_built", "{first}\n{}", w.log());
    // Compose v2 built the image with BuildKit, whose cache our full build answers from: the
    // same layers, only labels apart, so its container runs on (not restarted for nothing).
    // v1's classic build makes other layers: its container is recreated.
    let update = first["service_update"].as_str().unwrap_or_default();
    if compose == Compose::V1 {
        assert!(update.contains("recreated"), "{first}");
    } else {
        assert!(update.contains("already runs what the image holds"), "{first}\n{}", w.log());
        assert_eq!(p.container("api"), api_before, "the same container");
        assert_eq!(p.started_at(&api_before), api_started, "not restarted");
    }

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
    let api_1 = format!("{0}api{0}1", p.sep());
    assert!(ps.lines().any(|l| l.contains(&api_1) && l.contains("Up")), "compose ps:\n{ps}");
    let up = p.compose_ok(&["up", "-d"]);
    if p.keeps_a_no_deps_recreate() {
        assert_eq!(p.container("api"), api, "`compose up -d` afterwards keeps the container:\n{up}");
    } else {
        // compose v2 before 2.29.3 hashes `depends_on` into the config, and `--no-deps` leaves
        // it out, so its own `up -d --no-deps api` is recreated once by a later `up -d`
        // (docker/compose d658fecc6). It stays on the new image all the same.
        let now = p.container("api");
        assert_eq!(docker_ok(&["inspect", "--format", "{{.Image}}", &now]), image_id, "on the new image:\n{up}");
    }
    let api = p.container("api");
    p.expect_answer("hello from version 2", "after compose up -d");

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
    drop(w);
    // Compose v2's `down --rmi local` removes only images that carry its labels: ours do, as
    // the image it built did.
    p.compose_ok(&["down", "-t", "1", "--rmi", "local"]);
    let gone = !support::docker(&["image", "inspect", &p.api_image()]).status.success();
    assert!(gone, "compose's `down --rmi local` removed the image docker-rebuilder made");
}

#[test]
fn a_compose_up_left_running_in_a_terminal_keeps_running_through_the_recreate() {
    compose_up_left_running(Compose::V1);
}

#[test]
fn a_compose_up_left_running_in_a_terminal_keeps_running_through_the_recreate_under_compose_v2() {
    compose_up_left_running(Compose::V2);
}

/// The user's `docker compose up` without `-d`, left running in a terminal: the recreate does
/// not end it (nor stop the project), and the service answers the new code. Compose v2
/// follows a container compose recreates, so its `up` is given the API alone: it must keep
/// running with no other container to show (it ended when the old container stopped before
/// compose made the new one). Compose v1 shows only the containers it started and ends when
/// none is left (README says so), so its `up` also shows the cache.
fn compose_up_left_running(compose: Compose) {
    let p = ComposeProject::with(compose);
    let services: &[&str] = if compose == Compose::V1 { &[] } else { &["api"] };
    p.compose_ok(&["build"]);
    let log = p.project.path("up.log");
    let out = std::fs::File::create(&log).expect("up.log");
    let mut up = p
        .compose_command()
        .arg("up")
        .args(services)
        .env("API_PORT", p.port.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(out.try_clone().expect("up.log"))
        .stderr(out)
        .spawn()
        .expect("compose up runs");
    p.expect_answer("hello from version 1", "after the attached up");
    let cache = (compose == Compose::V1).then(|| p.container("cache"));
    // The first build is a full one (of an edit: compose's own build of the same sources would
    // be answered from its cache, the container left as it is), the next ones are rebuilds in
    // the builder.
    for (from, to) in [("version 1", "version 2"), ("version 2", "version 3"), ("version 3", "version 4")] {
        p.project.replace("api/src/greeting.c", &format!("hello from {from}"), &format!("hello from {to}"));
        let run = p.run(&["build", "--json", "api"]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        let report: Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
        let update = report["service_update"].as_str().unwrap_or_default();
        assert!(update.contains("recreated"), "{report}");
        p.expect_answer(&format!("hello from {to}"), "after the recreate");
    }
    std::thread::sleep(Duration::from_secs(1));
    let still = up.try_wait().expect("up's state");
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(still.is_none(), "{compose:?}'s attached `up` ended ({still:?}):\n{text}");
    if let Some(cache) = cache {
        assert_eq!(p.container("cache"), cache, "the other service's container is untouched");
    }
    let _ = up.kill();
    let _ = up.wait();
}

/// The service's containers are stopped beside the commit (the recreate would stop them
/// first anyway); when compose then refuses the recreate, they are started again: the old
/// code keeps serving and nothing else is touched.
/// A compose file edit that changes only how a service runs (its environment), saved in the
/// editor: the save's cycle lets compose recreate the container with the new settings, as
/// `docker compose up -d` would; the other service, whose settings did not change, keeps its
/// container.
#[test]
fn an_edit_of_a_service_s_settings_in_the_compose_file_reaches_its_container() {
    let p = ComposeProject::with(Compose::V2);
    p.compose_ok(&["up", "-d", "--build"]);
    let cache = p.container("cache");
    let (mut lsp, seen) = p.lsp_built("api");
    p.expect_answer("hello from version 1 (from compose)", "after compose up");
    p.project.replace("docker-compose.yml", "\" (from compose)\"", "\" (saved in the editor)\"");
    lsp.did_save(&p.project.path("docker-compose.yml"));
    lsp.wait_for(seen + 1, CYCLE, |m| support::lsp::is_status(m, "succeeded"));
    p.expect_answer("hello from version 1 (saved in the editor)", "the compose file saved in the editor");
    assert_eq!(p.container("cache"), cache, "the cache's settings did not change: its container stays");
    let up = p.compose_ok(&["up", "-d"]);
    assert_eq!(p.container("cache"), cache, "{up}");
    p.expect_answer("hello from version 1 (saved in the editor)", "after compose up -d");
    lsp.shutdown();
}

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

    let w = p.watch();
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
    a_service_with_no_running_container(Compose::V1);
}

/// With no container to tell which compose made the project, the image is named as the
/// installed compose names it: v2's plugin here.
#[test]
fn a_service_with_no_running_container_is_left_alone_under_compose_v2() {
    a_service_with_no_running_container(Compose::V2);
}

#[test]
fn a_service_with_no_running_container_is_left_alone_under_a_standalone_compose_v2() {
    a_service_with_no_running_container(Compose::V2Standalone);
}

fn a_service_with_no_running_container(compose: Compose) {
    let p = ComposeProject::with(compose);
    let run = p.run(&["build", "--json", "api"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(report["service"], "api");
    assert_eq!(report["image"], format!("{}:latest", p.api_image()), "{compose:?}'s name for the image");
    assert!(report["service_update"].is_null(), "nothing ran, nothing is recreated: {report}");
    let filter = format!("label=com.docker.compose.project={}", p.name());
    assert_eq!(docker_ok(&["ps", "-aq", "--filter", &filter]), "", "no container of the project was made");
    // compose then runs the image we built: `up` without building.
    p.compose_ok(&["up", "-d", "--no-build"]);
    p.expect_answer("hello from version 1", "compose up on our image");
    // `status` names the service and its container, on this image.
    let run = p.run(&["status", "--json", "api"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status: Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(status["service"]["name"], "api", "{status}");
    assert_eq!(status["service"]["compose_project"], p.name().as_str(), "{status}");
    assert_eq!(status["service"]["containers"][0]["running"], true, "{status}");
    assert_eq!(status["service"]["containers"][0]["runs_this_image"], true, "{status}");
}

/// Our flags name the engine: a TLS proxy of it, its files under names of the user's own (not
/// the ca.pem, cert.pem, key.pem compose looks for), while DOCKER_HOST names a dead port. The
/// recreate goes to the engine we built on, as our flags name it, not to compose's environment's.
#[test]
fn the_engine_our_flags_name_is_the_one_compose_recreates_on() {
    the_engine_our_flags_name(Compose::V1);
}

#[test]
fn the_engine_our_flags_name_is_the_one_compose_v2_recreates_on() {
    the_engine_our_flags_name(Compose::V2);
}

fn the_engine_our_flags_name(compose: Compose) {
    let p = ComposeProject::with(compose);
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("hello from version 1 (from compose)", "after compose up");
    let api = p.container("api");
    let certs = tempfile::tempdir().expect("tempdir");
    make_certs(certs.path());
    let file = |name: &str| certs.path().join(name).display().to_string();
    for (from, to) in [("ca.pem", "engine-ca.crt"), ("cert.pem", "me.crt"), ("key.pem", "me.key")] {
        std::fs::rename(certs.path().join(from), certs.path().join(to)).expect("rename");
    }
    let port = free_port();
    let options = format!(
        ",cert={},key={},cafile={},verify=1",
        file("server.pem"),
        file("server-key.pem"),
        file("engine-ca.crt")
    );
    let _tls = proxy("OPENSSL-LISTEN", &options, port);
    let host = format!("tcp://127.0.0.1:{port}");
    let dead = format!("tcp://127.0.0.1:{}", free_port());

    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from version 2");
    let (ca, cert, key) = (file("engine-ca.crt"), file("me.crt"), file("me.key"));
    let flags = ["-H", &host, "--tlsverify", "--tlscacert", &ca, "--tlscert", &cert, "--tlskey", &key];
    let mut args = vec!["build", "--json"];
    args.extend(flags);
    args.push("api");
    let run = p.run_env(&args, &[("DOCKER_HOST", &dead)]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(report["engine"]["address"], format!("{host} (TLS)"), "{report}");
    assert!(
        report["service_update"].as_str().is_some_and(|u| u.contains("recreated")),
        "compose recreated the service on our engine: {report}"
    );
    p.expect_answer("hello from version 2 (from compose)", "after the build through the flags' engine");
    assert_ne!(p.container("api"), api, "the API's container is a new one");
    let image_id = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &p.api_image()]);
    assert_eq!(docker_ok(&["inspect", "--format", "{{.Image}}", &p.container("api")]), image_id);
}

#[test]
fn the_lsp_server_on_the_compose_folder_updates_the_service_on_save() {
    the_lsp_server_on_the_compose_folder(Compose::V1);
}

#[test]
fn the_lsp_server_on_a_compose_v2_folder_updates_the_service_on_save() {
    the_lsp_server_on_the_compose_folder(Compose::V2);
}

fn the_lsp_server_on_the_compose_folder(compose: Compose) {
    let p = ComposeProject::with(compose);
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("hello from version 1", "after docker-compose up");
    let (mut lsp, seen) = p.lsp_built("api");
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

fn assert_refused(p: &ComposeProject, args: &[&str], wanted: &[&str]) {
    let run = p.run(args);
    assert_eq!(run.code, 2, "{args:?} must fail as a tool error:\n{}\n{}", run.stdout, run.stderr);
    for w in wanted {
        assert!(run.stderr.contains(w), "{args:?}: the error should say {w:?}:\n{}", run.stderr);
    }
}

#[test]
fn bad_compose_files_get_located_errors_and_nothing_is_touched() {
    let p =
        ComposeProject::with_file("services:\n  api:\n    build: ./api\n    ports: [\"1:2\"\n  cache:\n    image: x\n");
    assert_refused(&p, &["build", "api"], &["docker-compose.yml:", "fix:"]);

    let p = ComposeProject::with_file("services:\n  api:\n    build: ./api\n  cache:\n    image: busybox:local\n");
    assert_refused(&p, &["build", "web"], &["web", "api"]);
    assert_refused(&p, &["build", "cache"], &["docker-compose.yml:4", "has no `build:` section"]);

    let p = ComposeProject::with_file("services:\n  api:\n    build: ../elsewhere\n");
    std::fs::create_dir_all(p.project.dir.parent().expect("parent").join("elsewhere")).expect("mkdir");
    assert_refused(&p, &["build", "api"], &["docker-compose.yml:2", "outside the compose folder"]);

    let p = ComposeProject::with_file("services:\n  api:\n    build: https://github.com/docker/getting-started.git\n");
    assert_refused(&p, &["build", "api"], &["docker-compose.yml:2", "remote"]);

    let p =
        ComposeProject::with_file("services:\n  api:\n    build: ./api\n    image: ${IMAGE_NAME:?set IMAGE_NAME}\n");
    assert_refused(&p, &["build"], &["docker-compose.yml:4", "IMAGE_NAME"]);
    // Nothing was made for any of them.
    let label = format!("label=dev.docker-rebuilder.project={}#api", p.project.path("api").display());
    assert_eq!(docker_ok(&["ps", "-aq", "--filter", &label]), "");
}

#[test]
fn a_service_scaled_with_up_scale_keeps_its_count_under_compose() {
    a_scaled_service_keeps_its_count(Compose::V1);
}

#[test]
fn a_service_scaled_with_up_scale_keeps_its_count_under_compose_v2() {
    a_scaled_service_keeps_its_count(Compose::V2);
}

/// `up --scale api=2`: the recreate keeps two containers (compose would otherwise bring the
/// service back to its file's one), both on the new image, both answering the new code.
fn a_scaled_service_keeps_its_count(compose: Compose) {
    let p = ComposeProject::with(compose);
    // Two replicas need host ports of their own: the engine picks them.
    p.project.replace("docker-compose.yml", "127.0.0.1:${API_PORT:-18080}:8080", "127.0.0.1::8080");
    p.compose_ok(&["up", "-d", "--build", "--scale", "api=2"]);
    let (project, service) =
        (format!("label=com.docker.compose.project={}", p.name()), "label=com.docker.compose.service=api");
    let containers = || -> Vec<String> {
        docker_ok(&["ps", "-q", "--no-trunc", "--filter", &project, "--filter", service])
            .lines()
            .map(str::to_string)
            .collect()
    };
    assert_eq!(containers().len(), 2, "compose scaled the API to two");
    let answers = |container: &str| {
        let published = docker_ok(&["port", container, "8080"]);
        let port = published.lines().next().and_then(|l| l.rsplit(':').next()).and_then(|p| p.parse().ok());
        port.and_then(get_body).unwrap_or_default()
    };

    // A full build, then a rebuild in the builder, each of an edit.
    for (from, version) in [("version 1", "version 2"), ("version 2", "version 3")] {
        p.project.replace("api/src/greeting.c", &format!("hello from {from}"), &format!("hello from {version}"));
        let run = p.run(&["build", "--json", "api"]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        let report: Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
        assert!(report["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{report}");
        let image_id = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &p.api_image()]);
        let now = containers();
        assert_eq!(now.len(), 2, "the API keeps the two containers it was scaled to: {report}");
        for container in &now {
            assert_eq!(docker_ok(&["inspect", "--format", "{{.Image}}", container]), image_id, "on the new image");
            let deadline = Instant::now() + Duration::from_secs(30);
            while !answers(container).contains(&format!("hello from {version}")) {
                assert!(Instant::now() < deadline, "{container} answers {version}: {:?}", answers(container));
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
    // compose finds them its own: its `up --scale api=2` keeps both (the count is in no config
    // hash), but for compose v2's own `--no-deps` bug (see `keeps_a_no_deps_recreate`).
    let before = containers();
    let up = p.compose_ok(&["up", "-d", "--scale", "api=2"]);
    if p.keeps_a_no_deps_recreate() {
        let mut after = containers();
        let mut expected = before.clone();
        after.sort();
        expected.sort();
        assert_eq!(after, expected, "`compose up -d --scale api=2` keeps the containers:\n{up}");
    }
}

/// `docker compose up` ran where API_PORT was one port, docker-rebuilder where it is another:
/// compose, run by the recreate, publishes the other one. The service runs the new code there,
/// and the cycle says why its port moved and how to fix it. After an edit of the compose file,
/// moved ports are what compose gives too: nothing is said.
#[test]
fn ports_a_recreate_moved_for_want_of_the_user_s_environment_are_said_with_the_fix() {
    let p = ComposeProject::new();
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("hello from version 1", "after docker-compose up");
    let ours = free_port();
    let build = |port: u16| -> Value {
        let run = p.run_env(&["build", "--json", "api"], &[("API_PORT", &port.to_string())]);
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        serde_json::from_str(run.stdout.trim()).expect("JSON")
    };
    let moved = build(ours);
    assert!(moved["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{moved}");
    let notes = moved["notes"].to_string();
    let (was, now) = (format!("127.0.0.1:{}->8080/tcp", p.port), format!("127.0.0.1:{ours}->8080/tcp"));
    assert!(notes.contains(&format!("publish {now} where the old ones published {was}")), "{moved}");
    assert!(notes.contains(".env file"), "the fix is given: {moved}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get_body(ours).is_some_and(|b| b.contains("hello from version 1")) {
        assert!(Instant::now() < deadline, "the service answers on the port compose gave it now");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The compose file edited since: the next move is the file's doing, and goes unsaid.
    let text = p.project.read("docker-compose.yml");
    p.project.write("docker-compose.yml", &format!("{text}# edited\n"));
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from version 2");
    let again = build(free_port());
    assert!(again["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{again}");
    assert!(!again["notes"].to_string().contains("where the old ones published"), "{again}");
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

/// A `develop.watch` section for the API. Under compose v1 it is a file of its own given with
/// `-f` after the fixture's: v1 refuses `develop` in the file it runs, and the service's
/// containers record only the file compose ran with, which the recreate uses. Under v2 it is
/// where v2's users write it: in the compose file itself.
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
    develop_watch_rules(Compose::V1);
}

#[test]
fn develop_watch_rules_in_a_compose_v2_file_decide_what_is_synced_rebuilt_restarted_and_run() {
    develop_watch_rules(Compose::V2);
}

fn develop_watch_rules(compose: Compose) {
    let p = ComposeProject::with(compose);
    p.project.write("api/conf/motd", "first\n");
    let w = if compose == Compose::V1 {
        p.project.write("compose.develop.yml", DEVELOP);
        p.compose_ok(&["up", "-d", "--build"]);
        p.expect_answer("hello from version 1", "after compose up");
        p.watch_with(&["-f", "docker-compose.yml", "-f", "compose.develop.yml"], &[])
    } else {
        let develop = DEVELOP.split_once("  api:\n").expect("the API's rules").1;
        p.project.replace("docker-compose.yml", "    build: ./api\n", &format!("    build: ./api\n{develop}"));
        // A worker built alike, rules and all: the API's build serves it, and its syncs reach it.
        p.project.replace(
            "docker-compose.yml",
            "  cache:\n",
            &format!("  worker:\n    build: ./api\n{develop}  cache:\n"),
        );
        p.compose_ok(&["up", "-d", "--build"]);
        p.expect_answer("hello from version 1", "after compose up");
        p.watch()
    };
    let first = w.next(FIRST_BUILD);
    assert!(matches!(first["outcome"].as_str(), Some("image_built" | "up_to_date")), "{first}\n{}", w.log());

    let worker = (compose == Compose::V2).then(|| p.container("worker"));
    // sync+restart: synced to its target, built, and the service restarted on the new code.
    let before = p.container("api");
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from version 2");
    let cycle = w.expect("succeeded", CYCLE);
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{cycle}");
    p.expect_answer("hello from version 2", "after a sync+restart change");
    assert_ne!(p.container("api"), before, "sync+restart restarts the service");
    if let Some(worker) = &worker {
        assert_ne!(&p.container("worker"), worker, "and its twin: {cycle}");
    }

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
    if worker.is_some() {
        let seen = docker_ok(&["exec", &p.container("worker"), "cat", "/tmp/motd-seen"]);
        assert_eq!(seen.trim(), "second", "synced into the twin too: {cycle}");
    }

    // rebuild: a full build, with the rule named, and the service on the new image.
    p.project.replace("api/Makefile", "-O1", "-O2");
    let cycle = w.expect("image_built", CYCLE);
    assert!(cycle["detail"]["reason"].as_str().is_some_and(|r| r.contains("develop.watch")), "{cycle}");
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{cycle}");
    p.expect_answer("hello from version 2", "after the rebuild");
    let image_id = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &p.api_image()]);
    assert_eq!(docker_ok(&["inspect", "--format", "{{.Image}}", &p.container("api")]), image_id);
    if worker.is_some() {
        assert_eq!(docker_ok(&["inspect", "--format", "{{.Image}}", &p.container("worker")]), image_id);
    }
}

#[test]
fn a_service_run_from_the_built_image_runs_the_new_code_too() {
    a_service_run_from_the_built_image(Compose::V1);
}

#[test]
fn a_service_run_from_the_built_image_runs_the_new_code_too_under_compose_v2() {
    a_service_run_from_the_built_image(Compose::V2);
}

/// `api` builds the image `image:` names, `worker` runs that image and builds nothing (a web
/// app and its job runner, say): after an edit both run the new code, recreated by the one
/// compose call; the third service is untouched, and compose's own `up -d` afterwards keeps
/// the worker's new container.
fn a_service_run_from_the_built_image(compose: Compose) {
    let p = ComposeProject::with(compose);
    let image = p.named_image();
    let second = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    p.project.replace("docker-compose.yml", "    build: ./api\n", &format!("    build: ./api\n    image: {image}\n"));
    p.project.replace(
        "docker-compose.yml",
        "  cache:\n",
        &format!(
            "  worker:\n    image: {image}\n    ports:\n      - \"127.0.0.1:{second}:8080\"\n    environment:\n      \
             GREETING_SUFFIX: \" (worker)\"\n  cache:\n"
        ),
    );
    // Built first: compose v1's `up` would pull the worker's image before building the api's.
    p.compose_ok(&["build"]);
    p.compose_ok(&["up", "-d"]);
    let worker_answers = |wanted: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !get_body(second).is_some_and(|r| r.contains(wanted)) {
            assert!(Instant::now() < deadline, "the worker answers {wanted:?}: {:?}", get_body(second));
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    worker_answers("hello from version 1 (worker)");
    let cache = p.container("cache");
    let cache_started = p.started_at(&cache);

    let first = p.run(&["build", "--json", "api"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from version 2");
    let run = p.run(&["build", "--json", "api"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let report: Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(report["outcome"], "succeeded", "{report}");
    let update = report["service_update"].as_str().unwrap_or_default();
    assert!(update.contains("api") && update.contains("worker"), "both recreated: {report}");
    p.expect_answer("hello from version 2 (from compose)", "the api service");
    worker_answers("hello from version 2 (worker)");
    let image_id = docker_ok(&["image", "inspect", "--format", "{{.Id}}", &image]);
    let worker = p.container("worker");
    assert_eq!(docker_ok(&["inspect", "--format", "{{.Image}}", &worker]), image_id, "the worker is on the new image");
    assert_eq!((p.container("cache"), p.started_at(&cache)), (cache.clone(), cache_started), "cache untouched");
    // `status` names the worker as running this image too.
    let run = p.run(&["status", "--json", "api"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let status: Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    assert_eq!(status["service"]["image_users"], serde_json::json!(["worker"]), "{status}");
    let containers = status["service"]["containers"].as_array().cloned().unwrap_or_default();
    let listed = |service: &str| containers.iter().find(|c| c["service"] == service).cloned().unwrap_or_default();
    for service in ["api", "worker"] {
        let c = listed(service);
        assert_eq!(
            (&c["running"], &c["runs_this_image"]),
            (&Value::from(true), &Value::from(true)),
            "{service}: {status}"
        );
    }
    let up = p.compose_ok(&["up", "-d"]);
    assert_eq!(p.container("worker"), worker, "compose keeps the worker's new container:\n{up}");
    worker_answers("hello from version 2 (worker)");
}
