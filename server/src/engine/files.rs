//! Files in a container through the archive endpoints: one tar up, one file down.

use std::io::Read;

use bollard::query_parameters::{DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder};
use futures_util::StreamExt;

use super::{engine_error, is_not_found, Engine};
use crate::error::{Error, ErrorKind, Result};

impl Engine {
    /// Extracts a tar archive at the container's root. Entries keep their modes, owners and
    /// modification times (the engine applies the headers as they are).
    pub async fn upload(&self, container: &str, tar: Vec<u8>) -> Result<()> {
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        self.docker
            .upload_to_container(container, Some(options), bollard::body_full(tar.into()))
            .await
            .map_err(|e| engine_error("copy files into the builder", e))
    }

    /// A path of the container as the engine archives it (a folder with its contents; the
    /// entries named from the path's last component), or None when it does not exist.
    pub async fn download(&self, container: &str, path: &str) -> Result<Option<Vec<u8>>> {
        let options = DownloadFromContainerOptionsBuilder::default().path(path).build();
        let mut stream = self.docker.download_from_container(container, Some(options));
        let mut archive = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => archive.extend_from_slice(&bytes),
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => return Err(engine_error(&format!("copy {path} out of a container"), e)),
            }
        }
        Ok(Some(archive))
    }

    /// Whether a path exists in the container, and is a folder (following links, as a copy
    /// into it would).
    pub async fn path_kind(&self, container: &str, path: &str) -> Result<Option<bool>> {
        let options = bollard::query_parameters::ContainerArchiveInfoOptionsBuilder::new().path(path).build();
        match self.docker.get_container_archive_info(container, Some(options)).await {
            // Go's os.FileMode: the folder bit is the top one.
            Ok(stat) => Ok(Some(stat.file_mode & (1 << 31) != 0)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(engine_error(&format!("stat {path} in a container"), e)),
        }
    }

    /// The content of one regular file in the container, or None when it does not exist.
    pub async fn read_file(&self, container: &str, path: &str) -> Result<Option<Vec<u8>>> {
        let options = DownloadFromContainerOptionsBuilder::default().path(path).build();
        let mut stream = self.docker.download_from_container(container, Some(options));
        let mut archive = Vec::new();
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(bytes) => archive.extend_from_slice(&bytes),
                Err(e) if is_not_found(&e) => return Ok(None),
                Err(e) => return Err(engine_error(&format!("read {path} from the builder"), e)),
            }
        }
        let mut tar = tar::Archive::new(archive.as_slice());
        let bad = |e: std::io::Error| Error::new(ErrorKind::Engine, format!("unreadable archive of {path}: {e}"), "");
        let mut entries = tar.entries().map_err(bad)?;
        match entries.next() {
            Some(entry) => {
                let mut entry = entry.map_err(bad)?;
                let mut content = Vec::new();
                entry.read_to_end(&mut content).map_err(bad)?;
                Ok(Some(content))
            }
            None => Ok(None),
        }
    }
}

impl Engine {
    /// Size and modification time (nanoseconds, as the engine prints it) of a path in the
    /// container, or None when it does not exist. A stat, not a download: ~100x cheaper.
    pub async fn stat_file(&self, container: &str, path: &str) -> Result<Option<(i64, String)>> {
        let options = bollard::query_parameters::ContainerArchiveInfoOptionsBuilder::new().path(path).build();
        match self.docker.get_container_archive_info(container, Some(options)).await {
            Ok(stat) => Ok(Some((stat.size, stat.modification_time.unwrap_or_default()))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(engine_error(&format!("stat {path} in the builder"), e)),
        }
    }
}
