//! The embedding cache on Redis: pipelined `SET ... EX` in chunks, one multiplexed
//! connection per process (built once per cold start). The server should run with
//! `maxmemory-policy allkeys-lru` (template.yaml sets it on ElastiCache).

use async_trait::async_trait;
use reco_core::{CacheError, EmbeddingCache};
use redis::aio::MultiplexedConnection;

#[derive(Clone)]
pub struct RedisCache {
    conn: MultiplexedConnection,
}

fn error(e: redis::RedisError) -> CacheError {
    CacheError::Unavailable(e.to_string())
}

impl RedisCache {
    /// Connects to `url` (`redis://host:port`, or `rediss://` for TLS).
    pub async fn connect(url: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(error)?;
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(error)?;
        Ok(RedisCache { conn })
    }
}

#[async_trait]
impl EmbeddingCache for RedisCache {
    async fn put_many(
        &self,
        entries: Vec<(String, Vec<u8>)>,
        ttl_secs: Option<u64>,
    ) -> Result<(), CacheError> {
        let mut conn = self.conn.clone();
        for chunk in entries.chunks(500) {
            let mut pipe = redis::pipe();
            for (key, value) in chunk {
                match ttl_secs {
                    Some(ttl) => pipe
                        .cmd("SET")
                        .arg(key)
                        .arg(value.as_slice())
                        .arg("EX")
                        .arg(ttl)
                        .ignore(),
                    None => pipe.cmd("SET").arg(key).arg(value.as_slice()).ignore(),
                };
            }
            pipe.query_async::<()>(&mut conn).await.map_err(error)?;
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let mut conn = self.conn.clone();
        redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .map_err(error)
    }
}
