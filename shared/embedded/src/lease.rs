//! Job leases on SQLite, in the session store's table `job_leases` (created with the
//! store's schema): `reco serve` and a `reco deadpool` started beside it on the same
//! folder take turns.

use async_trait::async_trait;
use reco_core::{JobLease, StoreError, Timestamp};
use rusqlite::params;

use crate::SqliteSessionStore;

/// Who holds each lease, until when (epoch ms); created with the session store's
/// tables. A binary that knows no lease leaves the table alone.
pub(crate) const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS job_leases (
    name  TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    until INTEGER NOT NULL
)";

fn db_error(e: rusqlite::Error) -> StoreError {
    StoreError::Other(format!("lease: {e}"))
}

#[async_trait]
impl JobLease for SqliteSessionStore {
    async fn take_lease(
        &self,
        name: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError> {
        let (name, owner) = (name.to_string(), owner.to_string());
        self.with_conn(move |conn| {
            // One statement: the row is taken only if free, expired or already ours.
            let changed = conn
                .execute(
                    "INSERT INTO job_leases (name, owner, until) VALUES (?1, ?2, ?3)
                     ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, until = excluded.until
                     WHERE job_leases.owner = excluded.owner OR job_leases.until < ?4",
                    params![name, owner, until.millis(), now.millis()],
                )
                .map_err(db_error)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError> {
        let (name, owner) = (name.to_string(), owner.to_string());
        self.with_conn(move |conn| {
            conn.execute(
                "UPDATE job_leases SET until = 0 WHERE name = ?1 AND owner = ?2",
                params![name, owner],
            )
            .map_err(db_error)?;
            Ok(())
        })
        .await
    }
}
