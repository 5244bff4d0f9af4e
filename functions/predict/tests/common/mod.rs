//! The generated shop (reco-testkit) loaded into a SQLite warehouse, to train the
//! models the predict tests serve.

use std::path::Path;

use reco_core::warehouse::ImportBatch;
use reco_embedded::SqliteWarehouse;
use reco_pipeline::import::read_files;

/// A warehouse in `dir` holding the shop, plus `extra`.
pub async fn shop_warehouse(dir: &Path, extra: ImportBatch) -> SqliteWarehouse {
    let warehouse = SqliteWarehouse::open(&dir.join("w.sqlite")).expect("warehouse");
    let files: Vec<_> = reco_testkit::shop::write_shop(dir)
        .into_iter()
        .map(|(p, k)| (p, k.parse().expect("kind")))
        .collect();
    let mut batch = read_files(&files).expect("shop");
    batch.customers.extend(extra.customers);
    batch.items.extend(extra.items);
    batch.purchases.extend(extra.purchases);
    batch.ratings.extend(extra.ratings);
    reco_core::Warehouse::load(&warehouse, &batch)
        .await
        .expect("loaded");
    warehouse
}

/// A deployment's storage on moto server: a fresh sessions table and artifact bucket,
/// both named `<kind>-<run prefix>`, with the DynamoDB client.
pub async fn moto_storage(
    kind: &str,
) -> (
    aws_sdk_dynamodb::Client,
    String,
    std::sync::Arc<reco_s3::S3ArtifactStore>,
) {
    reco_testkit::service_env("AWS_ENDPOINT_URL_DYNAMODB", "moto server (DynamoDB)");
    reco_testkit::service_env("AWS_ENDPOINT_URL_S3", "moto server (S3)");
    let aws = aws_config::load_from_env().await;
    let name = format!("{kind}-{}", reco_testkit::run_prefix());
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    reco_dynamodb::create_sessions_table(&dynamodb, &name)
        .await
        .expect("table");
    let s3 = reco_s3::client(&aws, true);
    s3.create_bucket()
        .bucket(&name)
        .send()
        .await
        .expect("bucket");
    let artifacts = std::sync::Arc::new(reco_s3::S3ArtifactStore::new(s3, name.clone(), ""));
    (dynamodb, name, artifacts)
}
