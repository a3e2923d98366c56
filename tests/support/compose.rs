//! A copy of the compose fixture brought up by a real compose: v1 (Debian's `docker-compose`
//! 1.29) or v2 (Debian's `docker compose` plugin, 2.x), both installed by `.ci/engine.sh`.
//!
//! v2 is not in docker's plugin folders: a v2 project gets a `DOCKER_CONFIG` folder of its own
//! whose `cli-plugins/` holds it, given to compose, to `docker-rebuilder` and to the LSP
//! server alike, so each test sees exactly one compose version, as a user's machine does.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::lsp::LspClient;
use super::watch::Watch;
use super::{docker, docker_ok, remove_labelled, require_images, Run, TempProject, BIN};

/// A first build: Debian's gcc into the image (cached after the first test that builds it).
pub const FIRST_BUILD: Duration = Duration::from_secs(600);
/// An incremental cycle plus the service's recreate.
pub const CYCLE: Duration = Duration::from_secs(120);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compose {
    /// `docker-compose` 1.29: containers `<project>_api_1`, image `<project>_api`.
    V1,
    /// `docker compose` 2.x: containers `<project>-api-1`, image `<project>-api`.
    V2,
    /// compose v2 installed as a standalone `docker-compose` (first on PATH), with no plugin:
    /// v2's names, and `docker compose` is not a docker command.
    V2Standalone,
}

/// Where `.ci/engine.sh` puts compose v2's binary (a docker CLI plugin).
pub fn compose_v2_binary() -> PathBuf {
    let path = std::env::var_os("DOCKER_REBUILDER_COMPOSE_V2")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/opt/docker-rebuilder-ci/compose-v2/docker-compose"));
    assert!(path.is_file(), "compose v2 is not at {}: run `.ci/engine.sh` first", path.display());
    path
}

/// A copy of the compose fixture whose compose project is its own (the folder's unique name),
/// its API published on a free loopback port. Dropping it takes the compose project down and
/// removes what docker-rebuilder made for its services.
pub struct ComposeProject {
    pub project: TempProject,
    pub port: u16,
    pub compose: Compose,
    /// v2's DOCKER_CONFIG: a folder whose `cli-plugins/docker-compose` is compose v2 (empty
    /// for the standalone v2).
    docker_config: Option<PathBuf>,
    /// The standalone v2's PATH: a folder holding it as `docker-compose`, then the PATH.
    path: Option<OsString>,
    /// The images compose built for the services: docker-rebuilder retags the services'
    /// images, which leaves these untagged, for the test to remove.
    built: Mutex<Vec<String>>,
}

impl ComposeProject {
    /// The fixture, for compose v1.
    pub fn new() -> ComposeProject {
        ComposeProject::with(Compose::V1)
    }

    /// The fixture with `text` as its docker-compose.yml, for compose v1.
    pub fn with_file(text: &str) -> ComposeProject {
        let p = ComposeProject::new();
        p.project.write("docker-compose.yml", text);
        p
    }

    pub fn with(compose: Compose) -> ComposeProject {
        require_images(&["debian:bookworm-slim", "busybox:local"]);
        let project = TempProject::fixture("compose-app");
        // Its own sources: no layer from the sources on is shared with another test's build.
        let word = project.dir.file_name().expect("name").to_string_lossy().into_owned();
        let text = project.read("api/src/greeting.c");
        project.write("api/src/greeting.c", &format!("{text}\nconst char *const fixture_stamp = \"{word}\";\n"));
        let port = TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let docker_config = (compose != Compose::V1).then(|| {
            let dir = project.cache_home().with_file_name("docker-config");
            std::fs::create_dir_all(dir.join("cli-plugins")).expect("mkdir cli-plugins");
            if compose == Compose::V2 {
                let plugin = dir.join("cli-plugins/docker-compose");
                std::os::unix::fs::symlink(compose_v2_binary(), plugin).expect("symlink");
            }
            dir
        });
        let path = (compose == Compose::V2Standalone).then(|| {
            let bin = project.cache_home().with_file_name("bin");
            std::fs::create_dir_all(&bin).expect("mkdir bin");
            std::os::unix::fs::symlink(compose_v2_binary(), bin.join("docker-compose")).expect("symlink");
            let rest = std::env::var_os("PATH").unwrap_or_default();
            std::env::join_paths(std::iter::once(bin).chain(std::env::split_paths(&rest))).expect("PATH")
        });
        ComposeProject { project, port, compose, docker_config, path, built: Mutex::default() }
    }

    /// compose's project name: the folder's name, lowercase, `[-_a-z0-9]` kept (v1 and v2
    /// agree on the fixture's names, which start with a letter).
    pub fn name(&self) -> String {
        let folder = self.project.dir.file_name().expect("name").to_string_lossy().to_lowercase();
        folder.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
    }

    /// compose's separator in the names it makes: `_` for v1, `-` for v2.
    pub fn sep(&self) -> char {
        match self.compose {
            Compose::V1 => '_',
            Compose::V2 | Compose::V2Standalone => '-',
        }
    }

