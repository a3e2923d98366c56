//! A compose service whose container bind-mounts its sources over the image's copy, as dev
//! compose files do (issue 15's "everything inferred"): an edit the mount already shows
//! leaves the container running while the image gets it; an edit it does not show recreates
//! it; a develop.watch sync never writes through the mount onto the user's file. Real compose
//! (v1 and v2), the real binary, busybox's httpd serving the bound folder.

mod support;

use std::os::unix::fs::MetadataExt as _;

use serde_json::Value;
use support::compose::{Compose, ComposeProject, CYCLE, FIRST_BUILD};
use support::docker;
use support::lsp::{is_diagnostics_for, is_status};
use support::watch::Watch;

/// The API service made a static site: `api/src` copied to /www and served from there by
/// busybox's httpd (under an init, so a stop is quick), `api/conf` copied to /etc/web.
/// `service` is the rest of the service's YAML (its volumes, develop…), indented for it.
fn site(compose: Compose, service: &str) -> ComposeProject {
    site_with(compose, service, &[])
}

/// The same with more files (another service's folder, say).
fn site_with(compose: Compose, service: &str, files: &[(&str, &str)]) -> ComposeProject {
    let p = ComposeProject::with(compose);
    for (file, text) in files {
        p.project.write(file, text);
    }
    p.project.write(
        "api/Dockerfile",
        "FROM busybox:local\nCOPY conf /etc/web\nCOPY src /www\nCMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n",
    );
    p.project.write("api/src/index.html", "page 1\n");
    p.project.write("api/conf/motd", "motd 1\n");
    p.project.write(
        "docker-compose.yml",
        &format!(
            "version: \"3.8\"\nservices:\n  api:\n    build: ./api\n    init: true\n    ports:\n      - \
             \"127.0.0.1:${{API_PORT:-18080}}:8080\"\n{service}"
        ),
    );
    p.compose_ok(&["up", "-d", "--build"]);
    p.expect_answer("page 1", "after compose up");
    p
}

/// `watch` in the compose folder, past its first cycle (our build, the service onto it), and
/// the API's container then.
fn watching(p: &ComposeProject) -> (Watch, String) {
    let w = p.watch();
    let first = w.next(FIRST_BUILD);
    assert_eq!(first["service"], "api", "{first}\n{}", w.log());
    let container = p.container("api");
    (w, container)
}

/// What the image holds at `path`.
fn in_image(image: &str, path: &str) -> String {
    let out = docker(&["run", "--rm", "--entrypoint", "cat", image, path]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn an_edit_the_containers_bind_mount_shows_keeps_it_running() {
    an_edit_the_bind_mount_shows_keeps_the_container(Compose::V1);
}

#[test]
fn an_edit_the_containers_bind_mount_shows_keeps_it_running_under_compose_v2() {
    an_edit_the_bind_mount_shows_keeps_the_container(Compose::V2);
}

fn an_edit_the_bind_mount_shows_keeps_the_container(compose: Compose) {
    let p = site(compose, "    volumes:\n      - ./api/src:/www\n");
    let image = format!("{}:latest", p.api_image());
    let (w, before) = watching(&p);
    let started = p.started_at(&before);

    // Shown by the mount, and no step runs: the image gets it, the container keeps running.
    p.project.write("api/src/index.html", "page 2\n");
    let cycle = w.expect("succeeded", CYCLE);
    let update = cycle["service_update"].as_str().unwrap_or_default();
    assert!(update.contains("kept running") && update.contains("./api/src at /www"), "{cycle}\n{}", w.log());
    assert_eq!(p.container("api"), before, "the same container: {cycle}");
    assert_eq!(p.started_at(&before), started, "never restarted: {cycle}");
    assert_eq!(in_image(&image, "/www/index.html"), "page 2", "the image has the edit");
    p.expect_answer("page 2", "the running container shows the edit through its mount");
    // A new file and a deleted one, the same.
    p.project.write("api/src/about.html", "about\n");
    let cycle = w.expect("succeeded", CYCLE);
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("kept running")), "{cycle}\n{}", w.log());
    std::fs::remove_file(p.project.path("api/src/about.html")).expect("rm");
    let cycle = w.expect("succeeded", CYCLE);
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("kept running")), "{cycle}\n{}", w.log());
    assert_eq!(p.container("api"), before, "still the same container");

    // Not shown by any mount: the container is recreated on the new image.
    p.project.write("api/conf/motd", "motd 2\n");
    let cycle = w.expect("succeeded", CYCLE);
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{cycle}\n{}", w.log());
    let after = p.container("api");
    assert_ne!(after, before, "a new container: {cycle}");
    let motd = docker(&["exec", &after, "cat", "/etc/web/motd"]);
    assert_eq!(String::from_utf8_lossy(&motd.stdout).trim(), "motd 2");
    let image_id = String::from_utf8_lossy(&docker(&["image", "inspect", "--format", "{{.Id}}", &image]).stdout)
        .trim()
        .to_string();
    let runs = docker(&["inspect", "--format", "{{.Image}}", &after]);
    assert_eq!(String::from_utf8_lossy(&runs.stdout).trim(), image_id, "on the committed image");
    p.expect_answer("page 2", "the recreated container serves the site");
}

