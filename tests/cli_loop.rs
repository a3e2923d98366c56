//! The rebuild loop end to end through the real `docker-rebuilder` binary and a real Docker
//! engine, checked with the real `docker` CLI.

mod support;

use support::{docker, docker_ok, TempProject};

fn outcome(v: &serde_json::Value) -> &str {
    v["outcome"].as_str().unwrap_or_default()
}

#[test]
fn a_one_line_edit_rebuilds_in_the_builder_and_docker_run_runs_the_new_code() {
    let p = TempProject::example("hello-c");
    let first = p.build_json(&[], 0);
    assert_eq!(outcome(&first), "image_built", "{first}");
    assert_eq!(p.run_image(), "Hello, world!");
    let built_id = p.image_id();

    p.replace("src/greet.c", "Hello", "Howdy");
    let second = p.build_json(&[], 0);
    assert_eq!(outcome(&second), "succeeded", "{second}");
    assert_eq!(second["uploaded"], 1, "only greet.c is sent: {second}");
    assert!(second["phases_ms"]["exec"].is_u64() && second["phases_ms"]["commit"].is_u64(), "{second}");
    assert_eq!(p.run_image(), "Howdy, world!");
    assert_ne!(p.image_id(), built_id);

    // A header edit: make's dependency tracking needs the synced mtimes to be right.
    p.replace("src/greet.c", "printf(\"Howdy, %s!\\n\", name);", "printf(GREETING, name);");
    p.replace("include/greet.h", "#define GREET_H", "#define GREET_H\n#define GREETING \"Hi, %s!\\n\"");
    p.build_json(&[], 0);
    assert_eq!(p.run_image(), "Hi, world!");
    p.replace("include/greet.h", "Hi, %s!", "Hey, %s!");
    p.build_json(&[], 0);
    assert_eq!(p.run_image(), "Hey, world!", "a header-only edit rebuilt its dependants");
}

