//! Session capture: the use case behind `POST /v1/sessions/{id}/views`,
//! `POST /v1/sessions/{id}/impressions` and `GET /v1/sessions/{id}`. Authorisation against the visitor token happens here so
//! that every entry point enforces it the same way.

use std::sync::Arc;

use crate::config::Config;
use crate::domain::{Impression, SessionDoc, Timestamp, View};
use crate::ports::{AppendOutcome, AppendRequest, Clock, SessionStore, StoreError};
use crate::token::TokenClaims;

/// Bytes a session's views may take in its document: below DynamoDB's 400 KB item
/// limit with room for the other attributes.
pub const SESSION_BYTES_BUDGET: u32 = 350_000;
/// What one view costs in the document beyond its item id's bytes (attribute names,
/// the timestamp, list and map overhead), rounded up.
pub const VIEW_OVERHEAD_BYTES: u32 = 40;
pub use crate::config::MAX_VIEWS_LIMIT;
/// What a view's `recommendation_id` adds beyond its bytes (attribute name, type).
pub const ATTRIBUTION_OVERHEAD_BYTES: u32 = 20;
const _: () = assert!(
    MAX_VIEWS_LIMIT
        * (crate::ids::MAX_ITEM_ID_BYTES as u32
            + VIEW_OVERHEAD_BYTES
            + crate::ids::RECOMMENDATION_ID_LEN as u32
            + ATTRIBUTION_OVERHEAD_BYTES)
        <= SESSION_BYTES_BUDGET
);

/// Bytes a session's impressions may take in its document, apart from the views'
/// budget so that impressions never crowd out views; both together stay below
/// DynamoDB's 400 KB item limit.
pub const IMPRESSION_BYTES_BUDGET: u32 = 40_000;
/// What one impression costs beyond its ids' bytes (attribute names, the timestamp,
/// list and map overhead), rounded up.
pub const IMPRESSION_OVERHEAD_BYTES: u32 = 100;
/// What each shown item costs beyond its id's bytes.
pub const IMPRESSION_ITEM_OVERHEAD_BYTES: u32 = 4;
const _: () = assert!(SESSION_BYTES_BUDGET + IMPRESSION_BYTES_BUDGET <= 395_000);

/// What an impression adds to its session document's impression byte count.
pub fn impression_bytes(impression: &Impression) -> u32 {
    let len = |s: &str| u32::try_from(s.len()).unwrap_or(u32::MAX);
    impression
        .item_ids
        .iter()
        .map(|i| len(i).saturating_add(IMPRESSION_ITEM_OVERHEAD_BYTES))
        .fold(IMPRESSION_OVERHEAD_BYTES, u32::saturating_add)
        .saturating_add(len(&impression.recommendation_id))
        .saturating_add(len(&impression.model_version))
        .saturating_add(len(&impression.strategy))
}

/// What views add to their session document's byte count.
pub fn request_bytes(views: &[View]) -> u32 {
    views.iter().map(view_bytes).fold(0u32, u32::saturating_add)
}

/// What a view adds to its session document's byte count.
pub fn view_bytes(view: &View) -> u32 {
    let attribution = view.recommendation_id.as_ref().map_or(0, |r| {
        u32::try_from(r.len())
            .unwrap_or(u32::MAX)
            .saturating_add(ATTRIBUTION_OVERHEAD_BYTES)
    });
    u32::try_from(view.item_id.len())
        .unwrap_or(u32::MAX)
        .saturating_add(VIEW_OVERHEAD_BYTES)
        .saturating_add(attribution)
}

/// Views already validated field by field (see the API layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackViews {
    pub customer_id: Option<String>,
    pub views: Vec<ViewInput>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewInput {
    pub item_id: String,
    /// When the visitor saw the item; the receive time when absent.
    pub viewed_at: Option<Timestamp>,
    /// The recommendation it was opened from, if any.
    pub recommendation_id: Option<String>,
}

