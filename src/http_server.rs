//! Serving an axum router on a listener with the limits a public HTTP
//! endpoint needs: a deadline for the request head and for each body, so a
//! slow or stalled client holds a connection for seconds, not forever.
//!
//! `axum::serve` exposes neither, so connections are served by hyper-util's
//! auto (HTTP/1 and h2c) builder, whose HTTP/1 `header_read_timeout` closes
//! connections that never finish their headers; tower-http's body timeout
//! ends a body that stops arriving.

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::time::Duration;
use tokio::net::TcpListener;

/// Deadlines for one listener.
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// From the connection's start (or the previous response) to the end of
    /// the next request's headers.
    pub header_read_timeout: Duration,
    /// Longest pause while a request body is arriving.
    pub body_read_timeout: Duration,
}

/// Serves `router` on `listener` until `shutdown` completes, then lets
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let router = router.layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
        limits.body_read_timeout,
    ));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                // Out of file descriptors or a connection reset before accept:
                // keep serving the others.
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let service = TowerToHyperService::new(router.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Errors here are one client's broken or timed-out connection.
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}
