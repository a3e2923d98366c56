//! The `RUN --mount`s of the rebuild steps, as the builder gives them to each step: BuildKit
//! mounts them for one RUN; a builder keeps them for every cycle (see `rebuild/mounts.rs`).

/// Where a builder mirrors the context folders that `RUN --mount=type=bind` reads: a volume
/// mounted here read-write for the sync, and at the mount's target as BuildKit mounts it.
pub const BIND_MIRRORS: &str = "/.docker-rebuilder/bind";
/// Where a builder keeps the secrets of a step whose target is not under /run/secrets (a
/// tmpfs: never in a commit); the target is a link to the file here while the step runs.
pub const SECRETS_DIR: &str = "/.docker-rebuilder/secrets";
/// BuildKit's default folder for secrets (a tmpfs in the builder).
pub const RUN_SECRETS: &str = "/run/secrets";
/// Where a builder has the user's SSH agent socket (a bind of `$SSH_AUTH_SOCK`); an ssh
/// mount's target is a link to it while its step runs.
pub const SSH_AGENT: &str = "/.docker-rebuilder/ssh-agent.sock";

/// A rebuild step's mount, expanded and made absolute against the step's WORKDIR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepMount {
    /// A cache kept between builds (BuildKit's cache id: `id`, by default the target).
    Cache { id: String, target: String, read_only: bool, owner: Option<(u32, u32)>, mode: Option<u32> },
    /// A context folder (or the whole context) seen at `target`: mirrored into `mirror` by a
    /// sync rule, read-only at `target` unless `read_write`.
    Bind { source: String, target: String, read_write: bool, mirror: String },
    /// A folder of another stage (`from=` names a stage, `stage` its index) or of an image,
    /// seen at `target`: copied into `mirror` from that stage's image whenever a builder is
    /// made (a stage that reads nothing from the context changes only with a full build),
    /// read-only at `target` unless `read_write`.
    BindFrom { from: String, stage: Option<usize>, source: String, target: String, read_write: bool, mirror: String },
    /// An empty tmpfs.
    Tmpfs { target: String, size: Option<i64> },
    /// A secret from rebuilder.toml's `[secrets]`: a file at `target` (None: only `env`), or
    /// the variable `env`, while the step runs.
    Secret { id: String, target: Option<String>, env: Option<String>, required: bool, mode: u32, owner: (u32, u32) },
    /// The user's ssh agent (`--mount=type=ssh`).
    Ssh { id: String, target: String, required: bool },
}

impl StepMount {
    pub fn target(&self) -> Option<&str> {
        match self {
            StepMount::Cache { target, .. }
            | StepMount::Bind { target, .. }
            | StepMount::BindFrom { target, .. }
            | StepMount::Tmpfs { target, .. }
            | StepMount::Ssh { target, .. } => Some(target),
            StepMount::Secret { target, .. } => target.as_deref(),
        }
    }

    /// How `status` shows it: as the Dockerfile wrote it, expanded.
    pub fn describe(&self) -> String {
        match self {
            StepMount::Cache { id, target, .. } if id == target => format!("type=cache,target={target}"),
            StepMount::Cache { id, target, .. } => format!("type=cache,id={id},target={target}"),
            StepMount::Bind { source, target, read_write, .. } => {
                let source = if source.is_empty() { "." } else { source };
                format!("type=bind,source={source},target={target}{}", if *read_write { ",rw" } else { "" })
            }
            StepMount::BindFrom { from, source, target, read_write, .. } => {
                format!("type=bind,from={from},source={source},target={target}{}", if *read_write { ",rw" } else { "" })
            }
            StepMount::Tmpfs { target, .. } => format!("type=tmpfs,target={target}"),
            StepMount::Secret { id, target: Some(target), .. } => format!("type=secret,id={id},target={target}"),
            StepMount::Secret { id, env, .. } => {
                format!("type=secret,id={id},env={}", env.as_deref().unwrap_or_default())
            }
            StepMount::Ssh { id, .. } => format!("type=ssh,id={id}"),
        }
    }

