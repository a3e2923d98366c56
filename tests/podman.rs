//! Podman through its Docker-compatible API (issue 16): a Podman service of the test's own (its
//! socket, storage, runtime and network folders under a temp dir, so nothing is shared with
//! another Podman or test), the real binary pointed at it by DOCKER_HOST. Build, edit, rebuild:
//! `podman run IMAGE` prints the new output and exits, and the image's config is the one
//! `podman build` gives the same Dockerfile, plus our labels.
//!
//! Skipped, saying so, only when `podman` is not installed (`.ci/engine.sh` installs it).

mod support;

use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{require_images, BIN};

/// A Podman service on a socket of its own. Dropping it removes its containers, stops it and
/// deletes its storage, the test passed or not.
struct Podman {
    root: tempfile::TempDir,
    service: Child,
}

impl Podman {
    fn start() -> Podman {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path();
        for sub in ["storage", "run", "tmp", "networks"] {
            std::fs::create_dir_all(dir.join(sub)).expect("mkdir");
        }
        // Lower ulimits: without CAP_SYS_RESOURCE (this sandbox), Podman's defaults stop every
        // container from starting. Its own runtime and network folders: nothing in /run/libpod
        // or /etc/containers is shared with another Podman.
        let conf = format!(
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n\
             [network]\nnetwork_config_dir = \"{net}\"\n\
             [engine]\ntmp_dir = \"{tmp}\"\nevents_logger = \"none\"\n",
            net = dir.join("networks").display(),
            tmp = dir.join("tmp").display(),
        );
        std::fs::write(dir.join("containers.conf"), conf).expect("write");
        let storage = format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            dir.join("storage").display(),
            dir.join("run").display()
        );
        std::fs::write(dir.join("storage.conf"), storage).expect("write");
        let socket = dir.join("podman.sock");
        let service = Command::new("podman")
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", socket.display()))
            .envs(conf_env(dir))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("service.log")).expect("log"))
            .spawn()
            .expect("podman system service starts");
        let podman = Podman { root, service };
        let deadline = Instant::now() + Duration::from_secs(30);
        while UnixStream::connect(&socket).is_err() {
            assert!(Instant::now() < deadline, "the Podman service did not listen: {}", podman.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        podman
    }

    fn dir(&self) -> &Path {
        self.root.path()
    }

    fn docker_host(&self) -> String {
        format!("unix://{}", self.dir().join("podman.sock").display())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir().join("service.log")).unwrap_or_default()
    }

    fn podman(&self, args: &[&str]) -> Output {
        Command::new("podman").args(args).envs(conf_env(self.dir())).output().expect("podman runs")
    }

    fn podman_ok(&self, args: &[&str]) -> String {
        let out = self.podman(args);
        assert!(out.status.success(), "podman {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Docker's `image` into this Podman's storage, under the same name.
    fn load_from_docker(&self, image: &str) {
        let mut save =
            Command::new("docker").args(["save", image]).stdout(Stdio::piped()).spawn().expect("docker save runs");
        let stdout = save.stdout.take().expect("docker save's output");
        let load = Command::new("podman")
            .args(["load", "-q"])
            .envs(conf_env(self.dir()))
            .stdin(stdout)
            .output()
            .expect("podman load runs");
        assert!(save.wait().expect("docker save ends").success(), "docker save {image} failed");
        assert!(load.status.success(), "podman load failed: {}", String::from_utf8_lossy(&load.stderr));
    }

    /// `podman image inspect IMAGE` (Podman's own view, with the Healthcheck the compat API omits).
    fn inspect(&self, image: &str) -> Value {
        let text = self.podman_ok(&["image", "inspect", image]);
        let list: Value = serde_json::from_str(&text).expect("inspect JSON");
        list[0].clone()
    }

    /// The real binary, talking to this Podman.
    fn rebuilder(&self, args: &[&str], dir: &Path) -> Output {
        Command::new(BIN)
            .args(args)
            .arg(dir)
            .env("DOCKER_HOST", self.docker_host())
            .env("XDG_CACHE_HOME", self.dir().join("cache"))
            .env_remove("DOCKER_BUILDKIT")
            .output()
            .expect("docker-rebuilder runs")
    }

    fn build_json(&self, dir: &Path) -> Value {
        let out = self.rebuilder(&["build", "--json"], dir);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "build failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}"))
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // The builders first: their mounts are under the storage.
        let _ = self.podman(&["rm", "--all", "--force", "--time", "0"]);
        let _ = self.service.kill();
        let _ = self.service.wait();
        // Podman's conmons outlive their exec sessions (an exit delay of 5 minutes) and the
        // service: the ones of this service, found by its storage folder in their arguments.
        let root = self.dir().to_string_lossy().into_owned();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
            let args = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&args).contains(&format!("{root}/storage")) {
                let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            }
        }
        // Whatever Podman left mounted under the temp dir (overlay layers), so it can go.
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
        for target in mounts.lines().filter_map(|l| l.split_whitespace().nth(1)).filter(|t| t.starts_with(&root)) {
            let _ = Command::new("umount").args(["-l", target]).status();
        }
    }
}

