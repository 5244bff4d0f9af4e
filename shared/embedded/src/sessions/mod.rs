//! The session store on SQLite: the local stand-in for the DynamoDB table, with the
//! same semantics (atomic appends, cap, customer rule, archive with a condition on
//! `last_update`). One connection behind a mutex; every call runs on the blocking pool.
//!
//! A session is one row holding its state and its newest views, its older views in
//! chunk rows (views.rs), so that an append changes one row of one table: the cost
//! of an append is the pages it changes, each written to the WAL at its commit.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
mod append;
mod expire;
mod migrate;
mod views;

use reco_core::ports::AppendRequest;
use reco_core::{
    AppendOutcome, Impression, SessionDoc, SessionStatistics, SessionStats, SessionStore,
    StoreError, Timestamp,
};
use rusqlite::{params, Connection, OptionalExtension};

use append::{write_queued, Answer, AppendJob};
pub use expire::EXPIRED_BATCH;

/// The version of the layout below (tables, columns, and how rows encode views) that
/// this build writes, recorded in the file's `user_version`. A file recording a newer
/// one is refused. Raise it by one with every change to that layout (and migrate the
/// older layouts in `init`).
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS session_docs (
    session_id    TEXT PRIMARY KEY,
    customer_id   TEXT,
    is_active     INTEGER NOT NULL,
    session_start INTEGER NOT NULL,
    last_update   INTEGER NOT NULL,
    view_count    INTEGER NOT NULL,
    active_shard  INTEGER,
    expires_at    INTEGER,
    byte_count    INTEGER NOT NULL DEFAULT 0,
    quarantine_reason TEXT,
    impression_bytes INTEGER NOT NULL DEFAULT 0,
    recent        TEXT NOT NULL DEFAULT '',
    chunk_count   INTEGER NOT NULL DEFAULT 0
);
-- The active sessions of each shard. last_update stays out of the index so that an
-- append changes the session's own row and nothing else.
CREATE INDEX IF NOT EXISTS session_docs_shard
    ON session_docs (active_shard) WHERE active_shard IS NOT NULL;
-- Archived sessions by expiry, for deleting those past it (expire.rs). Appends leave
-- expires_at alone, so they never change this index.
CREATE INDEX IF NOT EXISTS session_docs_expiry
    ON session_docs (expires_at) WHERE expires_at IS NOT NULL;
-- A session's older views, in chunks of lines (see views.rs); its newest views are
-- in its row's recent column.
CREATE TABLE IF NOT EXISTS session_doc_view_chunks (
    session_id TEXT    NOT NULL REFERENCES session_docs (session_id),
    chunk      INTEGER NOT NULL,
    views      TEXT    NOT NULL,
    PRIMARY KEY (session_id, chunk)
);
-- Views per second of their viewed_at over the last hour, for the statistics.
CREATE TABLE IF NOT EXISTS view_seconds (
    second INTEGER PRIMARY KEY,
    views  INTEGER NOT NULL
);
-- item_ids: the shown items' ids joined by a line feed (ids hold no control
-- characters).
CREATE TABLE IF NOT EXISTS session_doc_impressions (
    session_id        TEXT    NOT NULL REFERENCES session_docs (session_id),
    seq               INTEGER NOT NULL,
    recommendation_id TEXT    NOT NULL,
    model_version     TEXT    NOT NULL,
    strategy          TEXT    NOT NULL,
    item_ids          TEXT    NOT NULL,
    shown_at          INTEGER NOT NULL,
    PRIMARY KEY (session_id, seq)
);
";

#[derive(Clone)]
pub struct SqliteSessionStore {
    conn: Arc<Mutex<Connection>>,
    /// Appends waiting for the next group commit.
    pending: Arc<Mutex<Vec<(AppendJob, Answer)>>>,
    /// Whether a writer task is draining `pending`.
    writing: Arc<AtomicBool>,
}

fn db_error(e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        other => StoreError::Other(other.to_string()),
    }
}

struct Row {
    customer_id: Option<String>,
    is_active: bool,
    session_start: i64,
    last_update: i64,
    view_count: u32,
    expires_at: Option<i64>,
    byte_count: u32,
    impression_bytes: u32,
    /// The newest views, as lines (views.rs).
    recent: String,
    /// How many chunks of older views the session has.
    chunk_count: u32,
}

