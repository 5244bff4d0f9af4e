//! The in-process embedding cache: a map with expiry times, bounded in entries
//! (oldest-inserted evicted first).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reco_core::{CacheError, EmbeddingCache};

/// Entries with their expiry, and keys in insertion order for eviction.
type Entries = (
    HashMap<String, (Vec<u8>, Option<Instant>)>,
    VecDeque<String>,
);

pub struct MemoryCache {
    max_entries: usize,
    inner: Mutex<Entries>,
}

impl MemoryCache {
    pub fn new(max_entries: usize) -> Self {
        MemoryCache {
            max_entries,
            inner: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }
}

#[async_trait]
impl EmbeddingCache for MemoryCache {
    async fn put_many(
        &self,
        entries: Vec<(String, Vec<u8>)>,
        ttl_secs: Option<u64>,
    ) -> Result<(), CacheError> {
        let expiry = ttl_secs.map(|s| Instant::now() + Duration::from_secs(s));
        let mut guard = self
            .inner
            .lock()
            .map_err(|_| CacheError::Unavailable("cache lock poisoned".into()))?;
        let (map, order) = &mut *guard;
        for (k, v) in entries {
            if map.insert(k.clone(), (v, expiry)).is_none() {
                order.push_back(k);
            }
            while map.len() > self.max_entries {
                match order.pop_front() {
                    Some(old) => {
                        map.remove(&old);
                    }
                    None => break,
                }
            }
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let guard = self
            .inner
            .lock()
            .map_err(|_| CacheError::Unavailable("cache lock poisoned".into()))?;
        Ok(guard
            .0
            .get(key)
            .filter(|(_, exp)| exp.is_none_or(|e| Instant::now() < e))
            .map(|(v, _)| v.clone()))
    }
}
