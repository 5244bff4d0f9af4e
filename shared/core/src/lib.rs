//! The recommender's core: domain types, the ports every adapter implements,
//! the use cases both the Lambdas and the local server call, visitor tokens and
//! configuration. It depends on no SDK.

pub mod config;
pub mod deadpool;
pub mod domain;
pub mod ids;
pub mod ports;
pub mod sessions;
pub mod token;
pub mod warehouse;

pub use config::{Config, ConfigError};
pub use deadpool::{Deadpool, DeadpoolReport};
pub use domain::{Impression, SessionDoc, Timestamp, View};
pub use ports::{
    AppendOutcome, ArtifactError, ArtifactStore, CacheError, Clock, EmbeddingCache, JobLease,
    SessionStatistics, SessionStats, SessionStore, StoreError, SystemClock, Warehouse,
    WarehouseError,
};
pub use sessions::{SessionError, SessionService, TrackViews};
pub use token::{KeyError, TokenClaims, TokenError, TokenKeys};
