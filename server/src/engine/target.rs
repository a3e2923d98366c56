//! Which engine to talk to, resolved as the docker CLI resolves it, so that docker-rebuilder
//! builds where `docker` would: `--host`/`-H`, `--context`/`-c` (not both), DOCKER_HOST,
//! DOCKER_CONTEXT, `currentContext` in `$DOCKER_CONFIG/config.json`, else the default socket.
//! A named context is read from docker's context store (`contexts/meta/<sha256 of the
//! name>/meta.json`, its TLS material under `contexts/tls/<same>/docker/`); the `default`
//! context is the flags and the environment (DOCKER_TLS_VERIFY, DOCKER_TLS, DOCKER_CERT_PATH).
//! Pure apart from reading those files: the environment comes in as `EnvVars`.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};

/// The socket path Docker listens on when nothing names another engine.
pub(crate) const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

/// What the user said on the command line (docker's global flags, which a CLI plugin is
/// given too).
#[derive(Debug, Clone, Default)]
pub struct EngineFlags {
    pub host: Option<String>,
    pub context: Option<String>,
    /// `--config`: docker's config folder (else DOCKER_CONFIG, else ~/.docker).
    pub config: Option<PathBuf>,
    pub tls: bool,
    pub tlsverify: bool,
    pub tlscacert: Option<PathBuf>,
    pub tlscert: Option<PathBuf>,
    pub tlskey: Option<PathBuf>,
}

/// The environment variables that decide the engine, read once.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnvVars {
    pub(crate) docker_host: Option<String>,
    pub(crate) docker_context: Option<String>,
    pub(crate) docker_config: Option<PathBuf>,
    pub(crate) tls_verify: bool,
    pub(crate) tls: bool,
    pub(crate) cert_path: Option<PathBuf>,
    pub(crate) home: Option<PathBuf>,
}

impl EnvVars {
    pub(crate) fn from_process() -> EnvVars {
        // Docker treats an empty variable as unset.
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        EnvVars {
            docker_host: var("DOCKER_HOST"),
            docker_context: var("DOCKER_CONTEXT"),
            docker_config: var("DOCKER_CONFIG").map(PathBuf::from),
            tls_verify: var("DOCKER_TLS_VERIFY").is_some(),
            tls: var("DOCKER_TLS").is_some(),
            cert_path: var("DOCKER_CERT_PATH").map(PathBuf::from),
            home: var("HOME").map(PathBuf::from),
        }
    }
}

/// Why this engine: shown by `status` and in every connection error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineSource {
    HostFlag,
    HostEnv,
    /// A named context, and what named it.
    Context {
        name: String,
        named_by: ContextNamedBy,
    },
    /// Nothing named one: the default socket.
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextNamedBy {
    Flag,
    Env,
    /// `currentContext` in this config.json (`docker context use`).
    Config(PathBuf),
}

impl fmt::Display for EngineSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineSource::HostFlag => f.write_str("--host"),
            EngineSource::HostEnv => f.write_str("DOCKER_HOST"),
            EngineSource::Context { name, named_by: ContextNamedBy::Flag } => write!(f, "context {name} (--context)"),
            EngineSource::Context { name, named_by: ContextNamedBy::Env } => {
                write!(f, "context {name} (DOCKER_CONTEXT)")
            }
            EngineSource::Context { name, named_by: ContextNamedBy::Config(path) } => {
                write!(f, "context {name} (currentContext in {}, set by `docker context use`)", path.display())
            }
            EngineSource::Default => {
                f.write_str("the default (no --host, --context, DOCKER_HOST, DOCKER_CONTEXT or current context)")
            }
        }
    }
}

/// How to speak TLS to an engine: the files docker would use and whether to verify it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct TlsFiles {
    pub(crate) ca: Option<PathBuf>,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
    /// `--tls`/DOCKER_TLS without verify, or a context's SkipTLSVerify.
    pub(crate) skip_verify: bool,
}

/// An engine address as docker accepts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    Unix(PathBuf),
    /// `host:port`; TLS when `tls` is set.
    Tcp {
        authority: String,
        host: String,
        tls: Option<TlsFiles>,
    },
    Ssh {
        user: Option<String>,
        host: String,
        port: Option<u16>,
        socket: Option<String>,
    },
}

/// The engine docker would use, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub(crate) address: Address,
    /// The address as written (DOCKER_HOST, the flag, the context's Host).
    pub(crate) written: String,
    pub source: EngineSource,
}

