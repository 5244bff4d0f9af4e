//! Serving: the model registry (where versions live in the artifact store and the
//! cache), the serving bundle training writes and its copy in the cache, the version
//! kept in memory, and the recommendation use case the predict Lambda and `reco serve`
//! share.

pub mod bundle;
pub mod cached;
pub mod loader;
pub mod model;
mod query;
pub mod recommend;
pub mod registry;
pub mod session_tensors;
mod tensors;

pub use bundle::{Bundle, Items, UserKind, UserRecord};
pub use cached::{CacheParts, UserDigests};
pub use loader::{ModelSource, ServeError};
pub use model::ServingModel;
pub use recommend::{
    PopularRequest, Reason, RecommendRequest, Recommendation, Recommender, Scored, SimilarRequest,
    Strategy, MAX_EXCLUDE, MAX_K,
};
pub use registry::{CacheDigest, Manifest, Pointer};
pub use session_tensors::SessionData;
