//! The Redis cache against a real Redis (scripts/test starts one).

use reco_core::EmbeddingCache;
use reco_redis::RedisCache;
use reco_testkit::{run_prefix, service_env};

#[tokio::test]
async fn entries_round_trip_with_ttls() {
    let url = service_env("RECO_TEST_REDIS_URL", "Redis");
    let cache = RedisCache::connect(&url).await.expect("connects");
    let p = run_prefix();
    let entries: Vec<(String, Vec<u8>)> = (0..1200)
        .map(|i| (format!("{p}:k{i}"), vec![i as u8; 3]))
        .collect();
    cache.put_many(entries, Some(60)).await.expect("set");
    assert_eq!(
        cache.get(&format!("{p}:k7")).await.expect("get"),
        Some(vec![7u8; 3])
    );
    assert_eq!(cache.get(&format!("{p}:missing")).await.expect("get"), None);
    cache
        .put_many(vec![(format!("{p}:short"), b"x".to_vec())], Some(1))
        .await
        .expect("set");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    assert_eq!(
        cache.get(&format!("{p}:short")).await.expect("get"),
        None,
        "expired"
    );
}
