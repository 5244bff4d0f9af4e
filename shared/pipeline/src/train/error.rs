//! How a training run fails.

use reco_model::ModelError;
use reco_serving::registry::{PointerError, VersionError, CURRENT_KEY};

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
    Cache(#[from] reco_serving::loader::CacheFillError),
    #[error("nothing is published yet")]
    NothingPublished,
    #[error("no earlier version to roll back to")]
    NoEarlierVersion,
    /// The run's deadline passed; nothing was written.
    #[error("stopped before the deadline: {0}")]
    Deadline(String),
    #[error("version {version} cannot be published: {reason}")]
    Unusable {
        version: String,
        #[source]
        reason: VersionError,
    },
}

impl From<PointerError> for TrainError {
    fn from(e: PointerError) -> Self {
        match e {
            PointerError::Artifacts(e) => TrainError::Artifacts(e),
            PointerError::Decode(source) => TrainError::Pointer {
                key: CURRENT_KEY,
                source,
            },
        }
    }
}

impl TrainError {
    /// `version` cannot be used; a store that cannot be reached is not the version's
    /// fault and stays an artifact store error.
    pub fn unusable(version: &str, reason: VersionError) -> Self {
        match reason {
            VersionError::Artifacts(e) => TrainError::Artifacts(e),
            reason => TrainError::Unusable {
                version: version.to_string(),
                reason,
            },
        }
    }
}
