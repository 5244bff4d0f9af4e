//! The deadpool: archives sessions that have been inactive for the session timeout.
//! For each shard of the active-session index it takes a bounded batch of inactive
//! sessions, re-reads each, writes the batch to the warehouse (one transaction), and
//! only after that commit deactivates each session, on the condition that its
//! `last_update` is still the one read. A crash anywhere loses nothing (sessions stay
//! active and are archived again next run) and duplicates nothing (warehouse writes
//! are upserts); a view that arrives meanwhile keeps its session active, to be
//! archived complete later.
//!
//! One run at a time: a run first takes the `deadpool` lease ([`JobLease`]); a run
//! that finds it held exits at once (`lease_busy`). The lease expires, so a run that
//! dies holding it blocks the others only until then.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::domain::SessionDoc;
use crate::ports::{Clock, JobLease, SessionStore, Warehouse, WarehouseError};
use crate::Timestamp;

pub use crate::config::MAX_ACTIVE_SHARDS;

/// What one run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeadpoolReport {
    /// Written to the warehouse and deactivated.
    pub archived: usize,
    /// Written to the warehouse, but a newer view arrived before deactivation: still
    /// active, archived again (with the new view) in a later run.
    pub raced: usize,
    /// Not archived this run because the warehouse or the store failed.
    pub failed: usize,
    /// Refused by the warehouse (bad data): set aside with the reason, for an operator.
    pub quarantined: usize,
    pub batches: usize,
    /// Active sessions the index offered that were not idle yet: their next check
    /// moved to their last view.
    pub deferred: usize,
    /// The run stopped at its deadline with work left.
    pub out_of_time: bool,
    /// Another run held the lease: this one did nothing.
    pub lease_busy: bool,
}

/// The lease's name.
pub const LEASE: &str = "deadpool";
/// How long a lease lasts past the run's deadline, or from the start of a run without
/// one; a run extends it at every batch.
pub const LEASE_SECS: i64 = 300;

pub struct Deadpool {
    store: Arc<dyn SessionStore>,
    lease: Arc<dyn JobLease>,
    warehouse: Arc<dyn Warehouse>,
    clock: Arc<dyn Clock>,
    timeout_ms: i64,
    shards: u32,
    ttl_secs: i64,
    batch: usize,
    /// The shard the next run starts at: runs rotate, so that under a backlog that
    /// outlasts a run every shard is still reached.
    next_shard: AtomicU32,
}

impl Deadpool {
    pub fn new(
        store: Arc<dyn SessionStore>,
        lease: Arc<dyn JobLease>,
        warehouse: Arc<dyn Warehouse>,
        clock: Arc<dyn Clock>,
        config: &Config,
    ) -> Self {
        // Lambda instances start at different shards too.
        let start =
            (clock.now().millis() / 1000).rem_euclid(i64::from(config.active_shards.max(1)));
        Deadpool {
            store,
            lease,
            warehouse,
            clock,
            timeout_ms: config.session_timeout_secs as i64 * 1000,
            shards: config.active_shards.max(1),
            ttl_secs: i64::from(config.archived_ttl_days) * 86_400,
            batch: config.deadpool_batch,
            next_shard: AtomicU32::new(start as u32),
        }
    }

