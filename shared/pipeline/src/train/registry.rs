//! Published versions in the artifact store, in the layout `reco_serving::registry`
//! defines: load and verify a version, publish it, roll back. Publishing and rolling
//! back record the version's cache digest before moving the pointer.

use reco_core::{ArtifactStore, Timestamp};
use reco_model::artifact::{self, Catalog};
use reco_model::Model;
use reco_serving::loader;
use reco_serving::registry::{self, CacheDigest, Manifest, Pointer, CURRENT_KEY, MODEL_FILE};

use super::TrainError;

pub(crate) fn rfc3339(t: Timestamp) -> String {
    t.to_rfc3339()
}

/// A loaded, verified version.
pub struct Loaded {
    pub version: String,
    pub model: Model,
    pub catalog: Catalog,
    pub manifest: Manifest,
}

/// Reads `models/<version>/`, checking every file against the manifest's SHA-256 and
/// the model file's own checksum.
pub async fn load_version(store: &dyn ArtifactStore, version: &str) -> Result<Loaded, TrainError> {
    let unusable = |reason| TrainError::unusable(version, reason);
    let (manifest, bytes) = registry::read_verified(store, version, MODEL_FILE)
        .await
        .map_err(unusable)?;
    let (model, catalog) = artifact::from_bytes(&bytes).map_err(|e| unusable(e.into()))?;
    Ok(Loaded {
        version: version.to_string(),
        model,
        catalog,
        manifest,
    })
}

pub async fn current_pointer(store: &dyn ArtifactStore) -> Result<Option<Pointer>, TrainError> {
    Ok(registry::read_pointer(store).await?)
}

/// Writes `models/<version>/cache.json`, the digest of the version's items part in
/// the serving cache, from its verified serving bundle.
async fn record_cache_digest(store: &dyn ArtifactStore, version: &str) -> Result<(), TrainError> {
    let unusable = |reason| TrainError::unusable(version, reason);
    let bundle = loader::read_version(store, version)
        .await
        .map_err(unusable)?;
    let digest = CacheDigest::of(&bundle.cache_parts()?.items);
    registry::write_cache_digest(store, version, &digest)
        .await
        .map_err(unusable)
}

/// Publishes `version` (already written): verifies it loads, records its cache
/// digest, then writes the pointer in one put. The pointer keeps the versions before
/// it for rollback.
pub async fn publish(
    store: &dyn ArtifactStore,
    version: &str,
    now: Timestamp,
) -> Result<Pointer, TrainError> {
    load_version(store, version).await?;
    record_cache_digest(store, version).await?;
    let mut previous = Vec::new();
    if let Some(current) = current_pointer(store).await? {
        if current.version != version {
            previous = current.previous;
            previous.push(current.version);
        }
    }
    previous.retain(|v| v != version);
    if previous.len() > 20 {
        previous.drain(..previous.len() - 20);
    }
    let pointer = Pointer {
        version: version.to_string(),
        published_at: rfc3339(now),
        previous,
    };
    put_pointer(store, &pointer).await?;
    Ok(pointer)
}

/// Writes the pointer in one put.
async fn put_pointer(store: &dyn ArtifactStore, pointer: &Pointer) -> Result<(), TrainError> {
    let bytes = serde_json::to_vec_pretty(pointer).map_err(|source| TrainError::Encode {
        what: "the pointer",
        source,
    })?;
    store.put(CURRENT_KEY, bytes, "application/json").await?;
    Ok(())
}

/// Republishes `to`, or the version before the current one.
pub async fn rollback(
    store: &dyn ArtifactStore,
    to: Option<&str>,
    now: Timestamp,
) -> Result<Pointer, TrainError> {
    let current = current_pointer(store)
        .await?
        .ok_or(TrainError::NothingPublished)?;
    let target = match to {
        Some(v) => v.to_string(),
        None => current
            .previous
            .last()
            .cloned()
            .ok_or(TrainError::NoEarlierVersion)?,
    };
    load_version(store, &target).await?;
    record_cache_digest(store, &target).await?;
    let pointer = reco_serving::registry::rolled_back(current, &target, rfc3339(now));
    put_pointer(store, &pointer).await?;
    Ok(pointer)
}
