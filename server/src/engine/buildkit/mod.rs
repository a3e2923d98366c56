//! Full builds through BuildKit over the Engine API, as `docker build` does with BuildKit:
//! `POST /build?version=2&session=<id>&remote=client-session`, while we serve the build's
//! session (the context's files, secrets, SSH agent, registry auth) on an upgraded
//! `POST /session`.
//!
//! bollard's own BuildKit support cannot be used for this (its session serves registry auth
//! only, and its gRPC plumbing is private), so the session is ours: `dial.rs` raw HTTP to the
//! engine, `session.rs` the gRPC services, `filesync.rs` the context, `build.rs` the build request and its JSON stream,
//! `progress.rs` BuildKit's progress as `BuildEvent`s.

mod build;
pub(super) mod dial;
mod filesync;
mod progress;
mod session;

use std::collections::HashMap;
use std::path::PathBuf;

use http::Method;

use super::Engine;
use crate::error::{Error, ErrorKind, Result};

/// Where a secret's value comes from (read when the build starts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// A file on the host (at most 500 KB, BuildKit's limit).
    File(PathBuf),
    /// An environment variable of this process, by name.
    Env(String),
}

/// A BuildKit build of the context archive.
pub struct BuildKitRequest<'a> {
    /// `name:tag`; empty: the image is left untagged (its id is returned).
    pub tag: &'a str,
    /// Dockerfile path inside the context archive.
    pub dockerfile: &'a str,
    /// Paths in the archive that are there for the build only, hidden from the context as the
    /// docker CLI hides them: a Dockerfile or .dockerignore that the .dockerignore excludes, a
    /// Dockerfile from outside the context.
    pub builder_only: &'a [String],
    pub target: Option<&'a str>,
    pub build_args: HashMap<String, String>,
    pub labels: HashMap<String, String>,
    /// `docker build --network`: `default`, `host` or `none` (None: the engine's default).
    pub network: Option<&'a str>,
    /// `docker build --add-host`, each `HOST:IP`.
    pub extra_hosts: &'a [String],
    /// `docker build --platform` (None: the engine's own).
    pub platform: Option<&'a str>,
    /// `RUN --mount=type=secret,id=ID` reads the secret ID from here.
    pub secrets: HashMap<String, SecretSource>,
    /// Forward the user's SSH agent (`$SSH_AUTH_SOCK`) as the id "default"
    /// (`RUN --mount=type=ssh`).
    pub ssh: bool,
}

/// What a front end shows as a BuildKit build's progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildEvent<'a> {
    /// A step (BuildKit's vertex) changed state. `id` is stable for the build; `name` is as
    /// BuildKit gives it, e.g. "[build 3/5] RUN go build ./...", "[internal] load .dockerignore".
    Step { id: &'a str, name: &'a str, state: StepState },
    /// One line of a step's output (stdout or stderr), without its line ending.
    Log { id: &'a str, text: &'a str },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepState {
    Started,
    /// Taken from BuildKit's cache: it did not run.
    Cached,
    Done {
        millis: u64,
    },
    /// BuildKit's error for the step ("context canceled" for a step stopped because another
    /// one failed).
    Failed {
        error: String,
    },
}

/// What the engine's builder offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderSupport {
    /// The engine builds with BuildKit: `build_image_buildkit` works.
    pub buildkit: bool,
    /// BuildKit is also the engine's default builder (`/_ping` says `Builder-Version: 2`):
    /// what a plain `docker build` uses. Docker 23+ by default; 18.09–20.10 only when
    /// configured (`"features": {"buildkit": true}`), though they build with BuildKit when
    /// asked, as `DOCKER_BUILDKIT=1 docker build` does.
    pub buildkit_default: bool,
    /// Why `buildkit` is false.
    pub reason: Option<String>,
    /// "Docker Engine", or the product that answers the Docker API (e.g. "Podman Engine").
    pub engine_name: String,
    /// As the engine reports it, e.g. "20.10.24+dfsg1".
    pub engine_version: String,
    /// The engine's API version, e.g. "1.41".
    pub api_version: String,
    /// The engine's operating system ("linux", "windows") and architecture ("amd64").
    pub os: String,
    pub arch: String,
    /// Where the engine listens, e.g. "unix:///var/run/docker.sock".
    pub endpoint: String,
}

