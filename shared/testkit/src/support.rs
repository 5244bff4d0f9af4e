//! Helpers the contracts share.

use reco_core::ports::AppendRequest;
use reco_core::{AppendOutcome, Impression, SessionDoc, SessionStore, Timestamp, View};

pub(crate) const T0: i64 = 1_800_000_000_000;

pub(crate) fn views(prefix: &str, n: usize, t: i64) -> Vec<View> {
    (0..n)
        .map(|i| View {
            item_id: format!("{prefix}-item-{i}"),
            viewed_at: Timestamp(t + i as i64),
            recommendation_id: None,
        })
        .collect()
}

pub(crate) async fn append(
    store: &dyn SessionStore,
    session_id: &str,
    customer_id: Option<&str>,
    views: &[View],
    now: i64,
    max_views: u32,
) -> AppendOutcome {
    append_within(
        store,
        session_id,
        customer_id,
        views,
        now,
        max_views,
        reco_core::sessions::SESSION_BYTES_BUDGET,
    )
    .await
}

pub(crate) async fn append_within(
    store: &dyn SessionStore,
    session_id: &str,
    customer_id: Option<&str>,
    views: &[View],
    now: i64,
    max_views: u32,
    max_bytes: u32,
) -> AppendOutcome {
    store
        .append(AppendRequest {
            session_id,
            customer_id,
            views,
            now: Timestamp(now),
            max_views,
            added_bytes: views.iter().map(reco_core::sessions::view_bytes).sum(),
            max_bytes,
            active_shard: 3,
            impressions: &[],
            added_impression_bytes: 0,
            max_impression_bytes: reco_core::sessions::IMPRESSION_BYTES_BUDGET,
        })
        .await
        .expect("store call succeeds")
}

/// Appends, expects success, and returns the session as stored.
pub(crate) async fn append_ok(
    store: &dyn SessionStore,
    session_id: &str,
    customer_id: Option<&str>,
    views: &[View],
    now: i64,
    max_views: u32,
) -> SessionDoc {
    let outcome = append(store, session_id, customer_id, views, now, max_views).await;
    assert_eq!(
        outcome,
        AppendOutcome::Appended,
        "expected the append to succeed"
    );
    store
        .get(session_id)
        .await
        .expect("read")
        .expect("appended session exists")
}

pub(crate) fn impression(rid_digit: char, strategy: &str, items: &[&str], at: i64) -> Impression {
    Impression {
        recommendation_id: rid_digit.to_string().repeat(32),
        model_version: "20261130T120000Z-0123abcd".into(),
        strategy: strategy.into(),
        item_ids: items.iter().map(|i| i.to_string()).collect(),
        shown_at: Timestamp(at),
    }
}
