//! The train function: one Lambda for the state machine's steps, chosen by the
//! input's `action`:
//! - `{"action": "train", "options": {...}}`: fit and write `models/<version>/`;
//!   returns `{version, metrics, current_metrics, baseline_popular, gate_passed, ...}`
//!   (publishing is the next step's job).
//! - `{"action": "publish", "version": "..."}`: write `models/current.json`.
//! - `{"action": "warm", "version"?: "..."}`: load the version (default: current) into
//!   Redis; skipped when no `RECO_REDIS_URL` is configured.
//! - `{"action": "rollback", "to"?: "..."}`: republish an earlier version.
//!
//! Training stops with an error naming the Lambda deadline (with a minute's margin)
//! rather than being killed.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Error, LambdaEvent};
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
}

/// The clients, built once per cold start.
pub struct Steps {
    pub warehouse: Box<dyn Warehouse>,
    pub artifacts: Box<dyn ArtifactStore>,
    pub cache: Option<Box<dyn EmbeddingCache>>,
}

fn deadline(epoch_ms: u64) -> Option<Instant> {
    if epoch_ms == 0 {
        return None;
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    let left = Duration::from_millis(epoch_ms.saturating_sub(now_ms));
    Some(Instant::now() + left.saturating_sub(Duration::from_secs(60)))
}

pub async fn handle(steps: &Steps, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let step: Step =
        serde_json::from_value(event.payload).map_err(|e| format!("invalid input: {e}"))?;
    let clock = SystemClock;
    match step {
        Step::Train { mut options } => {
            options.publish = false;
            let pipeline = Pipeline {
                warehouse: steps.warehouse.as_ref(),
                artifacts: steps.artifacts.as_ref(),
                clock: &clock,
            };
            let outcome = pipeline
                .run(&options, deadline(event.context.deadline), |p| {
                    tracing::info!(
                        epoch = p.epoch,
                        loss = p.loss,
                        precision_at_10 = p.precision_at_10,
                        "epoch"
                    );
                })
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
            Ok(serde_json::to_value(pointer)?)
        }
        Step::Warm { version } => {
            let cache = steps
                .cache
                .as_deref()
                .ok_or("RECO_REDIS_URL is not set: no cache to warm")?;
            let version = match version {
                Some(v) => v,
                None => {
                    train::current_pointer(steps.artifacts.as_ref())
                        .await?
                        .ok_or("nothing is published yet")?
                        .version
                }
            };
            let report =
                reco_pipeline::warm::warm(cache, steps.artifacts.as_ref(), &version).await?;
            Ok(json!({ "version": version, "items": report.items, "users": report.users }))
        }
        Step::Rollback { to } => {
            let pointer =
                train::rollback(steps.artifacts.as_ref(), to.as_deref(), clock.now()).await?;
            Ok(serde_json::to_value(pointer)?)
        }
    }
}
