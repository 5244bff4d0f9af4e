//! How a training run fails.

use reco_model::ModelError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("warehouse: {0}")]
    Warehouse(#[from] reco_core::WarehouseError),
    #[error("artifacts: {0}")]
    Artifacts(#[from] reco_core::ArtifactError),
    #[error("model: {0}")]
    Model(#[from] ModelError),
    #[error("{0}")]
    Data(String),
    /// The run's deadline passed; nothing was written.
    #[error("stopped before the deadline: {0}")]
    Deadline(String),
    #[error("version {version} cannot be published: {reason}")]
    Unusable { version: String, reason: String },
}
