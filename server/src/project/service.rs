//! A compose service as a project: its build (context, Dockerfile, target, args, secrets)
//! and image name come from the compose file, as compose builds it; everything else is
//! inferred from the Dockerfile as for any project (a rebuilder.toml in the build context
//! still applies). Pure: which compose version names the image is decided by the caller.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::compose::{BuildContext, ComposeOptions, ComposeVersion, SecretSource, Service, WatchAction, Workspace};
use super::config::{Config, FullBuildPath, SecretEntry, SyncEntry};
pub use super::twins::Twin;
use super::Project;
use crate::error::{Error, ErrorKind, Result};

/// What a project knows of the compose service it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceBinding {
    /// The service's name in the compose file.
    pub name: String,
    /// The compose project's name, normalised as the compose version in use does.
    pub project: String,
    pub version: ComposeVersion,
    /// The compose project directory and the files compose reads (for recreating its
    /// containers when none records them, and for the watcher: a change reloads the project).
    pub workspace_dir: PathBuf,
    pub files: Vec<PathBuf>,
    pub env_file: Option<PathBuf>,
    /// The `--env-file`s given (passed on to compose's recreate).
    pub env_files_given: Vec<PathBuf>,
    /// The files read through the compose files' `include`s.
    pub included: Vec<PathBuf>,
    /// The services run from this service's image without building it (see
    /// `Workspace::image_users`): recreated with it, so none keeps running the old code.
    pub image_users: Vec<String>,
    /// The services built exactly as this one, their images' names aside (`twins.rs`): one
    /// build serves them all, their images are its extra names, and they are recreated with it.
    pub twins: Vec<Twin>,
    /// `container_name:`, when the service fixes one.
    pub container_name: Option<String>,
    /// `stop_grace_period:`, when given and readable: compose's wait before it kills a
    /// container it stops (the engine's own default, 10 s, otherwise).
    pub stop_grace_period: Option<Duration>,
    /// Where the service is defined.
    pub file: PathBuf,
    pub line: usize,
    /// The service's build as compose gives it: what the recipe hash covers (a change to
    /// another service does not rebuild this one).
    build: ServiceBuild,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct ServiceBuild {
    image: String,
    tags: Vec<String>,
    platform: Option<String>,
    unapplied: Vec<String>,
    dockerfile: PathBuf,
    target: Option<String>,
    args: BTreeMap<String, String>,
    secrets: BTreeMap<String, SecretEntry>,
    labels: BTreeMap<String, String>,
    network: Option<String>,
    extra_hosts: Vec<String>,
    develop: Vec<DevelopRule>,
}

/// A `develop.watch` rule of the service, its path relative to the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevelopRule {
    pub action: WatchAction,
    /// Context-relative, `/`-separated; `""` is the whole context.
    pub src: String,
    /// Where a sync puts it in the service's containers (and the builder).
    pub target: Option<String>,
    pub ignore: Vec<String>,
    pub include: Vec<String>,
    pub initial_sync: bool,
    /// `file:line` of the rule, for messages.
    pub at: String,
}

impl DevelopRule {
    /// A rule whose files are copied to `target` (`sync`, `sync+restart`, `sync+exec`).
    pub fn syncs(&self) -> bool {
        matches!(self.action, WatchAction::Sync | WatchAction::SyncRestart | WatchAction::SyncExec { .. })
    }

    /// The action's name, as the compose file writes it.
    pub fn action_name(&self) -> &'static str {
        match self.action {
            WatchAction::Sync => "sync",
            WatchAction::Rebuild => "rebuild",
            WatchAction::Restart => "restart",
            WatchAction::SyncRestart => "sync+restart",
            WatchAction::SyncExec { .. } => "sync+exec",
        }
    }

    /// The container path of the context file `rel` under this rule, if it covers it.
    pub fn container_path(&self, rel: &str) -> Option<String> {
        let target = self.target.as_deref()?.trim_end_matches('/');
        let below = if self.src.is_empty() {
            rel
        } else if rel == self.src {
            ""
        } else {
            rel.strip_prefix(&self.src)?.strip_prefix('/')?
        };
        Some(if below.is_empty() { target.to_string() } else { format!("{target}/{below}") })
    }
}

