//! The track-view function: wiring of the session routes onto DynamoDB, and the
//! conversion between API Gateway events and the shared HTTP API.

use std::sync::Arc;

use bytes::Bytes;
use lambda_http::{Body, Request, Response};
use reco_api::Api;
use reco_core::{Config, SessionService, SystemClock, TokenKeys};
use reco_dynamodb::DynamoSessionStore;

/// Every AWS action this function calls, from the adapters it wires: template.yaml's
/// policy for it allows exactly these (tests/events.rs checks).
pub fn iam_actions() -> Vec<&'static str> {
    [reco_dynamodb::iam::SESSIONS, reco_secrets::IAM_ACTIONS].concat()
}

/// Builds the API once per cold start.
pub fn build_api(config: &Config, dynamodb: aws_sdk_dynamodb::Client, tokens: TokenKeys) -> Api {
    let store = DynamoSessionStore::new(dynamodb, config.sessions_table.clone());
    Api {
        sessions: SessionService::new(Arc::new(store), Arc::new(SystemClock), config),
        tokens: tokens.with_max_ttl(config.token_max_ttl_secs as i64),
        max_body_bytes: config.max_body_bytes,
        recommender: None,
        admin: None,
    }
}

/// One API Gateway request through the shared API.
pub async fn handle(api: &Api, event: Request) -> Response<Body> {
    let (parts, body) = event.into_parts();
    let bytes = match body {
        Body::Empty => Bytes::new(),
        Body::Text(text) => Bytes::from(text),
        Body::Binary(data) => Bytes::from(data),
        // Body is non-exhaustive in newer releases.
        #[allow(unreachable_patterns)]
        other => Bytes::copy_from_slice(other.as_ref()),
    };
    let response = api
        .handle(lambda_http::http::Request::from_parts(parts, bytes))
        .await;
    let (parts, body) = response.into_parts();
    let body = match String::from_utf8(body.to_vec()) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    Response::from_parts(parts, body)
}
