//! The deadpool: archives sessions that have been inactive for the session timeout.
//! For each shard of the active-session index it takes a bounded batch of inactive
//! sessions, re-reads each, writes the batch to the warehouse (one transaction), and
//! only after that commit deactivates each session, on the condition that its
//! `last_update` is still the one read. A crash anywhere loses nothing (sessions stay
//! active and are archived again next run) and duplicates nothing (warehouse writes
//! are upserts); a view that arrives meanwhile keeps its session active, to be
//! archived complete later.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::ports::{Clock, SessionStore, Warehouse};

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
}

impl Deadpool {
    pub fn new(
        store: Arc<dyn SessionStore>,
        warehouse: Arc<dyn Warehouse>,
        clock: Arc<dyn Clock>,
        config: &Config,
    ) -> Self {
        Deadpool {
            store,
            warehouse,
            clock,
            timeout_ms: config.session_timeout_secs as i64 * 1000,
            shards: config.active_shards,
            ttl_secs: i64::from(config.archived_ttl_days) * 86_400,
            batch: config.deadpool_batch,
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
        for shard in 0..self.shards {
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
                if docs.is_empty() {
                    if !full {
                        break;
                    }
                    continue;
                }
                if let Err(e) = self.warehouse.archive_sessions(&docs).await {
                    tracing::error!(shard, sessions = docs.len(), error = %e, "warehouse write failed");
                    report.failed += docs.len();
                    break;
                }
                for doc in &docs {
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
                if !full {
                    break;
                }
            }
        }
        report
    }
}

impl DeadpoolReport {
    /// One CloudWatch Embedded Metric Format line with the counts.
    pub fn emf_line(&self, namespace: &str, now_ms: i64) -> String {
        serde_json::json!({
            "_aws": {
                "Timestamp": now_ms,
                "CloudWatchMetrics": [{
                    "Namespace": namespace,
                    "Dimensions": [["Function"]],
                    "Metrics": [
                        {"Name": "SessionsArchived", "Unit": "Count"},
                        {"Name": "SessionsRaced", "Unit": "Count"},
                        {"Name": "SessionsFailed", "Unit": "Count"},
                    ],
                }],
            },
            "Function": "deadpool",
            "SessionsArchived": self.archived,
            "SessionsRaced": self.raced,
            "SessionsFailed": self.failed,
            "OutOfTime": self.out_of_time,
        })
        .to_string()
    }
}
