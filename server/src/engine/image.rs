//! Images: build from a context archive, inspect, tag, remove.

use std::collections::HashMap;

use bollard::models::ImageConfig;
use bollard::query_parameters::{BuildImageOptionsBuilder, RemoveImageOptionsBuilder, TagImageOptionsBuilder};
use futures_util::StreamExt;

use super::commit::split_tag;
use super::{engine_error, is_not_found, Engine};
use crate::error::{Error, ErrorKind, Result};

pub struct BuildRequest<'a> {
    /// `name:tag`
    pub tag: &'a str,
    /// Dockerfile path inside the context archive.
    pub dockerfile: &'a str,
    pub target: Option<&'a str>,
    pub build_args: HashMap<String, String>,
    pub labels: HashMap<String, String>,
    /// `docker build --network` (None: the engine's default).
    pub network: Option<&'a str>,
    /// `docker build --add-host`, `HOST:IP`; the API this builder is called through takes one.
    pub extra_host: Option<&'a str>,
    /// `docker build --platform` (None: the engine's own).
    pub platform: Option<&'a str>,
}

/// What we need to know of an image.
#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub id: String,
    pub config: ImageConfig,
    pub layers: usize,
    pub labels: HashMap<String, String>,
    /// Bytes of all its layers.
    pub size: i64,
    /// `repo:tag` names pointing at it.
    pub tags: Vec<String>,
}

impl Engine {
    /// Builds an image from a context archive, streaming the builder's output to `on_line`.
    /// Returns the new image's id.
    pub async fn build_image(
        &self,
        request: BuildRequest<'_>,
        context_tar: Vec<u8>,
        on_line: &mut (dyn FnMut(&str) + Send),
    ) -> Result<String> {
        let mut options = BuildImageOptionsBuilder::default()
            .dockerfile(request.dockerfile)
            .t(request.tag)
            .rm(true)
            .forcerm(true)
            .buildargs(&request.build_args)
            .labels(&request.labels);
        if let Some(target) = request.target {
            options = options.target(target);
        }
        if let Some(network) = request.network {
            options = options.networkmode(network);
        }
        if let Some(host) = request.extra_host {
            options = options.extrahosts(host);
        }
        if let Some(platform) = request.platform {
            options = options.platform(platform);
        }
        let mut stream = self.docker.build_image(options.build(), None, Some(bollard::body_full(context_tar.into())));
        let mut image_id = None;
        let mut tail = Vec::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    if let Some(text) = info.stream.as_deref() {
                        for line in text.lines().filter(|l| !l.trim().is_empty()) {
                            on_line(line);
                            tail.push(line.to_string());
                            if tail.len() > 20 {
                                tail.remove(0);
                            }
                        }
                    }
                    if let Some(id) = info.aux.and_then(|aux| aux.id) {
                        image_id = Some(id);
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(Error::new(
                        ErrorKind::ImageBuild,
                        format!("docker build of {} failed: {}", request.tag, error.trim()),
                        "fix the Dockerfile or the failing step shown above, then run again",
                    ));
                }
                Err(e) => return Err(engine_error(&format!("build {}", request.tag), e)),
            }
        }
        match image_id {
            Some(id) => Ok(id),
            // The classic builder names the image in its last "Successfully built" line.
            None => match self.image(request.tag).await? {
                Some(info) => Ok(info.id),
                None => Err(Error::new(
                    ErrorKind::ImageBuild,
                    format!("docker build of {} produced no image: {}", request.tag, tail.join("\n")),
                    "",
                )),
            },
        }
    }

    /// Ids of the images carrying every `label=value`, newest first.
    pub async fn images_with_labels(&self, labels: &[(&str, &str)]) -> Result<Vec<String>> {
        let filters = std::collections::HashMap::from([(
            "label".to_string(),
            labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        )]);
        let options = bollard::query_parameters::ListImagesOptionsBuilder::default().filters(&filters).build();
        let mut list = self.docker.list_images(Some(options)).await.map_err(|e| engine_error("list images", e))?;
        list.sort_by_key(|i| std::cmp::Reverse(i.created));
        Ok(list.into_iter().map(|i| i.id).collect())
    }

    /// The image `name` (a tag or id), or None when it does not exist.
    pub async fn image(&self, name: &str) -> Result<Option<ImageInfo>> {
        match self.docker.inspect_image(name).await {
            Ok(inspect) => {
                let config = inspect.config.unwrap_or_default();
                Ok(Some(ImageInfo {
                    id: inspect.id.unwrap_or_default(),
                    layers: inspect.root_fs.and_then(|r| r.layers).map_or(0, |l| l.len()),
                    labels: config.labels.clone().unwrap_or_default(),
                    size: inspect.size.unwrap_or(0),
                    tags: inspect.repo_tags.unwrap_or_default(),
                    config,
                }))
            }
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(engine_error(&format!("inspect image {name}"), e)),
        }
    }

    /// Whether the images `a` and `b` run the same: the same layers and the same config, but
    /// for their labels under the prefixes `ignored`. Unknown images are not the same.
    pub async fn same_content(&self, a: &str, b: &str, ignored: &[&str]) -> Result<bool> {
        let mut seen = Vec::new();
        for id in [a, b] {
            let inspect = match self.docker.inspect_image(id).await {
                Ok(inspect) => inspect,
                Err(e) if is_not_found(&e) => return Ok(false),
                Err(e) => return Err(engine_error(&format!("inspect image {id}"), e)),
            };
            let mut config = inspect.config.unwrap_or_default();
            // No labels left and none at all are alike.
            config.labels = config
                .labels
                .map(|mut labels| {
                    labels.retain(|key, _| !ignored.iter().any(|prefix| key.starts_with(prefix)));
                    labels
                })
                .filter(|labels| !labels.is_empty());
            let layers = inspect.root_fs.and_then(|r| r.layers).unwrap_or_default();
            seen.push((layers, config));
        }
        Ok(seen[0] == seen[1] && !seen[0].0.is_empty())
    }

    /// Names `image` (an id or a name) `reference` too; the name leaves the image it named.
    pub async fn tag(&self, image: &str, reference: &str) -> Result<()> {
        let (repo, tag) = split_tag(reference);
        let options = TagImageOptionsBuilder::default().repo(repo).tag(tag).build();
        self.docker.tag_image(image, Some(options)).await.map_err(|e| engine_error(&format!("tag {reference}"), e))
    }

    /// Removes an image unless something still uses it (a container, a tag, a child image).
    /// Returns whether it was removed.
    pub async fn remove_image_if_unused(&self, id: &str) -> Result<bool> {
        // noprune: the untagged parents are the build cache of every build sharing those steps;
        // deleting them would slow the next `docker build` and race concurrent ones.
        let options = RemoveImageOptionsBuilder::default().force(false).noprune(true).build();
        match self.docker.remove_image(id, Some(options), None).await {
            Ok(_) => Ok(true),
            // 409: in use; 404: already gone. Neither is ours to force.
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 409 | 404, .. }) => Ok(false),
            Err(e) => Err(engine_error(&format!("remove image {id}"), e)),
        }
    }
}