impl BuilderSupport {
    /// The builder, for messages: "BuildKit (Docker Engine 20.10.24)".
    pub fn builder_name(&self) -> String {
        let version = self.engine_version.split(['+', '-']).next().unwrap_or_default();
        format!("BuildKit ({} {version})", self.engine_name)
    }
}

/// The first API version with BuildKit sessions (Docker 18.09).
const FIRST_BUILDKIT_API: (u32, u32) = (1, 39);

impl Engine {
    /// Whether the engine's builder offers BuildKit, and the engine's name and version for
    /// messages. Asked once per `Engine`.
    pub async fn builder_support(&self) -> Result<BuilderSupport> {
        self.builder_support.get_or_try_init(|| self.ask_builder_support()).await.cloned()
    }

    /// What `builder_support` found, if it was asked already (for messages).
    pub fn builder_support_known(&self) -> Option<BuilderSupport> {
        self.builder_support.get().cloned()
    }

    async fn ask_builder_support(&self) -> Result<BuilderSupport> {
        let http = self.http();
        let ping = async {
            let request = http
                .request(Method::GET, "/_ping")
                .body(http_body_util::Full::new(bytes::Bytes::new()))
                .map_err(|e| e.to_string())?;
            let exchange = http.send(request).await?;
            let headers = exchange.response.headers().clone();
            let status = exchange.response.status();
            if !status.is_success() {
                return Err(format!("HTTP {}: {}", status.as_u16(), dial::read_message(exchange.response).await));
            }
            Ok(headers)
        };
        let headers = ping.await.map_err(|detail| {
            Error::new(
                ErrorKind::Engine,
                format!(
                    "the Docker engine at {} does not answer docker-rebuilder's own connection: {detail}",
                    self.endpoint
                ),
                "check that the engine runs there (`docker info` talks to the same one)",
            )
        })?;
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        let version =
            self.docker.version().await.map_err(|e| super::engine_error("ask the engine for its version", e))?;
        let podman = super::podman::podman_component(&version);
        let api_version =
            version.api_version.clone().filter(|v| !v.is_empty()).unwrap_or_else(|| header("Api-Version"));
        let os = version.os.clone().filter(|v| !v.is_empty()).unwrap_or_else(|| header("OSType"));
        let reason = if let Some(name) = &podman {
            Some(format!("{name} does not run BuildKit behind the Docker API"))
        } else if api_below(&api_version, FIRST_BUILDKIT_API) {
            Some(format!("API {api_version} predates BuildKit sessions (API 1.39, Docker 18.09)"))
        } else if os != "linux" {
            Some(format!("BuildKit is not built into {os} engines"))
        } else {
            None
        };
        Ok(BuilderSupport {
            buildkit: reason.is_none(),
            buildkit_default: reason.is_none() && header("Builder-Version") == "2",
            reason,
            engine_name: podman.unwrap_or_else(|| "Docker Engine".to_string()),
            engine_version: version.version.unwrap_or_default(),
            api_version,
            os,
            arch: version.arch.unwrap_or_default(),
            endpoint: self.endpoint.to_string(),
        })
    }

    pub(super) fn http(&self) -> dial::Http {
        let version = self.docker.client_version();
        dial::Http {
            endpoint: self.endpoint.clone(),
            prefix: format!("/v{}.{}", version.major_version, version.minor_version),
        }
    }
}

/// `version` ("1.41") is below `(major, minor)`; an unreadable version is not.
fn api_below(version: &str, (major, minor): (u32, u32)) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>());
    match (parts.next(), parts.next()) {
        (Some(Ok(a)), Some(Ok(b))) => (a, b) < (major, minor),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_builder_as_users_know_it() {
        let support = BuilderSupport {
            buildkit: true,
            buildkit_default: false,
            reason: None,
            engine_name: "Docker Engine".into(),
            engine_version: "20.10.24+dfsg1".into(),
            api_version: "1.41".into(),
            os: "linux".into(),
            arch: "amd64".into(),
            endpoint: "unix:///var/run/docker.sock".into(),
        };
        assert_eq!(support.builder_name(), "BuildKit (Docker Engine 20.10.24)");
    }

    #[test]
    fn compares_api_versions() {
        assert!(api_below("1.38", (1, 39)));
        assert!(!api_below("1.39", (1, 39)));
        assert!(!api_below("1.41", (1, 39)));
        assert!(!api_below("2.0", (1, 39)));
        assert!(!api_below("", (1, 39)));
    }
}
