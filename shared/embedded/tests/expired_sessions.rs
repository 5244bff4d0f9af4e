//! The SQLite session store deletes archived sessions past their expiry, with their
//! views and impressions, and keeps active sessions and unexpired archived ones.

use reco_core::ports::AppendRequest;
use reco_core::{AppendOutcome, Impression, SessionStore, Timestamp, View};
use reco_embedded::SqliteSessionStore;

const NOW: Timestamp = Timestamp(1_800_000_000_000);

/// Appends `views` views to `session` at `at`, 20 per append (so that a long session
/// fills view chunks), the first append with one impression.
async fn session_with_views(
    store: &SqliteSessionStore,
    session: &str,
    views: usize,
    at: Timestamp,
) {
    let views: Vec<View> = (0..views)
        .map(|i| View {
            item_id: format!("item-{i:04}-of-{session}"),
            viewed_at: Timestamp(at.millis() - 1000 + i as i64),
            recommendation_id: None,
        })
        .collect();
    let impressions = [Impression {
        recommendation_id: format!("rec-{session}"),
        model_version: "v1".into(),
        strategy: "popular".into(),
        item_ids: vec!["a".into(), "b".into()],
        shown_at: at,
    }];
    for (n, part) in views.chunks(20).enumerate() {
        let impressions = if n == 0 { &impressions[..] } else { &[] };
        let outcome = store
            .append(AppendRequest {
                session_id: session,
                customer_id: None,
                views: part,
                now: at,
                max_views: 1000,
                added_bytes: reco_core::sessions::request_bytes(part),
                max_bytes: reco_core::sessions::SESSION_BYTES_BUDGET,
                active_shard: 1,
                impressions,
                added_impression_bytes: impressions
                    .iter()
                    .map(reco_core::sessions::impression_bytes)
                    .sum(),
                max_impression_bytes: reco_core::sessions::IMPRESSION_BYTES_BUDGET,
            })
            .await
            .expect("no store error");
        assert_eq!(outcome, AppendOutcome::Appended, "{session}");
    }
}

/// Rows of `table` that belong to `session`, read from the file itself.
fn rows(db: &rusqlite::Connection, table: &str, session: &str) -> i64 {
    db.query_row(
        &format!("SELECT COUNT(*) FROM {table} WHERE session_id = ?1"),
        [session],
        |r| r.get(0),
    )
    .expect("count")
}

#[tokio::test]
async fn archived_sessions_past_their_expiry_are_deleted_with_their_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sessions.sqlite");
    let store = SqliteSessionStore::open(&path).expect("opens");
    let now_secs = NOW.seconds();
    // Five expired (two batches of two and one more), one archived that expires
    // later, one archived that expires this very second (not past yet), one active.
    let expired: Vec<String> = (0..5).map(|i| format!("expired-{i}")).collect();
    for (i, id) in expired.iter().enumerate() {
        session_with_views(&store, id, 120, NOW).await;
        let archived = store
            .archive(id, NOW, now_secs - 1 - i as i64)
            .await
            .expect("archives");
        assert!(archived, "{id}");
    }
    session_with_views(&store, "kept-archived", 120, NOW).await;
    assert!(store
        .archive("kept-archived", NOW, now_secs + 86_400)
        .await
        .expect("archives"));
    session_with_views(&store, "expires-now", 3, NOW).await;
    assert!(store
        .archive("expires-now", NOW, now_secs)
        .await
        .expect("archives"));
    session_with_views(&store, "active", 120, NOW).await;

    let db = rusqlite::Connection::open(&path).expect("reads the file");
    // The long sessions have chunk rows to delete.
    assert!(rows(&db, "session_doc_view_chunks", "expired-0") > 0);
    assert_eq!(rows(&db, "session_doc_impressions", "expired-0"), 1);

    let deleted = store.delete_expired(NOW, 2).await.expect("deletes");
    assert_eq!(deleted, 5);
    for id in &expired {
        assert_eq!(store.get(id).await.expect("reads"), None, "{id}");
        for table in [
            "session_docs",
            "session_doc_view_chunks",
            "session_doc_impressions",
        ] {
            assert_eq!(rows(&db, table, id), 0, "{table} of {id}");
        }
    }
    for (id, active) in [
        ("kept-archived", false),
        ("expires-now", false),
        ("active", true),
    ] {
        let doc = store
            .get(id)
            .await
            .expect("reads")
            .unwrap_or_else(|| panic!("{id} was deleted"));
        assert_eq!(doc.is_active, active, "{id}");
        assert_eq!(doc.impressions.len(), 1, "{id}");
    }
    let kept = store.get("kept-archived").await.expect("reads");
    assert_eq!(kept.map(|d| d.items_viewed.len()), Some(120));

    // Nothing more to delete until time passes; a day later the next one goes.
    assert_eq!(store.delete_expired(NOW, 2).await.expect("deletes"), 0);
    let next_second = NOW.plus_secs(1);
    assert_eq!(
        store.delete_expired(next_second, 2).await.expect("deletes"),
        1
    );
    assert_eq!(store.get("expires-now").await.expect("reads"), None);
    let a_day_later = NOW.plus_secs(86_401);
    assert_eq!(
        store.delete_expired(a_day_later, 0).await.expect("deletes"),
        1
    );
    assert_eq!(store.get("kept-archived").await.expect("reads"), None);
    assert!(store.get("active").await.expect("reads").is_some());

    // A deleted session's id starts a new session, as after DynamoDB's TTL.
    session_with_views(&store, "expired-0", 1, a_day_later).await;
    let reborn = store
        .get("expired-0")
        .await
        .expect("reads")
        .expect("new session");
    assert!(reborn.is_active);
    assert_eq!(reborn.items_viewed.len(), 1);
}
