//! The only module that talks to the Docker Engine API (through bollard). Everything above
//! it speaks in terms of images, builders, archives and commands, never HTTP or bollard types.

mod buildkit;
mod commit;
mod compose;
mod container;
mod endpoint;
mod exec;
mod files;
mod image;
mod podman;
mod volume;

pub use buildkit::{BuildEvent, BuildKitRequest, BuilderSupport, SecretSource, StepState};
pub use commit::CommitConfig;
pub use compose::{installed_compose_is_v1, ComposeRun, ComposeStandby, ServiceContainer};
pub use container::{BuilderSpec, ContainerInfo};
pub use exec::{Attached, ExecExit, ExecRequest, OutputStream, Stdin};
pub use image::{BuildRequest, ImageInfo};
pub use volume::BuilderMount;

use std::sync::Arc;

use bollard::Docker;

use endpoint::Endpoint;

use crate::error::{Error, ErrorKind, Result};

/// A connection to a Docker engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    /// Where bollard connected, for the requests we make ourselves (a BuildKit build).
    endpoint: Endpoint,
    /// What the engine's builder offers, asked once (`builder_support`).
    builder_support: Arc<tokio::sync::OnceCell<BuilderSupport>>,
    /// `shares_host_files`, asked once (a step's ssh mount asks it every cycle).
    host_files: Arc<tokio::sync::OnceCell<bool>>,
    /// `is_podman`, asked once (every commit asks it).
    podman: Arc<tokio::sync::OnceCell<bool>>,
}

impl Engine {
    /// Whether the engine runs on this machine and shares its files (a local socket on Linux,
    /// not Docker Desktop's VM): then a host path can be mounted into a container.
    pub async fn shares_host_files(&self) -> bool {
        if !cfg!(target_os = "linux") || !matches!(self.endpoint, Endpoint::Unix(_)) {
            return false;
        }
        // An engine that does not answer now is asked again next time.
        let asked = self.host_files.get_or_try_init(|| async {
            let info = self.docker.info().await?;
            Ok::<bool, bollard::errors::Error>(!info.operating_system.unwrap_or_default().contains("Docker Desktop"))
        });
        asked.await.is_ok_and(|shares| *shares)
    }

    /// Connects the way the `docker` CLI does (DOCKER_HOST, else the local socket) and checks
    /// that the engine answers, so every later failure is about the request, not the daemon.
    pub async fn connect() -> Result<Engine> {
        let docker = Docker::connect_with_defaults().map_err(|e| unavailable(&e.to_string()))?;
        let docker = docker.negotiate_version().await.map_err(|e| unavailable(&e.to_string()))?;
        docker.ping().await.map_err(|e| unavailable(&e.to_string()))?;
        Ok(Engine {
            docker,
            endpoint: Endpoint::from_env(),
            builder_support: Arc::default(),
            host_files: Arc::default(),
            podman: Arc::default(),
        })
    }
}

fn unavailable(detail: &str) -> Error {
    let host = match std::env::var("DOCKER_HOST") {
        Ok(h) if !h.is_empty() => format!("DOCKER_HOST={h}"),
        _ => "the default socket unix:///var/run/docker.sock (DOCKER_HOST is not set)".to_string(),
    };
    Error::new(
        ErrorKind::EngineUnavailable,
        format!("no Docker engine answers at {host}: {detail}"),
        "start the Docker engine (`sudo systemctl start docker`, or run `dockerd`), \
         or set DOCKER_HOST to the address of a running engine",
    )
}

/// Turns a bollard error into ours: a vanished daemon is "unavailable", anything else names
/// what we were doing.
pub(crate) fn engine_error(doing: &str, err: bollard::errors::Error) -> Error {
    use bollard::errors::Error as B;
    match err {
        B::DockerResponseServerError { status_code, message } => Error::new(
            ErrorKind::Engine,
            format!("the Docker engine refused to {doing} (HTTP {status_code}): {message}"),
            "",
        ),
        B::DockerStreamError { error } => Error::new(ErrorKind::Engine, format!("{doing} failed: {error}"), ""),
        B::RequestTimeoutError => Error::new(
            ErrorKind::Engine,
            format!("the Docker engine did not answer in time while trying to {doing}"),
            "check that the engine is healthy (`docker info`)",
        ),
        other => unavailable(&format!("while trying to {doing}: {other}")),
    }
}

pub(crate) fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(err, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}
