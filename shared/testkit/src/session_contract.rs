//! The behaviour every `SessionStore` owes its callers, run against each adapter on
//! its real service: the rules themselves are decided in `reco_core::ports::refusal`;
//! this checks that each store applies them, atomically.

use std::sync::Arc;

use reco_core::ports::AppendRequest;
use reco_core::{AppendOutcome, Impression, SessionStore, Timestamp, View};

use crate::run_prefix;
use crate::support::{append, append_ok, append_within, impression, views, T0};

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
                recommendation_id: None,
            }];
            append(store.as_ref(), &sid, None, &v, T0 + 60_000, 500).await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.expect("task ran"), AppendOutcome::Appended);
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
    append_ok(store, &sid, None, &views("a", 3, T0), T0, 5).await;
    let out = append(store, &sid, None, &views("b", 3, T0 + 10), T0 + 10, 5).await;
    assert_eq!(out, AppendOutcome::CapReached { view_count: 3 });
    let doc = append_ok(store, &sid, None, &views("c", 2, T0 + 20), T0 + 20, 5).await;
    assert_eq!(doc.view_count, 5);
    let out = append(store, &sid, None, &views("d", 1, T0 + 30), T0 + 30, 5).await;
    assert_eq!(out, AppendOutcome::CapReached { view_count: 5 });
    let doc = store.get(&sid).await.expect("read").expect("exists");
    assert_eq!(doc.items_viewed.len(), 5, "refused requests wrote nothing");
    let fresh = format!("{prefix}-cap-fresh");
    let out = append(store, &fresh, None, &views("e", 6, T0), T0, 5).await;
    assert_eq!(out, AppendOutcome::CapReached { view_count: 0 });
    assert_eq!(store.get(&fresh).await.expect("read"), None);
}

/// Archiving is conditional on `last_update`; an archived session refuses views and
/// carries its expiry.
pub async fn archive_rules(store: &dyn SessionStore, prefix: &str) {
    let sid = format!("{prefix}-archive");
    let doc = append_ok(store, &sid, None, &views("a", 2, T0), T0 + 5, 500).await;
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

/// An anonymous session may gain a customer; then neither another customer nor a
/// request without a customer may write to it.
pub async fn customer_rules(store: &dyn SessionStore, prefix: &str) {
    let sid = format!("{prefix}-customer");
    let doc = append_ok(store, &sid, None, &views("a", 1, T0), T0, 500).await;
    assert_eq!(doc.customer_id, None);
    let doc = append_ok(
        store,
        &sid,
        Some("c-1"),
        &views("b", 1, T0 + 1),
        T0 + 1,
        500,
    )
    .await;
    assert_eq!(doc.customer_id.as_deref(), Some("c-1"));
    let out = append(store, &sid, None, &views("c", 1, T0 + 2), T0 + 2, 500).await;
    assert_eq!(
        out,
        AppendOutcome::CustomerConflict {
            existing: Some("c-1".into())
        },
        "a request without the session's customer is refused"
    );
    let doc = append_ok(
        store,
        &sid,
        Some("c-1"),
        &views("c", 1, T0 + 2),
        T0 + 2,
        500,
    )
    .await;
    assert_eq!(doc.customer_id.as_deref(), Some("c-1"));
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
            existing: Some("c-1".into())
        }
    );
    let doc = store.get(&sid).await.expect("read").expect("exists");
    assert_eq!(doc.view_count, 3);
    assert_eq!(doc.customer_id.as_deref(), Some("c-1"));
}