/// The site under compose v2, `api/src` bind-mounted at /www, and one develop.watch rule on
/// `./api/src`: `action` is the rule's action (and any more keys, indented for them).
fn bound_with_rule(action: &str) -> ComposeProject {
    let service = format!(
        "    volumes:\n      - ./api/src:/www\n    develop:\n      watch:\n        - path: ./api/src\n          action: \
         {action}\n"
    );
    site(Compose::V2, &service)
}

/// A develop.watch `sync` rule over a path the container also bind-mounts: compose's own
/// watch ignores such a rule; a copy of ours would write the file back through the mount,
/// as root, onto the user's own file.
#[test]
fn a_develop_sync_over_a_bind_mount_leaves_the_users_file_alone() {
    let p = bound_with_rule("sync\n          target: /www");
    let (w, before) = watching(&p);

    // The user's file, owned by the user (not root), replaced whole as an editor saves it.
    let page = p.project.path("api/src/index.html");
    let saved = p.project.path("api/src/.index.html.new");
    std::fs::write(&saved, "page 2\n").expect("write");
    std::os::unix::fs::chown(&saved, Some(4321), Some(4321)).expect("chown");
    std::fs::rename(&saved, &page).expect("rename");
    let inode = std::fs::metadata(&page).expect("stat").ino();

    let cycle = w.expect("succeeded", CYCLE);
    let update = cycle["service_update"].as_str().unwrap_or_default();
    assert!(update.contains("bind mount already shows the change"), "{cycle}\n{}", w.log());
    let meta = std::fs::metadata(&page).expect("stat");
    assert_eq!((meta.uid(), meta.gid()), (4321, 4321), "the user's file keeps its owner: {cycle}");
    assert_eq!(meta.ino(), inode, "and is the same file: {cycle}");
    assert_eq!(p.container("api"), before, "a sync rule never restarts");
    p.expect_answer("page 2", "the container shows the edit through its mount");
}

/// The way out the cycle's message names: a develop.watch `restart` rule (compose's action for
/// bind-mounted sources) has the container restarted on the new image after such an edit.
#[test]
fn a_develop_restart_rule_recreates_the_container_its_bind_mount_would_keep() {
    let p = bound_with_rule("restart");
    let (w, before) = watching(&p);
    p.project.write("api/src/index.html", "page 2\n");
    let cycle = w.expect("succeeded", CYCLE);
    assert!(cycle["service_update"].as_str().is_some_and(|u| u.contains("recreated")), "{cycle}\n{}", w.log());
    assert_ne!(p.container("api"), before, "a new container: {cycle}");
    p.expect_answer("page 2", "the recreated container");
}