fn conf_env(dir: &Path) -> [(&'static str, PathBuf); 2] {
    [("CONTAINERS_CONF", dir.join("containers.conf")), ("CONTAINERS_STORAGE_CONF", dir.join("storage.conf"))]
}

fn podman_installed() -> bool {
    Command::new("podman").arg("--version").output().is_ok_and(|o| o.status.success())
}

/// A project with every setting a commit must keep: CMD, ENV, WORKDIR, USER, EXPOSE, VOLUME,
/// STOPSIGNAL, HEALTHCHECK, LABEL. Its build step turns `message.txt` into the output.
fn write_project(dir: &Path) {
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(dir.join("src/message.txt"), "first\n").expect("write");
    let dockerfile = r#"FROM busybox:local
RUN echo 'app:x:1234:1234::/app:/bin/sh' >>/etc/passwd && echo 'app:x:1234:' >>/etc/group
WORKDIR /app
COPY src ./src
RUN sed 's/^/says: /' src/message.txt > out.txt
USER app
ENV APP_MODE=test GREETING="hello world"
EXPOSE 8080 9090/udp
VOLUME /app/state
STOPSIGNAL SIGINT
HEALTHCHECK --interval=30s CMD true
LABEL fixture=podman-app other="a b"
CMD ["cat", "/app/out.txt"]
"#;
    std::fs::write(dir.join("Dockerfile"), dockerfile).expect("write");
}

#[test]
fn an_incremental_commit_on_podman_is_the_image_podman_build_makes() {
    if !podman_installed() {
        eprintln!("skipped: podman is not installed (`apt-get install podman`, as .ci/engine.sh does)");
        return;
    }
    require_images(&["busybox:local"]);
    let started = Instant::now();
    let podman = Podman::start();
    podman.load_from_docker("busybox:local");
    let project = podman.dir().join("podman-app");
    write_project(&project);

    let first = podman.build_json(&project);
    assert_eq!(first["outcome"], "image_built", "{first}");
    let notes = first["notes"].to_string();
    assert!(notes.contains("classic builder"), "Podman has no BuildKit behind its API: {notes}");

    let images_before = podman.podman_ok(&["images", "--all", "--quiet"]).lines().count();
    std::fs::write(project.join("src/message.txt"), "second\n").expect("write");
    let cycle = podman.build_json(&project);
    assert_eq!(cycle["outcome"], "succeeded", "{cycle}");
    assert_eq!(cycle["detail"]["committed"], true, "{cycle}");
    // The commit's image and nothing else (the first build's stays: the builder's image).
    let images_after = podman.podman_ok(&["images", "--all", "--quiet"]).lines().count();
    assert_eq!(images_after, images_before + 1, "images left behind by the cycle");

    // Runs the app and exits (the builder's keep-alive would never return).
    let run = Command::new("timeout")
        .args(["60", "podman", "run", "--rm", "podman-app"])
        .envs(conf_env(podman.dir()))
        .output()
        .expect("podman run runs");
    assert!(run.status.success(), "podman run: {}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(String::from_utf8_lossy(&run.stdout).trim(), "says: second");

    // The same Dockerfile built by Podman itself, as the reference.
    podman.podman_ok(&["build", "--format", "docker", "-q", "-t", "reference", &project.to_string_lossy()]);
    let ours = podman.inspect("podman-app");
    let reference = podman.inspect("reference");
    for field in ["Cmd", "Entrypoint", "Env", "WorkingDir", "User", "ExposedPorts", "Volumes", "StopSignal"] {
        assert_eq!(ours["Config"][field], reference["Config"][field], "Config.{field}");
    }
    assert_eq!(ours["Healthcheck"], reference["Healthcheck"], "Healthcheck");
    let mut labels = ours["Labels"].as_object().expect("labels").clone();
    let mine: Vec<String> = labels.keys().filter(|k| k.starts_with("dev.docker-rebuilder.")).cloned().collect();
    for key in &mine {
        labels.remove(key);
    }
    assert_eq!(Value::Object(labels), reference["Labels"], "the Dockerfile's labels, and no builder label");
    let mut mine = mine;
    mine.sort();
    assert_eq!(mine, ["dev.docker-rebuilder.project", "dev.docker-rebuilder.role", "dev.docker-rebuilder.sources"]);
    assert_eq!(ours["Labels"]["dev.docker-rebuilder.role"], "image");

    let status = podman.rebuilder(&["status"], &project);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "status: {}", String::from_utf8_lossy(&status.stderr));
    assert!(!text.contains("failed"), "the last build succeeded: {text}");
    assert!(text.contains("up to date"), "{text}");
    eprintln!("podman test: {:.1} s", started.elapsed().as_secs_f64());
}
