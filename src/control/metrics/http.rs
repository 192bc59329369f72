//! The metrics endpoint's HTTP side: `GET /metrics` (and a pointer to it at
//! `/`), served with hyper directly so that what a client can hold is
//! bounded — the endpoint usually listens beyond the host, and a scraper that
//! stalls or a port scanner must not pile up connections or buffers in the
//! agent that holds the virtual IPs.
//!
//! Bounds ([`HttpLimits::DEFAULT`]): connections served at once (more are
//! closed unanswered), the time to send the request headers, their size
//! (larger gets `431`), and the time a whole connection may take (one
//! request per connection, no keep-alive).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State as AxumState;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tracing::{debug, warn};

use super::{Metrics, CONTENT_TYPE};

/// What one client may hold of the metrics endpoint.
#[derive(Debug, Clone, Copy)]
pub(super) struct HttpLimits {
    /// Connections served at once; a scrape takes milliseconds, so a few
    /// Prometheus servers never come near it.
    pub connections: usize,
    /// How long a client may take to send its request line and headers.
    pub header_read: Duration,
    /// The largest request head accepted (hyper's read buffer; at least 8 KiB).
    pub max_header_bytes: usize,
    /// How long a whole connection may last, answer included.
    pub request: Duration,
}

impl HttpLimits {
    /// The limits `twinstar run` serves with.
    pub const DEFAULT: HttpLimits = HttpLimits {
        connections: 16,
        header_read: Duration::from_secs(5),
        max_header_bytes: 16 * 1024,
        request: Duration::from_secs(10),
    };
}

/// Serves `GET /metrics` (and a pointer to it at `/`) until the listener
/// fails with an error other than a lost connection or a lack of resources.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) -> std::io::Result<()> {
    serve_with(listener, metrics, HttpLimits::DEFAULT).await
}

pub(super) async fn serve_with(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    limits: HttpLimits,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/metrics", get(scrape))
        .route("/", get(index))
        .fallback(not_found)
        .with_state(metrics);
    let slots = Arc::new(Semaphore::new(limits.connections));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => match e.raw_os_error() {
                // Out of descriptors or memory: wait for some to come back.
                Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                    warn!("metrics: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                // The client went before we took it.
                Some(libc::ECONNABORTED | libc::EINTR | libc::EPROTO | libc::EPERM) => continue,
                _ => return Err(e),
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            warn!(
                %peer,
                "metrics: connection closed unanswered: {} already being served",
                limits.connections
            );
            continue;
        };
        let service = TowerToHyperService::new(app.clone());
        tokio::spawn(async move {
            let _slot = slot;
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(limits.header_read)
                .max_buf_size(limits.max_header_bytes)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(limits.request, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!(%peer, "metrics connection: {e}"),
                Err(_) => debug!(%peer, "metrics connection closed after {:?}", limits.request),
            }
        });
    }
}

async fn scrape(AxumState(metrics): AxumState<Arc<Metrics>>) -> Response {
    match metrics.encode() {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(fmt::Error) => {
            tracing::error!("encoding the metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "encoding the metrics failed\n",
            )
                .into_response()
        }
    }
}

async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        "<!DOCTYPE html>\n<html><head><title>twinstar</title></head><body>\n\
         <h1>twinstar</h1>\n<p>Prometheus metrics are at <a href=\"/metrics\">/metrics</a>.</p>\n\
         </body></html>\n",
    )
}

async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "not found; the metrics are at /metrics\n",
    )
}

#[cfg(test)]
mod tests;
