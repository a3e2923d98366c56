//! Compose services sharing a build context, end to end with the real `docker-compose` and
//! the real binary: built alike (one build, one builder, both recreated in one compose call;
//! `project/twins.rs`), and built otherwise (other targets of one multi-stage Dockerfile: each
//! its own build and builders, both running the new code).

mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use support::compose::{get_body, Compose, ComposeProject, CYCLE, FIRST_BUILD};
use support::lsp::is_status;
use support::{docker, docker_ok};

/// A second loopback port for a second service.
fn second_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port()
}

/// Waits up to 30 s for `port` to answer with a body containing `wanted`.
fn expect_answer_on(port: u16, wanted: &str, why: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get_body(port).is_some_and(|r| r.contains(wanted)) {
        assert!(Instant::now() < deadline, "{why} answers {wanted:?}: {:?}", get_body(port));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A `worker` service built as the API is (`build: ./api`), on its own port and suffix.
fn add_worker_built_alike(p: &ComposeProject, port: u16) {
    p.project.replace(
        "docker-compose.yml",
        "  cache:\n",
        &format!(
            "  worker:\n    build: ./api\n    ports:\n      - \"127.0.0.1:{port}:8080\"\n    environment:\n      \
             GREETING_SUFFIX: \" (worker)\"\n  cache:\n"
        ),
    );
}

/// The builder containers of ours labelled for `service` built from `p`'s `api/`.
fn builders(p: &ComposeProject, service: &str) -> usize {
    let label = format!("label=dev.docker-rebuilder.project={}#{service}", p.project.path("api").display());
    docker_ok(&["ps", "-aq", "--filter", &label, "--filter", "label=dev.docker-rebuilder.role=builder"]).lines().count()
}

#[test]
fn two_services_built_from_one_context_are_both_rebuilt_and_updated() {
    let p = ComposeProject::new();
    let second = second_port();
    add_worker_built_alike(&p, second);
    p.compose_ok(&["up", "-d", "--build"]);
    let w = p.watch();
    // Built alike (only their run settings differ): one build serves both, named for both.
    let first = w.next(FIRST_BUILD);
    assert_eq!(first["service"], "api", "{first}\n{}", w.log());
    // Both services are built from ./api: one watch of it serves both.
    assert_eq!(w.inotify_instances(), 1, "one file watch for the shared context");

    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from version 2");
    let cycle = w.expect("succeeded", CYCLE);
    assert_eq!(cycle["service"], "api", "{cycle}");
    let update = cycle["service_update"].as_str().unwrap_or_default();
    assert!(update.contains("recreated") && update.contains("worker"), "both recreated in one go: {cycle}");
    w.expect_silence(Duration::from_secs(3), "one save is one build for both services");
    p.expect_answer("hello from version 2 (from compose)", "the api service");
    expect_answer_on(second, "hello from version 2 (worker)", "the worker service");
    // One builder, and compose's two image names on the one new image.
    let builders = |service: &str| builders(&p, service);
    assert_eq!((builders("api"), builders("worker")), (1, 0), "the api's builder serves the worker");
    let id = |service: &str| docker_ok(&["image", "inspect", "--format", "{{.Id}}", &p.image_of(service)]);
    assert_eq!(id("api"), id("worker"), "both names are the new image");
    // Compose sees both containers as its own and up to date: its `up -d` keeps them.
    let (api, worker) = (p.container("api"), p.container("worker"));
    p.compose_ok(&["up", "-d"]);
    assert_eq!((p.container("api"), p.container("worker")), (api, worker), "compose's up -d kept both");
    assert!(get_body(second).is_some_and(|r| r.contains("hello from version 2 (worker)")));
    drop(w);
    // Named alone, the worker brings its group: the api's build, up to date, nothing apart
    // (built apart, its recipe would differ from the one the api's builder holds: a full
    // build each time, and the api left on the old image).
    let alone = p.run(&["build", "--json", "worker"]);
    assert_eq!(alone.code, 0, "{}\n{}", alone.stdout, alone.stderr);
    let alone: serde_json::Value = serde_json::from_str(alone.stdout.trim()).expect("JSON");
    assert_eq!((&alone["service"], &alone["outcome"]), (&"api".into(), &"up_to_date".into()), "{alone}");
    assert_eq!((builders("api"), builders("worker")), (1, 0), "{alone}");
    // A builder of the worker's own (a run that built it apart, before it was the api's twin):
    // `clean` of the project removes it too.
    let label = format!("dev.docker-rebuilder.project={}#worker", p.project.path("api").display());
    let apart = format!("{}-worker-apart", p.name());
    let role = "dev.docker-rebuilder.role=builder";
    docker_ok(&["create", "--name", &apart, "--label", &label, "--label", role, "busybox:local", "true"]);
    assert_eq!(builders("worker"), 1);
    let clean = p.run(&["clean", "--json"]);
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
    assert_eq!((builders("api"), builders("worker")), (0, 0), "{}", clean.stdout);
}

/// One multi-stage Dockerfile, a final stage per service (`target: api`, `target: worker`, as a
/// monorepo builds its binaries): two builds, each replayed from builder stages of its own
/// (before, both services reached for one stage builder, and the second was refused).
#[test]
fn services_built_from_other_targets_of_one_context_each_run_the_new_code() {
    // Compose v2: its BuildKit build leaves no untagged image of the `build` stage behind (the
    // classic builder's would outlive the test).
    let p = ComposeProject::with(Compose::V2);
    let second = second_port();
    p.project.write(
        "api/Dockerfile",
        "FROM debian:bookworm-slim AS build\nRUN apt-get update && apt-get install -y --no-install-recommends gcc make \
         libc6-dev && rm -rf /var/lib/apt/lists/*\nWORKDIR /src\nCOPY Makefile ./\nCOPY src ./src\nRUN make\n\n\
         FROM debian:bookworm-slim AS api\nCOPY --from=build /src/server /usr/local/bin/server\nEXPOSE 8080\n\
         CMD [\"server\"]\n\nFROM debian:bookworm-slim AS worker\nCOPY --from=build /src/server /usr/local/bin/server\n\
         ENV GREETING_SUFFIX=\" (worker)\"\nCMD [\"server\"]\n",
    );
    p.project.replace(
        "docker-compose.yml",
        "    build: ./api\n",
        "    build:\n      context: ./api\n      target: api\n",
    );
    p.project.replace(
        "docker-compose.yml",
        "  cache:\n",
        &format!(
            "  worker:\n    build:\n      context: ./api\n      target: worker\n    ports:\n      - \
             \"127.0.0.1:{second}:8080\"\n  cache:\n"
        ),
    );
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("hello from version 1 (from compose)", "the api service");
    expect_answer_on(second, "hello from version 1 (worker)", "the worker service");

    let w = p.watch();
    let mut first: Vec<String> =
        (0..2).map(|_| w.next(FIRST_BUILD)["service"].as_str().unwrap_or_default().to_string()).collect();
    first.sort();
    assert_eq!(first, ["api", "worker"], "{}", w.log());
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from version 2");
    for _ in 0..2 {
        let cycle = w.expect("succeeded", CYCLE);
        assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{cycle}\n{}", w.log());
    }
    p.expect_answer("hello from version 2 (from compose)", "the api service");
    expect_answer_on(second, "hello from version 2 (worker)", "the worker service");
    assert!(builders(&p, "api") >= 1 && builders(&p, "worker") >= 1, "stage builders of each");
    // Their images carry compose v2's labels, as its own build's do; our builders, made from
    // them, do not pass for the services' containers (one container each).
    let label = |image: &str| {
        docker_ok(&["image", "inspect", "--format", "{{index .Config.Labels \"com.docker.compose.service\"}}", image])
    };
    assert_eq!((label(&p.image_of("api")), label(&p.image_of("worker"))), ("api".into(), "worker".into()));
    let _ = (p.container("api"), p.container("worker"));
    drop(w);
    // A stage builder under the name an older version gave it (by the context alone): `clean`
    // finds it by its label.
    let label = format!("dev.docker-rebuilder.project={}#api", p.project.path("api").display());
    let leftover = format!("{}-older-build", p.name());
    docker_ok(&[
        "create",
        "--name",
        &leftover,
        "--label",
        &label,
        "--label",
        "dev.docker-rebuilder.role=builder",
        "busybox:local",
        "true",
    ]);
    let clean = p.run(&["clean", "--json"]);
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
    assert_eq!((builders(&p, "api"), builders(&p, "worker")), (0, 0), "{}", clean.stdout);
}

/// In the editor, services built alike are one project too: one session, its save built
/// once, both services on the new code, and no status ever for the twin.
#[test]
fn in_the_editor_services_built_alike_are_one_project() {
    let p = ComposeProject::new();
    let second = second_port();
    add_worker_built_alike(&p, second);
    p.compose_ok(&["up", "-d", "--build"]);
    let (mut lsp, seen) = p.lsp_built("api");
    let source = p.project.path("api/src/greeting.c");
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from the editor");
    lsp.did_save(&source);
    lsp.wait_for(seen + 1, CYCLE, |m| is_status(m, "succeeded"));
    p.expect_answer("hello from the editor (from compose)", "the api service");
    expect_answer_on(second, "hello from the editor (worker)", "the worker service");
    let worker_status =
        |m: &serde_json::Value| m["method"] == "docker-rebuilder/status" && m["params"]["service"] == "worker";
    assert!(
        lsp.try_wait_for(0, Duration::from_secs(2), worker_status).is_none(),
        "the worker has no session of its own"
    );
    assert_eq!((builders(&p, "api"), builders(&p, "worker")), (1, 0));
    lsp.shutdown();
}

/// In the editor, a service that comes to be built as another one (its compose file edited)
/// is said `stopped`, under its session's number, so status bars drop it; the API's session
/// starts again with it as a twin, under a higher number, and its save updates both.
#[test]
fn in_the_editor_a_service_that_becomes_a_twin_is_said_stopped() {
    let p = ComposeProject::new();
    let second = second_port();
    // The worker's build differs by an argument at first: a project of its own.
    p.project.replace(
        "docker-compose.yml",
        "  cache:\n",
        &format!(
            "  worker:\n    build:\n      context: ./api\n      args:\n        EDITION: worker\n    ports:\n      - \
             \"127.0.0.1:{second}:8080\"\n    environment:\n      GREETING_SUFFIX: \" (worker)\"\n  cache:\n"
        ),
    );
    p.compose_ok(&["up", "-d", "--build"]);
    let mut lsp = p.lsp();
    lsp.initialize(&[&p.project.dir]);
    let status = |service: &'static str, state: &'static str| {
        move |m: &serde_json::Value| is_status(m, state) && m["params"]["service"] == service
    };
    let (at_api, api) = lsp.wait_for(0, FIRST_BUILD, status("api", "succeeded"));
    let (at_worker, worker) = lsp.wait_for(0, FIRST_BUILD, status("worker", "succeeded"));
    assert_eq!(builders(&p, "worker"), 1, "the worker is built on its own first");

    p.project.replace("docker-compose.yml", "      args:\n        EDITION: worker\n", "");
    lsp.did_save(&p.project.path("docker-compose.yml"));
    let since = at_api.max(at_worker);
    let (at_stopped, stopped) = lsp.wait_for(since, CYCLE, status("worker", "stopped"));
    assert_eq!(stopped["params"]["session"], worker["params"]["session"], "{stopped}");
    let (_, api_stopped) = lsp.wait_for(since, CYCLE, status("api", "stopped"));
    assert_eq!(api_stopped["params"]["session"], api["params"]["session"], "{api_stopped}");
    let old = api["params"]["session"].as_u64().unwrap_or(u64::MAX);
    let newer = |m: &serde_json::Value| {
        is_status(m, "succeeded") && m["params"]["service"] == "api" && m["params"]["session"].as_u64() > Some(old)
    };
    lsp.wait_for(since, CYCLE, newer);

    let source = p.project.path("api/src/greeting.c");
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from the regrouped editor");
    lsp.did_save(&source);
    p.expect_answer("hello from the regrouped editor (from compose)", "the api service");
    expect_answer_on(second, "hello from the regrouped editor (worker)", "the worker, now the API's twin");
    let worker_after = |m: &serde_json::Value| {
        m["method"] == "docker-rebuilder/status"
            && m["params"]["service"] == "worker"
            && m["params"]["state"] != "stopped"
    };
    let worker_again = lsp.try_wait_for(at_stopped, Duration::from_millis(1), worker_after);
    assert!(worker_again.is_none(), "the worker has no session now: {worker_again:?}");
    lsp.shutdown();
    let clean = p.run(&["clean", "--json"]);
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
    assert_eq!((builders(&p, "api"), builders(&p, "worker")), (0, 0), "{}", clean.stdout);
}

/// `watch` on the whole project follows its compose file, as the editor does: a service added
/// while it runs is watched from then on (its own build), and one added built as the API is
/// joins the API's build (the API's session starts again with its new twin).
#[test]
fn services_added_while_watch_runs_are_watched() {
    let p = ComposeProject::new();
    p.compose_ok(&["up", "-d", "--build"]);
    let w = p.watch();
    assert_eq!(w.next(FIRST_BUILD)["service"], "api", "{}", w.log());

    let (second, third) = (second_port(), second_port());
    p.project.write(
        "web/Dockerfile",
        "FROM busybox:local\nCOPY www /www\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n",
    );
    p.project.write("web/www/index.html", "web version 1\n");
    add_worker_built_alike(&p, second);
    p.project.replace(
        "docker-compose.yml",
        "  cache:\n",
        &format!(
            "  web:\n    build: ./web\n    init: true\n    ports:\n      - \"127.0.0.1:{third}:8080\"\n  cache:\n"
        ),
    );
    p.compose_ok(&["up", "-d", "--build", "worker", "web"]);
    expect_answer_on(third, "web version 1", "the web service, as compose built it");
    // Both new groups are watched: the web service, and the API again with the worker.
    let deadline = Instant::now() + CYCLE;
    let mut watching = Vec::new();
    while watching.len() < 2 {
        let line = w.next(deadline.saturating_duration_since(Instant::now()));
        if line["event"] == "watching" {
            watching.push(line["service"].as_str().unwrap_or_default().to_string());
        }
    }
    watching.sort();
    assert_eq!(watching, ["api", "web"], "{}", w.log());

    // An edit of the web service's file reaches its container; one of the API's reaches both.
    p.project.write("web/www/index.html", "web version 2\n");
    expect_answer_on(third, "web version 2", "the web service, added while watching");
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from version 2");
    p.expect_answer("hello from version 2 (from compose)", "the api service");
    expect_answer_on(second, "hello from version 2 (worker)", "the worker, now the API's twin");
    assert_eq!((builders(&p, "api"), builders(&p, "worker")), (1, 0), "the api's builder serves the worker");
    drop(w);
    let clean = p.run(&["clean", "--json"]);
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
}

/// A service whose `build.context` moved within the compose folder: `clean` also removes the
/// builder its old context got, and leaves alone one of another compose project below it.
#[test]
fn clean_removes_what_a_service_left_in_the_context_it_moved_from() {
    let p = ComposeProject::new();
    for file in ["Dockerfile", "Makefile", "src/greeting.c", "src/greeting.h", "src/server.c"] {
        p.project.write(&format!("api2/{file}"), &p.project.read(&format!("api/{file}")));
    }
    let built = p.run(&["build", "--json", "api"]);
    assert_eq!(built.code, 0, "{}\n{}", built.stdout, built.stderr);
    p.project.replace("docker-compose.yml", "    build: ./api\n", "    build: ./api2\n");
    let built = p.run(&["build", "--json", "api"]);
    assert_eq!(built.code, 0, "{}\n{}", built.stdout, built.stderr);
    let labelled = |context: &str| {
        let label = format!("label=dev.docker-rebuilder.project={}#api", p.project.path(context).display());
        docker_ok(&["ps", "-aq", "--filter", &label, "--filter", "label=dev.docker-rebuilder.role=builder"])
            .lines()
            .count()
    };
    assert_eq!((labelled("api"), labelled("api2")), (1, 1), "a builder for each context it was built from");
    // Another compose project's `api`, in a folder below this one.
    p.project.write("other/docker-compose.yml", "services:\n  api:\n    build: ./svc\n");
    let theirs = format!("{}-other-api", p.name());
    let their_label = format!("dev.docker-rebuilder.project={}#api", p.project.path("other/svc").display());
    docker_ok(&[
        "create",
        "--name",
        &theirs,
        "--label",
        &their_label,
        "--label",
        "dev.docker-rebuilder.role=builder",
        "busybox:local",
        "true",
    ]);
    let clean = p.run(&["clean", "--json"]);
    let survived = docker(&["inspect", "--format", "{{.Name}}", &theirs]).status.success();
    docker(&["rm", "-f", &theirs]);
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
    assert_eq!((labelled("api"), labelled("api2")), (0, 0), "{}", clean.stdout);
    assert!(survived, "another compose project's builder is not ours to clean: {}", clean.stdout);
}
