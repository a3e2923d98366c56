//! The BuildKit session: what `docker build` serves the engine while BuildKit builds.
//!
//! We open `POST /session` asking to upgrade to `h2c`; once the engine has switched protocols,
//! the engine is the gRPC *client* on that stream and we are the server (HTTP/2), answering:
//! the health check (dockerd asks every second and drops the session on a failure), registry
//! auth (anonymous: BuildKit then fetches anonymous tokens itself), secrets
//! (`RUN --mount=type=secret`) and SSH agent forwarding (`RUN --mount=type=ssh`, proxied to
//! `$SSH_AUTH_SOCK`) and the build context (`filesync.rs`). The headers of the request name the session and every method served.
//!
//! Every task of the session (the HTTP/2 connection and the one per gRPC call that hyper
//! spawns) lives in one `JoinSet` the `Session` owns: `close` (or dropping it) ends them all.

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

use bollard_buildkit_proto::health::health_check_response::ServingStatus;
use bollard_buildkit_proto::health::health_server::{Health, HealthServer};
use bollard_buildkit_proto::health::{HealthCheckRequest, HealthCheckResponse, HealthListRequest, HealthListResponse};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::secrets_server::{Secrets, SecretsServer};
use bollard_buildkit_proto::moby::buildkit::secrets::v1::{GetSecretRequest, GetSecretResponse};
use bollard_buildkit_proto::moby::filesync::packet::file_sync_server::FileSyncServer;
use bollard_buildkit_proto::moby::filesync::v1::auth_server::{Auth, AuthServer};
use bollard_buildkit_proto::moby::filesync::v1::{
    CredentialsRequest, CredentialsResponse, FetchTokenRequest, FetchTokenResponse, GetTokenAuthorityRequest,
    GetTokenAuthorityResponse, VerifyTokenAuthorityRequest, VerifyTokenAuthorityResponse,
};
use bollard_buildkit_proto::moby::sshforward::v1::ssh_server::{Ssh, SshServer};
use bollard_buildkit_proto::moby::sshforward::v1::{BytesMessage, CheckAgentRequest, CheckAgentResponse};
use bytes::Bytes;
use futures_util::Stream;
use http::Method;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;
use tonic::{Request, Response, Status, Streaming};

use super::dial::{describe_hyper, Http};
use super::filesync::{ContextFiles, FileSyncService};

/// The SSH id a `RUN --mount=type=ssh` without `id=` asks for; the one we forward.
pub(super) const DEFAULT_SSH_ID: &str = "default";

/// Every gRPC method we serve, announced in the session's headers.
const METHODS: &[&str] = &[
    "/grpc.health.v1.Health/Check",
    "/moby.filesync.v1.Auth/Credentials",
    "/moby.filesync.v1.Auth/FetchToken",
    "/moby.filesync.v1.Auth/GetTokenAuthority",
    "/moby.filesync.v1.Auth/VerifyTokenAuthority",
    "/moby.buildkit.secrets.v1.Secrets/GetSecret",
    "/moby.sshforward.v1.SSH/CheckAgent",
    "/moby.sshforward.v1.SSH/ForwardAgent",
    "/moby.filesync.v1.FileSync/DiffCopy",
];

/// The largest secret BuildKit mounts (its own limit): a bigger one fails before the build.
pub(super) const MAX_SECRET_BYTES: u64 = 500 * 1024;

/// Secret values by id. Its `Debug` shows the ids only: a value never reaches any output.
#[derive(Default)]
pub(super) struct SecretValues(pub(super) HashMap<String, Vec<u8>>);

impl fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut ids: Vec<&String> = self.0.keys().collect();
        ids.sort();
        f.debug_struct("SecretValues").field("ids", &ids).finish_non_exhaustive()
    }
}

/// What the engine asked of the session that we could not give, for the build's error.
#[derive(Default, Debug)]
pub(super) struct Refusals {
    /// Secret ids asked for and not given to the build.
    pub(super) secrets: Vec<String>,
    /// SSH ids asked for and not forwarded.
    pub(super) ssh: Vec<String>,
    /// Why the session's connection ended, when it did.
    pub(super) ended: Option<String>,
}

#[derive(Default)]
struct Shared {
    refusals: Mutex<Refusals>,
}

