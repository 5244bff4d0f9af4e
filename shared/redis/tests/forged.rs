//! Values in a real Redis that lie about their size: a part marker announcing a huge
//! value, one announcing parts that are not there, and a part of the wrong size all
//! read as misses, and nothing is allocated for what a marker announces (this test
//! binary's allocator records the largest allocation).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use reco_core::EmbeddingCache;
use reco_redis::{RedisCache, CHUNK_BYTES};
use reco_testkit::{run_prefix, service_env};

/// The system allocator, recording the largest size asked for.
struct Recording;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is passed to the system allocator unchanged.
unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Recording = Recording;

#[tokio::test]
async fn forged_markers_and_parts_read_as_misses_without_allocating_their_size() {
    let url = service_env("RECO_TEST_REDIS_URL", "Redis");
    let cache = RedisCache::connect(&url).await.expect("connects");
    let mut raw = redis::Client::open(url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connects");
    let key = format!("{}:forged", run_prefix());
    let value: Vec<u8> = (0..CHUNK_BYTES * 2 + 17).map(|i| (i % 253) as u8).collect();
    cache
        .put_many(vec![(key.clone(), value.clone())], Some(60))
        .await
        .expect("set");
    assert_eq!(cache.get(&key).await.expect("get"), Some(value.clone()));

    // The marker as the adapter wrote it: its prefix, then `<parts> <total>`.
    let marker: Vec<u8> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut raw)
        .await
        .expect("raw get");
    let space = marker
        .iter()
        .rposition(|&b| b == b' ')
        .and_then(|last| marker[..last].iter().rposition(|&b| b == b' '))
        .expect("`<parts> <total>` at the end");
    let prefix = &marker[..=space];
    assert_eq!(
        &marker[space + 1..],
        format!("3 {}", value.len()).as_bytes()
    );
    let set = |v: Vec<u8>, k: String| {
        let mut raw = raw.clone();
        async move {
            redis::cmd("SET")
                .arg(&k)
                .arg(v)
                .query_async::<()>(&mut raw)
                .await
                .expect("raw set");
        }
    };

    let before = LARGEST.load(Ordering::Relaxed);
    for forged in [
        "1 200000000000",
        "3000 3145728000",
        "2048 2147483648",
        "18446744073709551615 18446744073709551615",
        "3 x",
    ] {
        set([prefix, forged.as_bytes()].concat(), key.clone()).await;
        assert_eq!(cache.get(&key).await.expect("get"), None, "{forged}");
    }
    // Parts that are not there (the fourth never was).
    set(
        [prefix, format!("4 {}", CHUNK_BYTES * 3 + 1).as_bytes()].concat(),
        key.clone(),
    )
    .await;
    assert_eq!(cache.get(&key).await.expect("get"), None);
    assert!(
        LARGEST.load(Ordering::Relaxed) < 64 << 20,
        "nothing near the announced sizes was allocated (largest {} bytes, {before} before)",
        LARGEST.load(Ordering::Relaxed)
    );

    // A part of the wrong size under a marker that adds up.
    set(marker.clone(), key.clone()).await;
    assert_eq!(cache.get(&key).await.expect("get"), Some(value.clone()));
    set(vec![1, 2, 3], format!("{key}#1")).await;
    assert_eq!(cache.get(&key).await.expect("get"), None);
}
