//! BuildKit-era Dockerfiles (issue 14) end to end: the real binary, the real engine (Docker
//! 20.10, whose built-in BuildKit frontend reads RUN --mount and COPY --chmod but predates
//! heredocs), checked with the real `docker` CLI and against a fresh BuildKit build.
//!
//! Base images: `dr-golang:1.19` (Debian's Go, made by `.ci/engine.sh`) and `busybox:local`.

mod support;

use serde_json::Value;
use support::image::{assert_same_config, fresh_buildkit_build, image_files};
use support::tree::{assert_same, container_tree, image_tree};
use support::{docker, docker_ok, require_images, TempProject};

fn outcome(v: &Value) -> &str {
    v["outcome"].as_str().unwrap_or_default()
}

/// A copy of the fixture whose Go sources are its own (a unique comment), so its builds share
/// no layer with other tests' from the first COPY of sources on.
fn project(fixture: &str) -> TempProject {
    require_images(&["dr-golang:1.19", "busybox:local"]);
    let p = TempProject::fixture(fixture);
    if p.path("main.go").is_file() {
        let word = p.dir.file_name().expect("name").to_string_lossy().into_owned();
        p.write("main.go", &format!("{}\n// {word}\n", p.read("main.go")));
    }
    p
}

/// The project's volumes with `role` (cache, bind), by the labels docker-rebuilder puts on them.
fn volumes(p: &TempProject, role: &str) -> Vec<String> {
    let project = format!("label=dev.docker-rebuilder.project={}", p.dir.display());
    let role = format!("label=dev.docker-rebuilder.role={role}");
    let out = docker_ok(&["volume", "ls", "-q", "--filter", &project, "--filter", &role]);
    out.split_whitespace().map(str::to_string).collect()
}

/// How many files a volume holds.
fn files_in(volume: &str) -> usize {
    let mount = format!("{volume}:/v");
    let out = docker_ok(&["run", "--rm", "-v", &mount, "busybox:local", "sh", "-c", "find /v -type f | wc -l"]);
    out.trim().parse().unwrap_or(0)
}

#[test]
fn go_with_a_cache_mount_zero_config_keeps_the_cache_out_of_the_image_and_between_cycles() {
    let p = project("go-cache");
    let first = p.build_json(&[], 0);
    assert_eq!(outcome(&first), "image_built", "{first}");
    assert_eq!(p.run_image(), "hello from v1");
    let caches = volumes(&p, "cache");
    assert_eq!(caches.len(), 1, "one volume for the cache mount: {caches:?}");
    // The new builder ran its step once: the first edit does not compile from nothing.
    let warmed = files_in(&caches[0]);
    assert!(warmed > 0, "the new cache volume was filled right after the first build");

    p.replace("main.go", "hello from v1", "hello from v2");
    let edited = p.build_json(&[], 0);
    assert_eq!(outcome(&edited), "succeeded", "{edited}");
    assert_eq!(p.run_image(), "hello from v2");
    let after_one = files_in(&caches[0]);
    assert!(after_one >= warmed, "the cycle's go build used the cache volume");

    p.replace("main.go", "hello from v2", "hello from v3");
    let again = p.build_json(&[], 0);
    assert_eq!(outcome(&again), "succeeded", "{again}");
    assert_eq!(p.run_image(), "hello from v3");
    assert!(files_in(&caches[0]) >= after_one, "the cache is kept between cycles");

    // The cache mount's files are in no image layer; the config is a fresh BuildKit build's.
    let files = image_files(&p.image);
    let leaked: Vec<&String> = files.keys().filter(|f| f.starts_with("/root/.cache/go-build/")).collect();
    assert!(leaked.is_empty(), "the cache is not in the image: {leaked:?}");
    let reference = fresh_buildkit_build(&p.dir, &format!("{}-reference:latest", p.image.trim_end_matches(":latest")));
    assert_same_config(&p.image, &reference.tag);
    drop(reference);

    // `clean` keeps the cache (as BuildKit keeps its own); `clean --caches` removes it.
    assert_eq!(p.run(&["clean"]).code, 0);
    assert_eq!(p.containers(), Vec::<String>::new());
    assert_eq!(volumes(&p, "cache"), caches, "clean keeps the cache volume");
    let removed = p.run(&["clean", "--caches", "--json"]);
    assert_eq!(removed.code, 0, "{}", removed.stderr);
    assert!(volumes(&p, "cache").is_empty(), "clean --caches removes it: {}", removed.stdout);
}

