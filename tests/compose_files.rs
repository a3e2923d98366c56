//! Compose projects found and read as the user runs compose, end to end with the real compose
//! and the real binary: an `include:`d compose file, the env files given to us or recorded by
//! compose v2 (and passed on to the recreate), the editor's compose settings, a compose file
//! that does not load in the editor, and the service's own folder opened in the editor.

mod support;

use serde_json::Value;
use support::compose::{Compose, ComposeProject, CYCLE, FIRST_BUILD};
use support::lsp::{is_diagnostics_for, is_status};
use support::{docker, docker_ok};

#[test]
fn a_service_from_an_included_compose_file_builds_from_that_files_folder() {
    // `include:` (compose v2.20+; v1 refuses the key, so only docker-rebuilder reads it here):
    // the API's compose file lives beside its sources, its context relative to it, its own
    // .env interpolated into it.
    let p =
        ComposeProject::with_file("include:\n  - api/compose.yaml\nservices:\n  cache:\n    image: busybox:local\n");
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
    let up = p.compose_command().args(["--env-file", "dev.env", "up", "-d", "--build"]).output().expect("compose runs");
    p.note_built();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    p.expect_answer("hello from version 1 (from compose)", "after docker-compose --env-file dev.env up");

    let w = p.watch_with(&["--env-file", "dev.env"], &["API_PORT"]);
    let first = w.next(FIRST_BUILD);
    assert_eq!(first["service"], "api", "{first}\n{}", w.log());
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from the env file's port");
    let cycle = w.expect("succeeded", CYCLE);
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{cycle}\n{}", w.log());
    p.expect_answer("hello from the env file's port", "the recreated container on the env file's port");
}

/// Compose v2 records the env files it ran with on the containers: a recreate of ours, given
/// none, uses those, as the user's next `docker compose up` would not (it reads .env) but the
/// running service was made with.
#[test]
fn the_env_file_compose_v2_recorded_is_given_to_the_recreate() {
    let p = ComposeProject::with(Compose::V2);
    // The published port comes only from this file (a recreate without it would publish the
    // compose file's default port, and nothing would answer here).
    p.project.write("dev.env", &format!("API_PORT={}\n", p.port));
    let up = p.compose_command().args(["--env-file", "dev.env", "up", "-d", "--build"]).output().expect("compose runs");
    p.note_built();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    p.expect_answer("hello from version 1 (from compose)", "after docker compose --env-file dev.env up");
    let recorded = docker_ok(&[
        "inspect",
        "--format",
        "{{index .Config.Labels \"com.docker.compose.project.environment_file\"}}",
        &p.container("api"),
    ]);
    assert!(recorded.ends_with("dev.env"), "compose v2 records the env file: {recorded:?}");

    let w = p.watch_with(&[], &["API_PORT"]);
    let first = w.next(FIRST_BUILD);
    assert_eq!(first["service"], "api", "{first}\n{}", w.log());
    p.project.replace("api/src/greeting.c", "hello from version 1", "hello from the recorded env file");
    let cycle = w.expect("succeeded", CYCLE);
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{cycle}\n{}", w.log());
    p.expect_answer("hello from the recorded env file", "the recreated container on the env file's port");
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
    let up = p.compose_command().args(flags).args(["up", "-d", "--build"]).output().expect("compose runs");
    p.note_built();
    assert!(up.status.success(), "{}", String::from_utf8_lossy(&up.stderr));
    p.expect_answer("hello from version 1 (dev override)", "after docker-compose up with the flags");

    let mut lsp = p.lsp_without(&["API_PORT"]);
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
