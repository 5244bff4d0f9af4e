//! Lambda entry point: build clients once per cold start, then serve events.

use std::sync::Arc;

use lambda_http::{run, service_fn, Error};
use reco_core::{ArtifactStore, Config, EmbeddingCache};

#[tokio::main]
async fn main() -> Result<(), Error> {
    reco_lambda::init_logging();
    let config = Config::from_env()?;
    let aws = aws_config::load_from_env().await;
    let tokens = reco_secrets::token_key(&aws, &config).await?;
    let artifacts: Arc<dyn ArtifactStore> = Arc::new(reco_s3::S3ArtifactStore::new(
        reco_s3::client(&aws, config.s3_force_path_style),
        config.require_artifact_bucket()?,
        config.artifact_prefix.clone(),
    ));
    let cache: Option<Arc<dyn EmbeddingCache>> = match &config.redis_url {
        // Connected on first use; every call has a timeout, and S3 answers when it fails.
        Some(url) => Some(Arc::new(reco_redis::RedisCache::new(url)?)),
        None => None,
    };
    let api = predict::build_api(
        &config,
        aws_sdk_dynamodb::Client::new(&aws),
        tokens,
        predict::model_source(&config, artifacts, cache),
    );
    let api = &api;
    run(service_fn(move |event| async move {
        Ok::<_, Error>(predict::handle(api, event).await)
    }))
    .await
}
