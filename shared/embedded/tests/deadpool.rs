//! The deadpool on the embedded store and warehouse (what `reco serve` runs).

use std::sync::Arc;

use reco_embedded::{SqliteSessionStore, SqliteWarehouse};
use reco_testkit::WarehouseProbe;

struct Probe(SqliteWarehouse);

#[async_trait::async_trait]
impl WarehouseProbe for Probe {
    async fn session_count(&self) -> usize {
        self.0
            .with_conn(|c| {
                c.query_row("SELECT count(*) FROM sessions", [], |r| r.get::<_, i64>(0))
                    .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))
            })
            .await
            .expect("count") as usize
    }
    async fn view_count(&self) -> usize {
        self.0
            .with_conn(|c| {
                c.query_row("SELECT count(*) FROM session_views", [], |r| {
                    r.get::<_, i64>(0)
                })
                .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))
            })
            .await
            .expect("count") as usize
    }
    async fn views_of(&self, session_id: &str) -> Vec<String> {
        let id = session_id.to_string();
        self.0
            .with_conn(move |c| {
                let mut s = c
                    .prepare("SELECT item_id FROM session_views WHERE session_id = ?1 ORDER BY seq")
                    .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))?;
                let rows = s
                    .query_map([id], |r| r.get::<_, String>(0))
                    .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))?;
                rows.collect::<Result<Vec<_>, _>>()
                    .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))
            })
            .await
            .expect("views")
    }
}

#[tokio::test]
async fn deadpool_meets_its_contract_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteSessionStore::open(&dir.path().join("s.sqlite")).expect("store");
    let warehouse = SqliteWarehouse::open(&dir.path().join("w.sqlite")).expect("warehouse");
    let store = Arc::new(store);
    reco_testkit::deadpool_contract(
        store.clone(),
        store,
        Arc::new(warehouse.clone()),
        &Probe(warehouse),
    )
    .await;
}

#[tokio::test]
async fn deadpool_quarantines_a_refused_session_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteSessionStore::open(&dir.path().join("s.sqlite")).expect("store");
    let warehouse = SqliteWarehouse::open(&dir.path().join("w.sqlite")).expect("warehouse");
    let store = Arc::new(store);
    reco_testkit::deadpool_quarantines_what_the_warehouse_refuses(
        store.clone(),
        store,
        Arc::new(warehouse),
    )
    .await;
}

#[tokio::test]
async fn deadpool_reaches_every_shard_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteSessionStore::open(&dir.path().join("s.sqlite")).expect("store");
    let warehouse = SqliteWarehouse::open(&dir.path().join("w.sqlite")).expect("warehouse");
    let store = Arc::new(store);
    reco_testkit::deadpool_reaches_every_shard(store.clone(), store, Arc::new(warehouse)).await;
}

#[tokio::test]
async fn deadpool_runs_one_at_a_time_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Arc::new(SqliteSessionStore::open(&dir.path().join("s.sqlite")).expect("store"));
    let warehouse = SqliteWarehouse::open(&dir.path().join("w.sqlite")).expect("warehouse");
    reco_testkit::deadpool_runs_one_at_a_time(store.clone(), store, Arc::new(warehouse)).await;
}

#[tokio::test]
async fn a_reused_session_id_does_not_overwrite_the_archived_session_on_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let warehouse = SqliteWarehouse::open(&dir.path().join("w.sqlite")).expect("warehouse");
    reco_testkit::warehouse_keeps_a_reused_session_id_apart(&warehouse, &Probe(warehouse.clone()))
        .await;
}
