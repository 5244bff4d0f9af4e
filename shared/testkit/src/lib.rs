//! Test support shared by the adapters' test suites: one behavioural contract for
//! every `SessionStore` (so DynamoDB and SQLite are held to the same rules), and the
//! lookup of the real local services that scripts/test starts.

use std::sync::Arc;

use reco_core::ports::AppendRequest;
use reco_core::{AppendOutcome, SessionDoc, SessionStore, Timestamp, View};

/// Reads a variable scripts/test sets, failing loudly when it is missing.
pub fn service_env(var: &str, service: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: this test needs {service}. Run scripts/test, which starts it on \
             loopback and sets {var}."
        )
    })
}

/// A prefix that keeps ids of one run apart from earlier runs against the same service.
pub fn run_prefix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("t{}-{}", std::process::id(), nanos % 1_000_000_000)
}

const T0: i64 = 1_800_000_000_000;

fn views(prefix: &str, n: usize, t: i64) -> Vec<View> {
    (0..n)
        .map(|i| View {
            item_id: format!("{prefix}-item-{i}"),
            viewed_at: Timestamp(t + i as i64),
        })
        .collect()
}

async fn append(
    store: &dyn SessionStore,
    session_id: &str,
    customer_id: Option<&str>,
    views: &[View],
    now: i64,
    max_views: u32,
) -> AppendOutcome {
    store
        .append(AppendRequest {
            session_id,
            customer_id,
            views,
            now: Timestamp(now),
            max_views,
            active_shard: 3,
        })
        .await
        .expect("store call succeeds")
}

fn appended(outcome: AppendOutcome) -> SessionDoc {
    match outcome {
        AppendOutcome::Appended(doc) => doc,
        other => panic!("expected the append to succeed, got {other:?}"),
    }
}

/// 50 concurrent single-view appends to one session: all land, in time order.
pub async fn concurrent_appends_all_land(store: Arc<dyn SessionStore>, prefix: &str) {
    let sid = format!("{prefix}-concurrent");
    let mut tasks = Vec::new();
    for i in 0..50i64 {
        let store = Arc::clone(&store);
        let sid = sid.clone();
        tasks.push(tokio::spawn(async move {
            let v = [View {
                item_id: format!("item-{i}"),
                viewed_at: Timestamp(T0 + 1000 * i),
            }];
            append(store.as_ref(), &sid, None, &v, T0 + 60_000, 500).await
        }));
    }
    for t in tasks {
        appended(t.await.expect("task ran"));
    }
    let doc = store.get(&sid).await.expect("read").expect("exists");
    assert_eq!(doc.view_count, 50);
    assert_eq!(doc.items_viewed.len(), 50);
    let items: Vec<String> = doc.items_viewed.iter().map(|v| v.item_id.clone()).collect();
    let expected: Vec<String> = (0..50).map(|i| format!("item-{i}")).collect();
    assert_eq!(items, expected, "every view present, ordered by viewed_at");
    assert!(doc.is_active);
    // The request that created the session set its start: one of the 50 view times.
    assert!(doc
        .items_viewed
        .iter()
        .any(|v| v.viewed_at == doc.session_start));
    assert_eq!(doc.last_update, Timestamp(T0 + 60_000));
}

/// A session takes views up to the cap; a request that would pass it is refused whole.
pub async fn cap_is_enforced(store: &dyn SessionStore, prefix: &str) {
    let sid = format!("{prefix}-cap");
    appended(append(store, &sid, None, &views("a", 3, T0), T0, 5).await);
    let out = append(store, &sid, None, &views("b", 3, T0 + 10), T0 + 10, 5).await;
    assert_eq!(out, AppendOutcome::CapReached { view_count: 3 });
    let doc = appended(append(store, &sid, None, &views("c", 2, T0 + 20), T0 + 20, 5).await);
    assert_eq!(doc.view_count, 5);
    let out = append(store, &sid, None, &views("d", 1, T0 + 30), T0 + 30, 5).await;
    assert_eq!(out, AppendOutcome::CapReached { view_count: 5 });
    let doc = store.get(&sid).await.expect("read").expect("exists");
    assert_eq!(doc.items_viewed.len(), 5, "refused requests wrote nothing");
    let fresh = format!("{prefix}-cap-fresh");
    let out = append(store, &fresh, None, &views("e", 6, T0), T0, 5).await;
    assert!(matches!(out, AppendOutcome::CapReached { .. }), "{out:?}");
    assert_eq!(store.get(&fresh).await.expect("read"), None);
}

