//! What the API tests share: a session store that answers as scripted, an artifact
//! store in memory that can be taken down, a fixed clock, tokens, and the document.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use reco_api::Api;
use reco_core::ports::{AppendRequest, SessionStatistics, SessionStats};
use reco_core::{
    AppendOutcome, ArtifactError, ArtifactStore, Clock, Config, SessionDoc, SessionService,
    SessionStore, StoreError, Timestamp, TokenClaims, TokenKeys,
};
use reco_serving::bundle::{Bundle, Items};
use reco_serving::registry::{self, Baseline, Compared, Counts, Manifest, Pointer, Scores};

pub const NOW_MS: i64 = 1_800_000_000_000;
pub const SECRET: &str = "0123456789abcdef0123456789abcdef";
pub const ADMIN_SECRET: &str = "fedcba9876543210fedcba9876543210";

/// Answers every append with one fixed outcome, and `get` with `doc`.
pub struct Scripted {
    pub append: fn() -> Result<AppendOutcome, StoreError>,
    pub doc: Option<SessionDoc>,
}

impl Scripted {
    /// A store that archived every session: appends answer `Archived`, reads nothing.
    pub fn archived() -> Self {
        Scripted {
            append: || Ok(AppendOutcome::Archived),
            doc: None,
        }
    }

    pub fn answering(append: fn() -> Result<AppendOutcome, StoreError>) -> Self {
        Scripted { append, doc: None }
    }
}

#[async_trait]
impl SessionStore for Scripted {
    async fn append(&self, _: AppendRequest<'_>) -> Result<AppendOutcome, StoreError> {
        (self.append)()
    }
    async fn get(&self, _: &str) -> Result<Option<SessionDoc>, StoreError> {
        Ok(self.doc.clone())
    }
    async fn archive(&self, _: &str, _: Timestamp, _: i64) -> Result<bool, StoreError> {
        Ok(false)
    }
    async fn quarantine(&self, _: &str, _: Timestamp, _: &str) -> Result<bool, StoreError> {
        Ok(false)
    }
    async fn inactive(
        &self,
        _: u32,
        _: Timestamp,
        _: usize,
    ) -> Result<Vec<(String, Timestamp)>, StoreError> {
        Ok(Vec::new())
    }
    async fn defer(&self, _: &str, _: Timestamp) -> Result<bool, StoreError> {
        Ok(false)
    }
}

#[async_trait]
impl SessionStatistics for Scripted {
    async fn stats(&self, _: Timestamp, _: u64) -> Result<SessionStats, StoreError> {
        Ok(SessionStats::default())
    }
}

/// Artifacts in memory; while `down`, every call fails as an unreachable store would.
#[derive(Default)]
pub struct MemoryArtifacts {
    files: Mutex<HashMap<String, Vec<u8>>>,
    pub down: AtomicBool,
}

impl MemoryArtifacts {
    fn check(&self) -> Result<(), ArtifactError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(ArtifactError::Unavailable("connection refused".into()));
        }
        Ok(())
    }

    pub fn insert(&self, key: &str, bytes: Vec<u8>) {
        self.files
            .lock()
            .expect("files")
            .insert(key.to_string(), bytes);
    }
}

#[async_trait]
impl ArtifactStore for MemoryArtifacts {
    async fn put(&self, key: &str, bytes: Vec<u8>, _: &str) -> Result<(), ArtifactError> {
        self.check()?;
        self.insert(key, bytes);
        Ok(())
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
        self.check()?;
        Ok(self.files.lock().expect("files").get(key).cloned())
    }
}

/// Three items a, b, c in two dimensions, c the most popular.
pub fn bundle() -> Bundle {
    Bundle {
        items: Items {
            ids: ["a", "b", "c"].map(String::from).to_vec(),
            dim: 2,
            vectors: vec![1.0, 0.0, 0.0, 1.0, 0.7, 0.7],
            biases: vec![0.0; 3],
            categories: vec![0, 0, 0],
            category_names: vec!["shoes".into()],
            popularity: vec![1.0, 2.0, 3.0],
            user_feature_names: Vec::new(),
            user_feature_vectors: Vec::new(),
            session: None,
        },
        users: Some(HashMap::new()),
    }
}

