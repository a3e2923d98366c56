//! Connecting to the engine docker would use (`target.rs`), and, when that fails, saying why
//! in the terms of the cause: the endpoint, where it came from, and a fix that fits (no such
//! socket, permission denied, refused, TLS, ssh authentication), not always "start the engine".

use std::sync::OnceLock;

use super::endpoint::Endpoint;
use super::target::{self, EngineFlags, EngineSource, EnvVars, Target};
use super::transport;
use crate::error::{Error, ErrorKind, Result};

/// The command line's engine flags, given once at start (as the environment is).
static FLAGS: OnceLock<EngineFlags> = OnceLock::new();

/// Sets the engine flags every later connection resolves with (the first call wins).
pub fn use_flags(flags: EngineFlags) {
    let _ = FLAGS.set(flags);
}

/// The engine docker would use now, and why.
pub fn resolve() -> Result<Target> {
    let default = EngineFlags::default();
    target::resolve(FLAGS.get().unwrap_or(&default), &EnvVars::from_process())
}

/// docker's configuration folder, as the command line and the environment name it.
pub(crate) fn config_dir() -> std::path::PathBuf {
    let default = EngineFlags::default();
    target::config_dir(FLAGS.get().unwrap_or(&default), &EnvVars::from_process())
}

/// Connects to `target` and checks that an engine answers: (the client, the endpoint).
pub(super) async fn connect(target: &Target) -> Result<(bollard::Docker, Endpoint)> {
    let endpoint = Endpoint::of(target).map_err(|why| {
        Error::new(
            ErrorKind::EngineUnavailable,
            format!("cannot speak TLS to the engine at {target}: {why}"),
            tls_files_fix(&target.source),
        )
    })?;
    let docker = transport::docker(&endpoint).map_err(|e| failed(target, &endpoint, &e, None))?;
    let answered = match docker.negotiate_version().await {
        Ok(docker) => docker.ping().await.map(|_| docker),
        Err(e) => Err(e),
    };
    match answered {
        Ok(docker) => Ok((docker, endpoint)),
        Err(e) => {
            // hyper may report only that the request was dropped ("Canceled") when the
            // connection fails after the handshake: TLS 1.3 servers refuse a missing client
            // certificate by an alert the client reads after sending its request. A request of
            // our own, on a connection of our own, reads that alert: a message with the cause.
            let unsaid = transport::io_cause(&e).is_none() && matches!(endpoint, Endpoint::Tls { .. });
            let probed = if unsaid { probe(&endpoint).await } else { None };
            Err(failed(target, &endpoint, &e, probed.as_ref()))
        }
    }
}

/// How long the probe of a failed connection may take: it only looks for a cause.
const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The `io::Error` a `GET /_ping` on a new connection to `endpoint` ends with, if any.
async fn probe(endpoint: &Endpoint) -> Option<std::io::Error> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut io = endpoint.dial().await?;
        let request = format!("GET /_ping HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", endpoint.host_header());
        // The engine's alert may come after it closed: the read says why, even if the write failed.
        let sent = async {
            io.write_all(request.as_bytes()).await?;
            io.flush().await
        }
        .await;
        let mut answer = Vec::new();
        io.read_to_end(&mut answer).await?;
        sent
    };
    match tokio::time::timeout(PROBE_TIMEOUT, exchange).await {
        Ok(Err(e)) => Some(e),
        Ok(Ok(())) | Err(_) => None,
    }
}

fn tls_files_fix(source: &EngineSource) -> &'static str {
    match source {
        EngineSource::Context { .. } => "check the context's TLS files (`docker context inspect`), or recreate it",
        _ => "check the files DOCKER_CERT_PATH (or --tlscacert, --tlscert, --tlskey) names",
    }
}

/// The error for a connection that failed, by its cause.
/// `probed`: what a connection of our own ended with, when the error does not say.
pub(super) fn failed(
    target: &Target,
    endpoint: &Endpoint,
    error: &bollard::errors::Error,
    probed: Option<&std::io::Error>,
) -> Error {
    let at = format!("the Docker engine at {target}");
    let (cause, fix) = diagnose(target, endpoint, error, probed);
    Error::new(ErrorKind::EngineUnavailable, format!("{at}: {cause}"), fix)
}

