//! Volumes a builder mounts: BuildKit's cache mounts and the context a `RUN --mount=type=bind`
//! reads live in named volumes, because a commit never takes a volume's files into the image.

use std::collections::HashMap;

use bollard::models::{Mount, MountTmpfsOptions, MountType, MountVolumeOptions, VolumeCreateRequest};
use bollard::query_parameters::{ListVolumesOptionsBuilder, RemoveVolumeOptionsBuilder};

use super::{engine_error, is_not_found, Engine};
use crate::error::Result;

/// One mount of a builder container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuilderMount {
    /// A named volume at `target` (created when missing, never filled from the image).
    Volume { name: String, target: String, read_only: bool },
    /// A tmpfs at `target`, of at most `size` bytes when given.
    Tmpfs { target: String, size: Option<i64>, mode: Option<i64> },
    /// The user's SSH agent socket at `target`: the one host path a builder may get, and only
    /// for a Dockerfile whose steps mount `type=ssh` (what `docker build --ssh` forwards).
    SshAgent { socket: std::path::PathBuf, target: String },
}

impl BuilderMount {
    /// Where the builder sees it.
    pub fn target(&self) -> &str {
        match self {
            BuilderMount::Volume { target, .. }
            | BuilderMount::Tmpfs { target, .. }
            | BuilderMount::SshAgent { target, .. } => target,
        }
    }

    pub(super) fn to_engine(&self) -> Mount {
        match self {
            BuilderMount::Volume { name, target, read_only } => Mount {
                target: Some(target.clone()),
                source: Some(name.clone()),
                typ: Some(MountType::VOLUME),
                read_only: Some(*read_only),
                // BuildKit's cache and bind mounts hide what the image holds at the target;
                // docker would otherwise copy it into a new volume.
                volume_options: Some(MountVolumeOptions { no_copy: Some(true), ..Default::default() }),
                ..Default::default()
            },
            BuilderMount::Tmpfs { target, size, mode } => Mount {
                target: Some(target.clone()),
                typ: Some(MountType::TMPFS),
                tmpfs_options: Some(MountTmpfsOptions { size_bytes: *size, mode: *mode, ..Default::default() }),
                ..Default::default()
            },
            BuilderMount::SshAgent { socket, target } => Mount {
                target: Some(target.clone()),
                source: Some(socket.to_string_lossy().into_owned()),
                typ: Some(MountType::BIND),
                ..Default::default()
            },
        }
    }
}

impl Engine {
    /// Creates the volume `name` with `labels` unless it exists (then it is left as it is).
    pub async fn ensure_volume(&self, name: &str, labels: HashMap<String, String>) -> Result<bool> {
        match self.docker.inspect_volume(name).await {
            Ok(_) => return Ok(false),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(engine_error(&format!("inspect volume {name}"), e)),
        }
        let request = VolumeCreateRequest { name: Some(name.to_string()), labels: Some(labels), ..Default::default() };
        self.docker.create_volume(request).await.map_err(|e| engine_error(&format!("create volume {name}"), e))?;
        Ok(true)
    }

    /// Removes a volume; false when it did not exist or a container still uses it.
    pub async fn remove_volume(&self, name: &str) -> Result<bool> {
        let options = RemoveVolumeOptionsBuilder::default().force(false).build();
        match self.docker.remove_volume(name, Some(options)).await {
            Ok(()) => Ok(true),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404 | 409, .. }) => Ok(false),
            Err(e) => Err(engine_error(&format!("remove volume {name}"), e)),
        }
    }

    /// The volumes carrying `label=value`: each name, with its role label.
    /// Every value the label `key` has on a container (running or not) or a volume.
    pub async fn label_values(&self, key: &str) -> Result<std::collections::BTreeSet<String>> {
        let filters = HashMap::from([("label".to_string(), vec![key.to_string()])]);
        let options = ListVolumesOptionsBuilder::default().filters(&filters).build();
        let volumes = self.docker.list_volumes(Some(options)).await.map_err(|e| engine_error("list volumes", e))?;
        let options =
            bollard::query_parameters::ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
        let containers =
            self.docker.list_containers(Some(options)).await.map_err(|e| engine_error("list containers", e))?;
        let from_volumes = volumes.volumes.unwrap_or_default().into_iter().filter_map(|v| v.labels.get(key).cloned());
        let from_containers = containers.into_iter().filter_map(|c| c.labels.and_then(|l| l.get(key).cloned()));
        Ok(from_volumes.chain(from_containers).collect())
    }

    pub async fn volumes_with_label(&self, label: &str, value: &str) -> Result<Vec<(String, Option<String>)>> {
        let filters = HashMap::from([("label".to_string(), vec![format!("{label}={value}")])]);
        let options = ListVolumesOptionsBuilder::default().filters(&filters).build();
        let list = self.docker.list_volumes(Some(options)).await.map_err(|e| engine_error("list volumes", e))?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| {
                let role = v.labels.get(crate::project::LABEL_ROLE).cloned();
                (v.name, role)
            })
            .collect())
    }
}
