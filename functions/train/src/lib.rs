//! The train function: one Lambda for the state machine's steps, chosen by the
//! input's `action`:
//! - `{"action": "train", "options": {...}}`: fit and write `models/<version>/`;
//!   returns `{version, metrics, current_metrics, baseline_popular, gate_passed, ...}`
//!   (publishing is the next step's job).
//! - `{"action": "publish", "version": "..."}`: record the version's cache digest
//!   (`models/<version>/cache.json`), then write `models/current.json`.
//! - `{"action": "warm", "version"?: "..."}`: load the version (default: current) into
//!   Redis under the `RECO_CACHE_NAMESPACE` keys, and says whether they match the
//!   digest publishing recorded (`digest_matches`: predict uses them only then);
//!   answers `{"skipped": true}` when no `RECO_REDIS_URL` is configured. Warming never
//!   changes which version predict serves: `models/current.json` does.
//! - `{"action": "refresh-status"}`: `{"refreshing": bool}`, whether the training
//!   set's refresh (started by the state machine, which may outlive the Data API's
//!   call limit) is still running in the database.
//! - `{"action": "rollback", "to"?: "..."}`: republish an earlier version (predict
//!   serves it from its next refresh).
//!
//! Training stops with an error naming the Lambda deadline (with a minute's margin)
//! rather than being killed.

use std::time::Duration;

use lambda_runtime::{Diagnostic, LambdaEvent};
use reco_core::{ArtifactStore, Clock, EmbeddingCache, SystemClock, Warehouse};
use reco_pipeline::train::{self, Pipeline, TrainOptions};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Debug, Deserialize)]
#[serde(tag = "action", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    Train {
        #[serde(default)]
        options: TrainOptions,
    },
    Publish {
        version: String,
    },
    Warm {
        version: Option<String>,
    },
    Rollback {
        to: Option<String>,
    },
    RefreshStatus,
}

/// Every AWS action this function calls, from the adapters it wires: template.yaml's
/// policy for it allows exactly these (tests/events.rs checks). The cache is reached
/// over the network, not through an AWS API.
pub fn iam_actions() -> Vec<&'static str> {
    [
        reco_rdsdata::iam::STATEMENTS,
        reco_rdsdata::iam::SECRET,
        reco_s3::iam::OBJECTS,
        reco_s3::iam::BUCKET,
    ]
    .concat()
}

/// The AWS actions of the warm function (the same binary without a warehouse): it
/// reads the published version from S3 and fills the cache.
pub fn warm_iam_actions() -> Vec<&'static str> {
    [reco_s3::iam::OBJECTS_READ, reco_s3::iam::BUCKET].concat()
}

/// Why a step failed. Lambda reports it with `errorType` = the variant's name
/// (`Train.Deadline`, `Input`, ...) so that the state machine and the logs can tell
/// the cases apart.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("invalid input: {0}")]
    Input(serde_json::Error),
    #[error(transparent)]
    Train(#[from] reco_pipeline::train::TrainError),
    #[error(transparent)]
    Warehouse(#[from] reco_core::WarehouseError),
    #[error("encoding the result: {0}")]
    Output(serde_json::Error),
    /// A step that needs the warehouse, in a function deployed without one (the warm
    /// function: RECO_RDS_RESOURCE_ARN and RECO_RDS_SECRET_ARN unset).
    #[error(
        "this function has no warehouse (RECO_RDS_RESOURCE_ARN, RECO_RDS_SECRET_ARN unset): {0}"
    )]
    NoWarehouse(String),
}

impl StepError {
    /// The `errorType` Lambda reports.
    pub fn error_type(&self) -> String {
        use reco_pipeline::train::TrainError as T;
        let train = |kind: &str| format!("Train.{kind}");
        match self {
            StepError::Input(_) => "Input".into(),
            StepError::Output(_) => "Output".into(),
            StepError::NoWarehouse(_) => "NoWarehouse".into(),
            StepError::Warehouse(reco_core::WarehouseError::Unavailable(_)) => {
                "Warehouse.Unavailable".into()
            }
            StepError::Warehouse(_) => "Warehouse".into(),
            StepError::Train(e) => train(match e {
                T::Warehouse(_) => "Warehouse",
                T::Artifacts(_) => "Artifacts",
                T::Model(_) => "Model",
                T::Dataset(_) => "Dataset",
                T::NoPositives => "NoPositives",
                T::Encode { .. } => "Encode",
                T::Pointer { .. } => "Pointer",
                T::Bundle(_) => "Bundle",
                T::Report(_) => "Report",
                T::Cache(_) => "Cache",
                T::NothingPublished => "NothingPublished",
                T::NoEarlierVersion => "NoEarlierVersion",
                T::Deadline(_) => "Deadline",
                T::Unusable { .. } => "Unusable",
            }),
        }
    }
}