    /// The image compose runs `service` from.
    pub fn image_of(&self, service: &str) -> String {
        format!("{}{}{service}", self.name(), self.sep())
    }

    /// The image compose runs the API from.
    pub fn api_image(&self) -> String {
        self.image_of("api")
    }

    /// A name of the test's own for an image that the compose file names (`image:`).
    pub fn named_image(&self) -> String {
        format!("{}-named:latest", self.name())
    }

    /// Whether a later `up -d` keeps a container recreated by `up -d --no-deps` of a service
    /// with `depends_on` (the fixture's API): compose v2 hashed `depends_on` into the config
    /// until 2.29.3 (docker/compose d658fecc6), and `--no-deps` leaves it out.
    pub fn keeps_a_no_deps_recreate(&self) -> bool {
        if self.compose == Compose::V1 {
            return true;
        }
        let out = self.compose_command().args(["version", "--short"]).output().expect("compose runs");
        let version = String::from_utf8_lossy(&out.stdout).trim().trim_start_matches('v').to_string();
        let numbers: Vec<u32> = version.split(['.', '-', '+']).take(3).map(|n| n.parse().unwrap_or(0)).collect();
        numbers >= vec![2, 29, 3]
    }

    /// The environment every program of the test runs with besides its own: v2's
    /// DOCKER_CONFIG, the standalone v2's PATH.
    pub fn env(&self) -> Vec<(&'static str, OsString)> {
        let config = self.docker_config.iter().map(|d| ("DOCKER_CONFIG", d.clone().into_os_string()));
        config.chain(self.path.iter().map(|p| ("PATH", p.clone()))).collect()
    }

    /// The user's compose, in the compose folder, with no API_PORT of the test's.
    pub fn compose_command(&self) -> Command {
        let mut command = match self.compose {
            // The standalone v2 is `docker-compose` too, first on the PATH `env()` gives.
            Compose::V1 => Command::new("docker-compose"),
            Compose::V2Standalone => Command::new(self.project.cache_home().with_file_name("bin/docker-compose")),
            Compose::V2 => {
                let mut c = Command::new("docker");
                c.arg("compose");
                c
            }
        };
        command.current_dir(&self.project.dir).envs(self.env());
        command
    }

    pub fn compose(&self, args: &[&str]) -> Output {
        let out = self
            .compose_command()
            .args(args)
            .env("API_PORT", self.port.to_string())
            .output()
            .expect("compose runs (.ci/engine.sh installs it)");
        // `up` builds an image it does not find, `--build` and `build` always do.
        if args.iter().any(|a| ["up", "build"].contains(a)) {
            self.note_built();
        }
        out
    }

    /// Notes the images compose runs the services from now, for `drop` to remove once
    /// docker-rebuilder has retagged them (call after compose built through `compose_command`).
    pub fn note_built(&self) {
        let mut built = self.built.lock().unwrap_or_else(|e| e.into_inner());
        for image in [self.api_image(), self.image_of("worker"), self.named_image()] {
            let id = docker(&["image", "inspect", "--format", "{{.Id}}", &image]);
            if id.status.success() {
                built.push(String::from_utf8_lossy(&id.stdout).trim().to_string());
            }
        }
    }

    pub fn compose_ok(&self, args: &[&str]) -> String {
        let out = self.compose(args);
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{:?} compose {args:?} failed:\n{text}", self.compose);
        text
    }

    /// The environment docker-rebuilder runs with: the test's cache, the API's port, v2's
    /// DOCKER_CONFIG.
    fn tool_env(&self) -> Vec<(&'static str, OsString)> {
        let mut env = vec![
            ("XDG_CACHE_HOME", self.project.cache_home().into_os_string()),
            ("API_PORT", OsString::from(self.port.to_string())),
        ];
        env.extend(self.env());
        env
    }

