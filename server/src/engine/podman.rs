//! Podman's Docker-compatible API, where it differs from Docker's in what we ask of it.
//!
//! Its `/commit` (4.3) ignores the config in the request body: the image gets the container's
//! own (the keep-alive as Cmd, the builder's labels) plus the variables Podman puts in every
//! container (`container=podman`, `TERM=xterm`, a default PATH, proxies). It applies
//! `changes` — Dockerfile instructions, one per `changes` parameter, which bollard cannot send —
//! but a change only sets, never removes. So a commit here is: the commit with the image's config
//! as changes (and as the body, for Podmans that read it), then, if the engine added variables,
//! a build FROM that commit with Podman's `unsetenv` (metadata only: no layer), and the
//! intermediate image removed. What Podman reports and what the compat API cannot say is in the
//! README's "Podman" section.

use std::collections::HashMap;

use bollard::models::{ContainerConfig, ImageConfig, SystemVersion};
use bollard::query_parameters::TagImageOptionsBuilder;
use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, Full};

use super::buildkit::dial::{self, Http};
use super::{engine_error, Engine};
use crate::error::{Error, ErrorKind, Result};

/// The engine's Podman component ("Podman Engine"), when the engine is Podman.
pub(super) fn podman_component(version: &SystemVersion) -> Option<String> {
    version.components.iter().flatten().find(|c| c.name.to_ascii_lowercase().contains("podman")).map(|c| c.name.clone())
}

impl Engine {
    /// Whether the engine is Podman, from its version's components (not from the socket's
    /// path: Podman may listen at /var/run/docker.sock). Asked once.
    pub(super) async fn is_podman(&self) -> Result<bool> {
        let asked = self.podman.get_or_try_init(|| async {
            // Podman answers /version in ~0.5 s (it asks its runtimes theirs): a full build has
            // asked it already.
            if let Some(support) = self.builder_support_known() {
                return Ok(support.engine_name.to_ascii_lowercase().contains("podman"));
            }
            let version = self.docker.version().await.map_err(|e| engine_error("ask the engine for its version", e))?;
            Ok::<bool, Error>(podman_component(&version).is_some())
        });
        asked.await.copied()
    }

    /// Commits `container` with exactly `wanted` (the image's config and our labels) on
    /// Podman; tagged `repo:tag` when given. Returns the image's id.
    pub(super) async fn commit_podman(
        &self,
        container: &str,
        tag: Option<(&str, &str)>,
        original: &ImageConfig,
        extra_labels: &HashMap<String, String>,
        body: &ContainerConfig,
    ) -> Result<String> {
        let http = self.http();
        let doing = format!("commit the builder {container}");
        let mut query = vec![("container", container.to_string()), ("pause", "false".to_string())];
        query.extend(changes(original, extra_labels).into_iter().map(|c| ("changes", c)));
        let body = serde_json::to_vec(body).map_err(|e| failed(&doing, &e.to_string()))?;
        let answer = post(&http, &format!("/commit?{}", encode(&query)), "application/json", body)
            .await
            .map_err(|detail| failed(&doing, &detail))?;
        #[derive(serde::Deserialize)]
        struct Created {
            #[serde(rename = "Id")]
            id: String,
        }
        let committed: Created = serde_json::from_slice(&answer).map_err(|e| failed(&doing, &e.to_string()))?;
        let committed = committed.id;

        let made = match self.finish_podman_image(&http, &committed, original, extra_labels).await {
            Ok(Some(finished)) => finished,
            Ok(None) => committed.clone(),
            Err(e) => {
                let _ = self.remove_image_if_unused(&committed).await;
                return Err(e);
            }
        };
        if made != committed {
            // Our own intermediate: the finished image keeps its layers.
            let _ = self.remove_image_if_unused(&committed).await;
        }
        if let Some((repo, tag)) = tag {
            let options = TagImageOptionsBuilder::default().repo(repo).tag(tag).build();
            self.docker
                .tag_image(&made, Some(options))
                .await
                .map_err(|e| engine_error(&format!("tag the commit as {repo}:{tag}"), e))?;
        }
        Ok(made)
    }

