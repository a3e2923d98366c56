//! Where the engine listens and how to open a connection to it: the one dialer for every
//! request, bollard's (through `transport.rs`) and our own raw HTTP (a BuildKit build's
//! session and progress stream). unix, tcp, tcp with TLS, ssh.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};

use super::ssh::SshDial;
use super::target::{Address, Target};

/// A byte stream to the engine, whatever carries it.
pub(crate) trait EngineIo: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> EngineIo for T {}

#[derive(Clone)]
pub(crate) enum Endpoint {
    /// `unix:///path/to/docker.sock`
    Unix(PathBuf),
    /// `tcp://host:port`, plain text.
    Tcp { authority: String },
    /// `tcp://host:port` with TLS (`https://`, DOCKER_TLS_VERIFY, a context's TLS material).
    Tls { authority: String, name: rustls::pki_types::ServerName<'static>, config: Arc<rustls::ClientConfig> },
    /// `ssh://[user@]host[:port]`: `docker system dial-stdio` there.
    Ssh(SshDial),
}

impl Endpoint {
    /// The endpoint for a resolved target; the error says which TLS file is unusable and why.
    pub(crate) fn of(target: &Target) -> Result<Endpoint, String> {
        Ok(match &target.address {
            Address::Unix(path) => Endpoint::Unix(path.clone()),
            Address::Tcp { authority, tls: None, .. } => Endpoint::Tcp { authority: authority.clone() },
            Address::Tcp { authority, host, tls: Some(files) } => Endpoint::Tls {
                authority: authority.clone(),
                name: super::tls::server_name(host)?,
                config: super::tls::client_config(files)?,
            },
            Address::Ssh { user, host, port, socket } => Endpoint::Ssh(SshDial {
                user: user.clone(),
                host: host.clone(),
                port: *port,
                socket: socket.clone(),
                said: Arc::default(),
            }),
        })
    }

    /// The `Host` header of a request to it.
    pub(crate) fn host_header(&self) -> &str {
        match self {
            Endpoint::Tcp { authority } | Endpoint::Tls { authority, .. } => authority,
            // What the docker CLI sends over a local socket (and through dial-stdio).
            Endpoint::Unix(_) | Endpoint::Ssh(_) => "api.moby.localhost",
        }
    }

    /// Whether connections to it are worth keeping open between requests (a TLS handshake,
    /// an ssh process); a local socket costs less to open than to keep.
    pub(crate) fn costly_to_open(&self) -> bool {
        matches!(self, Endpoint::Tls { .. } | Endpoint::Ssh(_))
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
            Endpoint::Tls { authority, name, config } => {
                let stream = tokio::net::TcpStream::connect(authority.clone()).await?;
                stream.set_nodelay(true)?;
                let tls = tokio_rustls::TlsConnector::from(config.clone()).connect(name.clone(), stream).await?;
                Ok(Box::new(tls))
            }
            Endpoint::Ssh(ssh) => ssh.dial().await,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(path) => write!(f, "unix://{}", path.display()),
            Endpoint::Tcp { authority } => write!(f, "tcp://{authority}"),
            Endpoint::Tls { authority, .. } => write!(f, "tcp://{authority} (TLS)"),
            Endpoint::Ssh(ssh) => {
                let user = ssh.user.as_ref().map(|u| format!("{u}@")).unwrap_or_default();
                let port = ssh.port.map(|p| format!(":{p}")).unwrap_or_default();
                write!(f, "ssh://{user}{}{port}", ssh.host)
            }
        }
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::target::{parse_address, EngineSource, Target};

    fn endpoint(written: &str) -> Endpoint {
        let address = parse_address(written, None).expect("parses");
        Endpoint::of(&Target { address, written: written.into(), source: EngineSource::HostEnv }).expect("endpoint")
    }

    #[test]
    fn shows_as_docker_writes_it() {
        assert_eq!(endpoint("unix:///var/run/docker.sock").to_string(), "unix:///var/run/docker.sock");
        assert_eq!(endpoint("tcp://engine").to_string(), "tcp://engine:2375");
        assert_eq!(endpoint("ssh://me@box:2222").to_string(), "ssh://me@box:2222");
        assert_eq!(endpoint("tcp://engine").host_header(), "engine:2375");
        assert_eq!(endpoint("ssh://box").host_header(), "api.moby.localhost");
        assert!(!endpoint("unix:///x.sock").costly_to_open() && endpoint("ssh://box").costly_to_open());
    }

    #[test]
    fn ssh_runs_dial_stdio_as_docker_does() {
        let Endpoint::Ssh(ssh) = endpoint("ssh://me@box:2222/run/user/1000/docker.sock") else { panic!("not ssh") };
        assert_eq!(
            ssh.args().join(" "),
            "-o ConnectTimeout=30 -o BatchMode=yes -T -l me -p 2222 -- box docker \
             --host=unix:///run/user/1000/docker.sock system dial-stdio"
        );
    }
}