    /// `docker-rebuilder ARGS` in the compose folder.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// The same with `extra` variables besides the test's.
    pub fn run_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(&self.project.dir)
            .envs(self.tool_env())
            .envs(extra.iter().copied())
            .output()
            .expect("docker-rebuilder runs");
        Run::from(out)
    }

    /// `docker-rebuilder lsp` with the test's environment (as an editor started where the
    /// user runs compose).
    pub fn lsp(&self) -> LspClient {
        self.lsp_without(&[])
    }

    /// The LSP server on the compose folder once its first cycle, for `service`, succeeded
    /// (`initialized` starts the service's session: our build of its image, then the service
    /// onto it); with the index of that status.
    pub fn lsp_built(&self, service: &str) -> (LspClient, usize) {
        let mut lsp = self.lsp();
        lsp.initialize(&[&self.project.dir]);
        let done = |m: &serde_json::Value| super::lsp::is_status(m, "succeeded") || super::lsp::is_status(m, "failed");
        let (seen, status) = lsp.wait_for(0, FIRST_BUILD, done);
        assert_eq!(status["params"]["service"], service, "{status}");
        assert!(super::lsp::is_status(&status, "succeeded"), "{status}");
        (lsp, seen)
    }

    /// The same without the variables named (e.g. API_PORT, when an env file gives it).
    pub fn lsp_without(&self, unset: &[&str]) -> LspClient {
        let env: Vec<(&str, String)> = self
            .tool_env()
            .into_iter()
            .filter(|(k, _)| !unset.contains(k))
            .map(|(k, v)| (k, v.to_string_lossy().into_owned()))
            .collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        LspClient::start_with_env(BIN, &env)
    }

    /// `docker-rebuilder watch --json ARGS` in the compose folder.
    pub fn watch_with(&self, args: &[&str], unset: &[&str]) -> Watch {
        let env: Vec<(&str, OsString)> = self.tool_env().into_iter().filter(|(k, _)| !unset.contains(k)).collect();
        let env: Vec<(&str, &std::ffi::OsStr)> = env.iter().map(|(k, v)| (*k, v.as_os_str())).collect();
        let args: Vec<&str> = ["watch", "--json"].into_iter().chain(args.iter().copied()).collect();
        Watch::spawn_env(&args, &self.project.dir, Some(&self.project.dir), &env)
    }

    /// `docker-rebuilder watch --json` in the compose folder.
    pub fn watch(&self) -> Watch {
        self.watch_with(&[], &[])
    }

    /// The id of the one container compose runs for `service`.
    pub fn container(&self, service: &str) -> String {
        let filter_project = format!("label=com.docker.compose.project={}", self.name());
        let filter_service = format!("label=com.docker.compose.service={service}");
        let ids = docker_ok(&["ps", "-q", "--no-trunc", "--filter", &filter_project, "--filter", &filter_service]);
        let ids: Vec<&str> = ids.split_whitespace().collect();
        assert_eq!(ids.len(), 1, "one running container of {service}: {ids:?}");
        ids[0].to_string()
    }

    pub fn started_at(&self, container: &str) -> String {
        docker_ok(&["inspect", "--format", "{{.State.StartedAt}}", container])
    }

    /// The API's answer to `GET /`, or None when nothing answers.
    pub fn get(&self) -> Option<String> {
        get_body(self.port)
    }

    /// Waits up to 30 s for the API to answer with a body containing `wanted`.
    pub fn expect_answer(&self, wanted: &str, why: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut last = None;
        while Instant::now() < deadline {
            last = self.get();
            if last.as_deref().is_some_and(|body| body.contains(wanted)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{why}: the API should answer {wanted:?}, it answered {last:?}");
    }
}

/// The body of `GET /` on a loopback port, or None when nothing answers.
pub fn get_body(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.split_once("\r\n\r\n").map(|(_, body)| body.trim().to_string()).filter(|b| !b.is_empty())
}

impl Drop for ComposeProject {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-t", "1", "--rmi", "local", "-v"]);
        // docker-rebuilder's objects for the services: labelled `<context>#<service>`.
        // (And, should a run have taken a service's folder for a project of its own, its objects.)
        let api = self.project.path("api").display().to_string();
        let tags = [self.api_image(), self.image_of("worker"), self.named_image()];
        remove_labelled(&format!("{api}#api"), &[&tags[0], &tags[1], &tags[2]]);
        remove_labelled(&format!("{api}#worker"), &[]);
        remove_labelled(&api, &[]);
        // A `web` service a test added, built from `web/`; the API built from `api2/`.
        remove_labelled(&format!("{}#web", self.project.path("web").display()), &[]);
        remove_labelled(&format!("{}#api", self.project.path("api2").display()), &[]);
        let mut built = std::mem::take(&mut *self.built.lock().unwrap_or_else(|e| e.into_inner()));
        // Compose v2 labels the images it builds with the project.
        let label = format!("label=com.docker.compose.project={}", self.name());
        let labelled = docker(&["images", "-aq", "--no-trunc", "--filter", &label]);
        built.extend(String::from_utf8_lossy(&labelled.stdout).split_whitespace().map(str::to_string));
        built.sort();
        built.dedup();
        for id in built {
            remove_own_build(&id);
        }
    }
}

/// Removes an image compose built from the fixture and the step images under it that hold the
/// test's own sources (the classic builder's; BuildKit leaves none): the steps from `COPY src`
/// on. The steps below are every test's cache, and stay.
fn remove_own_build(id: &str) {
    let history = docker(&["history", "--no-trunc", "--format", "{{.ID}}\t{{.CreatedBy}}", id]);
    for line in String::from_utf8_lossy(&history.stdout).lines() {
        let (image, created_by) = line.split_once('\t').unwrap_or((line, ""));
        if image == "<missing>" || !docker(&["rmi", "--no-prune", image]).status.success() {
            return;
        }
        if created_by.contains("./src") {
            return;
        }
    }
}