#[test]
fn a_compile_error_fails_shows_the_compiler_and_keeps_the_image() {
    let p = TempProject::example("hello-c");
    p.build_json(&[], 0);
    let good_id = p.image_id();

    p.replace("src/greet.c", "printf(", "printff(");
    let run = p.run(&["build"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("src/greet.c:7:5: "), "compiler output shown: {all}");
    assert!(all.contains("build failed"), "{all}");
    assert_eq!(p.image_id(), good_id, "image unchanged");
    assert!(p.builder_exists(), "builder still there");

    // Nothing changed since, but the last build failed: it must not claim "up to date".
    let again = p.build_json(&[], 1);
    assert_eq!(outcome(&again), "build_failed", "{again}");

    p.replace("src/greet.c", "printff(", "printf(");
    let fixed = p.build_json(&[], 0);
    assert_eq!(outcome(&fixed), "succeeded", "{fixed}");
    assert_ne!(p.image_id(), good_id);
    assert_eq!(p.run_image(), "Hello, world!");
}

/// A compile error in the first build (a full `docker build`), with BuildKit and with the
/// classic builder: a failed build of the project, its problems at host files, exit code 1 —
/// not an error blaming the Dockerfile; fixed, the image is built.
#[test]
fn a_first_build_that_does_not_compile_fails_as_a_build_with_its_problems_located() {
    for builder in ["1", "0"] {
        let p = TempProject::example("hello-c");
        p.replace("src/greet.c", "name);", "name, nope);");
        let env = [("DOCKER_BUILDKIT", std::ffi::OsStr::new(builder))];
        let run = p.run_env(&["build", "--json"], &env);
        assert_eq!(run.code, 1, "DOCKER_BUILDKIT={builder}: {}\n{}", run.stdout, run.stderr);
        let failed: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
        assert_eq!(outcome(&failed), "build_failed", "{failed}");
        let greet = p.path("src/greet.c").canonicalize().expect("greet.c");
        let located = failed["diagnostics"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|d| d["severity"] == "error" && d["file"] == greet.to_string_lossy().as_ref() && d["line"] == 7);
        assert!(located, "the compiler's problem at src/greet.c:7: {failed}");
        assert!(!failed.to_string().contains("fix the Dockerfile"), "{failed}");
        assert!(docker(&["image", "inspect", &p.image]).status.code() != Some(0), "no image was made");

        p.replace("src/greet.c", "name, nope);", "name);");
        let fixed = p.run_env(&["build", "--json"], &env);
        assert_eq!(fixed.code, 0, "{}\n{}", fixed.stdout, fixed.stderr);
        assert!(fixed.stdout.contains("\"image_built\""), "{}", fixed.stdout);
        assert_eq!(p.run_image(), "Hello, world!");
    }
}

#[test]
fn the_committed_image_keeps_the_config_docker_build_gave_it() {
    let p = TempProject::example("hello-c");
    p.build_json(&[], 0);
    p.replace("src/main.c", "\"world\"", "\"config\"");
    p.build_json(&[], 0);
    assert_eq!(p.run_image(), "Hello, config!");

    // An independent plain `docker build` of the same sources is the reference.
    let reference = format!("{}-reference", p.image.trim_end_matches(":latest"));
    let dir = p.dir.to_string_lossy().into_owned();
    let build = std::process::Command::new("docker")
        .args(["build", "-q", "-t", &reference, &dir])
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .expect("docker build");
    assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));
    let config = |image: &str, field: &str| {
        docker_ok(&["image", "inspect", "--format", &format!("{{{{json .Config.{field}}}}}"), image])
    };
    for field in ["Cmd", "Entrypoint", "Env", "WorkingDir", "User", "ExposedPorts", "Volumes", "StopSignal"] {
        assert_eq!(config(&p.image, field), config(&reference, field), "Config.{field}");
    }
    let ours: serde_json::Value = serde_json::from_str(&config(&p.image, "Labels")).expect("labels");
    let theirs: serde_json::Value = serde_json::from_str(&config(&reference, "Labels")).expect("labels");
    let ours = ours.as_object().expect("object");
    for (key, value) in theirs.as_object().expect("object") {
        assert_eq!(ours.get(key), Some(value), "label {key} kept");
    }
    for key in ours.keys().filter(|k| !theirs.as_object().is_some_and(|t| t.contains_key(*k))) {
        assert!(key.starts_with("dev.docker-rebuilder."), "only our own labels are added, found {key}");
    }
    docker(&["rmi", "-f", "--no-prune", &reference]);
}

#[test]
fn deletes_and_new_files_are_mirrored_and_files_outside_the_sync_map_are_not_sent() {
    let p = TempProject::fixture("busybox-app");
    p.build_json(&[], 0);
    assert_eq!(p.run_image(), "one\ntwo");

    std::fs::remove_file(p.path("data/a.txt")).expect("rm");
    p.write("data/c.txt", "three\n");
    p.write("data/deeper/d.txt", "four\n");
    p.write("notes.txt", "edited, but no COPY takes it\n");
    p.write("other/e.txt", "not copied either\n");
    let v = p.build_json(&[], 0);
    assert_eq!(outcome(&v), "succeeded", "{v}");
    assert_eq!(v["deleted"], 1, "{v}");
    assert_eq!(v["uploaded"], 3, "c.txt, deeper/ and deeper/d.txt: {v}");
    assert_eq!(p.run_image(), "two\nthree");

    let ls = |path: &str| p.in_builder(&["ls", path]).status.success();
    assert!(!ls("/app/data/a.txt"), "deleted file gone from the builder");
    assert!(ls("/app/data/deeper/d.txt"), "new file in a new folder present");
    assert!(!ls("/app/notes.txt") && !ls("/app/other"), "files outside the sync map not sent");
    let committed = docker_ok(&["run", "--rm", &p.image, "ls", "/app/data"]);
    assert_eq!(committed.split_whitespace().collect::<Vec<_>>(), ["b.txt", "c.txt", "deeper"]);

    // A deleted folder disappears too.
    std::fs::remove_dir_all(p.path("data/deeper")).expect("rm -r");
    let v = p.build_json(&[], 0);
    assert_eq!(v["deleted"], 1, "{v}");
    assert!(!ls("/app/data/deeper"));
}

