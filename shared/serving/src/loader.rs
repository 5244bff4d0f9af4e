//! Keeping the published version in memory: S3 (or a folder) -> cache -> memory.
//!
//! - Cold start: the version named by the cache's `reco:current`, its items part read
//!   from the cache; on a miss (or without a cache) the pointer `models/current.json`
//!   and `models/<version>/serving.safetensors` from the artifact store, verified
//!   against the manifest's SHA-256, then written into the cache (items, customers,
//!   `reco:current`) for the next instance, in the background.
//! - Every `refresh` at most, the artifact store's pointer is read again (it is the
//!   truth: a rollback is seen too); a new version is loaded beside the old one and
//!   swapped in with one pointer write, so a request sees one version or the other.
//! - A version that fails to load (bad checksum, damaged file) is refused: the model
//!   in memory keeps serving, and the refusal is logged.
//! - The cache is optional and never needed: each call has a timeout; after a failure
//!   it is left alone for [`CACHE_BACKOFF`], and what it would have given is read from
//!   the artifact store instead.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use reco_core::{ArtifactStore, CacheError, EmbeddingCache, SessionError};

use crate::bundle::{Bundle, BundleError, UserRecord};
use crate::model::{ServingModel, Source};
use crate::registry::{self, cache, read_pointer, VersionError};

/// Timeout of a small cache call (the version, one customer).
pub const CACHE_CALL_TIMEOUT: Duration = Duration::from_millis(250);
/// Timeout of reading a version's items part from the cache.
pub const CACHE_BUNDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the cache is left alone after a failure.
pub const CACHE_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Nothing is published.
    #[error("no model is published yet: run training (`reco train`, or the training state machine) first")]
    NoModel,
    /// A model is published but cannot be read now.
    #[error("the published model cannot be loaded: {0}")]
    Unavailable(String),
    #[error("item {0} is not in the model's catalogue")]
    UnknownItem(String),
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// Why a version could not be written into the cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheFillError {
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    Cache(#[from] CacheError),
}

/// Entries that put `version` in the cache: its items part, each customer, and last
/// `reco:current` (written separately by [`write_to_cache`]).
pub fn cache_entries(
    version: &str,
    bundle: &Bundle,
) -> Result<Vec<(String, Vec<u8>)>, BundleError> {
    let items = Bundle {
        items: bundle.items.clone(),
        users: None,
    }
    .to_bytes()?;
    let mut entries = vec![(cache::items(version), items)];
    if let Some(users) = &bundle.users {
        entries.extend(
            users
                .iter()
                .map(|(id, r)| (cache::user(version, id), r.to_bytes())),
        );
    }
    Ok(entries)
}

/// Writes `version` into the cache, `reco:current` last so that readers never see a
/// version whose keys are not all there.
pub async fn write_to_cache(
    cache_port: &dyn EmbeddingCache,
    version: &str,
    bundle: &Bundle,
) -> Result<usize, CacheFillError> {
    let entries = cache_entries(version, bundle)?;
    let n = entries.len();
    for chunk in chunks(entries, 1000) {
        cache_port.put_many(chunk, Some(cache::TTL_SECS)).await?;
    }
    cache_port
        .put_many(
            vec![(cache::CURRENT.to_string(), version.as_bytes().to_vec())],
            None,
        )
        .await?;
    Ok(n)
}

fn chunks<T>(v: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut out = Vec::new();
    let mut it = v.into_iter().peekable();
    while it.peek().is_some() {
        out.push(it.by_ref().take(size).collect());
    }
    out
}

/// Reads and verifies `version`'s serving bundle from the artifact store.
pub async fn read_version(
    store: &dyn ArtifactStore,
    version: &str,
) -> Result<Bundle, VersionError> {
    let (_, bytes) = registry::read_verified(store, version, registry::SERVING_FILE).await?;
    Ok(Bundle::from_bytes(&bytes)?)
}

struct State {
    model: Option<Arc<ServingModel>>,
    checked_at: Option<Instant>,
    /// Why the last check found nothing to serve although a version is published.
    refused: Option<String>,
}

impl State {
    /// What a request gets between checks.
    fn answer(
        model: Option<Arc<ServingModel>>,
        refused: Option<String>,
    ) -> Result<Arc<ServingModel>, ServeError> {
        match (model, refused) {
            (Some(m), _) => Ok(m),
            (None, Some(reason)) => Err(ServeError::Unavailable(reason)),
            (None, None) => Err(ServeError::NoModel),
        }
    }
}

