//! The build: secrets read, session opened (it serves the context archive's files),
//! `POST /build?version=2&session=…&remote=client-session`, its JSON stream read to the end (progress, image id, error), the session
//! closed whatever happened, and the outcome turned into a message that names the step.

use std::collections::HashMap;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use http::Method;
use http_body_util::{BodyExt, Full};

use super::dial::{describe_hyper, read_message, Http};
use super::filesync::ContextFiles;
use super::progress::{decode_trace, Masker, Progress};
use super::session::{Refusals, SecretValues, Session, DEFAULT_SSH_ID, MAX_SECRET_BYTES};
use super::{BuildEvent, BuildKitRequest, SecretSource};
use crate::engine::Engine;
use crate::error::{Error, ErrorKind, Result};

/// A JSON stream line longer than this is an engine fault, not progress.
const MAX_MESSAGE: usize = 64 * 1024 * 1024;

const FIX_STEP: &str = "fix the Dockerfile or the failing step shown above, then run again";
const FIX_TRANSPORT: &str = "check that the engine runs and answers (`docker info`), then build again";

impl Engine {
    /// Builds an image from a context archive with BuildKit, reporting its steps and their
    /// output to `on_event`; returns the new image's id. The session that serves the build's
    /// files, secrets and SSH agent lives exactly as long as this call.
    pub async fn build_image_buildkit(
        &self,
        request: BuildKitRequest<'_>,
        context_tar: Vec<u8>,
        on_event: &mut (dyn FnMut(BuildEvent<'_>) + Send),
    ) -> Result<String> {
        let support = self.builder_support().await?;
        let builder = support.builder_name();
        if let Some(reason) = &support.reason {
            return Err(Error::new(
                ErrorKind::Engine,
                format!("the engine at {} cannot build with BuildKit: {reason}", self.endpoint),
                "build with the classic builder",
            ));
        }
        let secrets = read_secrets(&request.secrets)?;
        let agent = if request.ssh { Some(ssh_agent()?) } else { None };
        let files = ContextFiles::from_tar(context_tar, request.dockerfile, request.builder_only)
            .map_err(|e| Error::new(ErrorKind::Internal, e, "run again"))?;
        let mut progress = Progress::new(Masker::new(secrets.0.values().map(Vec::as_slice)));
        let http = self.http();

        // What the build makes, for the session's name and messages.
        let what = if request.tag.is_empty() { "an untagged stage image" } else { request.tag };
        let session = match Session::start(&http, what, what, secrets, agent, Some(Arc::new(files))).await {
            Ok(session) => session,
            Err(detail) => {
                return Err(self.transport_error(&builder, progress.masker(), "opening the build's session", &detail))
            }
        };
        let outcome = stream_build(&http, session.id(), &request, &mut progress, on_event).await;
        let refusals = std::mem::take(&mut *session.refusals());
        session.close().await;
        progress.finish(on_event);

        match outcome {
            Ok(Streamed { image_id: Some(id), error: None }) => Ok(id),
            Err(Broken { doing, detail }) => {
                let detail = match &refusals.ended {
                    Some(ended) => format!("{detail} ({ended})"),
                    None => detail,
                };
                Err(self.transport_error(&builder, progress.masker(), doing, &detail))
            }
            // The engine only ends a session when it stops answering (its health check).
            Ok(Streamed { error, .. }) if refusals.ended.is_some() => {
                let ended = refusals.ended.as_deref().unwrap_or_default();
                let build = error.unwrap_or_else(|| "it ended without an image".to_string());
                let detail = format!("{ended} while the build ran; then the build failed: {build}");
                Err(self.transport_error(&builder, progress.masker(), "keeping the build's session", &detail))
            }
            Ok(Streamed { error: Some(message), .. }) => {
                Err(build_failure(what, &builder, &progress, &refusals, &message))
            }
            Ok(Streamed { image_id: None, error: None }) => Err(Error::new(
                ErrorKind::ImageBuild,
                format!("{builder} finished the build of {what} without naming its image"),
                "run the build again; if it keeps happening, check the engine's log",
            )),
        }
    }

    /// The exchange with the engine failed (not the build): name the builder and where it is.
    fn transport_error(&self, builder: &str, masker: &Masker, doing: &str, detail: &str) -> Error {
        Error::new(
            ErrorKind::Engine,
            format!("{builder} at {}: {doing} failed: {}", self.endpoint, masker.mask(detail)),
            FIX_TRANSPORT,
        )
    }
}

/// What the build's stream said.
struct Streamed {
    image_id: Option<String>,
    /// The engine's error, when the build failed.
    error: Option<String>,
}

/// The exchange with the engine broke (not the build).
struct Broken {
    doing: &'static str,
    detail: String,
}

#[derive(serde::Deserialize)]
struct Message {
    id: Option<String>,
    aux: Option<serde_json::Value>,
    error: Option<String>,
    #[serde(rename = "errorDetail")]
    error_detail: Option<ErrorDetail>,
}

#[derive(serde::Deserialize)]
struct ErrorDetail {
    message: Option<String>,
}

async fn stream_build(
    http: &Http,
    session_id: &str,
    request: &BuildKitRequest<'_>,
    progress: &mut Progress,
    on_event: &mut (dyn FnMut(BuildEvent<'_>) + Send),
) -> Result<Streamed, Broken> {
    let broken = |doing: &'static str| move |detail: String| Broken { doing, detail };
    let query = build_query(session_id, request).map_err(broken("preparing the build request"))?;
    let http_request = http
        .request(Method::POST, &format!("/build?{query}"))
        .header(http::header::CONTENT_TYPE, "application/x-tar")
        // The context comes through the session (`remote=client-session`).
        .body(Full::new(Bytes::new()))
        .map_err(|e| Broken { doing: "preparing the build request", detail: e.to_string() })?;
    let exchange = http.send(http_request).await.map_err(broken("sending the build"))?;
    let status = exchange.response.status();
    if !status.is_success() {
        let message = read_message(exchange.response).await;
        return Err(Broken { doing: "starting the build", detail: format!("HTTP {}: {message}", status.as_u16()) });
    }
    let mut body = exchange.response.into_body();
    let mut buffer: Vec<u8> = Vec::new();
    let mut streamed = Streamed { image_id: None, error: None };
    loop {
        let frame = match body.frame().await {
            None => break,
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Err(Broken { doing: "reading the build's progress", detail: describe_hyper(&e) }),
        };
        let Ok(data) = frame.into_data() else { continue };
        buffer.extend_from_slice(&data);
        let mut start = 0;
        while let Some(offset) = buffer[start..].iter().position(|&b| b == b'\n') {
            take_message(&buffer[start..start + offset], &mut streamed, progress, on_event)?;
            start += offset + 1;
        }
        buffer.drain(..start);
        if buffer.len() > MAX_MESSAGE {
            return Err(Broken { doing: "reading the build's progress", detail: "a message too long".into() });
        }
    }
    take_message(&buffer, &mut streamed, progress, on_event)?;
    Ok(streamed)
}

fn take_message(
    line: &[u8],
    streamed: &mut Streamed,
    progress: &mut Progress,
    on_event: &mut (dyn FnMut(BuildEvent<'_>) + Send),
) -> Result<(), Broken> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Ok(());
    }
    let message: Message = serde_json::from_slice(line).map_err(|e| Broken {
        doing: "reading the build's progress",
        detail: format!("unreadable message ({e}): {}", String::from_utf8_lossy(&line[..line.len().min(200)])),
    })?;
    if let Some(error) = message.error_detail.and_then(|d| d.message).or(message.error) {
        streamed.error = Some(error);
        return Ok(());
    }
    match (message.id.as_deref(), message.aux) {
        (Some("moby.buildkit.trace"), Some(aux)) => {
            let status =
                decode_trace(&aux).map_err(|detail| Broken { doing: "reading the build's progress", detail })?;
            progress.feed(status, on_event);
        }
        (Some("moby.image.id"), Some(aux)) => {
            if let Some(id) = aux.get("ID").and_then(|v| v.as_str()) {
                streamed.image_id = Some(id.to_string());
            }
        }
        // Anything else (`stream` text, other aux) says nothing a BuildKit build needs.
        _ => {}
    }
    Ok(())
}

/// The query of `POST /build`, as `docker build` sends it with BuildKit: the context and the
/// Dockerfile's folder come through the session, so `dockerfile` is the file's name in its folder.
fn build_query(session_id: &str, request: &BuildKitRequest<'_>) -> Result<String, String> {
    let dockerfile = request.dockerfile.rsplit('/').next().unwrap_or(request.dockerfile);
    let build_args = serde_json::to_string(&request.build_args).map_err(|e| e.to_string())?;
    let labels = serde_json::to_string(&request.labels).map_err(|e| e.to_string())?;
    let mut pairs: Vec<(&str, &str)> = vec![("version", "2"), ("session", session_id), ("remote", "client-session")];
    // No tag: an untagged image (its id comes back in the stream).
    if !request.tag.is_empty() {
        pairs.push(("t", request.tag));
    }
    pairs.extend([
        ("dockerfile", dockerfile),
        ("buildargs", &build_args),
        ("labels", &labels),
        ("rm", "1"),
        ("forcerm", "1"),
    ]);
    if let Some(target) = request.target {
        pairs.push(("target", target));
    }
    if let Some(network) = request.network {
        pairs.push(("networkmode", network));
    }
    if let Some(platform) = request.platform {
        pairs.push(("platform", platform));
    }
    // One pair per host: the engine reads the parameter as a list.
    pairs.extend(request.extra_hosts.iter().map(|h| ("extrahosts", h.as_str())));
    serde_urlencoded::to_string(&pairs).map_err(|e| e.to_string())
}

/// Every secret's value, read now: a missing file or variable fails before the build starts.
fn read_secrets(sources: &HashMap<String, SecretSource>) -> Result<SecretValues> {
    let mut values = SecretValues::default();
    for (id, source) in sources {
        let value = match source {
            SecretSource::File(path) => {
                let unreadable = |e: std::io::Error| {
                    Error::new(
                        ErrorKind::Io,
                        format!("secret {id:?}: cannot read {}: {e}", path.display()),
                        format!("check the file given for secret {id:?}"),
                    )
                };
                let size = std::fs::metadata(path).map_err(unreadable)?.len();
                if size > MAX_SECRET_BYTES {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!(
                            "secret {id:?}: {} holds {size} bytes, more than BuildKit mounts ({} KB)",
                            path.display(),
                            MAX_SECRET_BYTES / 1024
                        ),
                        "give a smaller file (a token, a key), not a bundle",
                    ));
                }
                std::fs::read(path).map_err(unreadable)?
            }
            SecretSource::Env(name) => match std::env::var_os(name) {
                Some(value) => value.into_vec(),
                None => {
                    return Err(Error::new(
                        ErrorKind::Config,
                        format!("secret {id:?}: the environment variable {name} is not set"),
                        format!(
                            "set {name} where docker-rebuilder runs (an editor passes on the environment it was \
                             started in), or give secret {id:?} from a file"
                        ),
                    ))
                }
            },
        };
        values.0.insert(id.clone(), value);
    }
    Ok(values)
}

/// The agent socket to forward: `$SSH_AUTH_SOCK`.
fn ssh_agent() -> Result<PathBuf> {
    let fix = "start an agent (`eval \"$(ssh-agent)\"`, then `ssh-add`) where docker-rebuilder runs, \
               or build without SSH forwarding";
    let socket = std::env::var_os("SSH_AUTH_SOCK").filter(|s| !s.is_empty()).ok_or_else(|| {
        Error::new(ErrorKind::Config, "SSH forwarding is on, and no SSH agent runs: SSH_AUTH_SOCK is not set", fix)
    })?;
    let socket = PathBuf::from(socket);
    if !socket.exists() {
        return Err(Error::new(
            ErrorKind::Config,
            format!("SSH forwarding is on, and the agent socket SSH_AUTH_SOCK={} does not exist", socket.display()),
            fix,
        ));
    }
    Ok(socket)
}

/// The build failed (the engine's stream ended with `message`): say which step, and why.
fn build_failure(tag: &str, builder: &str, progress: &Progress, refusals: &Refusals, message: &str) -> Error {
    let masker = progress.masker();
    let failure = progress.failure();
    let at = failure.as_ref().map_or(String::new(), |f| format!(" at step \"{}\"", f.name));
    // The step's own error is BuildKit's text without the engine's wrapping.
    let error = masker.mask(failure.as_ref().map_or(message, |f| f.error).trim());
    if let Some(id) = refusals.secrets.first() {
        return Error::new(
            ErrorKind::ImageBuild,
            format!("{builder} build of {tag} failed{at}: it needs the secret {id:?}, which the build was not given ({error})"),
            format!("give the build a secret with id {id:?} (from a file or an environment variable)"),
        );
    }
    if let Some(id) = refusals.ssh.first() {
        let fix = if id == DEFAULT_SSH_ID {
            "turn SSH forwarding on for this build (it forwards $SSH_AUTH_SOCK)".to_string()
        } else {
            format!(
                "use the default SSH id (`RUN --mount=type=ssh` without `id={id}`): only $SSH_AUTH_SOCK is forwarded"
            )
        };
        return Error::new(
            ErrorKind::ImageBuild,
            format!("{builder} build of {tag} failed{at}: it mounts the SSH agent {id:?}, which the build does not forward ({error})"),
            fix,
        );
    }
    if let Some(failure) = failure.filter(|_| killed(&error)) {
        return Error::new(
            ErrorKind::ImageBuild,
            format!(
                "{builder} build of {tag}: step \"{}\" was killed (out of memory, or stopped): {error}",
                failure.name
            ),
            "give the engine (or Docker Desktop's VM) more memory, or the step less to do at once \
             (e.g. fewer parallel jobs); if it was stopped on purpose, build again",
        );
    }
    Error::new(ErrorKind::ImageBuild, format!("{builder} build of {tag} failed{at}: {error}"), FIX_STEP)
}

/// The step's process was killed: SIGKILL (the kernel's OOM killer, or a stop).
fn killed(error: &str) -> bool {
    error.contains("exit code: 137") || error.contains("signal: killed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request<'a>(target: Option<&'a str>) -> BuildKitRequest<'a> {
        BuildKitRequest {
            tag: "app:dev",
            dockerfile: "sub dir/Dockerfile",
            builder_only: &[],
            target,
            build_args: HashMap::from([("A".to_string(), "x y".to_string())]),
            labels: HashMap::new(),
            network: None,
            extra_hosts: &[],
            platform: None,
            secrets: HashMap::new(),
            ssh: false,
        }
    }

    #[test]
    fn the_query_is_docker_builds() {
        let query = build_query("abc", &request(Some("build"))).expect("query");
        assert_eq!(
            query,
            "version=2&session=abc&remote=client-session&t=app%3Adev&dockerfile=Dockerfile&buildargs=%7B%22A%22%3A%22x+y%22%7D\
             &labels=%7B%7D&rm=1&forcerm=1&target=build"
        );
        assert!(!build_query("abc", &request(None)).expect("query").contains("target"));
        // A stage image is left untagged: no `t` at all (an empty one is an invalid reference).
        let untagged = BuildKitRequest { tag: "", ..request(Some("build")) };
        let query = build_query("abc", &untagged).expect("query");
        assert!(!query.split('&').any(|pair| pair.starts_with("t=")), "no tag asked for: {query}");
    }

    #[test]
    fn the_network_and_each_extra_host_are_query_pairs_as_docker_build_sends_them() {
        let hosts = ["db:10.0.0.2".to_string(), "gw:host-gateway".to_string()];
        let request = BuildKitRequest {
            network: Some("host"),
            extra_hosts: &hosts,
            platform: Some("linux/arm64"),
            ..request(None)
        };
        let query = build_query("abc", &request).expect("query");
        assert!(
            query.ends_with(
                "&networkmode=host&platform=linux%2Farm64&extrahosts=db%3A10.0.0.2&extrahosts=gw%3Ahost-gateway"
            ),
            "{query}"
        );
    }

    #[test]
    fn a_missing_secret_source_fails_before_the_build_without_its_value() {
        let sources = HashMap::from([("tok".to_string(), SecretSource::Env("DR_TEST_SURELY_UNSET_VAR".into()))]);
        let error = read_secrets(&sources).expect_err("unset");
        assert_eq!(error.kind, ErrorKind::Config);
        assert!(error.cause.contains("\"tok\"") && error.cause.contains("DR_TEST_SURELY_UNSET_VAR"), "{error}");
        let sources = HashMap::from([("tok".to_string(), SecretSource::File("/nonexistent/secret".into()))]);
        let error = read_secrets(&sources).expect_err("no file");
        assert!(error.cause.contains("/nonexistent/secret"), "{error}");
    }

    #[test]
    fn recognises_a_killed_step() {
        assert!(killed("executor failed running [/bin/sh -c kill -9 $$]: exit code: 137"));
        assert!(!killed("executor failed running [/bin/sh -c exit 1]: exit code: 1"));
    }
}
