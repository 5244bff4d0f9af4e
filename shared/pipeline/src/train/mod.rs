//! The training pipeline: read the training set, fit the candidate, evaluate it, the
//! current model and a popularity baseline on the same holdout, write
//! `models/<version>/` (model, manifest, report), and publish through the quality
//! gate. The same code runs in the train Lambda and in `reco train`.
//!
//! - [`options`]: what a run is asked to do; [`error`]: how it fails;
//! - [`run`]: one run of the pipeline;
//! - [`evaluation`]: the candidate, the current model and popularity on one holdout;
//! - [`gate`]: whether a candidate may replace the current model;
//! - [`registry`]: published versions in the artifact store (load, publish, roll back);
//! - [`bundle`]: what predict serves, built from the fitted model;
//! - [`session`]: the session model, fitted on archived sessions and measured on the newest;
//! - [`report`]: the learning-curve picture.

pub mod bundle;
pub mod error;
pub mod evaluation;
pub mod gate;
pub mod options;
pub mod registry;
pub mod report;
pub mod run;
pub mod session;

pub use error::TrainError;
pub use evaluation::scores;
pub use gate::{verdict, Policy, Verdict};
pub use options::TrainOptions;
pub use reco_serving::registry::{
    sha256_hex, EpochPoint, Pointer, Scores, CURRENT_KEY, MODEL_FILE, SERVING_FILE,
};
pub use registry::{current_pointer, load_version, publish, rollback, Loaded};
pub use report::report_svg;
pub use run::{Outcome, Pipeline};