#[test]
fn the_docker_init_bind_mount_pattern_works_with_zero_config() {
    let p = project("go-bind");
    let status = p.run(&["status"]);
    assert_eq!(status.code, 0, "{}\n{}", status.stdout, status.stderr);
    assert!(status.stdout.contains("--mount=type=bind"), "status shows the step's mounts:\n{}", status.stdout);
    let first = p.build_json(&[], 0);
    assert_eq!(outcome(&first), "image_built", "{first}");
    assert_eq!(p.run_image(), "hello from v1");

    p.replace("main.go", "hello from v1", "hello from v2");
    let edited = p.build_json(&[], 0);
    assert_eq!(outcome(&edited), "succeeded", "{edited}");
    assert_eq!(p.run_image(), "hello from v2");
    p.replace("main.go", "hello from v2", "hello from v3");
    let again = p.build_json(&[], 0);
    assert_eq!(outcome(&again), "succeeded", "{again}");
    assert_eq!(again["uploaded"], 1, "only main.go is synced: {again}");
    assert_eq!(p.run_image(), "hello from v3");

    // As in a BuildKit build, the bound sources are not in the image, and the step sees them
    // read-only.
    let files = image_files(&p.image);
    assert!(!files.contains_key("/src/main.go"), "the bind mount's files are not in the image");
    let write = p.in_builder(&["sh", "-c", "touch /src/written-by-the-step"]);
    assert!(!write.status.success(), "the bind mount is read-only at its target, as BuildKit's");

    // A new builder (after clean) gets the sources again.
    assert_eq!(p.run(&["clean"]).code, 0);
    p.replace("main.go", "hello from v3", "hello after clean");
    let adopted = p.build_json(&[], 0);
    assert_eq!(outcome(&adopted), "succeeded", "{adopted}");
    assert_eq!(p.run_image(), "hello after clean");
}

#[test]
fn a_secret_is_there_for_its_step_and_nowhere_else() {
    const VALUE: &str = "s3cret-t0ken-value";
    let p = project("secret-app");
    let first = p.run(&["build", "--json"]);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(p.run_image(), "main v1");

    p.replace("main.txt", "main v1", "main v2");
    let edited = p.run(&["build"]);
    assert_eq!(edited.code, 0, "{}\n{}", edited.stdout, edited.stderr);
    assert_eq!(p.run_image(), "main v2", "the step read the secret in the builder");
    let json = p.build_json(&["--full"], 0);

    for (what, text) in [("first build", first.stdout + &first.stderr), ("cycle", edited.stdout + &edited.stderr)] {
        assert!(!text.contains(VALUE), "the secret is not in the {what}'s output");
    }
    assert!(!json.to_string().contains(VALUE), "nor in --json");
    let saved = docker(&["save", &p.image]);
    assert!(saved.status.success());
    let needle = VALUE.as_bytes();
    assert!(!saved.stdout.windows(needle.len()).any(|w| w == needle), "nor in any layer or config of the image");
    let gone = p.in_builder(&["sh", "-c", "ls -A /run/secrets"]);
    assert_eq!(String::from_utf8_lossy(&gone.stdout).trim(), "", "nor in the builder once the step ended");

    // Without its source, a required secret stops the cycle with its name and the fix.
    std::fs::remove_file(p.path("token.txt")).expect("rm");
    p.replace("main.txt", "main v2", "main v3");
    let missing = p.run(&["build"]);
    assert_eq!(missing.code, 2, "{}\n{}", missing.stdout, missing.stderr);
    assert!(missing.stderr.contains("`token`") && missing.stderr.contains("token.txt"), "{}", missing.stderr);
    assert_eq!(p.run_image(), "main v2", "nothing committed");
}

