//! Shared helpers for the end-to-end tests: a throwaway copy of a project, the real
//! `docker-rebuilder` binary, and the real `docker` CLI to check results independently.
//!
//! These tests need a running Docker engine and the locally made base images
//! (`.ci/engine.sh` provides both). Without them they fail loudly, never skip.

#![allow(dead_code)]

pub mod compose;
pub mod image;
pub mod lsp;
pub mod proxy;
pub mod remote;
pub mod tree;
pub mod watch;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_docker-rebuilder");

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Runs the real `docker` CLI (tests only: the product talks to the Engine API).
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker").args(args).output().expect("the docker CLI runs")
}

pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(out.status.success(), "docker {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub fn require_engine() {
    let out = Command::new("docker").args(["info", "--format", "{{.ServerVersion}}"]).output();
    match out {
        Ok(o) if o.status.success() => {}
        _ => panic!("these tests need a running Docker engine: run `.ci/engine.sh` (or start dockerd) first"),
    }
    for image in ["debian:bookworm-slim", "busybox:local"] {
        assert!(
            docker(&["image", "inspect", image]).status.success(),
            "base image {image} is missing: run `.ci/engine.sh` to make it locally"
        );
    }
}

/// Panics, saying how to make them, unless these images exist (the stand-ins `.ci/engine.sh`
/// makes for official images, e.g. `dr-golang:1.19`).
pub fn require_images(images: &[&str]) {
    require_engine();
    for image in images {
        assert!(
            docker(&["image", "inspect", image]).status.success(),
            "base image {image} is missing: run `.ci/engine.sh` to make it locally"
        );
    }
}

/// The busybox image the fixtures build FROM: `busybox:local`, or what DR_TEST_BASE names
/// (`.ci/test.sh` runs the sync suite again on `busybox:gnutar`, whose GNU tar lets changes
/// ride on the build's own exec instead of the archive endpoint).
pub fn base_image() -> String {
    std::env::var("DR_TEST_BASE").unwrap_or_else(|_| "busybox:local".to_string())
}

/// A copy of a project in a fresh folder with a unique name (so its image and builder are
/// its own), removed with its builder and images when dropped.
pub struct TempProject {
    _root: tempfile::TempDir,
    pub dir: PathBuf,
    pub image: String,
}

impl TempProject {
    pub fn example(name: &str) -> TempProject {
        Self::copy_of(&repo_root().join("examples").join(name), name)
    }

    pub fn fixture(name: &str) -> TempProject {
        Self::copy_of(&repo_root().join("tests/fixtures").join(name), name)
    }

    fn copy_of(source: &Path, name: &str) -> TempProject {
        require_engine();
        let root = tempfile::tempdir().expect("tempdir");
        let unique = format!("{name}-t{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        let dir = root.path().join(&unique);
        copy_dir(source, &dir);
        let dockerfile = dir.join("Dockerfile");
        if let Ok(text) = std::fs::read_to_string(&dockerfile) {
            let base = base_image();
            std::fs::write(&dockerfile, text.replace("FROM busybox:local", &format!("FROM {base}"))).expect("write");
        }
        TempProject { _root: root, dir, image: format!("{unique}:latest") }
    }

    /// The XDG_CACHE_HOME its runs get: beside the project, removed with it.
    pub fn cache_home(&self) -> PathBuf {
        self._root.path().join("cache")
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    pub fn write(&self, rel: &str, content: &str) {
        let path = self.path(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(path, content).expect("write");
    }

    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.path(rel)).expect("read")
    }

    pub fn replace(&self, rel: &str, from: &str, to: &str) {
        let text = self.read(rel);
        assert!(text.contains(from), "{rel} does not contain {from:?}");
        self.write(rel, &text.replacen(from, to, 1));
    }

    /// Runs `docker-rebuilder <args> <dir>`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// `run`, with more environment variables for the process.
    pub fn run_env(&self, args: &[&str], env: &[(&str, &std::ffi::OsStr)]) -> Run {
        let mut cmd = Command::new(BIN);
        cmd.args(args).arg(&self.dir).env("XDG_CACHE_HOME", self.cache_home());
        cmd.envs(env.iter().copied());
        Run::from(cmd.output().expect("docker-rebuilder runs"))
    }

    /// `build --json`, asserting the process exited with `code`; returns the JSON.
    pub fn build_json(&self, extra: &[&str], code: i32) -> serde_json::Value {
        let mut args = vec!["build", "--json"];
        args.extend_from_slice(extra);
        let run = self.run(&args);
        assert_eq!(run.code, code, "build exited {}: {}\n{}", run.code, run.stdout, run.stderr);
        serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("bad JSON ({e}): {}", run.stdout))
    }

