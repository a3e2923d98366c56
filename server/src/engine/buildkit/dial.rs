//! Raw HTTP/1.1 to the engine, on a connection of our own: the requests bollard cannot make
//! for a BuildKit build (the `/session` upgrade to HTTP/2, the build whose progress is
//! BuildKit's protobuf, the `/_ping` headers).
//!
//! Each exchange gets its own connection, driven by a task that the returned value owns:
//! dropping it closes the connection, so nothing outlives the build that asked for it.

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use crate::engine::endpoint::{Endpoint, EngineIo};

/// Where requests go and which API version they speak.
#[derive(Clone)]
pub(in crate::engine) struct Http {
    pub(in crate::engine) endpoint: Endpoint,
    /// `/v1.41`: the version negotiated by `Engine::connect`.
    pub(in crate::engine) prefix: String,
}

/// A response whose body is still streaming, and the connection that carries it.
pub(in crate::engine) struct Exchange {
    pub(in crate::engine) response: Response<Incoming>,
    _connection: AbortOnDrop,
}

/// Aborts the task when dropped.
pub(in crate::engine) struct AbortOnDrop(pub(in crate::engine) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Http {
    /// A request to `path` (unversioned, e.g. `/build?…`), with the headers every request has.
    pub(in crate::engine) fn request(&self, method: Method, path: &str) -> http::request::Builder {
        let uri = if path == "/_ping" { path.to_string() } else { format!("{}{path}", self.prefix) };
        Request::builder()
            .method(method)
            .uri(uri)
            .header(http::header::HOST, self.endpoint.host_header())
            .header(http::header::USER_AGENT, concat!("docker-rebuilder/", env!("CARGO_PKG_VERSION")))
    }

    async fn handshake(
        &self,
    ) -> Result<
        (
            hyper::client::conn::http1::SendRequest<Full<Bytes>>,
            hyper::client::conn::http1::Connection<TokioIo<Box<dyn EngineIo>>, Full<Bytes>>,
        ),
        String,
    > {
        let io = self.endpoint.dial().await.map_err(|e| format!("cannot connect: {e}"))?;
        hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| format!("HTTP handshake failed: {e}"))
    }

    /// Sends `request` on a new connection; returns once the response's headers are in.
    pub(in crate::engine) async fn send(&self, request: Request<Full<Bytes>>) -> Result<Exchange, String> {
        let (mut sender, connection) = self.handshake().await?;
        let task = AbortOnDrop(tokio::spawn(async move {
            // Its failure shows as the response's (or the body's) error.
            let _ = connection.await;
        }));
        let response = sender.send_request(request).await.map_err(|e| describe_hyper(&e))?;
        Ok(Exchange { response, _connection: task })
    }

    /// Sends `request` (which asks to upgrade) on a new connection and returns the raw
    /// stream once the engine has switched protocols. Any other answer is an error with the
    /// engine's message.
    pub(in crate::engine) async fn upgrade(&self, request: Request<Full<Bytes>>) -> Result<Box<dyn EngineIo>, String> {
        let (mut sender, connection) = self.handshake().await?;
        // The connection is driven by a task of its own until it hands its stream over (or
        // fails); its end shows as the answer's error. Owned and aborted with the exchange.
        let driver = AbortOnDrop(tokio::spawn(async move {
            let _ = connection.with_upgrades().await;
        }));
        let response = sender.send_request(request).await.map_err(|e| describe_hyper(&e))?;
        if response.status() != StatusCode::SWITCHING_PROTOCOLS {
            let status = response.status();
            drop(sender);
            let message = read_message(response).await;
            return Err(format!("HTTP {}: {message}", status.as_u16()));
        }
        let upgraded = hyper::upgrade::on(response).await.map_err(|e| format!("the upgrade failed: {e}"))?;
        drop(driver);
        Ok(Box::new(TokioIo::new(upgraded)))
    }
}

/// The whole body of an error response, as the engine's message when it is JSON
/// (`{"message": "…"}`), else as text.
pub(in crate::engine) async fn read_message(response: Response<Incoming>) -> String {
    match response.into_body().collect().await {
        Ok(body) => {
            let bytes = body.to_bytes();
            #[derive(serde::Deserialize)]
            struct Message {
                message: String,
            }
            match serde_json::from_slice::<Message>(&bytes) {
                Ok(m) => m.message,
                Err(_) => String::from_utf8_lossy(&bytes).trim().to_string(),
            }
        }
        Err(e) => format!("(the answer could not be read: {})", describe_hyper(&e)),
    }
}

/// hyper's error with its cause (hyper's own text alone is often "connection error").
pub(in crate::engine) fn describe_hyper(e: &hyper::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