/// How to load a project: a folder, or a service of a compose project.
#[derive(Debug, Clone)]
pub enum ProjectSource {
    Folder(PathBuf),
    /// `version`: which compose names the image; None until a session asks the engine (see
    /// `rebuild::compose_version`), v2's names meanwhile.
    /// `twins`: services to build with it when they build as it does (see `twins.rs`).
    Service {
        options: ComposeOptions,
        service: String,
        twins: Vec<String>,
        version: Option<ComposeVersion>,
    },
}

impl ProjectSource {
    /// The project as it is on disk now.
    pub fn load(&self) -> Result<Project> {
        match self {
            ProjectSource::Folder(dir) => Project::load(dir),
            ProjectSource::Service { options, service, twins, version } => {
                let workspace = super::compose::load(options)?;
                load_service(&workspace, service, twins, version.unwrap_or(ComposeVersion::V2))
            }
        }
    }

    /// The folder to show for it, and whose objects `clean` finds when it does not load.
    pub fn dir(&self) -> &Path {
        match self {
            ProjectSource::Folder(dir) => dir,
            ProjectSource::Service { options, .. } => &options.dir,
        }
    }

    /// The image compose runs the service from, named without reading its Dockerfile (for
    /// when that does not load); None for a folder, or when the compose file does not load.
    pub fn service_image(&self) -> Option<String> {
        let ProjectSource::Service { options, service, version, .. } = self else { return None };
        let workspace = super::compose::load(options).ok()?;
        let service = workspace.named(service).ok()?;
        let (binding, _) = binding(&workspace, service, version.unwrap_or(ComposeVersion::V2)).ok()?;
        Some(binding.build.image)
    }

    /// The compose service, if it is one.
    pub fn service(&self) -> Option<&str> {
        match self {
            ProjectSource::Folder(_) => None,
            ProjectSource::Service { service, .. } => Some(service),
        }
    }
}

/// The project of `service` in `workspace`, its image named as compose `version` names it,
/// built for those of `twins` that still build as it does.
pub fn load_service(
    workspace: &Workspace,
    service: &str,
    twins: &[String],
    version: ComposeVersion,
) -> Result<Project> {
    let service = workspace.named(service)?;
    let (mut binding, context) = binding(workspace, service, version)?;
    binding.twins = super::twins::of(workspace, &binding, &context, twins, version);
    Project::load_bound(&context, Some(binding)).map_err(|e| match e.kind {
        // Its `target` is the compose file's, and a bind mount may well bring its code.
        ErrorKind::NothingToRebuild => Error {
            cause: format!("the service `{}`: {}", service.name, e.cause),
            fix: "nothing to do when its code reaches its containers through a bind mount (a save then needs no \
                  build); to rebuild it on a save, COPY the sources in its Dockerfile, or point `build.target` at \
                  the stage that does"
                .to_string(),
            ..e
        },
        _ => e,
    })
}