/// An impression already validated field by field (see the API layer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImpressionInput {
    pub recommendation_id: String,
    pub model_version: String,
    pub strategy: String,
    pub item_ids: Vec<String>,
    /// When the list was shown; the receive time when absent.
    pub shown_at: Option<Timestamp>,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("the token does not grant access to {0}")]
    Forbidden(String),
    #[error("session {0} not found")]
    NotFound(String),
    #[error("session is archived; start a new session")]
    Archived,
    #[error("the session belongs to another customer than the token's")]
    CustomerMismatch,
    #[error("session holds {view_count} views; the cap is {max}")]
    CapReached {
        view_count: u32,
        max: u32,
        /// When the session will be archived, after which a new one can start.
        retry_after_secs: u64,
    },
    #[error("session would exceed its budget of {max} bytes (it holds {bytes})")]
    TooLarge { bytes: u32, max: u32 },
    #[error(
        "session would exceed its impression budget of {max} bytes (it holds {bytes}); \
         its views are still taken"
    )]
    ImpressionsFull { bytes: u32, max: u32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Result of a successful append: what the response needs, not the whole document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracked {
    pub accepted: usize,
    pub customer_id: Option<String>,
    pub last_update: Timestamp,
}

pub struct SessionService {
    store: Arc<dyn SessionStore>,
    clock: Arc<dyn Clock>,
    max_views: u32,
    active_shards: u32,
    session_timeout_secs: u64,
}

impl SessionService {
    pub fn new(store: Arc<dyn SessionStore>, clock: Arc<dyn Clock>, config: &Config) -> Self {
        SessionService {
            store,
            clock,
            max_views: config.max_views_per_session,
            active_shards: config.active_shards,
            session_timeout_secs: config.session_timeout_secs,
        }
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Appends views to the token's session. The customer is the token's: a body
    /// `customer_id` must agree with it, and a session bound to a customer takes views
    /// only from tokens for that customer.
    pub async fn track(
        &self,
        session_id: &str,
        claims: &TokenClaims,
        input: TrackViews,
    ) -> Result<Tracked, SessionError> {
        authorise(session_id, claims)?;
        if let Some(cid) = &input.customer_id {
            if claims.cid.as_deref() != Some(cid.as_str()) {
                return Err(SessionError::Forbidden(format!("customer_id {cid}")));
            }
        }
        let now = self.clock.now();
        if input.views.len() > self.max_views as usize {
            return Err(SessionError::CapReached {
                view_count: 0,
                max: self.max_views,
                retry_after_secs: self.session_timeout_secs,
            });
        }
        let views: Vec<View> = input
            .views
            .into_iter()
            .map(|v| View {
                item_id: v.item_id,
                viewed_at: v.viewed_at.unwrap_or(now),
                recommendation_id: v.recommendation_id,
            })
            .collect();
        let accepted = views.len();
        self.append(session_id, claims, &views, &[], now).await?;
        Ok(Tracked {
            accepted,
            customer_id: claims.cid.clone(),
            last_update: now,
        })
    }

    /// Keeps recommendation lists a page showed in the token's session, for
    /// click-through per model version and strategy. The customer rules are the
    /// views'; the impressions have a byte budget of their own.
    pub async fn record_impressions(
        &self,
        session_id: &str,
        claims: &TokenClaims,
        input: Vec<ImpressionInput>,
    ) -> Result<Tracked, SessionError> {
        authorise(session_id, claims)?;
        let now = self.clock.now();
        let impressions: Vec<Impression> = input
            .into_iter()
            .map(|i| Impression {
                recommendation_id: i.recommendation_id,
                model_version: i.model_version,
                strategy: i.strategy,
                item_ids: i.item_ids,
                shown_at: i.shown_at.unwrap_or(now),
            })
            .collect();
        let accepted = impressions.len();
        self.append(session_id, claims, &[], &impressions, now)
            .await?;
        Ok(Tracked {
            accepted,
            customer_id: claims.cid.clone(),
            last_update: now,
        })
    }

    /// One append to the store, its refusals as errors.
    async fn append(
        &self,
        session_id: &str,
        claims: &TokenClaims,
        views: &[View],
        impressions: &[Impression],
        now: Timestamp,
    ) -> Result<(), SessionError> {
        let added_bytes = request_bytes(views);
        if added_bytes > SESSION_BYTES_BUDGET {
            return Err(SessionError::TooLarge {
                bytes: 0,
                max: SESSION_BYTES_BUDGET,
            });
        }
        let added_impression_bytes = impressions
            .iter()
            .map(impression_bytes)
            .fold(0u32, u32::saturating_add);
        if added_impression_bytes > IMPRESSION_BYTES_BUDGET {
            return Err(SessionError::ImpressionsFull {
                bytes: 0,
                max: IMPRESSION_BYTES_BUDGET,
            });
        }
        let outcome = self
            .store
            .append(AppendRequest {
                session_id,
                customer_id: claims.cid.as_deref(),
                views,
                now,
                max_views: self.max_views,
                added_bytes,
                max_bytes: SESSION_BYTES_BUDGET,
                active_shard: shard_of(session_id, self.active_shards),
                impressions,
                added_impression_bytes,
                max_impression_bytes: IMPRESSION_BYTES_BUDGET,
            })
            .await?;
        match outcome {
            AppendOutcome::Appended => Ok(()),
            AppendOutcome::Archived => Err(SessionError::Archived),
            AppendOutcome::CapReached { view_count } => Err(SessionError::CapReached {
                view_count,
                max: self.max_views,
                retry_after_secs: self.session_timeout_secs,
            }),
            AppendOutcome::TooLarge { byte_count } => Err(SessionError::TooLarge {
                bytes: byte_count,
                max: SESSION_BYTES_BUDGET,
            }),
            AppendOutcome::ImpressionsFull { impression_bytes } => {
                Err(SessionError::ImpressionsFull {
                    bytes: impression_bytes,
                    max: IMPRESSION_BYTES_BUDGET,
                })
            }
            AppendOutcome::CustomerConflict { .. } => Err(SessionError::CustomerMismatch),
        }
    }

    /// The token's session document.
    pub async fn get(
        &self,
        session_id: &str,
        claims: &TokenClaims,
    ) -> Result<SessionDoc, SessionError> {
        authorise(session_id, claims)?;
        let doc = self
            .store
            .get(session_id)
            .await?
            .ok_or_else(|| SessionError::NotFound(session_id.to_string()))?;
        if doc.customer_id.is_some() && doc.customer_id != claims.cid {
            return Err(SessionError::CustomerMismatch);
        }
        Ok(doc)
    }
}

fn authorise(session_id: &str, claims: &TokenClaims) -> Result<(), SessionError> {
    if claims.sid != session_id {
        return Err(SessionError::Forbidden(format!("session {session_id}")));
    }
    Ok(())
}

/// Shard of the active-session index: FNV-1a of the id, stable across builds and
/// languages so that any tool can recompute it.
pub fn shard_of(session_id: &str, shards: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in session_id.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % shards.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_spread_and_stay_in_range() {
        let mut seen = [0u32; 8];
        for i in 0..800 {
            let s = shard_of(&format!("session-{i}"), 8);
            seen[s as usize] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
        assert_eq!(shard_of("abc", 1), 0);
    }
}