/// The site's API, and a `php` service whose image takes nothing from its folder: its code
/// comes through a bind mount, as in many PHP (and Node dev) compose files.
fn site_and_php() -> ComposeProject {
    let services =
        "    volumes:\n      - ./api/src:/www\n  php:\n    build: ./php\n    init: true\n    volumes:\n      \
                    - ./php:/var/www/html\n";
    let files =
        [("php/Dockerfile", "FROM busybox:local\nCMD [\"sleep\", \"1000000\"]\n"), ("php/index.php", "<?php\n")];
    site_with(Compose::V2, services, &files)
}

/// A service with nothing to rebuild is left out of the workspace's `watch` with a note, not an
/// error that stops every service; `status` says so without failing; naming it is an error
/// with the fix.
#[test]
fn a_service_whose_image_takes_nothing_from_its_folder_is_left_out_of_watch() {
    let p = site_and_php();
    let (w, _) = watching(&p);
    assert!(w.log().contains("left out: the service `php`"), "{}", w.log());
    p.project.write("api/src/index.html", "page 2\n");
    let cycle = w.expect("succeeded", CYCLE);
    assert_eq!(cycle["service"], "api", "{cycle}");
    drop(w);

    let status = p.run(&["status"]);
    assert_eq!(status.code, 0, "nothing to rebuild is no problem:\n{}\n{}", status.stdout, status.stderr);
    assert!(status.stdout.contains("service  php"), "{}", status.stdout);
    assert!(status.stdout.contains("a save has nothing to rebuild"), "{}", status.stdout);
    assert!(
        status.stdout.contains(&format!("{}:latest", p.image_of("php"))),
        "compose's image name: {}",
        status.stdout
    );

    let named = p.run(&["build", "php"]);
    assert_eq!(named.code, 2, "{}\n{}", named.stdout, named.stderr);
    assert!(named.stderr.contains("the service `php`") && named.stderr.contains("bind mount"), "{}", named.stderr);
}

/// In the editor: no error on the (valid) Dockerfile, no error message; the service's status
/// idles with why, said once as information.
#[test]
fn in_the_editor_a_service_with_nothing_to_rebuild_idles_without_an_error() {
    let p = site_and_php();
    let mut lsp = p.lsp();
    lsp.initialize(&[&p.project.dir]);
    let is_php_idle = |m: &Value| {
        is_status(m, "idle")
            && m["params"]["service"] == "php"
            && m["params"]["message"].as_str().is_some_and(|t| t.contains("nothing to mirror"))
    };
    let (seen, _) = lsp.wait_for(0, FIRST_BUILD, is_php_idle);
    lsp.did_save(&p.project.path("php/index.php"));
    lsp.wait_for(seen + 1, CYCLE, is_php_idle);
    let (_, api) = lsp.wait_for(0, FIRST_BUILD, |m| is_status(m, "succeeded") || is_status(m, "failed"));
    assert_eq!(api["params"]["service"], "api", "{api}");
    let dockerfile = p.project.path("php/Dockerfile");
    let all = lsp.notifications.clone();
    let blamed: Vec<&Value> = all
        .iter()
        .filter(|m| {
            is_diagnostics_for(m, &dockerfile) && m["params"]["diagnostics"].as_array().is_some_and(|d| !d.is_empty())
        })
        .collect();
    assert!(blamed.is_empty(), "a valid Dockerfile gets no diagnostic: {blamed:?}");
    let errors: Vec<&Value> =
        all.iter().filter(|m| m["method"] == "window/showMessage" && m["params"]["type"] == 1).collect();
    assert!(errors.is_empty(), "no error message: {errors:?}");
    let told: Vec<&Value> = all
        .iter()
        .filter(|m| {
            m["method"] == "window/showMessage" && m["params"]["message"].as_str().is_some_and(|t| t.contains("`php`"))
        })
        .collect();
    assert_eq!(told.len(), 1, "said once, as information: {told:?}");
    assert_eq!(told[0]["params"]["type"], 3, "{told:?}");
    lsp.shutdown();
}