pub(super) fn binding(
    workspace: &Workspace,
    service: &Service,
    version: ComposeVersion,
) -> Result<(ServiceBinding, PathBuf)> {
    let located = |cause: String, fix: &str| {
        Error::new(ErrorKind::Compose, format!("{}:{}: {cause}", service.file.display(), service.line), fix)
            .at(&service.file, service.line)
    };
    let Some(build) = &service.build else {
        return Err(located(
            format!(
                "the service `{}` has no `build:` section: compose pulls its image, nothing is built",
                service.name
            ),
            "name a service with `build:`; docker-rebuilder rebuilds the services compose builds",
        ));
    };
    let context = match &build.context {
        BuildContext::Local(dir) => dir.clone(),
        BuildContext::Remote(url) => {
            return Err(located(
                format!(
                    "the service `{}` builds from the remote context {url}: there are no local sources to mirror",
                    service.name
                ),
                "clone the repository and point `build.context` at the folder, or leave this service to compose",
            ))
        }
    };
    let root = workspace.dir.canonicalize().unwrap_or_else(|_| workspace.dir.clone());
    let context = context.canonicalize().map_err(|e| {
        located(
            format!("the build context {} of the service `{}` does not exist: {e}", context.display(), service.name),
            "correct `build.context` (compose would fail to build it too)",
        )
    })?;
    if !context.starts_with(&root) {
        return Err(located(
            format!(
                "the build context {} of the service `{}` is outside the compose folder {}",
                context.display(),
                service.name,
                root.display()
            ),
            "docker-rebuilder mirrors files only from inside the compose folder: run it in a folder that holds \
             both the compose file and the build context (e.g. the repository root)",
        ));
    }
    if build.dockerfile_inline.is_some() {
        return Err(located(
            format!("the service `{}` has an inline Dockerfile (`dockerfile_inline`)", service.name),
            "move the Dockerfile into a file in the build context and name it with `build.dockerfile`",
        ));
    }
    let dockerfile = context.join(&build.dockerfile);
    let inside = dockerfile.canonicalize().map(|d| d.starts_with(&context)).unwrap_or_else(|_| {
        !build.dockerfile.is_absolute() && !build.dockerfile.components().any(|c| c == std::path::Component::ParentDir)
    });
    if !inside {
        return Err(located(
            format!(
                "the Dockerfile {} of the service `{}` is outside its build context {}",
                build.dockerfile.display(),
                service.name,
                context.display()
            ),
            "move the Dockerfile into the build context (docker-rebuilder reads a service's files from its context)",
        ));
    }
    let secrets = build
        .secrets
        .iter()
        .map(|s| {
            let entry = match &s.source {
                SecretSource::File(path) => SecretEntry::File { file: path.display().to_string() },
                SecretSource::Env(var) => SecretEntry::Env { env: var.clone() },
            };
            (s.id.clone(), entry)
        })
        .collect();
    let image = workspace.image_name(service, version);
    let binding = ServiceBinding {
        name: service.name.clone(),
        project: workspace.project_name(version),
        version,
        workspace_dir: root,
        files: workspace.files.clone(),
        env_file: workspace.env_file.clone(),
        included: workspace.included.clone(),
        env_files_given: workspace.env_files_given.clone(),
        image_users: workspace.image_users(&image, &service.name),
        twins: Vec::new(),
        container_name: service.container_name.clone(),
        stop_grace_period: service.stop_grace_period.as_deref().and_then(compose_duration),
        file: service.file.clone(),
        line: service.line,
        build: ServiceBuild {
            image,
            tags: build.tags.clone(),
            // As compose: the service's platform, else the build's one platform.
            platform: service.platform.clone().or_else(|| match build.platforms.as_slice() {
                [one] => Some(one.clone()),
                _ => None,
            }),
            unapplied: build.unapplied.clone(),
            dockerfile: build.dockerfile.clone(),
            target: build.target.clone(),
            args: build.args.clone(),
            secrets,
            labels: build.labels.clone(),
            network: build.network.clone(),
            extra_hosts: build.extra_hosts.clone(),
            develop: develop_rules(service, &context)?,
        },
    };
    Ok((binding, context))
}

impl ServiceBinding {
    /// The image compose runs the service from.
    pub fn image(&self) -> &str {
        &self.build.image
    }

