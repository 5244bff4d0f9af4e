//! Getting data in and models out: bulk import into the warehouse, and the training
//! pipeline (read the training set, fit, evaluate against the current model and a
//! popularity baseline, write the artifact, manifest and report, gate, publish).

pub mod dataset;
pub mod import;
pub mod train;
pub mod warm;