fn read_row(conn: &Connection, session_id: &str) -> Result<Option<Row>, rusqlite::Error> {
    conn.prepare_cached(
        "SELECT customer_id, is_active, session_start, last_update, view_count, expires_at,
                byte_count, impression_bytes, recent, chunk_count
         FROM session_docs WHERE session_id = ?1",
    )?
    .query_row(params![session_id], |r| {
        Ok(Row {
            customer_id: r.get(0)?,
            is_active: r.get(1)?,
            session_start: r.get(2)?,
            last_update: r.get(3)?,
            view_count: r.get(4)?,
            expires_at: r.get(5)?,
            byte_count: r.get(6)?,
            impression_bytes: r.get(7)?,
            recent: r.get(8)?,
            chunk_count: r.get(9)?,
        })
    })
    .optional()
}

fn read_doc(conn: &Connection, session_id: &str) -> Result<Option<SessionDoc>, StoreError> {
    let Some(row) = read_row(conn, session_id).map_err(db_error)? else {
        return Ok(None);
    };
    let mut items_viewed = Vec::with_capacity(row.view_count as usize);
    if row.chunk_count > 0 {
        let mut stmt = conn
            .prepare_cached(
                "SELECT views FROM session_doc_view_chunks WHERE session_id = ?1 ORDER BY chunk",
            )
            .map_err(db_error)?;
        let chunks = stmt
            .query_map(params![session_id], |r| r.get::<_, String>(0))
            .map_err(db_error)?;
        for chunk in chunks {
            views::decode(&chunk.map_err(db_error)?, &mut items_viewed)?;
        }
    }
    views::decode(&row.recent, &mut items_viewed)?;
    let mut stmt = conn
        .prepare_cached(
            "SELECT recommendation_id, model_version, strategy, item_ids, shown_at
             FROM session_doc_impressions WHERE session_id = ?1 ORDER BY seq",
        )
        .map_err(db_error)?;
    let impressions = stmt
        .query_map(params![session_id], |r| {
            Ok(Impression {
                recommendation_id: r.get(0)?,
                model_version: r.get(1)?,
                strategy: r.get(2)?,
                item_ids: r
                    .get::<_, String>(3)?
                    .split('\n')
                    .map(str::to_string)
                    .collect(),
                shown_at: Timestamp(r.get(4)?),
            })
        })
        .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
        .map_err(db_error)?;
    let mut doc = SessionDoc {
        session_id: session_id.to_string(),
        customer_id: row.customer_id,
        is_active: row.is_active,
        session_start: Timestamp(row.session_start),
        last_update: Timestamp(row.last_update),
        items_viewed,
        view_count: row.view_count,
        impressions,
        expires_at: row.expires_at,
    };
    doc.sort_views();
    Ok(Some(doc))
}

/// How often the checkpointer copies the WAL back into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(50);

/// Runs a passive checkpoint every `CHECKPOINT_EVERY` on a connection of its own until
/// the store's writer connection is dropped. A failure is logged and retried at the
/// next tick; the WAL only grows meanwhile.
fn checkpoint_while_open(path: &Path, writer: &std::sync::Weak<Mutex<Connection>>) {
    let mut conn: Option<Connection> = None;
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        if writer.strong_count() == 0 {
            return;
        }
        if conn.is_none() {
            match Connection::open(path) {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "session store checkpointer cannot open the database");
                    continue;
                }
            }
        }
        if let Some(c) = &conn {
            let done = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(0));
            if let Err(e) = done {
                tracing::warn!(error = %e, "session store checkpoint failed");
                conn = None;
            }
        }
    }
}