    /// What the commit could not set: the variables Podman added removed, a stop signal it
    /// rewrote as a number restored. Returns the finished image's id, None when the commit is
    /// already right; an error when the commit kept the builder's command (a Podman that
    /// applies changes differently), so such an image is never tagged.
    async fn finish_podman_image(
        &self,
        http: &Http,
        committed: &str,
        original: &ImageConfig,
        extra_labels: &HashMap<String, String>,
    ) -> Result<Option<String>> {
        let Some(made) = self.image(committed).await? else {
            return Err(Error::new(ErrorKind::Engine, format!("Podman's commit {committed} vanished"), ""));
        };
        let got = &made.config;
        if list(&got.cmd) != list(&original.cmd) || list(&got.entrypoint) != list(&original.entrypoint) {
            return Err(Error::new(
                ErrorKind::Engine,
                format!(
                    "the engine (Podman) committed the builder with Entrypoint {:?} and Cmd {:?} instead of the image's {:?} {:?}",
                    list(&got.entrypoint),
                    list(&got.cmd),
                    list(&original.entrypoint),
                    list(&original.cmd)
                ),
                "this Podman does not apply a commit's changes as Podman 4.3 does: please report it with `podman version`",
            ));
        }
        let unset = added_variables(list(&got.env), list(&original.env));
        let stop_signal = original.stop_signal.as_ref().filter(|s| got.stop_signal.as_ref() != Some(*s));
        if unset.is_empty() && stop_signal.is_none() {
            return Ok(None);
        }
        let dockerfile = finishing_dockerfile(committed, stop_signal.map(String::as_str), extra_labels);
        // With its layer cache, Podman adds no layer for a metadata-only build but keeps an image
        // after each instruction but the last; without, one image and an empty layer. One
        // instruction (the labels) needs no more than the cache; a stop signal too is rare.
        let layers = if stop_signal.is_none() { "true" } else { "false" };
        let mut query = vec![
            ("q", "1".to_string()),
            ("rm", "1".to_string()),
            ("forcerm", "1".to_string()),
            ("layers", layers.to_string()),
        ];
        query.extend(unset.into_iter().map(|name| ("unsetenv", name)));
        let context = dockerfile_archive(&dockerfile)?;
        let doing = "remove the variables Podman adds to a commit (a build FROM the commit)";
        let answer = post(http, &format!("/build?{}", encode(&query)), "application/x-tar", context)
            .await
            .map_err(|detail| failed(doing, &detail))?;
        built_id(&answer).map(Some).map_err(|detail| failed(doing, &detail))
    }
}

/// The changes that give a commit `original`'s config and our labels, in the form Podman's
/// parser takes (`libimage.ImageConfigFromChanges`): a value in double quotes has them
/// stripped, once. STOPSIGNAL (made a number), ONBUILD (appended to the image's) and HEALTHCHECK
/// (not a change) are not sent: the commit keeps the builder's image's.
fn changes(original: &ImageConfig, extra_labels: &HashMap<String, String>) -> Vec<String> {
    let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".to_string());
    let mut changes = vec![format!("ENTRYPOINT {}", json(list(&original.entrypoint)))];
    if let Some(cmd) = &original.cmd {
        changes.push(format!("CMD {}", json(cmd)));
    }
    // Each variable set again, in order: Podman moves a variable it sets to the end, so the
    // image's own end up after the ones Podman added, in the image's order.
    for variable in list(&original.env) {
        let (name, value) = variable.split_once('=').unwrap_or((variable, ""));
        changes.push(format!("ENV {name}=\"{value}\""));
    }
    let mut labels: Vec<(&String, &String)> = original.labels.iter().flatten().chain(extra_labels).collect();
    labels.sort();
    labels.dedup_by(|a, b| a.0 == b.0);
    changes.extend(labels.into_iter().map(|(k, v)| format!("LABEL {k}=\"{v}\"")));
    let mut ports: Vec<&String> = original.exposed_ports.iter().flatten().collect();
    ports.sort();
    changes.extend(ports.into_iter().map(|p| format!("EXPOSE {p}")));
    let mut volumes: Vec<&String> = original.volumes.iter().flatten().collect();
    volumes.sort();
    changes.extend(volumes.into_iter().map(|v| format!("VOLUME {}", json(std::slice::from_ref(v)))));
    // Podman refuses an empty USER or WORKDIR; the container has the image's then.
    if let Some(user) = original.user.as_ref().filter(|u| !u.is_empty()) {
        changes.push(format!("USER {user}"));
    }
    if let Some(dir) = original.working_dir.as_ref().filter(|d| !d.is_empty()) {
        changes.push(format!("WORKDIR {dir}"));
    }
    changes
}

/// The names of the variables in `got` that `wanted` does not set.
fn added_variables(got: &[String], wanted: &[String]) -> Vec<String> {
    let name = |v: &String| v.split_once('=').map_or(v.clone(), |(n, _)| n.to_string());
    let wanted: Vec<String> = wanted.iter().map(name).collect();
    got.iter().map(name).filter(|n| !wanted.contains(n)).collect()
}

/// `FROM` the commit, restating our labels in one instruction: a build of FROM alone would leave
/// the image as it is (and Podman a working container behind), `unsetenv` with it.
fn finishing_dockerfile(from: &str, stop_signal: Option<&str>, labels: &HashMap<String, String>) -> String {
    let quote = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"").replace('$', "\\$"));
    let mut text = format!("FROM {}\n", from.trim_start_matches("sha256:"));
    if let Some(signal) = stop_signal {
        text.push_str(&format!("STOPSIGNAL {signal}\n"));
    }
    let mut labels: Vec<String> = labels.iter().map(|(k, v)| format!("{}={}", quote(k), quote(v))).collect();
    labels.sort();
    text.push_str(&format!("LABEL {}\n", labels.join(" ")));
    text
}

