//! The model registry: where a version's files live in the artifact store (S3 or a
//! folder) and under which keys the serving cache (Redis or in-process) holds them,
//! and the typed documents written there. Train, warm and predict all go through
//! these functions, so the layout is defined once.
//!
//! Artifact store:
//! - `models/current.json`: the [`Pointer`] to the published version;
//! - `models/<version>/manifest.json`: the [`Manifest`], with the SHA-256 of every file;
//! - `models/<version>/model.safetensors`: the full model (training can resume from it);
//! - `models/<version>/serving.safetensors`: the [`crate::bundle`] predict loads;
//! - `models/<version>/report.svg`, `models/<version>/popular.json`;
//! - `models/<version>/cache.json`: the [`CacheDigest`] of the version's items part in
//!   the cache, written when the version is published, rolled back to or warmed.
//!
//! Cache, under the deployment's namespace (`RECO_CACHE_NAMESPACE`), versioned only:
//! which version serves is the artifact store's pointer, never the cache's.
//! - `reco:<namespace>:<version>:items`: the items part of the serving bundle, with
//!   each customer's id and the SHA-256 of their record;
//! - `reco:<namespace>:<version>:user:<customer>`: one customer's record.

use std::collections::BTreeMap;

use reco_core::{ArtifactError, ArtifactStore};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The published pointer's key.
pub const CURRENT_KEY: &str = "models/current.json";
pub const MANIFEST_FILE: &str = "manifest.json";
pub const MODEL_FILE: &str = "model.safetensors";
pub const SERVING_FILE: &str = "serving.safetensors";
pub const REPORT_FILE: &str = "report.svg";
pub const POPULAR_FILE: &str = "popular.json";
pub const CACHE_DIGEST_FILE: &str = "cache.json";

/// `models/<version>/<file>`.
pub fn file_key(version: &str, file: &str) -> String {
    format!("models/{version}/{file}")
}

/// Whether `version` is safe inside keys: what the pipeline writes (timestamp and
/// hash), nothing that could climb out of `models/` (the rule of
/// `reco_core::ids::model_version`).
pub fn valid_version(version: &str) -> bool {
    reco_core::ids::model_version(version).is_ok()
}

/// Cache keys. `namespace` is a checked `RECO_CACHE_NAMESPACE` (no `:`), and
/// versions are [`valid_version`]s, so two namespaces' keys never meet.
pub mod cache {
    pub use reco_core::config::DEFAULT_CACHE_NAMESPACE as DEFAULT_NAMESPACE;

    /// Versioned keys live this long; a newer version replaces them before then.
    pub const TTL_SECS: u64 = 7 * 86_400;

    pub fn items(namespace: &str, version: &str) -> String {
        format!("reco:{namespace}:{version}:items")
    }

    pub fn user(namespace: &str, version: &str, customer_id: &str) -> String {
        format!("reco:{namespace}:{version}:user:{customer_id}")
    }
}

/// `models/<version>/cache.json`: what the cache's items part of the version must be.
/// The cache is shared and less trusted than the artifact store, so predict uses a
/// cached items part only when it matches this digest, and a cached customer only
/// when it matches the SHA-256 the items part lists for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheDigest {
    /// SHA-256 (lower-case hex) of the items part.
    pub items_sha256: String,
    /// Its length in bytes.
    pub items_bytes: u64,
}

impl CacheDigest {
    pub fn of(items_part: &[u8]) -> Self {
        CacheDigest {
            items_sha256: sha256_hex(items_part),
            items_bytes: items_part.len() as u64,
        }
    }

    /// Whether `bytes` are the items part this digest describes.
    pub fn matches(&self, bytes: &[u8]) -> bool {
        bytes.len() as u64 == self.items_bytes && sha256_hex(bytes) == self.items_sha256
    }
}

/// Reads `version`'s cache digest: `None` when none was recorded (a version published
/// before digests were).
pub async fn read_cache_digest(
    store: &dyn ArtifactStore,
    version: &str,
) -> Result<Option<CacheDigest>, VersionError> {
    if !valid_version(version) {
        return Err(VersionError::NotAVersion(version.to_string()));
    }
    match store.get(&file_key(version, CACHE_DIGEST_FILE)).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(VersionError::CacheDigest),
    }
}

