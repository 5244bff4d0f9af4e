//! The warehouse on SQLite: the same tables and views as Aurora (migrations/sqlite),
//! for the local runner. Migrations are applied on open, each once; a file migrated
//! by a newer build (one with more migrations) is refused.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use reco_core::warehouse::{
    session_sequences, ClickThrough, FeatureRow, ImportBatch, InteractionRow, SessionSequence,
    TrainingSet, MAX_TRAINING_SESSIONS,
};
use reco_core::{SessionDoc, Timestamp, Warehouse, WarehouseError};
use rusqlite::{params, Connection};

/// Migrations in order: (name, SQL).
pub const MIGRATIONS: &[(&str, &str)] = &[
    (
        "0001_warehouse",
        include_str!("../../../migrations/sqlite/0001_warehouse.sql"),
    ),
    (
        "0002_session_reuse",
        include_str!("../../../migrations/sqlite/0002_session_reuse.sql"),
    ),
    (
        "0003_click_attribution",
        include_str!("../../../migrations/sqlite/0003_click_attribution.sql"),
    ),
    (
        "0004_impressions",
        include_str!("../../../migrations/sqlite/0004_impressions.sql"),
    ),
    (
        "0005_session_sequences",
        include_str!("../../../migrations/sqlite/0005_session_sequences.sql"),
    ),
];

/// The version of the layout this build writes, recorded in the file's
/// `user_version`: one per migration, so adding a migration raises it. A file
/// recording a newer one is refused.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

#[derive(Clone)]
pub struct SqliteWarehouse {
    conn: Arc<Mutex<Connection>>,
}