/// The version in memory, and how it is kept current.
pub struct ModelSource {
    artifacts: Arc<dyn ArtifactStore>,
    cache: Option<Arc<dyn EmbeddingCache>>,
    refresh: Duration,
    cache_backoff: Duration,
    state: RwLock<State>,
    loading: tokio::sync::Mutex<()>,
    cache_down_until: Mutex<Option<Instant>>,
}

impl ModelSource {
    pub fn new(
        artifacts: Arc<dyn ArtifactStore>,
        cache: Option<Arc<dyn EmbeddingCache>>,
        refresh: Duration,
    ) -> Self {
        ModelSource {
            artifacts,
            cache,
            refresh,
            cache_backoff: CACHE_BACKOFF,
            state: RwLock::new(State {
                model: None,
                checked_at: None,
                refused: None,
            }),
            loading: tokio::sync::Mutex::new(()),
            cache_down_until: Mutex::new(None),
        }
    }

    /// How long the cache is left alone after a failure (default [`CACHE_BACKOFF`]).
    pub fn with_cache_backoff(mut self, backoff: Duration) -> Self {
        self.cache_backoff = backoff;
        self
    }

    /// The version in memory now, without checking for a newer one.
    pub fn loaded(&self) -> Option<Arc<ServingModel>> {
        self.snapshot().0
    }

    /// Makes the next request check for a newer version (after a local publish).
    pub fn invalidate(&self) {
        let mut s = match self.state.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        s.checked_at = None;
    }

    /// The model in memory, whether a check is due, and why the last check refused the
    /// published version (when nothing is in memory).
    fn snapshot(&self) -> (Option<Arc<ServingModel>>, bool, Option<String>) {
        let s = match self.state.read() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        (
            s.model.clone(),
            s.checked_at.is_none_or(|t| t.elapsed() >= self.refresh),
            s.refused.clone(),
        )
    }

    /// Records a check: the new model if one was loaded, and the refusal if any.
    fn set(&self, model: Option<Arc<ServingModel>>, refused: Option<String>) {
        let mut s = match self.state.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if model.is_some() {
            s.model = model;
        }
        s.refused = refused;
        s.checked_at = Some(Instant::now());
    }

    /// The version in memory, after checking for a newer one if `refresh` has passed.
    pub async fn current(&self) -> Result<Arc<ServingModel>, ServeError> {
        let (model, due, refused) = self.snapshot();
        if !due {
            return State::answer(model, refused);
        }
        let (_guard, model) = match model {
            // Someone else is checking: answer from what is here.
            Some(m) => match self.loading.try_lock() {
                Ok(g) => (g, Some(m)),
                Err(_) => return Ok(m),
            },
            None => {
                let g = self.loading.lock().await;
                // Another request may have checked while this one waited.
                let (model, due, refused) = self.snapshot();
                if !due {
                    return State::answer(model, refused);
                }
                (g, model)
            }
        };
        self.check(model).await
    }

