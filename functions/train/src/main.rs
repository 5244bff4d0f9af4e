//! Lambda entry point: build clients once per cold start, then serve steps.

use lambda_runtime::{run, service_fn, Error};

#[tokio::main]
async fn main() -> Result<(), Error> {
    reco_lambda::init_logging();
    let config = reco_core::Config::from_env()?;
    let aws = aws_config::load_from_env().await;
    let cache: Option<Box<dyn reco_core::EmbeddingCache>> = match &config.redis_url {
        // Connected on first use: a cache that is down fails the warm step only.
        Some(url) => Some(Box::new(reco_redis::RedisCache::new(url)?)),
        None => None,
    };
    // The warm function is deployed without a warehouse: the steps that need one say so.
    let warehouse = reco_rdsdata::Target::from_config(&config).map(|target| {
        Box::new(reco_rdsdata::AuroraWarehouse::new(
            aws_sdk_rdsdata::Client::new(&aws),
            target,
        )) as Box<dyn reco_core::Warehouse>
    });
    let steps = train::Steps {
        warehouse,
        artifacts: Box::new(reco_s3::S3ArtifactStore::new(
            reco_s3::client(&aws, config.s3_force_path_style),
            config.require_artifact_bucket()?,
            config.artifact_prefix.clone(),
        )),
        cache,
        cache_namespace: config.cache_namespace.clone(),
    };
    let steps = &steps;
    run(service_fn(move |event| train::handle(steps, event))).await
}
