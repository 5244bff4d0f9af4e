//! Embedded adapters: the same ports as the AWS adapters, on local files, so that the
//! `reco` binary runs every use case on one machine.

pub mod artifacts;
pub mod cache;
pub mod lease;
pub mod schema;
pub mod sessions;
pub mod warehouse;

pub use artifacts::FolderArtifactStore;
pub use cache::MemoryCache;
pub use schema::NewerSchema;
pub use sessions::SqliteSessionStore;
pub use warehouse::SqliteWarehouse;