    pub fn image_id(&self) -> String {
        docker_ok(&["image", "inspect", "--format", "{{.Id}}", &self.image])
    }

    /// The builder container's name, from `status --json`.
    pub fn builder(&self) -> String {
        let run = self.run(&["status", "--json"]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let v: serde_json::Value = serde_json::from_str(run.stdout.trim()).expect("json");
        v["builder"].as_str().expect("builder name").to_string()
    }

    pub fn builder_exists(&self) -> bool {
        docker(&["container", "inspect", &self.builder()]).status.success()
    }

    /// The project's containers (its builders: a multi-stage project may have several), by the
    /// label docker-rebuilder puts on them.
    pub fn containers(&self) -> Vec<String> {
        let filter = format!("label=dev.docker-rebuilder.project={}", self.dir.display());
        let ids = docker_ok(&["ps", "-aq", "--no-trunc", "--filter", &filter]);
        ids.split_whitespace().map(str::to_string).collect()
    }

    /// `docker run --rm IMAGE` output.
    pub fn run_image(&self) -> String {
        docker_ok(&["run", "--rm", &self.image])
    }

    /// Runs a command inside the builder with the docker CLI.
    pub fn in_builder(&self, argv: &[&str]) -> Output {
        let builder = self.builder();
        let mut args = vec!["exec", builder.as_str()];
        args.extend_from_slice(argv);
        docker(&args)
    }

    /// Waits up to 5 s for the builder to hold no zombie process (what a killed build left must
    /// be reaped by its PID 1); panics naming those that stay.
    pub fn assert_no_zombies_stay(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let out = self.in_builder(&["ps", "-o", "stat,ppid,args"]);
            assert!(out.status.success(), "ps in the builder: {}", String::from_utf8_lossy(&out.stderr));
            let listing = String::from_utf8_lossy(&out.stdout).into_owned();
            let zombies: Vec<&str> = listing.lines().skip(1).filter(|l| l.trim_start().starts_with('Z')).collect();
            if zombies.is_empty() {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "zombies stay in the builder:\n{listing}");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// Removes the containers labelled as docker-rebuilder's for project `label`, then `tags`, then
/// the images so labelled. Images in passes, with `-a`: an untagged image with a child (a replay's base under the
/// committed image) is listed by `docker images` only with `-a`, and removed only once the
/// child is gone. `--no-prune`: an untagged parent it did not label may be another test's cache.
pub fn remove_labelled(label: &str, tags: &[&str]) {
    let filter = format!("label=dev.docker-rebuilder.project={label}");
    let ids = docker(&["ps", "-aq", "--filter", &filter]);
    for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
        docker(&["rm", "-f", id]);
    }
    for tag in tags {
        docker(&["rmi", "-f", "--no-prune", tag]);
    }
    for _pass in 0..8 {
        let images = docker(&["images", "-aq", "--filter", &filter]);
        let listed = String::from_utf8_lossy(&images.stdout).into_owned();
        let mut removed = false;
        for id in listed.split_whitespace() {
            removed |= docker(&["rmi", "-f", "--no-prune", id]).status.success();
        }
        if !removed {
            break;
        }
    }
}

impl Drop for TempProject {
    fn drop(&mut self) {
        let filter = format!("label=dev.docker-rebuilder.project={}", self.dir.display());
        remove_labelled(&self.dir.display().to_string(), &[&self.image]);
        // Cache volumes outlive `clean` (as BuildKit's cache does): the test's go with it.
        let volumes = docker(&["volume", "ls", "-q", "--filter", &filter]);
        for name in String::from_utf8_lossy(&volumes.stdout).split_whitespace() {
            docker(&["volume", "rm", "-f", name]);
        }
    }
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root").to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read example") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
