//! The predict function on the real local services: sessions in DynamoDB (moto), the
//! model in S3 (moto) trained from the generated shop, and a Redis server of this
//! test's own, which it stops and starts again. Every strategy with its reasons, a new
//! version picked up without a restart, a damaged version refused while the previous
//! one keeps serving, Redis down and back, and the refusals.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reco_api::Api;
use reco_core::warehouse::{Customer, ImportBatch};
use reco_core::{ArtifactStore, Config, EmbeddingCache, SystemClock, TokenClaims, TokenKeys};
use reco_pipeline::dataset::Features;
use reco_pipeline::train::{Pipeline, TrainOptions};
use reco_serving::model::Source;
use reco_serving::registry;

use serde_json::Value;

mod common;

const SECRET: &str = "serving-test-secret-0123456789abcdef";

struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    fn start(port: u16) -> Redis {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--port")
            .arg(port.to_string())
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server starts (scripts/setup installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Redis { child, port }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

fn token(session: &str, customer: Option<&str>) -> String {
    let now = SystemClock.now_secs();
    TokenKeys::new(SECRET.to_string())
        .expect("secret")
        .sign(&TokenClaims {
            sid: session.into(),
            cid: customer.map(str::to_string),
            iat: now,
            exp: now + 3600,
            adm: false,
        })
}

trait NowSecs {
    fn now_secs(&self) -> i64;
}

impl NowSecs for SystemClock {
    fn now_secs(&self) -> i64 {
        reco_core::Clock::now(self).seconds()
    }
}

async fn call(api: &Api, method: &str, path: &str, token: &str, body: &str) -> (u16, Value) {
    let request = lambda_http::http::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::from(body.to_string()))
        .expect("request");
    let response = api.handle(request).await;
    let status = response.status().as_u16();
    let json = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    (status, json)
}

async fn get(api: &Api, path: &str, token: &str) -> (u16, Value) {
    call(api, "GET", path, token, "").await
}

fn ids(v: &Value) -> Vec<String> {
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["item_id"].as_str().expect("id").to_string())
        .collect()
}

