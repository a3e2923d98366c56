//! A compose service's containers: found by compose's own labels, and recreated on a new
//! image by the user's own compose (`docker compose` or `docker-compose`, whichever made them).
//!
//! Why compose and not the Engine API: a recreate that compose then takes for its own must
//! carry compose's labels as compose computes them. Compose v1's `config-hash` covers the
//! image's id and the whole resolved service (so only compose can compute it), v2 adds
//! `com.docker.compose.image`; both carry anonymous volumes over from the old container and
//! reconnect every network with its aliases. Compose does all of that exactly as
//! `docker compose up -d --no-deps SERVICE` does, for the version that made the containers,
//! which is the one we run; afterwards `docker compose up -d` finds the service up to date.
//! Tilt makes the same choice. It costs the compose process's start (~0.35 s for v1 here).
//! This is the one place the product runs a program of docker's (the issue that asked for it
//! names it as an acceptable exception); everything else goes through the Engine API.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;

use bollard::query_parameters::ListContainersOptionsBuilder;

use super::compose_env::EnvChange;
use super::Engine;
use crate::error::{Error, ErrorKind, Result};

/// compose's labels on the containers it makes (v1 and v2 alike).
pub const LABEL_COMPOSE_PROJECT: &str = "com.docker.compose.project";
pub const LABEL_COMPOSE_SERVICE: &str = "com.docker.compose.service";
const LABEL_COMPOSE_VERSION: &str = "com.docker.compose.version";
const LABEL_COMPOSE_ONEOFF: &str = "com.docker.compose.oneoff";
const LABEL_WORKING_DIR: &str = "com.docker.compose.project.working_dir";
const LABEL_CONFIG_FILES: &str = "com.docker.compose.project.config_files";
/// compose v2's record of the `--env-file`s it ran with (v1 keeps none).
const LABEL_ENV_FILES: &str = "com.docker.compose.project.environment_file";

/// A container compose made for a service.
#[derive(Debug, Clone)]
pub struct ServiceContainer {
    pub id: String,
    pub name: String,
    pub running: bool,
    /// Not running because its app failed (it exited with a code no stop gives, or its restart
    /// policy is restarting it), not because someone stopped it.
    pub crashed: bool,
    pub image_id: String,
    /// The compose project it belongs to.
    pub project: String,
    /// The compose service it runs.
    pub service: String,
    /// The version of compose that made it (`1.29.2`, `2.24.0`), empty when not labelled.
    pub compose_version: String,
    /// The folder and files compose was run with, as it recorded them.
    pub working_dir: Option<PathBuf>,
    pub config_files: Vec<PathBuf>,
    /// The `--env-file`s compose was run with, when it recorded them (v2).
    pub env_files: Vec<PathBuf>,
    /// When it was created (seconds since the epoch).
    pub created: i64,
    /// Its mounts: bind mounts and volumes, as the engine lists them.
    pub mounts: Vec<ContainerMount>,
}

/// A mount of a container (bind or volume; the list leaves tmpfs mounts out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerMount {
    /// A bind mount (a host path), not a volume.
    pub bind: bool,
    /// The host path (a bind) or the volume's folder, as the engine sees it.
    pub source: PathBuf,
    /// Where it is in the container.
    pub destination: String,
}

impl ContainerMount {
    fn of(m: bollard::models::MountPoint) -> Option<ContainerMount> {
        Some(ContainerMount {
            bind: m.typ.as_deref() == Some("bind"),
            source: PathBuf::from(m.source?),
            destination: m.destination?,
        })
    }
}

/// Whether a container the engine lists as `state` ("exited", "restarting"...) with `status`
/// ("Exited (1) 5 seconds ago") ended because its app failed, not because it was stopped
/// (`is_stop_code`).
fn crashed(state: Option<&str>, status: Option<&str>) -> bool {
    match state {
        Some("restarting") => true,
        Some("exited") => {
            let code = status
                .and_then(|s| s.split_once('('))
                .and_then(|(_, rest)| rest.split_once(')'))
                .and_then(|(code, _)| code.trim().parse::<i64>().ok());
            code.is_some_and(|code| !super::is_stop_code(code))
        }
        _ => false,
    }
}

impl ServiceContainer {
    /// Made by compose v1 (the Python `docker-compose`).
    pub fn by_compose_v1(&self) -> bool {
        self.compose_version.starts_with("1.")
    }
}