    /// Where a secret's file is while the step runs: at its target when that is under
    /// /run/secrets (a tmpfs), else in [`SECRETS_DIR`] (the target a link to it).
    pub fn secret_file(&self) -> Option<String> {
        let StepMount::Secret { id, target, env, .. } = self else { return None };
        match target {
            Some(t) if t.starts_with(&format!("{RUN_SECRETS}/")) => Some(t.clone()),
            Some(_) => Some(format!("{SECRETS_DIR}/{}", super::sanitize_name(id))),
            // Only an env: the file the variable is read from.
            None if env.is_some() => Some(format!("{SECRETS_DIR}/{}", super::sanitize_name(id))),
            None => None,
        }
    }
}

/// The `--mount` text of a RUN in the form `status` shows, e.g. `[cache /root/.cache/go-build]`.
pub fn mounts_label(mounts: &[StepMount]) -> String {
    mounts.iter().map(|m| format!("--mount={}", m.describe())).collect::<Vec<_>>().join(" ")
}

/// What the walk makes of a RUN's mounts: the step's mounts, the context folders they read
/// (each a sync rule into its mirror), and why a mount cannot be mirrored, if one cannot.
#[derive(Debug, Default)]
pub(super) struct RunMounts {
    pub mounts: Vec<StepMount>,
    /// (context source, mirror path) of each context bind mount.
    pub binds: Vec<(String, String)>,
    /// A mount a builder cannot give the step (a bind mount of another stage's files).
    pub unmirrorable: Option<String>,
}

/// Resolves a RUN's `--mount`s against the walk's state: `expand` expands a value, `workdir`
/// makes targets absolute, `next_mirror` numbers the bind mirrors of the builder.
pub(super) fn resolve(
    mounts: &[crate::project::dockerfile::Mount],
    expand: &dyn Fn(&crate::project::dockerfile::Mount) -> Result<crate::project::dockerfile::Mount, String>,
    workdir: &str,
    next_mirror: &mut usize,
) -> Result<RunMounts, String> {
    use crate::project::dockerfile::MountKind;
    let absolute = |target: Option<&str>| {
        let target = target.unwrap_or(".");
        super::clean_container_path(&super::join_container(workdir, target))
    };
    let mut out = RunMounts::default();
    for raw in mounts {
        let m = expand(raw)?;
        match m.kind {
            MountKind::Cache => {
                let target = absolute(m.target.as_deref());
                out.mounts.push(StepMount::Cache {
                    id: m.id.clone().unwrap_or_else(|| target.clone()),
                    target,
                    read_only: m.read_only,
                    owner: (m.uid.is_some() || m.gid.is_some()).then(|| (m.uid.unwrap_or(0), m.gid.unwrap_or(0))),
                    mode: m.mode,
                });
            }
            MountKind::Bind if m.from.is_some() => {
                // A path in the stage's (or image's) filesystem, from its root.
                let source =
                    super::clean_container_path(&super::join_container("/", m.source.as_deref().unwrap_or("/")));
                let mirror = format!("{BIND_MIRRORS}/{}", *next_mirror);
                *next_mirror += 1;
                out.mounts.push(StepMount::BindFrom {
                    from: m.from.clone().unwrap_or_default(),
                    stage: None,
                    source,
                    target: absolute(m.target.as_deref()),
                    read_write: !m.read_only,
                    mirror,
                });
            }
            MountKind::Bind => {
                let source = super::clean_relative(m.source.as_deref().unwrap_or("."));
                let source = if source == "." { String::new() } else { source };
                if source == ".." || source.starts_with("../") {
                    // Outside the context: `docker build` refuses it; nothing to mirror.
                    continue;
                }
                let mirror = format!("{BIND_MIRRORS}/{}", *next_mirror);
                *next_mirror += 1;
                out.binds.push((source.clone(), mirror.clone()));
                out.mounts.push(StepMount::Bind {
                    source,
                    target: absolute(m.target.as_deref()),
                    read_write: !m.read_only,
                    mirror,
                });
            }
            MountKind::Tmpfs => out.mounts.push(StepMount::Tmpfs {
                target: absolute(m.target.as_deref()),
                size: m.size.and_then(|s| i64::try_from(s).ok()),
            }),
            MountKind::Secret => {
                let id = m.id.clone().or_else(|| m.source.clone()).unwrap_or_default();
                let target = match (&m.target, &m.env) {
                    (Some(t), _) => Some(absolute(Some(t))),
                    (None, Some(_)) => None,
                    (None, None) => Some(format!("{RUN_SECRETS}/{id}")),
                };
                out.mounts.push(StepMount::Secret {
                    id,
                    target,
                    env: m.env.clone(),
                    required: m.required,
                    mode: m.mode.unwrap_or(0o400),
                    owner: (m.uid.unwrap_or(0), m.gid.unwrap_or(0)),
                });
            }
            MountKind::Ssh => out.mounts.push(StepMount::Ssh {
                id: m.id.clone().unwrap_or_else(|| "default".to_string()),
                target: absolute(m.target.as_deref()),
                required: m.required,
            }),
        }
    }
    Ok(out)
}

