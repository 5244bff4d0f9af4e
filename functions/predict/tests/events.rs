//! Every sample event in events/predict goes through the Lambda handler against the
//! real services (sessions on moto's DynamoDB, a model trained from the generated shop
//! on moto's S3), and gets the status, error code and strategy its case calls for.
//! Adding an event without an expectation here fails the test.

use std::sync::Arc;

use lambda_http::Body;
use reco_core::ports::AppendRequest;
use reco_core::{Config, SessionStore, SystemClock, TokenKeys, View};
use reco_dynamodb::DynamoSessionStore;
use reco_pipeline::train::{Pipeline, TrainOptions};

mod common;

const EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");

/// Case -> (status, error code or "", strategy or "").
const CASES: &[(&str, u16, &str, &str)] = &[
    ("recommendations-popular", 200, "", "popular"),
    ("recommendations-session", 200, "", "session"),
    ("recommendations-hybrid", 200, "", "hybrid"),
    ("recommendations-category", 200, "", "session"),
    ("recommendations-exclude", 200, "", "session"),
    ("similar", 200, "", "similar"),
    ("similar-in-session", 200, "", "similar"),
    ("similar-unknown-item", 404, "unknown_item", ""),
    ("popular", 200, "", "popular"),
    ("popular-category", 200, "", "popular"),
    ("bad-k", 400, "invalid_parameter", ""),
    ("empty-category", 400, "invalid_parameter", ""),
    ("unknown-parameter", 400, "unknown_parameter", ""),
    ("token-for-other-session", 403, "forbidden", ""),
    ("customer-not-in-token", 403, "forbidden", ""),
    ("no-token", 401, "unauthorized", ""),
    // Answered by an instance whose bucket holds no model.
    ("no-model", 503, "no_model", ""),
];

fn dev_secret() -> String {
    let env: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{EVENTS}/env.json")).expect("events/env.json"),
    )
    .expect("env.json parses");
    env["PredictFunction"]["RECO_TOKEN_SECRET"]
        .as_str()
        .expect("secret in env.json")
        .to_string()
}

#[tokio::test]
async fn every_event_gets_its_expected_answer() {
    // A model of the generated shop, and a deployment with nothing published.
    let (client, table, models) = common::moto_storage("predict-events").await;
    let (_, _, empty) = common::moto_storage("predict-empty").await;
    let stores = [models, empty];
    let config = Config {
        sessions_table: table.clone(),
        ..Config::default()
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let warehouse = common::shop_warehouse(dir.path(), Default::default()).await;
    let options = TrainOptions {
        components: 16,
        epochs: 10,
        threads: 1,
        ..TrainOptions::default()
    };
    let outcome = Pipeline {
        warehouse: &warehouse,
        artifacts: stores[0].as_ref(),
        clock: &SystemClock,
    }
    .run(&options, None, |_| {})
    .await
    .expect("trains");
    assert!(outcome.published);

    let signer = TokenKeys::new(dev_secret()).expect("secret usable");
    let api = |store: &Arc<reco_s3::S3ArtifactStore>| {
        predict::build_api(
            &config,
            client.clone(),
            TokenKeys::new(dev_secret()).expect("secret usable"),
            predict::model_source(&config, store.clone(), None),
        )
    };
    let (served, empty) = (api(&stores[0]), api(&stores[1]));

    // The viewer's session: two views of category 2.
    let store = DynamoSessionStore::new(client, table);
    let now = reco_core::Clock::now(&SystemClock);
    let views: Vec<View> = ["i2", "i8"]
        .iter()
        .map(|i| View {
            item_id: i.to_string(),
            viewed_at: now,
            recommendation_id: None,
        })
        .collect();
    store
        .append(AppendRequest {
            session_id: "s-predict-viewer",
            customer_id: None,
            views: &views,
            now,
            max_views: config.max_views_per_session,
            added_bytes: reco_core::sessions::request_bytes(&views),
            max_bytes: reco_core::sessions::SESSION_BYTES_BUDGET,
            active_shard: 0,
            impressions: &[],
            added_impression_bytes: 0,
            max_impression_bytes: reco_core::sessions::IMPRESSION_BYTES_BUDGET,
        })
        .await
        .expect("seeded");

    let names: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    reco_testkit::events::assert_events_are_the_cases(&format!("{EVENTS}/predict"), &names);

    for (case, status, code, strategy) in CASES {
        let text = std::fs::read_to_string(format!("{EVENTS}/predict/{case}.json"))
            .expect("event readable");
        let text = reco_testkit::events::fresh_token(&text, &signer, now.seconds());
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{case}: not an API Gateway event: {e}"));
        let api = if *case == "no-model" { &empty } else { &served };
        let response = predict::handle(api, request).await;
        let body = match response.body() {
            Body::Text(t) => t.clone(),
            Body::Empty => String::new(),
            other => String::from_utf8_lossy(other.as_ref()).to_string(),
        };
        assert_eq!(response.status().as_u16(), *status, "{case}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
        if code.is_empty() {
            assert_eq!(json["strategy"], *strategy, "{case}: {body}");
            assert_eq!(json["model_version"], outcome.version.as_str(), "{case}");
            let items = json["items"].as_array().expect("items");
            assert!(!items.is_empty(), "{case}: {body}");
            if *case == "recommendations-exclude" {
                let ids: Vec<&str> = items.iter().filter_map(|i| i["item_id"].as_str()).collect();
                assert!(!ids.contains(&"i0") && !ids.contains(&"i1"), "{ids:?}");
            }
        } else {
            assert_eq!(json["error"]["code"], *code, "{case}: {body}");
            assert!(
                !json["error"]["message"].as_str().unwrap_or("").is_empty(),
                "{case}: message"
            );
        }
    }
}

/// template.yaml grants this function exactly the AWS actions its code calls.
#[test]
fn template_policy_matches_the_code() {
    reco_testkit::iam::assert_policy_allows_exactly("PredictFunction", &predict::iam_actions());
}
