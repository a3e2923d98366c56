//! Multi-stage Dockerfiles (issue 13) end to end: the real binary, the real engine, the image
//! users deploy (the final stage) checked with the real `docker` CLI and against a fresh plain
//! `docker build` of the same folder.
//!
//! The base images are local stand-ins for official ones, made by `.ci/engine.sh`:
//! `dr-golang:1.19` (Debian's Go) and `dr-distroless:static` (scratch, no shell).

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::image::{assert_same_config, assert_same_files, assert_size_within, fresh_build, image_files, image_text};
use support::lsp::{file_uri, is_diagnostics_for, is_status, LspClient};
use support::{docker, docker_ok, require_images, TempProject, BIN};

/// `outcome` of a cycle whose build step failed (a compile error). The product's name for it
/// since the first release (tests/cli_loop.rs asserts it too).
const FAILED: &str = "build_failed";

const FIRST_BUILD: Duration = Duration::from_secs(600);
const CYCLE: Duration = Duration::from_secs(120);

fn outcome(v: &Value) -> &str {
    v["outcome"].as_str().unwrap_or_default()
}

/// A copy of the fixture whose sources are its own (see `make_own`).
fn project(fixture: &str) -> TempProject {
    require_images(&["debian:bookworm-slim", "dr-golang:1.19", "dr-distroless:static"]);
    let p = TempProject::fixture(fixture);
    make_own(&p);
    p
}

/// Makes the project's sources its own: a comment (Go) or a string (C) with its unique name in
/// each source file, so its builds share no layer from the first COPY of sources on with the
/// builds of other tests or runs (whose cache would otherwise reuse images a FreshBuild removes).
fn make_own(p: &TempProject) {
    let word = p.dir.file_name().expect("name").to_string_lossy().into_owned();
    for source in ["main.go", "main.c", "tool/tool.c", "server/main.go"] {
        if p.path(source).is_file() {
            let text = p.read(source);
            let stamp = if source.ends_with(".go") {
                format!("\n// {word}\n")
            } else {
                format!("\nconst char *const fixture_stamp = \"{word}\";\n")
            };
            p.write(source, &format!("{text}{stamp}"));
        }
    }
}

/// 1-based number of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines().position(|l| l.contains(needle)).unwrap_or_else(|| panic!("no line holds {needle:?}")) + 1
}

/// `path` is one of `folders` or inside one.
fn under(path: &str, folders: &[&str]) -> bool {
    folders.iter().any(|d| path == *d || path.starts_with(&format!("{d}/")))
}

/// A plain `docker build` of the project folder as it is now, compared with the project's
/// image: same config, same files (kind, mode, owner, link), size within 5 %.
fn assert_like_a_fresh_build(p: &TempProject) {
    let reference = fresh_build(&p.dir, &format!("{}-reference:latest", p.image.trim_end_matches(":latest")));
    assert_same_config(&p.image, &reference.tag);
    assert_same_files(&p.image, &reference.tag);
    assert_size_within(&p.image, &reference.tag, 5.0);
}

/// A compile error: the cycle fails in the builder of `stage`, with diagnostics, and the image
/// stays as it was.
fn assert_fails_in(p: &TempProject, stage: &str) -> Value {
    let before = p.image_id();
    let failed = p.build_json(&[], 1);
    assert_eq!(outcome(&failed), FAILED, "{failed}");
    assert_eq!(failed["stage"], stage, "the stage whose builder failed: {failed}");
    assert!(failed["errors"].as_u64() >= Some(1), "{failed}");
    assert_eq!(p.image_id(), before, "a failed build commits nothing");
    failed
}

