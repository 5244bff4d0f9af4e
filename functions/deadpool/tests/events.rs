//! Every sample event in events/deadpool goes through the handler against moto
//! (DynamoDB) and the Data API emulator (Aurora), archiving idle sessions.

use std::time::{SystemTime, UNIX_EPOCH};

use lambda_runtime::{Context, LambdaEvent};
use reco_core::ports::AppendRequest;
use reco_core::{Config, SessionStore, Timestamp, View};
use reco_dynamodb::{create_sessions_table, DynamoSessionStore};
use reco_rdsdata::{text, AuroraWarehouse, Record, Target};
use reco_testkit::{run_prefix, service_env};

const EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/deadpool");

#[tokio::test]
async fn scheduled_events_archive_idle_sessions() {
    service_env("AWS_ENDPOINT_URL_DYNAMODB", "moto server (DynamoDB)");
    service_env("AWS_ENDPOINT_URL_RDS_DATA", "the RDS Data API emulator");
    let aws = aws_config::load_from_env().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let table = format!("deadpool-{}", run_prefix());
    create_sessions_table(&dynamodb, &table)
        .await
        .expect("table");
    let config = Config {
        sessions_table: table.clone(),
        ..Config::default()
    };
    // The `reco` database scripts/test migrated with `reco migrate --rds-data`.
    let target = Target::from_config(&reco_core::Config::from_env().expect("configuration"))
        .expect("RECO_RDS_* set by scripts/test");
    let rdsdata = aws_sdk_rdsdata::Client::new(&aws);
    let deadpool = deadpool::build(&config, dynamodb.clone(), rdsdata.clone(), target.clone());

    let store = DynamoSessionStore::new(dynamodb, table);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64;
    let idle = Timestamp(now_ms - 2 * 3_600_000);
    let prefix = run_prefix();
    let mut files: Vec<_> = std::fs::read_dir(EVENTS)
        .expect("events dir")
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for (n, file) in files.iter().enumerate() {
        let sids: Vec<String> = (0..5).map(|i| format!("{prefix}-{n}-{i}")).collect();
        for sid in &sids {
            let views = [View {
                item_id: "sku-1".into(),
                viewed_at: idle,
                recommendation_id: None,
            }];
            store
                .append(AppendRequest {
                    session_id: sid,
                    customer_id: Some("c-1"),
                    views: &views,
                    now: idle,
                    max_views: 500,
                    added_bytes: reco_core::sessions::request_bytes(&views),
                    max_bytes: reco_core::sessions::SESSION_BYTES_BUDGET,
                    active_shard: reco_core::sessions::shard_of(sid, config.active_shards),
                    impressions: &[],
                    added_impression_bytes: 0,
                    max_impression_bytes: reco_core::sessions::IMPRESSION_BYTES_BUDGET,
                })
                .await
                .expect("seeded");
        }
        let payload: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).expect("readable"))
                .expect("JSON event");
        let mut context = Context::default();
        context.deadline = (now_ms + 60_000) as u64;
        let out = deadpool::handle(&deadpool, LambdaEvent::new(payload, context))
            .await
            .expect("handled");
        assert!(
            out["archived"].as_u64().expect("count") >= 5,
            "{}: {out}",
            file.display()
        );
        assert_eq!(out["failed"], 0);
        for sid in &sids {
            assert!(!store.get(sid).await.expect("read").expect("kept").is_active);
        }
        let rds = AuroraWarehouse::new(rdsdata.clone(), target.clone());
        let found = rds
            .execute(
                "SELECT count(*) FROM sessions WHERE session_id LIKE :p",
                vec![text("p", &format!("{prefix}-{n}-%"))],
                None,
            )
            .await
            .expect("count");
        assert_eq!(
            Record(&found.records.expect("rows")[0]).long(0).expect("n"),
            5
        );
    }
}

/// template.yaml grants this function exactly the AWS actions its code calls.
#[test]
fn policy_allows_exactly_what_the_code_calls() {
    reco_testkit::iam::assert_policy_allows_exactly("DeadpoolFunction", &deadpool::iam_actions());
}