impl Target {
    /// The address, as docker would print it.
    pub fn address(&self) -> String {
        match &self.address {
            Address::Unix(path) => format!("unix://{}", path.display()),
            Address::Tcp { authority, tls: Some(_), .. } => format!("tcp://{authority} (TLS)"),
            Address::Tcp { authority, .. } => format!("tcp://{authority}"),
            Address::Ssh { .. } => self.written.clone(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, from {}", self.address(), self.source)
    }
}

fn config_error(message: String, fix: &str) -> Error {
    // The engine cannot be reached as configured: the session tries again on the next cycle.
    Error::new(ErrorKind::EngineUnavailable, message, fix)
}

/// docker's configuration folder: `--config`, else DOCKER_CONFIG, else ~/.docker.
pub(crate) fn config_dir(flags: &EngineFlags, env: &EnvVars) -> PathBuf {
    flags
        .config
        .clone()
        .or_else(|| env.docker_config.clone())
        .or_else(|| env.home.as_ref().map(|h| h.join(".docker")))
        .unwrap_or_else(|| PathBuf::from(".docker"))
}

/// Resolves the engine as `docker` does for these flags and this environment.
pub(crate) fn resolve(flags: &EngineFlags, env: &EnvVars) -> Result<Target> {
    if flags.host.is_some() && flags.context.is_some() {
        return Err(config_error(
            "conflicting options: --host and --context both name an engine".into(),
            "give one of them, as docker requires",
        ));
    }
    let config_dir = config_dir(flags, env);
    let named = if let Some(name) = &flags.context {
        Some((name.clone(), ContextNamedBy::Flag))
    } else if flags.host.is_some() || env.docker_host.is_some() {
        None
    } else if let Some(name) = &env.docker_context {
        Some((name.clone(), ContextNamedBy::Env))
    } else {
        let path = config_dir.join("config.json");
        current_context(&path)?.map(|name| (name, ContextNamedBy::Config(path)))
    };
    match named {
        Some((name, named_by)) if name != "default" => {
            let (written, tls) = read_context(&config_dir, &name, &named_by)?;
            let source = EngineSource::Context { name, named_by };
            let address = parse_address(&written, tls).map_err(|why| {
                config_error(
                    format!("the engine address {written:?} of {source} is not usable: {why}"),
                    "fix the context (`docker context inspect`) or pick another (`docker context use`)",
                )
            })?;
            Ok(Target { address, written, source })
        }
        _ => default_context(flags, env, &config_dir),
    }
}

/// The `default` context: the flags, else DOCKER_HOST, else the default socket; TLS from the
/// flags and DOCKER_TLS_VERIFY/DOCKER_TLS, its files from them or DOCKER_CERT_PATH.
fn default_context(flags: &EngineFlags, env: &EnvVars, config_dir: &Path) -> Result<Target> {
    let (written, source) = match (&flags.host, &env.docker_host) {
        (Some(h), _) => (h.clone(), EngineSource::HostFlag),
        (None, Some(h)) => (h.clone(), EngineSource::HostEnv),
        (None, None) => (format!("unix://{DEFAULT_SOCKET}"), EngineSource::Default),
    };
    let verify = flags.tlsverify || env.tls_verify;
    let tls = if verify || flags.tls || env.tls {
        let certs = env.cert_path.clone().unwrap_or_else(|| config_dir.to_path_buf());
        // As docker: the CA is required when verifying; a client certificate or key that was
        // not asked for by flag and does not exist is simply not sent.
        let optional =
            |flag: &Option<PathBuf>, name: &str| flag.clone().or_else(|| Some(certs.join(name)).filter(|p| p.exists()));
        let ca = flags.tlscacert.clone().or_else(|| Some(certs.join("ca.pem")).filter(|p| verify || p.exists()));
        Some(TlsFiles {
            ca,
            cert: optional(&flags.tlscert, "cert.pem"),
            key: optional(&flags.tlskey, "key.pem"),
            skip_verify: !verify,
        })
    } else {
        None
    };
    let address = parse_address(&written, tls).map_err(|why| {
        config_error(
            format!("the engine address {written:?} ({source}) is not usable: {why}"),
            "give an address as docker takes it: unix:///path/to/docker.sock, tcp://HOST:PORT or ssh://USER@HOST",
        )
    })?;
    Ok(Target { address, written, source })
}

/// `currentContext` of docker's config.json (None when the file or the key is absent).
fn current_context(path: &Path) -> Result<Option<String>> {
    let Some(value) = read_json(path, "docker's config", "fix or remove the file (docker itself refuses it too)")?
    else {
        return Ok(None);
    };
    Ok(value.get("currentContext").and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_string))
}

/// A JSON file of docker's, None when it does not exist. `what` names it in the errors; `fix`
/// says what to do when it is not JSON.
fn read_json(path: &Path, what: &str, fix: &str) -> Result<Option<serde_json::Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("cannot read {what} {}", path.display()), e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| config_error(format!("{what} {} is not valid JSON: {e}", path.display()), fix))
}

