//! Warming the serving cache with a published version: the serving bundle (every
//! item's vector and bias, with the item ids), the popular list and each user's
//! vector, under versioned keys with a TTL; then `reco:current`, last, so readers
//! never see a version whose keys are not all there.

use reco_core::{ArtifactStore, EmbeddingCache};
use safetensors::tensor::{Dtype, TensorView};

use crate::train::{load_version, TrainError};

/// Versioned keys live this long; a newer version replaces them before then.
pub const CACHE_TTL_SECS: u64 = 7 * 86_400;
pub const CURRENT: &str = "reco:current";

pub fn items_key(version: &str) -> String {
    format!("reco:{version}:items")
}
pub fn popular_key(version: &str) -> String {
    format!("reco:{version}:popular")
}
pub fn user_key(version: &str, user: &str) -> String {
    format!("reco:{version}:user:{user}")
}

fn f32_bytes(values: impl Iterator<Item = f32>) -> Vec<u8> {
    values.flat_map(|v| v.to_le_bytes()).collect()
}

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
    let loaded = load_version(store, version).await?;
    let (items, biases) = loaded.model.item_representations();
    let (n, d) = items.dim();
    let vectors = f32_bytes(items.iter().copied());
    let bias_bytes = f32_bytes(biases.iter().copied());
    let ids = loaded.catalog.item_ids.join("\n").into_bytes();
    let err = |e: safetensors::SafeTensorError| TrainError::Data(e.to_string());
    let bundle = safetensors::tensor::serialize(
        vec![
            (
                "biases",
                TensorView::new(Dtype::F32, vec![n], &bias_bytes).map_err(err)?,
            ),
            (
                "item_ids",
                TensorView::new(Dtype::U8, vec![ids.len()], &ids).map_err(err)?,
            ),
            (
                "vectors",
                TensorView::new(Dtype::F32, vec![n, d], &vectors).map_err(err)?,
            ),
        ],
        None,
    )
    .map_err(err)?;
    let popular = store
        .get(&format!("models/{version}/popular.json"))
        .await?
        .unwrap_or_else(|| b"[]".to_vec());
    let mut entries = vec![
        (items_key(version), bundle),
        (popular_key(version), popular),
    ];
    let (users, user_biases) = loaded.model.user_representations();
    for (u, id) in loaded.catalog.user_ids.iter().enumerate() {
        let v = f32_bytes(
            users
                .row(u)
                .iter()
                .copied()
                .chain(std::iter::once(user_biases[u])),
        );
        entries.push((user_key(version, id), v));
    }
    let report = WarmReport {
        items: n,
        users: loaded.catalog.user_ids.len(),
    };
    cache
        .put_many(entries, Some(CACHE_TTL_SECS))
        .await
        .map_err(|e| TrainError::Data(e.to_string()))?;
    cache
        .put_many(
            vec![(CURRENT.to_string(), version.as_bytes().to_vec())],
            None,
        )
        .await
        .map_err(|e| TrainError::Data(e.to_string()))?;
    Ok(report)
}
