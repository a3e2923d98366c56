//! A builder's `RUN --mount`s. BuildKit mounts them for one RUN; a builder runs its steps by
//! exec in one long-lived container, so it gets them all when it is created: cache mounts as
//! named volumes kept between builders (a commit never takes a volume's files), context
//! folders a bind mount reads as a volume the sync writes through a hidden path and the step
//! sees read-only at the target, tmpfs as tmpfs, and secrets as files in a tmpfs written just
//! before the step and removed after it.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use super::Rebuilder;
use crate::engine::{BuilderMount, ExecRequest, Stdin};
use crate::error::{Error, ErrorKind, Result};
use crate::project::config::SecretEntry;
use crate::project::plan::{sanitize_name, Step, StepMount, BIND_MIRRORS, RUN_SECRETS, SECRETS_DIR, SSH_AGENT};
use crate::project::{LABEL_CACHE_ID, LABEL_PROJECT, LABEL_ROLE, ROLE_BIND, ROLE_CACHE};
use crate::sync::Manifest;

impl Rebuilder {
    /// The mounts a new builder gets: every mount of its steps. Cache volumes are made when
    /// missing and kept; bind mirrors are made empty (a new builder's manifest holds none of
    /// their files, see `forget_bind_mirrors`).
    /// Also says whether a cache volume was made now (it is empty).
    pub(super) async fn builder_mounts(&self) -> Result<(Vec<BuilderMount>, bool)> {
        let mut mounts: Vec<BuilderMount> = Vec::new();
        let mut new_cache = false;
        let add = |mount: BuilderMount, mounts: &mut Vec<BuilderMount>| {
            if !mounts.iter().any(|m| m.target() == mount.target()) {
                mounts.push(mount);
            }
        };
        let all: Vec<StepMount> = self.project.plan.steps.iter().flat_map(|s| s.mounts.iter().cloned()).collect();
        for mount in &all {
            match mount {
                StepMount::Cache { id, target, read_only, .. } => {
                    let name = self.cache_volume(id);
                    let labels = HashMap::from([
                        (LABEL_PROJECT.to_string(), self.project.label()),
                        (LABEL_ROLE.to_string(), ROLE_CACHE.to_string()),
                        (LABEL_CACHE_ID.to_string(), id.clone()),
                    ]);
                    new_cache |= self.engine.ensure_volume(&name, labels).await?;
                    add(BuilderMount::Volume { name, target: target.clone(), read_only: *read_only }, &mut mounts);
                }
                StepMount::Bind { target, read_write, mirror, .. }
                | StepMount::BindFrom { target, read_write, mirror, .. } => {
                    let name = self.bind_volume(mirror);
                    // Emptied: the new builder's manifest lists none of its files.
                    self.engine.remove_volume(&name).await?;
                    let labels = HashMap::from([
                        (LABEL_PROJECT.to_string(), self.project.label()),
                        (LABEL_ROLE.to_string(), ROLE_BIND.to_string()),
                    ]);
                    self.engine.ensure_volume(&name, labels).await?;
                    let rw = BuilderMount::Volume { name: name.clone(), target: mirror.clone(), read_only: false };
                    add(rw, &mut mounts);
                    add(BuilderMount::Volume { name, target: target.clone(), read_only: !read_write }, &mut mounts);
                }
                StepMount::Tmpfs { target, size } => {
                    add(BuilderMount::Tmpfs { target: target.clone(), size: *size, mode: None }, &mut mounts)
                }
                StepMount::Secret { .. } => {
                    let in_run_secrets = mount.secret_file().is_some_and(|f| f.starts_with(RUN_SECRETS));
                    let (target, mode) = if in_run_secrets { (RUN_SECRETS, 0o755) } else { (SECRETS_DIR, 0o700) };
                    add(BuilderMount::Tmpfs { target: target.to_string(), size: None, mode: Some(mode) }, &mut mounts);
                }
                StepMount::Ssh { .. } => {
                    if let Some(socket) = self.ssh_agent_for_builder().await {
                        add(BuilderMount::SshAgent { socket, target: SSH_AGENT.to_string() }, &mut mounts);
                    }
                }
            }
        }
        Ok((mounts, new_cache))
    }

