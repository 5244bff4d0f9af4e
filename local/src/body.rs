//! Reading a request body within its size cap and its deadline: the one place both the
//! API's routes (server.rs) and the storefront's (site.rs) read bodies.

use axum::body::Body;
use bytes::Bytes;
use reco_api::ApiError;

/// Reads a request body of at most `max_bytes`: 413 `payload_too_large` past it, 408
/// `body_timeout` when the client has not sent it whole within the server's body
/// deadline (`server::Limits::body`).
pub(crate) async fn read_body(body: Body, max_bytes: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(body, max_bytes).await.map_err(|e| {
        if caused_by_body_timeout(&e) {
            ApiError::body_timeout()
        } else {
            ApiError::too_large(max_bytes)
        }
    })
}

/// Whether [`BodyTimedOut`] is anywhere in `error`'s chain of sources.
fn caused_by_body_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if e.is::<BodyTimedOut>() {
            return true;
        }
        next = e.source();
    }
    false
}

/// The error a request body ends with when its deadline passes first.
#[derive(Debug)]
pub(crate) struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client did not send the request body in time")
    }
}

impl std::error::Error for BodyTimedOut {}
