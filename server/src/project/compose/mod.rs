//! A Docker Compose project, read as compose resolves it: which files (`-f`, COMPOSE_FILE,
//! the default file and its override), the .env file, interpolation, the merge of several
//! files, `extends`, profiles, and the project's name. Pure: no Docker, no processes.
//!
//! Why our own reader: compose validates the file itself, so we read only the keys we use
//! (build, image, container_name, profiles, develop) and ignore the others; the typed crates
//! refuse valid files (unknown keys) and do none of compose's resolution. compose-go (v2)
//! is the reference; compose v1 (1.29) agrees on everything read here except the project
//! name (see `Workspace::project_name`).

mod dotenv;
mod extends;
mod files;
mod include;
mod interpolate;
mod locate;
mod merge;
mod service;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_norway::Value;

use crate::error::{Error, ErrorKind, Result};
pub use files::OVERRIDE_FILES;

/// The compose file names compose looks for, in its order of preference.
pub const COMPOSE_FILES: [&str; 4] = ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"];

/// How compose is asked to read the project: what `-f`, `-p`, `--profile` and the
/// environment say.
#[derive(Debug, Clone, Default)]
pub struct ComposeOptions {
    /// The folder compose runs in (the CLI's DIR or the current folder).
    pub dir: PathBuf,
    /// `-f` files (relative to `dir`); empty: COMPOSE_FILE (split on COMPOSE_PATH_SEPARATOR,
    /// default ':'), else the first of COMPOSE_FILES in `dir` (not searched upward: the
    /// caller does discovery, see `find_dir`) and the first of OVERRIDE_FILES there.
    pub files: Vec<PathBuf>,
    /// `-p`; else COMPOSE_PROJECT_NAME (environment, then .env), else the top-level `name:`
    /// (compose v2 only), else the project directory's base name.
    pub project_name: Option<String>,
    /// `--profile`s; when none, COMPOSE_PROFILES (comma-separated; environment, then .env),
    /// as compose does: the flag replaces the variable.
    pub profiles: Vec<String>,
    /// The process environment (the caller passes `std::env::vars()`). It wins over the .env
    /// file for interpolation, as in compose.
    pub env: BTreeMap<String, String>,
    /// `--env-file`s (absolute), read instead of the .env files, a later one winning.
    pub env_files: Vec<PathBuf>,
    /// `--project-directory`: where the compose files are looked for (without `-f`), relative
    /// paths resolve and .env is read; else the first compose file's folder.
    pub project_directory: Option<PathBuf>,
}

/// Where the project name came from, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameSource {
    /// `-p`.
    Flag,
    /// COMPOSE_PROJECT_NAME in the environment.
    Env,
    /// COMPOSE_PROJECT_NAME in the .env file.
    EnvFile,
    /// The top-level `name:` (read by compose v2 only).
    NameKey,
    /// The project directory's base name.
    Folder,
}

/// The compose implementation whose naming rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComposeVersion {
    /// `docker-compose` 1.x (Python).
    V1,
    /// `docker compose` 2.x (Go, compose-go).
    V2,
}

