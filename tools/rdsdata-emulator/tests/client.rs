//! The emulator through the real `aws-sdk-rdsdata` client (found via
//! AWS_ENDPOINT_URL_RDS_DATA, as scripts/test sets it) and real PostgreSQL.

use aws_sdk_rdsdata::error::ProvideErrorMetadata;
use aws_sdk_rdsdata::types::{Field, RecordsFormatType, SqlParameter, TypeHint};
use aws_sdk_rdsdata::Client;
use reco_testkit::{run_prefix, service_env};

const ARN: &str = "arn:aws:rds:us-east-1:123456789012:cluster:test";
const SECRET: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:test";

async fn client() -> Client {
    service_env(
        "AWS_ENDPOINT_URL_RDS_DATA",
        "the RDS Data API emulator (tools/rdsdata-emulator)",
    );
    Client::new(&aws_config::load_from_env().await)
}

/// A fresh database for one test.
async fn database(c: &Client) -> String {
    let name = format!("emu_{}", run_prefix().replace('-', "_"));
    c.execute_statement()
        .resource_arn(ARN)
        .secret_arn(SECRET)
        .database("postgres")
        .sql(format!("CREATE DATABASE {name}"))
        .send()
        .await
        .expect("database created");
    name
}

async fn exec(
    c: &Client,
    db: &str,
    sql: &str,
    params: Vec<SqlParameter>,
) -> aws_sdk_rdsdata::operation::execute_statement::ExecuteStatementOutput {
    c.execute_statement()
        .resource_arn(ARN)
        .secret_arn(SECRET)
        .database(db)
        .sql(sql)
        .set_parameters(Some(params))
        .send()
        .await
        .unwrap_or_else(|e| panic!("{sql}: {}", aws_sdk_rdsdata::error::DisplayErrorContext(&e)))
}

fn p(name: &str, value: Field) -> SqlParameter {
    SqlParameter::builder().name(name).value(value).build()
}

