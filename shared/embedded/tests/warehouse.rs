//! The SQLite warehouse: training views on the hand-checked fixture, the materialized
//! variant, and constraint violations that say what is wrong.

use reco_embedded::SqliteWarehouse;
use reco_testkit::fixture;
use rusqlite::params;

async fn loaded() -> SqliteWarehouse {
    let w = SqliteWarehouse::in_memory().expect("opens");
    w.with_conn(|c| {
        let e = |e: rusqlite::Error| reco_core::WarehouseError::Other(e.to_string());
        for (id, year, gender, region) in fixture::CUSTOMERS {
            c.execute(
                "INSERT INTO customers (customer_id, birth_year, gender, region) VALUES (?1, ?2, ?3, ?4)",
                params![id, year, gender, region],
            )
            .map_err(e)?;
        }
        for (id, category, brand, price, tags) in fixture::ITEMS {
            c.execute(
                "INSERT INTO items (item_id, category, brand, price, tags) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, category, brand, price, tags],
            )
            .map_err(e)?;
        }
        for (id, customer, item, qty) in fixture::PURCHASES {
            c.execute(
                "INSERT INTO purchases VALUES (?1, ?2, ?3, ?4, 1000)",
                params![id, customer, item, qty],
            )
            .map_err(e)?;
        }
        for (customer, item, rating) in fixture::RATINGS {
            c.execute("INSERT INTO ratings VALUES (?1, ?2, ?3, 2000)", params![customer, item, rating])
                .map_err(e)?;
        }
        for (sid, customer, items) in fixture::SESSIONS {
            c.execute(
                "INSERT INTO sessions (session_id, customer_id, session_start, last_update, view_count)
                 VALUES (?1, ?2, 0, 3000, ?3)",
                params![sid, customer, items.len()],
            )
            .map_err(e)?;
            for (seq, item) in items.iter().enumerate() {
                c.execute(
                    "INSERT INTO session_views (session_id, seq, item_id, viewed_at) VALUES (?1, ?2, ?3, ?4)",
                    params![sid, seq, item, 3000 + seq as i64],
                )
                .map_err(e)?;
            }
        }
        Ok(())
    })
    .await
    .expect("fixture loads");
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

#[tokio::test]
async fn constraint_violations_say_why() {
    let w = loaded().await;
    let cases = [
        (
            "INSERT INTO ratings VALUES ('c9', 'i1', 6, 0)",
            "rating_between_1_and_5",
        ),
        (
            "INSERT INTO purchases VALUES ('p9', 'c1', 'i1', -1, 0)",
            "quantity_positive",
        ),
        (
            "INSERT INTO items (item_id) VALUES ('')",
            "item_id_not_empty",
        ),
        (
            "INSERT INTO customers (customer_id, gender) VALUES ('c9', 'Q')",
            "gender_is_f_m_or_x",
        ),
        (
            "INSERT INTO items (item_id, price) VALUES ('i9', -3)",
            "price_not_negative",
        ),
    ];
    for (sql, constraint) in cases {
        let e = w
            .with_conn(move |c| {
                c.execute(sql, [])
                    .map_err(|e| reco_core::WarehouseError::Rejected(e.to_string()))
            })
            .await
            .expect_err("refused");
        assert!(e.to_string().contains(constraint), "{sql}: {e}");
    }
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