/// How to run the project's own compose to recreate a service.
#[derive(Debug, Clone)]
pub struct ComposeRun {
    /// The compose project name (`-p`).
    pub project: String,
    /// The services to recreate, each with how many containers it has (`--scale`: compose
    /// would otherwise bring a service the user scaled with `up --scale` back to its file's
    /// count): the one built and those run from its image whose containers are not on it.
    pub services: Vec<(String, usize)>,
    /// The project directory and compose files (`--project-directory`, `-f`): the ones the
    /// running containers record, else the workspace's.
    pub working_dir: PathBuf,
    pub files: Vec<PathBuf>,
    /// `--env-file`s the user gave us, else those compose recorded on the containers, given
    /// to compose (it reads .env otherwise).
    pub env_files: Vec<PathBuf>,
    /// Compose v1 made the containers: `docker-compose`; else the docker CLI's compose
    /// plugin, falling back to a standalone `docker-compose` v2.
    pub v1: bool,
    /// Our engine, as compose is told it (`compose_env.rs`).
    pub engine_env: Vec<EnvChange>,
}

impl Engine {
    /// Every non-one-off container compose made for `service` of the compose project
    /// `project`, running or not. Containers of other projects, and of none, are never
    /// listed: the filter is on both labels.
    pub async fn service_containers(&self, project: &str, service: &str) -> Result<Vec<ServiceContainer>> {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL_COMPOSE_PROJECT}={project}"), format!("{LABEL_COMPOSE_SERVICE}={service}")],
        )]);
        self.compose_containers(filters).await
    }

    /// Every container of the compose project `project` (any service), for telling which
    /// compose version made the project.
    pub async fn compose_project_containers(&self, project: &str) -> Result<Vec<ServiceContainer>> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL_COMPOSE_PROJECT}={project}")])]);
        self.compose_containers(filters).await
    }

    /// The ports a container publishes, as it was created with them (`HOST_IP:HOST_PORT->PORT`,
    /// an empty host port for one the engine picks), sorted.
    pub async fn published_ports(&self, id: &str) -> Result<Vec<String>> {
        let inspect = self
            .docker
            .inspect_container(id, None)
            .await
            .map_err(|e| super::engine_error(&format!("inspect container {id}"), e))?;
        let bindings = inspect.host_config.and_then(|h| h.port_bindings).unwrap_or_default();
        let mut ports: Vec<String> = bindings
            .into_iter()
            .flat_map(|(port, hosts)| {
                hosts.unwrap_or_default().into_iter().map(move |h| {
                    let ip = h.host_ip.as_deref().filter(|ip| !ip.is_empty()).unwrap_or("0.0.0.0");
                    format!("{ip}:{}->{port}", h.host_port.as_deref().unwrap_or_default())
                })
            })
            .collect();
        ports.sort();
        Ok(ports)
    }

    /// The container named `name`, when it exists (compose's `container_name:`).
    pub async fn named_container_project(&self, name: &str) -> Result<Option<Option<String>>> {
        Ok(self.container(name).await?.map(|c| c.labels.get(LABEL_COMPOSE_PROJECT).cloned()))
    }

    async fn compose_containers(&self, filters: HashMap<String, Vec<String>>) -> Result<Vec<ServiceContainer>> {
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list =
            self.docker.list_containers(Some(options)).await.map_err(|e| super::engine_error("list containers", e))?;
        Ok(list
            .into_iter()
            .map(|mut c| {
                let mounts = c.mounts.take().unwrap_or_default().into_iter().filter_map(ContainerMount::of).collect();
                let crashed = crashed(c.state.map(|s| s.to_string()).as_deref(), c.status.as_deref());
                (c.created.unwrap_or(0), mounts, crashed, super::ContainerInfo::of(c))
            })
            .filter_map(|(created, mounts, crashed, c)| {
                let labels = &c.labels;
                // `docker compose run`'s containers are not the service's.
                if labels.get(LABEL_COMPOSE_ONEOFF).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
                    return None;
                }
                let working_dir = labels.get(LABEL_WORKING_DIR).filter(|d| !d.is_empty()).map(PathBuf::from);
                let paths = |label: &str| -> Vec<PathBuf> {
                    labels
                        .get(label)
                        .map(|f| f.split(',').filter(|f| !f.is_empty()).map(PathBuf::from).collect())
                        .unwrap_or_default()
                };
                let config_files = paths(LABEL_CONFIG_FILES);
                let env_files = paths(LABEL_ENV_FILES);
                Some(ServiceContainer {
                    project: labels.get(LABEL_COMPOSE_PROJECT).cloned().unwrap_or_default(),
                    service: labels.get(LABEL_COMPOSE_SERVICE).cloned().unwrap_or_default(),
                    compose_version: labels.get(LABEL_COMPOSE_VERSION).cloned().unwrap_or_default(),
                    working_dir,
                    config_files,
                    env_files,
                    created,
                    mounts,
                    id: c.id,
                    name: c.name,
                    running: c.running,
                    crashed,
                    image_id: c.image_id,
                })
            })
            .collect())
    }

    /// Recreates the service's containers on the image its name now points at, as
    /// `docker compose up -d --no-deps --no-build --scale SERVICE=N SERVICE` does: whole config kept, services
    /// that depend on it left alone. Returns what compose printed. A `standby` started for the
    /// same run is used when it still waits (compose v1 then skips its ~0.5 s of imports).
    pub async fn compose_recreate(&self, run: &ComposeRun, standby: Option<ComposeStandby>) -> Result<String> {
        let args = run.args();
        if let Some(output) = standby.filter(|s| s.args == args).and_then(ComposeStandby::go) {
            let output = output.await;
            if let Some(output) = output {
                let text =
                    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
                if output.status.success() {
                    return Ok(text);
                }
                return Err(failed("docker-compose", &args, &text));
            }
        }
        let candidates = recreate_programs(run.v1).await;
        let mut tried = Vec::new();
        for Program { path, prefix, shown } in candidates {
            let mut command = tokio::process::Command::new(&path);
            command
                .args(&prefix)
                .args(&args)
                .current_dir(&run.working_dir)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            run.apply_engine_env(&mut command);
            let output = match command.output().await {
                Ok(o) => o,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tried.push(shown);
                    continue;
                }
                Err(e) => return Err(Error::io(format!("cannot run {shown}"), e)),
            };
            let text =
                format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
            // `docker compose` on a docker without the plugin: docker's own "not a command".
            if !prefix.is_empty() && !output.status.success() && no_such_docker_command(&text) {
                tried.push(shown);
                continue;
            }
            if output.status.success() {
                return Ok(text);
            }
            return Err(failed(&shown, &args, &text));
        }
        Err(Error::new(
            ErrorKind::Project,
            format!(
                "the service {} runs, but no compose to recreate it with was found ({} not found); the image is up \
                 to date, its container still runs the old one",
                run.services.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>().join(", "),
                tried.join(", ")
            ),
            if run.v1 {
                "install docker-compose (the containers were made by compose v1), or run `docker-compose up -d` yourself"
            } else {
                "install the docker compose plugin (compose v2 made the containers; a docker-compose v1 would make \
                 others beside them), or run `docker compose up -d` yourself"
            },
        ))
    }
}

