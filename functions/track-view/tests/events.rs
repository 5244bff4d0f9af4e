//! Every sample event in events/track-view goes through the Lambda handler against the
//! real DynamoDB protocol (moto server), and gets the status and error code its case
//! calls for. Adding an event without an expectation here fails the test.

use lambda_http::Body;
use reco_core::ports::AppendRequest;
use reco_core::{Config, SessionStore, Timestamp, TokenKeys, View};
use reco_dynamodb::{create_sessions_table, DynamoSessionStore};
use reco_testkit::{run_prefix, service_env};
use std::collections::BTreeMap;

const EVENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");

/// Case -> (status, error code or "" for success). Order matters where cases build on
/// each other: cases run in this order.
const CASES: &[(&str, u16, &str)] = &[
    ("post-view", 200, ""),
    ("post-batch", 200, ""),
    ("post-impressions", 200, ""),
    ("post-impressions-bad-strategy", 400, "invalid_field"),
    ("get-session", 200, ""),
    ("post-view-customer", 200, ""),
    ("post-view-other-customer", 403, "customer_mismatch"),
    ("post-view-without-customer", 403, "customer_mismatch"),
    ("get-session-without-customer", 403, "customer_mismatch"),
    ("post-view-archived", 409, "session_archived"),
    ("post-view-over-cap", 429, "view_cap_reached"),
    ("get-unknown-session", 404, "not_found"),
    ("no-token", 401, "unauthorized"),
    ("tampered-token", 401, "unauthorized"),
    ("token-too-long-lived", 401, "unauthorized"),
    ("token-for-other-session", 403, "forbidden"),
    ("malformed-json", 400, "malformed_json"),
    ("unknown-field", 400, "unknown_field"),
    ("empty-item-id", 400, "invalid_field"),
    ("format-character-in-item-id", 400, "invalid_field"),
    ("bad-viewed-at", 400, "invalid_field"),
    ("batch-too-long", 400, "invalid_field"),
    ("body-too-large", 413, "payload_too_large"),
    ("unknown-route", 404, "not_found"),
];

fn dev_secret() -> String {
    let env: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{EVENTS}/env.json")).expect("events/env.json"),
    )
    .expect("env.json parses");
    env["TrackViewFunction"]["RECO_TOKEN_SECRET"]
        .as_str()
        .expect("secret in env.json")
        .to_string()
}