    /// The compose file's build settings over rebuilder.toml's: compose builds the service
    /// with them, so the image must be built with them too.
    pub(super) fn apply(&self, config: &mut Config) {
        config.image = Some(self.build.image.clone());
        config.dockerfile = Some(self.build.dockerfile.clone());
        config.context = None;
        config.target = self.build.target.clone();
        for (k, v) in &self.build.args {
            config.build_args.insert(k.clone(), v.clone());
        }
        for (id, entry) in &self.build.secrets {
            config.secrets.insert(id.clone(), entry.clone());
        }
        config.tags.extend(self.build.tags.clone());
        for twin in &self.twins {
            config.tags.extend(twin.images.iter().filter(|i| **i != self.build.image).cloned());
        }
        if self.build.platform.is_some() {
            config.platform = self.build.platform.clone();
        }
        config.labels.extend(self.build.labels.clone());
        if self.build.network.is_some() {
            config.network = self.build.network.clone();
        }
        if !self.build.extra_hosts.is_empty() {
            config.extra_hosts = self.build.extra_hosts.clone();
        }
        // `develop.watch`: its sync rules say what is mirrored where (as compose syncs them
        // into the service), its rebuild rules what needs a full build.
        let develop = &self.build.develop;
        if develop.iter().any(DevelopRule::syncs) {
            config.sync = develop
                .iter()
                .filter(|r| r.syncs())
                .map(|r| SyncEntry {
                    src: if r.src.is_empty() { ".".to_string() } else { r.src.clone() },
                    dest: r.target.clone().unwrap_or_default(),
                    exclude: r.ignore.clone(),
                    include: r.include.clone(),
                })
                .collect();
        }
        config.full_build_paths = develop
            .iter()
            .filter(|r| r.action == WatchAction::Rebuild)
            .map(|r| FullBuildPath {
                src: r.src.clone(),
                why: format!("a `develop.watch` rule ({}) rebuilds the image on a change there", r.at),
            })
            .collect();
    }

    /// What a full build is to say of the service's build keys it does not apply, if any.
    pub fn unapplied_warning(&self) -> Option<String> {
        let keys = &self.build.unapplied;
        let (is, it) = if keys.len() == 1 { ("is", "it") } else { ("are", "them") };
        (!keys.is_empty()).then(|| {
            format!(
                "the service `{name}`'s {} {is} not applied by docker-rebuilder's builds: the full build's RUN steps \
                 and the rebuilds in the builder run without {it} — if a step needs {it}, build this service with \
                 compose (`docker compose up -d --build {name}`)",
                keys.join(", "),
                name = self.name,
            )
        })
    }

    /// The platform the compose file builds the service for, if it names one.
    pub fn platform(&self) -> Option<&str> {
        self.build.platform.as_deref()
    }

    /// The service's `develop.watch` rules (empty without a `develop` section).
    pub fn develop(&self) -> &[DevelopRule] {
        &self.build.develop
    }

    /// The recipe hash's part for the compose file: this service's build settings only.
    pub(super) fn recipe_part(&self) -> String {
        let mut text = format!("{:?}", self.build);
        // The twins' images are names each new image takes: a new twin is a new recipe (only
        // their names: their run settings are not the build's; none, the recipe as before).
        if !self.twins.is_empty() {
            let names: Vec<&String> = self.twins.iter().flat_map(|t| &t.images).collect();
            text.push_str(&format!("{names:?}"));
        }
        Sha256::digest(text.as_bytes()).iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// The value of the project label for the service built from `context`: unique per
    /// service, so two services sharing a context have builders of their own (unless they
    /// build alike: then the first one's serves them, see `twins.rs`).
    pub(super) fn label(&self, context: &Path) -> String {
        service_label(context, &self.name)
    }

    /// Whether `other` is built exactly as this service is, the names of their images aside:
    /// the same Dockerfile, target, args, secrets, labels, platform and `develop.watch` rules
    /// (the contexts are compared by the caller).
    pub(super) fn builds_like(&self, other: &ServiceBinding) -> bool {
        let anonymous = |b: &ServiceBuild| ServiceBuild {
            image: String::new(),
            tags: Vec::new(),
            develop: b.develop.iter().map(|r| DevelopRule { at: String::new(), ..r.clone() }).collect(),
            ..b.clone()
        };
        anonymous(&self.build) == anonymous(&other.build)
    }

    /// The names compose runs this service's image by: `image:` or its own, and `build.tags`.
    pub(super) fn images(&self) -> Vec<String> {
        std::iter::once(self.build.image.clone()).chain(self.build.tags.iter().cloned()).collect()
    }

    /// The compose files (and .env) whose change reloads the project.
    pub(crate) fn recipe_files(&self) -> Vec<PathBuf> {
        self.files
            .iter()
            .cloned()
            .chain(self.env_file.clone())
            .chain(self.env_files_given.iter().cloned())
            .chain(self.included.iter().cloned())
            .collect()
    }
}

/// The project label of the compose service `name` built from `context`.
pub(super) fn service_label(context: &Path, name: &str) -> String {
    format!("{}#{}", context.to_string_lossy(), name)
}

/// A compose duration (`10s`, `1m30s`, `1.5s`, `500ms`, `2h`; units us, ms, s, m, h, as Go
/// writes them), or None when it is not one (compose then refuses the file itself).
fn compose_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let number_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let seconds = match &rest[..unit_end] {
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * seconds;
    }
    Duration::try_from_secs_f64(total).ok()
}

