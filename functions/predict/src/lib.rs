//! The predict function: the recommendation routes on the model kept in memory (the
//! version S3's pointer names, read from ElastiCache when it matches the digest in S3,
//! else from S3 and then written to ElastiCache), with the visitor's live session read
//! from DynamoDB. API Gateway events go through the shared HTTP API,
//! as for track-view.

use std::sync::Arc;
use std::time::Duration;

use reco_api::Api;
use reco_core::{ArtifactStore, Config, EmbeddingCache, SessionService, SystemClock, TokenKeys};
use reco_dynamodb::DynamoSessionStore;
use reco_serving::{ModelSource, Recommender};

pub use track_view::handle;

/// Every AWS action this function calls, from the adapters it wires: template.yaml's
/// policy for it allows exactly these (tests/events.rs checks).
pub fn iam_actions() -> Vec<&'static str> {
    [
        reco_dynamodb::iam::SESSIONS_READ,
        reco_s3::iam::OBJECTS_READ,
        reco_s3::iam::BUCKET,
        reco_secrets::IAM_ACTIONS,
    ]
    .concat()
}

/// The model source: S3 (`artifacts`) through the cache (keys of the namespace
/// `RECO_CACHE_NAMESPACE`), refreshed every `RECO_MODEL_REFRESH_SECS`.
pub fn model_source(
    config: &Config,
    artifacts: Arc<dyn ArtifactStore>,
    cache: Option<Arc<dyn EmbeddingCache>>,
) -> ModelSource {
    ModelSource::new(
        artifacts,
        cache,
        Duration::from_secs(config.model_refresh_secs),
    )
    .with_namespace(&config.cache_namespace)
}

/// Builds the API once per cold start.
pub fn build_api(
    config: &Config,
    dynamodb: aws_sdk_dynamodb::Client,
    tokens: TokenKeys,
    source: ModelSource,
) -> Api {
    let store = DynamoSessionStore::new(dynamodb, config.sessions_table.clone());
    Api {
        sessions: SessionService::new(Arc::new(store), Arc::new(SystemClock), config),
        tokens: tokens.with_max_ttl(config.token_max_ttl_secs as i64),
        max_body_bytes: config.max_body_bytes,
        recommender: Some(Arc::new(Recommender::new(Arc::new(source)))),
        admin: None,
    }
}
