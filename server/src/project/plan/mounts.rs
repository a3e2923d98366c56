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

/// A rebuild step's mount, expanded and made absolute against the step's WORKDIR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepMount {
    /// A cache kept between builds (BuildKit's cache id: `id`, by default the target).
    Cache { id: String, target: String, read_only: bool, owner: Option<(u32, u32)>, mode: Option<u32> },
    /// A context folder (or the whole context) seen at `target`: mirrored into `mirror` by a
    /// sync rule, read-only at `target` unless `read_write`.
    Bind { source: String, target: String, read_write: bool, mirror: String },
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