    /// Loads a newer version if there is one; keeps `model` on any failure.
    async fn check(
        &self,
        model: Option<Arc<ServingModel>>,
    ) -> Result<Arc<ServingModel>, ServeError> {
        // Cold: the cache says what to serve, and holds it.
        if model.is_none() {
            if let Some(m) = self.load_cached().await {
                let m = Arc::new(m);
                self.set(Some(Arc::clone(&m)), None);
                return Ok(m);
            }
        }
        let pointer = match read_pointer(self.artifacts.as_ref()).await {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the published pointer");
                return match model {
                    Some(m) => {
                        self.set(None, None);
                        Ok(m)
                    }
                    None => Err(ServeError::Unavailable(e.to_string())),
                };
            }
        };
        let Some(pointer) = pointer else {
            self.set(None, None);
            return model.ok_or(ServeError::NoModel);
        };
        if let Some(m) = &model {
            if m.version == pointer.version {
                self.set(None, None);
                return Ok(Arc::clone(m));
            }
        }
        match self.load_published(&pointer.version).await {
            Ok(m) => {
                tracing::info!(version = %m.version, items = m.len(), "serving a new version");
                let m = Arc::new(m);
                self.set(Some(Arc::clone(&m)), None);
                Ok(m)
            }
            Err(e) => {
                tracing::error!(version = %pointer.version, error = %e, "published version refused");
                let reason = format!("version {}: {e}", pointer.version);
                match model {
                    Some(m) => {
                        self.set(None, None);
                        Ok(m)
                    }
                    None => {
                        self.set(None, Some(reason.clone()));
                        Err(ServeError::Unavailable(reason))
                    }
                }
            }
        }
    }

    /// The cache's current version, if the cache has it whole.
    async fn load_cached(&self) -> Option<ServingModel> {
        let version = self.cache_get(cache::CURRENT, CACHE_CALL_TIMEOUT).await?;
        let version = String::from_utf8(version).ok()?;
        if !registry::valid_version(&version) {
            return None;
        }
        let bytes = self
            .cache_get(&cache::items(&version), CACHE_BUNDLE_TIMEOUT)
            .await?;
        match Bundle::from_bytes(&bytes).and_then(|b| ServingModel::new(&version, b, Source::Cache))
        {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(version, error = %e, "cached version unreadable; reading the artifact store");
                None
            }
        }
    }

    /// Reads `version` from the artifact store and puts it in the cache for others.
    async fn load_published(&self, version: &str) -> Result<ServingModel, VersionError> {
        let bundle = read_version(self.artifacts.as_ref(), version).await?;
        if let Some(c) = &self.cache {
            if !self.cache_down() {
                let c = Arc::clone(c);
                let version = version.to_string();
                let bundle = bundle.clone();
                tokio::spawn(async move {
                    match write_to_cache(c.as_ref(), &version, &bundle).await {
                        Ok(n) => tracing::info!(version, entries = n, "cache filled"),
                        Err(e) => tracing::warn!(version, error = %e, "cache not filled"),
                    }
                });
            }
        }
        Ok(ServingModel::new(version, bundle, Source::Artifacts)?)
    }

    /// The customer's record, and the model to use it with: from memory when the
    /// version was read from the artifact store, else from the cache; when the cache
    /// fails, the version is read whole from the artifact store (once) instead.
    pub async fn user(
        &self,
        model: Arc<ServingModel>,
        customer_id: &str,
    ) -> (Arc<ServingModel>, Option<UserRecord>) {
        if let Some(users) = model.users() {
            let r = users.get(customer_id).cloned();
            return (model, r);
        }
        if self.cache.is_some() && !self.cache_down() {
            let key = cache::user(&model.version, customer_id);
            match self.cache_try(&key, CACHE_CALL_TIMEOUT).await {
                Ok(Some(bytes)) => match UserRecord::from_bytes(&bytes) {
                    Ok(r) if r.vector.len() == model.dim() => return (model, Some(r)),
                    _ => tracing::warn!(customer_id, "cached customer unreadable"),
                },
                // The version's keys are all written before it becomes current.
                Ok(None) => return (model, None),
                Err(()) => {}
            }
        }
        // The cache cannot say: read the whole version once.
        let _guard = self.loading.lock().await;
        let (now, _, _) = self.snapshot();
        if let Some(now) = now.filter(|m| m.version == model.version && m.users().is_some()) {
            let r = now.users().and_then(|u| u.get(customer_id).cloned());
            return (now, r);
        }
        match self.load_published(&model.version).await {
            Ok(m) => {
                let m = Arc::new(m);
                {
                    let mut s = match self.state.write() {
                        Ok(s) => s,
                        Err(p) => p.into_inner(),
                    };
                    if s.model
                        .as_ref()
                        .is_some_and(|cur| cur.version == model.version)
                    {
                        s.model = Some(Arc::clone(&m));
                    }
                }
                let r = m.users().and_then(|u| u.get(customer_id).cloned());
                (m, r)
            }
            Err(e) => {
                tracing::warn!(version = %model.version, error = %e, "customers unavailable; answering without them");
                (model, None)
            }
        }
    }

    fn cache_down(&self) -> bool {
        match self.cache_down_until.lock() {
            Ok(g) => g.is_some_and(|t| Instant::now() < t),
            Err(_) => false,
        }
    }

    async fn cache_get(&self, key: &str, timeout: Duration) -> Option<Vec<u8>> {
        if self.cache.is_none() || self.cache_down() {
            return None;
        }
        self.cache_try(key, timeout).await.ok().flatten()
    }

    /// One cache read; `Err` when the cache failed or timed out (and is then left
    /// alone for a while).
    async fn cache_try(&self, key: &str, timeout: Duration) -> Result<Option<Vec<u8>>, ()> {
        let Some(c) = &self.cache else {
            return Err(());
        };
        let failure = match tokio::time::timeout(timeout, c.get(key)).await {
            Ok(Ok(v)) => return Ok(v),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {timeout:?}"),
        };
        let backoff = self.cache_backoff;
        tracing::warn!(key, error = %failure, "cache call failed; using the artifact store for {backoff:?}");
        if let Ok(mut g) = self.cache_down_until.lock() {
            *g = Some(Instant::now() + backoff);
        }
        Err(())
    }
}
