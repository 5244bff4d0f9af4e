//! Ports: the traits use cases depend on. Each has an AWS adapter and an embedded one.

use async_trait::async_trait;

use crate::domain::{Impression, SessionDoc, Timestamp, View};

/// Failures of a store itself, as opposed to refusals the domain expects.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backing service could not be reached or throttled us; retrying may help.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store holds data this code cannot read.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("store error: {0}")]
    Other(String),
}

/// One atomic append of views and impressions to a session.
#[derive(Debug, Clone)]
pub struct AppendRequest<'a> {
    pub session_id: &'a str,
    /// The token's customer. A session bound to a customer takes views only for that
    /// customer; `Some` binds a session that has none; `None` requires that the session
    /// has no customer.
    pub customer_id: Option<&'a str>,
    pub views: &'a [View],
    /// Receive time: becomes `last_update`, and `session_start` of a new session.
    pub now: Timestamp,
    /// Per-session cap; an append that would pass it is refused whole.
    pub max_views: u32,
    /// What these views add to the session's byte count (`sessions::view_bytes`).
    pub added_bytes: u32,
    /// The session's byte budget; an append that would pass it is refused whole.
    pub max_bytes: u32,
    /// Shard of the active-session index this session lives in.
    pub active_shard: u32,
    /// Recommendation lists shown, kept beside the views.
    pub impressions: &'a [Impression],
    /// What these impressions add to the session's impression byte count
    /// (`sessions::impression_bytes`).
    pub added_impression_bytes: u32,
    /// The session's impression byte budget (apart from the views' so that
    /// impressions never crowd out views); an append that would pass it is refused
    /// whole.
    pub max_impression_bytes: u32,
}

impl AppendRequest<'_> {
    /// What this append adds and the budgets it must fit in.
    pub fn size(&self) -> AppendSize {
        AppendSize {
            views: u32::try_from(self.views.len()).unwrap_or(u32::MAX),
            max_views: self.max_views,
            added_bytes: self.added_bytes,
            max_bytes: self.max_bytes,
            added_impression_bytes: self.added_impression_bytes,
            max_impression_bytes: self.max_impression_bytes,
        }
    }

    /// Why this append must be refused given the session as stored (`None`: no such
    /// session yet), or `None` if it lands. See [`refusal`].
    pub fn refusal(&self, existing: Option<&SessionState>) -> Option<AppendOutcome> {
        refusal(existing, self.customer_id, &self.size())
    }

    /// `session_start` of the session this append creates, if it creates one.
    pub fn session_start(&self) -> Timestamp {
        session_start(self.views, self.impressions, self.now)
    }
}

/// What an append adds to a session and the budgets it must fit in: the part of an
/// [`AppendRequest`] the rules read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendSize {
    pub views: u32,
    pub max_views: u32,
    pub added_bytes: u32,
    pub max_bytes: u32,
    pub added_impression_bytes: u32,
    pub max_impression_bytes: u32,
}

/// A stored session as the append rules read it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionState {
    pub is_active: bool,
    pub customer_id: Option<String>,
    pub view_count: u32,
    pub byte_count: u32,
    pub impression_bytes: u32,
}

/// The append rules every session store applies, decided here once: why an append of
/// `size` for `customer_id` must be refused, given the session as stored (`None`: no
/// such session yet), or `None` if it lands. Refusals come in this order:
/// 1. an archived session takes nothing (`Archived`);
/// 2. a session bound to a customer takes appends for that customer only
///    (`CustomerConflict`); one with no customer is bound by the first that names one;
/// 3. the view cap (`CapReached`), 4. the views' byte budget (`TooLarge`),
///    5. the impressions' byte budget (`ImpressionsFull`), each counting what is
///    stored plus what the append adds; the append is refused whole.
pub fn refusal(
    existing: Option<&SessionState>,
    customer_id: Option<&str>,
    size: &AppendSize,
) -> Option<AppendOutcome> {
    let stored = match existing {
        Some(state) => {
            if !state.is_active {
                return Some(AppendOutcome::Archived);
            }
            if let Some(bound) = &state.customer_id {
                if Some(bound.as_str()) != customer_id {
                    return Some(AppendOutcome::CustomerConflict {
                        existing: Some(bound.clone()),
                    });
                }
            }
            state.clone()
        }
        None => SessionState::default(),
    };
    if stored.view_count.saturating_add(size.views) > size.max_views {
        return Some(AppendOutcome::CapReached {
            view_count: stored.view_count,
        });
    }
    if stored.byte_count.saturating_add(size.added_bytes) > size.max_bytes {
        return Some(AppendOutcome::TooLarge {
            byte_count: stored.byte_count,
        });
    }
    if stored
        .impression_bytes
        .saturating_add(size.added_impression_bytes)
        > size.max_impression_bytes
    {
        return Some(AppendOutcome::ImpressionsFull {
            impression_bytes: stored.impression_bytes,
        });
    }
    None
}