impl Shared {
    fn refusals(&self) -> MutexGuard<'_, Refusals> {
        // A panic elsewhere while holding it leaves plain data: keep using it.
        self.refusals.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A running session. Its tasks end with it.
pub(super) struct Session {
    id: String,
    tasks: Tasks,
    shared: Arc<Shared>,
}

impl Session {
    /// Opens the session on the engine and starts serving it; returns once the engine has
    /// accepted it (so it is registered before the build that names it is sent).
    pub(super) async fn start(
        http: &Http,
        name: &str,
        shared_key: &str,
        secrets: SecretValues,
        ssh_agent: Option<PathBuf>,
        files: Option<Arc<ContextFiles>>,
    ) -> Result<Session, String> {
        let id = new_id();
        let mut request = http
            .request(Method::POST, "/session")
            .header(http::header::UPGRADE, "h2c")
            .header(http::header::CONNECTION, "Upgrade")
            .header("X-Docker-Expose-Session-Uuid", &id)
            .header("X-Docker-Expose-Session-Name", header_safe(name))
            .header("X-Docker-Expose-Session-Sharedkey", header_safe(shared_key));
        for method in METHODS {
            request = request.header("X-Docker-Expose-Session-Grpc-Method", *method);
        }
        let request = request.body(Full::new(Bytes::new())).map_err(|e| format!("bad session request: {e}"))?;
        let stream = http.upgrade(request).await?;

        let shared = Arc::new(Shared::default());
        let routes = tonic::service::Routes::new(HealthServer::new(HealthService))
            .add_service(AuthServer::new(AuthService))
            .add_service(SecretsServer::new(SecretsService { values: secrets, shared: shared.clone() }))
            .add_service(SshServer::new(SshService { agent: ssh_agent, shared: shared.clone() }))
            .add_service(FileSyncServer::new(FileSyncService { files }))
            .prepare();
        let tasks = Tasks::default();
        let executor = tasks.clone();
        let on_end = shared.clone();
        tasks.spawn(async move {
            let service = hyper_util::service::TowerToHyperService::new(routes);
            let served = hyper::server::conn::http2::Builder::new(executor)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            on_end.refusals().ended = Some(match served {
                Ok(()) => "the session's connection was closed".to_string(),
                Err(e) => format!("the session's connection failed: {}", describe_hyper(&e)),
            });
        });
        Ok(Session { id, tasks, shared })
    }

    pub(super) fn id(&self) -> &str {
        &self.id
    }

    /// What the engine asked for that we could not give, so far.
    pub(super) fn refusals(&self) -> MutexGuard<'_, Refusals> {
        self.shared.refusals()
    }

    /// Ends the session: its connection closes (the engine forgets it) and every task of it
    /// has ended when this returns.
    pub(super) async fn close(self) {
        let mut set = std::mem::take(&mut *self.tasks.lock());
        set.shutdown().await;
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // A build dropped mid-way (cancelled): end the tasks now, without waiting.
        self.tasks.lock().abort_all();
    }
}

/// The session's tasks; also the executor hyper spawns each gRPC call's task on.
#[derive(Clone, Default)]
struct Tasks(Arc<Mutex<JoinSet<()>>>);

impl Tasks {
    fn lock(&self) -> MutexGuard<'_, JoinSet<()>> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut set = self.lock();
        // Forget the calls that have ended (a health check every second).
        while set.try_join_next().is_some() {}
        set.spawn(task);
    }
}

impl<F> hyper::rt::Executor<F> for Tasks
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        self.spawn(async move {
            future.await;
        });
    }
}

/// A session id as unique as BuildKit's own (128 bits), without a dependency for it.
fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let mut id = String::with_capacity(32);
    for half in 0u8..2 {
        // RandomState's keys are random per process.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(half);
        hasher.write_u64(count);
        hasher.write_u128(now);
        hasher.write_u32(std::process::id());
        id.push_str(&format!("{:016x}", hasher.finish()));
    }
    id
}

/// Header values must be visible ASCII: anything else becomes `_`.
fn header_safe(text: &str) -> String {
    text.chars().map(|c| if c.is_ascii_graphic() || c == ' ' { c } else { '_' }).collect()
}

type ResponseStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

struct HealthService;

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(&self, _: Request<HealthCheckRequest>) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse { status: ServingStatus::Serving as i32 }))
    }

    async fn list(&self, _: Request<HealthListRequest>) -> Result<Response<HealthListResponse>, Status> {
        Err(Status::unimplemented("not served"))
    }

    type WatchStream = ResponseStream<HealthCheckResponse>;

    async fn watch(&self, _: Request<HealthCheckRequest>) -> Result<Response<Self::WatchStream>, Status> {
        Err(Status::unimplemented("not served"))
    }
}

/// Registry auth, anonymous: no credentials for any host, and no token authority (BuildKit
/// then asks registries for anonymous tokens itself).
struct AuthService;

#[tonic::async_trait]
impl Auth for AuthService {
    async fn credentials(&self, _: Request<CredentialsRequest>) -> Result<Response<CredentialsResponse>, Status> {
        Ok(Response::new(CredentialsResponse::default()))
    }