fn dockerfile_archive(dockerfile: &str) -> Result<Vec<u8>> {
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    let packed =
        archive.append_data(&mut header, "Dockerfile", dockerfile.as_bytes()).and_then(|_| archive.into_inner());
    packed.map_err(|e| Error::new(ErrorKind::Engine, format!("could not pack a Dockerfile: {e}"), ""))
}

/// The image id a quiet build printed, or the build's error.
fn built_id(answer: &[u8]) -> std::result::Result<String, String> {
    let mut id = None;
    for line in answer.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let message: serde_json::Value = serde_json::from_slice(line).map_err(|e| e.to_string())?;
        if let Some(error) = message.get("error").and_then(|e| e.as_str()) {
            return Err(error.to_string());
        }
        if let Some(text) = message.get("stream").and_then(|s| s.as_str()).map(str::trim) {
            if text.len() >= 12 && text.trim_start_matches("sha256:").chars().all(|c| c.is_ascii_hexdigit()) {
                id = Some(text.to_string());
            }
        }
    }
    id.ok_or_else(|| format!("the build printed no image id: {}", String::from_utf8_lossy(answer).trim()))
}

/// POSTs `body` and returns the whole answer, or the engine's message.
async fn post(http: &Http, path: &str, content_type: &str, body: Vec<u8>) -> std::result::Result<Vec<u8>, String> {
    let request = http
        .request(Method::POST, path)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let exchange = http.send(request).await?;
    let status = exchange.response.status();
    if !status.is_success() {
        return Err(format!("HTTP {}: {}", status.as_u16(), dial::read_message(exchange.response).await));
    }
    let body = exchange.response.into_body().collect().await.map_err(|e| dial::describe_hyper(&e))?;
    Ok(body.to_bytes().to_vec())
}

fn encode(query: &[(&str, String)]) -> String {
    serde_urlencoded::to_string(query).unwrap_or_default()
}

fn list(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or_default()
}

fn failed(doing: &str, detail: &str) -> Error {
    Error::new(ErrorKind::Engine, format!("the engine (Podman) could not {doing}: {detail}"), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_changes_restore_the_images_command_environment_and_labels_not_the_keepalive() {
        let original = ImageConfig {
            cmd: Some(vec!["cat".into(), "/app/out.txt".into()]),
            env: Some(vec!["PATH=/bin".into(), "GREETING=hello \"world\"".into()]),
            labels: Some(HashMap::from([("fixture".into(), "a b".into())])),
            stop_signal: Some("SIGINT".into()),
            working_dir: Some("/app".into()),
            ..Default::default()
        };
        let ours = HashMap::from([("dev.docker-rebuilder.role".to_string(), "image".to_string())]);
        assert_eq!(
            changes(&original, &ours),
            [
                r#"ENTRYPOINT []"#,
                r#"CMD ["cat","/app/out.txt"]"#,
                r#"ENV PATH="/bin""#,
                r#"ENV GREETING="hello "world"""#,
                r#"LABEL dev.docker-rebuilder.role="image""#,
                r#"LABEL fixture="a b""#,
                "WORKDIR /app",
            ]
        );
    }

    #[test]
    fn the_variables_podman_adds_are_the_ones_to_unset() {
        let got = ["container=podman", "PATH=/bin", "TERM=xterm"].map(String::from);
        let wanted = ["PATH=/bin".to_string()];
        assert_eq!(added_variables(&got, &wanted), ["container", "TERM"]);
    }

    #[test]
    fn the_finishing_build_restates_our_labels_quoted() {
        let labels = HashMap::from([
            ("dev.docker-rebuilder.project".to_string(), "/srv/a \"$b\"".to_string()),
            ("dev.docker-rebuilder.role".to_string(), "image".to_string()),
        ]);
        assert_eq!(
            finishing_dockerfile("sha256:0123", Some("SIGINT"), &labels),
            "FROM 0123\nSTOPSIGNAL SIGINT\nLABEL \"dev.docker-rebuilder.project\"=\"/srv/a \\\"\\$b\\\"\" \
             \"dev.docker-rebuilder.role\"=\"image\"\n"
        );
    }

    #[test]
    fn a_quiet_builds_answer_gives_its_id_or_its_error() {
        assert_eq!(built_id(b"{\"stream\":\"48a5cb071d46\\n\"}\n").as_deref(), Ok("48a5cb071d46"));
        assert_eq!(built_id(b"{\"error\":\"no such image\"}\n"), Err("no such image".to_string()));
    }
}