/// compose's failure: its last lines, and that the image is made.
fn failed(shown: &str, args: &[String], text: &str) -> Error {
    let tail: Vec<&str> = text.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
    Error::new(
        ErrorKind::Engine,
        format!("`{} {}` failed (the service keeps its old container): {}", shown, args.join(" "), tail.join("\n")),
        "correct what compose says, then save again or run `docker compose up -d` yourself; the image is already \
         up to date",
    )
}

impl ComposeRun {
    /// Points compose's process at our engine.
    fn apply_engine_env(&self, command: &mut tokio::process::Command) {
        for (name, value) in &self.engine_env {
            match value {
                Some(value) => command.env(name, value),
                None => command.env_remove(name),
            };
        }
    }

    /// compose's arguments for the recreate.
    fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = vec!["-p".into(), self.project.clone()];
        args.push("--project-directory".into());
        args.push(self.working_dir.display().to_string());
        for file in &self.files {
            args.push("-f".into());
            args.push(file.display().to_string());
        }
        for file in &self.env_files {
            args.push("--env-file".into());
            args.push(file.display().to_string());
        }
        args.extend(["up", "-d", "--no-deps", "--no-build"].map(String::from));
        for (service, scale) in &self.services {
            args.push("--scale".into());
            args.push(format!("{service}={}", scale.max(&1)));
        }
        args.extend(self.services.iter().map(|(service, _)| service.clone()));
        args
    }
}

