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

/// A serving bundle larger than one `SET` is written in parts and read back whole.
#[tokio::test]
async fn large_values_round_trip_in_parts() {
    let url = service_env("RECO_TEST_REDIS_URL", "Redis");
    let cache = RedisCache::connect(&url).await.expect("connects");
    let p = run_prefix();
    let big: Vec<u8> = (0..(reco_redis::CHUNK_BYTES * 5 + 123))
        .map(|i| (i % 251) as u8)
        .collect();
    cache
        .put_many(vec![(format!("{p}:bundle"), big.clone())], Some(60))
        .await
        .expect("set");
    assert_eq!(
        cache.get(&format!("{p}:bundle")).await.expect("get"),
        Some(big)
    );
}

/// A cache that is down is an error of the call that needs it, not of building the
/// client (so a Lambda's cold start does not fail on it).
#[tokio::test]
async fn a_cache_that_is_down_fails_only_its_calls() {
    // A loopback port nothing listens on: bind, read the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let cache = RedisCache::new(&format!("redis://127.0.0.1:{port}")).expect("url parses");
    let e = cache.get("anything").await.expect_err("down");
    assert!(matches!(e, reco_core::CacheError::Unavailable(_)), "{e:?}");
    assert!(
        RedisCache::new("rediss://cache.example:6379").is_ok(),
        "TLS urls accepted"
    );
    assert!(matches!(
        RedisCache::new("http://nope"),
        Err(reco_core::CacheError::Unavailable(_))
    ));
}