/// `session_start` of a session an append creates: the earliest of its views' and
/// impressions' times and the receive time (a client clock ahead of ours never
/// starts a session in the future).
pub fn session_start(views: &[View], impressions: &[Impression], now: Timestamp) -> Timestamp {
    views
        .iter()
        .map(|v| v.viewed_at)
        .chain(impressions.iter().map(|i| i.shown_at))
        .min()
        .unwrap_or(now)
        .min(now)
}

/// What an append did. Refusals are outcomes, not errors: nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppendOutcome {
    Appended,
    Archived,
    CapReached {
        view_count: u32,
    },
    TooLarge {
        byte_count: u32,
    },
    /// The impressions would pass the session's impression byte budget.
    ImpressionsFull {
        impression_bytes: u32,
    },
    /// The session's customer (if any) is not the request's.
    CustomerConflict {
        existing: Option<String>,
    },
}

/// The session documents (DynamoDB in AWS, SQLite locally).
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Appends views atomically: concurrent appends to one session all land, or each
    /// is refused whole.
    async fn append(&self, request: AppendRequest<'_>) -> Result<AppendOutcome, StoreError>;

    /// The session as stored, views in time order.
    async fn get(&self, session_id: &str) -> Result<Option<SessionDoc>, StoreError>;

    /// Deactivates a session if its `last_update` is still `seen_last_update`, and sets
    /// its expiry (epoch seconds). Returns false when a newer view raced in, or the
    /// session is already archived: the session is then left untouched.
    async fn archive(
        &self,
        session_id: &str,
        seen_last_update: Timestamp,
        expires_at: i64,
    ) -> Result<bool, StoreError>;

    /// Sets a session the warehouse refused aside for an operator: records `reason`
    /// and takes it out of the active-session index, if its `last_update` is still
    /// `seen_last_update` (a newer view puts it back in the index, to be tried again).
    /// Returns false when the session changed meanwhile.
    async fn quarantine(
        &self,
        session_id: &str,
        seen_last_update: Timestamp,
        reason: &str,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` active sessions of one shard of the active-session index whose
    /// `last_update` is before `cutoff`, oldest first: (session id, last_update).
    /// The index may lag; callers re-read each session before acting on it.
    async fn inactive(
        &self,
        shard: u32,
        cutoff: Timestamp,
        limit: usize,
    ) -> Result<Vec<(String, Timestamp)>, StoreError>;

    /// Tells the store that an active session found by [`SessionStore::inactive`] is
    /// not idle yet: it needs no look before `check_at` (its `last_update`). A store
    /// whose index is keyed by the time of the next check (DynamoDB: written once per
    /// session, not at every view) moves the session's entry there; a store that
    /// indexes `last_update` itself has nothing to move. Returns whether an entry moved.
    async fn defer(&self, session_id: &str, check_at: Timestamp) -> Result<bool, StoreError>;
}

/// A lease on a named job, so that at most one run of it works at a time across
/// processes (Lambda instances, `reco serve` and `reco deadpool` on one folder). A
/// holder that dies keeps it only until its expiry.
#[async_trait]
pub trait JobLease: Send + Sync {
    /// Takes (or, for its holder, extends) the lease `name` for `owner` until `until`,
    /// if nobody holds it or its holder's lease expired before `now`. Returns whether
    /// `owner` holds it now.
    async fn take_lease(
        &self,
        name: &str,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
    ) -> Result<bool, StoreError>;

    /// Gives the lease up, if `owner` still holds it.
    async fn release_lease(&self, name: &str, owner: &str) -> Result<(), StoreError>;
}

/// What an operator sees of the session store: counts, the archiving backlog and the
/// recent flow of views.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SessionStats {
    /// Active sessions, not quarantined.
    pub active: u64,
    /// Active sessions the warehouse refused, set aside for an operator.
    pub quarantined: u64,
    /// Archived sessions still in the store (until their expiry).
    pub archived: u64,
    /// Active sessions idle past the session timeout: the deadpool's backlog.
    pub awaiting_archive: u64,
    /// How long the oldest of them has waited past the timeout, in seconds (0 when
    /// none waits): the archive lag.
    pub archive_lag_secs: u64,
    /// Views whose `viewed_at` falls in the last minute, and in the last hour.
    pub views_last_minute: u64,
    pub views_last_hour: u64,
}

/// Operator statistics of a session store (the local one: in AWS, CloudWatch holds
/// these figures).
#[async_trait]
pub trait SessionStatistics: Send + Sync {
    async fn stats(&self, now: Timestamp, timeout_secs: u64) -> Result<SessionStats, StoreError>;
}

/// Failures of the warehouse.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// Worth retrying later (throttled, unreachable, timed out).
    #[error("warehouse unavailable: {0}")]
    Unavailable(String),
    /// The data broke a constraint; the message says which.
    #[error("warehouse refused the data: {0}")]
    Rejected(String),
    #[error("warehouse error: {0}")]
    Other(String),
}

/// The warehouse the training set is built in (Aurora PostgreSQL via the RDS Data API
/// in AWS, SQLite locally).
#[async_trait]
pub trait Warehouse: Send + Sync {
    /// Writes sessions and their views, all or nothing. Idempotent: rows are upserted
    /// by session id and view sequence, so writing a session again (after a crash, or
    /// with more views) duplicates nothing.
    async fn archive_sessions(&self, sessions: &[SessionDoc]) -> Result<(), WarehouseError>;

    /// Loads customers, items, purchases and ratings, all or nothing (upserts by key).
    async fn load(&self, batch: &crate::warehouse::ImportBatch) -> Result<(), WarehouseError>;

    /// Click-through per model version and strategy (`recommendation_performance`),
    /// newest version first.
    async fn click_through(&self) -> Result<Vec<crate::warehouse::ClickThrough>, WarehouseError>;

    /// Recomputes the materialized training set.
    async fn refresh_training_set(&self) -> Result<(), WarehouseError>;

    /// Whether a refresh of the materialized training set is running now (one started
    /// by another client, which may outlive that client's call).
    async fn refresh_in_progress(&self) -> Result<bool, WarehouseError>;

    /// The training set: interactions (from the view, or its materialized variant),
    /// the user and item features, and the newest archived sessions as ordered view
    /// sequences (`training_sessions`).
    async fn training_set(
        &self,
        materialized: bool,
    ) -> Result<crate::warehouse::TrainingSet, WarehouseError>;
}

/// Time, as a port so that use cases can be run at any instant in tests.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        Timestamp(ms)
    }
}

/// Failures of the artifact store.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("artifact store unavailable: {0}")]
    Unavailable(String),
    #[error("artifact store error: {0}")]
    Other(String),
}

/// Where models, manifests and reports live (S3 in AWS, a folder locally). Keys are
/// `/`-separated paths such as `models/<version>/model.safetensors`.
#[async_trait]
pub trait ArtifactStore: Send + Sync {
    /// Writes an object in one step: readers see the old bytes or the new, never a mix.
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str)
        -> Result<(), ArtifactError>;
    /// The object, or `None` if there is none.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, ArtifactError>;
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("cache unavailable: {0}")]
    Unavailable(String),
}

/// The serving cache of published embeddings (ElastiCache Redis in AWS, in-process
/// locally). Versioned keys carry a TTL so that old versions age out.
#[async_trait]
pub trait EmbeddingCache: Send + Sync {
    /// Sets every entry, each with the TTL if given.
    async fn put_many(
        &self,
        entries: Vec<(String, Vec<u8>)>,
        ttl_secs: Option<u64>,
    ) -> Result<(), CacheError>;
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(views: u32, bytes: u32, impression_bytes: u32) -> AppendSize {
        AppendSize {
            views,
            max_views: 10,
            added_bytes: bytes,
            max_bytes: 100,
            added_impression_bytes: impression_bytes,
            max_impression_bytes: 50,
        }
    }

    fn active(customer: Option<&str>, views: u32, bytes: u32, impressions: u32) -> SessionState {
        SessionState {
            is_active: true,
            customer_id: customer.map(str::to_string),
            view_count: views,
            byte_count: bytes,
            impression_bytes: impressions,
        }
    }

    #[test]
    fn refusals_come_in_their_order() {
        // Everything wrong at once: archived wins, then the customer, then the cap,
        // then the views' bytes, then the impressions' bytes.
        let full = size(5, 60, 30);
        let mut state = active(Some("c1"), 8, 90, 40);
        state.is_active = false;
        assert_eq!(
            refusal(Some(&state), Some("c2"), &full),
            Some(AppendOutcome::Archived)
        );
        state.is_active = true;
        assert_eq!(
            refusal(Some(&state), Some("c2"), &full),
            Some(AppendOutcome::CustomerConflict {
                existing: Some("c1".into())
            })
        );
        assert_eq!(
            refusal(Some(&state), Some("c1"), &full),
            Some(AppendOutcome::CapReached { view_count: 8 })
        );
        assert_eq!(
            refusal(Some(&state), Some("c1"), &size(2, 60, 30)),
            Some(AppendOutcome::TooLarge { byte_count: 90 })
        );
        assert_eq!(
            refusal(Some(&state), Some("c1"), &size(2, 10, 30)),
            Some(AppendOutcome::ImpressionsFull {
                impression_bytes: 40
            })
        );
        assert_eq!(refusal(Some(&state), Some("c1"), &size(2, 10, 10)), None);
    }

    #[test]
    fn budgets_are_inclusive_and_new_sessions_start_empty() {
        assert_eq!(refusal(None, None, &size(10, 100, 50)), None);
        assert_eq!(
            refusal(None, None, &size(11, 0, 0)),
            Some(AppendOutcome::CapReached { view_count: 0 })
        );
        assert_eq!(
            refusal(None, None, &size(1, 101, 0)),
            Some(AppendOutcome::TooLarge { byte_count: 0 })
        );
        assert_eq!(
            refusal(None, None, &size(1, 1, 51)),
            Some(AppendOutcome::ImpressionsFull {
                impression_bytes: 0
            })
        );
        // Counts near u32::MAX saturate rather than wrap.
        let huge = active(None, u32::MAX, 0, 0);
        assert_eq!(
            refusal(Some(&huge), None, &size(1, 0, 0)),
            Some(AppendOutcome::CapReached {
                view_count: u32::MAX
            })
        );
    }

    #[test]
    fn customers_bind_unbound_sessions_only() {
        let unbound = active(None, 0, 0, 0);
        assert_eq!(refusal(Some(&unbound), Some("c1"), &size(1, 1, 0)), None);
        assert_eq!(refusal(Some(&unbound), None, &size(1, 1, 0)), None);
        let bound = active(Some("c1"), 0, 0, 0);
        assert_eq!(
            refusal(Some(&bound), None, &size(1, 1, 0)),
            Some(AppendOutcome::CustomerConflict {
                existing: Some("c1".into())
            })
        );
    }

    #[test]
    fn sessions_start_at_their_earliest_event_never_after_now() {
        let now = Timestamp(10_000);
        let view = |t| View {
            item_id: "i".into(),
            viewed_at: Timestamp(t),
            recommendation_id: None,
        };
        let shown = |t| Impression {
            recommendation_id: "r".into(),
            model_version: "v".into(),
            strategy: "popular".into(),
            item_ids: vec!["i".into()],
            shown_at: Timestamp(t),
        };
        assert_eq!(session_start(&[], &[], now), now);
        assert_eq!(
            session_start(&[view(9_000), view(8_000)], &[], now),
            Timestamp(8_000)
        );
        assert_eq!(
            session_start(&[view(9_000)], &[shown(7_000)], now),
            Timestamp(7_000)
        );
        assert_eq!(session_start(&[view(20_000)], &[], now), now);
    }
}
