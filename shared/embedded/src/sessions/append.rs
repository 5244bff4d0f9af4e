//! Group commit: appends queue up; one writer at a time commits every append queued
//! so far in one transaction and answers each after that commit, so one fsync-free WAL
//! commit serves many requests.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use reco_core::ports::{refusal, session_start, AppendSize, SessionState};
use reco_core::{AppendOutcome, Impression, StoreError, Timestamp, View};
use rusqlite::{params, Connection, TransactionBehavior};

use super::{db_error, read_row, views};

/// One append waiting for the next group commit.
pub(super) struct AppendJob {
    pub(super) session_id: String,
    pub(super) customer_id: Option<String>,
    pub(super) views: Vec<View>,
    pub(super) now: Timestamp,
    pub(super) size: AppendSize,
    pub(super) shard: u32,
    pub(super) impressions: Vec<Impression>,
}

pub(super) type Answer = tokio::sync::oneshot::Sender<Result<AppendOutcome, StoreError>>;

/// The writer: commits queued appends batch by batch until the queue is empty, then
/// stands down. A job queued just as it stands down is seen by the re-check below or
/// starts a writer of its own (the flag is cleared before the queue is looked at).
pub(super) fn write_queued(
    conn: &Mutex<Connection>,
    pending: &Mutex<Vec<(AppendJob, Answer)>>,
    writing: &AtomicBool,
) {
    /// Clears the flag however the writer ends (a panic included), so that the next
    /// append starts a new one.
    struct StandDown<'a>(&'a AtomicBool);
    impl Drop for StandDown<'_> {
        fn drop(&mut self) {
            self.0.store(false, Ordering::SeqCst);
        }
    }
    let take = || match pending.lock() {
        Ok(mut q) => std::mem::take(&mut *q),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    loop {
        {
            let _stand_down = StandDown(writing);
            loop {
                let batch = take();
                if batch.is_empty() {
                    break;
                }
                match conn.lock() {
                    Ok(mut c) => commit_appends(&mut c, batch),
                    Err(_) => {
                        for (_, answer) in batch {
                            let _ = answer
                                .send(Err(StoreError::Other("session store lock poisoned".into())));
                        }
                    }
                }
            }
        }
        // Flag cleared: anything queued now either is seen here or started a writer.
        let queued = pending.lock().map(|q| !q.is_empty()).unwrap_or(false);
        if !queued || writing.swap(true, Ordering::SeqCst) {
            return;
        }
    }
}

/// Commits `batch` in one immediate transaction and answers each append after that
/// commit. An append that fails rolls the whole transaction back; each append of the
/// batch is then committed alone, so that only the failing one fails.
fn commit_appends(conn: &mut Connection, batch: Vec<(AppendJob, Answer)>) {
    let jobs: Vec<&AppendJob> = batch.iter().map(|(job, _)| job).collect();
    let outcomes = match commit(conn, &jobs) {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(e) if jobs.len() == 1 => vec![Err(e)],
        Err(_) => jobs
            .iter()
            .map(|job| {
                commit(conn, std::slice::from_ref(job))?
                    .pop()
                    .ok_or_else(|| StoreError::Other("append without an outcome".into()))
            })
            .collect(),
    };
    for ((_, answer), outcome) in batch.into_iter().zip(outcomes) {
        let _ = answer.send(outcome);
    }
}

/// Applies `jobs` in one immediate transaction and commits it: each append's outcome,
/// or the first error (the transaction rolled back).
fn commit(conn: &mut Connection, jobs: &[&AppendJob]) -> Result<Vec<AppendOutcome>, StoreError> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(db_error)?;
    let outcomes = jobs
        .iter()
        .map(|job| apply_append(&tx, job))
        .collect::<Result<Vec<_>, _>>()?;
    count_views(&tx, jobs, &outcomes)?;
    tx.commit().map_err(db_error)?;
    Ok(outcomes)
}

