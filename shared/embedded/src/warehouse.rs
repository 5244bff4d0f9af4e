//! The warehouse on SQLite: the same tables and views as Aurora (migrations/sqlite),
//! for the local runner. Migrations are applied on open, each once.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use reco_core::{SessionDoc, Warehouse, WarehouseError};
use rusqlite::{params, Connection};

/// Migrations in order: (name, SQL).
pub const MIGRATIONS: &[(&str, &str)] = &[(
    "0001_warehouse",
    include_str!("../../../migrations/sqlite/0001_warehouse.sql"),
)];

#[derive(Clone)]
pub struct SqliteWarehouse {
    conn: Arc<Mutex<Connection>>,
}

fn error(e: rusqlite::Error) -> WarehouseError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            WarehouseError::Rejected(e.to_string())
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            WarehouseError::Unavailable(e.to_string())
        }
        _ => WarehouseError::Other(e.to_string()),
    }
}

impl SqliteWarehouse {
    pub fn open(path: &Path) -> Result<Self, WarehouseError> {
        Self::init(Connection::open(path).map_err(error)?)
    }

    pub fn in_memory() -> Result<Self, WarehouseError> {
        Self::init(Connection::open_in_memory().map_err(error)?)
    }

    fn init(mut conn: Connection) -> Result<Self, WarehouseError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(error)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(error)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(error)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .map_err(error)?;
        for (name, sql) in MIGRATIONS {
            let tx = conn.transaction().map_err(error)?;
            let done: bool = tx
                .query_row(
                    "SELECT count(*) > 0 FROM schema_migrations WHERE name = ?1",
                    params![name],
                    |r| r.get(0),
                )
                .map_err(error)?;
            if !done {
                tx.execute_batch(sql).map_err(error)?;
                tx.execute(
                    "INSERT INTO schema_migrations (name, applied_at)
                     VALUES (?1, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))",
                    params![name],
                )
                .map_err(error)?;
            }
            tx.commit().map_err(error)?;
        }
        Ok(SqliteWarehouse {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` on the connection on the blocking pool.
    pub async fn with_conn<T, F>(&self, f: F) -> Result<T, WarehouseError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, WarehouseError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| WarehouseError::Other("warehouse lock poisoned".into()))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| WarehouseError::Other(format!("warehouse task failed: {e}")))?
    }

    /// Recomputes the stored training set from the view, in one transaction.
    pub async fn refresh_materialized(&self) -> Result<usize, WarehouseError> {
        self.with_conn(|conn| {
            let tx = conn.transaction().map_err(error)?;
            tx.execute("DELETE FROM training_interactions_materialized", [])
                .map_err(error)?;
            let n = tx
                .execute(
                    "INSERT INTO training_interactions_materialized
                     SELECT user_key, item_id, weight, positive, last_at FROM training_interactions",
                    [],
                )
                .map_err(error)?;
            tx.commit().map_err(error)?;
            Ok(n)
        })
        .await
    }
}

#[async_trait]
impl Warehouse for SqliteWarehouse {
    async fn archive_sessions(&self, sessions: &[SessionDoc]) -> Result<(), WarehouseError> {
        let sessions = sessions.to_vec();
        self.with_conn(move |conn| {
            let tx = conn.transaction().map_err(error)?;
            {
                let mut upsert_session = tx
                    .prepare_cached(
                        "INSERT INTO sessions (session_id, customer_id, session_start, last_update, view_count)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (session_id) DO UPDATE SET
                             customer_id = excluded.customer_id,
                             session_start = excluded.session_start,
                             last_update = excluded.last_update,
                             view_count = excluded.view_count",
                    )
                    .map_err(error)?;
                let mut upsert_view = tx
                    .prepare_cached(
                        "INSERT INTO session_views (session_id, seq, item_id, viewed_at)
                         VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (session_id, seq) DO UPDATE SET
                             item_id = excluded.item_id, viewed_at = excluded.viewed_at",
                    )
                    .map_err(error)?;
                for s in &sessions {
                    upsert_session
                        .execute(params![
                            s.session_id,
                            s.customer_id,
                            s.session_start.millis(),
                            s.last_update.millis(),
                            s.view_count
                        ])
                        .map_err(error)?;
                    for (seq, v) in s.items_viewed.iter().enumerate() {
                        upsert_view
                            .execute(params![s.session_id, seq as i64, v.item_id, v.viewed_at.millis()])
                            .map_err(error)?;
                    }
                }
            }
            tx.commit().map_err(error)
        })
        .await
    }
}
