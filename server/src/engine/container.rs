//! Builder containers: find, create, start, remove, list by label.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HealthConfig, HostConfig, ImageConfig};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
};

use super::{engine_error, is_not_found, Engine};
use crate::error::Result;

/// How to create a builder container.
pub struct BuilderSpec<'a> {
    /// The container's name; empty: the engine picks one.
    pub name: &'a str,
    pub image_id: &'a str,
    /// The image's own config, so the keep-alive is placed where a commit cannot leak it.
    pub image_config: &'a ImageConfig,
    pub labels: HashMap<String, String>,
    /// PID 1: a program that runs until stopped (given an open terminal as its stdin).
    pub keepalive: &'a [&'a str],
    /// Volumes and tmpfs the build's RUN steps mount (`RUN --mount`).
    pub mounts: Vec<super::BuilderMount>,
    /// The network its steps run on, as the full build's RUN steps did (None: the default).
    pub network: Option<&'a str>,
    /// `HOST:IP` lines in its /etc/hosts, as the full build's RUN steps had.
    pub extra_hosts: &'a [String],
}

#[derive(Debug, Clone)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub image_id: String,
    pub running: bool,
    pub paused: bool,
    pub labels: HashMap<String, String>,
}

impl ContainerInfo {
    /// A container as the engine's list describes it.
    pub(super) fn of(c: bollard::models::ContainerSummary) -> ContainerInfo {
        ContainerInfo {
            id: c.id.unwrap_or_default(),
            name: c.names.and_then(|n| n.into_iter().next()).unwrap_or_default().trim_start_matches('/').to_string(),
            image_id: c.image_id.unwrap_or_default(),
            running: c.state.map(|s| s.to_string() == "running").unwrap_or(false),
            paused: false,
            labels: c.labels.unwrap_or_default(),
        }
    }
}

/// Where the builder's keep-alive goes: Cmd when the image has a Cmd and no Entrypoint.
pub(super) fn keepalive_in_cmd(image: &ImageConfig) -> bool {
    let has_entrypoint = image.entrypoint.as_ref().is_some_and(|e| !e.is_empty());
    let has_cmd = image.cmd.as_ref().is_some_and(|c| !c.is_empty());
    has_cmd && !has_entrypoint
}