/// `docker-rebuilder clean` removes every builder of the project (a multi-stage project may
/// have several); the image stays.
fn clean(p: &TempProject) {
    let run = p.run(&["clean"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(p.containers(), Vec::<String>::new(), "clean leaves no container of the project: {}", run.stderr);
    p.image_id();
}

#[test]
fn go_on_distroless_zero_config_edit_runs_the_new_code_and_equals_a_fresh_docker_build() {
    let p = project("go-distroless");
    let first = p.build_json(&[], 0);
    assert_eq!(outcome(&first), "image_built", "{first}");
    assert_eq!(first["image"], p.image, "the tag is the folder's name: {first}");
    assert_eq!(p.run_image(), "hello from v1");
    let nothing = p.build_json(&[], 0);
    assert_eq!(outcome(&nothing), "up_to_date", "{nothing}");

    p.replace("main.go", "hello from v1", "hello from v2");
    let edited = p.build_json(&[], 0);
    assert_eq!(outcome(&edited), "succeeded", "{edited}");
    assert_eq!(p.run_image(), "hello from v2");

    assert_like_a_fresh_build(&p);
    let files = image_files(&p.image);
    let leaked: Vec<&String> = files.keys().filter(|f| under(f, &["/usr/lib/go", "/src", "/go", "/out"])).collect();
    assert!(leaked.is_empty(), "the build stage's files are not in the image: {leaked:?}");
    assert_eq!(files.get("/app").map(|f| (f.kind, f.uid)), Some(('-', 0)), "{:?}", files.get("/app"));

    // A compile error: diagnostics at main.go, the image unchanged.
    p.replace("main.go", "fmt.Println(message)", "fmt.Println(nope)");
    let line = line_of(&p.read("main.go"), "nope");
    assert_fails_in(&p, "build");
    let human = p.run(&["build"]);
    assert_eq!(human.code, 1, "{}\n{}", human.stdout, human.stderr);
    let all = format!("{}{}", human.stdout, human.stderr);
    assert!(all.contains(&format!("main.go:{line}:")) && all.contains("undefined: nope"), "go's error shown: {all}");

    p.replace("main.go", "fmt.Println(nope)", "fmt.Println(message)");
    p.replace("main.go", "hello from v2", "hello from the fix");
    let fixed = p.build_json(&[], 0);
    assert_eq!(outcome(&fixed), "succeeded", "{fixed}");
    assert_eq!(p.run_image(), "hello from the fix");
    clean(&p);
}

/// A compile error in a full build (the first one, and one a Dockerfile edit asks for): a
/// failed build in stage `build` with go's error at main.go, as an incremental cycle reports
/// it; the image is left as it was (none yet, then the last good one).
#[test]
fn a_full_build_that_does_not_compile_fails_in_its_stage_with_the_problem_at_the_source() {
    let p = project("go-distroless");
    p.replace("main.go", "fmt.Println(message)", "fmt.Println(nope)");
    let line = line_of(&p.read("main.go"), "nope");
    let main_go = p.path("main.go").canonicalize().expect("main.go").to_string_lossy().into_owned();
    let at_main_go = |v: &Value| {
        v["diagnostics"].as_array().into_iter().flatten().any(|d| d["file"] == main_go && d["line"] == line)
    };
    let first = p.build_json(&[], 1);
    assert_eq!((outcome(&first), &first["stage"]), (FAILED, &Value::from("build")), "{first}");
    assert!(at_main_go(&first), "go's error at main.go:{line}: {first}");
    assert!(docker(&["image", "inspect", &p.image]).status.code() != Some(0), "no image was made");

    p.replace("main.go", "fmt.Println(nope)", "fmt.Println(message)");
    assert_eq!(outcome(&p.build_json(&[], 0)), "image_built");
    let good = p.image_id();
    p.replace("Dockerfile", "# A Go service", "# Edited: a Go service");
    p.replace("main.go", "fmt.Println(message)", "fmt.Println(nope)");
    let again = p.build_json(&[], 1);
    assert_eq!((outcome(&again), &again["stage"]), (FAILED, &Value::from("build")), "{again}");
    assert!(at_main_go(&again), "{again}");
    assert_eq!(p.image_id(), good, "a failed full build leaves the image as it was");
    p.replace("main.go", "fmt.Println(nope)", "fmt.Println(message)");
    assert_eq!(outcome(&p.build_json(&[], 0)), "image_built");
    assert_eq!(p.run_image(), "hello from v1");
    clean(&p);
}

/// `clean` removes this project's untagged images that no container runs (superseded while a
/// container still ran them); `clean --caches` also what it keeps to make the next build
/// incremental: each stage's state image, the stage images a replay starts from (BuildKit's).
/// The image itself stays.
#[test]
fn clean_removes_our_images_no_build_needs_and_with_caches_the_kept_state() {
    let p = project("go-distroless");
    assert_eq!(outcome(&p.build_json(&[], 0)), "image_built");
    let label = format!("dev.docker-rebuilder.project={}", p.dir.canonicalize().expect("dir").display());
    let ours = |role: &str| {
        docker_ok(&[
            "images",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("label={label}"),
            "--filter",
            &format!("label=dev.docker-rebuilder.role={role}"),
        ])
        .lines()
        .map(str::to_string)
        .collect::<Vec<_>>()
    };
    // An image of ours a commit superseded while a container still ran it: untagged now.
    let container = docker_ok(&["create", "busybox:local", "true"]);
    let leftover = docker_ok(&[
        "commit",
        "--change",
        &format!("LABEL {label}"),
        "--change",
        "LABEL dev.docker-rebuilder.role=image",
        &container,
    ]);
    docker_ok(&["rm", &container]);
    assert!(ours("image").contains(&leftover), "{:?}", ours("image"));
    clean(&p);
    assert!(!ours("image").contains(&leftover), "clean removed the leftover: {:?}", ours("image"));
    assert_eq!(ours("state").len(), 1, "clean kept the build stage's state");
    // A builder made from that state, cleaned: its state is the first state's child.
    p.replace("main.go", "hello from v1", "hello from v2");
    assert_eq!(outcome(&p.build_json(&[], 0)), "succeeded", "the state adopted: a cycle, not a full build");
    clean(&p);
    let run = p.run(&["clean", "--caches"]);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("images of ours"), "the state and the replay's stage image: {}", run.stderr);
    assert_eq!((ours("state"), ours("stage")), (Vec::new(), Vec::new()), "--caches removed what was kept");
    assert_eq!(p.run_image(), "hello from v2", "the image stays");
}

#[test]
fn a_final_stage_that_also_copies_from_the_context_is_never_stale() {
    let p = project("go-stale");
    let first = p.build_json(&[], 0);
    assert_eq!(outcome(&first), "image_built", "{first}");
    assert_eq!(p.run_image(), "hello from v1");
    assert!(image_text(&p.image, "/README.md").unwrap_or_default().contains("readme v1"));

    // Only main.go: the build stage's source. This used to say "up to date".
    p.replace("main.go", "hello from v1", "hello from v2");
    let code = p.build_json(&[], 0);
    assert_eq!(outcome(&code), "succeeded", "{code}");
    assert_eq!(p.run_image(), "hello from v2");

    // Only README.md: the final stage's own COPY from the context.
    p.replace("README.md", "readme v1", "readme v2");
    let readme = p.build_json(&[], 0);
    assert_eq!(outcome(&readme), "succeeded", "{readme}");
    let text = image_text(&p.image, "/README.md").expect("/README.md in the image");
    assert!(text.contains("readme v2"), "{text}");
    assert_eq!(p.run_image(), "hello from v2", "the binary stays the new one");
    let nothing = p.build_json(&[], 0);
    assert_eq!(outcome(&nothing), "up_to_date", "{nothing}");
    clean(&p);

    // After `clean`, the builder starts from the state clean kept: an edit is a cycle, not a
    // full docker build.
    p.replace("main.go", "hello from v2", "hello after clean");
    let adopted = p.build_json(&[], 0);
    assert_eq!(outcome(&adopted), "succeeded", "{adopted}");
    assert_eq!(adopted["uploaded"], 1, "only main.go is synced: {adopted}");
    assert_eq!(p.run_image(), "hello after clean");
    clean(&p);
}

#[test]
fn two_source_stages_rebuild_only_the_one_whose_sources_changed() {
    let p = project("two-sources");
    let first = p.build_json(&[], 0);
    assert_eq!(outcome(&first), "image_built", "{first}");
    assert_eq!(p.run_image(), "tool v1\napp v1");

    p.replace("tool/tool.c", "\"v1\"", "\"v2\"");
    let tool = p.build_json(&[], 0);
    assert_eq!(outcome(&tool), "succeeded", "{tool}");
    assert_eq!(p.run_image(), "tool v2\napp v1");

    p.replace("server/main.go", "\"v1\"", "\"v2\"");
    let app = p.build_json(&[], 0);
    assert_eq!(outcome(&app), "succeeded", "{app}");
    assert_eq!(p.run_image(), "tool v2\napp v2");

    // Only the C builder runs for a C edit. Loose on purpose: the human output names the step
    // it runs (`▸ exec: gcc …` today), and the Go stage's `go build` must not be among them.
    p.replace("tool/tool.c", "\"v2\"", "\"v3\"");
    let human = p.run(&["build"]);
    assert_eq!(human.code, 0, "{}\n{}", human.stdout, human.stderr);
    let all = format!("{}{}", human.stdout, human.stderr);
    assert!(all.contains("gcc") && !all.contains("go build"), "only the tool stage's builder ran:\n{all}");
    assert_eq!(p.run_image(), "tool v3\napp v2");

    // A compile error names the stage that failed, each in turn.
    p.replace("tool/tool.c", "VERSION);", "VERSON);");
    assert_fails_in(&p, "tool");
    p.replace("tool/tool.c", "VERSON);", "VERSION);");
    p.replace("server/main.go", "+ version)", "+ nope)");
    assert_fails_in(&p, "app");
    p.replace("server/main.go", "+ nope)", "+ version)");
    let fixed = p.build_json(&[], 0);
    assert_eq!(outcome(&fixed), "succeeded", "{fixed}");
    assert_eq!(p.run_image(), "tool v3\napp v2");
    clean(&p);
}

#[test]
fn a_run_after_copy_from_in_a_debian_final_stage_sees_the_new_binary() {
    let p = project("c-slim-run");
    // Another name for the image (`tags`): the full build gives it, the replay's commit moves it.
    let extra = format!("{}-extra:dev", p.image.trim_end_matches(":latest"));
    p.write("rebuilder.toml", &format!("tags = [\"{extra}\"]\n"));
    let id_of = |name: &str| docker_ok(&["image", "inspect", "--format", "{{.Id}}", name]);
    let first = p.build_json(&[], 0);
    assert_eq!(outcome(&first), "image_built", "{first}");
    assert_eq!(p.run_image(), "hello v1");
    assert_eq!(id_of(&extra), id_of(&p.image), "the full build named the image by the extra tag");
    let selftest = || docker_ok(&["run", "--rm", &p.image, "cat", "/etc/hello.selftest"]);
    assert_eq!(selftest(), "self-test ok v1");

    p.replace("main.c", "\"v1\"", "\"v2\"");
    let edited = p.build_json(&[], 0);
    assert_eq!(outcome(&edited), "succeeded", "{edited}");
    assert_eq!(p.run_image(), "hello v2");
    assert_eq!(selftest(), "self-test ok v2", "the final stage's RUN ran again, after the new COPY --from");
    assert_eq!(id_of(&extra), id_of(&p.image), "the replay's commit moved the extra tag");

    assert_like_a_fresh_build(&p);
    let files = image_files(&p.image);
    assert!(!files.contains_key("/src") && !files.contains_key("/usr/bin/gcc"), "no build stage files in the image");
    clean(&p);
}

#[test]
fn lsp_a_saved_compile_error_shows_at_its_line_names_the_stage_and_the_fix_commits() {
    let p = project("go-distroless");
    let mut client = LspClient::start(BIN);
    client.initialize(&[&p.dir]);
    let settled = |n: &Value| ["succeeded", "failed", "error"].iter().any(|s| is_status(n, s));
    let (_, first) = client.wait_for(0, FIRST_BUILD, settled);
    assert_eq!(first["params"]["state"], "succeeded", "the first build: {first}");
    assert_eq!(p.run_image(), "hello from v1");
    let first_id = p.image_id();
    let main = p.path("main.go");

    p.replace("main.go", "fmt.Println(message)", "fmt.Println(nope)");
    let line = line_of(&p.read("main.go"), "nope") - 1;
    let column = p.read("main.go").lines().nth(line).and_then(|l| l.find("nope")).expect("column");
    let mark = client.notifications.len();
    client.did_save(&main);
    let (_, published) = client.wait_for(mark, CYCLE, |n| {
        is_diagnostics_for(n, &main) && !n["params"]["diagnostics"].as_array().is_none_or(|d| d.is_empty())
    });
    let diagnostics = published["params"]["diagnostics"].as_array().expect("array");
    let d = diagnostics
        .iter()
        .find(|d| d["message"].as_str().unwrap_or_default().contains("nope"))
        .unwrap_or_else(|| panic!("go's `undefined: nope`: {published}"));
    assert_eq!(d["severity"], 1, "{d}");
    assert_eq!(d["range"]["start"], json!({ "line": line, "character": column }), "{d}");
    let (_, failed) = client.wait_for(mark, CYCLE, settled);
    assert_eq!(failed["params"]["state"], "failed", "{failed}");
    assert_eq!(failed["params"]["stage"], "build", "the status names the stage that failed: {failed}");
    assert!(failed["params"]["errors"].as_u64() >= Some(1), "{failed}");
    assert_eq!(p.image_id(), first_id, "a failed build commits nothing");

    p.replace("main.go", "fmt.Println(nope)", "fmt.Println(message)");
    p.replace("main.go", "hello from v1", "hello from the editor");
    let mark = client.notifications.len();
    client.did_save(&main);
    let (_, cleared) = client.wait_for(mark, CYCLE, |n| is_diagnostics_for(n, &main));
    assert_eq!(cleared["params"]["diagnostics"], json!([]), "fixed: cleared");
    let (_, ok) = client.wait_for(mark, CYCLE, settled);
    assert_eq!(ok["params"]["state"], "succeeded", "{ok}");
    assert_ne!(ok["params"]["imageId"], json!(first_id), "{ok}");
    assert_eq!(p.run_image(), "hello from the editor");

    // The editors open a shell in the builder the status names: it must be a real one.
    let status = client.request(
        "workspace/executeCommand",
        json!({ "command": "docker-rebuilder.status", "arguments": [file_uri(&p.dir)] }),
        CYCLE,
    );
    let builder = status["result"]["builder"].as_str().unwrap_or_default().to_string();
    let exists = support::docker(&["container", "inspect", &builder]).status.success();
    assert!(exists && builder.ends_with("-build"), "the status names a builder that exists: {status}");

    let cleaned = client.request(
        "workspace/executeCommand",
        json!({ "command": "docker-rebuilder.clean", "arguments": [file_uri(&p.dir)] }),
        CYCLE,
    );
    assert!(cleaned.get("result").is_some(), "{cleaned}");
    assert_eq!(p.containers(), Vec::<String>::new(), "clean leaves no container of the project: {cleaned}");
    client.shutdown();
}

/// The fixtures build with a plain `docker build` and do what the tests above expect of them
/// (independent of docker-rebuilder: when this fails, the fixture or a base image is wrong).
/// Two builds of each (of two copies) compare equal with the helpers the tests use.
#[test]
fn the_fixtures_build_with_plain_docker_build_and_two_builds_compare_equal() {
    let expected = [
        ("go-distroless", "hello from v1"),
        ("go-stale", "hello from v1"),
        ("two-sources", "tool v1\napp v1"),
        ("c-slim-run", "hello v1"),
    ];
    for (fixture, output) in expected {
        let p = project(fixture);
        let reference = fresh_build(&p.dir, &p.image);
        assert_eq!(docker_ok(&["run", "--rm", &reference.tag]), output, "{fixture}");
        let files = image_files(&reference.tag);
        assert!(!files.keys().any(|f| under(f, &["/src", "/usr/lib/go", "/out"])), "{fixture}");
        match fixture {
            "go-distroless" | "go-stale" => {
                assert!(!files.contains_key("/bin/sh"), "{fixture}: distroless has no shell");
                assert_eq!(files["/app"].mode, 0o755, "{fixture}");
                let user = docker_ok(&["image", "inspect", "--format", "{{.Config.User}}", &reference.tag]);
                assert_eq!(user, "nonroot:nonroot");
            }
            "c-slim-run" => {
                let selftest = docker_ok(&["run", "--rm", &reference.tag, "cat", "/etc/hello.selftest"]);
                assert_eq!(selftest, "self-test ok v1");
            }
            _ => {}
        }
        if fixture == "go-stale" {
            assert_eq!(image_text(&reference.tag, "/README.md").as_deref(), Some("# go-stale\n\nreadme v1\n"));
        }
        let q = project(fixture);
        let again = fresh_build(&q.dir, &q.image);
        assert_ne!(docker_ok(&["image", "inspect", "--format", "{{.Id}}", &again.tag]), p.image_id(), "{fixture}");
        assert_same_config(&reference.tag, &again.tag);
        assert_same_files(&reference.tag, &again.tag);
        assert_size_within(&reference.tag, &again.tag, 1.0);
    }
}

/// The helpers see a difference when there is one (else the comparisons above prove nothing).
#[test]
fn the_comparison_helpers_catch_a_changed_config_and_file_list() {
    let p = project("go-distroless");
    let reference = fresh_build(&p.dir, &p.image);
    let name = p.image.trim_end_matches(":latest").to_string();
    p.replace("Dockerfile", "USER nonroot:nonroot", "USER nonroot:nonroot\nCOPY --from=build /src/go.mod /go.mod");
    let other = fresh_build(&p.dir, &format!("{name}-other:latest"));
    let files = support::image::diff_files(&image_files(&reference.tag), &image_files(&other.tag));
    assert_eq!(files, ["  only in reference: /go.mod (- 0644 0:0)"]);
    p.replace("Dockerfile", "USER nonroot:nonroot\n", "USER nobody\nEXPOSE 8080\n");
    let changed = fresh_build(&p.dir, &format!("{name}-changed:latest"));
    let caught = std::panic::catch_unwind(|| assert_same_config(&reference.tag, &changed.tag));
    assert!(caught.is_err(), "a different USER and EXPOSE are caught");
}