/// The next recreate's compose v1, started ahead: the Python `docker-compose` spends about half
/// of a recreate importing itself. This process has done that and waits for a line on stdin
/// (`go`: run; anything else or end of input: exit having done nothing), the way the session
/// starts a builder's next step ahead. Only for a `docker-compose` that is a Python console
/// script (its entry point is loaded by name, as its own script does); dropped, it is killed.
pub struct ComposeStandby {
    child: tokio::process::Child,
    args: Vec<String>,
}

/// The standby's program: load `docker-compose`'s entry point, wait for `go`, run it.
const STANDBY: &str = "import sys
from importlib.metadata import entry_points
eps = entry_points()
eps = eps.select(group='console_scripts') if hasattr(eps, 'select') else eps.get('console_scripts', [])
main = next(e for e in eps if e.name == 'docker-compose').load()
if sys.stdin.readline().strip() != 'go':
    sys.exit(0)
sys.argv = ['docker-compose'] + sys.argv[1:]
sys.exit(main())
";

impl ComposeStandby {
    /// Starts one for `run` when compose v1 made the containers and `docker-compose` on PATH
    /// is a Python script; None otherwise (the recreate then starts compose as usual).
    pub fn start(run: &ComposeRun) -> Option<ComposeStandby> {
        if !run.v1 {
            return None;
        }
        let script = standalone_compose()?;
        let mut head = [0u8; 256];
        let read = std::io::Read::read(&mut std::fs::File::open(&script).ok()?, &mut head).ok()?;
        let first = String::from_utf8_lossy(&head[..read]).lines().next()?.to_string();
        let interpreter = first.strip_prefix("#!")?.split_whitespace().next()?.to_string();
        if !interpreter.contains("python") {
            return None;
        }
        let args = run.args();
        let mut command = tokio::process::Command::new(interpreter);
        command
            .arg("-c")
            .arg(STANDBY)
            .args(&args)
            .current_dir(&run.working_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        run.apply_engine_env(&mut command);
        let child = command.spawn().ok()?;
        Some(ComposeStandby { child, args })
    }

    /// Tells it to run, and its output once it ends; None when it had already ended (its
    /// imports failed: compose is then started as usual).
    fn go(mut self) -> Option<impl std::future::Future<Output = Option<std::process::Output>>> {
        if !matches!(self.child.try_wait(), Ok(None)) {
            return None;
        }
        let mut stdin = self.child.stdin.take()?;
        Some(async move {
            use tokio::io::AsyncWriteExt as _;
            stdin.write_all(b"go\n").await.ok()?;
            drop(stdin);
            self.child.wait_with_output().await.ok()
        })
    }
}

/// A way to run compose: the program, its first arguments, and how a message names it.
struct Program {
    path: PathBuf,
    prefix: Vec<&'static str>,
    shown: String,
}

impl Program {
    fn new(path: impl Into<PathBuf>, prefix: &[&'static str], shown: &str) -> Program {
        Program { path: path.into(), prefix: prefix.to_vec(), shown: shown.to_string() }
    }
}

/// What to run compose as, in order: v1's containers only by `docker-compose`; v2's by the
/// plugin when docker's plugin folders have it (run as the program it is, as the docker CLI
/// runs it: going through `docker compose` costs the CLI's start and its plugin scan, ~90 ms
/// per save here, and compose reads the same environment and config either way), else by a
/// standalone `docker-compose` that is v2 (never a v1 one: it would make containers of v1's
/// names beside v2's), and `docker compose` last, for a plugin in a folder we do not know of.
async fn recreate_programs(v1: bool) -> Vec<Program> {
    let through_docker = Program::new("docker", &["compose"], "docker compose");
    let standalone = Program::new("docker-compose", &[], "docker-compose");
    if v1 {
        vec![standalone]
    } else if let Some(plugin) = compose_plugin() {
        vec![Program::new(plugin, &[], "docker compose"), standalone]
    } else if standalone_compose_is_v1().await == Some(false) {
        vec![standalone, through_docker]
    } else {
        vec![through_docker]
    }
}

/// docker's answer to `docker compose -p NAME ...` with no compose plugin, which varies with
/// its version: "'compose' is not a docker command" (20.10), "unknown command: docker compose",
/// or, docker 27+ parsing `-p` as its own flag first, "unknown shorthand flag: 'p'".
fn no_such_docker_command(text: &str) -> bool {
    text.contains("is not a docker command")
        || text.contains("unknown command: docker ")
        || text.contains("unknown shorthand flag: 'p'")
}

/// Which compose is installed here, when no container says which made the project: the
/// docker CLI's compose plugin (v2) when one of docker's plugin folders has it, else
/// `docker-compose`, asked for its version (v1 is `1.x`; a standalone v2 says `2.x` or `v2.x`).
pub async fn installed_compose_is_v1() -> Option<bool> {
    if compose_plugin().is_some() {
        return Some(false);
    }
    standalone_compose_is_v1().await
}

/// Whether the `docker-compose` on PATH is v1; None when there is none that answers.
/// Asked once per program file (its path and mtime): a recreate through a standalone v2 would
/// otherwise start it twice per save.
async fn standalone_compose_is_v1() -> Option<bool> {
    type Known = Option<(PathBuf, Option<std::time::SystemTime>, Option<bool>)>;
    static KNOWN: std::sync::Mutex<Known> = std::sync::Mutex::new(None);
    let path = standalone_compose()?;
    let mtime = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    if let Some((known, when, answer)) = KNOWN.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        if *known == path && *when == mtime {
            return *answer;
        }
    }
    let answer = async {
        let output = tokio::process::Command::new(&path)
            .args(["version", "--short"])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .output()
            .await
            .ok()?;
        let version = String::from_utf8_lossy(&output.stdout).trim().trim_start_matches('v').to_string();
        output.status.success().then(|| version.starts_with("1."))
    }
    .await;
    *KNOWN.lock().unwrap_or_else(|e| e.into_inner()) = Some((path, mtime, answer));
    answer
}

/// The `docker-compose` first on PATH, when there is one.
fn standalone_compose() -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("docker-compose"))
        .find(|p| p.is_file())
}

