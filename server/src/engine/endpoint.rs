//! Where the engine listens, as `Engine::connect` resolved it, for the few requests bollard
//! cannot make for us (a BuildKit build's session and its progress stream): we dial it
//! ourselves and speak HTTP over the raw stream.
//!
//! Only plain sockets today (unix, tcp); TLS and ssh are a new variant here and a new arm in
//! `Endpoint::dial`, nothing else changes.

use std::fmt;
use std::path::PathBuf;

use tokio::io::{AsyncRead, AsyncWrite};

/// The socket path Docker listens on when DOCKER_HOST is not set.
const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// A byte stream to the engine, whatever carries it.
pub(crate) trait EngineIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> EngineIo for T {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `unix:///path/to/docker.sock`
    Unix(PathBuf),
    /// `tcp://host:port` (also written `http://`), plain text.
    Tcp { authority: String },
    /// What we cannot dial ourselves yet (`ssh://`, TLS): the address as given.
    Unsupported { address: String, why: &'static str },
}

impl Endpoint {
    /// The endpoint bollard connects to: DOCKER_HOST, else the default socket. TLS
    /// (DOCKER_TLS_VERIFY) is not dialed by us yet.
    pub(crate) fn from_env() -> Endpoint {
        let host = std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty());
        let tls = std::env::var_os("DOCKER_TLS_VERIFY").is_some_and(|v| !v.is_empty());
        match host {
            None => Endpoint::Unix(PathBuf::from(DEFAULT_SOCKET)),
            Some(h) => Endpoint::parse(&h, tls),
        }
    }

    pub(crate) fn parse(host: &str, tls: bool) -> Endpoint {
        if let Some(path) = host.strip_prefix("unix://") {
            return Endpoint::Unix(PathBuf::from(if path.is_empty() { DEFAULT_SOCKET } else { path }));
        }
        let plain = host.strip_prefix("tcp://").or_else(|| host.strip_prefix("http://"));
        match plain {
            Some(_) if tls => Endpoint::Unsupported { address: host.to_string(), why: "TLS (DOCKER_TLS_VERIFY)" },
            Some(rest) => {
                let authority = rest.split('/').next().unwrap_or_default();
                if authority.is_empty() {
                    return Endpoint::Unsupported { address: host.to_string(), why: "an address without a host" };
                }
                // Docker's default plain-text port when none is given.
                let has_port = authority.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok());
                let authority = if has_port { authority.to_string() } else { format!("{authority}:2375") };
                Endpoint::Tcp { authority }
            }
            None if host.starts_with("https://") => {
                Endpoint::Unsupported { address: host.to_string(), why: "TLS (https://)" }
            }
            None if host.starts_with("ssh://") => Endpoint::Unsupported { address: host.to_string(), why: "ssh://" },
            None => Endpoint::Unsupported { address: host.to_string(), why: "this kind of address" },
        }
    }

    /// The `Host` header of a request to it.
    pub(crate) fn host_header(&self) -> &str {
        match self {
            Endpoint::Tcp { authority } => authority,
            // What the docker CLI sends over a local socket.
            Endpoint::Unix(_) | Endpoint::Unsupported { .. } => "api.moby.localhost",
        }
    }

    /// Opens a new connection.
    pub(crate) async fn dial(&self) -> std::io::Result<Box<dyn EngineIo>> {
        match self {
            Endpoint::Unix(path) => Ok(Box::new(tokio::net::UnixStream::connect(path).await?)),
            Endpoint::Tcp { authority } => {
                let stream = tokio::net::TcpStream::connect(authority.clone()).await?;
                stream.set_nodelay(true)?;
                Ok(Box::new(stream))
            }
            Endpoint::Unsupported { why, .. } => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                format!("docker-rebuilder does not dial engines over {why} itself yet"),
            )),
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp { authority } => write!(f, "tcp://{authority}"),
            Endpoint::Unsupported { address, .. } => f.write_str(address),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_docker_host_holds() {
        assert_eq!(
            Endpoint::parse("unix:///run/user/1000/docker.sock", false),
            Endpoint::Unix("/run/user/1000/docker.sock".into())
        );
        assert_eq!(Endpoint::parse("tcp://10.0.0.2:2376", false), Endpoint::Tcp { authority: "10.0.0.2:2376".into() });
        assert_eq!(Endpoint::parse("tcp://engine", false), Endpoint::Tcp { authority: "engine:2375".into() });
        assert_eq!(Endpoint::parse("http://[::1]:2375/", false), Endpoint::Tcp { authority: "[::1]:2375".into() });
        assert_eq!(Endpoint::parse("tcp://[::1]", false), Endpoint::Tcp { authority: "[::1]:2375".into() });
        assert!(matches!(Endpoint::parse("tcp://engine:2376", true), Endpoint::Unsupported { .. }));
        assert!(matches!(Endpoint::parse("ssh://me@box", false), Endpoint::Unsupported { .. }));
        assert_eq!(Endpoint::parse("tcp://engine:2375", false).to_string(), "tcp://engine:2375");
        assert_eq!(Endpoint::Unix("/var/run/docker.sock".into()).to_string(), "unix:///var/run/docker.sock");
    }
}
