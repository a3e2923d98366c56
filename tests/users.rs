//! Runtime files per user: a second user in the `docker` group builds on the engine root uses,
//! with root's lock folder there; and one user's processes still take turns on a project.

mod support;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{TempProject, BIN};

/// The second user the test makes (a system user without a home, in the `docker` group).
const USER: &str = "drtest-user2";

fn outcome(v: &serde_json::Value) -> &str {
    v["outcome"].as_str().unwrap_or_default()
}

fn output_of(cmd: &mut Command) -> std::process::Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?} does not run: {e}"))
}

fn uid_of(user: Option<&str>) -> u32 {
    let out = output_of(Command::new("id").arg("-u").args(user));
    assert!(out.status.success(), "id -u {user:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().expect("a uid")
}

/// The second user's uid, made when missing; None (with the reason printed) unless root.
fn second_user() -> Option<u32> {
    if uid_of(None) != 0 {
        eprintln!("skipped: making a second user needs root (CI runs the tests as root)");
        return None;
    }
    let group = output_of(Command::new("getent").args(["group", "docker"]));
    assert!(group.status.success(), "no `docker` group: run `.ci/engine.sh` (Debian's docker.io makes it)");
    if !output_of(Command::new("getent").args(["passwd", USER])).status.success() {
        let made = output_of(Command::new("useradd").args(["--system", "--no-create-home", "-G", "docker", USER]));
        // Another test binary may have made it meanwhile.
        let exists = output_of(Command::new("getent").args(["passwd", USER])).status.success();
        assert!(exists, "useradd {USER}: {}", String::from_utf8_lossy(&made.stderr));
    }
    let joined = output_of(Command::new("usermod").args(["-aG", "docker", USER]));
    assert!(joined.status.success(), "usermod: {}", String::from_utf8_lossy(&joined.stderr));
    Some(uid_of(Some(USER)))
}

/// `docker-rebuilder ARGS DIR` as the second user (its groups from /etc/group, so `docker`),
/// with the environment `sudo -u` could leave: root's XDG_RUNTIME_DIR (a folder not theirs).
fn run_as_second_user(p: &TempProject, args: &[&str], root_runtime: &std::path::Path) -> support::Run {
    let home = p.dir.parent().expect("root").join("home2");
    let out = output_of(
        Command::new("setpriv")
            .args(["--reuid", USER, "--regid", "docker", "--init-groups", "--"])
            .arg(BIN)
            .args(args)
            .arg(&p.dir)
            .env("HOME", &home)
            .env("XDG_CACHE_HOME", home.join("cache"))
            .env("XDG_RUNTIME_DIR", root_runtime)
            .env_remove("TMPDIR"),
    );
    support::Run::from(out)
}

#[test]
fn a_second_user_in_the_docker_group_builds_beside_roots_lock_folder() {
    let Some(uid) = second_user() else { return };
    let p = TempProject::example("hello-c");
    // Root builds first, so root's lock folder exists; and the shared folder older versions
    // made 0755 in /tmp is there too (what locked the second user out).
    let legacy = std::env::temp_dir().join("docker-rebuilder");
    std::fs::create_dir_all(&legacy).expect("mkdir");
    let first = p.build_json(&[], 0);
    assert_eq!(outcome(&first), "image_built", "{first}");

    // The project and a home, the second user's; root's private runtime folder, not theirs.
    let root = p.dir.parent().expect("root").to_path_buf();
    std::fs::create_dir_all(root.join("home2")).expect("mkdir home");
    let chown = output_of(Command::new("chown").args(["-R", &format!("{USER}:docker")]).arg(&root));
    assert!(chown.status.success(), "chown: {}", String::from_utf8_lossy(&chown.stderr));
    let root_runtime = tempfile::tempdir().expect("tempdir");
    std::fs::set_permissions(root_runtime.path(), std::fs::Permissions::from_mode(0o700)).expect("chmod");

    p.replace("src/greet.c", "Hello", "Salut");
    let run = run_as_second_user(&p, &["build", "--json"], root_runtime.path());
    assert_eq!(run.code, 0, "the second user's build: {}\n{}", run.stdout, run.stderr);
    let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("json");
    assert_eq!(outcome(&v), "succeeded", "{v}");
    assert_eq!(p.run_image(), "Salut, world!");

    // Its lock is in a folder of its own, private; nothing of it in root's.
    let theirs = std::env::temp_dir().join(format!("docker-rebuilder-{uid}"));
    let meta = std::fs::symlink_metadata(&theirs).expect("the second user's folder");
    assert!(meta.is_dir() && meta.uid() == uid && meta.mode() & 0o777 == 0o700, "{theirs:?}: {meta:?}");
    let lock = theirs.join(format!("{}.lock", p.builder()));
    assert_eq!(std::fs::metadata(&lock).map(|m| m.uid()).ok(), Some(uid), "{lock:?}");
    assert_eq!(std::fs::read_dir(root_runtime.path()).expect("ls").count(), 0, "root's runtime folder untouched");
}

/// Waits until `sleep` runs in the builder (the slow step holds the lock then).
fn wait_for_the_slow_step(p: &TempProject) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let sleeping = || String::from_utf8_lossy(&p.in_builder(&["ps", "-o", "args"]).stdout).contains("sleep ");
    while !sleeping() {
        assert!(Instant::now() < deadline, "the slow step never started");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn one_users_builds_of_a_project_take_turns() {
    let p = TempProject::fixture("slow-app");
    p.build_json(&[], 0);
    p.write("data/mode.txt", "SLOW 4\n");
    let first = Command::new(BIN)
        .args(["build", "--json"])
        .arg(&p.dir)
        .env("XDG_CACHE_HOME", p.cache_home())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker-rebuilder runs");
    wait_for_the_slow_step(&p);
    let second = p.run(&["build"]);
    let first = first.wait_with_output().expect("first build");
    let first_json = String::from_utf8_lossy(&first.stdout);
    assert_eq!(first.status.code(), Some(0), "{first_json}{}", String::from_utf8_lossy(&first.stderr));
    assert_eq!(second.code, 0, "{}\n{}", second.stdout, second.stderr);
    assert!(second.stderr.contains("another docker-rebuilder"), "the second waited: {}", second.stderr);
    let said = format!("{}{}", second.stdout, second.stderr);
    assert!(said.contains("up to date"), "the first built everything: {said}");
    assert_eq!(p.run_image(), "one\nSLOW 4");
}
