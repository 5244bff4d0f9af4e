//! A hybrid matrix-factorisation recommender with LightFM's model and losses, on
//! ndarray, with no Python at run time.
//!
//! A user's (item's) representation is the weighted sum of the embeddings of its
//! features plus the sum of their biases; the score of a pair is the dot product of
//! the two vectors plus both biases. Identity features (one per user/item) give plain
//! collaborative filtering; attribute features make the model hybrid and let it score
//! users and items it never saw in training (see [`foldin`]).

pub mod artifact;
pub mod csr;
mod error;
pub mod eval;
mod feature_split;
pub mod foldin;
mod kernel;
pub mod model;
pub mod params;
mod rng;
pub mod session;
mod side_params;
mod simd;
pub mod topk;

pub use csr::{Csr, Interactions};
pub use error::ModelError;
pub use eval::{evaluate, Metrics};
pub use model::Model;
pub use params::{Loss, Params, Schedule};
