//! Warming the serving cache with a published version: the items part of its serving
//! bundle and each customer's record under versioned keys with a TTL, then
//! `reco:current`, last, so readers never see a version whose keys are not all there.
//! The keys are the registry's (`reco_serving::registry::cache`), the same predict
//! reads.

use reco_core::{ArtifactStore, EmbeddingCache};
use reco_serving::loader;

use crate::train::TrainError;

pub use reco_serving::registry::cache::{items as items_key, user as user_key, CURRENT, TTL_SECS};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmReport {
    pub items: usize,
    pub users: usize,
}

/// Writes `version` (already in the artifact store) into the cache.
pub async fn warm(
    cache: &dyn EmbeddingCache,
    store: &dyn ArtifactStore,
    version: &str,
) -> Result<WarmReport, TrainError> {
    let bundle = loader::read_version(store, version)
        .await
        .map_err(|reason| TrainError::unusable(version, reason))?;
    let report = WarmReport {
        items: bundle.items.ids.len(),
        users: bundle.users.as_ref().map_or(0, |u| u.len()),
    };
    loader::write_to_cache(cache, version, &bundle).await?;
    Ok(report)
}