/// The compose plugin the docker CLI would run: the first `docker-compose` in its plugin
/// folders, in its order (docker/cli's `getPluginDirs`: the config folder's first).
fn compose_plugin() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec![super::connect::config_dir().join("cli-plugins")];
    for d in [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
    ] {
        dirs.push(PathBuf::from(d));
    }
    dirs.into_iter().map(|d| d.join("docker-compose")).find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::{crashed, no_such_docker_command, ComposeRun};

    #[test]
    fn a_crash_is_told_from_a_stop_by_the_listed_status() {
        // As docker 20.10 lists them.
        assert!(crashed(Some("exited"), Some("Exited (1) 3 seconds ago")));
        assert!(crashed(Some("exited"), Some("Exited (2) About a minute ago")));
        assert!(crashed(Some("restarting"), Some("Restarting (1) 1 second ago")));
        for stopped in ["Exited (0) 2 hours ago", "Exited (137) 5 seconds ago", "Exited (143) 1 second ago"] {
            assert!(!crashed(Some("exited"), Some(stopped)), "{stopped}");
        }
        assert!(!crashed(Some("running"), Some("Up 3 seconds")));
        assert!(!crashed(Some("created"), Some("Created")));
        assert!(!crashed(Some("exited"), None), "unknown: not a crash");
    }

    #[test]
    fn the_recreate_names_each_service_with_its_count() {
        let run = ComposeRun {
            project: "shop".into(),
            services: vec![("web".into(), 2), ("worker".into(), 0)],
            working_dir: "/p".into(),
            files: vec!["/p/compose.yaml".into()],
            env_files: Vec::new(),
            v1: false,
            engine_env: Vec::new(),
        };
        let args = run.args().join(" ");
        assert!(args.ends_with("up -d --no-deps --no-build --scale web=2 --scale worker=1 web worker"), "{args}");
    }

    #[test]
    fn docker_without_the_compose_plugin_is_told_by_each_versions_words() {
        // Captured from docker 20.10 and 28.2 with `docker compose -p x up` and no plugin.
        assert!(no_such_docker_command("docker: 'compose' is not a docker command.\nSee 'docker --help'"));
        assert!(no_such_docker_command("docker: unknown command: docker compose\n\nRun 'docker --help'"));
        assert!(no_such_docker_command("unknown shorthand flag: 'p' in -p\n\nUsage:  docker [OPTIONS] COMMAND"));
        // compose's own failures are compose's.
        assert!(!no_such_docker_command("service \"api\" refers to undefined volume data: invalid compose project"));
        assert!(!no_such_docker_command("no such service: web"));
    }
}