    async fn fetch_token(&self, _: Request<FetchTokenRequest>) -> Result<Response<FetchTokenResponse>, Status> {
        Err(Status::unimplemented("anonymous: no tokens from the client"))
    }

    async fn get_token_authority(
        &self,
        _: Request<GetTokenAuthorityRequest>,
    ) -> Result<Response<GetTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("anonymous: no token authority"))
    }

    async fn verify_token_authority(
        &self,
        _: Request<VerifyTokenAuthorityRequest>,
    ) -> Result<Response<VerifyTokenAuthorityResponse>, Status> {
        Err(Status::unimplemented("anonymous: no token authority"))
    }
}

struct SecretsService {
    values: SecretValues,
    shared: Arc<Shared>,
}

#[tonic::async_trait]
impl Secrets for SecretsService {
    async fn get_secret(&self, request: Request<GetSecretRequest>) -> Result<Response<GetSecretResponse>, Status> {
        let id = &request.get_ref().id;
        match self.values.0.get(id) {
            Some(value) => Ok(Response::new(GetSecretResponse { data: value.clone() })),
            None => {
                let mut refusals = self.shared.refusals();
                if !refusals.secrets.contains(id) {
                    refusals.secrets.push(id.clone());
                }
                // NotFound: BuildKit skips an optional secret mount and fails a required one.
                Err(Status::not_found(format!("secret {id} was not given to this build")))
            }
        }
    }
}

struct SshService {
    /// `$SSH_AUTH_SOCK`, when the build forwards the agent.
    agent: Option<PathBuf>,
    shared: Arc<Shared>,
}

impl SshService {
    /// The agent socket for `id`, or the status that refuses it (and the refusal recorded).
    fn agent_for(&self, id: &str) -> Result<&PathBuf, Status> {
        let id = if id.is_empty() { DEFAULT_SSH_ID } else { id };
        let refuse = |why: String| {
            let mut refusals = self.shared.refusals();
            if !refusals.ssh.iter().any(|known| known == id) {
                refusals.ssh.push(id.to_string());
            }
            Err(Status::not_found(why))
        };
        match &self.agent {
            Some(agent) if id == DEFAULT_SSH_ID => Ok(agent),
            Some(_) => refuse(format!("only the SSH agent \"{DEFAULT_SSH_ID}\" is forwarded, not {id:?}")),
            None => refuse("this build forwards no SSH agent".to_string()),
        }
    }
}

#[tonic::async_trait]
impl Ssh for SshService {
    async fn check_agent(&self, request: Request<CheckAgentRequest>) -> Result<Response<CheckAgentResponse>, Status> {
        self.agent_for(&request.get_ref().id)?;
        Ok(Response::new(CheckAgentResponse {}))
    }

    type ForwardAgentStream = ResponseStream<BytesMessage>;

    async fn forward_agent(
        &self,
        request: Request<Streaming<BytesMessage>>,
    ) -> Result<Response<Self::ForwardAgentStream>, Status> {
        let id = request.metadata().get("buildkit.ssh.id").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let agent = self.agent_for(id)?.clone();
        let socket = tokio::net::UnixStream::connect(&agent)
            .await
            .map_err(|e| Status::unavailable(format!("cannot connect to the SSH agent at {}: {e}", agent.display())))?;
        Ok(Response::new(Box::pin(forward(request.into_inner(), socket))))
    }
}

/// One connection to the agent, both ways, in the response stream itself (no task): what the
/// engine sends is written to the agent, what the agent answers is the stream's next message.
/// It ends when either side does.
fn forward(
    inbound: Streaming<BytesMessage>,
    socket: tokio::net::UnixStream,
) -> impl Stream<Item = Result<BytesMessage, Status>> + Send + 'static {
    futures_util::stream::unfold(Some((inbound, socket)), |state| async move {
        let (mut inbound, mut socket) = state?;
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            tokio::select! {
                message = inbound.message() => match message {
                    Ok(Some(message)) => {
                        if let Err(e) = socket.write_all(&message.data).await {
                            return Some((Err(Status::unavailable(format!("the SSH agent: {e}"))), None));
                        }
                    }
                    // The engine's side is done (or gone).
                    Ok(None) | Err(_) => return None,
                },
                read = socket.read(&mut buffer) => match read {
                    Ok(0) => return None,
                    Ok(n) => {
                        buffer.truncate(n);
                        return Some((Ok(BytesMessage { data: buffer }), Some((inbound, socket))));
                    }
                    Err(e) => return Some((Err(Status::unavailable(format!("the SSH agent: {e}"))), None)),
                },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_hex() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn secret_values_never_show_in_debug() {
        let values = SecretValues(HashMap::from([("tok".to_string(), b"hunter2-value".to_vec())]));
        let shown = format!("{values:?}");
        assert!(shown.contains("tok"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