#[tokio::test]
async fn every_event_gets_its_expected_answer() {
    service_env("AWS_ENDPOINT_URL_DYNAMODB", "moto server (DynamoDB)");
    let aws = aws_config::load_from_env().await;
    let client = aws_sdk_dynamodb::Client::new(&aws);
    let table = format!("events-{}", run_prefix());
    create_sessions_table(&client, &table).await.expect("table");
    let config = Config {
        sessions_table: table.clone(),
        ..Config::default()
    };
    let key = TokenKeys::new(dev_secret()).expect("secret usable");
    let api = track_view::build_api(&config, client.clone(), key);
    let signer = TokenKeys::new(dev_secret()).expect("secret usable");

    // Preconditions of the archived and over-cap cases.
    let store = DynamoSessionStore::new(client, table);
    let now = Timestamp(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64,
    );
    let append = |sid: &'static str, n: usize| {
        let views: Vec<View> = (0..n)
            .map(|i| View {
                item_id: format!("item-{i}"),
                viewed_at: now,
                recommendation_id: None,
            })
            .collect();
        let store = store.clone();
        async move {
            store
                .append(AppendRequest {
                    session_id: sid,
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
                .expect("seeded")
        }
    };
    append("s-events-archived", 1).await;
    assert!(store
        .archive("s-events-archived", now, 1)
        .await
        .expect("archived"));
    for _ in 0..(config.max_views_per_session / 25) {
        append("s-events-full", 25).await;
    }

    let names: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    reco_testkit::events::assert_events_are_the_cases(&format!("{EVENTS}/track-view"), &names);

    let mut answers = BTreeMap::new();
    for (case, status, code) in CASES {
        let text = std::fs::read_to_string(format!("{EVENTS}/track-view/{case}.json"))
            .expect("event readable");
        // Tokens live at most a day: sign a fresh one with the event's claims, except
        // where the token itself is the case.
        let text = if ["tampered-token", "token-too-long-lived"].contains(case) {
            text
        } else {
            reco_testkit::events::fresh_token(&text, &signer, now.seconds())
        };
        let request = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{case}: not an API Gateway event: {e}"));
        let response = track_view::handle(&api, request).await;
        let body = match response.body() {
            Body::Text(t) => t.clone(),
            Body::Empty => String::new(),
            other => String::from_utf8_lossy(other.as_ref()).to_string(),
        };
        assert_eq!(response.status().as_u16(), *status, "{case}: {body}");
        let json: serde_json::Value = serde_json::from_str(&body).expect("JSON body");
        if code.is_empty() {
            assert!(json.get("error").is_none(), "{case}: {body}");
        } else {
            assert_eq!(json["error"]["code"], *code, "{case}: {body}");
            assert!(
                !json["error"]["message"].as_str().unwrap_or("").is_empty(),
                "{case}: message"
            );
        }
        answers.insert(*case, json);
    }

    // What the successful cases stored.
    let session = &answers["get-session"];
    let items: Vec<&str> = session["items_viewed"]
        .as_array()
        .expect("items")
        .iter()
        .map(|v| v["item_id"].as_str().expect("item id"))
        .collect();
    assert_eq!(items, ["item-1", "item-2", "item-3"]);
    assert_eq!(session["view_count"], 3);
    let shown = &session["impressions"];
    assert_eq!(shown.as_array().map(Vec::len), Some(1), "{session}");
    assert_eq!(shown[0]["strategy"], "session");
    assert_eq!(
        shown[0]["item_ids"],
        serde_json::json!(["item-4", "item-5"])
    );
    assert_eq!(answers["post-view-customer"]["customer_id"], "c-1");
    // Nothing refused was written.
    let full = store
        .get("s-events-full")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(full.view_count, config.max_views_per_session);
    let customer = store
        .get("s-events-customer")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(customer.view_count, 1);
    assert_eq!(customer.customer_id.as_deref(), Some("c-1"));
}

#[tokio::test]
async fn token_secret_is_read_from_secrets_manager() {
    service_env(
        "AWS_ENDPOINT_URL_SECRETS_MANAGER",
        "moto server (Secrets Manager)",
    );
    let aws = aws_config::load_from_env().await;
    let sm = aws_sdk_secretsmanager::Client::new(&aws);
    let name = format!("token-{}", run_prefix());
    let created = sm
        .create_secret()
        .name(&name)
        .secret_string("a-secret-from-secrets-manager-0123456789")
        .send()
        .await
        .expect("secret created");
    let arn = created.arn().expect("arn").to_string();
    let key = reco_secrets::token_key_from(&aws, None, Some(&arn))
        .await
        .expect("read from Secrets Manager");
    let expected = TokenKeys::new("a-secret-from-secrets-manager-0123456789").expect("usable");
    let claims = reco_core::TokenClaims {
        sid: "s".into(),
        cid: None,
        iat: 1_800_000_000,
        exp: 1_800_003_600,
        adm: false,
    };
    assert_eq!(
        key.verify(&expected.sign(&claims), 1_800_000_000),
        Ok(claims)
    );
    let missing = reco_secrets::token_key_from(
        &aws,
        None,
        Some("arn:aws:secretsmanager:us-east-1:123456789012:secret:nope"),
    )
    .await;
    assert!(missing.is_err());
}

/// template.yaml grants this function exactly the AWS actions its code calls.
#[test]
fn policy_allows_exactly_what_the_code_calls() {
    reco_testkit::iam::assert_policy_allows_exactly(
        "TrackViewFunction",
        &track_view::iam_actions(),
    );
}

/// The stack's parameters accept only values the function's configuration accepts.
#[test]
fn template_parameters_stay_within_what_the_code_accepts() {
    let template = reco_testkit::iam::template();
    let bound = |name: &str, key: &str| {
        template["Parameters"][name][key]
            .as_u64()
            .unwrap_or_else(|| panic!("{name}.{key}"))
    };
    for (name, var, max) in [
        (
            "MaxViewsPerSession",
            "RECO_MAX_VIEWS_PER_SESSION",
            u64::from(reco_core::sessions::MAX_VIEWS_LIMIT),
        ),
        (
            "SessionTimeoutSecs",
            "RECO_SESSION_TIMEOUT_SECS",
            7 * 86_400,
        ),
    ] {
        assert_eq!(bound(name, "MaxValue"), max, "{name}");
        for value in [bound(name, "MinValue"), bound(name, "MaxValue")] {
            let v = value.to_string();
            let config = Config::from_lookup(|k| (k == var).then(|| v.clone()));
            assert!(config.is_ok(), "{name} = {value}: {config:?}");
        }
        let over = (bound(name, "MaxValue") + 1).to_string();
        assert!(
            Config::from_lookup(|k| (k == var).then(|| over.clone())).is_err(),
            "{name}: the code accepts more than the template"
        );
    }
}
