//! Commit a builder to the image tag with the image's original configuration.
//!
//! The engine merges the container's own config into whatever the commit request leaves
//! empty (Cmd, Entrypoint, Env, Labels...), so we always send the image's config in full.
//! Podman reads none of it: its commit is `podman.rs`'s, to the same image.

use std::collections::HashMap;

use bollard::models::{ContainerConfig, ImageConfig};
use bollard::query_parameters::CommitContainerOptionsBuilder;

use super::container::keepalive_in_cmd;
use super::{engine_error, Engine};
use crate::error::Result;

pub struct CommitConfig<'a> {
    /// The config `docker build` gave the image.
    pub original: &'a ImageConfig,
    /// Labels to add (ours); the original's win on no key, ours are namespaced.
    pub extra_labels: HashMap<String, String>,
}

impl Engine {
    /// Commits `container` as `repo:tag` and returns the new image id.
    pub async fn commit(&self, container: &str, image: &str, config: CommitConfig<'_>) -> Result<String> {
        let (repo, tag) = split_tag(image);
        if self.is_podman().await? {
            let body = container_config(config.original.clone(), config.extra_labels.clone());
            return self
                .commit_podman(container, Some((repo, tag)), config.original, &config.extra_labels, &body)
                .await;
        }
        let options = CommitContainerOptionsBuilder::default()
            .container(container)
            .repo(repo)
            .tag(tag)
            // Nothing runs in the builder during a commit: no need to freeze it.
            .pause(false)
            .build();
        let created = self
            .docker
            .commit_container(options, container_config(config.original.clone(), config.extra_labels))
            .await
            .map_err(|e| engine_error(&format!("commit the builder to {image}"), e))?;
        Ok(created.id)
    }
}

impl Engine {
    /// Commits `container` as an untagged image (found again by its labels); returns its id.
    pub async fn commit_untagged(&self, container: &str, config: CommitConfig<'_>) -> Result<String> {
        if self.is_podman().await? {
            let body = container_config(config.original.clone(), config.extra_labels.clone());
            return self.commit_podman(container, None, config.original, &config.extra_labels, &body).await;
        }
        let options = CommitContainerOptionsBuilder::default().container(container).pause(false).build();
        let created = self
            .docker
            .commit_container(options, container_config(config.original.clone(), config.extra_labels))
            .await
            .map_err(|e| engine_error(&format!("commit the builder {container}"), e))?;
        Ok(created.id)
    }
}

fn container_config(o: ImageConfig, extra_labels: HashMap<String, String>) -> ContainerConfig {
    let keepalive_in_cmd = keepalive_in_cmd(&o);
    let mut labels = o.labels.unwrap_or_default();
    labels.extend(extra_labels);
    ContainerConfig {
        user: Some(o.user.unwrap_or_default()),
        exposed_ports: o.exposed_ports,
        env: o.env,
        // The engine fills an absent Entrypoint from the container: absent is right only
        // when the builder's Entrypoint is the image's own (keep-alive in Cmd); otherwise an
        // empty list keeps the keep-alive out.
        entrypoint: if keepalive_in_cmd { None } else { Some(o.entrypoint.unwrap_or_default()) },
        cmd: o.cmd,
        healthcheck: o.healthcheck,
        args_escaped: o.args_escaped,
        volumes: o.volumes,
        working_dir: Some(o.working_dir.unwrap_or_default()),
        on_build: o.on_build,
        labels: Some(labels),
        stop_signal: o.stop_signal,
        shell: o.shell,
        ..Default::default()
    }
}

/// `name:tag` → (name, tag); a `:` in a registry host is not a tag.
pub fn split_tag(image: &str) -> (&str, &str) {
    match image.rfind(':') {
        Some(i) if !image[i..].contains('/') => (&image[..i], &image[i + 1..]),
        _ => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_but_registry_ports_do_not() {
        assert_eq!(split_tag("app:dev"), ("app", "dev"));
        assert_eq!(split_tag("reg:5000/app"), ("reg:5000/app", "latest"));
        assert_eq!(split_tag("reg:5000/app:1"), ("reg:5000/app", "1"));
    }

    #[test]
    fn an_image_with_only_a_cmd_keeps_its_entrypoint_absent() {
        let original = ImageConfig { cmd: Some(vec!["/app".into()]), ..Default::default() };
        let c = container_config(original, HashMap::new());
        assert_eq!(c.entrypoint, None, "the builder's Entrypoint is the image's own");
        assert_eq!(c.cmd, Some(vec!["/app".to_string()]));
    }

    #[test]
    fn an_image_without_cmd_or_entrypoint_commits_an_empty_entrypoint_not_the_keepalive() {
        let original = ImageConfig::default();
        let c = container_config(original, HashMap::new());
        assert_eq!(c.entrypoint, Some(vec![]));
        assert_eq!(c.cmd, None);
    }
}
