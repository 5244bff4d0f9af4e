//! The SQLite warehouse: training views on the hand-checked fixture, the materialized
//! variant, constraint violations that say what is wrong, the archived sessions as
//! ordered sequences, and anonymous sessions under `include_anonymous_sessions`.

use reco_embedded::SqliteWarehouse;
use reco_testkit::fixture;

async fn loaded() -> SqliteWarehouse {
    let w = SqliteWarehouse::in_memory().expect("opens");
    fixture::load(&w).await.expect("fixture loads");
    w
}

async fn interactions(
    w: &SqliteWarehouse,
    table: &'static str,
) -> Vec<(String, String, f64, bool)> {
    w.with_conn(move |c| {
        let mut s = c
            .prepare(&format!(
                "SELECT user_key, item_id, weight, positive FROM {table} ORDER BY user_key, item_id"
            ))
            .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))?;
        let rows = s
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))
    })
    .await
    .expect("query")
}

async fn rows<T: Send + 'static>(
    w: &SqliteWarehouse,
    sql: &'static str,
    row: fn(&rusqlite::Row) -> rusqlite::Result<T>,
) -> Vec<T> {
    w.with_conn(move |c| {
        let mut s = c
            .prepare(sql)
            .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))?;
        let rows = s
            .query_map([], row)
            .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))
    })
    .await
    .expect("query")
}

async fn pairs(w: &SqliteWarehouse, sql: &'static str) -> Vec<(String, String)> {
    rows(w, sql, |r| Ok((r.get(0)?, r.get(1)?))).await
}

#[tokio::test]
async fn training_views_return_the_hand_checked_rows() {
    let w = loaded().await;
    assert_eq!(
        interactions(&w, "training_interactions").await,
        fixture::interactions(false)
    );
    w.with_conn(|c| {
        c.execute(
            "UPDATE reco_settings SET value = 'true' WHERE key = 'include_anonymous_sessions'",
            [],
        )
        .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))
    })
    .await
    .expect("switch");
    assert_eq!(
        interactions(&w, "training_interactions").await,
        fixture::interactions(true)
    );
    assert_eq!(
        pairs(
            &w,
            "SELECT user_key, feature FROM user_features ORDER BY 1, 2"
        )
        .await,
        fixture::user_features(fixture::current_year())
    );
    assert_eq!(
        pairs(
            &w,
            "SELECT item_id, feature FROM item_features ORDER BY 1, 2"
        )
        .await,
        fixture::item_features()
    );
    assert_eq!(w.refresh_materialized().await.expect("refresh"), 6);
    assert_eq!(
        interactions(&w, "training_interactions_materialized").await,
        fixture::interactions(true)
    );
}

/// Rows the schema refuses come back from the adapter's own load as `Rejected`,
/// naming the constraint, and the batch leaves nothing behind.
#[tokio::test]
async fn constraint_violations_say_why() {
    use reco_core::warehouse::ImportBatch;
    use reco_core::{Warehouse, WarehouseError};
    let w = loaded().await;
    let good = fixture::batch();
    let with = |edit: &dyn Fn(&mut ImportBatch)| {
        let mut b = ImportBatch {
            customers: vec![good.customers[0].clone()],
            items: vec![good.items[0].clone()],
            purchases: vec![good.purchases[0].clone()],
            ratings: vec![good.ratings[0].clone()],
        };
        b.customers[0].customer_id = "c9".into();
        b.purchases[0].purchase_id = "p9".into();
        edit(&mut b);
        b
    };
    let cases: [(ImportBatch, &str); 5] = [
        (with(&|b| b.ratings[0].rating = 6), "rating_between_1_and_5"),
        (with(&|b| b.purchases[0].quantity = -1), "quantity_positive"),
        (
            with(&|b| b.items[0].item_id = String::new()),
            "item_id_not_empty",
        ),
        (
            with(&|b| b.customers[0].gender = Some("Q".into())),
            "gender_is_f_m_or_x",
        ),
        (
            with(&|b| b.items[0].price = Some(-3.0)),
            "price_not_negative",
        ),
    ];
    for (batch, constraint) in cases {
        match w.load(&batch).await {
            Err(WarehouseError::Rejected(m)) => assert!(m.contains(constraint), "{m}"),
            other => panic!("{constraint}: expected a rejection, got {other:?}"),
        }
    }
    let customers = pairs(
        &w,
        "SELECT customer_id, customer_id FROM customers ORDER BY 1",
    )
    .await;
    assert_eq!(customers.len(), fixture::CUSTOMERS.len(), "c9 never landed");
}