#[test]
fn a_heredoc_on_an_engine_that_predates_it_is_explained_and_status_and_clean_still_work() {
    let p = project("heredoc-app");
    let run = p.run(&["build"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("heredoc"), "names the construct: {all}");
    assert!(all.contains("Dockerfile:5"), "at its line: {all}");
    assert!(all.contains("20.10"), "names the engine's version: {all}");
    assert!(all.contains("Docker 23"), "says what would build it: {all}");
    assert!(!all.to_lowercase().contains("correct the dockerfile"), "never blames a valid Dockerfile: {all}");

    let status = p.run(&["status"]);
    assert_eq!(status.code, 0, "{}\n{}", status.stdout, status.stderr);
    let clean = p.run(&["clean"]);
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
}

#[test]
fn clean_and_status_work_when_the_dockerfile_does_not_parse() {
    let p = project("go-cache");
    assert_eq!(outcome(&p.build_json(&[], 0)), "image_built");
    assert!(!p.containers().is_empty());
    p.write("Dockerfile", "FROM dr-golang:1.19\nFROBNICATE /src\n");
    let status = p.run(&["status", "--json"]);
    assert_eq!(status.code, 2, "{}\n{}", status.stdout, status.stderr);
    let v: Value = serde_json::from_str(status.stdout.trim()).expect("json");
    assert_eq!(v["loads"], false, "{v}");
    assert!(v["error"].as_str().unwrap_or_default().contains(":2:"), "the problem at its line: {v}");
    assert_eq!(v["containers"].as_array().map(Vec::len), Some(1), "the builder is listed: {v}");
    let clean = p.run(&["clean"]);
    assert_eq!(clean.code, 0, "{}\n{}", clean.stdout, clean.stderr);
    assert_eq!(p.containers(), Vec::<String>::new(), "clean removed the builder: {}", clean.stderr);
}

#[test]
fn copy_chmod_gives_the_builder_the_modes_a_buildkit_build_gives() {
    let p = project("chmod-app");
    assert_eq!(outcome(&p.build_json(&[], 0)), "image_built");
    p.replace("conf/a.conf", "a = 1", "a = 2");
    p.write("conf/more/c.conf", "c = 1\n");
    let edited = p.build_json(&[], 0);
    assert_eq!(outcome(&edited), "succeeded", "{edited}");
    assert_eq!(p.run_image(), "a = 2\nb = 1");
    let reference = fresh_buildkit_build(&p.dir, &format!("{}-reference:latest", p.image.trim_end_matches(":latest")));
    let expected = image_tree(&reference.tag, "/app/conf");
    assert_eq!(expected.get("a.conf").map(|e| e.mode), Some(0o640), "BuildKit's own modes: {expected:?}");
    assert_same(&expected, &container_tree(&p.builder(), "/app/conf"), "the builder's /app/conf");
    assert_same(&expected, &image_tree(&p.image, "/app/conf"), "the committed image's /app/conf");
}

#[test]
fn the_docker_init_go_template_rebuilds_its_final_stage_from_buildkit_stage_images() {
    let p = project("go-init");
    let first = p.build_json(&[], 0);
    assert_eq!(outcome(&first), "image_built", "{first}");
    assert_eq!(p.run_image(), "hello from v1");

    p.replace("main.go", "hello from v1", "hello from v2");
    let edited = p.build_json(&[], 0);
    assert_eq!(outcome(&edited), "succeeded", "{edited}");
    assert_eq!(p.run_image(), "hello from v2");
    p.replace("main.go", "hello from v2", "hello from v3");
    let again = p.build_json(&[], 0);
    assert_eq!(outcome(&again), "succeeded", "{again}");
    assert_eq!(p.run_image(), "hello from v3");

    // The final stage as BuildKit makes it: its RUNs before the copy, its user, no toolchain.
    let files = image_files(&p.image);
    assert!(files.contains_key("/etc/installed") && files.contains_key("/bin/server"), "the final stage's files");
    assert!(!files.keys().any(|f| f.starts_with("/usr/lib/go") || f.starts_with("/src/")), "no build stage files");
    let reference = fresh_buildkit_build(&p.dir, &format!("{}-reference:latest", p.image.trim_end_matches(":latest")));
    assert_same_config(&p.image, &reference.tag);
}

#[test]
fn a_syntax_frontend_the_engine_cannot_pull_is_explained_at_its_line() {
    let p = project("syntax-app");
    let run = p.run(&["build"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("Dockerfile:1:") && all.contains("# syntax=docker/dockerfile:1.4"), "{all}");
    assert!(all.contains("could not") && all.contains("the Dockerfile itself is fine"), "{all}");
    assert!(!all.to_lowercase().contains("correct the dockerfile"), "never blames a valid Dockerfile: {all}");
}

#[test]
fn a_heredoc_under_a_syntax_directive_is_left_to_the_frontend_it_names() {
    // awesome-compose's flask shape: `# syntax=docker/dockerfile:1.4`, and a heredoc in a
    // stage the build leaves out. With a registry, Docker 20.10 pulls that frontend and builds
    // it; the build must be tried, not refused for the built-in frontend's sake.
    let p = project("syntax-app");
    p.write(
        "Dockerfile",
        "# syntax=docker/dockerfile:1.4\nFROM busybox:local AS app\nWORKDIR /app\nCOPY main.txt ./\n\
         CMD [\"cat\", \"/app/main.txt\"]\n\nFROM app AS dev\nRUN <<EOF\necho dev >> /app/main.txt\nEOF\n",
    );
    p.write("rebuilder.toml", "target = \"app\"\n");
    let run = p.run(&["build"]);
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("full docker build"), "the build was tried: {all}");
    assert!(all.contains("Dockerfile:1:") && all.contains("# syntax=docker/dockerfile:1.4"), "{all}");
    assert!(all.contains("could not") && all.contains("the Dockerfile itself is fine"), "{all}");
    // Removing the directive would not help on this engine: the fix says what would.
    assert!(all.contains("heredoc") && all.contains("line 8") && all.contains("Docker 23"), "{all}");
    assert!(!all.contains("remove the `# syntax=` line"), "{all}");
}

#[test]
fn a_bind_mount_of_another_stage_is_there_in_the_builder() {
    let p = project("bind-from-stage");
    let status = p.run(&["status"]);
    assert_eq!(status.code, 0, "{}\n{}", status.stdout, status.stderr);
    assert!(status.stdout.contains("from=tools"), "status shows the mount:\n{}", status.stdout);
    let first = p.build_json(&[], 0);
    assert_eq!(outcome(&first), "image_built", "{first}");
    assert_eq!(p.run_image(), "rendered by tools v1: hello v1");

    // The step runs in the builder with the stage's folder at its target: no full build.
    p.replace("src/message.txt", "hello v1", "hello v2");
    let edited = p.build_json(&[], 0);
    assert_eq!(outcome(&edited), "succeeded", "{edited}");
    assert_eq!(p.run_image(), "rendered by tools v1: hello v2");
    // As in a BuildKit build: the stage's files are not in the image, and read-only.
    let files = image_files(&p.image);
    assert!(!files.contains_key("/tools/render"), "the bound files are not in the image");
    let write = p.in_builder(&["sh", "-c", "touch /tools/written-by-the-step"]);
    assert!(!write.status.success(), "the bind mount is read-only at its target, as BuildKit's");

    // A new builder (after clean) gets the stage's files again.
    assert_eq!(p.run(&["clean"]).code, 0);
    p.replace("src/message.txt", "hello v2", "hello after clean");
    let adopted = p.build_json(&[], 0);
    assert!(["succeeded", "image_built"].contains(&outcome(&adopted)), "{adopted}");
    assert_eq!(p.run_image(), "rendered by tools v1: hello after clean");
}

/// An `ssh-agent` of the test's own, stopped when dropped (also when the test fails).
struct Agent {
    child: std::process::Child,
    socket: std::path::PathBuf,
    _folder: tempfile::TempDir,
}

impl Agent {
    /// None when ssh-agent is not installed (`.ci/engine.sh` installs it).
    fn start() -> Option<Agent> {
        let folder = tempfile::tempdir().expect("tempdir");
        let socket = folder.path().join("agent.sock");
        let child = std::process::Command::new("ssh-agent")
            .args(["-D", "-a"])
            .arg(&socket)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        for _ in 0..250 {
            if socket.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Some(Agent { child, socket, _folder: folder })
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_ssh_mount_gets_the_users_agent_in_the_builder_too() {
    require_images(&["debian:bookworm-slim"]);
    let agent = Agent::start().expect("ssh-agent runs (openssh-client)");
    let p = TempProject::fixture("ssh-app");
    let env = [("SSH_AUTH_SOCK", agent.socket.as_os_str())];
    let first = p.run_env(&["build", "--json"], &env);
    assert_eq!(first.code, 0, "{}\n{}", first.stdout, first.stderr);
    assert_eq!(p.run_image(), "agent answered 12 for v1", "the full build forwarded the agent");

    // The edit runs the step in the builder, with the agent: no full build.
    p.replace("src/name.txt", "v1", "v2");
    let edited = p.run_env(&["build", "--json"], &env);
    assert_eq!(edited.code, 0, "{}\n{}", edited.stdout, edited.stderr);
    let v: Value = serde_json::from_str(edited.stdout.trim()).expect("json");
    assert_eq!(outcome(&v), "succeeded", "{v}");
    assert_eq!(p.run_image(), "agent answered 12 for v2");
    // The builder's one host path is the agent's socket.
    let inspect: Value =
        serde_json::from_str(&docker_ok(&["container", "inspect", &p.builder()])).expect("inspect JSON");
    let binds: Vec<&Value> = inspect[0]["HostConfig"]["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["Type"] != "volume" && m["Type"] != "tmpfs")
        .collect();
    assert_eq!(binds.len(), 1, "{binds:?}");
    assert_eq!(binds[0]["Source"], agent.socket.to_string_lossy().as_ref());
    assert_eq!(binds[0]["Target"], "/.docker-rebuilder/ssh-agent.sock");
    // The agent's link is there only while the step runs, and nothing of it is in the image.
    let link = p.in_builder(&["test", "-e", "/run/buildkit/ssh_agent.0"]);
    assert!(!link.status.success(), "the ssh mount's target is gone after the step");
    let files = image_files(&p.image);
    assert!(!files.keys().any(|f| f.contains("ssh_agent")), "no agent in the image");

    // Without an agent, the step (its mount not required) runs without one, as in BuildKit,
    // and fails the way it would there, at its line.
    p.replace("src/name.txt", "v2", "v3");
    let without = p.run_env(&["build", "--json"], &[("SSH_AUTH_SOCK", std::ffi::OsStr::new(""))]);
    assert_ne!(without.code, 0, "{}\n{}", without.stdout, without.stderr);
    assert!(without.stdout.contains("connect"), "the step's own error: {}", without.stdout);
    drop(agent);
}
