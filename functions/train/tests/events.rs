//! Every step event in events/train through the handler against the real services:
//! train on a shop imported into Aurora (Data API emulator), publish to S3 (moto),
//! warm Redis, and refuse a rollback with nothing to roll back to.

mod shop;

use lambda_runtime::{Context, LambdaEvent};
use reco_core::{ArtifactStore, EmbeddingCache};
use reco_rdsdata::{AuroraWarehouse, Target};
use reco_testkit::{run_prefix, service_env};
use serde_json::Value;

const EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/train");

fn event(name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{EVENTS}/{name}")).expect("readable"))
        .expect("JSON")
}

fn invocation(payload: Value) -> LambdaEvent<Value> {
    let mut context = Context::default();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    context.deadline = now + 900_000;
    LambdaEvent::new(payload, context)
}

#[tokio::test]
async fn each_step_event_runs_against_the_services() {
    service_env("AWS_ENDPOINT_URL_RDS_DATA", "the RDS Data API emulator");
    service_env("AWS_ENDPOINT_URL_S3", "moto server (S3)");
    let redis_url = service_env("RECO_TEST_REDIS_URL", "Redis");
    let aws = aws_config::load_from_env().await;
    let base = AuroraWarehouse::new(
        aws_sdk_rdsdata::Client::new(&aws),
        Target::from_config(&reco_core::Config::from_env().expect("configuration"))
            .expect("RECO_RDS_* set by scripts/test"),
    );
    let warehouse = base
        .create_database(&format!("train_{}", run_prefix().replace('-', "_")))
        .await
        .expect("database");
    reco_rdsdata::migrate::apply(&warehouse)
        .await
        .expect("migrated");
    let dir = tempfile::tempdir().expect("temp dir");
    let batch = reco_pipeline::import::read_files(&shop::write_shop(dir.path())).expect("shop");
    reco_core::Warehouse::load(&warehouse, &batch)
        .await
        .expect("imported");
    let s3 = reco_s3::client(&aws, true);
    let bucket = format!("train-{}", run_prefix());
    s3.create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("bucket");
    let redis = reco_redis::RedisCache::connect(&redis_url)
        .await
        .expect("redis");
    let store = reco_s3::S3ArtifactStore::new(s3, bucket, "reco");
    let steps = train::Steps {
        warehouse: Ok(Box::new(warehouse.clone())),
        artifacts: Box::new(store.clone()),
        cache: Some(Box::new(
            reco_redis::RedisCache::connect(&redis_url)
                .await
                .expect("redis"),
        )),
        cache_namespace: run_prefix(),
    };

    // Nothing published yet: rollback and warm refuse.
    for step in ["rollback.json", "warm.json"] {
        let e = train::handle(&steps, invocation(event(step)))
            .await
            .expect_err("nothing published");
        assert_eq!(e.error_type(), "Train.NothingPublished", "{step}: {e}");
    }

    // The state machine's first state refreshes the materialized training set; the
    // train step itself does not (it would refresh twice): before the refresh, the
    // materialized set is still empty.
    let e = train::handle(&steps, invocation(event("train.json")))
        .await
        .expect_err("nothing materialized yet");
    assert!(e.to_string().contains("no positive interactions"), "{e}");
    assert_eq!(e.error_type(), "Train.NoPositives");
    let diagnostic = lambda_runtime::Diagnostic::from(e);
    assert_eq!(diagnostic.error_type, "Train.NoPositives");
    reco_core::Warehouse::refresh_training_set(&warehouse)
        .await
        .expect("refreshed");
    let trained = train::handle(&steps, invocation(event("train.json")))
        .await
        .expect("trains");
    let version = trained["version"].as_str().expect("version").to_string();
    assert_eq!(trained["gate_passed"], true, "{trained}");
    assert!(
        trained["metrics"]["precision_at_10"].as_f64().expect("p10")
            > trained["baseline_popular"]["precision_at_10"]
                .as_f64()
                .expect("p10")
    );
    assert!(trained["current_metrics"].is_null());

    let mut publish = event("publish.json");
    publish["version"] = Value::String(version.clone());
    let pointer = train::handle(&steps, invocation(publish))
        .await
        .expect("publishes");
    assert_eq!(pointer["version"], version.as_str());

    let warmed = train::handle(&steps, invocation(event("warm.json")))
        .await
        .expect("warms");
    assert_eq!(warmed["version"], version.as_str());
    assert_eq!(warmed["digest_matches"], true, "{warmed}");
    // The version's entries under the namespace's keys, and no pointer in the cache:
    // which version serves is models/current.json.
    let items_key = format!("reco:{}:{version}:items", steps.cache_namespace);
    assert!(redis.get(&items_key).await.expect("get").is_some());
    assert_eq!(redis.get("reco:current").await.expect("get"), None);
    assert!(store
        .get(&format!("models/{version}/cache.json"))
        .await
        .expect("get")
        .is_some());

    // The state machine polls a refresh that outlived its Data API call.
    let status = train::handle(&steps, invocation(event("refresh-status.json")))
        .await
        .expect("status");
    assert_eq!(status["refreshing"], false, "{status}");

    // A cache that is down fails the warm step only; no cache skips it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let down = train::Steps {
        warehouse: Ok(Box::new(warehouse.clone())),
        artifacts: Box::new(store.clone()),
        cache: Some(Box::new(
            reco_redis::RedisCache::new(&format!("redis://127.0.0.1:{port}")).expect("url"),
        )),
        cache_namespace: run_prefix(),
    };
    let retrained = train::handle(&down, invocation(event("train.json")))
        .await
        .expect("trains with the cache down");
    let mut publish = event("publish.json");
    publish["version"] = retrained["version"].clone();
    train::handle(&down, invocation(publish))
        .await
        .expect("publishes with the cache down");
    let e = train::handle(&down, invocation(event("warm.json")))
        .await
        .expect_err("the cache is down");
    assert_eq!(e.error_type(), "Train.Cache", "{e}");
    let none = train::Steps {
        warehouse: Ok(Box::new(warehouse.clone())),
        artifacts: Box::new(store.clone()),
        cache: None,
        cache_namespace: run_prefix(),
    };
    let skipped = train::handle(&none, invocation(event("warm.json")))
        .await
        .expect("a run without a cache succeeds");
    assert_eq!(skipped, serde_json::json!({"skipped": true}));

    // The warm function: the same binary without a warehouse. It warms; a step that
    // needs the warehouse says why it cannot run.
    let warm_only = train::Steps {
        warehouse: Err(reco_core::ConfigError {
            var: "RECO_RDS_RESOURCE_ARN",
            message: "not set".into(),
        }),
        artifacts: Box::new(store.clone()),
        cache: None,
        cache_namespace: run_prefix(),
    };
    let skipped = train::handle(&warm_only, invocation(event("warm.json")))
        .await
        .expect("warms without a warehouse");
    assert_eq!(skipped, serde_json::json!({"skipped": true}));
    let e = train::handle(&warm_only, invocation(event("train.json")))
        .await
        .expect_err("no warehouse to train on");
    assert_eq!(e.error_type(), "NoWarehouse", "{e}");
    assert!(e.to_string().contains("RECO_RDS_RESOURCE_ARN"), "{e}");

    let bad = serde_json::json!({"action": "retrain-everything"});
    let e = train::handle(&steps, invocation(bad))
        .await
        .expect_err("unknown action");
    assert!(e.to_string().contains("invalid input"), "{e}");
    assert_eq!(e.error_type(), "Input");
    let bad_version = serde_json::json!({"action": "publish", "version": "no-such-version"});
    let e = train::handle(&steps, invocation(bad_version))
        .await
        .expect_err("no such version");
    assert_eq!(e.error_type(), "Train.Unusable", "{e}");
}

/// template.yaml grants this function exactly the AWS actions its code calls.
#[test]
fn policy_allows_exactly_what_the_code_calls() {
    reco_testkit::iam::assert_policy_allows_exactly("TrainFunction", &train::iam_actions());
    reco_testkit::iam::assert_policy_allows_exactly("WarmFunction", &train::warm_iam_actions());
}