#[tokio::test]
async fn typed_records_metadata_and_json_format() {
    let c = client().await;
    let db = database(&c).await;
    exec(
        &c,
        &db,
        "CREATE TABLE t (id int4 PRIMARY KEY, big int8, name text, price numeric(8,2), ok bool,
                         at timestamptz, day date, score float8, raw bytea, nothing text)",
        vec![],
    )
    .await;
    let inserted = exec(
        &c,
        &db,
        "INSERT INTO t VALUES (:id, :big, :name, :price, :ok, :at, :day, :score, :raw, :nothing)",
        vec![
            p("id", Field::LongValue(1)),
            p("big", Field::LongValue(9_000_000_000)),
            p("name", Field::StringValue("it's :here".into())),
            SqlParameter::builder()
                .name("price")
                .value(Field::StringValue("12.50".into()))
                .type_hint(TypeHint::Decimal)
                .build(),
            p("ok", Field::BooleanValue(true)),
            SqlParameter::builder()
                .name("at")
                .value(Field::StringValue("2026-11-26 10:00:00.250".into()))
                .type_hint(TypeHint::Timestamp)
                .build(),
            SqlParameter::builder()
                .name("day")
                .value(Field::StringValue("2026-11-26".into()))
                .type_hint(TypeHint::Date)
                .build(),
            p("score", Field::DoubleValue(0.5)),
            p(
                "raw",
                Field::BlobValue(aws_sdk_rdsdata::primitives::Blob::new(vec![1u8, 2, 255])),
            ),
            p("nothing", Field::IsNull(true)),
        ],
    )
    .await;
    assert_eq!(inserted.number_of_records_updated, 1);

    let out = c
        .execute_statement()
        .resource_arn(ARN)
        .secret_arn(SECRET)
        .database(&db)
        .sql("SELECT id, big, name, price, ok, at, day, score, raw, nothing FROM t WHERE id = :id")
        .parameters(p("id", Field::LongValue(1)))
        .include_result_metadata(true)
        .send()
        .await
        .expect("select");
    let records = out.records.expect("records");
    let row = &records[0];
    assert_eq!(row[0], Field::LongValue(1));
    assert_eq!(row[1], Field::LongValue(9_000_000_000));
    assert_eq!(row[2], Field::StringValue("it's :here".into()));
    assert_eq!(row[3], Field::StringValue("12.50".into()));
    assert_eq!(row[4], Field::BooleanValue(true));
    assert_eq!(row[5], Field::StringValue("2026-11-26 10:00:00.25".into()));
    assert_eq!(row[6], Field::StringValue("2026-11-26".into()));
    assert_eq!(row[7], Field::DoubleValue(0.5));
    assert_eq!(
        row[8],
        Field::BlobValue(aws_sdk_rdsdata::primitives::Blob::new(vec![1u8, 2, 255]))
    );
    assert_eq!(row[9], Field::IsNull(true));
    let meta = out.column_metadata.expect("metadata");
    let names: Vec<&str> = meta.iter().map(|m| m.name().unwrap_or("")).collect();
    assert_eq!(
        names,
        ["id", "big", "name", "price", "ok", "at", "day", "score", "raw", "nothing"]
    );
    assert_eq!(meta[0].type_name(), Some("int4"));
    assert_eq!(meta[0].r#type(), 4);
    assert_eq!(meta[4].r#type(), -7);
    assert_eq!(meta[5].type_name(), Some("timestamptz"));

    let json = c
        .execute_statement()
        .resource_arn(ARN)
        .secret_arn(SECRET)
        .database(&db)
        .sql("SELECT id, name, ok, nothing FROM t")
        .format_records_as(RecordsFormatType::Json)
        .send()
        .await
        .expect("select as JSON");
    assert!(json.records.is_none());
    let parsed: serde_json::Value =
        serde_json::from_str(json.formatted_records().expect("formatted")).expect("JSON");
    assert_eq!(
        parsed,
        serde_json::json!([{"id": 1, "name": "it's :here", "ok": true, "nothing": null}])
    );
}

#[tokio::test]
async fn batches_and_transactions() {
    let c = client().await;
    let db = database(&c).await;
    exec(
        &c,
        &db,
        "CREATE TABLE k (id int8 PRIMARY KEY, v text NOT NULL)",
        vec![],
    )
    .await;
    let sets: Vec<Vec<SqlParameter>> = (0..50)
        .map(|i| {
            vec![
                p("id", Field::LongValue(i)),
                p("v", Field::StringValue(format!("v{i}"))),
            ]
        })
        .collect();
    let out = c
        .batch_execute_statement()
        .resource_arn(ARN)
        .secret_arn(SECRET)
        .database(&db)
        .sql("INSERT INTO k VALUES (:id, :v)")
        .set_parameter_sets(Some(sets))
        .send()
        .await
        .expect("batch");
    assert_eq!(out.update_results().len(), 50);

    // A failing batch outside a transaction writes nothing.
    let bad: Vec<Vec<SqlParameter>> = vec![
        vec![
            p("id", Field::LongValue(100)),
            p("v", Field::StringValue("ok".into())),
        ],
        vec![
            p("id", Field::LongValue(1)),
            p("v", Field::StringValue("duplicate".into())),
        ],
    ];
    let e = c
        .batch_execute_statement()
        .resource_arn(ARN)
        .secret_arn(SECRET)
        .database(&db)
        .sql("INSERT INTO k VALUES (:id, :v)")
        .set_parameter_sets(Some(bad))
        .send()
        .await
        .expect_err("duplicate key refused");
    assert_eq!(e.code(), Some("DatabaseErrorException"));
    assert!(
        e.message().unwrap_or("").contains("duplicate key"),
        "{:?}",
        e.message()
    );

    let count = |c: Client, db: String| async move {
        match &exec(&c, &db, "SELECT count(*) FROM k", vec![])
            .await
            .records
            .expect("rows")[0][0]
        {
            Field::LongValue(n) => *n,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(count(c.clone(), db.clone()).await, 50);

    for (commit, expected) in [(false, 50), (true, 51)] {
        let tx = c
            .begin_transaction()
            .resource_arn(ARN)
            .secret_arn(SECRET)
            .database(&db)
            .send()
            .await
            .expect("begin")
            .transaction_id
            .expect("id");
        c.execute_statement()
            .resource_arn(ARN)
            .secret_arn(SECRET)
            .database(&db)
            .transaction_id(&tx)
            .sql("INSERT INTO k VALUES (500, 'in tx')")
            .send()
            .await
            .expect("insert in tx");
        assert_eq!(
            count(c.clone(), db.clone()).await,
            50,
            "not visible before the end"
        );
        if commit {
            let out = c
                .commit_transaction()
                .resource_arn(ARN)
                .secret_arn(SECRET)
                .transaction_id(&tx)
                .send()
                .await
                .expect("commit");
            assert_eq!(out.transaction_status(), Some("Transaction Committed"));
        } else {
            let out = c
                .rollback_transaction()
                .resource_arn(ARN)
                .secret_arn(SECRET)
                .transaction_id(&tx)
                .send()
                .await
                .expect("rollback");
            assert_eq!(out.transaction_status(), Some("Rollback Complete"));
        }
        assert_eq!(count(c.clone(), db.clone()).await, expected);
        let e = c
            .commit_transaction()
            .resource_arn(ARN)
            .secret_arn(SECRET)
            .transaction_id(&tx)
            .send()
            .await
            .expect_err("ended transactions are gone");
        assert_eq!(e.code(), Some("TransactionNotFoundException"));
    }
}

#[tokio::test]
async fn errors_have_the_service_shapes() {
    let c = client().await;
    let db = database(&c).await;
    exec(
        &c,
        &db,
        "CREATE TABLE r (x int CONSTRAINT x_small CHECK (x < 10), at timestamptz)",
        vec![],
    )
    .await;
    let send = |sql: &'static str, params: Vec<SqlParameter>| {
        c.execute_statement()
            .resource_arn(ARN)
            .secret_arn(SECRET)
            .database(&db)
            .sql(sql)
            .set_parameters(Some(params))
            .send()
    };
    let e = send(
        "INSERT INTO r (x) VALUES (:x)",
        vec![p("x", Field::LongValue(11))],
    )
    .await
    .expect_err("check");
    assert_eq!(e.code(), Some("DatabaseErrorException"));
    assert!(
        e.message().unwrap_or("").contains("x_small"),
        "{:?}",
        e.message()
    );
    assert!(
        e.message().unwrap_or("").contains("SQLState: 23514"),
        "{:?}",
        e.message()
    );
    let e = send("SELECT :missing", vec![]).await.expect_err("no value");
    assert_eq!(e.code(), Some("BadRequestException"));
    // A plain string is varchar: a timestamp column needs the TIMESTAMP hint.
    let e = send(
        "INSERT INTO r (at) VALUES (:at)",
        vec![p("at", Field::StringValue("2026-01-01 00:00:00".into()))],
    )
    .await
    .expect_err("varchar into timestamptz");
    assert_eq!(e.code(), Some("DatabaseErrorException"));
    let e = send("SELECT repeat('x', 2000000)", vec![])
        .await
        .expect_err("too large");
    assert_eq!(e.code(), Some("BadRequestException"));
    assert!(e.message().unwrap_or("").contains("response size limit"));
    let e = c
        .execute_statement()
        .resource_arn(ARN)
        .secret_arn(SECRET)
        .database("no_such_database_here")
        .sql("SELECT 1")
        .send()
        .await
        .expect_err("unknown database");
    assert_eq!(e.code(), Some("DatabaseNotFoundException"));
    let e = c
        .execute_statement()
        .resource_arn(ARN)
        .secret_arn(SECRET)
        .database(&db)
        .transaction_id("not-a-transaction")
        .sql("SELECT 1")
        .send()
        .await
        .expect_err("unknown transaction");
    assert_eq!(e.code(), Some("TransactionNotFoundException"));
}
