//! A full run against the real services: the generated shop imported into Aurora
//! (Data API emulator over PostgreSQL), a model trained from it, written to S3 (moto,
//! path-style), published, and warmed into Redis.

mod common;

use reco_core::{ArtifactStore, EmbeddingCache, SystemClock};
use reco_pipeline::import::read_files;
use reco_pipeline::train::{current_pointer, Pipeline, TrainOptions};
use reco_pipeline::warm;
use reco_rdsdata::{AuroraWarehouse, Target};
use reco_serving::registry::{self, CacheDigest};
use reco_testkit::{run_prefix, service_env};

#[tokio::test]
async fn import_train_publish_and_warm_on_real_services() {
    service_env("AWS_ENDPOINT_URL_RDS_DATA", "the RDS Data API emulator");
    service_env("AWS_ENDPOINT_URL_S3", "moto server (S3)");
    let redis_url = service_env("RECO_TEST_REDIS_URL", "Redis");
    let aws = aws_config::load_from_env().await;

    let base = AuroraWarehouse::new(
        aws_sdk_rdsdata::Client::new(&aws),
        Target::from_config(&reco_core::Config::from_env().expect("configuration"))
            .expect("RECO_RDS_* set by scripts/test"),
    );
    let warehouse = base
        .create_database(&format!("shop_{}", run_prefix().replace('-', "_")))
        .await
        .expect("database");
    reco_rdsdata::migrate::apply(&warehouse)
        .await
        .expect("migrated");
    let dir = tempfile::tempdir().expect("temp dir");
    let batch = read_files(&common::write_shop(dir.path())).expect("valid shop");
    reco_core::Warehouse::load(&warehouse, &batch)
        .await
        .expect("imported through the Data API");

    let s3 = reco_s3::client(&aws, true);
    let bucket = format!("models-{}", run_prefix());
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let store = reco_s3::S3ArtifactStore::new(s3, bucket, "");

    let pipeline = Pipeline {
        warehouse: &warehouse,
        artifacts: &store,
        clock: &SystemClock,
    };
    let options = TrainOptions {
        components: 16,
        epochs: 20,
        threads: 1,
        materialized: true,
        ..TrainOptions::default()
    };
    let outcome = pipeline.run(&options, None, |_| {}).await.expect("trains");
    assert!(outcome.published, "{}", outcome.reason);
    assert!(
        outcome.metrics.precision_at_10 > 1.3 * outcome.baseline_popular.precision_at_10,
        "{:?} vs {:?}",
        outcome.metrics,
        outcome.baseline_popular
    );
    assert_eq!(
        current_pointer(&store)
            .await
            .expect("pointer")
            .expect("set")
            .version,
        outcome.version
    );
    assert!(store
        .get(&format!("models/{}/report.svg", outcome.version))
        .await
        .expect("get")
        .is_some());

    let cache = reco_redis::RedisCache::connect(&redis_url)
        .await
        .expect("redis");
    let ns = run_prefix();
    let report = warm::warm(&cache, &ns, &store, &outcome.version)
        .await
        .expect("warmed");
    assert_eq!(report.items, outcome.counts.items);
    assert!(report.users > 0 && report.users <= outcome.counts.users);
    assert!(report.digest_matches);
    // The items part is what the digest recorded in S3 (when publishing) describes.
    let digest: CacheDigest = registry::read_cache_digest(&store, &outcome.version)
        .await
        .expect("digest readable")
        .expect("recorded when published");
    let bytes = cache
        .get(&warm::items_key(&ns, &outcome.version))
        .await
        .expect("get")
        .expect("bundle");
    assert!(digest.matches(&bytes));
    let (items, customers) =
        reco_serving::Bundle::from_cache_items(&bytes).expect("a cached items part");
    assert_eq!(items.ids.len(), outcome.counts.items);
    assert_eq!(items.dim, 16);
    assert_eq!(customers.len(), report.users);
    let user = cache
        .get(&warm::user_key(&ns, &outcome.version, "c7"))
        .await
        .expect("get")
        .expect("user record");
    assert_eq!(
        customers.get("c7"),
        Some(&reco_serving::cached::sha256(&user))
    );
    let user = reco_serving::UserRecord::from_bytes(&user).expect("a user record");
    assert_eq!(user.kind, reco_serving::UserKind::Trained);
    assert_eq!(user.vector.len(), 16);
    assert!(!user.positives.is_empty());
}