/// A session's views stay within its byte budget, counted in bytes of UTF-8 (4-byte
/// characters here): a request that would pass it is refused whole and the session
/// keeps what it had.
pub async fn byte_budget_is_enforced(store: &dyn SessionStore, prefix: &str) {
    let sid = format!("{prefix}-bytes");
    // 64 four-byte characters: 256 bytes, the longest item id.
    let wide = |tag: usize| View {
        item_id: format!("{tag:03}{}", "\u{1F600}".repeat(63)),
        viewed_at: Timestamp(T0 + tag as i64),
        recommendation_id: None,
    };
    let one = reco_core::sessions::view_bytes(&wide(0));
    assert_eq!(one, 3 + 63 * 4 + reco_core::sessions::VIEW_OVERHEAD_BYTES);
    let budget = one * 3 + one / 2;
    let first: Vec<View> = (0..3).map(wide).collect();
    let out = append_within(store, &sid, None, &first, T0, 500, budget).await;
    assert_eq!(out, AppendOutcome::Appended);
    let out = append_within(store, &sid, None, &[wide(3)], T0 + 1, 500, budget).await;
    assert_eq!(
        out,
        AppendOutcome::TooLarge {
            byte_count: one * 3
        }
    );
    let doc = store.get(&sid).await.expect("read").expect("exists");
    assert_eq!(doc.view_count, 3, "the refused view wrote nothing");
    assert_eq!(doc.items_viewed, first, "the session keeps what it had");
    let out = append_within(store, &format!("{sid}-new"), None, &first, T0, 500, one).await;
    assert_eq!(out, AppendOutcome::TooLarge { byte_count: 0 });
}

/// A view's recommendation id is stored and read back with it; views without one stay
/// without.
pub async fn attribution_round_trips(store: &dyn SessionStore, prefix: &str) {
    let session = format!("{prefix}-attributed");
    let rid = "0123456789abcdef0123456789abcdef".to_string();
    let mut v = views(prefix, 2, T0);
    v[1].recommendation_id = Some(rid.clone());
    assert_eq!(
        append(store, &session, None, &v, T0 + 10, 100).await,
        AppendOutcome::Appended
    );
    let doc = store.get(&session).await.expect("read").expect("stored");
    let got: Vec<Option<String>> = doc
        .items_viewed
        .iter()
        .map(|v| v.recommendation_id.clone())
        .collect();
    assert_eq!(got, vec![None, Some(rid)]);
}

async fn append_impressions(
    store: &dyn SessionStore,
    session_id: &str,
    customer_id: Option<&str>,
    impressions: &[Impression],
    now: i64,
    max_impression_bytes: u32,
) -> AppendOutcome {
    store
        .append(AppendRequest {
            session_id,
            customer_id,
            views: &[],
            now: Timestamp(now),
            max_views: 100,
            added_bytes: 0,
            max_bytes: reco_core::sessions::SESSION_BYTES_BUDGET,
            active_shard: 3,
            impressions,
            added_impression_bytes: impressions
                .iter()
                .map(reco_core::sessions::impression_bytes)
                .sum(),
            max_impression_bytes,
        })
        .await
        .expect("store call succeeds")
}

/// Impressions are kept beside the views in arrival order (an impression may start a
/// session); they have a byte budget of their own: a full one refuses impressions
/// whole and still takes views; the customer rule is the views'.
pub async fn impressions_are_kept(store: &dyn SessionStore, prefix: &str) {
    let sid = format!("{prefix}-impressions");
    let first = impression('a', "popular", &["p-1", "p-2", "p-3"], T0);
    let one = reco_core::sessions::impression_bytes(&first);
    let budget = one * 2 + one / 2;
    assert_eq!(
        append_impressions(store, &sid, None, std::slice::from_ref(&first), T0, budget).await,
        AppendOutcome::Appended,
        "an impression starts a session"
    );
    let doc = store.get(&sid).await.expect("read").expect("stored");
    assert_eq!(doc.view_count, 0);
    assert_eq!(doc.session_start, Timestamp(T0));
    assert!(doc.is_active);
    let v = views(prefix, 2, T0 + 5);
    assert_eq!(
        append(store, &sid, None, &v, T0 + 10, 100).await,
        AppendOutcome::Appended
    );
    let second = impression('b', "session", &["s-1"], T0 + 20);
    assert_eq!(
        append_impressions(
            store,
            &sid,
            None,
            std::slice::from_ref(&second),
            T0 + 20,
            budget
        )
        .await,
        AppendOutcome::Appended
    );
    let third = impression('c', "session", &["s-2"], T0 + 30);
    assert_eq!(
        append_impressions(
            store,
            &sid,
            None,
            std::slice::from_ref(&third),
            T0 + 30,
            budget
        )
        .await,
        AppendOutcome::ImpressionsFull {
            impression_bytes: one + reco_core::sessions::impression_bytes(&second)
        },
        "the impression budget is the impressions' own"
    );
    assert_eq!(
        append(
            store,
            &sid,
            None,
            &views(&format!("{prefix}-more"), 1, T0 + 40),
            T0 + 40,
            100
        )
        .await,
        AppendOutcome::Appended,
        "a full impression budget leaves room for views"
    );
    let doc = store.get(&sid).await.expect("read").expect("stored");
    assert_eq!(doc.impressions, vec![first.clone(), second]);
    assert_eq!(doc.view_count, 3);
    assert_eq!(
        append_impressions(
            store,
            &sid,
            Some("c-1"),
            std::slice::from_ref(&first),
            T0 + 50,
            1 << 20
        )
        .await,
        AppendOutcome::Appended,
        "an anonymous session gains the customer, as with views"
    );
    assert!(matches!(
        append_impressions(
            store,
            &sid,
            None,
            std::slice::from_ref(&first),
            T0 + 60,
            1 << 20
        )
        .await,
        AppendOutcome::CustomerConflict { .. }
    ));
}