impl SqliteSessionStore {
    /// Opens (creating if needed) the database file.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(db_error)?;
        let store = Self::init(conn, &crate::schema::file_name(path))?;
        // Checkpoints run beside the writer rather than inside its commits: a
        // checkpoint in the commit that crosses the WAL's threshold would hold every
        // queued append for as long as it copies pages back. A passive checkpoint from
        // another connection copies while the writer goes on.
        let path = path.to_path_buf();
        let writer = Arc::downgrade(&store.conn);
        let spawned = std::thread::Builder::new()
            .name("sessions-checkpoint".into())
            .spawn(move || checkpoint_while_open(&path, &writer));
        if spawned.is_ok() {
            let conn = store
                .conn
                .lock()
                .map_err(|_| StoreError::Other("session store lock poisoned".into()))?;
            conn.pragma_update(None, "wal_autocheckpoint", 0)
                .map_err(db_error)?;
        }
        Ok(store)
    }

    /// A private in-memory store.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory().map_err(db_error)?, ":memory:")
    }

    /// Readies the database `file` on `conn`: refuses it if a newer build wrote it,
    /// else creates or migrates its tables and records [`SCHEMA_VERSION`].
    fn init(mut conn: Connection, file: &str) -> Result<Self, StoreError> {
        // Room for every statement of the store (the default holds 16).
        conn.set_prepared_statement_cache_capacity(64);
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(db_error)?;
        // Before anything is written: an older layout's writes would lose a newer
        // layout's data.
        if let Some(newer) = crate::schema::newer(&conn, file, SCHEMA_VERSION).map_err(db_error)? {
            return Err(StoreError::Other(newer.to_string()));
        }
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(db_error)?;
        // In WAL mode, NORMAL keeps every acknowledged append across a crash of the
        // process (the WAL is written before the commit returns) and skips the fsync
        // per commit, which a busy disk can make take tens of milliseconds; only a
        // crash of the machine itself may lose the last commits.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(db_error)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(db_error)?;
        // A larger page cache (32 MiB) keeps the sessions' index pages in memory.
        conn.pragma_update(None, "cache_size", -32_768)
            .map_err(db_error)?;
        conn.execute_batch(SCHEMA).map_err(db_error)?;
        conn.execute_batch(crate::lease::SCHEMA).map_err(db_error)?;
        // Columns added after the first release, for data folders made before them.
        for (table, column, definition) in [
            ("session_docs", "byte_count", "INTEGER NOT NULL DEFAULT 0"),
            ("session_docs", "quarantine_reason", "TEXT"),
            ("session_doc_views", "recommendation_id", "TEXT"),
            (
                "session_docs",
                "impression_bytes",
                "INTEGER NOT NULL DEFAULT 0",
            ),
            ("session_docs", "recent", "TEXT NOT NULL DEFAULT ''"),
            ("session_docs", "chunk_count", "INTEGER NOT NULL DEFAULT 0"),
        ] {
            // (A table that is no longer there, such as the views table before
            // chunks, has no column to add.)
            let (table_present, present): (bool, bool) = conn
                .query_row(
                    "SELECT COUNT(*) > 0, coalesce(sum(name = ?2), 0) > 0
                     FROM pragma_table_info(?1)",
                    params![table, column],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(db_error)?;
            if table_present && !present {
                conn.execute_batch(&format!(
                    "ALTER TABLE {table} ADD COLUMN {column} {definition}"
                ))
                .map_err(db_error)?;
            }
        }
        migrate::views_into_chunks(&mut conn).map_err(db_error)?;
        crate::schema::record(&conn, SCHEMA_VERSION).map_err(db_error)?;
        Ok(SqliteSessionStore {
            conn: Arc::new(Mutex::new(conn)),
            pending: Arc::new(Mutex::new(Vec::new())),
            writing: Arc::new(AtomicBool::new(false)),
        })
    }

    pub(crate) async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| StoreError::Other("session store lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Other(format!("session store task failed: {e}")))?
    }
}

#[async_trait]
impl SessionStore for SqliteSessionStore {
    async fn append(&self, request: AppendRequest<'_>) -> Result<AppendOutcome, StoreError> {
        let job = AppendJob {
            session_id: request.session_id.to_string(),
            customer_id: request.customer_id.map(str::to_string),
            views: request.views.to_vec(),
            now: request.now,
            size: request.size(),
            shard: request.active_shard,
            impressions: request.impressions.to_vec(),
        };
        let (done, result) = tokio::sync::oneshot::channel();
        self.pending
            .lock()
            .map_err(|_| StoreError::Other("session store queue poisoned".into()))?
            .push((job, done));
        // Group commit: one blocking task at a time (the writer) takes every append
        // queued so far, commits them in one transaction (each in a savepoint of its
        // own), answers each after that commit, and goes on until the queue is empty.
        // An append starts a writer only when none is running.
        if !self.writing.swap(true, Ordering::SeqCst) {
            let (conn, pending, writing) = (
                Arc::clone(&self.conn),
                Arc::clone(&self.pending),
                Arc::clone(&self.writing),
            );
            let spawned =
                tokio::task::spawn_blocking(move || write_queued(&conn, &pending, &writing));
            drop(spawned);
        }
        result
            .await
            .map_err(|_| StoreError::Other("append dropped without an answer".into()))?
    }

