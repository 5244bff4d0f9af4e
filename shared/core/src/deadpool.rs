//! The deadpool: archives sessions that have been inactive for the session timeout.
//! For each shard of the active-session index it takes a bounded batch of inactive
//! sessions, re-reads each, writes the batch to the warehouse (one transaction), and
//! only after that commit deactivates each session, on the condition that its
//! `last_update` is still the one read. A crash anywhere loses nothing (sessions stay
//! active and are archived again next run) and duplicates nothing (warehouse writes
//! are upserts); a view that arrives meanwhile keeps its session active, to be
//! archived complete later.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::domain::SessionDoc;
use crate::ports::{Clock, SessionStore, Warehouse, WarehouseError};

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
    /// The run stopped at its deadline with work left.
    pub out_of_time: bool,
}

pub struct Deadpool {
    store: Arc<dyn SessionStore>,
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
        warehouse: Arc<dyn Warehouse>,
        clock: Arc<dyn Clock>,
        config: &Config,
    ) -> Self {
        // Lambda instances start at different shards too.
        let start =
            (clock.now().millis() / 1000).rem_euclid(i64::from(config.active_shards.max(1)));
        Deadpool {
            store,
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
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(session_id = %id, error = %e, "reading session failed");
                            report.failed += 1;
                        }
                    }
                }
                report.batches += 1;
                let before = report.archived + report.quarantined;
                if !docs.is_empty() && !self.write(&docs, expires_at, &mut report).await {
                    break;
                }
                // A batch that moved nothing out of the index (stale index entries,
                // failed deactivations) would come back unchanged: next shard.
                if !full || report.archived + report.quarantined == before {
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
