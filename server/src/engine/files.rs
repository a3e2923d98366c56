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

    /// Copies `path` out of container `from` into container `to` as one stream: the engine's
    /// archive goes through `rewrite` (on a blocking thread: it reads the source archive and
    /// writes the one extracted at `to`'s root) while it downloads, so the upload overlaps the
    /// download instead of following it (~50 ms off ~265 for a 7.7 MB binary here). None when `path` does
    /// not exist in `from` (nothing is uploaded). A failed rewrite aborts the upload.
    pub async fn copy_across<F>(&self, from: &str, path: &str, to: &str, rewrite: F) -> Result<Option<()>>
    where
        F: FnOnce(&mut dyn Read, &mut dyn std::io::Write) -> Result<()> + Send + 'static,
    {
        let options = DownloadFromContainerOptionsBuilder::default().path(path).build();
        let mut download = Box::pin(self.docker.download_from_container(from, Some(options)));
        let doing = format!("copy {path} out of a container");
        // The first chunk says whether the path exists, before anything goes up.
        let first = match download.next().await {
            Some(Ok(bytes)) => bytes,
            Some(Err(e)) if is_not_found(&e) => return Ok(None),
            Some(Err(e)) => return Err(engine_error(&doing, e)),
            None => bytes::Bytes::new(),
        };
        let (source_tx, source_rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(16);
        let (upload_tx, upload_rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(16);
        let feeding = async move {
            let mut failure = None;
            if source_tx.send(Ok(first)).await.is_ok() {
                while let Some(chunk) = download.next().await {
                    let chunk = chunk.map_err(|e| {
                        failure = Some(engine_error(&doing, e));
                        std::io::Error::other("the download failed")
                    });
                    let failed = chunk.is_err();
                    if source_tx.send(chunk).await.is_err() || failed {
                        break;
                    }
                }
            }
            failure
        };
        let rewriting = tokio::task::spawn_blocking(move || {
            let mut reader = ChannelReader { rx: source_rx, current: bytes::Bytes::new() };
            // tar writes in 512-byte blocks: sent on in larger chunks.
            let mut writer = std::io::BufWriter::with_capacity(256 * 1024, ChannelWriter { tx: upload_tx.clone() });
            let result = rewrite(&mut reader, &mut writer)
                .and_then(|()| std::io::Write::flush(&mut writer).map_err(|e| Error::io("cannot send the copy on", e)));
            if let Err(e) = &result {
                // The engine must not take a truncated archive for a whole one.
                let _ = upload_tx.blocking_send(Err(std::io::Error::other(e.cause.clone())));
            }
            result
        });
        let body = futures_util::stream::unfold(upload_rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
        let options = UploadToContainerOptionsBuilder::default().path("/").build();
        let uploading = self.docker.upload_to_container(to, Some(options), bollard::body_try_stream(body));
        let (failure, uploaded, rewritten) = tokio::join!(feeding, uploading, rewriting);
        if let Some(failure) = failure {
            return Err(failure);
        }
        rewritten.map_err(|e| Error::new(ErrorKind::Internal, format!("the copy's rewrite stopped: {e}"), ""))??;
        uploaded.map_err(|e| engine_error("copy files into a container", e))?;
        Ok(Some(()))
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

/// The download's chunks as a `Read`, for a blocking thread.
struct ChannelReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    current: bytes::Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// Writes as the upload's chunks, from a blocking thread.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<bytes::Bytes>>,
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.tx
            .blocking_send(Ok(bytes::Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::other("the upload stopped"))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
