//! bollard's requests over our own dialer (`Endpoint::dial`), so that every engine docker can
//! reach — unix, tcp, TLS, ssh — is reached the same way by bollard and by our raw HTTP, and a
//! connection failure keeps its `io::Error` (refused, no such socket, permission denied, TLS,
//! ssh) for the message.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bollard::{BollardRequest, Docker, API_DEFAULT_VERSION};
use bytes::Bytes;
use http::Uri;
use hyper::body::Frame;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

use super::endpoint::{Endpoint, EngineIo};

/// bollard's request body (its `BodyType`, which it does not export by name).
type Body = http_body_util::Either<
    http_body_util::Full<Bytes>,
    http_body_util::StreamBody<Pin<Box<dyn futures_util::Stream<Item = Result<Frame<Bytes>, std::io::Error>> + Send>>>,
>;

/// bollard's own default: a request (not a stream it opened) that takes longer has failed.
const REQUEST_TIMEOUT_SECS: u64 = 120;

/// A bollard client whose connections are `endpoint`'s.
pub(super) fn docker(endpoint: &Endpoint) -> Result<Docker, bollard::errors::Error> {
    let mut builder = Client::builder(TokioExecutor::new());
    if endpoint.costly_to_open() {
        builder.pool_idle_timeout(Duration::from_secs(30));
    } else {
        // As bollard does for a local socket: a new connection per request.
        builder.pool_max_idle_per_host(0);
    }
    let client: Client<Connector, Body> = builder.build(Connector(endpoint.clone()));
    // The URL's authority becomes the Host header; the connector ignores it.
    let base = format!("http://{}", endpoint.host_header());
    Docker::connect_with_custom_transport(
        move |request: BollardRequest| {
            let client = client.clone();
            async move { client.request(request).await.map_err(bollard::errors::Error::from) }
        },
        Some(base),
        REQUEST_TIMEOUT_SECS,
        API_DEFAULT_VERSION,
    )
}

/// hyper's connector: every connection is a new `Endpoint::dial`.
#[derive(Clone)]
struct Connector(Endpoint);

impl tower_service::Service<Uri> for Connector {
    type Response = Conn;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Conn, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let endpoint = self.0.clone();
        Box::pin(async move { Ok(Conn(TokioIo::new(endpoint.dial().await?))) })
    }
}

/// A dialed connection, as hyper's client wants it.
struct Conn(TokioIo<Box<dyn EngineIo>>);

impl Connection for Conn {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for Conn {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// The `io::Error` under a failed request, if a connection failure is what it was.
pub(super) fn io_cause<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = e.source();
    }
    None
}
