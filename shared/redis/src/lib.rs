//! The embedding cache on Redis (ElastiCache): `redis://` or `rediss://` (TLS, which
//! ElastiCache Serverless requires). One multiplexed connection per process, opened on
//! first use so that a cache that is down fails only the calls that need it. Values
//! larger than [`CHUNK_BYTES`] are stored in parts under `<key>#<n>` with a small
//! marker under the key itself, and pipelines are bounded in bytes, so a large serving
//! bundle is written within the client's response timeout. A value read back is at
//! most [`MAX_VALUE_BYTES`], and a marker whose sizes do not add up, or parts of the
//! wrong size, read as a miss: what the cache holds never decides how much memory a
//! reader sets aside. The server should run with `maxmemory-policy allkeys-lru`.

use std::time::Duration;

use async_trait::async_trait;
use reco_core::{CacheError, EmbeddingCache};
use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use tokio::sync::OnceCell;

/// Largest value written in one `SET`; larger values are split into parts.
pub const CHUNK_BYTES: usize = 1 << 20;
/// Largest value read back, as for objects read from S3 (`reco_s3::MAX_OBJECT_BYTES`).
pub const MAX_VALUE_BYTES: usize = 2 << 30;
/// Largest pipeline, in bytes of values, sent in one round trip.
const PIPELINE_BYTES: usize = 8 << 20;
/// Largest pipeline, in commands.
const PIPELINE_COMMANDS: usize = 500;
/// Marks a value stored in parts: `MARKER <parts> <total bytes>`.
pub const MARKER: &[u8] = b"\x00reco-chunked-v1 ";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RedisCache {
    client: redis::Client,
    conn: OnceCell<MultiplexedConnection>,
}

fn error(e: redis::RedisError) -> CacheError {
    CacheError::Unavailable(e.to_string())
}

impl RedisCache {
    /// Checks `url` (`redis://host:port`, or `rediss://` for TLS) without connecting.
    pub fn new(url: &str) -> Result<Self, CacheError> {
        let client = redis::Client::open(url).map_err(error)?;
        Ok(RedisCache {
            client,
            conn: OnceCell::new(),
        })
    }

    /// Checks `url` and connects now.
    pub async fn connect(url: &str) -> Result<Self, CacheError> {
        let cache = Self::new(url)?;
        cache.connection().await?;
        Ok(cache)
    }

    async fn connection(&self) -> Result<MultiplexedConnection, CacheError> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(CONNECT_TIMEOUT))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT));
                self.client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await
                    .map_err(error)
            })
            .await?;
        Ok(conn.clone())
    }
}

fn part_key(key: &str, n: usize) -> String {
    format!("{key}#{n}")
}

/// Splits values above [`CHUNK_BYTES`] into a marker and parts.
fn split(entries: Vec<(String, Vec<u8>)>) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        if value.len() <= CHUNK_BYTES && !value.starts_with(MARKER) {
            out.push((key, value));
            continue;
        }
        let parts = value.len().div_ceil(CHUNK_BYTES);
        for (n, part) in value.chunks(CHUNK_BYTES).enumerate() {
            out.push((part_key(&key, n), part.to_vec()));
        }
        let mut marker = MARKER.to_vec();
        marker.extend_from_slice(format!("{parts} {}", value.len()).as_bytes());
        // The marker goes last: a reader that sees it finds every part.
        out.push((key, marker));
    }
    out
}

/// The parts and total size a marker announces, if they are what [`split`] writes
/// for a value of at most [`MAX_VALUE_BYTES`].
fn parse_marker(value: &[u8]) -> Option<(usize, usize)> {
    let rest = value.strip_prefix(MARKER)?;
    let text = std::str::from_utf8(rest).ok()?;
    let (parts, total) = text.split_once(' ')?;
    let (parts, total): (usize, usize) = (parts.parse().ok()?, total.parse().ok()?);
    (total > 0 && total <= MAX_VALUE_BYTES && parts == total.div_ceil(CHUNK_BYTES))
        .then_some((parts, total))
}

#[async_trait]
impl EmbeddingCache for RedisCache {
    async fn put_many(
        &self,
        entries: Vec<(String, Vec<u8>)>,
        ttl_secs: Option<u64>,
    ) -> Result<(), CacheError> {
        let mut conn = self.connection().await?;
        let entries = split(entries);
        let mut start = 0;
        while start < entries.len() {
            let mut pipe = redis::pipe();
            let mut bytes = 0;
            let mut end = start;
            while end < entries.len()
                && end - start < PIPELINE_COMMANDS
                && (end == start || bytes + entries[end].1.len() <= PIPELINE_BYTES)
            {
                let (key, value) = &entries[end];
                bytes += value.len();
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
                end += 1;
            }
            pipe.query_async::<()>(&mut conn).await.map_err(error)?;
            start = end;
        }
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        let mut conn = self.connection().await?;
        let value: Option<Vec<u8>> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut conn)
            .await
            .map_err(error)?;
        let Some(value) = value else {
            return Ok(None);
        };
        if !value.starts_with(MARKER) {
            return Ok(Some(value));
        }
        let Some((parts, total)) = parse_marker(&value) else {
            tracing::warn!(key, "malformed part marker in the cache: read as a miss");
            return Ok(None);
        };
        // Grown as parts arrive, each checked against the marker: never more than
        // the value's bytes, whatever the marker says.
        let mut whole = Vec::new();
        for n in 0..parts {
            let part: Option<Vec<u8>> = redis::cmd("GET")
                .arg(part_key(key, n))
                .query_async(&mut conn)
                .await
                .map_err(error)?;
            // A part aged out (LRU): the value is gone as a whole.
            let Some(part) = part else {
                return Ok(None);
            };
            let expected = CHUNK_BYTES.min(total - n * CHUNK_BYTES);
            if part.len() != expected {
                tracing::warn!(
                    key,
                    part = n,
                    "cached part of the wrong size: read as a miss"
                );
                return Ok(None);
            }
            whole.extend_from_slice(&part);
        }
        Ok(Some(whole))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_values_split_into_parts_with_the_marker_last() {
        let big = vec![7u8; CHUNK_BYTES * 2 + 5];
        let out = split(vec![("k".into(), big), ("small".into(), vec![1, 2])]);
        let keys: Vec<&str> = out.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["k#0", "k#1", "k#2", "k", "small"]);
        assert_eq!(parse_marker(&out[3].1), Some((3, CHUNK_BYTES * 2 + 5)));
        assert_eq!(out[2].1.len(), 5);
        assert_eq!(parse_marker(b"plain"), None);
    }

    #[test]
    fn markers_that_do_not_add_up_are_refused() {
        let marker = |text: &str| [MARKER, text.as_bytes()].concat();
        assert_eq!(parse_marker(&marker("1 5")), Some((1, 5)));
        assert_eq!(
            parse_marker(&marker(&format!("2 {}", CHUNK_BYTES + 1))),
            Some((2, CHUNK_BYTES + 1))
        );
        for bad in [
            "1 200000000000".to_string(),
            format!(
                "{} {}",
                (MAX_VALUE_BYTES + 1).div_ceil(CHUNK_BYTES),
                MAX_VALUE_BYTES + 1
            ),
            "1000000 5".to_string(),
            format!("1 {}", CHUNK_BYTES + 1),
            "0 0".to_string(),
            "1 -5".to_string(),
            "x 5".to_string(),
        ] {
            assert_eq!(parse_marker(&marker(&bad)), None, "{bad}");
        }
    }
}