/// Writes `version` (its serving bundle and manifest; the bundle's recorded checksum
/// wrong when `damaged`) without publishing it.
pub fn write_version(store: &MemoryArtifacts, version: &str, damaged: bool) {
    let bytes = bundle().to_bytes().expect("bundle");
    let sha = if damaged {
        registry::sha256_hex(b"something else")
    } else {
        registry::sha256_hex(&bytes)
    };
    let scores = Scores {
        precision_at_10: 0.1,
        recall_at_10: 0.1,
        auc: 0.8,
        ndcg_at_10: 0.1,
        users: 3,
    };
    let manifest = Manifest {
        session: None,
        version: version.into(),
        created_at: "2027-01-15T08:00:00Z".into(),
        data: Counts {
            users: 3,
            items: 3,
            interactions: 9,
            positives: 9,
            train: 6,
            holdout: 3,
        },
        hyperparameters: serde_json::json!({}),
        metrics: scores,
        current: Compared::default(),
        baseline: Baseline { popular: scores },
        learning_curve: Vec::new(),
        fit_seconds: 0.1,
        files: [(registry::SERVING_FILE.to_string(), sha)].into(),
    };
    store.insert(&registry::file_key(version, registry::SERVING_FILE), bytes);
    store.insert(
        &registry::file_key(version, registry::MANIFEST_FILE),
        serde_json::to_vec(&manifest).expect("manifest"),
    );
}

/// Points `models/current.json` at `version`, with `previous` before it.
pub fn point_to(store: &MemoryArtifacts, version: &str, previous: &[&str]) {
    let pointer = Pointer {
        version: version.into(),
        published_at: "2027-01-15T08:00:00Z".into(),
        previous: previous.iter().map(|v| v.to_string()).collect(),
    };
    store.insert(
        registry::CURRENT_KEY,
        serde_json::to_vec(&pointer).expect("pointer"),
    );
}

pub struct Fixed;
impl Clock for Fixed {
    fn now(&self) -> Timestamp {
        Timestamp(NOW_MS)
    }
}

pub fn key() -> TokenKeys {
    TokenKeys::new(SECRET).expect("key")
}

/// The operator's key, of its own.
pub fn admin_key() -> TokenKeys {
    TokenKeys::new(ADMIN_SECRET).expect("admin key")
}

/// A token for session `sid` (and customer `cid`); an admin token, signed with the
/// admin key, when `adm`.
pub fn sign(sid: &str, cid: Option<&str>, adm: bool) -> String {
    let key = if adm { admin_key() } else { key() };
    key.sign(&TokenClaims {
        sid: sid.into(),
        cid: cid.map(str::to_string),
        iat: NOW_MS / 1000,
        exp: NOW_MS / 1000 + 600,
        adm,
    })
}

/// The API on `store`, with no recommender and no admin routes.
pub fn api(store: Scripted, max_body_bytes: usize) -> Api {
    Api {
        sessions: SessionService::new(Arc::new(store), Arc::new(Fixed), &Config::default()),
        tokens: key(),
        max_body_bytes,
        recommender: None,
        admin: None,
    }
}

/// Sends one request; `token` as a bearer token when given.
pub async fn call(
    api: &Api,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: impl Into<Bytes>,
) -> http::Response<Bytes> {
    let mut request = http::Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    api.handle(request.body(body.into()).expect("request"))
        .await
}

pub fn body(r: &http::Response<Bytes>) -> serde_json::Value {
    serde_json::from_slice(r.body()).expect("JSON body")
}

pub fn spec() -> serde_yaml::Value {
    serde_yaml::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../docs/openapi.yaml"
        ))
        .expect("openapi.yaml readable"),
    )
    .expect("openapi.yaml parses")
}

/// The error codes the document's enum lists.
pub fn documented_codes(spec: &serde_yaml::Value) -> Vec<String> {
    spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
        .as_sequence()
        .expect("code enum")
        .iter()
        .map(|c| c.as_str().expect("string").to_string())
        .collect()
}