/// The service's `develop.watch` rules, checked: a sync needs a target and a path inside the
/// build context (the only files docker-rebuilder mirrors). A rebuild or restart path outside
/// the context is left out: no build reads it.
fn develop_rules(service: &Service, context: &Path) -> Result<Vec<DevelopRule>> {
    let Some(develop) = &service.develop else { return Ok(Vec::new()) };
    let mut rules = Vec::new();
    for rule in &develop.watch {
        let at = format!("{}:{}", rule.file.display(), rule.line);
        let located = |cause: String, fix: &str| {
            Error::new(ErrorKind::Compose, format!("{at}: {cause}"), fix).at(&rule.file, rule.line)
        };
        let path = rule.path.canonicalize().unwrap_or_else(|_| rule.path.clone());
        let Ok(rel) = path.strip_prefix(context) else {
            if rule.action == WatchAction::Rebuild || rule.action == WatchAction::Restart {
                continue;
            }
            return Err(located(
                format!(
                    "the `develop.watch` sync path {} of the service `{}` is outside its build context {}",
                    rule.path.display(),
                    service.name,
                    context.display()
                ),
                "docker-rebuilder mirrors a service's files from its build context: sync a path inside it",
            ));
        };
        let syncs = matches!(rule.action, WatchAction::Sync | WatchAction::SyncRestart | WatchAction::SyncExec { .. });
        if syncs && !rule.target.as_deref().is_some_and(|t| t.starts_with('/')) {
            return Err(located(
                format!("a `develop.watch` sync rule of the service `{}` has no absolute `target`", service.name),
                "give `target:` the folder in the container the files go to (compose requires it too)",
            ));
        }
        let src = rel.to_string_lossy().replace('\\', "/");
        rules.push(DevelopRule {
            action: rule.action.clone(),
            src,
            target: rule.target.clone(),
            ignore: rule.ignore.clone(),
            include: rule.include.clone(),
            initial_sync: rule.initial_sync,
            at,
        });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_durations_read_as_compose_reads_them() {
        assert_eq!(compose_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(compose_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(compose_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(compose_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(compose_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(compose_duration("250us"), Some(Duration::from_micros(250)));
        for bad in ["", "10", "s", "ten seconds", "1.2.3s", "5d", "-1s"] {
            assert_eq!(compose_duration(bad), None, "{bad}");
        }
    }

    /// A compose folder with `compose` as its compose file and an `api/` context whose
    /// Dockerfile copies `src` and builds it.
    fn folder(compose: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("api/src")).expect("mkdir");
        std::fs::write(dir.path().join("api/src/main.c"), "int main(void) { return 0; }\n").expect("write");
        std::fs::write(dir.path().join("api/Makefile"), "all:\n\tcc -o app src/main.c\n").expect("write");
        std::fs::write(
            dir.path().join("api/Dockerfile"),
            "FROM debian:bookworm-slim\nWORKDIR /src\nCOPY Makefile ./\nCOPY src ./src\nRUN make\n",
        )
        .expect("write");
        std::fs::write(dir.path().join("compose.yaml"), compose).expect("write");
        dir
    }

    fn load(dir: &Path, version: ComposeVersion) -> Result<Project> {
        let options = ComposeOptions { dir: dir.to_path_buf(), ..Default::default() };
        ProjectSource::Service { options, service: "api".into(), twins: Vec::new(), version: Some(version) }.load()
    }

    #[test]
    fn a_service_whose_image_takes_nothing_from_its_context_has_nothing_to_rebuild() {
        let dir = folder("services:\n  api:\n    build: ./api\n    volumes:\n      - ./api:/var/www/html\n");
        std::fs::write(dir.path().join("api/Dockerfile"), "FROM php\nRUN docker-php-ext-install pdo\n").expect("write");
        let err = load(dir.path(), ComposeVersion::V2).expect_err("nothing copied");
        assert_eq!(err.kind, ErrorKind::NothingToRebuild, "{err}");
        assert!(err.cause.starts_with("the service `api`: "), "{err}");
        assert!(err.fix.contains("bind mount") && err.fix.contains("`build.target`"), "{err}");
        let source = ProjectSource::Service {
            options: ComposeOptions { dir: dir.path().to_path_buf(), ..Default::default() },
            service: "api".into(),
            twins: Vec::new(),
            version: Some(ComposeVersion::V2),
        };
        let image = source.service_image().expect("named without the Dockerfile");
        assert!(image.ends_with("-api:latest"), "{image}");
    }

    #[test]
    fn a_service_is_its_context_with_compose_s_build_settings_and_image_name() {
        let dir = folder("services:\n  api:\n    build:\n      context: ./api\n      args:\n        MODE: dev\n");
        let project = load(dir.path(), ComposeVersion::V1).expect("loads");
        // `.tmpXYZ`: both versions drop the dot (v1 every other character, v2 leading ones).
        let name = dir.path().file_name().expect("name").to_string_lossy().to_lowercase();
        let name: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')).collect();
        assert_eq!(project.plan.image, format!("{name}_api:latest"));
        assert_eq!(project.dir, dir.path().join("api").canonicalize().expect("canonical"));
        assert_eq!(project.plan.build_args.get("MODE").map(String::as_str), Some("dev"));
        assert!(project.label().ends_with("/api#api"), "{}", project.label());
        let v2 = load(dir.path(), ComposeVersion::V2).expect("loads");
        assert_eq!(v2.plan.image, format!("{name}-api:latest"));
        // The recipe covers the service's build settings: another arg is another recipe.
        std::fs::write(
            dir.path().join("compose.yaml"),
            "services:\n  api:\n    build:\n      context: ./api\n      args:\n        MODE: prod\n",
        )
        .expect("write");
        assert_ne!(load(dir.path(), ComposeVersion::V1).expect("loads").recipe, project.recipe);
    }

    /// Upgrading must not rebuild every compose service: with no twins, the recipe's part is
    /// what versions before twins computed.
    #[test]
    fn a_service_without_twins_keeps_its_recipe() {
        let dir = folder("services:\n  api:\n    build: ./api\n");
        let project = load(dir.path(), ComposeVersion::V2).expect("loads");
        let service = project.service.as_ref().expect("a service");
        let before: String = Sha256::digest(format!("{:?}", service.build).as_bytes())
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(service.recipe_part(), before);
    }

    #[test]
    fn the_build_platform_is_the_service_s_else_the_build_s_one_platform() {
        let platform = |compose: &str| {
            let dir = folder(compose);
            load(dir.path(), ComposeVersion::V2).expect("loads").config.platform
        };
        let api = "services:\n  api:\n    build:\n      context: ./api\n";
        assert_eq!(platform(api), None);
        assert_eq!(platform(&format!("{api}      platforms: [linux/arm64]\n")).as_deref(), Some("linux/arm64"));
        assert_eq!(platform(&format!("{api}      platforms: [linux/arm64, linux/amd64]\n")), None);
        let both = format!("{api}      platforms: [linux/arm64, linux/amd64]\n    platform: linux/amd64\n");
        assert_eq!(platform(&both).as_deref(), Some("linux/amd64"));
    }

    #[test]
    fn develop_watch_rules_become_the_sync_map_and_full_build_triggers() {
        let dir = folder(
            "services:\n  api:\n    build: ./api\n    develop:\n      watch:\n        - action: sync+restart\n          \
             path: ./api/src\n          target: /src/src\n          ignore: ['*.tmp']\n        - action: rebuild\n          \
             path: ./api/Makefile\n",
        );
        let project = load(dir.path(), ComposeVersion::V1).expect("loads");
        let sync = &project.plan.sync;
        assert_eq!(sync[0].sources, ["src"]);
        assert_eq!(sync[0].dest, "/src/src");
        assert_eq!(sync[0].excludes, ["*.tmp"]);
        assert!(!sync.iter().any(|r| r.dest == "/src/Makefile"), "the develop rules narrow the map: {sync:?}");
        let rebuild = sync.iter().find(|r| r.needs_full_build).expect("a full-build rule");
        assert_eq!(rebuild.sources, ["Makefile"]);
        assert!(rebuild.why.as_deref().is_some_and(|w| w.contains("compose.yaml:10")), "{rebuild:?}");
        let rule = &project.service.as_ref().expect("a service").develop()[0];
        assert_eq!(rule.container_path("src/a/b.c").as_deref(), Some("/src/src/a/b.c"));
        assert_eq!(rule.container_path("srcx/b.c"), None);
        assert_eq!(rule.container_path("Makefile"), None);
    }

    #[test]
    fn include_keeps_only_matching_files_at_any_depth_and_ignore_still_wins() {
        let dir = folder(
            "services:\n  api:\n    build: ./api\n    develop:\n      watch:\n        - action: sync\n          \
             path: ./api/src\n          target: /app\n          include: ['*.c']\n          ignore: ['gen/**']\n",
        );
        for file in ["lib/util.c", "lib/util.h", "gen/out.c", "notes.txt"] {
            let path = dir.path().join("api/src").join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, "x").expect("write");
        }
        let project = load(dir.path(), ComposeVersion::V1).expect("loads");
        let tree =
            crate::sync::walk::scan(&project.plan, &project.ignore, crate::sync::walk::HashSource::Disk).expect("scan");
        let files: Vec<&str> = tree.entries.iter().filter(|(_, f)| !f.host.is_dir()).map(|(p, _)| p.as_str()).collect();
        assert_eq!(files, ["/app/lib/util.c", "/app/main.c"]);
    }

    #[test]
    fn a_sync_without_target_or_outside_the_context_is_a_located_error() {
        let dir = folder(
            "services:\n  api:\n    build: ./api\n    develop:\n      watch:\n        - action: sync\n          path: ./api/src\n",
        );
        let e = load(dir.path(), ComposeVersion::V1).expect_err("no target");
        assert!(e.cause.contains("compose.yaml:6") && e.cause.contains("target"), "{e}");
        assert_eq!(e.location.map(|(_, line)| line), Some(6));
        let dir = folder(
            "services:\n  api:\n    build: ./api\n    develop:\n      watch:\n        - action: sync\n          path: ./docs\n          target: /docs\n",
        );
        std::fs::create_dir_all(dir.path().join("docs")).expect("mkdir");
        let e = load(dir.path(), ComposeVersion::V1).expect_err("outside the context");
        assert!(e.cause.contains("outside its build context"), "{e}");
    }
}
