//! The deadpool's guarantees on any store and warehouse, and the faults it must
//! survive.

use std::sync::Arc;

use reco_core::ports::AppendRequest;
use reco_core::{AppendOutcome, JobLease, SessionDoc, SessionStore, Timestamp, View};

use crate::support::{append_ok, views, T0};
use crate::{run_prefix, ManualClock};

#[async_trait::async_trait]
pub trait WarehouseProbe: Send + Sync {
    /// Number of archived sessions.
    async fn session_count(&self) -> usize;
    /// Total archived views.
    async fn view_count(&self) -> usize;
    /// Item ids of one archived session, by sequence.
    async fn views_of(&self, session_id: &str) -> Vec<String>;
}

/// A fault injected into a session store's deactivation, named for what it does.
pub enum Fault {
    /// The process dies between the warehouse commit and the store update: every
    /// deactivation fails.
    CrashBeforeDeactivating,
    /// A view for `session_id` arrives just before that session is deactivated.
    ViewRacesDeactivation {
        session_id: String,
        item_id: String,
        at: i64,
    },
}

/// A session store with a [`Fault`] injected; everything else goes to `inner`.
pub struct WithFault {
    pub inner: Arc<dyn SessionStore>,
    pub fault: Fault,
}

#[async_trait::async_trait]
impl SessionStore for WithFault {
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
        match &self.fault {
            Fault::CrashBeforeDeactivating => {
                return Err(reco_core::StoreError::Unavailable("injected crash".into()));
            }
            Fault::ViewRacesDeactivation {
                session_id,
                item_id,
                at,
            } if session_id == id => {
                let view = [View {
                    item_id: item_id.clone(),
                    viewed_at: Timestamp(*at),
                    recommendation_id: None,
                }];
                append_ok(self.inner.as_ref(), session_id, None, &view, *at, 500).await;
            }
            Fault::ViewRacesDeactivation { .. } => {}
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
    async fn defer(&self, id: &str, at: Timestamp) -> Result<bool, reco_core::StoreError> {
        self.inner.defer(id, at).await
    }
}

pub(crate) fn deadpool(
    store: Arc<dyn SessionStore>,
    lease: &Arc<dyn JobLease>,
    warehouse: Arc<dyn reco_core::Warehouse>,
    clock: Arc<ManualClock>,
    config: &reco_core::Config,
) -> reco_core::Deadpool {
    reco_core::Deadpool::new(store, Arc::clone(lease), warehouse, clock, config)
}

/// The deadpool's guarantees on any store and warehouse: a crash between the
/// warehouse write and the deactivation loses and duplicates nothing; a view racing
/// the deadpool is never lost; archived sessions carry their expiry.
pub async fn deadpool_contract(
    store: Arc<dyn SessionStore>,
    lease: Arc<dyn JobLease>,
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
    let crashing = Arc::new(WithFault {
        inner: Arc::clone(&store),
        fault: Fault::CrashBeforeDeactivating,
    });
    let report = deadpool(
        crashing,
        &lease,
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
        &lease,
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
        &lease,
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
    let racing = Arc::new(WithFault {
        inner: Arc::clone(&store),
        fault: Fault::ViewRacesDeactivation {
            session_id: sid.clone(),
            item_id: "late-item".into(),
            at: t2,
        },
    });
    let report = deadpool(
        racing,
        &lease,
        Arc::clone(&warehouse),
        Arc::clone(&clock),
        &config,
    )
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
        &lease,
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
pub(crate) async fn seed(
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

pub(crate) async fn is_active(store: &dyn SessionStore, sid: &str) -> bool {
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
    lease: Arc<dyn JobLease>,
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
    let dp = deadpool(Arc::clone(&store), &lease, warehouse, clock, &config);
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
    lease: Arc<dyn JobLease>,
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
    let dp = deadpool(
        Arc::clone(&store),
        &lease,
        slow,
        Arc::clone(&clock),
        &config,
    );
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
    let dp = deadpool(Arc::clone(&store), &lease, warehouse, clock, &fewer);
    let report = dp.run(None).await;
    assert!(report.archived > 0, "{report:?}");
    for sid in &last_shard {
        assert!(!is_active(store.as_ref(), sid).await, "{sid} left behind");
    }
}
