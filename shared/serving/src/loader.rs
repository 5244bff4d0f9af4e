//! Keeping the published version in memory: S3 (or a folder) -> cache -> memory.
//!
//! - Which version serves is the artifact store's pointer `models/current.json` (the
//!   truth, so a rollback is seen too), read at a cold start and every `refresh` at
//!   most. The cache holds versioned entries under the deployment's namespace, never
//!   which version is current, so no cache write can change what is served.
//! - A version is read from the cache when its items part there matches the digest the
//!   artifact store records for it (`models/<version>/cache.json`); its customers are
//!   then read one by one, each checked against the SHA-256 the items part lists for
//!   them. A miss or a mismatch (logged) reads the artifact store instead:
//!   `models/<version>/serving.safetensors`, verified against the manifest's SHA-256.
//!   The cache is then refilled in the background for the next instance: the whole
//!   version after an items part, the one customer after a customer.
//! - A new version is loaded beside the old one and swapped in with one pointer write,
//!   so a request sees one version or the other.
//! - A version that fails to load (bad checksum, damaged file) is refused: the model
//!   in memory keeps serving, and the refusal is logged.
//! - The cache is optional and never needed: each call has a timeout; after a failure
//!   it is left alone for [`CACHE_BACKOFF`], and what it would have given is read from
//!   the artifact store instead.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use reco_core::{ArtifactStore, CacheError, EmbeddingCache, SessionError};

use crate::bundle::{Bundle, BundleError, UserRecord};
use crate::cached::{self, CacheParts};
use crate::model::{ServingModel, Source};
use crate::registry::{self, cache, read_pointer, VersionError};

/// Timeout of a small cache call (one customer).
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

/// Writes `version` into the cache under `namespace`: each customer, then the items
/// part. Returns the number of entries.
pub async fn write_to_cache(
    cache_port: &dyn EmbeddingCache,
    namespace: &str,
    version: &str,
    bundle: &Bundle,
) -> Result<usize, CacheFillError> {
    write_parts(cache_port, namespace, version, bundle.cache_parts()?).await
}

