//! Lambda entry point: build clients once per cold start, then serve steps.

use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_target(false)
        .without_time()
        .init();
    let aws = aws_config::load_from_env().await;
    let target = reco_rdsdata::Target::from_env()?;
    let bucket =
        std::env::var("RECO_ARTIFACT_BUCKET").map_err(|_| "RECO_ARTIFACT_BUCKET is not set")?;
    let prefix = std::env::var("RECO_ARTIFACT_PREFIX").unwrap_or_default();
    let cache: Option<Box<dyn reco_core::EmbeddingCache>> = match std::env::var("RECO_REDIS_URL") {
        // Connected on first use: a cache that is down fails the warm step only.
        Ok(url) if !url.is_empty() => Some(Box::new(reco_redis::RedisCache::new(&url)?)),
        _ => None,
    };
    let steps = train::Steps {
        warehouse: Box::new(reco_rdsdata::RdsData::new(
            aws_sdk_rdsdata::Client::new(&aws),
            target,
        )),
        artifacts: Box::new(reco_s3::S3ArtifactStore::new(
            reco_s3::client(&aws),
            bucket,
            prefix,
        )),
        cache,
    };
    let steps = &steps;
    run(service_fn(move |event| train::handle(steps, event))).await
}
