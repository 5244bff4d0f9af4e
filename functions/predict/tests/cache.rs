//! The serving cache as an untrusted copy, on the real local services (moto S3 and
//! DynamoDB, the Redis of scripts/test): forged, tampered and evicted entries are
//! answered from S3 with the same lists, what serves is S3's pointer whatever the
//! cache was last given, and two namespaces on one Redis never read each other's
//! entries.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reco_api::Api;
use reco_core::warehouse::ImportBatch;
use reco_core::{Config, EmbeddingCache, SystemClock, TokenClaims, TokenKeys};
use reco_pipeline::train::{Pipeline, TrainOptions};
use reco_serving::loader;
use reco_serving::model::Source;
use reco_serving::registry::cache;
use reco_testkit::{run_prefix, service_env};
use serde_json::Value;

mod common;

const SECRET: &str = "cache-test-secret-0123456789abcdef0123";

/// One deployment: its bucket, sessions table and cache namespace, sharing the
/// Redis of scripts/test.
struct Stack {
    config: Config,
    dynamodb: aws_sdk_dynamodb::Client,
    artifacts: Arc<reco_s3::S3ArtifactStore>,
    redis_url: String,
}

impl Stack {
    async fn new() -> Stack {
        let redis_url = service_env("RECO_TEST_REDIS_URL", "Redis");
        let (dynamodb, table, artifacts) = common::moto_storage("cache").await;
        Stack {
            config: Config {
                sessions_table: table,
                model_refresh_secs: 0,
                cache_namespace: run_prefix(),
                ..Config::default()
            },
            dynamodb,
            artifacts,
            redis_url,
        }
    }

    /// The same deployment under another cache namespace.
    fn with_namespace(&self, namespace: &str) -> Stack {
        Stack {
            config: Config {
                cache_namespace: namespace.to_string(),
                ..self.config.clone()
            },
            dynamodb: self.dynamodb.clone(),
            artifacts: Arc::clone(&self.artifacts),
            redis_url: self.redis_url.clone(),
        }
    }

    fn ns(&self) -> &str {
        &self.config.cache_namespace
    }

    /// Trains the generated shop (`seed`) and publishes it; returns the version.
    async fn train(&self, seed: u64) -> String {
        let dir = tempfile::tempdir().expect("temp dir");
        let warehouse = common::shop_warehouse(dir.path(), ImportBatch::default()).await;
        let pipeline = Pipeline {
            warehouse: &warehouse,
            artifacts: self.artifacts.as_ref(),
            clock: &SystemClock,
        };
        let options = TrainOptions {
            components: 16,
            epochs: 10,
            threads: 1,
            seed,
            force: true,
            ..TrainOptions::default()
        };
        let outcome = pipeline.run(&options, None, |_| {}).await.expect("trains");
        assert!(outcome.published, "{}", outcome.reason);
        outcome.version
    }

    fn cache(&self) -> reco_redis::RedisCache {
        reco_redis::RedisCache::new(&self.redis_url).expect("redis url")
    }

    /// A new predict instance (nothing in memory), with the cache or without.
    fn instance(&self, with_cache: bool) -> Api {
        let cache: Option<Arc<dyn EmbeddingCache>> = with_cache.then(|| {
            let c: Arc<dyn EmbeddingCache> = Arc::new(self.cache());
            c
        });
        predict::build_api(
            &self.config,
            self.dynamodb.clone(),
            TokenKeys::new(SECRET.to_string()).expect("secret"),
            predict::model_source(&self.config, self.artifacts.clone(), cache),
        )
    }

    /// The train function's warm step for `version`.
    async fn warm(&self, version: &str) {
        reco_pipeline::warm::warm(&self.cache(), self.ns(), self.artifacts.as_ref(), version)
            .await
            .expect("warmed");
    }

    async fn raw(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.redis_url.as_str())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis")
    }

    async fn set_raw(&self, key: &str, value: Vec<u8>) {
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query_async::<()>(&mut self.raw().await)
            .await
            .expect("SET");
    }

    async fn delete(&self, key: &str) {
        let n: i64 = redis::cmd("DEL")
            .arg(key)
            .query_async(&mut self.raw().await)
            .await
            .expect("DEL");
        assert_eq!(n, 1, "{key} was there");
    }

    /// Waits (up to 5 s) until `key` holds `value`, e.g. after a background fill.
    async fn wait_for(&self, key: &str, value: &[u8]) {
        let cache = self.cache();
        for _ in 0..100 {
            if cache.get(key).await.expect("get").as_deref() == Some(value) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{key} never came to hold the expected value");
    }

    /// The cache entries of `version` as the artifact store's bundle gives them.
    async fn parts(&self, version: &str) -> reco_serving::CacheParts {
        loader::read_version(self.artifacts.as_ref(), version)
            .await
            .expect("version")
            .cache_parts()
            .expect("parts")
    }
}

