//! The Data API warehouse against the emulator over real PostgreSQL, and the deadpool
//! on DynamoDB (moto) + Aurora (emulator): migrations, the training views on the
//! hand-checked fixture, constraint errors, keyset paging, archiving that loses and
//! duplicates nothing, also at 10,000 sessions in one run, the archived sessions as
//! ordered sequences, and anonymous sessions under `include_anonymous_sessions`.

use std::sync::Arc;

use aws_sdk_rdsdata::types::Field;
use reco_core::{Config, Deadpool, SessionStore, SystemClock, Warehouse, WarehouseError};
use reco_dynamodb::{create_sessions_table, DynamoSessionStore};
use reco_rdsdata::{long, text, AuroraWarehouse, Record, Target};
use reco_testkit::{fixture, run_prefix, service_env, WarehouseProbe};

/// A fresh, migrated database.
async fn warehouse() -> AuroraWarehouse {
    service_env(
        "AWS_ENDPOINT_URL_RDS_DATA",
        "the RDS Data API emulator (tools/rdsdata-emulator)",
    );
    let aws = aws_config::load_from_env().await;
    let base = AuroraWarehouse::new(
        aws_sdk_rdsdata::Client::new(&aws),
        Target::from_config(&reco_core::Config::from_env().expect("configuration"))
            .expect("RECO_RDS_* set by scripts/test"),
    );
    let rds = base
        .create_database(&format!("wh_{}", run_prefix().replace('-', "_")))
        .await
        .expect("database created");
    assert!(matches!(
        base.create_database("bad; DROP").await,
        Err(WarehouseError::Rejected(_))
    ));
    let applied = reco_rdsdata::migrate::apply(&rds).await.expect("migrates");
    assert_eq!(
        applied,
        [
            "0001_warehouse",
            "0002_roles",
            "0003_session_reuse",
            "0004_click_attribution",
            "0005_impressions",
            "0006_session_sequences"
        ]
    );
    assert!(reco_rdsdata::migrate::apply(&rds)
        .await
        .expect("idempotent")
        .is_empty());
    rds
}

async fn count(rds: &AuroraWarehouse, sql: &str) -> usize {
    let out = rds.execute(sql, vec![], None).await.expect("count");
    Record(&out.records.expect("rows")[0])
        .long(0)
        .expect("a number") as usize
}

struct Probe(AuroraWarehouse);

#[async_trait::async_trait]
impl WarehouseProbe for Probe {
    async fn session_count(&self) -> usize {
        count(&self.0, "SELECT count(*) FROM sessions").await
    }
    async fn view_count(&self) -> usize {
        count(&self.0, "SELECT count(*) FROM session_views").await
    }
    async fn views_of(&self, session_id: &str) -> Vec<String> {
        let out = self
            .0
            .execute(
                "SELECT item_id FROM session_views WHERE session_id = :id ORDER BY seq",
                vec![text("id", session_id)],
                None,
            )
            .await
            .expect("views");
        out.records
            .unwrap_or_default()
            .iter()
            .map(|r| Record(r).text(0).expect("text"))
            .collect()
    }
}