impl Engine {
    pub async fn container(&self, name: &str) -> Result<Option<ContainerInfo>> {
        match self.docker.inspect_container(name, None).await {
            Ok(c) => {
                let state = c.state.unwrap_or_default();
                Ok(Some(ContainerInfo {
                    id: c.id.unwrap_or_default(),
                    name: c.name.unwrap_or_default().trim_start_matches('/').to_string(),
                    image_id: c.image.unwrap_or_default(),
                    running: state.running.unwrap_or(false),
                    paused: state.paused.unwrap_or(false),
                    labels: c.config.and_then(|c| c.labels).unwrap_or_default(),
                }))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(engine_error(&format!("inspect container {name}"), e)),
        }
    }

    /// Creates and starts a builder. The keep-alive goes into Cmd when the image has no
    /// Entrypoint (so a commit passing the image's Cmd leaves Entrypoint untouched), else into
    /// Entrypoint with no Cmd (so the image's Entrypoint passed on commit wins): either way
    /// the commit's merge with the container's config has nothing of ours to copy.
    pub async fn create_builder(&self, spec: BuilderSpec<'_>) -> Result<String> {
        let what = if spec.name.is_empty() { spec.image_id.to_string() } else { spec.name.to_string() };
        let id = self.create_container(spec).await?;
        if let Err(e) = self.start_container(&id).await {
            // Nothing is left behind by a failed start.
            let _ = self.remove_container(&id).await;
            let no_shell = e.cause.contains("no such file or directory") && e.cause.contains("/bin/sh");
            if no_shell {
                return Err(crate::error::Error::new(
                    crate::error::ErrorKind::Project,
                    format!("the builder {what} cannot start: its image has no /bin/sh to keep it running"),
                    "a builder runs a stage's build commands, so it needs a stage with a shell: when a multi-stage \
                     Dockerfile is meant, check that the final stage copies the build's output (`COPY --from=STAGE`), \
                     or set `target` to the stage that compiles; a distroless/scratch image that only copies files \
                     has nothing to rebuild (`docker build` makes it in about a second)",
                ));
            }
            return Err(e);
        }
        Ok(id)
    }

    /// Creates a container as `create_builder` does, without starting it: one that never
    /// runs (files are put into it, then it is committed) needs no shell in its image.
    pub async fn create_container(&self, spec: BuilderSpec<'_>) -> Result<String> {
        let keepalive: Vec<String> = spec.keepalive.iter().map(|s| s.to_string()).collect();
        let (entrypoint, cmd) =
            if keepalive_in_cmd(spec.image_config) { (None, Some(keepalive)) } else { (Some(keepalive), None) };
        let mounts: Vec<_> = spec.mounts.iter().map(|m| m.to_engine()).collect();
        // The network the user's build asked for (`docker build --network`), only then.
        let build_network = spec.network.filter(|n| *n != "default").map(str::to_string);
        let extra_hosts = (!spec.extra_hosts.is_empty()).then(|| spec.extra_hosts.to_vec());
        let host_config =
            (!mounts.is_empty() || build_network.is_some() || extra_hosts.is_some()).then(|| HostConfig {
                mounts: (!mounts.is_empty()).then_some(mounts),
                network_mode: build_network,
                extra_hosts,
                ..Default::default()
            });
        let body = ContainerCreateBody {
            image: Some(spec.image_id.to_string()),
            host_config,
            entrypoint,
            cmd,
            tty: Some(true),
            open_stdin: Some(true),
            labels: Some(spec.labels),
            // A health check of the app would fail in a builder that never runs it.
            healthcheck: spec
                .image_config
                .healthcheck
                .as_ref()
                .map(|_| HealthConfig { test: Some(vec!["NONE".to_string()]), ..Default::default() }),
            ..Default::default()
        };
        let options = (!spec.name.is_empty()).then(|| CreateContainerOptionsBuilder::default().name(spec.name).build());
        let what =
            if spec.name.is_empty() { format!("a container of {}", spec.image_id) } else { spec.name.to_string() };
        let created = self
            .docker
            .create_container(options, body)
            .await
            .map_err(|e| engine_error(&format!("create the container {what}"), e))?;
        Ok(created.id)
    }

    pub async fn start_container(&self, id: &str) -> Result<()> {
        self.docker
            .start_container(id, None::<bollard::query_parameters::StartContainerOptions>)
            .await
            .map_err(|e| engine_error(&format!("start container {id}"), e))
    }

    /// Stops a running container as `docker stop` does: its stop signal, then a kill after
    /// `grace` (None: the container's own stop timeout, else the engine's 10 s).
    pub async fn stop_container(&self, id: &str, grace: Option<std::time::Duration>) -> Result<()> {
        let mut options = bollard::query_parameters::StopContainerOptionsBuilder::default();
        if let Some(grace) = grace {
            let seconds = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
            options = options.t(i32::try_from(seconds).unwrap_or(i32::MAX));
        }
        self.docker
            .stop_container(id, Some(options.build()))
            .await
            .map_err(|e| engine_error(&format!("stop container {id}"), e))
    }

    pub async fn unpause_container(&self, id: &str) -> Result<()> {
        self.docker.unpause_container(id).await.map_err(|e| engine_error(&format!("unpause container {id}"), e))
    }

    /// Removes a container, running or not. Returns false when it did not exist.
    pub async fn remove_container(&self, id: &str) -> Result<bool> {
        let options = RemoveContainerOptionsBuilder::default().force(true).v(true).build();
        match self.docker.remove_container(id, Some(options)).await {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(engine_error(&format!("remove container {id}"), e)),
        }
    }

    /// Containers (running or not) carrying `label=value`.
    pub async fn containers_with_label(&self, label: &str, value: &str) -> Result<Vec<ContainerInfo>> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{label}={value}")])]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = self.docker.list_containers(Some(options)).await.map_err(|e| engine_error("list containers", e))?;
        Ok(list.into_iter().map(ContainerInfo::of).collect())
    }

    /// How many containers (running or not) use `image_id`.
    pub async fn containers_of_image(&self, image_id: &str) -> Result<usize> {
        let filters = HashMap::from([("ancestor".to_string(), vec![image_id.to_string()])]);
        let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let list = self.docker.list_containers(Some(options)).await.map_err(|e| engine_error("list containers", e))?;
        Ok(list.len())
    }
}