/// The newest [`MAX_TRAINING_SESSIONS`] archived sessions with views
/// (`training_sessions`), oldest first by (session_start, session_id), each with its
/// views by seq.
fn training_sessions(conn: &Connection) -> Result<Vec<SessionSequence>, WarehouseError> {
    let mut s = conn
        .prepare_cached(
            "WITH newest AS (
                 SELECT session_start, session_id FROM sessions s
                 WHERE EXISTS (SELECT 1 FROM session_views v WHERE v.session_id = s.session_id)
                 ORDER BY session_start DESC, session_id DESC LIMIT ?1
             )
             SELECT t.session_id, t.item_id FROM training_sessions t
             WHERE (t.session_start, t.session_id) >= (
                 SELECT session_start, session_id FROM newest
                 ORDER BY session_start, session_id LIMIT 1)
             ORDER BY t.session_start, t.session_id, t.seq",
        )
        .map_err(error)?;
    let limit = i64::try_from(MAX_TRAINING_SESSIONS).unwrap_or(i64::MAX);
    let views = s
        .query_map(params![limit], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(error)?
        .collect::<Result<Vec<(String, String)>, _>>()
        .map_err(error)?;
    Ok(session_sequences(views))
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
        let file = crate::schema::file_name(path);
        Self::init(Connection::open(path).map_err(error)?, &file)
    }

    pub fn in_memory() -> Result<Self, WarehouseError> {
        Self::init(Connection::open_in_memory().map_err(error)?, ":memory:")
    }

    /// Whether anonymous sessions take part in training as `session:<id>` users
    /// (`reco_settings.include_anonymous_sessions`, docs/warehouse.md).
    pub fn include_anonymous_sessions(&self, include: bool) -> Result<(), WarehouseError> {
        let conn = self
            .conn
            .lock()
            .map_err(|_| WarehouseError::Other("warehouse lock poisoned".into()))?;
        conn.execute(
            "UPDATE reco_settings SET value = ?1 WHERE key = 'include_anonymous_sessions'",
            params![if include { "true" } else { "false" }],
        )
        .map_err(error)?;
        Ok(())
    }

    /// Readies the database `file` on `conn`: refuses it if a newer build migrated
    /// it, else applies the migrations it lacks and records [`SCHEMA_VERSION`].
    fn init(mut conn: Connection, file: &str) -> Result<Self, WarehouseError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(error)?;
        if let Some(newer) = crate::schema::newer(&conn, file, SCHEMA_VERSION).map_err(error)? {
            return Err(WarehouseError::Other(newer.to_string()));
        }
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
        crate::schema::record(&conn, SCHEMA_VERSION).map_err(error)?;
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
                        "INSERT INTO session_views
                             (session_id, seq, item_id, viewed_at, recommendation_id)
                         VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (session_id, seq) DO UPDATE SET
                             item_id = excluded.item_id, viewed_at = excluded.viewed_at,
                             recommendation_id = excluded.recommendation_id",
                    )
                    .map_err(error)?;
                let mut upsert_impression = tx
                    .prepare_cached(
                        "INSERT INTO session_impressions (session_id, seq, list_position,
                             recommendation_id, model_version, strategy, item_id, shown_at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                         ON CONFLICT (session_id, seq, list_position) DO UPDATE SET
                             recommendation_id = excluded.recommendation_id,
                             model_version = excluded.model_version,
                             strategy = excluded.strategy, item_id = excluded.item_id,
                             shown_at = excluded.shown_at",
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
                            .execute(params![
                                s.session_id,
                                seq as i64,
                                v.item_id,
                                v.viewed_at.millis(),
                                v.recommendation_id
                            ])
                            .map_err(error)?;
                    }
                    for (seq, imp) in s.impressions.iter().enumerate() {
                        for (position, item) in imp.item_ids.iter().enumerate() {
                            upsert_impression
                                .execute(params![
                                    s.session_id,
                                    seq as i64,
                                    position as i64,
                                    imp.recommendation_id,
                                    imp.model_version,
                                    imp.strategy,
                                    item,
                                    imp.shown_at.millis()
                                ])
                                .map_err(error)?;
                        }
                    }
                }
            }
            tx.commit().map_err(error)
        })
        .await
    }

    async fn load(&self, batch: &ImportBatch) -> Result<(), WarehouseError> {
        let batch = batch.clone();
        self.with_conn(move |conn| {
            let tx = conn.transaction().map_err(error)?;
            {
                let mut c = tx
                    .prepare_cached(
                        "INSERT INTO customers (customer_id, birth_year, gender, region) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (customer_id) DO UPDATE SET birth_year = excluded.birth_year,
                             gender = excluded.gender, region = excluded.region",
                    )
                    .map_err(error)?;
                for r in &batch.customers {
                    c.execute(params![r.customer_id, r.birth_year, r.gender, r.region]).map_err(error)?;
                }
                let mut i = tx
                    .prepare_cached(
                        "INSERT INTO items (item_id, category, brand, price, tags, active) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (item_id) DO UPDATE SET category = excluded.category, brand = excluded.brand,
                             price = excluded.price, tags = excluded.tags, active = excluded.active",
                    )
                    .map_err(error)?;
                for r in &batch.items {
                    i.execute(params![r.item_id, r.category, r.brand, r.price, r.tags, r.active]).map_err(error)?;
                }
                let mut p = tx
                    .prepare_cached(
                        "INSERT INTO purchases VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (purchase_id) DO UPDATE SET customer_id = excluded.customer_id,
                             item_id = excluded.item_id, quantity = excluded.quantity, purchased_at = excluded.purchased_at",
                    )
                    .map_err(error)?;
                for r in &batch.purchases {
                    p.execute(params![r.purchase_id, r.customer_id, r.item_id, r.quantity, r.purchased_at.millis()])
                        .map_err(error)?;
                }
                let mut q = tx
                    .prepare_cached(
                        "INSERT INTO ratings VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (customer_id, item_id) DO UPDATE SET rating = excluded.rating, rated_at = excluded.rated_at",
                    )
                    .map_err(error)?;
                for r in &batch.ratings {
                    q.execute(params![r.customer_id, r.item_id, r.rating, r.rated_at.millis()]).map_err(error)?;
                }
            }
            tx.commit().map_err(error)
        })
        .await
    }

    async fn refresh_training_set(&self) -> Result<(), WarehouseError> {
        self.refresh_materialized().await.map(|_| ())
    }

    async fn refresh_in_progress(&self) -> Result<bool, WarehouseError> {
        // Refreshes run inside this process's calls, never in the background.
        Ok(false)
    }

    async fn click_through(&self) -> Result<Vec<ClickThrough>, WarehouseError> {
        self.with_conn(|conn| {
            let mut s = conn
                .prepare(
                    "SELECT model_version, strategy, recommendations, impressions, clicks, click_through
                     FROM recommendation_performance ORDER BY model_version DESC, strategy",
                )
                .map_err(error)?;
            let rows = s
                .query_map([], |r| {
                    Ok(ClickThrough {
                        model_version: r.get(0)?,
                        strategy: r.get(1)?,
                        recommendations: r.get(2)?,
                        impressions: r.get(3)?,
                        clicks: r.get(4)?,
                        click_through: r.get(5)?,
                    })
                })
                .map_err(error)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(error)
        })
        .await
    }

    async fn training_set(&self, materialized: bool) -> Result<TrainingSet, WarehouseError> {
        self.with_conn(move |conn| {
            let table = if materialized { "training_interactions_materialized" } else { "training_interactions" };
            let mut s = conn
                .prepare(&format!(
                    "SELECT user_key, item_id, weight, positive, last_at FROM {table} ORDER BY user_key, item_id"
                ))
                .map_err(error)?;
            let interactions = s
                .query_map([], |r| {
                    Ok(InteractionRow {
                        user_key: r.get(0)?,
                        item_id: r.get(1)?,
                        weight: r.get(2)?,
                        positive: r.get(3)?,
                        last_at: Timestamp(r.get(4)?),
                    })
                })
                .map_err(error)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(error)?;
            let features = |sql: &str| -> Result<Vec<FeatureRow>, WarehouseError> {
                let mut s = conn.prepare(sql).map_err(error)?;
                let rows = s
                    .query_map([], |r| Ok(FeatureRow { key: r.get(0)?, feature: r.get(1)?, weight: r.get(2)? }))
                    .map_err(error)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(error)
            };
            Ok(TrainingSet {
                interactions,
                user_features: features("SELECT user_key, feature, weight FROM user_features ORDER BY 1, 2")?,
                item_features: features("SELECT item_id, feature, weight FROM item_features ORDER BY 1, 2")?,
                sessions: training_sessions(conn)?,
            })
        })
        .await
    }
}