#[test]
fn synced_files_get_the_owner_mode_and_nanosecond_mtime_of_the_host() {
    use std::os::unix::fs::PermissionsExt;
    let p = TempProject::fixture("busybox-app");
    p.build_json(&[], 0);
    p.write("data/x.txt", "x\n");
    std::fs::set_permissions(p.path("data/x.txt"), std::fs::Permissions::from_mode(0o640)).expect("chmod");
    p.build_json(&[], 0);
    let stat = p.in_builder(&["stat", "-c", "%u:%g %a %y", "/app/data/x.txt"]);
    let stat = String::from_utf8_lossy(&stat.stdout).trim().to_string();
    let meta = std::fs::metadata(p.path("data/x.txt")).expect("meta");
    let mtime = meta.modified().expect("mtime").duration_since(std::time::UNIX_EPOCH).expect("epoch");
    assert!(stat.starts_with("1234:1234 640 "), "owner from --chown=app:app, mode kept: {stat}");
    let nanos = format!(".{:09}", mtime.subsec_nanos());
    assert!(stat.contains(&nanos), "sub-second mtime {nanos} kept: {stat}");
}

#[test]
fn two_edits_in_the_same_second_both_rebuild() {
    let p = TempProject::example("hello-c");
    p.build_json(&[], 0);
    for word in ["one", "two", "three"] {
        p.replace("src/main.c", "greet(\"", &format!("greet(\"{word}-"));
        let v = p.build_json(&[], 0);
        assert_eq!(outcome(&v), "succeeded", "{v}");
    }
    assert_eq!(p.run_image(), "Hello, three-two-one-world!");
}

#[test]
fn no_change_means_no_exec_and_no_commit() {
    let p = TempProject::fixture("busybox-app");
    p.build_json(&[], 0);
    let id = p.image_id();
    let v = p.build_json(&[], 0);
    assert_eq!(outcome(&v), "up_to_date", "{v}");
    assert!(v["phases_ms"].get("exec").is_none() && v["phases_ms"].get("commit").is_none(), "{v}");
    assert!(v["notes"].to_string().contains("no changes"), "it says so: {v}");
    assert_eq!(p.image_id(), id);
    let human = p.run(&["build"]);
    assert!(human.stderr.contains("up to date"), "{}", human.stderr);
}

