//! Warming the serving cache with a published version: each customer's record, then
//! the items part of its serving bundle, under versioned keys of the deployment's
//! namespace with a TTL. The keys are the registry's (`reco_serving::registry::cache`),
//! the same predict reads. Warming only reads the artifact store, and never changes
//! which version serves: that is the artifact store's pointer. Predict uses the
//! entries only if they match the digest publishing recorded
//! (`models/<version>/cache.json`), which warming checks and reports.

use reco_core::{ArtifactStore, EmbeddingCache};
use reco_serving::loader;
use reco_serving::registry::{self, CacheDigest};

use crate::train::TrainError;

pub use reco_serving::registry::cache::{items as items_key, user as user_key, TTL_SECS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmReport {
    pub items: usize,
    pub users: usize,
    /// Whether the items part written matches the digest recorded in the artifact
    /// store (without one, as for a version published before digests were recorded,
    /// predict reads the version from the artifact store instead).
    pub digest_matches: bool,
}

/// Writes `version` (already in the artifact store) into the cache under `namespace`.
pub async fn warm(
    cache: &dyn EmbeddingCache,
    namespace: &str,
    store: &dyn ArtifactStore,
    version: &str,
) -> Result<WarmReport, TrainError> {
    let unusable = |reason| TrainError::unusable(version, reason);
    let bundle = loader::read_version(store, version)
        .await
        .map_err(unusable)?;
    let parts = bundle.cache_parts()?;
    let recorded = registry::read_cache_digest(store, version)
        .await
        .map_err(unusable)?;
    let report = WarmReport {
        items: bundle.items.ids.len(),
        users: bundle.users.as_ref().map_or(0, |u| u.len()),
        digest_matches: recorded == Some(CacheDigest::of(&parts.items)),
    };
    if !report.digest_matches {
        tracing::warn!(
            version,
            recorded = recorded.is_some(),
            "the items part does not match the digest recorded when publishing: predict will read this version from the artifact store"
        );
    }
    loader::write_parts(cache, namespace, version, parts).await?;
    Ok(report)
}