fn reasons(v: &Value) -> Vec<Value> {
    v["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["reason"].clone())
        .collect()
}

/// The shop's item `iN` is in category `catN%6`.
fn category(item: &str) -> usize {
    item.trim_start_matches('i')
        .parse::<usize>()
        .expect("shop id")
        % 6
}

struct Setup {
    config: Config,
    dynamodb: aws_sdk_dynamodb::Client,
    artifacts: Arc<reco_s3::S3ArtifactStore>,
}

impl Setup {
    fn api(&self, cache: Option<Arc<dyn EmbeddingCache>>) -> Api {
        let source = predict::model_source(&self.config, self.artifacts.clone(), cache)
            .with_cache_backoff(Duration::from_millis(300));
        predict::build_api(
            &self.config,
            self.dynamodb.clone(),
            TokenKeys::new(SECRET.to_string()).expect("secret"),
            source,
        )
    }
}

fn loaded_source(api: &Api) -> Option<(String, Source, bool)> {
    api.recommender
        .as_ref()?
        .source()
        .loaded()
        .map(|m| (m.version.clone(), m.source, m.users().is_some()))
}

#[tokio::test]
async fn every_strategy_and_failure_on_real_services() {
    let (dynamodb, table, artifacts) = common::moto_storage("predict").await;
    let setup = Setup {
        config: Config {
            sessions_table: table,
            model_refresh_secs: 0,
            ..Config::default()
        },
        dynamodb,
        artifacts: artifacts.clone(),
    };
    let mut redis = Redis::start(free_port());
    let redis_url = format!("redis://127.0.0.1:{}", redis.port);
    let cache = || -> Arc<dyn EmbeddingCache> {
        Arc::new(reco_redis::RedisCache::new(&redis_url).expect("redis url"))
    };

    // Nothing published: 503 no_model, saying what to do.
    let api = setup.api(Some(cache()));
    let (status, body) = get(&api, "/v1/popular", &token("s0", None)).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "no_model");
    assert!(body["error"]["message"]
        .as_str()
        .expect("message")
        .contains("training"));

    // Train the shop (hybrid features) with one customer known only by features.
    let dir = tempfile::tempdir().expect("temp dir");
    let newbie = Customer {
        customer_id: "newbie".into(),
        birth_year: Some(1990),
        gender: Some("F".into()),
        region: Some("region1".into()),
    };
    let extra = ImportBatch {
        customers: vec![newbie],
        ..Default::default()
    };
    let warehouse = common::shop_warehouse(dir.path(), extra).await;
    reco_core::Warehouse::load(&warehouse, &ImportBatch::default())
        .await
        .expect("an empty batch loads");
    let pipeline = Pipeline {
        warehouse: &warehouse,
        artifacts: artifacts.as_ref(),
        clock: &SystemClock,
    };
    let options = TrainOptions {
        components: 16,
        epochs: 15,
        threads: 1,
        features: Features::Hybrid,
        ..TrainOptions::default()
    };
    let first = pipeline.run(&options, None, |_| {}).await.expect("trains");
    assert!(first.published, "{}", first.reason);

    // popular: a new visitor.
    let t1 = token("s1", None);
    let (status, body) = get(&api, "/v1/recommendations?session_id=s1&k=5", &t1).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["strategy"], "popular");
    assert_eq!(body["model_version"], first.version.as_str());
    assert_eq!(ids(&body).len(), 5);
    assert!(reasons(&body).iter().all(|r| r["popular"] == true));
    assert_eq!(body["recommendation_id"].as_str().expect("id").len(), 32);
    // The version went from S3 into Redis for the next instance.
    let redis_cache = cache();
    let ns = setup.config.cache_namespace.clone();
    let mut cached = None;
    for _ in 0..100 {
        cached = redis_cache
            .get(&registry::cache::items(&ns, &first.version))
            .await
            .expect("redis");
        if cached.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(cached.is_some(), "the items part is in Redis");

    // session: three views of one category, recorded a moment ago, change the list.
    let viewed = ["i2", "i8", "i14"];
    for item in viewed {
        let (status, body) = call(
            &api,
            "POST",
            "/v1/sessions/s1/views",
            &t1,
            &format!(r#"{{"item_id":"{item}"}}"#),
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = get(&api, "/v1/recommendations?session_id=s1&k=10", &t1).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["strategy"], "session");
    let got = ids(&body);
    assert_eq!(got.len(), 10);
    assert!(got.iter().all(|i| !viewed.contains(&i.as_str())), "{got:?}");
    let leaning = got.iter().filter(|i| category(i) == 2).count();
    assert!(leaning >= 5, "the list leans to category 2: {got:?}");
    for r in reasons(&body) {
        let v = r["because_viewed"].as_str().expect("because_viewed");
        assert!(viewed.contains(&v), "{r}");
    }
    // exclude_seen=false lets the views back in; exclude takes ids out.
    let (_, body) = get(
        &api,
        "/v1/recommendations?session_id=s1&k=20&exclude_seen=false&exclude=i20,i26",
        &t1,
    )
    .await;
    let got = ids(&body);
    assert!(got.iter().any(|i| viewed.contains(&i.as_str())), "{got:?}");
    assert!(!got.contains(&"i20".to_string()) && !got.contains(&"i26".to_string()));

    // A category with fewer items than k: its items first, then popular fill-ins.
    let (_, body) = get(
        &api,
        "/v1/recommendations?session_id=s1&k=20&category=CAT3",
        &t1,
    )
    .await;
    let got = ids(&body);
    assert_eq!(got.len(), 20);
    let reasons_got = reasons(&body);
    let in_cat: Vec<&String> = got.iter().filter(|i| category(i) == 3).collect();
    assert_eq!(in_cat.len(), 15, "every item of cat3: {got:?}");
    for (id, r) in got.iter().zip(&reasons_got) {
        if category(id) != 3 {
            assert_eq!(r["popular"], true, "{id}: {r}");
        }
    }

    // hybrid: a trained customer, with the session blended in.
    let t7 = token("s7", Some("c7"));
    let (status, body) = get(&api, "/v1/recommendations?session_id=s7", &t7).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["strategy"], "hybrid");
    assert!(reasons(&body)
        .iter()
        .all(|r| r["because_history"] == true || r["popular"] == true));
    call(
        &api,
        "POST",
        "/v1/sessions/s7/views",
        &t7,
        r#"{"item_id":"i5"}"#,
    )
    .await;
    let (_, body) = get(&api, "/v1/recommendations?session_id=s7&k=20", &t7).await;
    assert_eq!(body["strategy"], "hybrid");
    assert!(!ids(&body).contains(&"i5".to_string()));
    assert!(
        reasons(&body).iter().any(|r| r["because_viewed"] == "i5"),
        "the view blends in: {body}"
    );

    // features-only: a customer known by demographics alone.
    let tn = token("sn", Some("newbie"));
    let (status, body) = get(&api, "/v1/recommendations?session_id=sn&k=5", &tn).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["strategy"], "features-only");
    for r in reasons(&body) {
        let f = r["because_feature"].as_str().expect("because_feature");
        assert!(
            ["age:", "gender:", "region:"]
                .iter()
                .any(|p| f.starts_with(p)),
            "{f}"
        );
    }

    // similar and popular.
    let (status, body) = get(&api, "/v1/items/i3/similar?k=5&session_id=s1", &t1).await;
    assert_eq!(status, 200, "{body}");
    let got = ids(&body);
    assert_eq!(got.len(), 5);
    assert!(!got.contains(&"i3".to_string()));
    assert!(got.iter().all(|i| !viewed.contains(&i.as_str())));
    assert!(reasons(&body).iter().all(|r| r["similar_to"] == "i3"));
    let (status, body) = get(&api, "/v1/popular?k=3&category=cat4", &t1).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["strategy"], "popular");
    assert!(ids(&body).iter().all(|i| category(i) == 4));

    // Refusals.
    for (path, tok, status, code) in [
        ("/v1/recommendations?session_id=s1", &t7, 403, "forbidden"),
        (
            "/v1/recommendations?session_id=s1&customer_id=c9",
            &t1,
            403,
            "forbidden",
        ),
        (
            "/v1/recommendations?session_id=s1&k=0",
            &t1,
            400,
            "invalid_parameter",
        ),
        (
            "/v1/recommendations?session_id=s1&k=101",
            &t1,
            400,
            "invalid_parameter",
        ),
        (
            "/v1/recommendations?session_id=s1&category=",
            &t1,
            400,
            "invalid_parameter",
        ),
        (
            "/v1/recommendations?session_id=s1&colour=red",
            &t1,
            400,
            "unknown_parameter",
        ),
        ("/v1/recommendations", &t1, 400, "invalid_parameter"),
        ("/v1/items/nope/similar", &t1, 404, "unknown_item"),
        ("/v1/popular?k=x", &t1, 400, "invalid_parameter"),
    ] {
        let (got, body) = get(&api, path, tok).await;
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{path}: {body}"
        );
    }
    let (got, _) = get(&api, "/v1/popular", "not-a-token").await;
    assert_eq!(got, 401);

    // A new version published mid-test is served by the running instance.
    let second = pipeline
        .run(
            &TrainOptions {
                seed: 7,
                force: true,
                ..options.clone()
            },
            None,
            |_| {},
        )
        .await
        .expect("trains again");
    assert!(second.published && second.version != first.version);
    let (_, body) = get(&api, "/v1/popular?k=1", &t1).await;
    assert_eq!(body["model_version"], second.version.as_str());

    // A version whose serving file does not match its manifest is refused; the
    // previous one keeps serving.
    let bad = format!("{}-damaged", second.version);
    for file in [registry::MANIFEST_FILE, registry::SERVING_FILE] {
        let mut bytes = artifacts
            .get(&registry::file_key(&second.version, file))
            .await
            .expect("read")
            .expect("file");
        if file == registry::SERVING_FILE {
            let last = bytes.len() - 1;
            bytes[last] ^= 0xff;
        }
        artifacts
            .put(
                &registry::file_key(&bad, file),
                bytes,
                "application/octet-stream",
            )
            .await
            .expect("write");
    }
    let pointer = registry::Pointer {
        version: bad.clone(),
        published_at: "2026-11-30T00:00:00Z".into(),
        previous: vec![second.version.clone()],
    };
    artifacts
        .put(
            registry::CURRENT_KEY,
            serde_json::to_vec(&pointer).expect("json"),
            "application/json",
        )
        .await
        .expect("pointer");
    let (status, body) = get(&api, "/v1/popular?k=1", &t1).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model_version"], second.version.as_str());
    // An instance with nothing in memory (and no cache) refuses it too: 503
    // model_unavailable, also between checks (here a minute apart), not no_model.
    let bare = predict::build_api(
        &setup.config,
        setup.dynamodb.clone(),
        TokenKeys::new(SECRET.to_string()).expect("secret"),
        reco_serving::ModelSource::new(artifacts.clone(), None, Duration::from_secs(60)),
    );
    for _ in 0..2 {
        let (status, body) = get(&bare, "/v1/popular?k=1", &t1).await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "model_unavailable");
    }
    reco_pipeline::train::rollback(
        artifacts.as_ref(),
        Some(&second.version),
        reco_core::Clock::now(&SystemClock),
    )
    .await
    .expect("pointer back");

    // A cold instance reads the version from Redis (which one, and its digest, from
    // S3).
    let mut warm_cache = None;
    for _ in 0..100 {
        warm_cache = redis_cache
            .get(&registry::cache::items(&ns, &second.version))
            .await
            .expect("redis");
        if warm_cache.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(warm_cache.is_some(), "the items part is in Redis");
    let cold = setup.api(Some(cache()));
    let (status, body) = get(&cold, "/v1/popular?k=1", &t1).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        loaded_source(&cold),
        Some((second.version.clone(), Source::Cache, false))
    );
    // Customers come from Redis one by one.
    let (status, body) = get(&cold, "/v1/recommendations?session_id=s7", &t7).await;
    assert_eq!(
        (status, body["strategy"].as_str()),
        (200, Some("hybrid")),
        "{body}"
    );
    assert_eq!(loaded_source(&cold).map(|s| s.2), Some(false));

    // Redis stops: requests are still answered (customers then come from S3).
    redis.stop();
    let t8 = token("s8", Some("c8"));
    let (status, body) = get(&cold, "/v1/recommendations?session_id=s8", &t8).await;
    assert_eq!(
        (status, body["strategy"].as_str()),
        (200, Some("hybrid")),
        "{body}"
    );
    assert_eq!(loaded_source(&cold).map(|s| s.2), Some(true));
    let fresh = setup.api(Some(cache()));
    let (status, body) = get(&fresh, "/v1/recommendations?session_id=s1", &t1).await;
    assert_eq!(
        (status, body["strategy"].as_str()),
        (200, Some("session")),
        "{body}"
    );
    assert_eq!(loaded_source(&fresh).map(|s| s.1), Some(Source::Artifacts));

    // Redis back (empty): a new instance fills it again, and the next one reads it.
    let port = redis.port;
    redis = Redis::start(port);
    let filler = setup.api(Some(cache()));
    let (status, _) = get(&filler, "/v1/popular", &t1).await;
    assert_eq!(status, 200);
    let mut refilled = None;
    for _ in 0..100 {
        refilled = cache()
            .get(&registry::cache::items(&ns, &second.version))
            .await
            .ok()
            .flatten();
        if refilled.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(refilled.is_some(), "the items part is back in Redis");
    let reader = setup.api(Some(cache()));
    let (status, _) = get(&reader, "/v1/popular", &t1).await;
    assert_eq!(status, 200);
    assert_eq!(loaded_source(&reader).map(|s| s.1), Some(Source::Cache));
    let distinct: HashSet<_> = [first.version, second.version].into_iter().collect();
    assert_eq!(distinct.len(), 2);
    redis.stop();
}