#[derive(Debug, Clone)]
pub struct Workspace {
    /// Project directory (canonical): the folder of the first compose file.
    pub dir: PathBuf,
    /// The compose files read, absolute, in order.
    pub files: Vec<PathBuf>,
    /// The .env file read (the project directory's, else the one in `ComposeOptions::dir`), or
    /// the first `--env-file`.
    pub env_file: Option<PathBuf>,
    /// The `--env-file`s, which the recreate passes on to compose.
    pub env_files_given: Vec<PathBuf>,
    /// The files read through `include` (compose files and their .env): not given to compose
    /// (the main files name them), but a change to one changes the project.
    pub included: Vec<PathBuf>,
    /// The project name before normalisation, and where it came from.
    pub name: String,
    pub name_source: NameSource,
    /// Every service the active profiles enable (a service without `profiles` always is),
    /// in file order.
    pub services: Vec<Service>,
    /// The services whose profiles are all inactive: compose still runs one named on its
    /// command line, so `named` finds them.
    disabled: Vec<Service>,
    /// The project directory's base name: compose v1 ignores `name:`.
    folder: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    pub name: String,
    pub build: Option<Build>,
    pub image: Option<String>,
    /// `platform:`: the platform compose builds and runs the service for.
    pub platform: Option<String>,
    pub container_name: Option<String>,
    /// `stop_grace_period` as written (`10s`, `1m30s`): how long compose waits for the
    /// service's containers to stop before killing them.
    pub stop_grace_period: Option<String>,
    pub profiles: Vec<String>,
    pub develop: Option<Develop>,
    /// Where the service is defined: the file and 1-based line of its key under `services:`
    /// (the first file that defines it; for `extends`, the extending service).
    pub file: PathBuf,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Build {
    pub context: BuildContext,
    /// Relative to the context, as compose reads it (default `Dockerfile`); may be absolute.
    pub dockerfile: PathBuf,
    pub dockerfile_inline: Option<String>,
    pub target: Option<String>,
    /// Build args; an arg without a value takes the environment's (omitted when unset).
    pub args: BTreeMap<String, String>,
    /// `build.secrets`, resolved against the top-level `secrets:`.
    pub secrets: Vec<BuildSecret>,
    /// `build.ssh`: `default`, `id` or `id=path` (a relative path made absolute).
    pub ssh: Vec<String>,
    /// The build keys compose applies and docker-rebuilder does not (`shm_size`, `ulimits`,
    /// `privileged`…), each as "`build.KEY` (file:line)": said at each full build.
    pub unapplied: Vec<String>,
    /// `build.platforms`: the platforms compose builds the image for.
    pub platforms: Vec<String>,
    /// `build.tags`: more names the image gets.
    pub tags: Vec<String>,
    /// `build.labels`: the image's labels.
    pub labels: BTreeMap<String, String>,
    /// `build.network`: the network of the build's RUN steps.
    pub network: Option<String>,
    /// `build.extra_hosts`, as the engine takes them (`HOST:IP`).
    pub extra_hosts: Vec<String>,
    /// The file and line of the `build:` that last set the build (an override file's, when
    /// one changes it).
    pub file: PathBuf,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildContext {
    /// A local folder: absolute, canonical when it exists.
    Local(PathBuf),
    /// A remote context (git or HTTP URL, `github.com/…`, `git@…`, or a builder-specific
    /// `scheme://` one), as compose classifies them.
    Remote(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSecret {
    /// The id the Dockerfile mounts (`RUN --mount=type=secret,id=…`): `target`, else the name.
    pub id: String,
    pub source: SecretSource,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// `file:`, absolute.
    File(PathBuf),
    /// `environment:`: the variable's name.
    Env(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Develop {
    pub watch: Vec<WatchRule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRule {
    /// Absolute (a relative path is the project directory's), canonical when it exists.
    pub path: PathBuf,
    pub action: WatchAction,
    pub target: Option<String>,
    pub ignore: Vec<String>,
    pub include: Vec<String>,
    pub initial_sync: bool,
    /// Where the rule is: its file and the line of its `- ` item.
    pub file: PathBuf,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchAction {
    Sync,
    Rebuild,
    Restart,
    SyncRestart,
    /// `sync+exec`, with `exec.command` (a string is split as a shell would).
    SyncExec {
        command: Vec<String>,
    },
}

/// Where compose run in `start` finds its project: `start` when its .env names the files
/// (COMPOSE_FILE, read from the working folder's .env only, as compose does), else the nearest
/// folder, `start` or above, holding one of COMPOSE_FILES.
pub fn find_dir(start: &Path) -> Option<PathBuf> {
    let start = start.canonicalize().unwrap_or_else(|_| start.to_path_buf());
    if dotenv_names_files(&start, &std::env::vars().collect()) {
        return Some(start);
    }
    start.ancestors().find(|d| COMPOSE_FILES.iter().any(|f| d.join(f).is_file())).map(Path::to_path_buf)
}

/// Whether compose run in `dir` finds a project right there: a compose file of a default
/// name, or COMPOSE_FILE set in the environment `env` or in the folder's .env.
pub fn finds_project_in(dir: &Path, env: &BTreeMap<String, String>) -> bool {
    COMPOSE_FILES.iter().any(|f| dir.join(f).is_file())
        || env.get("COMPOSE_FILE").is_some_and(|f| !f.is_empty())
        || dotenv_names_files(dir, env)
}

/// Whether `dir`/.env sets COMPOSE_FILE (unless COMPOSE_DISABLE_ENV_FILE in `shell` turns .env
/// off).
fn dotenv_names_files(dir: &Path, shell: &BTreeMap<String, String>) -> bool {
    if shell.get("COMPOSE_DISABLE_ENV_FILE").is_some_and(|v| files::truthy(v)) {
        return false;
    }
    let mut dotenv = files::DotEnv::default();
    dotenv.read(&dir.join(".env"), shell).is_ok() && dotenv.vars.get("COMPOSE_FILE").is_some_and(|f| !f.is_empty())
}

/// Reads the compose project `options` describe, as compose would.
pub fn load(options: &ComposeOptions) -> Result<Workspace> {
    let open = |dir: &Path| {
        dir.canonicalize().map_err(|e| {
            Error::new(ErrorKind::Compose, format!("cannot open {}: {e}", dir.display()), "give an existing folder")
        })
    };
    let start = open(&options.dir)?;
    let project_directory = options.project_directory.as_deref().map(open).transpose()?;
    // Without -f, compose looks for its files in the project directory when one is given.
    let search = project_directory.clone().unwrap_or_else(|| start.clone());
    let use_env_files = !options.env.get("COMPOSE_DISABLE_ENV_FILE").is_some_and(|v| files::truthy(v));
    let mut dotenv = files::DotEnv::default();
    // `--env-file`s replace the .env files compose reads by default.
    let given = !options.env_files.is_empty();
    if given {
        dotenv.read_given(&options.env_files, &options.env)?;
    }
    // Without -f, the .env of the folder compose runs in may say which files (COMPOSE_FILE).
    if options.files.is_empty() && use_env_files && !given {
        dotenv.read(&search.join(".env"), &options.env)?;
    }
    let lookup = |k: &str| options.env.get(k).or_else(|| dotenv.vars.get(k)).cloned();
    let compose_files = files::compose_files(options, &start, &search, &lookup)?;
    let dir = match project_directory {
        Some(dir) => dir,
        None => compose_files[0].parent().map(Path::to_path_buf).unwrap_or_else(|| start.clone()),
    };
    if use_env_files && !given {
        dotenv.read(&dir.join(".env"), &options.env)?;
    }
    let mut env = options.env.clone();
    for (key, value) in &dotenv.vars {
        env.entry(key.clone()).or_insert_with(|| value.clone());
    }

    let sources = compose_files.iter().map(|p| SourceFile::read(p)).collect::<Result<Vec<_>>>()?;
    let documents = sources.iter().map(parse_yaml).collect::<Result<Vec<_>>>()?;
    let name_key = files::name_key(&documents, &sources, &env)?;
    let (name, name_source) =
        files::project_name(options.project_name.as_deref(), &options.env, &dotenv.vars, name_key, &dir);
    let folder = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Compose sets it for the files' interpolation, whatever the environment says.
    env.insert("COMPOSE_PROJECT_NAME".into(), files::normalize_v2(&name));
    let home = env.get("HOME").cloned();

    let mut loader = include::Loader::new(home.as_deref(), sources);
    let main_files = documents.into_iter().enumerate().collect();
    let merged = loader.model(main_files, &dir, &env)?;
    let (sources, included) = (loader.sources, loader.included);

    let first = &sources[0];
    let services = match merged.get("services") {
        Some(Value::Mapping(services)) => services,
        _ => {
            return Err(compose_error(
                &first.path,
                1,
                "no `services:` in the compose files",
                "define the services under a top-level `services:` key",
            ))
        }
    };
    let secrets = match merged.get("secrets") {
        Some(Value::Mapping(secrets)) => Some(secrets),
        _ => None,
    };
    let typing = service::Typing { sources: &sources, env: &env, secrets, project_dir: &dir };
    let profiles = files::active_profiles(&options.profiles, &options.env, &dotenv.vars);
    let (mut enabled, mut disabled) = (Vec::new(), Vec::new());
    for (key, value) in services {
        let service = typing.service(&key_string(key), value)?;
        let active = service.profiles.is_empty() || profiles.iter().any(|p| p == "*" || service.profiles.contains(p));
        let list = if active { &mut enabled } else { &mut disabled };
        list.push(service);
    }
    let env_file = dotenv.files.iter().find(|f| f.parent() == Some(dir.as_path())).or(dotenv.files.first()).cloned();
    Ok(Workspace {
        dir,
        files: compose_files,
        env_file,
        env_files_given: options.env_files.clone(),
        included,
        name,
        name_source,
        services: enabled,
        disabled,
        folder,
    })
}

impl Workspace {
    /// The project name as compose `version` normalises it: v1 lowercases and drops every
    /// character outside `[-_a-z0-9]` (and ignores `name:`); v2 also strips leading `-` and
    /// `_` (compose-go's `NormalizeProjectName`).
    pub fn project_name(&self, version: ComposeVersion) -> String {
        match version {
            ComposeVersion::V1 if self.name_source == NameSource::NameKey => files::normalize_v1(&self.folder),
            ComposeVersion::V1 => files::normalize_v1(&self.name),
            ComposeVersion::V2 => files::normalize_v2(&self.name),
        }
    }

    /// The image compose builds the service into: `image:` (tagged `latest` when it has no
    /// tag, as docker does), else v1 `<project>_<service>:latest` (the project name without
    /// leading `_` and `-`, as v1's `Service.image_name` strips them), v2
    /// `<project>-<service>:latest`.
    pub fn image_name(&self, service: &Service, version: ComposeVersion) -> String {
        if let Some(image) = &service.image {
            return crate::project::plan::with_tag(image);
        }
        match version {
            ComposeVersion::V1 => {
                let project = self.project_name(version);
                format!("{}_{}:latest", project.trim_start_matches(['_', '-']), service.name)
            }
            ComposeVersion::V2 => format!("{}-{}:latest", self.project_name(version), service.name),
        }
    }

    /// The services, enabled or not, that compose builds nothing for but runs from `image`
    /// (another service's build, as `worker: image: app` beside `web: build: .` with
    /// `image: app`), other than `built`.
    pub fn image_users(&self, image: &str, built: &str) -> Vec<String> {
        self.services
            .iter()
            .chain(&self.disabled)
            .filter(|s| s.build.is_none() && s.name != built)
            .filter(|s| s.image.as_deref().is_some_and(|i| crate::project::plan::with_tag(i) == image))
            .map(|s| s.name.clone())
            .collect()
    }

    /// An enabled service.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }

    /// A service named on the command line (compose runs it even when its profiles are
    /// inactive), provided compose builds it.
    pub fn named(&self, name: &str) -> Result<&Service> {
        let known = self.services.iter().chain(&self.disabled).find(|s| s.name == name);
        if let Some(service) = known.filter(|s| s.build.is_some()) {
            return Ok(service);
        }
        let buildable = self.buildable_list();
        let (path, line, cause) = match known {
            Some(service) => (
                &service.file,
                service.line,
                format!(
                    "the service `{name}` has no `build:` section; docker-rebuilder rebuilds only services compose \
                     builds{buildable}"
                ),
            ),
            None => (&self.files[0], 1, format!("no service `{name}` in {}{buildable}", self.files_list())),
        };
        let fix = if self.services.iter().chain(&self.disabled).any(|s| s.build.is_some()) {
            "name one of the services with `build:`"
        } else {
            "add a `build:` section to the service to rebuild"
        };
        Err(compose_error(path, line, cause, fix))
    }

    /// `; services with `build:`: a, b` (inactive profiles marked), or that there are none.
    fn buildable_list(&self) -> String {
        let enabled = self.services.iter().filter(|s| s.build.is_some()).map(|s| format!("`{}`", s.name));
        let disabled = self.disabled.iter().filter(|s| s.build.is_some()).map(|s| {
            let profiles: Vec<String> = s.profiles.iter().map(|p| format!("`{p}`")).collect();
            format!("`{}` (profile {}, inactive)", s.name, profiles.join(", "))
        });
        let all: Vec<String> = enabled.chain(disabled).collect();
        if all.is_empty() {
            "; no service has a build: section".to_string()
        } else {
            format!("; services with `build:`: {}", all.join(", "))
        }
    }

    fn files_list(&self) -> String {
        self.files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
    }
}

/// A file read, with its text for locating what its values do not (their lines).
#[derive(Debug, Clone)]
pub(super) struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    fn read(path: &Path) -> Result<SourceFile> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(ErrorKind::Compose, format!("cannot read {}: {e}", path.display()), "make the file readable")
        })?;
        Ok(SourceFile { path: path.to_path_buf(), text })
    }
}

/// An error in a compose file: `path:line: cause`, located for editors.
pub(super) fn compose_error(path: &Path, line: usize, cause: impl std::fmt::Display, fix: impl Into<String>) -> Error {
    Error::new(ErrorKind::Compose, format!("{}:{line}: {cause}", path.display()), fix).at(path, line)
}

/// A mapping key as text (YAML allows numbers and booleans as keys).
pub(super) fn key_string(key: &Value) -> String {
    scalar_string(key).unwrap_or_default()
}

/// A scalar's text as compose reads it; `None` for a null, a sequence or a mapping.
pub(super) fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Tagged(tagged) => scalar_string(&tagged.value),
        Value::Null | Value::Sequence(_) | Value::Mapping(_) => None,
    }
}

/// The YAML documents of a file (compose merges a file's documents in order), with `<<`
/// merge keys applied.
pub(super) fn parse_yaml(source: &SourceFile) -> Result<Vec<Value>> {
    let fix = "correct the YAML (`docker compose config` shows the same error)";
    let mut documents = Vec::new();
    for document in serde_norway::Deserializer::from_str(&source.text) {
        let mut value = Value::deserialize(document).map_err(|e| {
            // At the end of the input libyaml points one line past a text without a final
            // newline: name the text's last line instead.
            let lines = source.text.bytes().filter(|b| *b == b'\n').count() + 1;
            // libyaml's text says where a second time ("… at line 4 column 4, while parsing
            // …"): the line leads the message, the column is said once.
            let (said, column) = match e.location() {
                Some(at) => (
                    e.to_string().replacen(&format!(" at line {} column {}", at.line(), at.column()), "", 1),
                    Some(at.column()),
                ),
                None => (e.to_string(), None),
            };
            let line = e.location().map_or(1, |l| l.line()).clamp(1, lines);
            let column = column.map(|c| format!(" (column {c})")).unwrap_or_default();
            compose_error(&source.path, line, format!("invalid YAML{column}: {said}"), fix)
        })?;
        value.apply_merge().map_err(|e| {
            let line = locate::line_containing(&source.text, 1, "<<").unwrap_or(1);
            compose_error(&source.path, line, format!("invalid YAML merge key: {e}"), fix)
        })?;
        documents.push(value);
    }
    Ok(documents)
}

#[cfg(test)]
mod tests;
