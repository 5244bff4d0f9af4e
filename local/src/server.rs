//! The local HTTP server: the shared API behind an HTTP/1.1 connection loop that is
//! safe to leave running: a client has [`HEADER_TIMEOUT`] to send its request head and
//! [`BODY_TIMEOUT`] to send its body, at most [`MAX_CONNECTIONS`] connections are
//! served at once (more wait in the kernel's backlog), and shutdown lets requests in
//! flight finish.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use reco_api::{Api, ApiError};
use tokio::sync::Semaphore;

/// Time a client has to send the request line and headers.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a client has to send the body once the headers are in.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 512;

/// `/reco.js` and, for a demo shop, the storefront's routes (`crate::site`); every
/// other request goes to the shared API, its body read up to the API's limit.
pub fn router(api: Arc<Api>, demo: Option<Arc<crate::site::DemoSite>>) -> Router {
    crate::site::routes(demo).fallback_service(Router::new().fallback(dispatch).with_state(api))
}

async fn dispatch(State(api): State<Arc<Api>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let read =
        tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, api.max_body_bytes)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => {
            let response = ApiError::too_large(api.max_body_bytes).into_response();
            return response.map(Body::from);
        }
        Err(_) => return ApiError::body_timeout().into_response().map(Body::from),
    };
    let response = api.handle(http::Request::from_parts(parts, bytes)).await;
    response.map(Body::from)
}

/// Serves `router` until `shutdown` resolves, then waits for connections in flight.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = TowerToHyperService::new(router);
    let limit = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true);
    let builder = Arc::new(builder);
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&limit).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => break,
            },
            _ = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait, do not spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let conn = builder.serve_connection(TokioIo::new(stream), service.clone());
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended");
            }
            drop(permit);
        });
    }
    // Requests in flight get a bounded time to finish.
    tokio::select! {
        _ = graceful.shutdown() => {},
        _ = tokio::time::sleep(Duration::from_secs(10)) => {},
    }
    Ok(())
}