/// Adds the views of the appends that landed to `view_seconds` (per second of their
/// `viewed_at`) and drops the seconds that have left the last hour (of the latest
/// `now` in the batch).
fn count_views(
    conn: &Connection,
    jobs: &[&AppendJob],
    outcomes: &[AppendOutcome],
) -> Result<(), StoreError> {
    let Some(now) = jobs.iter().map(|job| job.now.millis()).max() else {
        return Ok(());
    };
    let oldest = now.div_euclid(1000) - 3600;
    let mut seconds: Vec<(i64, i64)> = Vec::new();
    let landed = jobs
        .iter()
        .zip(outcomes)
        .filter(|(_, outcome)| **outcome == AppendOutcome::Appended);
    for v in landed.flat_map(|(job, _)| &job.views) {
        let second = v.viewed_at.millis().div_euclid(1000);
        match seconds.iter_mut().find(|(s, _)| *s == second) {
            Some((_, n)) => *n += 1,
            None => seconds.push((second, 1)),
        }
    }
    let mut upsert = conn
        .prepare_cached(
            "INSERT INTO view_seconds (second, views) VALUES (?1, ?2)
             ON CONFLICT (second) DO UPDATE SET views = views + excluded.views",
        )
        .map_err(db_error)?;
    for &(second, n) in seconds.iter().filter(|(s, _)| *s >= oldest) {
        upsert.execute(params![second, n]).map_err(db_error)?;
    }
    conn.prepare_cached("DELETE FROM view_seconds WHERE second < ?1")
        .and_then(|mut s| s.execute(params![oldest]))
        .map_err(db_error)?;
    Ok(())
}

/// One append inside the caller's transaction: the rules (decided in the core), then
/// the writes.
fn apply_append(conn: &Connection, job: &AppendJob) -> Result<AppendOutcome, StoreError> {
    let AppendJob {
        session_id,
        customer_id,
        views,
        now,
        size,
        shard,
        impressions,
    } = job;
    let (now, shard) = (*now, *shard);
    let existing = read_row(conn, session_id).map_err(db_error)?;
    let state = existing.as_ref().map(|row| SessionState {
        is_active: row.is_active,
        customer_id: row.customer_id.clone(),
        view_count: row.view_count,
        byte_count: row.byte_count,
        impression_bytes: row.impression_bytes,
    });
    if let Some(refused) = refusal(state.as_ref(), customer_id.as_deref(), size) {
        return Ok(refused);
    }
    let (n, added_bytes, added_impression_bytes) =
        (size.views, size.added_bytes, size.added_impression_bytes);
    let first_impression: u32 = match &existing {
        None => 0,
        Some(_) if impressions.is_empty() => 0,
        Some(_) => conn
            .prepare_cached("SELECT COUNT(*) FROM session_doc_impressions WHERE session_id = ?1")
            .and_then(|mut s| s.query_row(params![session_id], |r| r.get(0)))
            .map_err(db_error)?,
    };
    let mut added = String::new();
    views::encode(views, &mut added);
    match existing {
        None => {
            let start = session_start(views, impressions, now);
            conn.prepare_cached(
                "INSERT INTO session_docs (session_id, customer_id, is_active, session_start,
                         last_update, view_count, active_shard, byte_count, impression_bytes,
                         recent)
                     VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    session_id,
                    customer_id,
                    start.millis(),
                    now.millis(),
                    n,
                    shard,
                    added_bytes,
                    added_impression_bytes,
                    added
                ])
            })
            .map_err(db_error)?;
        }
        Some(row) => {
            let (recent, full) = views::place(row.recent, added);
            let chunk_count = row.chunk_count + u32::from(full.is_some());
            conn.prepare_cached(
                "UPDATE session_docs SET last_update = ?2, view_count = view_count + ?3,
                         customer_id = COALESCE(?4, customer_id),
                         byte_count = byte_count + ?5,
                         active_shard = COALESCE(active_shard, ?6),
                         quarantine_reason = NULL,
                         impression_bytes = impression_bytes + ?7,
                         recent = ?8, chunk_count = ?9
                     WHERE session_id = ?1",
            )
            .and_then(|mut s| {
                s.execute(params![
                    session_id,
                    now.millis(),
                    n,
                    customer_id,
                    added_bytes,
                    shard,
                    added_impression_bytes,
                    recent,
                    chunk_count
                ])
            })
            .map_err(db_error)?;
            if let Some(full) = full {
                conn.prepare_cached(
                    "INSERT INTO session_doc_view_chunks (session_id, chunk, views)
                         VALUES (?1, ?2, ?3)",
                )
                .and_then(|mut s| s.execute(params![session_id, row.chunk_count, full]))
                .map_err(db_error)?;
            }
        }
    }
    if !impressions.is_empty() {
        let mut insert = conn
            .prepare_cached(
                "INSERT INTO session_doc_impressions (session_id, seq, recommendation_id,
                         model_version, strategy, item_ids, shown_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(db_error)?;
        for (i, imp) in impressions.iter().enumerate() {
            insert
                .execute(params![
                    session_id,
                    first_impression + i as u32,
                    imp.recommendation_id,
                    imp.model_version,
                    imp.strategy,
                    imp.item_ids.join("\n"),
                    imp.shown_at.millis()
                ])
                .map_err(db_error)?;
        }
    }
    Ok(AppendOutcome::Appended)
}
