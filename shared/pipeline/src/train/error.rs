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
    #[error(transparent)]
    Dataset(#[from] crate::dataset::DatasetError),
    #[error("no positive interactions to train on")]
    NoPositives,
    #[error("encoding {what}: {source}")]
    Encode {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("{key} is not a model pointer: {source}")]
    Pointer {
        key: &'static str,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Bundle(#[from] reco_serving::bundle::BundleError),
    #[error(transparent)]
    Report(#[from] super::report::ReportError),
    #[error("the serving cache: {0}")]
    Cache(String),
    #[error("nothing is published yet")]
    NothingPublished,
    #[error("no earlier version to roll back to")]
    NoEarlierVersion,
    /// The run's deadline passed; nothing was written.
    #[error("stopped before the deadline: {0}")]
    Deadline(String),
    #[error("version {version} cannot be published: {reason}")]
    Unusable { version: String, reason: String },
}