async fn sessions_table() -> (aws_sdk_dynamodb::Client, String) {
    service_env("AWS_ENDPOINT_URL_DYNAMODB", "moto server (DynamoDB)");
    let client = aws_sdk_dynamodb::Client::new(&aws_config::load_from_env().await);
    let table = format!("dp-{}", run_prefix());
    create_sessions_table(&client, &table).await.expect("table");
    (client, table)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadpool_meets_its_contract_on_dynamodb_and_aurora() {
    let rds = warehouse().await;
    let (client, table) = sessions_table().await;
    let store = Arc::new(DynamoSessionStore::new(client, table));
    reco_testkit::deadpool_contract(store.clone(), store, Arc::new(rds.clone()), &Probe(rds)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadpool_quarantines_a_refused_session_on_dynamodb_and_aurora() {
    let rds = warehouse().await;
    let (client, table) = sessions_table().await;
    let store = Arc::new(DynamoSessionStore::new(client, table));
    reco_testkit::deadpool_quarantines_what_the_warehouse_refuses(
        store.clone(),
        store,
        Arc::new(rds),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadpool_reaches_every_shard_on_dynamodb_and_aurora() {
    let rds = warehouse().await;
    let (client, table) = sessions_table().await;
    let store = Arc::new(DynamoSessionStore::new(client, table));
    reco_testkit::deadpool_reaches_every_shard(store.clone(), store, Arc::new(rds)).await;
}

/// Two runs started together on one table: one archives, the other exits at once; a
/// dead run's lease expires; a session in use is deferred, not archived.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadpool_runs_one_at_a_time_on_dynamodb_and_aurora() {
    let rds = warehouse().await;
    let (client, table) = sessions_table().await;
    let store = Arc::new(DynamoSessionStore::new(client, table));
    reco_testkit::deadpool_runs_one_at_a_time(store.clone(), store, Arc::new(rds)).await;
}

async fn load_fixture(rds: &AuroraWarehouse) {
    fixture::load(rds).await.expect("fixture loads");
}

async fn pairs(rds: &AuroraWarehouse, sql: &str) -> Vec<(String, String)> {
    let out = rds.execute(sql, vec![], None).await.expect("query");
    out.records
        .unwrap_or_default()
        .iter()
        .map(|r| {
            (
                Record(r).text(0).expect("text"),
                Record(r).text(1).expect("text"),
            )
        })
        .collect()
}

#[tokio::test]
async fn training_views_return_the_hand_checked_rows() {
    let rds = warehouse().await;
    load_fixture(&rds).await;
    let rows = |rows: Vec<reco_rdsdata::InteractionRow>| -> Vec<(String, String, f64, bool)> {
        rows.into_iter()
            .map(|r| (r.user_key, r.item_id, r.weight, r.positive))
            .collect()
    };
    assert_eq!(
        rows(rds.interactions(false).await.expect("read")),
        fixture::interactions(false)
    );
    rds.execute(
        "UPDATE reco_settings SET value = :v WHERE key = 'include_anonymous_sessions'",
        vec![text("v", "true")],
        None,
    )
    .await
    .expect("switch");
    assert_eq!(
        rows(rds.interactions(false).await.expect("read")),
        fixture::interactions(true)
    );
    assert_eq!(
        pairs(
            &rds,
            "SELECT user_key, feature FROM user_features ORDER BY 1, 2"
        )
        .await,
        fixture::user_features(fixture::current_year())
    );
    assert_eq!(
        pairs(
            &rds,
            "SELECT item_id, feature FROM item_features ORDER BY 1, 2"
        )
        .await,
        fixture::item_features()
    );
    assert!(
        rds.interactions(true).await.expect("read").is_empty(),
        "not refreshed yet"
    );
    rds.refresh_materialized().await.expect("refresh");
    assert_eq!(
        rows(rds.interactions(true).await.expect("read")),
        fixture::interactions(true)
    );
    let last = rds.interactions(false).await.expect("read");
    assert!(
        last.iter().all(|r| r.last_at.millis() == 1_800_000_000_000),
        "{last:?}"
    );
}

#[tokio::test]
async fn constraint_violations_say_why_and_keep_nothing() {
    let rds = warehouse().await;
    let cases = [
        (
            "INSERT INTO ratings VALUES ('c9', 'i1', :v, now())",
            long("v", 6),
            "rating_between_1_and_5",
        ),
        (
            "INSERT INTO purchases VALUES ('p9', 'c1', 'i1', :v, now())",
            long("v", -1),
            "quantity_positive",
        ),
        (
            "INSERT INTO items (item_id) VALUES (:v)",
            text("v", ""),
            "item_id_not_empty",
        ),
        (
            "INSERT INTO customers (customer_id, gender) VALUES ('c9', :v)",
            text("v", "Q"),
            "gender_is_f_m_or_x",
        ),
    ];
    for (sql, param, constraint) in cases {
        match rds.execute(sql, vec![param], None).await {
            Err(WarehouseError::Rejected(m)) => assert!(m.contains(constraint), "{sql}: {m}"),
            other => panic!("{sql}: expected a rejection, got {other:?}"),
        }
    }
    // A session batch with one bad row commits nothing.
    let good = reco_core::SessionDoc {
        session_id: "ok".into(),
        customer_id: None,
        is_active: false,
        session_start: reco_core::Timestamp(0),
        last_update: reco_core::Timestamp(0),
        items_viewed: vec![reco_core::View {
            item_id: "i".into(),
            viewed_at: reco_core::Timestamp(0),
            recommendation_id: None,
        }],
        view_count: 1,
        impressions: Vec::new(),
        expires_at: None,
    };
    let bad = reco_core::SessionDoc {
        session_id: "bad".into(),
        items_viewed: vec![reco_core::View {
            item_id: String::new(),
            viewed_at: reco_core::Timestamp(0),
            recommendation_id: None,
        }],
        ..good.clone()
    };
    assert!(matches!(
        rds.archive_sessions(&[good, bad]).await,
        Err(WarehouseError::Rejected(_))
    ));
    assert_eq!(count(&rds, "SELECT count(*) FROM sessions").await, 0);
}

#[tokio::test]
async fn reads_page_through_more_rows_than_one_page() {
    let rds = warehouse().await;
    let n = reco_rdsdata::PAGE_ROWS + 321;
    let sets: Vec<_> = (0..n)
        .map(|i| {
            vec![
                text("c", &format!("c{:05}", i % 97)),
                text("i", &format!("i{i:05}")),
                long("r", 1 + (i % 5) as i64),
            ]
        })
        .collect();
    rds.batch("INSERT INTO ratings VALUES (:c, :i, :r, now())", sets, None)
        .await
        .expect("ratings");
    let rows = rds.interactions(false).await.expect("read");
    assert_eq!(rows.len(), n);
    let mut keys: Vec<_> = rows
        .iter()
        .map(|r| (r.user_key.clone(), r.item_id.clone()))
        .collect();
    keys.dedup();
    assert_eq!(keys.len(), n, "no row read twice");
    assert_eq!(
        rows.iter().filter(|r| r.positive).count(),
        (0..n).filter(|i| i % 5 >= 3).count()
    );
}

/// 10,000 sessions archived in one run, none lost or duplicated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_sessions_in_one_run() {
    let rds = warehouse().await;
    let (client, table) = sessions_table().await;
    let store = Arc::new(DynamoSessionStore::new(client, table));
    let config = Config {
        deadpool_batch: 500,
        ..Config::default()
    };
    let old = reco_core::Timestamp(reco_core::Clock::now(&SystemClock).millis() - 7_200_000);
    let n = 10_000;
    let mut tasks = tokio::task::JoinSet::new();
    for chunk in 0..8 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            for i in (chunk..n).step_by(8) {
                let sid = format!("bulk-{i}");
                let views = [reco_core::View {
                    item_id: format!("item-{}", i % 50),
                    viewed_at: old,
                    recommendation_id: None,
                }];
                store
                    .append(reco_core::ports::AppendRequest {
                        session_id: &sid,
                        customer_id: None,
                        views: &views,
                        now: old,
                        max_views: 500,
                        added_bytes: reco_core::sessions::request_bytes(&views),
                        max_bytes: reco_core::sessions::SESSION_BYTES_BUDGET,
                        active_shard: reco_core::sessions::shard_of(&sid, 8),
                        impressions: &[],
                        added_impression_bytes: 0,
                        max_impression_bytes: reco_core::sessions::IMPRESSION_BYTES_BUDGET,
                    })
                    .await
                    .expect("seeded");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("seeding task");
    }
    let deadpool = Deadpool::new(
        store.clone(),
        store.clone(),
        Arc::new(rds.clone()),
        Arc::new(SystemClock),
        &config,
    );
    let report = deadpool.run(None).await;
    assert_eq!(
        (report.archived, report.raced, report.failed),
        (n, 0, 0),
        "{report:?}"
    );
    assert_eq!(count(&rds, "SELECT count(*) FROM sessions").await, n);
    assert_eq!(count(&rds, "SELECT count(*) FROM session_views").await, n);
    assert!(
        !store
            .get("bulk-9999")
            .await
            .expect("read")
            .expect("kept")
            .is_active
    );
    let out = rds
        .execute(
            "SELECT count(DISTINCT session_id) FROM session_views",
            vec![],
            None,
        )
        .await
        .expect("q");
    assert_eq!(out.records.expect("rows")[0][0], Field::LongValue(n as i64));
}

#[tokio::test]
async fn a_reused_session_id_does_not_overwrite_the_archived_session() {
    let rds = warehouse().await;
    reco_testkit::warehouse_keeps_a_reused_session_id_apart(&rds, &Probe(rds.clone())).await;
}

/// Runs `sql` as `role` (SET LOCAL ROLE in a transaction, rolled back): Ok, or the
/// database's refusal.
async fn as_role(rds: &AuroraWarehouse, role: &str, sql: &str) -> Result<(), String> {
    let tx = rds.begin().await.expect("begin");
    rds.execute(&format!("SET LOCAL ROLE {role}"), Vec::new(), Some(&tx))
        .await
        .expect("set role");
    let result = rds
        .execute(sql, Vec::new(), Some(&tx))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    rds.rollback(&tx).await;
    result
}

/// The functions' database roles hold exactly the grants their code needs.
#[tokio::test]
async fn function_roles_hold_only_what_they_need() {
    let rds = warehouse().await;
    let session = "INSERT INTO sessions (session_id, session_start, last_update, view_count)
                   VALUES ('s-role', now(), now(), 1)
                   ON CONFLICT (session_id) DO UPDATE SET view_count = EXCLUDED.view_count";
    // The deadpool archives sessions and views...
    as_role(&rds, "reco_deadpool", session)
        .await
        .expect("deadpool upserts sessions");
    as_role(
        &rds,
        "reco_deadpool",
        "WITH s AS (INSERT INTO sessions (session_id, session_start, last_update, view_count)
                    VALUES ('s-role-2', now(), now(), 0) RETURNING session_id)
         INSERT INTO session_impressions
         SELECT session_id, 0, 0, '0123456789abcdef0123456789abcdef', 'v1', 'popular', 'i', now()
         FROM s
         ON CONFLICT (session_id, seq, list_position) DO UPDATE SET item_id = EXCLUDED.item_id",
    )
    .await
    .expect("deadpool upserts impressions");
    // ...and can do nothing else.
    for sql in [
        "DELETE FROM sessions",
        "DELETE FROM session_impressions",
        "SELECT * FROM recommendation_performance",
        "SELECT * FROM customers",
        "INSERT INTO ratings VALUES ('c', 'i', 5, now())",
        "REFRESH MATERIALIZED VIEW training_interactions_materialized",
        "DROP TABLE session_views",
    ] {
        let e = as_role(&rds, "reco_deadpool", sql)
            .await
            .expect_err("refused to the deadpool");
        assert!(
            e.contains("permission") || e.contains("owner"),
            "{sql}: {e}"
        );
    }
    // Training reads the training set and refreshes its materialized copy...
    for sql in [
        "SELECT * FROM training_interactions",
        "SELECT * FROM training_sessions",
        "SELECT * FROM user_features",
        "SELECT * FROM item_features",
        "SELECT * FROM recommendation_performance",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY training_interactions_materialized",
    ] {
        as_role(&rds, "reco_train", sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    // ...and writes nothing.
    for sql in [
        session,
        "DELETE FROM ratings",
        "UPDATE customers SET region = 'x'",
    ] {
        let e = as_role(&rds, "reco_train", sql)
            .await
            .expect_err("refused to training");
        assert!(e.contains("permission"), "{sql}: {e}");
    }
    // Passwords are set for the functions' roles only.
    reco_rdsdata::migrate::set_role_password(&rds, "reco_train", "a-long-password-with-a-' quote")
        .await
        .expect("password set");
    let refused =
        reco_rdsdata::migrate::set_role_password(&rds, "postgres", "a-long-password-12345")
            .await
            .expect_err("not a function's role");
    assert!(
        refused
            .to_string()
            .contains("not one of the functions' roles"),
        "{refused}"
    );
    let refused = reco_rdsdata::migrate::set_role_password(&rds, "reco_train", "short")
        .await
        .expect_err("too short");
    assert!(refused.to_string().contains("16 or more"), "{refused}");
}

/// A view's recommendation id is archived with it; the schema refuses a malformed one.
#[tokio::test]
async fn archived_views_keep_their_recommendation_id() {
    let rds = warehouse().await;
    let rid = "0123456789abcdef0123456789abcdef";
    rds.archive_sessions(&[reco_testkit::session_with_click("clicked", Some(rid))])
        .await
        .expect("archived");
    let out = rds
        .execute(
            "SELECT item_id, recommendation_id FROM session_views WHERE session_id = :id ORDER BY seq",
            vec![text("id", "clicked")],
            None,
        )
        .await
        .expect("views");
    let rows: Vec<(String, Option<String>)> = out
        .records
        .unwrap_or_default()
        .iter()
        .map(|r| (Record(r).text(0).expect("text"), Record(r).text(1).ok()))
        .collect();
    assert_eq!(
        rows,
        vec![("a".into(), None), ("b".into(), Some(rid.to_string()))]
    );
    match rds
        .archive_sessions(&[reco_testkit::session_with_click(
            "malformed",
            Some("NOT-HEX"),
        )])
        .await
    {
        Err(WarehouseError::Rejected(m)) => assert!(m.contains("recommendation_id_format"), "{m}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(
        count(
            &rds,
            "SELECT count(*) FROM sessions WHERE session_id = 'malformed'"
        )
        .await,
        0
    );
}

/// Impressions archived with their sessions give click-through per model version and
/// strategy (`recommendation_performance`), through the Data API.
#[tokio::test]
async fn click_through_is_counted() {
    let rds = warehouse().await;
    reco_testkit::click_through_is_counted(&rds).await;
}

#[async_trait::async_trait]
impl reco_testkit::TrainingProbe for Probe {
    async fn anonymous_setting(&self) -> String {
        let out = self
            .0
            .execute(
                "SELECT value FROM reco_settings WHERE key = 'include_anonymous_sessions'",
                vec![],
                None,
            )
            .await
            .expect("setting");
        Record(&out.records.expect("rows")[0])
            .text(0)
            .expect("text")
    }
    async fn set_anonymous_setting(&self, value: &str) {
        self.0
            .execute(
                "UPDATE reco_settings SET value = :v WHERE key = 'include_anonymous_sessions'",
                vec![text("v", value)],
                None,
            )
            .await
            .expect("switch");
    }
    async fn insert_view(&self, session_id: &str, seq: i64, item_id: &str) {
        self.0
            .execute(
                "INSERT INTO session_views (session_id, seq, item_id, viewed_at)
                 VALUES (:id, :seq, :item, :at)",
                vec![
                    text("id", session_id),
                    long("seq", seq),
                    text("item", item_id),
                    reco_rdsdata::timestamp("at", reco_core::Timestamp(1_800_000_000_000)),
                ],
                None,
            )
            .await
            .expect("view inserted");
    }
}

/// Archived sessions, anonymous or not, come back as ordered view sequences.
#[tokio::test]
async fn archived_sessions_come_back_as_sequences() {
    let rds = warehouse().await;
    reco_testkit::archived_sessions_come_back_as_sequences(&rds, &Probe(rds.clone())).await;
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
        let rds = warehouse().await;
        reco_testkit::anonymous_sessions_train_until_customers_appear(
            &rds,
            &Probe(rds.clone()),
            signal,
        )
        .await;
    }
}

/// More sessions than asked for, and more views than one page: the newest `max` come
/// back, oldest first, each whole and in order, also a session whose views span two
/// pages and whose start carries microseconds; sessions without views do not count.
#[tokio::test]
async fn session_sequences_page_and_keep_the_newest() {
    let rds = warehouse().await;
    let page = reco_rdsdata::PAGE_ROWS;
    // s<i> start i ms after 08:00, three views each, generated in the database.
    let generated = page;
    rds.execute(
        "INSERT INTO sessions (session_id, session_start, last_update, view_count)
         SELECT 's' || lpad(i::text, 7, '0'),
                timestamptz '2027-01-15 08:00:00+00' + i * interval '1 millisecond', now(), 3
         FROM generate_series(0, :n - 1) AS i",
        vec![long("n", generated as i64)],
        None,
    )
    .await
    .expect("sessions");
    rds.execute(
        "INSERT INTO session_views (session_id, seq, item_id, viewed_at)
         SELECT 's' || lpad(i::text, 7, '0'), seq, 'i' || ((i + seq) % 1000), now()
         FROM generate_series(0, :n - 1) AS i, generate_series(0, 2) AS seq",
        vec![long("n", generated as i64)],
        None,
    )
    .await
    .expect("views");
    // Then, at microsecond-precise starts: u-0 (two views), u-a and u-b sharing one
    // start (u-a's views stored out of order), and u-empty, newest, without views.
    rds.execute(
        "INSERT INTO sessions (session_id, session_start, last_update, view_count) VALUES
             ('u-0', timestamptz '2027-01-15 09:00:00.000001+00', now(), 2),
             ('u-a', timestamptz '2027-01-15 09:00:00.000002+00', now(), 2),
             ('u-b', timestamptz '2027-01-15 09:00:00.000002+00', now(), 1),
             ('u-empty', timestamptz '2027-01-15 10:00:00+00', now(), 0)",
        vec![],
        None,
    )
    .await
    .expect("later sessions");
    rds.execute(
        "INSERT INTO session_views (session_id, seq, item_id, viewed_at) VALUES
             ('u-0', 0, 'first', now()), ('u-0', 1, 'second', now()),
             ('u-a', 1, 'late', now()), ('u-a', 0, 'early', now()), ('u-b', 0, 'only', now())",
        vec![],
        None,
    )
    .await
    .expect("their views");
    // The newest page + 2: u-0, u-a, u-b and the page - 1 newest generated, s1.. (s0
    // left out). Before u-a come 3 (page - 1) + 2 views, so u-a's first view ends the
    // third page and its second begins the fourth.
    let max = page + 2;
    let sessions = rds.sessions(max).await.expect("read");
    assert_eq!(sessions.len(), max);
    for (k, s) in sessions[..max - 3].iter().enumerate() {
        let i = k + 1;
        assert_eq!(s.session_id, format!("s{i:07}"));
        let items: Vec<String> = (0..3).map(|seq| format!("i{}", (i + seq) % 1000)).collect();
        assert_eq!(s.items, items, "{}", s.session_id);
    }
    let newest: Vec<(&str, Vec<&str>)> = sessions[max - 3..]
        .iter()
        .map(|s| {
            (
                s.session_id.as_str(),
                s.items.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        newest,
        vec![
            ("u-0", vec!["first", "second"]),
            ("u-a", vec!["early", "late"]),
            ("u-b", vec!["only"])
        ]
    );
    // Asked for more than there are: all of them; for none: none.
    let all = rds.sessions(usize::MAX).await.expect("read");
    assert_eq!(all.len(), generated + 3);
    assert_eq!(all[0].session_id, "s0000000");
    assert!(rds.sessions(0).await.expect("read").is_empty());
}