fn token(session: &str, customer: Option<&str>) -> String {
    let now = reco_core::Clock::now(&SystemClock).seconds();
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

async fn get(api: &Api, path: &str, token: &str) -> Value {
    let request = lambda_http::http::Request::builder()
        .method("GET")
        .uri(path)
        .header("authorization", format!("Bearer {token}"))
        .body(Bytes::new())
        .expect("request");
    let response = api.handle(request).await;
    let status = response.status().as_u16();
    let body: Value = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// What a list answers: version, strategy and item ids.
fn list(body: &Value) -> (String, String, Vec<String>) {
    let ids = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["item_id"].as_str().expect("id").to_string())
        .collect();
    (
        body["model_version"].as_str().expect("version").to_string(),
        body["strategy"].as_str().expect("strategy").to_string(),
        ids,
    )
}

/// The version in memory, where it came from, and whether it holds every customer.
fn loaded(api: &Api) -> Option<(String, Source, bool)> {
    api.recommender
        .as_ref()?
        .source()
        .loaded()
        .map(|m| (m.version.clone(), m.source, m.users().is_some()))
}

const POPULAR: &str = "/v1/popular?k=10";
const C7: &str = "/v1/recommendations?session_id=s7&k=10";

/// Forged, tampered and evicted cache entries never reach an answer: each is read
/// from S3 instead, with the lists S3's version gives, and the cache is repaired.
#[tokio::test]
async fn cache_entries_that_do_not_match_s3_are_answered_from_s3() {
    let stack = Stack::new().await;
    let v = stack.train(42).await;
    let t1 = token("s1", None);
    let t7 = token("s7", Some("c7"));
    // What S3's version answers, read without a cache.
    let reference = stack.instance(false);
    let popular = list(&get(&reference, POPULAR, &t1).await);
    let hybrid = list(&get(&reference, C7, &t7).await);
    assert_eq!(popular.0, v);
    assert_eq!(hybrid.1, "hybrid");
    let items_key = cache::items(stack.ns(), &v);
    let c7_key = cache::user(stack.ns(), &v, "c7");
    let parts = stack.parts(&v).await;
    let c7_record = parts
        .users
        .iter()
        .find(|(id, _)| id == "c7")
        .map(|(_, r)| r.clone())
        .expect("c7 is a trained customer");

    // Warmed, a cold instance reads the version and its customers from Redis.
    stack.warm(&v).await;
    let cold = stack.instance(true);
    assert_eq!(list(&get(&cold, POPULAR, &t1).await), popular);
    assert_eq!(list(&get(&cold, C7, &t7).await), hybrid);
    assert_eq!(loaded(&cold), Some((v.clone(), Source::Cache, false)));

    // A forged part marker announcing 200 GB: read as a miss, without allocating it.
    let forged = [reco_redis::MARKER, b"1 200000000000"].concat();
    stack.set_raw(&items_key, forged).await;
    let cold = stack.instance(true);
    assert_eq!(list(&get(&cold, POPULAR, &t1).await), popular);
    assert_eq!(loaded(&cold), Some((v.clone(), Source::Artifacts, true)));
    // The instance that read S3 put the items part back.
    stack.wait_for(&items_key, &parts.items).await;

    // A well-formed items part that is not S3's: another item made the most popular.
    let mut bundle = loader::read_version(stack.artifacts.as_ref(), &v)
        .await
        .expect("version");
    let last = popular.2.last().expect("ten items").clone();
    let at = bundle
        .items
        .ids
        .iter()
        .position(|id| *id == last)
        .expect("known item");
    bundle.items.popularity[at] = 1.0e9;
    let tampered = bundle.cache_parts().expect("parts").items;
    assert_ne!(tampered, parts.items);
    stack
        .cache()
        .put_many(vec![(items_key.clone(), tampered)], Some(60))
        .await
        .expect("set");
    let cold = stack.instance(true);
    assert_eq!(list(&get(&cold, POPULAR, &t1).await), popular);
    assert_eq!(loaded(&cold), Some((v.clone(), Source::Artifacts, true)));
    stack.wait_for(&items_key, &parts.items).await;

    // A customer's record replaced by a well-formed one that is not S3's.
    let mut other = reco_serving::UserRecord::from_bytes(&c7_record).expect("record");
    other.vector.iter_mut().for_each(|x| *x = -*x);
    stack
        .cache()
        .put_many(vec![(c7_key.clone(), other.to_bytes())], Some(60))
        .await
        .expect("set");
    let cold = stack.instance(true);
    assert_eq!(list(&get(&cold, POPULAR, &t1).await), popular);
    assert_eq!(loaded(&cold), Some((v.clone(), Source::Cache, false)));
    assert_eq!(list(&get(&cold, C7, &t7).await), hybrid);
    assert_eq!(loaded(&cold), Some((v.clone(), Source::Artifacts, true)));
    // The record is put back as S3 has it.
    stack.wait_for(&c7_key, &c7_record).await;

    // A customer's record evicted: still the personalised list, read from S3.
    stack.delete(&c7_key).await;
    let cold = stack.instance(true);
    assert_eq!(list(&get(&cold, POPULAR, &t1).await), popular);
    assert_eq!(loaded(&cold), Some((v.clone(), Source::Cache, false)));
    assert_eq!(list(&get(&cold, C7, &t7).await), hybrid);
    assert_eq!(loaded(&cold), Some((v.clone(), Source::Artifacts, true)));
    stack.wait_for(&c7_key, &c7_record).await;

    // A customer the version does not know costs no lookup at all, and is not a miss.
    let cold = stack.instance(true);
    let stranger = list(
        &get(
            &cold,
            "/v1/recommendations?session_id=sx&k=10",
            &token("sx", Some("nobody")),
        )
        .await,
    );
    assert_eq!(stranger.1, "popular");
    assert_eq!(loaded(&cold), Some((v, Source::Cache, false)));
}

/// Which version serves is S3's pointer: a late warm of an older version moves
/// nothing, and a rollback is served by running and new instances alike.
#[tokio::test]
async fn the_s3_pointer_decides_what_serves() {
    let stack = Stack::new().await;
    let t1 = token("s1", None);
    let v1 = stack.train(42).await;
    stack.warm(&v1).await;
    let v2 = stack.train(7).await;
    assert_ne!(v1, v2);
    stack.warm(&v2).await;
    let running = stack.instance(true);
    assert_eq!(list(&get(&running, POPULAR, &t1).await).0, v2);

    // v1's warm (or a predict instance's background fill of it) finishing late.
    stack.warm(&v1).await;
    let bundle = loader::read_version(stack.artifacts.as_ref(), &v1)
        .await
        .expect("v1");
    loader::write_to_cache(&stack.cache(), stack.ns(), &v1, &bundle)
        .await
        .expect("filled");
    let cold = stack.instance(true);
    assert_eq!(list(&get(&cold, POPULAR, &t1).await).0, v2);
    assert_eq!(loaded(&cold), Some((v2.clone(), Source::Cache, false)));
    assert_eq!(list(&get(&running, POPULAR, &t1).await).0, v2);

    // The train function's rollback step: running and new instances serve v1.
    reco_pipeline::train::rollback(
        stack.artifacts.as_ref(),
        None,
        reco_core::Clock::now(&SystemClock),
    )
    .await
    .expect("rolled back");
    assert_eq!(list(&get(&running, POPULAR, &t1).await).0, v1);
    let cold = stack.instance(true);
    assert_eq!(list(&get(&cold, POPULAR, &t1).await).0, v1);
    assert_eq!(loaded(&cold), Some((v1.clone(), Source::Cache, false)));

    // v2 warmed again after the rollback: still v1.
    stack.warm(&v2).await;
    let cold = stack.instance(true);
    assert_eq!(list(&get(&cold, POPULAR, &t1).await).0, v1);
    assert_eq!(list(&get(&running, POPULAR, &t1).await).0, v1);
}

/// Two deployments sharing one Redis, here even one bucket and version: each reads
/// and fills only its own namespace's entries.
#[tokio::test]
async fn two_namespaces_on_one_redis_do_not_see_each_others_entries() {
    let a = Stack::new().await;
    let b = a.with_namespace(&format!("{}-b", a.ns()));
    let t1 = token("s1", None);
    let v = a.train(42).await;
    a.warm(&v).await;
    let items = a.parts(&v).await.items;

    // B does not find A's entries: it reads S3, and fills its own.
    let cold_b = b.instance(true);
    assert_eq!(list(&get(&cold_b, POPULAR, &t1).await).0, v);
    assert_eq!(loaded(&cold_b), Some((v.clone(), Source::Artifacts, true)));
    b.wait_for(&cache::items(b.ns(), &v), &items).await;
    let cold_a = a.instance(true);
    get(&cold_a, POPULAR, &t1).await;
    assert_eq!(loaded(&cold_a), Some((v.clone(), Source::Cache, false)));

    // A's entries gone: A reads S3, B still its own cache.
    a.delete(&cache::items(a.ns(), &v)).await;
    let cold_a = a.instance(true);
    get(&cold_a, POPULAR, &t1).await;
    assert_eq!(loaded(&cold_a), Some((v.clone(), Source::Artifacts, true)));
    let cold_b = b.instance(true);
    get(&cold_b, POPULAR, &t1).await;
    assert_eq!(loaded(&cold_b), Some((v, Source::Cache, false)));
    assert_ne!(cache::items(a.ns(), "v"), cache::items(b.ns(), "v"));
}