/// Writes `parts` (from [`Bundle::cache_parts`]) as `version`'s entries under
/// `namespace`, the items part last, so that a reader who finds it finds the customers
/// it lists.
pub async fn write_parts(
    cache_port: &dyn EmbeddingCache,
    namespace: &str,
    version: &str,
    parts: CacheParts,
) -> Result<usize, CacheFillError> {
    let mut entries: Vec<(String, Vec<u8>)> = parts
        .users
        .into_iter()
        .map(|(id, record)| (cache::user(namespace, version, &id), record))
        .collect();
    entries.push((cache::items(namespace, version), parts.items));
    let n = entries.len();
    for chunk in chunks(entries, 1000) {
        cache_port.put_many(chunk, Some(cache::TTL_SECS)).await?;
    }
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
    namespace: String,
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
            namespace: cache::DEFAULT_NAMESPACE.to_string(),
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

    /// The namespace of this deployment's cache keys (`RECO_CACHE_NAMESPACE`, checked
    /// by the configuration; default [`cache::DEFAULT_NAMESPACE`]).
    pub fn with_namespace(mut self, namespace: &str) -> Self {
        self.namespace = namespace.to_string();
        self
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
        match self.load(&pointer.version).await {
            Ok(m) => {
                tracing::info!(version = %m.version, source = ?m.source, items = m.len(), "serving a new version");
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

    /// `version` from the cache if it holds it as the artifact store records it, else
    /// from the artifact store.
    async fn load(&self, version: &str) -> Result<ServingModel, VersionError> {
        if let Some(m) = self.load_cached(version).await {
            return Ok(m);
        }
        self.load_published(version, true).await
    }

    /// `version`'s items part from the cache, if it matches the digest recorded in the
    /// artifact store.
    async fn load_cached(&self, version: &str) -> Option<ServingModel> {
        if self.cache.is_none() || self.cache_down() {
            return None;
        }
        // The digest from the artifact store and the items part from the cache, at once.
        let key = cache::items(&self.namespace, version);
        let (digest, bytes) = tokio::join!(
            registry::read_cache_digest(self.artifacts.as_ref(), version),
            self.cache_get(&key, CACHE_BUNDLE_TIMEOUT)
        );
        let digest = match digest {
            Ok(Some(d)) => d,
            Ok(None) => {
                tracing::info!(
                    version,
                    "no cache digest recorded; reading the artifact store"
                );
                return None;
            }
            Err(e) => {
                tracing::warn!(version, error = %e, "cache digest unreadable; reading the artifact store");
                return None;
            }
        };
        let Some(bytes) = bytes else {
            tracing::info!(
                key,
                "items part not in the cache; reading the artifact store"
            );
            return None;
        };
        if !digest.matches(&bytes) {
            tracing::warn!(
                key,
                bytes = bytes.len(),
                "cached items part does not match the digest in the artifact store; reading the artifact store"
            );
            return None;
        }
        match Bundle::from_cache_items(&bytes)
            .and_then(|(items, users)| ServingModel::from_cache(version, items, users))
        {
            Ok(m) => Some(m),
            Err(e) => {
                tracing::warn!(key, error = %e, "cached items part unreadable; reading the artifact store");
                None
            }
        }
    }

    /// Reads `version` from the artifact store, and with `fill` puts it in the cache for
    /// others, in the background.
    async fn load_published(
        &self,
        version: &str,
        fill: bool,
    ) -> Result<ServingModel, VersionError> {
        let bundle = read_version(self.artifacts.as_ref(), version).await?;
        if fill {
            if let Some(c) = self.usable_cache() {
                let namespace = self.namespace.clone();
                let version = version.to_string();
                let bundle = bundle.clone();
                tokio::spawn(async move {
                    match write_to_cache(c.as_ref(), &namespace, &version, &bundle).await {
                        Ok(n) => tracing::info!(version, entries = n, "cache filled"),
                        Err(e) => tracing::warn!(version, error = %e, "cache not filled"),
                    }
                });
            }
        }
        Ok(ServingModel::new(version, bundle, Source::Artifacts)?)
    }

    /// The customer's record, and the model to use it with: from memory when the
    /// version was read from the artifact store; else from the cache, checked against
    /// the digest the version lists for the customer (a customer it does not list is
    /// not in the version). A customer missing from the cache, or not matching, or a
    /// cache that fails, is read from the artifact store with the whole version (once).
    pub async fn user(
        &self,
        model: Arc<ServingModel>,
        customer_id: &str,
    ) -> (Arc<ServingModel>, Option<UserRecord>) {
        if let Some(users) = model.users() {
            let r = users.get(customer_id).cloned();
            return (model, r);
        }
        let mut put_back = false;
        if let Some(digests) = model.user_digests() {
            let Some(expected) = digests.get(customer_id).copied() else {
                return (model, None);
            };
            if self.cache.is_some() && !self.cache_down() {
                let key = cache::user(&self.namespace, &model.version, customer_id);
                match self.cache_try(&key, CACHE_CALL_TIMEOUT).await {
                    Ok(Some(bytes)) if cached::sha256(&bytes) == expected => {
                        match UserRecord::from_bytes(&bytes) {
                            Ok(r) if r.vector.len() == model.dim() => return (model, Some(r)),
                            _ => tracing::warn!(key, "cached customer unreadable"),
                        }
                    }
                    Ok(Some(_)) => {
                        tracing::warn!(key, "cached customer does not match the version's digest; reading the artifact store");
                        put_back = true;
                    }
                    Ok(None) => {
                        tracing::info!(
                            key,
                            "customer not in the cache; reading the artifact store"
                        );
                        put_back = true;
                    }
                    Err(()) => {}
                }
            }
        }
        let (model, record) = self.user_from_artifacts(model, customer_id).await;
        if let (true, Some(r), Some(c)) = (put_back, &record, self.usable_cache()) {
            let key = cache::user(&self.namespace, &model.version, customer_id);
            let value = r.to_bytes();
            tokio::spawn(async move {
                if let Err(e) = c
                    .put_many(vec![(key.clone(), value)], Some(cache::TTL_SECS))
                    .await
                {
                    tracing::warn!(key, error = %e, "customer not put back in the cache");
                }
            });
        }
        (model, record)
    }

    /// Reads `model`'s version whole from the artifact store (once: a request that
    /// finds it read meanwhile uses that) and the customer from it.
    async fn user_from_artifacts(
        &self,
        model: Arc<ServingModel>,
        customer_id: &str,
    ) -> (Arc<ServingModel>, Option<UserRecord>) {
        let _guard = self.loading.lock().await;
        let (now, _, _) = self.snapshot();
        if let Some(now) = now.filter(|m| m.version == model.version && m.users().is_some()) {
            let r = now.users().and_then(|u| u.get(customer_id).cloned());
            return (now, r);
        }
        match self.load_published(&model.version, false).await {
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

    /// The cache, unless there is none or it is being left alone after a failure.
    fn usable_cache(&self) -> Option<Arc<dyn EmbeddingCache>> {
        self.cache.as_ref().filter(|_| !self.cache_down()).cloned()
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