#[test]
fn a_build_reads_only_files_changed_since_the_last_run_and_sees_a_same_size_edit_with_its_old_mtime() {
    let p = TempProject::fixture("busybox-app");
    p.build_json(&[], 0);
    let v = p.build_json(&[], 0);
    assert_eq!(outcome(&v), "up_to_date", "{v}");
    assert_eq!(v["files_read"], 3, "no hashes kept yet: data/a.txt, data/b.txt, build.sh: {v}");
    let v = p.build_json(&[], 0);
    assert_eq!(outcome(&v), "up_to_date", "{v}");
    assert_eq!(v["files_read"], 0, "the last run's hashes are kept: {v}");

    // The same size and the old mtime put back: only the ctime tells. It must be read.
    let a = p.path("data/a.txt");
    let mtime = std::fs::metadata(&a).and_then(|m| m.modified()).expect("mtime");
    p.write("data/a.txt", "ONE\n");
    std::fs::File::options().write(true).open(&a).and_then(|f| f.set_modified(mtime)).expect("set mtime");
    let v = p.build_json(&[], 0);
    assert_eq!(outcome(&v), "succeeded", "{v}");
    assert_eq!((v["uploaded"].as_u64(), v["files_read"].as_u64()), (Some(1), Some(1)), "{v}");
    assert_eq!(p.run_image(), "ONE\ntwo");

    let kept = p.cache_home().join("docker-rebuilder/hashes").join(p.builder());
    assert!(kept.is_file(), "{kept:?}");
    let clean = p.run(&["clean"]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    assert!(!kept.exists(), "clean removes the kept hashes");
}

#[test]
fn two_projects_keep_separate_builders_and_clean_removes_only_its_own() {
    let a = TempProject::fixture("busybox-app");
    let b = TempProject::fixture("busybox-app");
    // A runtime folder of the test's own, to see each project's lock file.
    let runtime = tempfile::tempdir().expect("runtime folder");
    let env = [("XDG_RUNTIME_DIR", runtime.path().as_os_str())];
    let lock_file = |p: &TempProject| runtime.path().join("docker-rebuilder").join(format!("{}.lock", p.builder()));
    for p in [&a, &b] {
        let built = p.run_env(&["build"], &env);
        assert_eq!(built.code, 0, "{}", built.stderr);
    }
    assert_ne!(a.builder(), b.builder());
    assert!(a.builder_exists() && b.builder_exists());
    assert!(lock_file(&a).is_file() && lock_file(&b).is_file());

    let clean = a.run_env(&["clean"], &env);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    assert!(!a.builder_exists(), "a's builder removed");
    assert!(!lock_file(&a).exists(), "and its lock file: clean leaves nothing of the project behind");
    assert!(b.builder_exists() && lock_file(&b).is_file(), "b's builder and lock untouched");
    assert_eq!(a.run_image(), "one\ntwo", "the image stays after clean");

    // After clean, the next build starts a builder from the committed image and goes on.
    a.write("data/a.txt", "uno\n");
    let v = a.build_json(&[], 0);
    assert!(matches!(outcome(&v), "succeeded" | "image_built"), "{v}");
    assert_eq!(a.run_image(), "uno\ntwo");
}

#[test]
fn clean_leaves_a_same_named_container_of_someone_else_alone() {
    let p = TempProject::fixture("busybox-app");
    let name = p.builder();
    docker_ok(&["create", "--name", &name, "busybox:local", "sleep", "1"]);
    let clean = p.run(&["clean"]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    assert!(docker(&["container", "inspect", &name]).status.success(), "someone else's container survives");
    let build = p.run(&["build"]);
    assert_eq!(build.code, 2, "refuses to use it: {}", build.stderr);
    assert!(build.stderr.contains("did not create"), "{}", build.stderr);
    docker(&["rm", "-f", &name]);
}

#[test]
fn a_full_rebuild_is_used_when_the_dockerfile_changes() {
    let p = TempProject::fixture("busybox-app");
    p.build_json(&[], 0);
    p.replace("Dockerfile", "ENV APP_MODE=test", "ENV APP_MODE=changed");
    let v = p.build_json(&[], 0);
    assert_eq!(outcome(&v), "image_built", "{v}");
    assert!(v["detail"]["reason"].as_str().unwrap_or_default().contains("Dockerfile"), "{v}");
    let env = docker_ok(&["image", "inspect", "--format", "{{json .Config.Env}}", &p.image]);
    assert!(env.contains("APP_MODE=changed"), "{env}");
    let forced = p.build_json(&["--full"], 0);
    assert_eq!(outcome(&forced), "image_built");
}

#[test]
fn an_invalid_rebuilder_toml_names_the_line_and_the_key() {
    let p = TempProject::fixture("busybox-app");
    p.write("rebuilder.toml", "image = \"demo\"\n\ncomit = false\n");
    let run = p.run(&["build"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("rebuilder.toml:3"), "{}", run.stderr);
    assert!(run.stderr.contains("comit"), "{}", run.stderr);
    assert!(run.stderr.contains("fix:"), "{}", run.stderr);
}

#[test]
fn a_folder_without_a_dockerfile_says_how_to_fix_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = std::process::Command::new(support::BIN).args(["build"]).arg(dir.path()).output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no Dockerfile") && stderr.contains("fix:"), "{stderr}");
}

#[test]
fn an_unreachable_engine_says_how_docker_host_is_read() {
    let p = TempProject::fixture("busybox-app");
    let out = std::process::Command::new(support::BIN)
        .args(["build"])
        .arg(&p.dir)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The address, where it came from, the cause, and a fix for that cause.
    assert!(stderr.contains("unix:///nonexistent/docker.sock, from DOCKER_HOST"), "{stderr}");
    assert!(stderr.contains("there is no socket at /nonexistent/docker.sock"), "{stderr}");
    assert!(stderr.contains("start the engine"), "{stderr}");
}

#[test]
fn a_change_to_a_file_copied_before_an_earlier_run_triggers_a_full_build_and_says_why() {
    let p = TempProject::fixture("busybox-app");
    p.replace("Dockerfile", "WORKDIR /app\n", "WORKDIR /app\nCOPY deps.txt ./\nRUN cp deps.txt installed.txt\n");
    p.write("deps.txt", "dep 1\n");
    p.build_json(&[], 0);
    p.write("deps.txt", "dep 2\n");
    let v = p.build_json(&[], 0);
    assert_eq!(outcome(&v), "image_built", "{v}");
    let reason = v["detail"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("deps.txt") && reason.contains("Dockerfile line 5"), "{reason}");
    let installed = docker_ok(&["run", "--rm", &p.image, "cat", "/app/installed.txt"]);
    assert_eq!(installed, "dep 2", "the earlier RUN ran again");
    // An ordinary source edit is still a sync, not a full build.
    p.write("data/a.txt", "uno\n");
    assert_eq!(outcome(&p.build_json(&[], 0)), "succeeded");
}

#[test]
fn a_reader_that_stops_early_does_not_turn_a_good_build_into_a_crash() {
    let p = TempProject::fixture("busybox-app");
    p.build_json(&[], 0);
    p.write("data/a.txt", "read by nobody\n");
    // `build --json | head -c 0`: stdout is closed before the result is printed.
    let mut child = std::process::Command::new(support::BIN)
        .args(["build", "--json"])
        .arg(&p.dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("docker-rebuilder runs");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("it ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let v = p.build_json(&[], 0);
    assert_eq!(outcome(&v), "up_to_date", "the build was done and committed: {v}");
}

/// `status --change PATH` says what a change to the file would do. (Its option once shared
/// clap's id with compose's global `-f/--file`, and the file was read as a compose file.)
#[test]
fn status_says_what_a_change_to_a_file_would_do() {
    let p = TempProject::example("hello-c");
    let source = p.path("src/greet.c");
    let run = p.run(&["status", "--json", "--change", &source.display().to_string()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let status: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("JSON");
    let effects = status["files"][0]["effects"].to_string();
    assert!(effects.contains("synced to the builder") && effects.contains("`make` runs"), "{status}");
    let run = p.run(&["status", "--change", &p.path("Dockerfile").display().to_string()]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("a change makes a full docker build"), "{}", run.stdout);
}

/// The dependency-cache shape of Python and Node images: the manifest copied, the install
/// run, then the sources copied after every RUN. A change to the sources runs no step (as
/// docker's layer cache would not), a change to the manifest runs the install again, and so
/// does any change after an install that failed.
#[test]
fn a_source_copied_after_every_run_runs_no_step_and_the_manifest_runs_the_install() {
    let p = TempProject::fixture("busybox-app");
    p.write(
        "Dockerfile",
        "FROM busybox:local\nWORKDIR /app\nCOPY deps.txt ./\n\
         RUN ! grep -q broken deps.txt && cp deps.txt installed.txt && echo run >> runs.txt\n\
         COPY . ./\nCMD [\"cat\", \"/app/page.txt\"]\n",
    );
    p.write("deps.txt", "dep 1\n");
    p.write("page.txt", "page 1\n");
    let in_image = |file: &str| docker_ok(&["run", "--rm", &p.image, "cat", &format!("/app/{file}")]);
    assert_eq!(outcome(&p.build_json(&[], 0)), "image_built");
    assert_eq!(in_image("runs.txt"), "run");

    p.write("page.txt", "page 2\n");
    let edited = p.build_json(&[], 0);
    assert_eq!(outcome(&edited), "succeeded", "{edited}");
    assert!(edited["phases_ms"]["exec"].is_null(), "no step ran: {edited}");
    assert!(edited["notes"].to_string().contains("not run, as docker's layer cache would not"), "{edited}");
    assert_eq!(p.run_image(), "page 2");
    assert_eq!(in_image("runs.txt"), "run", "the install did not run again");

    p.write("deps.txt", "dep 2\n");
    let edited = p.build_json(&[], 0);
    assert_eq!(outcome(&edited), "succeeded", "{edited}");
    assert_eq!(in_image("installed.txt"), "dep 2");
    assert_eq!(in_image("runs.txt"), "run\nrun", "the manifest's change ran the install");

    // An install that fails is run again by the next change, wherever it is.
    p.write("deps.txt", "broken\n");
    assert_eq!(outcome(&p.build_json(&[], 1)), "build_failed");
    p.write("page.txt", "page 3\n");
    let after = p.build_json(&[], 1);
    assert_eq!(outcome(&after), "build_failed", "the failed install runs again: {after}");
    assert_eq!(p.run_image(), "page 2", "the image keeps the last clean build");
    p.write("deps.txt", "dep 3\n");
    assert_eq!(outcome(&p.build_json(&[], 0)), "succeeded");
    assert_eq!((p.run_image(), in_image("installed.txt")), ("page 3".to_string(), "dep 3".to_string()));
}

/// A Node image's manifest that is not JSON: real npm (Debian's) stops `npm ci` naming only a
/// position from the file's start. The problem is at that line and column of the host's
/// package.json, not at the RUN line; fixed, the install runs and the image is updated.
#[test]
fn a_package_json_that_is_not_json_is_located_at_its_line() {
    let p = TempProject::fixture("busybox-app");
    p.write(
        "Dockerfile",
        "FROM debian:bookworm-slim\n\
         RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null\n\
         WORKDIR /app\nCOPY package.json package-lock.json ./\nRUN npm ci --no-audit --no-fund\n\
         COPY . ./\nCMD [\"node\", \"-p\", \"require('./package.json').version\"]\n",
    );
    let manifest = |version: &str, comma: &str| {
        format!("{{\n  \"name\": \"app\",\n  \"version\": \"{version}\"{comma}\n  \"private\": true\n}}\n")
    };
    p.write("package.json", &manifest("1.0.0", ","));
    p.write(
        "package-lock.json",
        "{\"name\": \"app\", \"version\": \"1.0.0\", \"lockfileVersion\": 3, \"requires\": true,\n \
         \"packages\": {\"\": {\"name\": \"app\", \"version\": \"1.0.0\"}}}\n",
    );
    assert_eq!(outcome(&p.build_json(&[], 0)), "image_built");
    assert_eq!(p.run_image(), "1.0.0");

    p.write("package.json", &manifest("1.0.1", ""));
    let failed = p.build_json(&[], 1);
    assert_eq!(outcome(&failed), "build_failed", "{failed}");
    let manifest_path = p.path("package.json").canonicalize().expect("package.json");
    let problem = failed["diagnostics"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["file"] == manifest_path.to_string_lossy().as_ref())
        .unwrap_or_else(|| panic!("a problem in package.json: {failed}"));
    // `  "private": true` follows the line that lost its comma.
    assert_eq!((problem["line"].as_u64(), problem["column"].as_u64()), (Some(4), Some(3)), "{problem}");
    assert_eq!(problem["code"], "EJSONPARSE", "{problem}");
    assert_eq!(p.run_image(), "1.0.0", "the image keeps the last clean build");

    p.write("package.json", &manifest("1.0.1", ","));
    assert_eq!(outcome(&p.build_json(&[], 0)), "succeeded");
    assert_eq!(p.run_image(), "1.0.1");
}