impl From<StepError> for Diagnostic {
    fn from(e: StepError) -> Self {
        Diagnostic {
            error_type: e.error_type(),
            error_message: e.to_string(),
        }
    }
}

/// The clients, built once per cold start.
pub struct Steps {
    /// The warehouse, or why this function has none (the warm function is deployed
    /// without it: warm, publish and rollback need only the artifacts and the cache).
    pub warehouse: Result<Box<dyn Warehouse>, reco_core::ConfigError>,
    pub artifacts: Box<dyn ArtifactStore>,
    pub cache: Option<Box<dyn EmbeddingCache>>,
    /// The namespace of the cache keys (`RECO_CACHE_NAMESPACE`).
    pub cache_namespace: String,
}

impl Steps {
    fn warehouse(&self) -> Result<&dyn Warehouse, StepError> {
        match &self.warehouse {
            Ok(w) => Ok(w.as_ref()),
            Err(e) => Err(StepError::NoWarehouse(e.to_string())),
        }
    }
}

pub async fn handle(steps: &Steps, event: LambdaEvent<Value>) -> Result<Value, StepError> {
    let step: Step = serde_json::from_value(event.payload).map_err(StepError::Input)?;
    let clock = SystemClock;
    match step {
        Step::Train { mut options } => {
            // The state machine publishes in a step of its own, and refreshes the
            // materialized training set in the state before this one.
            options.publish = false;
            options.refresh = false;
            let pipeline = Pipeline {
                warehouse: steps.warehouse()?,
                artifacts: steps.artifacts.as_ref(),
                clock: &clock,
            };
            let outcome = pipeline
                .run(
                    &options,
                    reco_core::domain::deadline_from_epoch_ms(
                        event.context.deadline,
                        Duration::from_secs(60),
                    ),
                    |p| {
                        tracing::info!(
                            epoch = p.epoch,
                            loss = p.loss,
                            precision_at_10 = p.precision_at_10,
                            "epoch"
                        );
                    },
                )
                .await?;
            tracing::info!(version = %outcome.version, gate_passed = outcome.gate_passed, reason = %outcome.reason, "trained");
            Ok(json!({
                "version": outcome.version,
                "metrics": outcome.metrics,
                "current_version": outcome.current_version,
                "current_metrics": outcome.current_metrics,
                "baseline_popular": outcome.baseline_popular,
                "gate_passed": outcome.gate_passed,
                "reason": outcome.reason,
                "counts": outcome.counts,
            }))
        }
        Step::Publish { version } => {
            let pointer = train::publish(steps.artifacts.as_ref(), &version, clock.now()).await?;
            serde_json::to_value(pointer).map_err(StepError::Output)
        }
        Step::Warm { version } => {
            let Some(cache) = steps.cache.as_deref() else {
                tracing::info!("no RECO_REDIS_URL: nothing to warm");
                return Ok(json!({ "skipped": true }));
            };
            let version = match version {
                Some(v) => v,
                None => {
                    train::current_pointer(steps.artifacts.as_ref())
                        .await?
                        .ok_or(train::TrainError::NothingPublished)?
                        .version
                }
            };
            let report = reco_pipeline::warm::warm(
                cache,
                &steps.cache_namespace,
                steps.artifacts.as_ref(),
                &version,
            )
            .await?;
            Ok(json!({
                "version": version,
                "items": report.items,
                "users": report.users,
                "digest_matches": report.digest_matches,
                "skipped": false,
            }))
        }
        Step::RefreshStatus => {
            let refreshing = steps.warehouse()?.refresh_in_progress().await?;
            Ok(json!({ "refreshing": refreshing }))
        }
        Step::Rollback { to } => {
            let pointer =
                train::rollback(steps.artifacts.as_ref(), to.as_deref(), clock.now()).await?;
            serde_json::to_value(pointer).map_err(StepError::Output)
        }
    }
}
