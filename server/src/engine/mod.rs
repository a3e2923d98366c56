//! The only module that talks to the Docker Engine API (through bollard). Everything above
//! it speaks in terms of images, builders, archives and commands, never HTTP or bollard types.

mod buildkit;
mod commit;
mod compose;
mod compose_env;
mod connect;
mod container;
mod container_exit;
mod credentials;
mod endpoint;
mod exec;
mod files;
mod image;
mod podman;
mod push;
mod ssh;
mod target;
mod tls;
mod transport;
mod volume;

pub use buildkit::{BuildEvent, BuildKitRequest, BuilderSupport, SecretSource, StepState};
pub use commit::CommitConfig;
pub use compose::{installed_compose_is_v1, ComposeRun, ComposeStandby, ContainerMount, ServiceContainer};
pub use compose_env::EnvChange;
pub use connect::{resolve as resolve_target, use_flags};
pub use container::{BuilderSpec, ContainerInfo};
pub use container_exit::{is_stop_code, ContainerExit};
pub use exec::{Attached, ExecExit, ExecRequest, OutputStream, ShellIo, Stdin};
pub use image::{BuildRequest, ImageInfo};
pub use target::{ContextNamedBy, EngineFlags, EngineSource, Target};
pub use volume::BuilderMount;

use std::sync::Arc;

use bollard::Docker;

use endpoint::Endpoint;

use crate::error::{Error, ErrorKind, Result};

/// A connection to a Docker engine.
#[derive(Clone)]
pub struct Engine {
    docker: Docker,
    /// Where bollard connects, for the requests we make ourselves (a BuildKit build).
    endpoint: Endpoint,
    /// The engine docker would use, and why (shown by `status`, named in errors).
    target: Arc<Target>,
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

    /// Connects to the engine the `docker` CLI would use (its flags, DOCKER_HOST, the context)
    /// and checks that it answers, so every later failure is about the request, not the daemon.
    pub async fn connect() -> Result<Engine> {
        let target = connect::resolve()?;
        let (docker, endpoint) = connect::connect(&target).await?;
        Ok(Engine {
            docker,
            endpoint,
            target: Arc::new(target),
            builder_support: Arc::default(),
            host_files: Arc::default(),
            podman: Arc::default(),
        })
    }

    /// The engine this is, and why it was chosen.
    pub fn target(&self) -> &Target {
        &self.target
    }
}

/// A request that failed because the engine did not answer (it stopped, the network went):
/// the engine by its address and why it was chosen, the cause as the system said it, and a
/// fix for that engine (a local one is started; a remote one checked).
fn unavailable(doing: &str, error: &bollard::errors::Error) -> Error {
    let cause = transport::io_cause(error).map(|e| e.to_string()).unwrap_or_else(|| error.to_string());
    let (at, local) = match connect::resolve() {
        Ok(t) => (t.to_string(), matches!(t.address, target::Address::Unix(_))),
        Err(e) => (e.cause, false),
    };
    let fix = if local {
        "start the engine (`sudo systemctl start docker`, or `dockerd`); docker-rebuilder connects again on the next build"
    } else {
        "check that the engine runs there (`docker info` talks to the same one); docker-rebuilder connects again on \
         the next build"
    };
    Error::new(
        ErrorKind::EngineUnavailable,
        format!("no Docker engine answers at {at} (while trying to {doing}): {cause}"),
        fix,
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
        other => unavailable(doing, &other),
    }
}

pub(crate) fn is_not_found(err: &bollard::errors::Error) -> bool {
    matches!(err, bollard::errors::Error::DockerResponseServerError { status_code: 404, .. })
}