fn diagnose(
    target: &Target,
    endpoint: &Endpoint,
    error: &bollard::errors::Error,
    probed: Option<&std::io::Error>,
) -> (String, String) {
    use std::io::ErrorKind as Io;
    let elsewhere = match target.source {
        EngineSource::Default => "or point docker-rebuilder at another engine (--context, --host, DOCKER_HOST)",
        _ => "or pick another engine (`docker context ls`, --context, --host)",
    };
    if let bollard::errors::Error::DockerResponseServerError { message, .. } = error {
        if message.contains("HTTP request to an HTTPS server") {
            return (
                "it speaks TLS, and this connection is plain text".into(),
                "set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (or pass --tlsverify), or use a context with its TLS \
                 material"
                    .into(),
            );
        }
        return (
            format!("it answered with an error: {message}"),
            "check that it is a Docker engine (`docker info`)".into(),
        );
    }
    if let Endpoint::Ssh(ssh) = endpoint {
        let said = ssh.last_words();
        let fix = if said.contains("Permission denied") {
            "ssh could not log in: load your key into the agent (`ssh-add`) or name it in ~/.ssh/config; \
             docker-rebuilder runs ssh without password prompts (BatchMode)"
        } else if said.contains("Host key verification failed") || said.contains("REMOTE HOST IDENTIFICATION") {
            "ssh does not know (or no longer trusts) the host's key: connect once with `ssh HOST` to check and \
             accept it"
        } else if said.contains("command not found") || said.contains("docker: not found") {
            "the remote host has no `docker` CLI on its PATH: install it there (ssh engines run `docker system \
             dial-stdio`)"
        } else if said.contains("Connection refused") || said.contains("Could not resolve") {
            "check the host and port in the address, and that sshd runs there"
        } else {
            "check that `ssh HOST docker version` works from this shell"
        };
        let why = if said.is_empty() { error.to_string() } else { format!("ssh says: {}", said.replace('\n', " ")) };
        return (why, fix.into());
    }
    let io = transport::io_cause(error).or(probed);
    if let Some(tls) = io.and_then(|e| e.get_ref()).and_then(|e| e.downcast_ref::<rustls::Error>()) {
        use rustls::AlertDescription as Alert;
        let fix = match tls {
            rustls::Error::AlertReceived(Alert::CertificateRequired | Alert::HandshakeFailure) => {
                "the engine wants a client certificate it trusts: cert.pem and key.pem signed by its CA"
            }
            rustls::Error::AlertReceived(Alert::BadCertificate | Alert::UnknownCA | Alert::CertificateUnknown) => {
                "the engine does not trust the client certificate: use one signed by the CA the engine trusts"
            }
            rustls::Error::InvalidCertificate(_) => {
                "the engine's certificate is not trusted for this address: give the CA that signed it (ca.pem), \
                 and an address the certificate names"
            }
            _ => "check that the engine speaks TLS on this port, with certificates from the same CA as yours",
        };
        return (format!("the TLS handshake failed: {tls}"), format!("{fix}; {}", tls_files_fix(&target.source)));
    }
    if let (Endpoint::Tcp { .. }, Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::UnexpectedEof)) =
        (endpoint, io.map(|e| e.kind()))
    {
        return (
            "it closed the connection without an answer".into(),
            "if the engine expects TLS (port 2376), set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH (or pass \
             --tlsverify), or use a context with its TLS material; else check the address"
                .into(),
        );
    }
    match (endpoint, io.map(|e| e.kind())) {
        (Endpoint::Unix(path), Some(Io::NotFound)) => (
            format!("there is no socket at {}", path.display()),
            format!("start the engine (`sudo systemctl start docker`, or `dockerd`), {elsewhere}"),
        ),
        (Endpoint::Unix(path), Some(Io::PermissionDenied)) => (
            format!("permission denied on {}", path.display()),
            "add yourself to the docker group (`sudo usermod -aG docker $USER`, then log in again), or use a rootless \
             engine's socket"
                .into(),
        ),
        (Endpoint::Unix(_), Some(Io::ConnectionRefused)) => (
            "the socket is there but no engine listens on it (it stopped?)".into(),
            format!("start the engine again (`sudo systemctl start docker`), {elsewhere}"),
        ),
        (_, Some(Io::ConnectionRefused)) => (
            "the connection was refused: nothing listens at that address".into(),
            format!("check the address and that the engine runs there, {elsewhere}"),
        ),
        (_, Some(Io::TimedOut)) | (_, None) if matches!(error, bollard::errors::Error::RequestTimeoutError) => (
            "it did not answer in time".into(),
            format!("check that the engine is healthy (`docker info`), {elsewhere}"),
        ),
        (_, Some(kind)) => (
            format!("cannot connect ({kind}): {}", io.map(|e| e.to_string()).unwrap_or_default()),
            format!("check the address and that the engine runs there, {elsewhere}"),
        ),
        (_, None) => (error.to_string(), format!("check that the engine runs there (`docker info`), {elsewhere}")),
    }
}