/// Writes `version`'s cache digest (the same bytes for the same version: writing it
/// again changes nothing).
pub async fn write_cache_digest(
    store: &dyn ArtifactStore,
    version: &str,
    digest: &CacheDigest,
) -> Result<(), VersionError> {
    if !valid_version(version) {
        return Err(VersionError::NotAVersion(version.to_string()));
    }
    let bytes = serde_json::to_vec_pretty(digest).map_err(VersionError::CacheDigest)?;
    store
        .put(
            &file_key(version, CACHE_DIGEST_FILE),
            bytes,
            "application/json",
        )
        .await?;
    Ok(())
}

/// `models/current.json`: the published version and the ones before it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pointer {
    pub version: String,
    pub published_at: String,
    #[serde(default)]
    pub previous: Vec<String>,
}

/// The pointer after rolling `current` back to `target` (one of its previous
/// versions): `target` is published, the current version joins the history.
pub fn rolled_back(current: Pointer, target: &str, published_at: String) -> Pointer {
    let mut previous: Vec<String> = current
        .previous
        .into_iter()
        .filter(|v| v != target)
        .collect();
    previous.push(current.version);
    Pointer {
        version: target.to_string(),
        published_at,
        previous,
    }
}

/// The four numbers the gate and the manifest report, over `users` holdout users.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub precision_at_10: f64,
    pub recall_at_10: f64,
    pub auc: f64,
    pub ndcg_at_10: f64,
    pub users: usize,
}

impl Scores {
    pub fn finite(&self) -> bool {
        [
            self.precision_at_10,
            self.recall_at_10,
            self.auc,
            self.ndcg_at_10,
        ]
        .iter()
        .all(|v| v.is_finite())
    }
}

/// One point of the learning curve.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EpochPoint {
    pub epoch: usize,
    pub loss: f64,
    pub precision_at_10: f64,
}

/// Sizes of the training data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub users: usize,
    pub items: usize,
    pub interactions: usize,
    pub positives: usize,
    pub train: usize,
    pub holdout: usize,
}

/// The model a candidate was compared with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Compared {
    pub version: Option<String>,
    pub metrics: Option<Scores>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    pub popular: Scores,
}

/// `models/<version>/manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub version: String,
    pub created_at: String,
    pub data: Counts,
    /// The training options, as given.
    pub hyperparameters: serde_json::Value,
    pub metrics: Scores,
    pub current: Compared,
    pub baseline: Baseline,
    pub learning_curve: Vec<EpochPoint>,
    pub fit_seconds: f64,
    /// File name -> SHA-256 (lower-case hex) of its bytes.
    pub files: BTreeMap<String, String>,
    /// The session model on the newest archived sessions, held out (absent when there
    /// were too few sessions, and in manifests written before it existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionScores>,
}

/// The session model on the newest archived sessions, held out: each prefix predicts
/// the view after it (`reco_model::session::tune`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionScores {
    pub held_out_sessions: usize,
    /// Prefixes scored.
    pub predictions: u64,
    /// Share of next views in the chosen parameters' top 20.
    pub hr_at_20: f64,
    /// Mean reciprocal rank of the next view within the top 20 (0 when outside).
    pub mrr_at_20: f64,
    /// Share of next views among the 20 most popular items.
    pub popular_hr_at_20: f64,
    /// The parameters served.
    pub params: reco_model::session::SessionParams,
    /// Every candidate tried.
    pub trials: Vec<reco_model::session::tune::Trial>,
}

/// Why a file does not match its manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the manifest lists no {0}")]
    Unlisted(String),
    #[error("{0} does not match the manifest's sha256")]
    Mismatch(String),
}

impl Manifest {
    /// Whether `bytes` are `file` as the manifest recorded it.
    pub fn verify(&self, file: &str, bytes: &[u8]) -> Result<(), VerifyError> {
        match self.files.get(file) {
            None => Err(VerifyError::Unlisted(file.to_string())),
            Some(expected) if *expected == sha256_hex(bytes) => Ok(()),
            Some(_) => Err(VerifyError::Mismatch(file.to_string())),
        }
    }
}

