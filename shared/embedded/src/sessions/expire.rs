//! Archived sessions past their expiry (`expires_at`, set by `archive` from
//! `RECO_ARCHIVED_TTL_DAYS`): deleted from the SQLite store with their views and
//! impressions, as DynamoDB's TTL deletes them from the table.

use reco_core::{StoreError, Timestamp};
use rusqlite::{params, Connection, TransactionBehavior};

use super::{db_error, SqliteSessionStore};

/// Sessions deleted per transaction by `reco serve`: small enough that the appends
/// queued meanwhile wait milliseconds.
pub const EXPIRED_BATCH: usize = 200;

impl SqliteSessionStore {
    /// Deletes the archived sessions whose `expires_at` (epoch seconds) is before
    /// `now`, with their view chunks and impressions, `batch` sessions per transaction
    /// (appends go in between) until none is left. Active sessions, and archived ones
    /// not yet expired, stay. Returns how many sessions it deleted.
    pub async fn delete_expired(&self, now: Timestamp, batch: usize) -> Result<u64, StoreError> {
        let batch = batch.max(1);
        let now = now.seconds();
        let mut deleted = 0u64;
        loop {
            let n = self
                .with_conn(move |conn| delete_batch(conn, now, batch))
                .await?;
            deleted += n as u64;
            if n < batch {
                return Ok(deleted);
            }
        }
    }
}

/// Deletes up to `batch` expired archived sessions in one transaction: how many.
fn delete_batch(conn: &mut Connection, now: i64, batch: usize) -> Result<usize, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_error)?;
    let ids: Vec<String> = {
        let mut select = tx
            .prepare_cached(
                "SELECT session_id FROM session_docs
                 WHERE expires_at < ?1 AND is_active = 0
                 ORDER BY expires_at LIMIT ?2",
            )
            .map_err(db_error)?;
        let rows = select
            .query_map(
                params![now, i64::try_from(batch).unwrap_or(i64::MAX)],
                |r| r.get(0),
            )
            .map_err(db_error)?;
        rows.collect::<Result<_, _>>().map_err(db_error)?
    };
    for id in &ids {
        for sql in [
            "DELETE FROM session_doc_view_chunks WHERE session_id = ?1",
            "DELETE FROM session_doc_impressions WHERE session_id = ?1",
            "DELETE FROM session_docs WHERE session_id = ?1",
        ] {
            tx.prepare_cached(sql)
                .and_then(|mut s| s.execute(params![id]))
                .map_err(db_error)?;
        }
    }
    tx.commit().map_err(db_error)?;
    Ok(ids.len())
}
