//! Pushing a committed image to a registry (`push = "REGISTRY/NAME[:TAG]"` in rebuilder.toml):
//! tagged as that reference, pushed by the engine with the credentials docker would use.

use bollard::query_parameters::PushImageOptionsBuilder;
use futures_util::StreamExt as _;

use super::commit::split_tag;
use super::{credentials, engine_error, Engine};
use crate::error::{Error, ErrorKind, Result};

impl Engine {
    /// Tags `image` (an id or a name) as `reference` and pushes it; returns the pushed digest.
    pub async fn push(&self, image: &str, reference: &str) -> Result<String> {
        self.tag(image, reference).await?;
        let (repo, tag) = split_tag(reference);
        let registry = credentials::registry_of(reference);
        let auth = credentials::for_registry(&super::connect::config_dir(), &registry).map_err(|why| {
            Error::new(
                ErrorKind::Engine,
                format!("cannot read the credentials for {registry}: {why}"),
                "fix docker's config.json (or `docker login` again); the local image is made",
            )
        })?;
        let options = PushImageOptionsBuilder::default().tag(tag).build();
        let mut stream = self.docker.push_image(repo, Some(options), auth);
        let mut digest = None;
        while let Some(item) = stream.next().await {
            let info = item.map_err(|e| push_error(reference, &registry, e))?;
            // The last status line says `TAG: digest: sha256:… size: N`.
            if let Some(d) = info.status.as_deref().and_then(|s| s.split("digest: ").nth(1)) {
                digest = d.split_whitespace().next().map(str::to_string);
            }
        }
        digest.ok_or_else(|| {
            Error::new(
                ErrorKind::Engine,
                format!("the push of {reference} ended without a digest"),
                "check the registry (`docker push` of the same reference says more)",
            )
        })
    }
}

fn push_error(reference: &str, registry: &str, e: bollard::errors::Error) -> Error {
    let text = e.to_string();
    let needs_login = ["unauthorized", "denied", "authentication required", "no basic auth credentials"];
    let fix = if needs_login.iter().any(|w| text.contains(w)) {
        format!("log in to {registry} (`docker login {registry}`), or check that this account may push {reference}")
    } else if text.contains("connection refused") || text.contains("no such host") || text.contains("dial tcp") {
        format!("check that the registry {registry} runs and that the engine can reach it")
    } else if text.contains("server gave HTTP response to HTTPS client") {
        format!("the registry {registry} speaks plain HTTP: list it in the engine's insecure-registries, or serve it over TLS")
    } else {
        "check the reference and the registry (`docker push` of the same reference says more)".to_string()
    };
    match e {
        bollard::errors::Error::DockerStreamError { error } => {
            Error::new(ErrorKind::Engine, format!("the push of {reference} failed: {error}"), fix)
        }
        other => {
            let mut err = engine_error(&format!("push {reference}"), other);
            err.fix = fix;
            err
        }
    }
}