/// When several rules refuse an append, every store names the first in the core's
/// order (`reco_core::ports::refusal`): archived, customer, view cap, byte budget.
pub async fn refusals_follow_the_core_order(store: &dyn SessionStore, prefix: &str) {
    // A session at its cap (3 of 3) whose byte budget is spent as well.
    let sid = format!("{prefix}-order");
    let first = views("a", 3, T0);
    let budget: u32 = first.iter().map(reco_core::sessions::view_bytes).sum();
    let out = append_within(store, &sid, None, &first, T0, 3, budget).await;
    assert_eq!(out, AppendOutcome::Appended);
    let next = views("b", 1, T0 + 1);
    let out = append_within(store, &sid, None, &next, T0 + 1, 3, budget).await;
    assert_eq!(out, AppendOutcome::CapReached { view_count: 3 });
    // A request too large for any session, sent by another customer to a customer's
    // session: the customer comes first (the store has to look at the session).
    let bound = format!("{prefix}-order-bound");
    let doc = append_ok(store, &bound, Some("c-1"), &views("c", 1, T0), T0, 500).await;
    let out = append(
        store,
        &bound,
        Some("c-2"),
        &views("d", 6, T0 + 1),
        T0 + 1,
        5,
    )
    .await;
    assert_eq!(
        out,
        AppendOutcome::CustomerConflict {
            existing: Some("c-1".into())
        }
    );
    // The same request to that session once archived: archived comes first.
    assert!(store
        .archive(&bound, doc.last_update, 1_900_000_000)
        .await
        .expect("archive call"));
    let out = append(
        store,
        &bound,
        Some("c-1"),
        &views("e", 6, T0 + 2),
        T0 + 2,
        5,
    )
    .await;
    assert_eq!(out, AppendOutcome::Archived);
    let doc = store.get(&bound).await.expect("read").expect("kept");
    assert_eq!(doc.view_count, 1, "refused appends wrote nothing");
}

/// Runs every rule of the contract.
pub async fn session_store_contract(store: Arc<dyn SessionStore>) {
    let prefix = run_prefix();
    attribution_round_trips(store.as_ref(), &prefix).await;
    impressions_are_kept(store.as_ref(), &prefix).await;
    concurrent_appends_all_land(Arc::clone(&store), &prefix).await;
    cap_is_enforced(store.as_ref(), &prefix).await;
    archive_rules(store.as_ref(), &prefix).await;
    customer_rules(store.as_ref(), &prefix).await;
    byte_budget_is_enforced(store.as_ref(), &prefix).await;
    refusals_follow_the_core_order(store.as_ref(), &prefix).await;
    assert_eq!(
        store.get(&format!("{prefix}-missing")).await.expect("read"),
        None
    );
}
