//! `bench-archive [SESSIONS] [VIEWS]`: the deadpool archiving SESSIONS idle sessions of
//! VIEWS views each, from the embedded session store into (a) Aurora through the RDS
//! Data API (the emulator scripts/bench-archive starts) and (b) the embedded SQLite
//! warehouse. Prints sessions/s for each and their ratio.

use std::sync::Arc;
use std::time::Instant;

use reco_core::ports::AppendRequest;
use reco_core::{Clock, Config, Deadpool, SessionStore, SystemClock, Timestamp, View, Warehouse};
use reco_embedded::{SqliteSessionStore, SqliteWarehouse};
use reco_rdsdata::{AuroraWarehouse, Target};

async fn seeded(dir: &std::path::Path, n: usize, views: usize) -> Arc<SqliteSessionStore> {
    let store = Arc::new(SqliteSessionStore::open(&dir.join("sessions.sqlite")).expect("store"));
    let old = Timestamp(SystemClock.now().millis() - 7_200_000);
    for i in 0..n {
        let sid = format!("s-{i}");
        let v: Vec<View> = (0..views)
            .map(|k| View {
                item_id: format!("item-{}", (i + k) % 997),
                viewed_at: old,
                recommendation_id: None,
            })
            .collect();
        store
            .append(AppendRequest {
                session_id: &sid,
                customer_id: (i % 2 == 0).then_some("c-1"),
                views: &v,
                now: old,
                max_views: 500,
                added_bytes: reco_core::sessions::request_bytes(&v),
                max_bytes: reco_core::sessions::SESSION_BYTES_BUDGET,
                active_shard: reco_core::sessions::shard_of(&sid, 8),
                impressions: &[],
                added_impression_bytes: 0,
                max_impression_bytes: reco_core::sessions::IMPRESSION_BYTES_BUDGET,
            })
            .await
            .expect("seeded");
    }
    store
}

async fn measure(name: &str, warehouse: Arc<dyn Warehouse>, n: usize, views: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = seeded(dir.path(), n, views).await;
    let config = Config {
        deadpool_batch: 200,
        ..Config::default()
    };
    let deadpool = Deadpool::new(
        store.clone(),
        store,
        warehouse,
        Arc::new(SystemClock),
        &config,
    );
    let start = Instant::now();
    let report = deadpool.run(None).await;
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(report.archived, n, "{name}: {report:?}");
    let rate = n as f64 / secs;
    println!("{name}: {n} sessions x {views} views archived in {secs:.2} s = {rate:.0} sessions/s");
    rate
}

#[tokio::main]
async fn main() {
    let arg = |i: usize, d: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(d)
    };
    let (n, views) = (arg(1, 5000), arg(2, 5));
    let target = Target::from_config(&reco_core::Config::from_env().expect("configuration"))
        .expect("RECO_RDS_* (run through scripts/bench-archive)");
    let rds = AuroraWarehouse::new(
        aws_sdk_rdsdata::Client::new(&aws_config::load_from_env().await),
        target,
    );
    let data_api = measure("data-api-emulator", Arc::new(rds), n, views).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = SqliteWarehouse::open(&dir.path().join("w.sqlite")).expect("warehouse");
    let embedded = measure("embedded-sqlite", Arc::new(sqlite), n, views).await;
    println!("ratio embedded / data-api: {:.2}", embedded / data_api);
}