    async fn get(&self, session_id: &str) -> Result<Option<SessionDoc>, StoreError> {
        let session_id = session_id.to_string();
        self.with_conn(move |conn| read_doc(conn, &session_id))
            .await
    }

    async fn archive(
        &self,
        session_id: &str,
        seen_last_update: Timestamp,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let session_id = session_id.to_string();
        self.with_conn(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE session_docs SET is_active = 0, active_shard = NULL, expires_at = ?3
                     WHERE session_id = ?1 AND is_active = 1 AND last_update = ?2",
                    params![session_id, seen_last_update.millis(), expires_at],
                )
                .map_err(db_error)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn quarantine(
        &self,
        session_id: &str,
        seen_last_update: Timestamp,
        reason: &str,
    ) -> Result<bool, StoreError> {
        let session_id = session_id.to_string();
        let reason = reason.to_string();
        self.with_conn(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE session_docs SET quarantine_reason = ?3, active_shard = NULL
                     WHERE session_id = ?1 AND is_active = 1 AND last_update = ?2",
                    params![session_id, seen_last_update.millis(), reason],
                )
                .map_err(db_error)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn inactive(
        &self,
        shard: u32,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<Vec<(String, Timestamp)>, StoreError> {
        self.with_conn(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT session_id, last_update FROM session_docs
                     WHERE active_shard = ?1 AND last_update < ?2
                     ORDER BY last_update LIMIT ?3",
                )
                .map_err(db_error)?;
            let rows = stmt
                .query_map(params![shard, cutoff.millis(), limit as i64], |r| {
                    Ok((r.get::<_, String>(0)?, Timestamp(r.get(1)?)))
                })
                .map_err(db_error)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(db_error)
        })
        .await
    }

    /// The SQLite index holds `last_update` itself (an index entry costs nothing more
    /// here), so [`SessionStore::inactive`] never offers a session still in use.
    async fn defer(&self, _session_id: &str, _check_at: Timestamp) -> Result<bool, StoreError> {
        Ok(false)
    }
}

#[async_trait]
impl SessionStatistics for SqliteSessionStore {
    async fn stats(&self, now: Timestamp, timeout_secs: u64) -> Result<SessionStats, StoreError> {
        let timeout = i64::try_from(timeout_secs).unwrap_or(i64::MAX);
        let cutoff = now.plus_secs(-timeout).millis();
        self.with_conn(move |conn| {
            let count = |v: i64| u64::try_from(v).unwrap_or(0);
            let (active, quarantined, archived, awaiting, oldest) = conn
                .query_row(
                    "SELECT
                         coalesce(sum(is_active = 1 AND quarantine_reason IS NULL), 0),
                         coalesce(sum(is_active = 1 AND quarantine_reason IS NOT NULL), 0),
                         coalesce(sum(is_active = 0), 0),
                         coalesce(sum(active_shard IS NOT NULL AND last_update < ?1), 0),
                         min(CASE WHEN active_shard IS NOT NULL THEN last_update END)
                     FROM session_docs",
                    params![cutoff],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, Option<i64>>(4)?,
                        ))
                    },
                )
                .map_err(db_error)?;
            // Counted per second of viewed_at: the minute and the hour start at the
            // second `now` falls in, less 60 and 3,600.
            let second = now.millis().div_euclid(1000);
            let (minute, hour) = conn
                .query_row(
                    "SELECT coalesce(sum(CASE WHEN second >= ?1 THEN views END), 0),
                            coalesce(sum(views), 0)
                     FROM view_seconds WHERE second >= ?2",
                    params![second - 60, second - 3600],
                    |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
                )
                .map_err(db_error)?;
            let lag_ms = oldest.map_or(0, |t| cutoff.saturating_sub(t).max(0));
            Ok(SessionStats {
                active: count(active),
                quarantined: count(quarantined),
                archived: count(archived),
                awaiting_archive: count(awaiting),
                archive_lag_secs: count(lag_ms / 1000),
                views_last_minute: count(minute),
                views_last_hour: count(hour),
            })
        })
        .await
    }
}
