//! The local HTTP server: axum in front of the shared API, so every route behaves as
//! it does behind API Gateway.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use axum::Router;
use reco_api::{Api, ApiError};

/// Every request goes to the shared API; the body is read up to the API's limit.
pub fn router(api: Arc<Api>) -> Router {
    Router::new().fallback(dispatch).with_state(api)
}

async fn dispatch(State(api): State<Arc<Api>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, api.max_body_bytes).await {
        Ok(bytes) => bytes,
        Err(_) => {
            let response = ApiError::too_large(api.max_body_bytes).into_response();
            return response.map(Body::from);
        }
    };
    let response = api.handle(http::Request::from_parts(parts, bytes)).await;
    response.map(Body::from)
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    api: Arc<Api>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(api))
        .with_graceful_shutdown(shutdown)
        .await
}