/// Why the published pointer cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PointerError {
    #[error(transparent)]
    Artifacts(#[from] ArtifactError),
    #[error("{CURRENT_KEY} is not a model pointer: {0}")]
    Decode(#[source] serde_json::Error),
}

/// Reads `models/current.json`: `None` when nothing is published.
pub async fn read_pointer(store: &dyn ArtifactStore) -> Result<Option<Pointer>, PointerError> {
    match store.get(CURRENT_KEY).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(PointerError::Decode),
    }
}

/// Why a published version's file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum VersionError {
    #[error("`{}` is not a version name", .0.escape_debug())]
    NotAVersion(String),
    #[error(transparent)]
    Artifacts(#[from] ArtifactError),
    #[error("no {0} in the version's folder")]
    Missing(&'static str),
    #[error("the manifest: {0}")]
    Manifest(#[source] serde_json::Error),
    #[error("the cache digest: {0}")]
    CacheDigest(#[source] serde_json::Error),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error("the serving bundle: {0}")]
    Bundle(#[from] crate::bundle::BundleError),
    #[error("the model file: {0}")]
    Model(#[from] reco_model::ModelError),
}

/// Reads `version`'s manifest and its `file`, and checks the file against the
/// manifest's SHA-256.
pub async fn read_verified(
    store: &dyn ArtifactStore,
    version: &str,
    file: &'static str,
) -> Result<(Manifest, Vec<u8>), VersionError> {
    if !valid_version(version) {
        return Err(VersionError::NotAVersion(version.to_string()));
    }
    let manifest = store
        .get(&file_key(version, MANIFEST_FILE))
        .await?
        .ok_or(VersionError::Missing(MANIFEST_FILE))?;
    let manifest: Manifest = serde_json::from_slice(&manifest).map_err(VersionError::Manifest)?;
    let bytes = store
        .get(&file_key(version, file))
        .await?
        .ok_or(VersionError::Missing(file))?;
    manifest.verify(file, &bytes)?;
    Ok((manifest, bytes))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_cannot_leave_the_models_prefix() {
        assert!(valid_version("20261130T120000Z-0123abcd"));
        for bad in ["", "..", "../x", "a/b", ".hidden", "a b", "v\n"] {
            assert!(!valid_version(bad), "{bad:?}");
        }
    }

    #[test]
    fn cache_keys_are_namespaced_and_digests_check_length_and_hash() {
        assert_eq!(cache::items("a", "v1"), "reco:a:v1:items");
        assert_eq!(cache::user("b", "v1", "c:7"), "reco:b:v1:user:c:7");
        assert_ne!(cache::items("a", "v1"), cache::items("b", "v1"));
        let d = CacheDigest::of(b"items");
        assert!(d.matches(b"items"));
        assert!(!d.matches(b"itemz"));
        let longer = CacheDigest {
            items_bytes: 6,
            ..d.clone()
        };
        assert!(!longer.matches(b"items"));
        let round: CacheDigest = serde_json::from_slice(&serde_json::to_vec(&d).unwrap()).unwrap();
        assert_eq!(round, d);
    }

    #[test]
    fn a_manifest_verifies_its_files() {
        let mut files = BTreeMap::new();
        files.insert("a".to_string(), sha256_hex(b"bytes"));
        let scores = Scores {
            precision_at_10: 0.1,
            recall_at_10: 0.1,
            auc: 0.9,
            ndcg_at_10: 0.1,
            users: 1,
        };
        let m = Manifest {
            version: "v".into(),
            created_at: "t".into(),
            data: Counts {
                users: 1,
                items: 1,
                interactions: 1,
                positives: 1,
                train: 1,
                holdout: 0,
            },
            hyperparameters: serde_json::json!({}),
            metrics: scores,
            current: Compared::default(),
            baseline: Baseline { popular: scores },
            learning_curve: vec![],
            fit_seconds: 0.0,
            files,
            session: None,
        };
        assert!(m.verify("a", b"bytes").is_ok());
        assert_eq!(
            m.verify("a", b"bytez"),
            Err(VerifyError::Mismatch("a".into()))
        );
        assert_eq!(
            m.verify("b", b"bytes"),
            Err(VerifyError::Unlisted("b".into()))
        );
        assert!(VerifyError::Mismatch("a".into())
            .to_string()
            .contains("sha256"));
        let round: Manifest = serde_json::from_slice(&serde_json::to_vec(&m).unwrap()).unwrap();
        assert_eq!(round, m);
    }
}