/// Archiving is conditional on `last_update`; an archived session refuses views and
/// carries its expiry.
pub async fn archive_rules(store: &dyn SessionStore, prefix: &str) {
    let sid = format!("{prefix}-archive");
    let doc = appended(append(store, &sid, None, &views("a", 2, T0), T0 + 5, 500).await);
    assert_eq!(doc.last_update, Timestamp(T0 + 5));
    assert!(
        !store
            .archive(&sid, Timestamp(T0), 1_900_000_000)
            .await
            .expect("archive call"),
        "a stale last_update must not archive"
    );
    assert!(
        store
            .get(&sid)
            .await
            .expect("read")
            .expect("exists")
            .is_active
    );
    assert!(store
        .archive(&sid, Timestamp(T0 + 5), 1_900_000_000)
        .await
        .expect("archive call"));
    let doc = store.get(&sid).await.expect("read").expect("exists");
    assert!(!doc.is_active);
    assert_eq!(doc.expires_at, Some(1_900_000_000));
    assert_eq!(doc.items_viewed.len(), 2);
    let out = append(store, &sid, None, &views("b", 1, T0 + 10), T0 + 10, 500).await;
    assert_eq!(out, AppendOutcome::Archived);
    assert!(!store
        .archive(&sid, Timestamp(T0 + 5), 1_900_000_000)
        .await
        .expect("archive call"));
    assert_eq!(
        store
            .get(&sid)
            .await
            .expect("read")
            .expect("exists")
            .view_count,
        2
    );
}

/// An anonymous session may gain a customer; another customer is refused.
pub async fn customer_rules(store: &dyn SessionStore, prefix: &str) {
    let sid = format!("{prefix}-customer");
    let doc = appended(append(store, &sid, None, &views("a", 1, T0), T0, 500).await);
    assert_eq!(doc.customer_id, None);
    let doc = appended(
        append(
            store,
            &sid,
            Some("c-1"),
            &views("b", 1, T0 + 1),
            T0 + 1,
            500,
        )
        .await,
    );
    assert_eq!(doc.customer_id.as_deref(), Some("c-1"));
    let doc = appended(append(store, &sid, None, &views("c", 1, T0 + 2), T0 + 2, 500).await);
    assert_eq!(
        doc.customer_id.as_deref(),
        Some("c-1"),
        "kept when not given"
    );
    let out = append(
        store,
        &sid,
        Some("c-2"),
        &views("d", 1, T0 + 3),
        T0 + 3,
        500,
    )
    .await;
    assert_eq!(
        out,
        AppendOutcome::CustomerConflict {
            existing: "c-1".into()
        }
    );
    let doc = store.get(&sid).await.expect("read").expect("exists");
    assert_eq!(doc.view_count, 3);
    assert_eq!(doc.customer_id.as_deref(), Some("c-1"));
}

/// Runs every rule of the contract.
pub async fn session_store_contract(store: Arc<dyn SessionStore>) {
    let prefix = run_prefix();
    concurrent_appends_all_land(Arc::clone(&store), &prefix).await;
    cap_is_enforced(store.as_ref(), &prefix).await;
    archive_rules(store.as_ref(), &prefix).await;
    customer_rules(store.as_ref(), &prefix).await;
    assert_eq!(
        store.get(&format!("{prefix}-missing")).await.expect("read"),
        None
    );
}