/// A step's argv with its env secrets set from their files (`--mount=type=secret,env=VAR`):
/// the value never passes through the exec's environment, a log or the command line.
pub(super) fn with_env_secrets(argv: Vec<String>, mounts: &[StepMount]) -> Vec<String> {
    let mut exports = String::new();
    for m in mounts {
        if let (StepMount::Secret { env: Some(var), .. }, Some(file)) = (m, m.secret_file()) {
            let file = file.replace('\'', "'\\''");
            exports.push_str(&format!("if [ -f '{file}' ]; then {var}=\"$(cat '{file}')\"; export {var}; fi; "));
        }
    }
    if exports.is_empty() {
        return argv;
    }
    let script = format!("{exports}exec \"$@\"");
    ["/bin/sh".to_string(), "-c".to_string(), script, "sh".to_string()].into_iter().chain(argv).collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Plan, ELSEWHERE};
    use super::*;
    use crate::project::config::Config;

    fn plan(dockerfile: &str, files: &[&str]) -> Plan {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("Dockerfile"), dockerfile).expect("write");
        for f in files {
            let path = dir.path().join(f);
            if f.ends_with('/') {
                std::fs::create_dir_all(&path).expect("mkdir");
            } else {
                std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
                std::fs::write(path, "x").expect("write");
            }
        }
        Plan::infer(dir.path(), &Config::default()).expect("plan")
    }

    #[test]
    fn docker_init_go_builds_from_a_bind_mount_with_the_module_files_watched() {
        let p = plan(
            "FROM golang AS build\nWORKDIR /src\n\
             RUN --mount=type=cache,target=/go/pkg/mod/ --mount=type=bind,source=go.sum,target=go.sum \\\n    \
             --mount=type=bind,source=go.mod,target=go.mod go mod download -x\n\
             ARG TARGETARCH\n\
             RUN --mount=type=cache,target=/go/pkg/mod/ --mount=type=bind,target=. CGO_ENABLED=0 GOARCH=$TARGETARCH go build -o /bin/server .\n\
             FROM alpine AS final\n\
             RUN --mount=type=cache,target=/var/cache/apk apk --update add ca-certificates\n\
             USER appuser\nCOPY --from=build /bin/server /bin/\nENTRYPOINT [ \"/bin/server\" ]\n",
            &["go.mod", "go.sum", "main.go"],
        );
        assert_eq!(p.builders.len(), 1);
        let b = &p.builders[0];
        assert_eq!(b.stage.name.as_deref(), Some("build"));
        let displays: Vec<&str> = b.steps.iter().map(|s| s.display.as_str()).collect();
        assert_eq!(displays, ["CGO_ENABLED=0 GOARCH=$TARGETARCH go build -o /bin/server ."]);
        let mounts = &b.steps[0].mounts;
        assert!(mounts.contains(&StepMount::Cache {
            id: "/go/pkg/mod".into(),
            target: "/go/pkg/mod".into(),
            read_only: false,
            owner: None,
            mode: None
        }));
        let bind = mounts.iter().find(|m| matches!(m, StepMount::Bind { .. })).expect("a bind mount");
        let StepMount::Bind { source, target, read_write, mirror } = bind else { unreachable!() };
        assert_eq!((source.as_str(), target.as_str(), *read_write), ("", "/src", false));
        let mirrored = b.sync.iter().find(|r| r.dest == *mirror).expect("the context is mirrored");
        assert!(!mirrored.needs_full_build);
        assert_eq!(mirrored.sources, [""]);
        // go.mod and go.sum feed `go mod download`, before the build: a change there is a full build.
        let watched: Vec<&SyncRule> = b.sync.iter().filter(|r| r.needs_full_build).collect();
        assert_eq!(watched.len(), 2, "{:?}", b.sync);
        assert!(watched.iter().all(|r| r.dest.starts_with(ELSEWHERE)), "{watched:?}");
        let assembly = p.assembly.as_ref().expect("the final stage is replayed");
        assert_eq!(assembly.unreplayable, None, "the cache mount comes before the replay point");
    }

    use super::super::SyncRule;

    #[test]
    fn a_bound_file_is_copied_to_its_target_and_a_bound_folder_is_mirrored() {
        let p = plan(
            "FROM rust\nWORKDIR /app\n\
             RUN --mount=type=bind,source=src,target=src --mount=type=bind,source=Cargo.toml,target=Cargo.toml \\\n    \
             --mount=type=cache,target=/app/target/ cargo build --locked --release\nCMD [\"/app/target/release/app\"]\n",
            &["Cargo.toml", "src/main.rs"],
        );
        let file = p.sync.iter().find(|r| r.sources == ["Cargo.toml"]).expect("Cargo.toml");
        assert_eq!((file.dest.as_str(), file.dest_is_dir), ("/app/Cargo.toml", false));
        let folder = p.sync.iter().find(|r| r.sources == ["src"]).expect("src");
        assert!(folder.dest.starts_with(BIND_MIRRORS), "{folder:?}");
        let mounts = &p.steps[0].mounts;
        assert_eq!(mounts.iter().filter(|m| matches!(m, StepMount::Bind { .. })).count(), 1, "{mounts:?}");
        assert!(mounts.iter().any(|m| matches!(m, StepMount::Cache { target, .. } if target == "/app/target")));
    }

    #[test]
    fn a_secret_in_a_variable_is_read_from_its_file_by_the_step_itself() {
        let p = plan(
            "FROM node\nWORKDIR /app\nCOPY . .\nRUN --mount=type=secret,id=npm,env=NPM_TOKEN --mount=type=secret,id=aws npm ci\n",
            &["package.json"],
        );
        let step = &p.steps[0];
        assert_eq!(step.display, "npm ci");
        assert_eq!(step.argv[..2], ["/bin/sh", "-c"]);
        assert!(step.argv[2].contains("NPM_TOKEN=\"$(cat '/.docker-rebuilder/secrets/npm')\""), "{:?}", step.argv);
        assert!(!step.argv[2].contains("aws"), "a file secret sets no variable");
        assert_eq!(step.argv[3..], ["sh", "/bin/sh", "-c", "npm ci"]);
        let aws = step.mounts.iter().find(|m| matches!(m, StepMount::Secret { id, .. } if id == "aws")).expect("aws");
        assert_eq!(aws.secret_file().as_deref(), Some("/run/secrets/aws"));
        assert_eq!(aws.target(), Some("/run/secrets/aws"));
    }

    #[test]
    fn a_bind_of_a_stage_without_sources_is_mounted_and_one_with_sources_means_full_builds() {
        let p = plan(
            "FROM busybox AS tools\nRUN make-tools\n\
             FROM busybox\nWORKDIR /app\nCOPY src/ src/\n\
             RUN --mount=type=bind,from=tools,source=opt/t,target=/tools /tools/run\n",
            &["src/a.txt"],
        );
        let mount = p.steps.iter().flat_map(|s| &s.mounts).next().expect("a mount");
        match mount {
            StepMount::BindFrom { from, stage, source, target, read_write, .. } => {
                assert_eq!(
                    (from.as_str(), *stage, source.as_str(), target.as_str()),
                    ("tools", Some(0), "/opt/t", "/tools")
                );
                assert!(!read_write);
            }
            other => panic!("{other:?}"),
        }
        assert!(p.builders[0].sync.iter().all(|r| !r.needs_full_build), "{:?}", p.builders[0].sync);

        // The bound stage copies from the context: a change there changes what the step sees.
        let p = plan(
            "FROM busybox AS gen\nCOPY gen.txt /gen/\n\
             FROM busybox\nWORKDIR /app\nCOPY src/ src/\n\
             RUN --mount=type=bind,from=gen,source=/gen,target=/gen cat /gen/gen.txt src/a.txt\n",
            &["src/a.txt", "gen.txt"],
        );
        let rule = p.builders[0].sync.iter().find(|r| r.dest.ends_with("src")).expect("src rule");
        assert!(rule.needs_full_build, "{rule:?}");
        assert!(rule.why.as_deref().is_some_and(|w| w.contains("stage gen") && w.contains("context")), "{rule:?}");
    }
}