    /// The user's SSH agent socket (`$SSH_AUTH_SOCK`), when a builder can have it: the engine
    /// runs on this machine and sees its files. Elsewhere a step's ssh mount gets no agent
    /// (a full build forwards it through the BuildKit session).
    async fn ssh_agent_for_builder(&self) -> Option<std::path::PathBuf> {
        let socket = std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()).map(std::path::PathBuf::from)?;
        if !socket.exists() || !self.engine.shares_host_files().await {
            return None;
        }
        Some(socket)
    }

    /// Links each ssh mount's target to the builder's agent socket for `step` (BuildKit
    /// mounts the agent for that one RUN). A required mount without an agent is an error that
    /// says why, as BuildKit's build fails.
    pub(super) async fn put_ssh(&self, builder: &str, step: &Step) -> Result<bool> {
        let targets: Vec<(&str, bool)> = step
            .mounts
            .iter()
            .filter_map(|m| match m {
                StepMount::Ssh { target, required, .. } => Some((target.as_str(), *required)),
                _ => None,
            })
            .collect();
        if targets.is_empty() {
            return Ok(false);
        }
        let agent = self.ssh_agent_for_builder().await;
        if agent.is_none() {
            if targets.iter().any(|(_, required)| *required) {
                return Err(Error::new(
                    ErrorKind::Config,
                    format!(
                        "the step `{}` (Dockerfile line {}) needs the SSH agent, which this builder does not have",
                        step.display, step.line
                    ),
                    "start an agent (`eval \"$(ssh-agent)\"`, then `ssh-add`) where docker-rebuilder runs; on an \
                     engine on another machine or in a VM, build with `--full` (the full build forwards it)",
                ));
            }
            return Ok(false);
        }
        let mut script = String::new();
        for (target, _) in &targets {
            script.push_str(&format!(
                "mkdir -p \"$(dirname {t})\" && ln -sfn {SSH_AGENT} {t} && ",
                t = shell_quote(target)
            ));
        }
        script.push_str("true");
        let argv = ["/bin/sh".to_string(), "-c".to_string(), script];
        self.quiet_exec(builder, &argv, None, "put the SSH agent in place").await?;
        Ok(true)
    }

    /// Removes what `put_ssh` linked for `step`.
    pub(super) async fn take_ssh(&self, builder: &str, step: &Step) -> Result<()> {
        let targets: Vec<String> = step
            .mounts
            .iter()
            .filter_map(|m| match m {
                StepMount::Ssh { target, .. } => Some(shell_quote(target)),
                _ => None,
            })
            .collect();
        let argv = ["/bin/sh".to_string(), "-c".to_string(), format!("rm -f {}", targets.join(" "))];
        self.quiet_exec(builder, &argv, None, "remove the step's SSH agent link").await
    }

    /// Whether a step reads context folders through a bind mount (mirrored in volumes).
    pub(super) fn has_bind_mirrors(&self) -> bool {
        self.project.plan.steps.iter().flat_map(|s| &s.mounts).any(|m| matches!(m, StepMount::Bind { .. }))
    }

    /// Sets the owner and mode a cache mount asks for (`uid`, `gid`, `mode`) on its volume.
    pub(super) async fn init_mounts(&self, builder: &str) -> Result<()> {
        let mut script = String::new();
        for mount in self.project.plan.steps.iter().flat_map(|s| &s.mounts) {
            if let StepMount::Cache { target, owner, mode, .. } = mount {
                if let Some((uid, gid)) = owner {
                    script.push_str(&format!("chown {uid}:{gid} {} && ", shell_quote(target)));
                }
                if let Some(mode) = mode {
                    script.push_str(&format!("chmod {mode:o} {} && ", shell_quote(target)));
                }
            }
        }
        if script.is_empty() {
            return Ok(());
        }
        script.push_str("true");
        self.quiet_exec(builder, &["/bin/sh".into(), "-c".into(), script], None, "set up the cache mounts").await
    }

    /// The volume of the cache `id`: one per project and id, shared by its builders.
    fn cache_volume(&self, id: &str) -> String {
        let digest = Sha256::digest(id.as_bytes());
        let short: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
        let readable: String = sanitize_name(id).chars().take(40).collect();
        format!("{}-cache-{readable}-{short}", self.project.base_name())
    }

    /// The volume behind a bind mount's mirror: one per builder and mount.
    fn bind_volume(&self, mirror: &str) -> String {
        let n = mirror.rsplit('/').next().unwrap_or_default();
        format!("{}-bind-{n}", self.project.builder_name())
    }

    /// Writes the secrets `step` mounts into the builder's tmpfs (links at targets outside
    /// /run/secrets). A required secret that rebuilder.toml does not give, or whose source
    /// is missing, is an error naming it; an optional one is left out, as BuildKit does.
    pub(super) async fn put_secrets(&self, builder: &str, step: &Step) -> Result<bool> {
        let mut any = false;
        for mount in &step.mounts {
            let StepMount::Secret { id, target, required, mode, owner, .. } = mount else { continue };
            let Some(file) = mount.secret_file() else { continue };
            let value = match self.secret_value(id)? {
                Some(v) => v,
                None if *required => return Err(self.missing_secret(id, step)),
                None => continue,
            };
            let link = target.as_ref().filter(|t| **t != file);
            let mut script = format!(
                "umask 077 && mkdir -p \"$(dirname {f})\" && cat > {f} && chown {}:{} {f} && chmod {mode:o} {f}",
                owner.0,
                owner.1,
                f = shell_quote(&file)
            );
            if let Some(link) = link {
                script.push_str(&format!(
                    " && mkdir -p \"$(dirname {t})\" && ln -sfn {f} {t}",
                    t = shell_quote(link),
                    f = shell_quote(&file)
                ));
            }
            let argv = ["/bin/sh".to_string(), "-c".to_string(), script];
            self.quiet_exec(builder, &argv, Some(&value), &format!("put the secret `{id}` in place")).await?;
            any = true;
        }
        Ok(any)
    }

    /// Removes what `put_secrets` wrote for `step`.
    pub(super) async fn take_secrets(&self, builder: &str, step: &Step) -> Result<()> {
        let mut paths = Vec::new();
        for mount in &step.mounts {
            if let (StepMount::Secret { target, .. }, Some(file)) = (mount, mount.secret_file()) {
                paths.push(shell_quote(&file));
                if let Some(t) = target.as_ref().filter(|t| **t != file) {
                    paths.push(shell_quote(t));
                }
            }
        }
        if paths.is_empty() {
            return Ok(());
        }
        let argv = ["/bin/sh".to_string(), "-c".to_string(), format!("rm -f {}", paths.join(" "))];
        self.quiet_exec(builder, &argv, None, "remove the step's secrets").await
    }

    /// A secret's value from rebuilder.toml's `[secrets]`; None when not given or its source
    /// is missing.
    fn secret_value(&self, id: &str) -> Result<Option<Vec<u8>>> {
        match self.project.config.secrets.get(id) {
            None => Ok(None),
            Some(SecretEntry::Env { env }) => Ok(std::env::var_os(env).map(|v| v.into_encoded_bytes())),
            Some(SecretEntry::Path(path) | SecretEntry::File { file: path }) => {
                match std::fs::read(self.project.dir.join(path)) {
                    Ok(bytes) => Ok(Some(bytes)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(Error::io(format!("cannot read the secret `{id}` from {path}"), e)),
                }
            }
        }
    }

    fn missing_secret(&self, id: &str, step: &Step) -> Error {
        let fix = match self.project.config.secrets.get(id) {
            Some(SecretEntry::Env { env }) => {
                format!("set the environment variable {env} before starting docker-rebuilder")
            }
            Some(SecretEntry::Path(path) | SecretEntry::File { file: path }) => {
                format!("create {} (relative to {})", path, self.project.dir.display())
            }
            None => format!(
                "give it in rebuilder.toml, as `docker build --secret id={id},...` would: `[secrets]` then \
                 `{id} = \"path/relative/to/the/project\"` or `{id} = {{ env = \"VARIABLE\" }}`"
            ),
        };
        Error::new(
            ErrorKind::Config,
            format!(
                "the step `{}` (Dockerfile line {}) needs the secret `{id}`, which is not given",
                step.display, step.line
            ),
            fix,
        )
    }

    /// Runs a short command of ours in the builder as root, its output kept out of every log.
    async fn quiet_exec(&self, builder: &str, argv: &[String], input: Option<&[u8]>, doing: &str) -> Result<()> {
        let ready = tokio::sync::Notify::new();
        ready.notify_one();
        let request = ExecRequest {
            argv,
            display: doing,
            workdir: None,
            env: &[],
            user: Some("0"),
            stdin: input.map(|bytes| Stdin { bytes, ready: &ready }),
        };
        let mut output = Vec::new();
        let exit = self
            .engine
            .exec(builder, request, None, None, &mut |_: crate::engine::OutputStream, b: &[u8]| {
                output.extend_from_slice(b)
            })
            .await?;
        if exit.code != 0 {
            return Err(Error::new(
                ErrorKind::Engine,
                format!("could not {doing} in the builder (exit {})", exit.code),
                "the builder needs /bin/sh with mkdir, cat, chown, chmod, ln and rm (coreutils or busybox)",
            ));
        }
        Ok(())
    }
}

/// Drops the files of bind-mount mirrors from a manifest for a new builder: its mirror
/// volumes start empty, so the next cycle sends those files.
pub(super) fn forget_bind_mirrors(manifest: &mut Manifest) {
    manifest.entries.retain(|path, _| !path.starts_with(&format!("{BIND_MIRRORS}/")) && path != BIND_MIRRORS);
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
