//! The SQLite session store meets the same contract as the DynamoDB one.

use std::sync::Arc;

use reco_embedded::SqliteSessionStore;

/// Appends one view of `item` to `session` under a cap of `max_views`.
async fn append_one(
    store: &SqliteSessionStore,
    session: &str,
    item: &str,
    max_views: u32,
) -> reco_core::AppendOutcome {
    use reco_core::ports::AppendRequest;
    use reco_core::{SessionStore, Timestamp, View};
    let views = [View {
        item_id: item.to_string(),
        viewed_at: Timestamp(1_800_000_000_000),
        recommendation_id: None,
    }];
    store
        .append(AppendRequest {
            session_id: session,
            customer_id: None,
            views: &views,
            now: Timestamp(1_800_000_000_000),
            max_views,
            added_bytes: reco_core::sessions::request_bytes(&views),
            max_bytes: reco_core::sessions::SESSION_BYTES_BUDGET,
            active_shard: 0,
            impressions: &[],
            added_impression_bytes: 0,
            max_impression_bytes: reco_core::sessions::IMPRESSION_BYTES_BUDGET,
        })
        .await
        .expect("no store error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_meets_the_session_store_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteSessionStore::open(&dir.path().join("s.sqlite")).expect("opens");
    reco_testkit::session_store_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn sessions_survive_reopening_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.sqlite");
    {
        let store = SqliteSessionStore::open(&path).expect("opens");
        reco_testkit::customer_rules(&store, "reopen").await;
    }
    let store = SqliteSessionStore::open(&path).expect("reopens");
    let doc = reco_core::SessionStore::get(&store, "reopen-customer")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(doc.view_count, 3);
}

/// Appends committed together (group commit) keep their own outcomes: of 40
/// concurrent single-view appends to 4 sessions with a cap of 5, exactly 5 per session
/// land and the rest are refused, and each session holds exactly what was accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_committed_together_keep_their_own_outcomes() {
    use reco_core::{AppendOutcome, SessionStore};
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SqliteSessionStore::open(&dir.path().join("s.sqlite")).expect("opens"));
    let mut tasks = Vec::new();
    for i in 0..40u32 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let session = format!("group-{}", i % 4);
            let outcome = append_one(store.as_ref(), &session, &format!("item-{i}"), 5).await;
            (i % 4, format!("item-{i}"), outcome)
        }));
    }
    let mut accepted: Vec<Vec<String>> = vec![Vec::new(); 4];
    for task in tasks {
        let (s, item, outcome) = task.await.expect("task");
        match outcome {
            AppendOutcome::Appended => accepted[s as usize].push(item),
            AppendOutcome::CapReached { view_count } => assert_eq!(view_count, 5),
            other => panic!("unexpected {other:?}"),
        }
    }
    for (s, items) in accepted.iter_mut().enumerate() {
        assert_eq!(items.len(), 5, "session {s}");
        let doc = store
            .get(&format!("group-{s}"))
            .await
            .expect("read")
            .expect("exists");
        let mut stored: Vec<String> = doc.items_viewed.into_iter().map(|v| v.item_id).collect();
        stored.sort();
        items.sort();
        assert_eq!(
            &stored, items,
            "session {s} holds exactly what was accepted"
        );
        assert_eq!(doc.view_count, 5);
    }
}

/// The WAL is copied back into the database file by the store's checkpointer (the
/// writer's own commits never checkpoint): after appends, the database file grows
/// within a few checkpoint periods, with no further call to the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkpointer_copies_appends_into_the_database_file() {
    use reco_core::AppendOutcome;
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.sqlite");
    let store = SqliteSessionStore::open(&path).expect("opens");
    let empty = std::fs::metadata(&path).expect("file").len();
    for i in 0..300u32 {
        let outcome = append_one(
            &store,
            &format!("wal-{}", i % 30),
            &format!("{i:0>200}"),
            500,
        )
        .await;
        assert_eq!(outcome, AppendOutcome::Appended);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let mut size = std::fs::metadata(&path).expect("file").len();
    while size < empty + 60_000 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        size = std::fs::metadata(&path).expect("file").len();
    }
    assert!(
        size >= empty + 60_000,
        "300 views of 200-byte ids reached the database file ({empty} -> {size} bytes)"
    );
}