/// The folder name docker's context store gives a context: the sha256 of its name, in hex.
fn store_id(name: &str) -> String {
    Sha256::digest(name.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// A named context's docker endpoint: its Host and its TLS material.
fn read_context(config_dir: &Path, name: &str, named_by: &ContextNamedBy) -> Result<(String, Option<TlsFiles>)> {
    let id = store_id(name);
    let meta = config_dir.join("contexts").join("meta").join(&id).join("meta.json");
    let named = EngineSource::Context { name: name.to_string(), named_by: named_by.clone() };
    let what = format!("the docker context {name:?}");
    let Some(value) = read_json(&meta, &what, "recreate it (`docker context rm`, `docker context create`)")? else {
        return Err(config_error(
            format!("no docker context named {name:?} ({named}; looked for {})", meta.display()),
            "list the contexts with `docker context ls`, then name one of them, or `docker context use default`",
        ));
    };
    let docker = value.pointer("/Endpoints/docker");
    let host = docker.and_then(|d| d.get("Host")).and_then(|h| h.as_str()).unwrap_or_default();
    if host.is_empty() {
        return Err(config_error(
            format!("the docker context {name:?} has no docker endpoint Host ({})", meta.display()),
            "recreate it with `docker context create NAME --docker host=ADDRESS`",
        ));
    }
    let skip_verify = docker.and_then(|d| d.get("SkipTLSVerify")).and_then(|v| v.as_bool()).unwrap_or(false);
    let tls_dir = config_dir.join("contexts").join("tls").join(&id).join("docker");
    let file = |n: &str| Some(tls_dir.join(n)).filter(|p| p.exists());
    let (ca, cert, key) = (file("ca.pem"), file("cert.pem"), file("key.pem"));
    // A context has TLS when it holds TLS material or skips verification, as docker decides.
    let tls = (ca.is_some() || cert.is_some() || key.is_some() || skip_verify).then_some(TlsFiles {
        ca,
        cert,
        key,
        skip_verify,
    });
    Ok((host.to_string(), tls))
}

/// An address as docker's `ParseHost` takes it: `unix://`, `tcp://` (`http://`), `https://`,
/// `ssh://`, or a bare `host:port` (tcp). The port defaults to 2375, or 2376 with TLS.
pub(crate) fn parse_address(written: &str, tls: Option<TlsFiles>) -> std::result::Result<Address, String> {
    let written = written.trim();
    let (scheme, rest) = match written.split_once("://") {
        Some((s, r)) => (s.to_ascii_lowercase(), r),
        None => ("tcp".to_string(), written),
    };
    match scheme.as_str() {
        "unix" => Ok(Address::Unix(PathBuf::from(if rest.is_empty() { DEFAULT_SOCKET } else { rest }))),
        "tcp" | "http" | "https" => {
            let tls = if scheme == "https" { Some(tls.unwrap_or_default()) } else { tls };
            let authority = rest.split('/').next().unwrap_or_default();
            let (host, port) = split_host_port(authority)?;
            let host = if host.is_empty() { "localhost".to_string() } else { host };
            let port = port.unwrap_or(if tls.is_some() { 2376 } else { 2375 });
            let authority = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
            Ok(Address::Tcp { authority, host, tls })
        }
        "ssh" => {
            let authority = rest.split('/').next().unwrap_or_default();
            let (user, hostport) = match authority.rsplit_once('@') {
                Some((u, h)) => (Some(u.to_string()).filter(|u| !u.is_empty()), h),
                None => (None, authority),
            };
            let (host, port) = split_host_port(hostport)?;
            if host.is_empty() {
                return Err("an ssh:// address needs a host".into());
            }
            // `ssh://host/path/to/docker.sock`: the engine's socket on that host.
            let socket = rest.find('/').map(|i| rest[i..].to_string()).filter(|p| p.len() > 1);
            Ok(Address::Ssh { user, host, port, socket })
        }
        "fd" | "npipe" => Err(format!("{scheme}:// is not available on this system")),
        other => Err(format!("the scheme {other}:// is not one docker takes (unix, tcp, https, ssh)")),
    }
}

/// `host:port`, `[v6]:port`, `host` -> (host, port).
fn split_host_port(authority: &str) -> std::result::Result<(String, Option<u16>), String> {
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, rest) = v6.split_once(']').ok_or("an IPv6 address without its closing `]`")?;
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p.parse::<u16>().map_err(|_| format!("the port {p:?} is not a number"))?),
            None => None,
        };
        return Ok((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, "")) => Ok((host.to_string(), None)),
        Some((host, port)) if !host.contains(':') => {
            Ok((host.to_string(), Some(port.parse::<u16>().map_err(|_| format!("the port {port:?} is not a number"))?)))
        }
        _ => Ok((authority.to_string(), None)),
    }
}

#[cfg(test)]
#[path = "target_tests.rs"]
mod tests;
