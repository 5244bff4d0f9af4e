//! The SQLite session store meets the same contract as the DynamoDB one.

use std::sync::Arc;

use reco_embedded::SqliteSessionStore;

/// Appends `views` to `session` at `now` under a cap of `max_views`, in shard 3.
async fn try_append(
    store: &SqliteSessionStore,
    session: &str,
    views: &[reco_core::View],
    now: reco_core::Timestamp,
    max_views: u32,
) -> Result<reco_core::AppendOutcome, reco_core::StoreError> {
    use reco_core::ports::AppendRequest;
    use reco_core::SessionStore;
    store
        .append(AppendRequest {
            session_id: session,
            customer_id: None,
            views,
            now,
            max_views,
            added_bytes: reco_core::sessions::request_bytes(views),
            max_bytes: reco_core::sessions::SESSION_BYTES_BUDGET,
            active_shard: 3,
            impressions: &[],
            added_impression_bytes: 0,
            max_impression_bytes: reco_core::sessions::IMPRESSION_BYTES_BUDGET,
        })
        .await
}

/// Appends one view of `item` to `session` under a cap of `max_views`.
async fn append_one(
    store: &SqliteSessionStore,
    session: &str,
    item: &str,
    max_views: u32,
) -> reco_core::AppendOutcome {
    let now = reco_core::Timestamp(1_800_000_000_000);
    let views = [view(item.to_string(), now.millis(), None)];
    try_append(store, session, &views, now, max_views)
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

/// Appends `views` to `session` (cap 1,000) at `now`.
async fn append_views(
    store: &SqliteSessionStore,
    session: &str,
    views: &[reco_core::View],
    now: reco_core::Timestamp,
) -> reco_core::AppendOutcome {
    try_append(store, session, views, now, 1000)
        .await
        .expect("no store error")
}

fn view(item: String, millis: i64, rec: Option<&str>) -> reco_core::View {
    reco_core::View {
        item_id: item,
        viewed_at: reco_core::Timestamp(millis),
        recommendation_id: rec.map(str::to_string),
    }
}

/// A long session's views move from its row into chunks as it grows; read back, in
/// the store and after reopening the file, they are every view in order, ids with
/// quotes, commas and non-ASCII text included.
#[tokio::test]
async fn a_long_session_reads_back_every_view_in_order() {
    use reco_core::{AppendOutcome, SessionStore, Timestamp};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.sqlite");
    let t0 = 1_800_000_000_000;
    let mut expected = Vec::new();
    {
        let store = SqliteSessionStore::open(&path).expect("opens");
        for i in 0..300i64 {
            let batch: Vec<_> = (0..1 + i % 3)
                .map(|j| {
                    let rec = (j == 1).then_some("0123456789abcdef0123456789abcdef");
                    view(
                        format!("sku \"{i}\", №{j} {}", "x".repeat((i % 40) as usize)),
                        t0 + i,
                        rec,
                    )
                })
                .collect();
            expected.extend(batch.iter().cloned());
            let outcome = append_views(&store, "long", &batch, Timestamp(t0 + i)).await;
            assert_eq!(outcome, AppendOutcome::Appended);
            if expected.len() >= 590 {
                break;
            }
        }
        let doc = store.get("long").await.expect("read").expect("kept");
        assert_eq!(doc.view_count as usize, expected.len());
        assert_eq!(doc.items_viewed, expected);
    }
    let conn = rusqlite::Connection::open(&path).expect("opens");
    let (chunks, recent_bytes): (i64, i64) = conn
        .query_row(
            "SELECT (SELECT COUNT(*) FROM session_doc_view_chunks), length(recent)
             FROM session_docs WHERE session_id = 'long'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("counted");
    assert!(chunks >= 10, "{chunks} chunks");
    assert!(
        recent_bytes <= 2048,
        "the row keeps {recent_bytes} bytes of views"
    );
    let store = SqliteSessionStore::open(&path).expect("reopens");
    let doc = store.get("long").await.expect("read").expect("kept");
    assert_eq!(doc.items_viewed, expected);
}

/// The statistics count the views of the last minute and hour by their viewed_at; a
/// refused append counts nothing.
#[tokio::test]
async fn statistics_count_recent_views_of_appends_that_landed() {
    use reco_core::{AppendOutcome, SessionStatistics, Timestamp};
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteSessionStore::open(&dir.path().join("s.sqlite")).expect("opens");
    let now = 1_800_000_000_000;
    let views = [
        view("now".into(), now - 1_000, None),
        view("ten-minutes".into(), now - 600_000, None),
        view("two-hours".into(), now - 7_200_000, None),
    ];
    assert_eq!(
        append_views(&store, "stats", &views, Timestamp(now)).await,
        AppendOutcome::Appended
    );
    let too_many: Vec<_> = (0..1001)
        .map(|i| view(format!("i{i}"), now, None))
        .collect();
    assert!(matches!(
        append_views(&store, "stats", &too_many, Timestamp(now)).await,
        AppendOutcome::CapReached { .. }
    ));
    let stats = store.stats(Timestamp(now), 1800).await.expect("stats");
    assert_eq!((stats.views_last_minute, stats.views_last_hour), (1, 2));
    assert_eq!(stats.active, 1);
    let later = store
        .stats(Timestamp(now + 3_300_000), 1800)
        .await
        .expect("stats");
    assert_eq!((later.views_last_minute, later.views_last_hour), (0, 1));
}

/// A data folder made when each view had a row of its own opens with every session,
/// view and impression as it was, its recent views counted, and takes new views after
/// them.
#[tokio::test]
async fn a_store_with_one_row_per_view_is_migrated_on_opening() {
    use reco_core::{AppendOutcome, SessionStatistics, SessionStore, Timestamp};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.sqlite");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64;
    {
        let conn = rusqlite::Connection::open(&path).expect("creates");
        conn.execute_batch(
            "CREATE TABLE session_docs (
                 session_id TEXT PRIMARY KEY, customer_id TEXT, is_active INTEGER NOT NULL,
                 session_start INTEGER NOT NULL, last_update INTEGER NOT NULL,
                 view_count INTEGER NOT NULL, active_shard INTEGER, expires_at INTEGER,
                 byte_count INTEGER NOT NULL DEFAULT 0, quarantine_reason TEXT,
                 impression_bytes INTEGER NOT NULL DEFAULT 0);
             CREATE INDEX session_docs_active
                 ON session_docs (active_shard, last_update) WHERE active_shard IS NOT NULL;
             CREATE TABLE session_doc_views (
                 session_id TEXT NOT NULL REFERENCES session_docs (session_id),
                 seq INTEGER NOT NULL, item_id TEXT NOT NULL, viewed_at INTEGER NOT NULL,
                 recommendation_id TEXT, PRIMARY KEY (session_id, seq));
             CREATE TABLE session_doc_impressions (
                 session_id TEXT NOT NULL REFERENCES session_docs (session_id),
                 seq INTEGER NOT NULL, recommendation_id TEXT NOT NULL,
                 model_version TEXT NOT NULL, strategy TEXT NOT NULL,
                 item_ids TEXT NOT NULL, shown_at INTEGER NOT NULL,
                 PRIMARY KEY (session_id, seq));",
        )
        .expect("old schema");
        for (sid, customer, n, active) in [
            ("old-a", None, 150i64, true),
            ("old-b", Some("cust"), 2, false),
        ] {
            conn.execute(
                "INSERT INTO session_docs VALUES (?1, ?7, ?2, ?3, ?4, ?5, ?6, NULL, 100, NULL, 0)",
                rusqlite::params![
                    sid,
                    active,
                    now - 5_000,
                    now - 1_000,
                    n,
                    active.then_some(3),
                    customer
                ],
            )
            .expect("session");
            // Written in reverse seq order: the seq, not the row order, is the order.
            for seq in (0..n).rev() {
                let rec = (seq % 7 == 0).then_some("0123456789abcdef0123456789abcdef");
                conn.execute(
                    "INSERT INTO session_doc_views VALUES (?1, ?2, ?3, ?4, ?5)",
                    rusqlite::params![
                        sid,
                        seq,
                        format!("{sid}-{seq:0>30}"),
                        now - 5_000 + seq,
                        rec
                    ],
                )
                .expect("view");
            }
        }
        conn.execute(
            "INSERT INTO session_doc_impressions VALUES ('old-a', 0, ?1, 'v1', 'session', ?2, ?3)",
            rusqlite::params!["0123456789abcdef0123456789abcdef", "x\ny", now - 2_000],
        )
        .expect("impression");
    }
    let store = SqliteSessionStore::open(&path).expect("opens and migrates");
    let a = store.get("old-a").await.expect("read").expect("kept");
    assert_eq!(a.view_count, 150);
    let items: Vec<_> = a.items_viewed.iter().map(|v| v.item_id.clone()).collect();
    let want: Vec<_> = (0..150).map(|s| format!("old-a-{s:0>30}")).collect();
    assert_eq!(items, want);
    assert_eq!(
        a.items_viewed[7].recommendation_id.as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert_eq!(a.items_viewed[8].recommendation_id, None);
    assert_eq!(a.impressions.len(), 1);
    assert_eq!(a.impressions[0].item_ids, vec!["x", "y"]);
    let b = store.get("old-b").await.expect("read").expect("kept");
    assert_eq!((b.items_viewed.len(), b.is_active), (2, false));
    assert_eq!(b.customer_id.as_deref(), Some("cust"));
    let stats = store.stats(Timestamp(now), 1800).await.expect("stats");
    assert_eq!(
        (stats.views_last_minute, stats.active, stats.archived),
        (152, 1, 1)
    );
    let inactive = store
        .inactive(3, Timestamp(now), 10)
        .await
        .expect("inactive");
    assert_eq!(
        inactive,
        vec![("old-a".to_string(), Timestamp(now - 1_000))]
    );
    let next = [view("after".into(), now, None)];
    assert_eq!(
        append_views(&store, "old-a", &next, Timestamp(now)).await,
        AppendOutcome::Appended
    );
    let a = store.get("old-a").await.expect("read").expect("kept");
    assert_eq!(a.items_viewed.len(), 151);
    assert_eq!(a.items_viewed[150].item_id, "after");
    drop(store);
    let conn = rusqlite::Connection::open(&path).expect("opens");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE name LIKE 'session_doc%' ORDER BY name")
        .and_then(|mut s| s.query_map([], |r| r.get(0))?.collect())
        .expect("schema");
    let (chunks, recent): (i64, i64) = conn
        .query_row(
            "SELECT chunk_count, length(recent) FROM session_docs WHERE session_id = 'old-a'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("layout");
    assert!(
        chunks >= 4 && (1..=2048).contains(&recent),
        "{chunks} chunks, {recent} bytes in the row"
    );
    assert!(
        !tables
            .iter()
            .any(|t| t == "session_doc_views" || t == "session_docs_active"),
        "{tables:?}"
    );
}

/// An append that fails inside a group commit fails alone: with a trigger refusing
/// every write to one session, concurrent appends to it get an error while those to
/// other sessions, committed in the same batches, land.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failing_append_fails_alone_in_its_batch() {
    use reco_core::{AppendOutcome, SessionStore, Timestamp};
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.sqlite");
    let store = Arc::new(SqliteSessionStore::open(&path).expect("opens"));
    assert_eq!(
        append_one(store.as_ref(), "poison", "first", 100).await,
        AppendOutcome::Appended
    );
    rusqlite::Connection::open(&path)
        .expect("opens")
        .execute_batch(
            "CREATE TRIGGER refuse_poison BEFORE UPDATE ON session_docs
             WHEN NEW.session_id = 'poison' BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .expect("trigger");
    let mut tasks = Vec::new();
    for i in 0..60u32 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let session = if i % 3 == 0 {
                "poison".to_string()
            } else {
                format!("fine-{}", i % 5)
            };
            let views = [view(format!("item-{i}"), 1_800_000_000_000, None)];
            let now = Timestamp(1_800_000_000_000);
            let outcome = try_append(store.as_ref(), &session, &views, now, 100).await;
            (session, outcome)
        }));
    }
    let mut landed = 0;
    for task in tasks {
        let (session, outcome) = task.await.expect("task");
        if session == "poison" {
            let e = outcome.expect_err("the trigger refuses it");
            assert!(e.to_string().contains("refused"), "{e}");
        } else {
            assert_eq!(outcome.expect("lands"), AppendOutcome::Appended);
            landed += 1;
        }
    }
    assert_eq!(landed, 40);
    let mut stored = 0;
    for s in 0..5 {
        let doc = store
            .get(&format!("fine-{s}"))
            .await
            .expect("read")
            .expect("kept");
        assert_eq!(doc.items_viewed.len(), doc.view_count as usize);
        stored += doc.items_viewed.len();
    }
    assert_eq!(stored, 40);
    let poison = store.get("poison").await.expect("read").expect("kept");
    assert_eq!(poison.items_viewed.len(), 1);
}
