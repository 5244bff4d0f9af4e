//! The deadpool's lease on any store: one run at a time, a dead run's lease expiring,
//! and a session still in use left for later.

use std::sync::Arc;

use reco_core::{JobLease, SessionStore, Timestamp};

use crate::deadpool_contract::{deadpool, is_active, seed};
use crate::support::{views, T0};
use crate::{run_prefix, ManualClock};

/// One run at a time: two runs started together archive each session once, one of
/// them exiting at once (`lease_busy`); a lease whose holder died without giving it
/// up stops the others until it expires, and no longer. A session still in use when
/// the index offers it is left active, and archived once it is idle.
pub async fn deadpool_runs_one_at_a_time(
    store: Arc<dyn SessionStore>,
    lease: Arc<dyn JobLease>,
    warehouse: Arc<dyn reco_core::Warehouse>,
) {
    let prefix = run_prefix();
    let config = reco_core::Config {
        active_shards: 1,
        ..reco_core::Config::default()
    };
    let timeout_ms = config.session_timeout_secs as i64 * 1000;
    let ids: Vec<String> = (0..20).map(|i| format!("{prefix}-l-{i}")).collect();
    for sid in &ids {
        seed(store.as_ref(), sid, None, &views(sid, 2, T0), T0, 0).await;
    }
    let clock = ManualClock::at(T0 + timeout_ms + 1000);
    // A deadpool on this store, as another Lambda instance would build it.
    let instance = || {
        deadpool(
            Arc::clone(&store),
            &lease,
            Arc::clone(&warehouse),
            Arc::clone(&clock),
            &config,
        )
    };
    let (a, b) = (instance(), instance());
    let (ra, rb) = tokio::join!(a.run(None), b.run(None));
    assert!(
        ra.lease_busy != rb.lease_busy,
        "exactly one run holds the lease: {ra:?} {rb:?}"
    );
    let (ran, busy) = if ra.lease_busy { (rb, ra) } else { (ra, rb) };
    assert_eq!((ran.archived, ran.failed), (20, 0), "{ran:?}");
    assert_eq!(
        busy,
        reco_core::DeadpoolReport {
            lease_busy: true,
            ..reco_core::DeadpoolReport::default()
        },
        "the other run did nothing"
    );
    for sid in &ids {
        assert!(!is_active(store.as_ref(), sid).await, "{sid} archived");
    }

    // A run that died holding the lease: the others wait for its expiry, not longer.
    let sid = format!("{prefix}-l-after-crash");
    let t1 = T0 + 3 * timeout_ms;
    seed(store.as_ref(), &sid, None, &views(&sid, 1, t1), t1, 0).await;
    let t2 = t1 + timeout_ms + 1000;
    clock.set(t2);
    let held = lease
        .take_lease(
            reco_core::deadpool::LEASE,
            "a-run-that-died",
            Timestamp(t2),
            Timestamp(t2 + 60_000),
        )
        .await
        .expect("lease");
    assert!(held, "the lease was free");
    let report = instance().run(None).await;
    assert!(report.lease_busy, "{report:?}");
    assert!(is_active(store.as_ref(), &sid).await);
    clock.set(t2 + 60_001);
    let report = instance().run(None).await;
    assert!(
        !report.lease_busy,
        "the dead run's lease expired: {report:?}"
    );
    assert_eq!(report.archived, 1, "{report:?}");
    assert!(!is_active(store.as_ref(), &sid).await);

    // A session whose first view is old but whose last is recent stays active...
    let sid = format!("{prefix}-l-long");
    let t3 = t2 + 3 * timeout_ms;
    seed(store.as_ref(), &sid, None, &views("first", 1, t3), t3, 0).await;
    let t4 = t3 + timeout_ms;
    seed(store.as_ref(), &sid, None, &views("second", 1, t4), t4, 0).await;
    clock.set(t4 + timeout_ms / 2);
    let report = instance().run(None).await;
    assert_eq!((report.archived, report.failed), (0, 0), "{report:?}");
    assert!(report.deferred <= 1, "{report:?}");
    assert!(
        is_active(store.as_ref(), &sid).await,
        "in use: not archived"
    );
    // ... a second look finds nothing to move ...
    let report = instance().run(None).await;
    assert_eq!((report.archived, report.deferred), (0, 0), "{report:?}");
    // ... and it is archived, both views, once idle.
    clock.set(t4 + timeout_ms + 1000);
    let report = instance().run(None).await;
    assert_eq!(report.archived, 1, "{report:?}");
    let doc = store.get(&sid).await.expect("read").expect("kept");
    assert!(!doc.is_active);
    assert_eq!(doc.view_count, 2);
}