    /// Archives until no inactive session is left or `deadline` (minus a margin for
    /// the batch in flight) is reached.
    pub async fn run(&self, deadline: Option<Instant>) -> DeadpoolReport {
        let owner = lease_owner();
        let lease_until = |now: Timestamp| {
            let left = deadline.map_or(0, |d| {
                d.saturating_duration_since(Instant::now()).as_millis() as i64
            });
            Timestamp(now.millis() + left + LEASE_SECS * 1000)
        };
        let now = self.clock.now();
        match self
            .lease
            .take_lease(LEASE, &owner, now, lease_until(now))
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!("another deadpool run holds the lease; this run exits");
                return DeadpoolReport {
                    lease_busy: true,
                    ..DeadpoolReport::default()
                };
            }
            Err(e) => {
                tracing::warn!(error = %e, "taking the deadpool lease failed; this run exits");
                return DeadpoolReport {
                    failed: 1,
                    ..DeadpoolReport::default()
                };
            }
        }
        let report = self.archive_all(deadline, &owner, lease_until).await;
        if let Err(e) = self.lease.release_lease(LEASE, &owner).await {
            tracing::warn!(error = %e, "releasing the deadpool lease failed; it expires");
        }
        report
    }

    async fn archive_all(
        &self,
        deadline: Option<Instant>,
        owner: &str,
        lease_until: impl Fn(Timestamp) -> Timestamp,
    ) -> DeadpoolReport {
        let mut report = DeadpoolReport::default();
        let now = self.clock.now();
        let cutoff = crate::Timestamp(now.millis() - self.timeout_ms);
        let expires_at = now.seconds() + self.ttl_secs;
        let margin = Duration::from_secs(5);
        let first = self.next_shard.fetch_add(1, Ordering::Relaxed) % self.shards;
        let order = (0..self.shards)
            .map(|i| (first + i) % self.shards)
            .chain(self.shards..MAX_ACTIVE_SHARDS);
        for shard in order {
            loop {
                if deadline.is_some_and(|d| Instant::now() + margin >= d) {
                    report.out_of_time = true;
                    return report;
                }
                // Each batch extends the lease; a run that lost it (it outlived its
                // expiry and another run took over) stops.
                if report.batches > 0 {
                    let at = self.clock.now();
                    match self
                        .lease
                        .take_lease(LEASE, owner, at, lease_until(at))
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::warn!("the deadpool lease passed to another run; stopping");
                            return report;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "extending the deadpool lease failed; stopping");
                            report.failed += 1;
                            return report;
                        }
                    }
                }
                let found = match self.store.inactive(shard, cutoff, self.batch).await {
                    Ok(found) => found,
                    Err(e) => {
                        tracing::warn!(shard, error = %e, "listing inactive sessions failed");
                        report.failed += 1;
                        break;
                    }
                };
                if found.is_empty() {
                    break;
                }
                let full = found.len() == self.batch;
                let mut docs = Vec::with_capacity(found.len());
                for (id, _) in &found {
                    match self.store.get(id).await {
                        // The index lags: only sessions still active and still idle.
                        Ok(Some(doc)) if doc.is_active && doc.last_update < cutoff => {
                            docs.push(doc)
                        }
                        // Still in use: not worth a look before its last view times out.
                        Ok(Some(doc)) if doc.is_active => {
                            match self.store.defer(id, doc.last_update).await {
                                Ok(true) => report.deferred += 1,
                                Ok(false) => {}
                                Err(e) => {
                                    tracing::warn!(session_id = %id, error = %e, "deferring session failed");
                                    report.failed += 1;
                                }
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(session_id = %id, error = %e, "reading session failed");
                            report.failed += 1;
                        }
                    }
                }
                report.batches += 1;
                let before = report.archived + report.quarantined + report.deferred;
                if !docs.is_empty() && !self.write(&docs, expires_at, &mut report).await {
                    break;
                }
                // A batch that moved nothing out of the index (stale index entries,
                // failed deactivations) would come back unchanged: next shard.
                if !full || report.archived + report.quarantined + report.deferred == before {
                    break;
                }
            }
        }
        report
    }

    /// Writes sessions to the warehouse, then deactivates them. A batch the warehouse
    /// refuses is split in halves until the sessions it refuses are alone; those are
    /// quarantined and the rest archived. Returns false when the warehouse failed
    /// otherwise (unavailable): the shard is left for the next run.
    async fn write(
        &self,
        docs: &[SessionDoc],
        expires_at: i64,
        report: &mut DeadpoolReport,
    ) -> bool {
        let mut pending: Vec<&[SessionDoc]> = vec![docs];
        while let Some(part) = pending.pop() {
            match self.warehouse.archive_sessions(part).await {
                Ok(()) => self.deactivate(part, expires_at, report).await,
                Err(WarehouseError::Rejected(reason)) if part.len() == 1 => {
                    let doc = &part[0];
                    tracing::error!(session_id = %doc.session_id, %reason, "warehouse refused the session; quarantined");
                    match self
                        .store
                        .quarantine(&doc.session_id, doc.last_update, &reason)
                        .await
                    {
                        Ok(true) => report.quarantined += 1,
                        Ok(false) => report.raced += 1,
                        Err(e) => {
                            tracing::warn!(session_id = %doc.session_id, error = %e, "quarantine failed");
                            report.failed += 1;
                        }
                    }
                }
                Err(WarehouseError::Rejected(_)) => {
                    let (a, b) = part.split_at(part.len() / 2);
                    pending.push(b);
                    pending.push(a);
                }
                Err(e) => {
                    tracing::error!(sessions = part.len(), error = %e, "warehouse write failed");
                    report.failed += part.len() + pending.iter().map(|p| p.len()).sum::<usize>();
                    return false;
                }
            }
        }
        true
    }

    async fn deactivate(&self, docs: &[SessionDoc], expires_at: i64, report: &mut DeadpoolReport) {
        for doc in docs {
            match self
                .store
                .archive(&doc.session_id, doc.last_update, expires_at)
                .await
            {
                Ok(true) => report.archived += 1,
                Ok(false) => report.raced += 1,
                Err(e) => {
                    tracing::warn!(session_id = %doc.session_id, error = %e, "deactivation failed");
                    report.failed += 1;
                }
            }
        }
    }
}

/// A name for one run's hold on the lease: random, so that no two runs share one.
fn lease_owner() -> String {
    let mut raw = [0u8; 12];
    if getrandom::fill(&mut raw).is_err() {
        // No randomness: the process id and the time still tell runs apart.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        return format!("{}-{nanos}", std::process::id());
    }
    raw.iter().map(|b| format!("{b:02x}")).collect()
}
