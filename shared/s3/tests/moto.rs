//! The S3 artifact store against moto server (path-style).

use reco_core::ArtifactStore;
use reco_s3::S3ArtifactStore;
use reco_testkit::{run_prefix, service_env};

#[tokio::test]
async fn objects_round_trip_and_missing_keys_are_none() {
    service_env("AWS_ENDPOINT_URL_S3", "moto server (S3)");
    let config = aws_config::load_from_env().await;
    let client = reco_s3::client(&config, true);
    let bucket = format!("artifacts-{}", run_prefix());
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let store = S3ArtifactStore::new(client, bucket, "reco");
    assert_eq!(store.get("models/current.json").await.expect("get"), None);
    store
        .put(
            "models/v1/model.bin",
            vec![1, 2, 3],
            "application/octet-stream",
        )
        .await
        .expect("put");
    store
        .put(
            "models/current.json",
            b"{\"version\":\"v1\"}".to_vec(),
            "application/json",
        )
        .await
        .expect("put");
    assert_eq!(
        store.get("models/v1/model.bin").await.expect("get"),
        Some(vec![1, 2, 3])
    );
    store
        .put(
            "models/current.json",
            b"{\"version\":\"v2\"}".to_vec(),
            "application/json",
        )
        .await
        .expect("overwrite");
    assert_eq!(
        store.get("models/current.json").await.expect("get"),
        Some(b"{\"version\":\"v2\"}".to_vec())
    );
}
