//! Test support shared by the adapters' test suites: one behavioural contract for
//! every `SessionStore` (so DynamoDB and SQLite are held to the same rules), and the
//! lookup of the real local services that scripts/test starts.

pub mod events;
pub mod iam;

use std::sync::Arc;

use reco_core::ports::AppendRequest;
use reco_core::{AppendOutcome, Impression, SessionDoc, SessionStore, Timestamp, View};

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
            recommendation_id: None,
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

async fn append_within(
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
async fn append_ok(
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
    assert!(matches!(out, AppendOutcome::CapReached { .. }), "{out:?}");
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

/// Runs every rule of the contract.
/// An archived session of two views, `a` then `b`, the second opened from
/// recommendation `rid` when given.
pub fn session_with_click(session_id: &str, rid: Option<&str>) -> reco_core::SessionDoc {
    reco_core::SessionDoc {
        session_id: session_id.into(),
        customer_id: None,
        is_active: false,
        session_start: Timestamp(0),
        last_update: Timestamp(1),
        items_viewed: vec![
            View {
                item_id: "a".into(),
                viewed_at: Timestamp(0),
                recommendation_id: None,
            },
            View {
                item_id: "b".into(),
                viewed_at: Timestamp(1),
                recommendation_id: rid.map(str::to_string),
            },
        ],
        view_count: 2,
        impressions: Vec::new(),
        expires_at: None,
    }
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

fn impression(rid_digit: char, strategy: &str, items: &[&str], at: i64) -> Impression {
    Impression {
        recommendation_id: rid_digit.to_string().repeat(32),
        model_version: "20261130T120000Z-0123abcd".into(),
        strategy: strategy.into(),
        item_ids: items.iter().map(|i| i.to_string()).collect(),
        shown_at: Timestamp(at),
    }
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

/// Impressions and the views opened from them, archived with their sessions, give
/// click-through per model version and strategy: a click counts once per shown item,
/// and only on an item its list showed, in the same session.
pub async fn click_through_is_counted(warehouse: &dyn reco_core::Warehouse) {
    let prefix = run_prefix();
    let view = |item: &str, rid: Option<char>, at: i64| View {
        item_id: item.into(),
        viewed_at: Timestamp(at),
        recommendation_id: rid.map(|d| d.to_string().repeat(32)),
    };
    let doc = |sid: String, views: Vec<View>, impressions: Vec<Impression>| SessionDoc {
        session_id: sid,
        customer_id: None,
        is_active: false,
        session_start: Timestamp(T0),
        last_update: Timestamp(T0 + 100),
        view_count: views.len() as u32,
        items_viewed: views,
        impressions,
        expires_at: None,
    };
    let a = doc(
        format!("{prefix}-ct-a"),
        vec![
            view("x", Some('1'), T0 + 10),
            view("w", Some('2'), T0 + 11),
            view("q", Some('1'), T0 + 12),
            view("x", Some('1'), T0 + 13),
        ],
        vec![
            impression('1', "hybrid", &["x", "y", "z"], T0 + 1),
            impression('2', "popular", &["x", "w"], T0 + 2),
        ],
    );
    let b = doc(
        format!("{prefix}-ct-b"),
        vec![view("y", Some('1'), T0 + 10)],
        vec![impression('3', "session", &["x", "y"], T0 + 1)],
    );
    warehouse
        .archive_sessions(&[a.clone(), b])
        .await
        .expect("archived");
    warehouse
        .archive_sessions(&[a])
        .await
        .expect("archiving again is idempotent");
    let got: Vec<(String, u64, u64, u64, f64)> = warehouse
        .click_through()
        .await
        .expect("click-through")
        .into_iter()
        .filter(|r| r.model_version == "20261130T120000Z-0123abcd")
        .map(|r| {
            (
                r.strategy,
                r.recommendations,
                r.impressions,
                r.clicks,
                r.click_through,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("hybrid".into(), 1, 3, 1, 1.0 / 3.0),
            ("popular".into(), 1, 2, 1, 0.5),
            ("session".into(), 1, 2, 0, 0.0),
        ]
    );
}

pub async fn session_store_contract(store: Arc<dyn SessionStore>) {
    let prefix = run_prefix();
    attribution_round_trips(store.as_ref(), &prefix).await;
    impressions_are_kept(store.as_ref(), &prefix).await;
    concurrent_appends_all_land(Arc::clone(&store), &prefix).await;
    cap_is_enforced(store.as_ref(), &prefix).await;
    archive_rules(store.as_ref(), &prefix).await;
    customer_rules(store.as_ref(), &prefix).await;
    byte_budget_is_enforced(store.as_ref(), &prefix).await;
    assert_eq!(
        store.get(&format!("{prefix}-missing")).await.expect("read"),
        None
    );
}

/// A clock tests move by hand.
#[derive(Debug, Default)]
pub struct ManualClock(std::sync::atomic::AtomicI64);

impl ManualClock {
    pub fn at(ms: i64) -> Arc<Self> {
        Arc::new(ManualClock(std::sync::atomic::AtomicI64::new(ms)))
    }
    pub fn set(&self, ms: i64) {
        self.0.store(ms, std::sync::atomic::Ordering::SeqCst)
    }
}

impl reco_core::Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// Reads back what the deadpool wrote, whatever the warehouse.
#[async_trait::async_trait]
pub trait WarehouseProbe: Send + Sync {
    /// Number of archived sessions.
    async fn session_count(&self) -> usize;
    /// Total archived views.
    async fn view_count(&self) -> usize;
    /// Item ids of one archived session, by sequence.
    async fn views_of(&self, session_id: &str) -> Vec<String>;
}

/// A session store that fails to deactivate (a crash between the warehouse commit and
/// the DynamoDB update) and, optionally, lets a view race in before deactivating one
/// chosen session.
pub struct Faulty {
    pub inner: Arc<dyn SessionStore>,
    pub fail_archive: bool,
    /// (session, item, time): appended just before this session is deactivated.
    pub race: Option<(String, String, i64)>,
}

#[async_trait::async_trait]
impl SessionStore for Faulty {
    async fn append(&self, r: AppendRequest<'_>) -> Result<AppendOutcome, reco_core::StoreError> {
        self.inner.append(r).await
    }
    async fn get(&self, id: &str) -> Result<Option<SessionDoc>, reco_core::StoreError> {
        self.inner.get(id).await
    }
    async fn archive(
        &self,
        id: &str,
        seen: Timestamp,
        ttl: i64,
    ) -> Result<bool, reco_core::StoreError> {
        if self.fail_archive {
            return Err(reco_core::StoreError::Unavailable("injected crash".into()));
        }
        if let Some((sid, item, at)) = &self.race {
            if sid == id {
                let view = [View {
                    item_id: item.clone(),
                    viewed_at: Timestamp(*at),
                    recommendation_id: None,
                }];
                append_ok(self.inner.as_ref(), sid, None, &view, *at, 500).await;
            }
        }
        self.inner.archive(id, seen, ttl).await
    }
    async fn quarantine(
        &self,
        id: &str,
        seen: Timestamp,
        reason: &str,
    ) -> Result<bool, reco_core::StoreError> {
        self.inner.quarantine(id, seen, reason).await
    }
    async fn inactive(
        &self,
        shard: u32,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<Vec<(String, Timestamp)>, reco_core::StoreError> {
        self.inner.inactive(shard, cutoff, limit).await
    }
}

fn deadpool(
    store: Arc<dyn SessionStore>,
    warehouse: Arc<dyn reco_core::Warehouse>,
    clock: Arc<ManualClock>,
    config: &reco_core::Config,
) -> reco_core::Deadpool {
    reco_core::Deadpool::new(store, warehouse, clock, config)
}

/// The deadpool's guarantees on any store and warehouse: a crash between the
/// warehouse write and the deactivation loses and duplicates nothing; a view racing
/// the deadpool is never lost; archived sessions carry their expiry.
pub async fn deadpool_contract(
    store: Arc<dyn SessionStore>,
    warehouse: Arc<dyn reco_core::Warehouse>,
    probe: &dyn WarehouseProbe,
) {
    let prefix = run_prefix();
    let config = reco_core::Config {
        deadpool_batch: 7,
        ..reco_core::Config::default()
    };
    let timeout_ms = config.session_timeout_secs as i64 * 1000;
    let clock = ManualClock::at(T0);
    // 30 sessions, 1-3 views each, a third with a customer.
    let mut expected_views = 0;
    for i in 0..30usize {
        let sid = format!("{prefix}-dp-{i}");
        let n = 1 + i % 3;
        expected_views += n;
        let customer = (i % 3 == 0).then(|| format!("c-{i}"));
        let shard = crate_shard(&sid, config.active_shards);
        seed(
            store.as_ref(),
            &sid,
            customer.as_deref(),
            &views(&sid, n, T0),
            T0,
            shard,
        )
        .await;
    }
    clock.set(T0 + timeout_ms + 1000);

    // Crash after the warehouse commit: nothing deactivated, everything in the warehouse.
    let crashing = Arc::new(Faulty {
        inner: Arc::clone(&store),
        fail_archive: true,
        race: None,
    });
    let report = deadpool(
        crashing,
        Arc::clone(&warehouse),
        Arc::clone(&clock),
        &config,
    )
    .run(None)
    .await;
    assert_eq!((report.archived, report.failed), (0, 30), "{report:?}");
    assert_eq!(probe.session_count().await, 30);
    assert_eq!(probe.view_count().await, expected_views);
    assert!(
        store
            .get(&format!("{prefix}-dp-0"))
            .await
            .expect("read")
            .expect("kept")
            .is_active
    );

    // Rerun: every session archived once, no row duplicated.
    let report = deadpool(
        Arc::clone(&store),
        Arc::clone(&warehouse),
        Arc::clone(&clock),
        &config,
    )
    .run(None)
    .await;
    assert_eq!(
        (report.archived, report.raced, report.failed),
        (30, 0, 0),
        "{report:?}"
    );
    assert_eq!(probe.session_count().await, 30);
    assert_eq!(probe.view_count().await, expected_views);
    let doc = store
        .get(&format!("{prefix}-dp-4"))
        .await
        .expect("read")
        .expect("kept");
    assert!(!doc.is_active);
    assert_eq!(
        doc.expires_at,
        Some((T0 + timeout_ms + 1000) / 1000 + i64::from(config.archived_ttl_days) * 86_400)
    );
    assert_eq!(
        probe.views_of(&format!("{prefix}-dp-4")).await,
        vec![
            format!("{prefix}-dp-4-item-0"),
            format!("{prefix}-dp-4-item-1")
        ]
    );
    // Nothing left to do.
    let report = deadpool(
        Arc::clone(&store),
        Arc::clone(&warehouse),
        Arc::clone(&clock),
        &config,
    )
    .run(None)
    .await;
    assert_eq!(
        report.archived + report.raced + report.failed,
        0,
        "{report:?}"
    );

    // A view racing the deadpool: the session stays active with both views, and is
    // archived complete by a later run.
    let sid = format!("{prefix}-race");
    let t1 = T0 + 10 * timeout_ms;
    let shard = crate_shard(&sid, config.active_shards);
    seed(store.as_ref(), &sid, None, &views("r", 1, t1), t1, shard).await;
    let t2 = t1 + timeout_ms + 1000;
    clock.set(t2);
    let racing = Arc::new(Faulty {
        inner: Arc::clone(&store),
        fail_archive: false,
        race: Some((sid.clone(), "late-item".into(), t2)),
    });
    let report = deadpool(racing, Arc::clone(&warehouse), Arc::clone(&clock), &config)
        .run(None)
        .await;
    assert_eq!((report.archived, report.raced), (0, 1), "{report:?}");
    let doc = store.get(&sid).await.expect("read").expect("kept");
    assert!(doc.is_active, "the racing view kept the session active");
    assert_eq!(doc.view_count, 2);
    assert_eq!(probe.views_of(&sid).await, vec!["r-item-0".to_string()]);
    clock.set(t2 + timeout_ms + 1000);
    let report = deadpool(
        Arc::clone(&store),
        Arc::clone(&warehouse),
        Arc::clone(&clock),
        &config,
    )
    .run(None)
    .await;
    assert_eq!((report.archived, report.raced), (1, 0), "{report:?}");
    assert_eq!(
        probe.views_of(&sid).await,
        vec!["r-item-0".to_string(), "late-item".to_string()]
    );
    assert!(
        !store
            .get(&sid)
            .await
            .expect("read")
            .expect("kept")
            .is_active
    );
}

fn crate_shard(session_id: &str, shards: u32) -> u32 {
    reco_core::sessions::shard_of(session_id, shards)
}

/// A hand-checked warehouse fixture and the rows the training views must return for it,
/// in PostgreSQL and SQLite alike.
pub mod fixture {
    /// (customer_id, birth_year, gender, region)
    pub const CUSTOMERS: &[(&str, i32, &str, Option<&str>)] =
        &[("c1", 1990, "F", Some("North")), ("c2", 2010, "M", None)];
    /// (item_id, category, brand, price, tags)
    pub type Item = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        f64,
        &'static str,
    );
    pub const ITEMS: &[Item] = &[
        ("i1", Some("Shoes"), Some("Acme"), 30.0, "red, sale"),
        ("i2", Some("Hats"), None, 5.0, ""),
        ("i3", None, Some("Zed"), 300.0, "Eco"),
    ];
    /// (purchase_id, customer_id, item_id, quantity)
    pub const PURCHASES: &[(&str, &str, &str, i32)] =
        &[("p1", "c1", "i2", 2), ("p2", "c1", "i2", 5)];
    /// (customer_id, item_id, rating)
    pub const RATINGS: &[(&str, &str, i32)] = &[("c1", "i1", 2), ("c2", "i1", 5), ("c2", "i3", 3)];
    /// (session_id, customer_id, viewed items in order)
    pub const SESSIONS: &[(&str, Option<&str>, &[&str])] = &[
        ("s1", Some("c1"), &["i1", "i1", "i3"]),
        ("s2", None, &["i2"]),
    ];

    /// (user_key, item_id, weight, positive), sorted.
    pub fn interactions(anonymous: bool) -> Vec<(String, String, f64, bool)> {
        let mut rows = vec![
            // two views (2) + a rating of 2 (2); the dislike overrides the views
            ("c1", "i1", 4.0, false),
            // 7 units bought, 3 count: 15
            ("c1", "i2", 15.0, true),
            ("c1", "i3", 1.0, true),
            ("c2", "i1", 5.0, true),
            // rated 3: weight 3, not a positive
            ("c2", "i3", 3.0, false),
        ];
        if anonymous {
            rows.push(("session:s2", "i2", 1.0, true));
        }
        let mut rows: Vec<_> = rows
            .into_iter()
            .map(|(u, i, w, p)| (u.to_string(), i.to_string(), w, p))
            .collect();
        rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        rows
    }

    fn band(age: i32) -> &'static str {
        match age {
            ..=17 => "under-18",
            18..=24 => "18-24",
            25..=34 => "25-34",
            35..=44 => "35-44",
            45..=54 => "45-54",
            55..=64 => "55-64",
            _ => "65+",
        }
    }

    /// (user_key, feature), sorted, for the given current year.
    pub fn user_features(year: i32) -> Vec<(String, String)> {
        let mut rows = vec![
            ("c1".to_string(), format!("age:{}", band(year - 1990))),
            ("c1".to_string(), "gender:F".to_string()),
            ("c1".to_string(), "region:north".to_string()),
            ("c2".to_string(), format!("age:{}", band(year - 2010))),
            ("c2".to_string(), "gender:M".to_string()),
        ];
        rows.sort();
        rows
    }

    /// (item_id, feature), sorted.
    pub fn item_features() -> Vec<(String, String)> {
        let mut rows: Vec<(String, String)> = [
            ("i1", "category:shoes"),
            ("i1", "brand:acme"),
            ("i1", "price:25-50"),
            ("i1", "tag:red"),
            ("i1", "tag:sale"),
            ("i2", "category:hats"),
            ("i2", "price:under-10"),
            ("i3", "brand:zed"),
            ("i3", "price:250+"),
            ("i3", "tag:eco"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        rows.sort();
        rows
    }

    /// The current UTC year.
    pub fn current_year() -> i32 {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        // Days to civil year (Howard Hinnant's algorithm).
        let z = (secs / 86_400) as i64 + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        (yoe + era * 400 + i64::from(month <= 2)) as i32
    }
}

/// A generated shop with planted taste, written as CSV import files: each customer
/// buys and rates mostly items of one category. Returns (file, kind) pairs.
pub mod shop {
    use std::io::Write;
    use std::path::Path;

    const CUSTOMERS: usize = 240;
    const ITEMS: usize = 90;
    const GROUPS: usize = 6;

    /// A shop with planted taste: each customer buys and rates items of one category.
    pub fn write_shop(dir: &Path) -> Vec<(std::path::PathBuf, &'static str)> {
        let mut seed = 11u64;
        let mut next = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let file = |name: &str, header: &str, rows: Vec<String>| {
            let path = dir.join(name);
            let mut f = std::fs::File::create(&path).expect("file");
            writeln!(f, "{header}").expect("write");
            for r in rows {
                writeln!(f, "{r}").expect("write");
            }
            path
        };
        let customers: Vec<String> = (0..CUSTOMERS)
            .map(|c| {
                format!(
                    "c{c},{},{},region{}",
                    1950 + c % 50,
                    ["F", "M", "X"][c % 3],
                    c % 4
                )
            })
            .collect();
        let items: Vec<String> = (0..ITEMS)
            .map(|i| {
                format!(
                    "i{i},cat{},brand{},{}.50,\"tag{},sale\",true",
                    i % GROUPS,
                    i % 7,
                    5 + i,
                    i % GROUPS
                )
            })
            .collect();
        let mut purchases = Vec::new();
        let mut ratings = Vec::new();
        for c in 0..CUSTOMERS {
            let group = c % GROUPS;
            let mut seen = std::collections::BTreeSet::new();
            for k in 0..12 {
                // Mostly the customer's category, popular items more often.
                let item = if k == 11 {
                    next(ITEMS)
                } else {
                    let j = next(ITEMS / GROUPS).min(next(ITEMS / GROUPS));
                    j * GROUPS + group
                };
                if !seen.insert(item) {
                    continue;
                }
                let day = 1 + k;
                if k % 2 == 0 {
                    purchases.push(format!(
                        "p{c}-{k},c{c},i{item},1,2026-10-{day:02}T10:00:00Z"
                    ));
                } else {
                    ratings.push(format!(
                        "c{c},i{item},{},2026-10-{day:02}T12:00:00Z",
                        4 + k % 2
                    ));
                }
            }
        }
        vec![
            (
                file(
                    "customers.csv",
                    "customer_id,birth_year,gender,region",
                    customers,
                ),
                "customers",
            ),
            (
                file(
                    "items.csv",
                    "item_id,category,brand,price,tags,active",
                    items,
                ),
                "items",
            ),
            (
                file(
                    "purchases.csv",
                    "purchase_id,customer_id,item_id,quantity,purchased_at",
                    purchases,
                ),
                "purchases",
            ),
            (
                file(
                    "ratings.csv",
                    "customer_id,item_id,rating,rated_at",
                    ratings,
                ),
                "ratings",
            ),
        ]
    }
}

/// A warehouse that takes its time: one batch per run fits a tight deadline.
struct SlowWarehouse {
    inner: Arc<dyn reco_core::Warehouse>,
    delay: std::time::Duration,
}

#[async_trait::async_trait]
impl reco_core::Warehouse for SlowWarehouse {
    async fn archive_sessions(&self, s: &[SessionDoc]) -> Result<(), reco_core::WarehouseError> {
        tokio::time::sleep(self.delay).await;
        self.inner.archive_sessions(s).await
    }
    async fn load(
        &self,
        b: &reco_core::warehouse::ImportBatch,
    ) -> Result<(), reco_core::WarehouseError> {
        self.inner.load(b).await
    }
    async fn refresh_training_set(&self) -> Result<(), reco_core::WarehouseError> {
        self.inner.refresh_training_set().await
    }
    async fn click_through(
        &self,
    ) -> Result<Vec<reco_core::warehouse::ClickThrough>, reco_core::WarehouseError> {
        self.inner.click_through().await
    }
    async fn refresh_in_progress(&self) -> Result<bool, reco_core::WarehouseError> {
        self.inner.refresh_in_progress().await
    }
    async fn training_set(
        &self,
        m: bool,
    ) -> Result<reco_core::warehouse::TrainingSet, reco_core::WarehouseError> {
        self.inner.training_set(m).await
    }
}

/// Appends `v` to a session of the deadpool's tests, at `now`, in `shard`.
async fn seed(
    store: &dyn SessionStore,
    sid: &str,
    customer: Option<&str>,
    v: &[View],
    now: i64,
    shard: u32,
) {
    let out = store
        .append(AppendRequest {
            session_id: sid,
            customer_id: customer,
            views: v,
            now: Timestamp(now),
            max_views: 500,
            added_bytes: reco_core::sessions::request_bytes(v),
            max_bytes: reco_core::sessions::SESSION_BYTES_BUDGET,
            active_shard: shard,
            impressions: &[],
            added_impression_bytes: 0,
            max_impression_bytes: reco_core::sessions::IMPRESSION_BYTES_BUDGET,
        })
        .await
        .expect("seeded");
    assert_eq!(out, AppendOutcome::Appended);
}

async fn is_active(store: &dyn SessionStore, sid: &str) -> bool {
    store.get(sid).await.expect("read").expect("kept").is_active
}

/// Session ids of `prefix` whose shard (of `shards`) is `shard`.
fn ids_in_shard(prefix: &str, shards: u32, shard: u32, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}-{i}"))
        .filter(|s| crate_shard(s, shards) == shard)
        .take(n)
        .collect()
}

/// One session the warehouse refuses (an empty customer id breaks its constraint)
/// does not hold back the 99 others of its batch: they are archived in the same run,
/// it is quarantined (left active, out of the index, with the reason), and the next
/// run neither retries it nor stalls.
pub async fn deadpool_quarantines_what_the_warehouse_refuses(
    store: Arc<dyn SessionStore>,
    warehouse: Arc<dyn reco_core::Warehouse>,
) {
    let prefix = run_prefix();
    let config = reco_core::Config {
        deadpool_batch: 100,
        active_shards: 1,
        ..reco_core::Config::default()
    };
    let ids: Vec<String> = (0..100).map(|i| format!("{prefix}-q-{i}")).collect();
    for (i, sid) in ids.iter().enumerate() {
        let customer = if i == 37 { Some("") } else { None };
        seed(store.as_ref(), sid, customer, &views(sid, 2, T0), T0, 0).await;
    }
    let clock = ManualClock::at(T0 + config.session_timeout_secs as i64 * 1000 + 1000);
    let dp = deadpool(Arc::clone(&store), warehouse, clock, &config);
    let report = dp.run(None).await;
    assert_eq!(
        (report.archived, report.quarantined, report.failed),
        (99, 1, 0),
        "{report:?}"
    );
    for (i, sid) in ids.iter().enumerate() {
        assert_eq!(is_active(store.as_ref(), sid).await, i == 37, "{sid}");
    }
    let report = dp.run(None).await;
    assert_eq!(
        (report.archived, report.quarantined, report.failed),
        (0, 0, 0),
        "the quarantined session is not retried: {report:?}"
    );
}

/// Under a backlog that outlasts each run, runs start at different shards, so every
/// shard is reached: with one batch per run, shard 7 of 8 is archived within 8 runs.
/// Sessions indexed under a larger shard count than the current one are found too.
pub async fn deadpool_reaches_every_shard(
    store: Arc<dyn SessionStore>,
    warehouse: Arc<dyn reco_core::Warehouse>,
) {
    let prefix = run_prefix();
    let config = reco_core::Config {
        deadpool_batch: 2,
        active_shards: 8,
        ..reco_core::Config::default()
    };
    let mut last_shard = Vec::new();
    for shard in 0..8 {
        for sid in ids_in_shard(&format!("{prefix}-r"), 8, shard, 4) {
            seed(store.as_ref(), &sid, None, &views(&sid, 2, T0), T0, shard).await;
            if shard == 7 {
                last_shard.push(sid);
            }
        }
    }
    let clock = ManualClock::at(T0 + config.session_timeout_secs as i64 * 1000 + 1000);
    let slow: Arc<dyn reco_core::Warehouse> = Arc::new(SlowWarehouse {
        inner: Arc::clone(&warehouse),
        delay: std::time::Duration::from_millis(1500),
    });
    let dp = deadpool(Arc::clone(&store), slow, Arc::clone(&clock), &config);
    let mut reached = false;
    for run in 0..8 {
        // Room for the deadline margin (5 s) and one batch.
        let deadline = std::time::Instant::now() + std::time::Duration::from_millis(5700);
        let report = dp.run(Some(deadline)).await;
        assert!(
            report.out_of_time,
            "run {run}: one batch per run: {report:?}"
        );
        let mut archived_in_7 = 0;
        for sid in &last_shard {
            if !is_active(store.as_ref(), sid).await {
                archived_in_7 += 1;
            }
        }
        if archived_in_7 > 0 {
            reached = true;
            break;
        }
    }
    assert!(reached, "shard 7 was never reached in 8 runs");

    // Sessions indexed under 8 shards, archived by a deadpool told there are 4.
    let fewer = reco_core::Config {
        active_shards: 4,
        ..config
    };
    let dp = deadpool(Arc::clone(&store), warehouse, clock, &fewer);
    let report = dp.run(None).await;
    assert!(report.archived > 0, "{report:?}");
    for sid in &last_shard {
        assert!(!is_active(store.as_ref(), sid).await, "{sid} left behind");
    }
}

/// A session id that comes back after its archived document expired does not
/// overwrite the archived session: the warehouse refuses the newcomer (the deadpool
/// then quarantines it) and keeps the archived rows; archiving the same session again
/// stays idempotent.
pub async fn warehouse_keeps_a_reused_session_id_apart(
    warehouse: &dyn reco_core::Warehouse,
    probe: &dyn WarehouseProbe,
) {
    let sid = format!("{}-reused", run_prefix());
    let first = SessionDoc {
        session_id: sid.clone(),
        customer_id: Some("c-1".into()),
        is_active: true,
        session_start: Timestamp(T0),
        last_update: Timestamp(T0 + 10),
        items_viewed: views("old", 2, T0),
        view_count: 2,
        impressions: Vec::new(),
        expires_at: None,
    };
    warehouse
        .archive_sessions(std::slice::from_ref(&first))
        .await
        .expect("archived");
    warehouse
        .archive_sessions(std::slice::from_ref(&first))
        .await
        .expect("archiving again is idempotent");
    let later = T0 + 40 * 86_400_000;
    let reused = SessionDoc {
        session_start: Timestamp(later),
        last_update: Timestamp(later + 10),
        items_viewed: views("new", 3, later),
        view_count: 3,
        impressions: Vec::new(),
        ..first
    };
    let e = warehouse
        .archive_sessions(&[reused])
        .await
        .expect_err("the reuse is refused");
    assert!(matches!(e, reco_core::WarehouseError::Rejected(_)), "{e:?}");
    assert_eq!(
        probe.views_of(&sid).await,
        vec!["old-item-0".to_string(), "old-item-1".to_string()],
        "the archived session's rows are untouched"
    );
}