/// A view's recommendation id is archived with it; the schema refuses a malformed one.
#[tokio::test]
async fn archived_views_keep_their_recommendation_id() {
    use reco_core::Warehouse;
    let w = SqliteWarehouse::in_memory().expect("opens");
    let rid = "0123456789abcdef0123456789abcdef";
    w.archive_sessions(&[reco_testkit::session_with_click("clicked", Some(rid))])
        .await
        .expect("archived");
    let rows: Vec<(String, Option<String>)> = rows(
        &w,
        "SELECT item_id, recommendation_id FROM session_views ORDER BY seq",
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .await;
    assert_eq!(
        rows,
        vec![("a".into(), None), ("b".into(), Some(rid.to_string()))]
    );
    match w
        .archive_sessions(&[reco_testkit::session_with_click(
            "malformed",
            Some("NOT-HEX"),
        )])
        .await
    {
        Err(reco_core::WarehouseError::Rejected(m)) => {
            assert!(
                m.contains("recommendation_id_format") || m.contains("CHECK"),
                "{m}"
            )
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Impressions archived with their sessions give click-through per model version and
/// strategy (`recommendation_performance`).
#[tokio::test]
async fn click_through_is_counted() {
    let w = SqliteWarehouse::in_memory().expect("opens");
    reco_testkit::click_through_is_counted(&w).await;
}

/// The SQL the training contracts need beyond the `Warehouse` port.
struct Probe(SqliteWarehouse);

#[async_trait::async_trait]
impl reco_testkit::TrainingProbe for Probe {
    async fn anonymous_setting(&self) -> String {
        self.0
            .with_conn(|c| {
                c.query_row(
                    "SELECT value FROM reco_settings WHERE key = 'include_anonymous_sessions'",
                    [],
                    |r| r.get(0),
                )
                .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))
            })
            .await
            .expect("setting")
    }
    async fn set_anonymous_setting(&self, value: &str) {
        let value = value.to_string();
        self.0
            .with_conn(move |c| {
                c.execute(
                    "UPDATE reco_settings SET value = ?1 WHERE key = 'include_anonymous_sessions'",
                    [value],
                )
                .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))
            })
            .await
            .expect("switch");
    }
    async fn insert_view(&self, session_id: &str, seq: i64, item_id: &str) {
        let (session_id, item_id) = (session_id.to_string(), item_id.to_string());
        self.0
            .with_conn(move |c| {
                c.execute(
                    "INSERT INTO session_views (session_id, seq, item_id, viewed_at)
                     VALUES (?1, ?2, ?3, 1800000000000)",
                    rusqlite::params![session_id, seq, item_id],
                )
                .map_err(|e| reco_core::WarehouseError::Other(e.to_string()))
            })
            .await
            .expect("view inserted");
    }
}

/// Archived sessions, anonymous or not, come back as ordered view sequences.
#[tokio::test]
async fn archived_sessions_come_back_as_sequences() {
    let w = SqliteWarehouse::in_memory().expect("opens");
    reco_testkit::archived_sessions_come_back_as_sequences(&w, &Probe(w.clone())).await;
}

/// With the default 'auto', anonymous sessions train until the warehouse has a
/// customer: an archived session with one, a purchase or a rating.
#[tokio::test]
async fn anonymous_sessions_train_until_customers_appear() {
    use reco_testkit::CustomerSignal;
    for signal in [
        CustomerSignal::Session,
        CustomerSignal::Purchase,
        CustomerSignal::Rating,
    ] {
        let w = SqliteWarehouse::in_memory().expect("opens");
        reco_testkit::anonymous_sessions_train_until_customers_appear(
            &w,
            &Probe(w.clone()),
            signal,
        )
        .await;
    }
}

/// A file made before `auto` keeps an explicit 'true', and its 'false' (the old default)
/// becomes 'auto'.
#[test]
fn the_old_default_becomes_auto() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (before, after) in [("false", "auto"), ("true", "true")] {
        let path = dir.path().join(format!("{before}.sqlite"));
        let c = rusqlite::Connection::open(&path).expect("opens");
        c.execute_batch(
            "CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)",
        )
        .expect("migrations table");
        for (name, sql) in reco_embedded::warehouse::MIGRATIONS
            .iter()
            .take_while(|(name, _)| *name != "0005_session_sequences")
        {
            c.execute_batch(sql).expect("older migration");
            c.execute(
                "INSERT INTO schema_migrations VALUES (?1, 0)",
                rusqlite::params![name],
            )
            .expect("recorded");
        }
        c.execute(
            "UPDATE reco_settings SET value = ?1 WHERE key = 'include_anonymous_sessions'",
            [before],
        )
        .expect("set");
        drop(c);
        drop(SqliteWarehouse::open(&path).expect("migrates"));
        let value: String = rusqlite::Connection::open(&path)
            .and_then(|c| {
                c.query_row(
                    "SELECT value FROM reco_settings WHERE key = 'include_anonymous_sessions'",
                    [],
                    |r| r.get(0),
                )
            })
            .expect("setting");
        assert_eq!(value, after, "{before}");
    }
}
