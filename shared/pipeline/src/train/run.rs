//! One run of the pipeline: read, fit, evaluate, write, gate, publish.

use std::time::Instant;

use reco_core::{ArtifactStore, Clock, Warehouse};
use reco_model::artifact::{self, Catalog};
use reco_model::eval::evaluate_with;
use reco_model::{evaluate, ModelError};
use reco_serving::registry::{
    self, sha256_hex, Baseline, Compared, EpochPoint, Manifest, Scores, SessionScores, MODEL_FILE,
    SERVING_FILE,
};
use serde::{Deserialize, Serialize};

use super::bundle::{serving_bundle, top_popular};
use super::evaluation::{current_scorer, popularity, sample_rows, scores};
use super::gate::{verdict, Policy};
use super::registry::{current_pointer, load_version, publish, rfc3339};
use super::report::report_svg;
use super::session::session_model;
use super::{TrainError, TrainOptions};
use crate::dataset::{Counts, Dataset, Features};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub version: String,
    pub metrics: Scores,
    pub current_version: Option<String>,
    pub current_metrics: Option<Scores>,
    pub baseline_popular: Scores,
    /// The quality gate's verdict.
    pub gate_passed: bool,
    pub published: bool,
    pub reason: String,
    pub counts: Counts,
    pub fit_seconds: f64,
    pub curve: Vec<EpochPoint>,
    /// The session model on held-out sessions.
    pub session: Option<SessionScores>,
}

/// The pipeline's ports.
pub struct Pipeline<'a> {
    pub warehouse: &'a dyn Warehouse,
    pub artifacts: &'a dyn ArtifactStore,
    pub clock: &'a dyn Clock,
}

impl Pipeline<'_> {
    /// One run: read, fit, evaluate, write, gate, publish. `deadline`: stop with an
    /// error naming it instead of being killed. `progress` sees each epoch.
    pub async fn run(
        &self,
        options: &TrainOptions,
        deadline: Option<Instant>,
        mut progress: impl FnMut(&EpochPoint),
    ) -> Result<Outcome, TrainError> {
        options.validate()?;
        if options.materialized && options.refresh {
            self.warehouse.refresh_training_set().await?;
        }
        let set = self.warehouse.training_set(options.materialized).await?;
        let data = Dataset::build(&set, options.features, options.holdout)?;
        if data.train.is_empty() {
            return Err(TrainError::NoPositives);
        }
        let params = options.params_for(
            data.train.positives_per_item(),
            options.features == Features::Hybrid && data.has_attribute_features(),
        )?;
        let train_csr = data.train.to_csr();
        // P@10 per epoch on a sample of holdout users keeps the curve cheap.
        let sample_test = sample_rows(&data.test, 1000);
        let start = Instant::now();
        let mut curve = Vec::new();
        let mut model = params
            .clone()
            .init(data.user_features.clone(), data.item_features.clone())?;
        model
            .fit_partial_with(&data.train, options.epochs, |stats, m| {
                let p10 = if sample_test.nnz() > 0 {
                    evaluate(m, &sample_test, Some(&train_csr), 10)?.precision_at_k
                } else {
                    0.0
                };
                let point = EpochPoint {
                    epoch: stats.epoch,
                    loss: stats.loss,
                    precision_at_10: p10,
                };
                progress(&point);
                curve.push(point);
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Err(ModelError::Stopped(format!(
                        "the run's deadline passed after epoch {} of {}",
                        stats.epoch, options.epochs
                    )));
                }
                Ok(())
            })
            .map_err(|e| match e {
                ModelError::Stopped(m) => TrainError::Deadline(m),
                other => TrainError::Model(other),
            })?;
        let fit_seconds = start.elapsed().as_secs_f64();

        // The candidate, the current model and popularity, on the same holdout.
        let metrics = scores(evaluate(&model, &data.test, Some(&train_csr), 10)?);
        let popularity = popularity(&data.train.items, data.item_ids.len());
        let baseline = scores(evaluate_with(
            &data.test,
            Some(&train_csr),
            10,
            params.threads,
            |_| popularity.clone(),
        )?);
        let pointer = current_pointer(self.artifacts).await?;
        let (current_version, current_metrics) = match &pointer {
            None => (None, None),
            Some(p) => match load_version(self.artifacts, &p.version).await {
                Ok(loaded) => {
                    let scorer = current_scorer(&loaded, &data);
                    let m = scores(evaluate_with(
                        &data.test,
                        Some(&train_csr),
                        10,
                        params.threads,
                        scorer,
                    )?);
                    (Some(p.version.clone()), Some(m))
                }
                Err(e) => {
                    tracing::warn!(version = %p.version, error = %e, "current model unusable; gating against nothing");
                    (Some(p.version.clone()), None)
                }
            },
        };
        if options.refit_all {
            model = params.clone().fit(
                &data.all,
                data.user_features.clone(),
                data.item_features.clone(),
                options.epochs,
            )?;
        }

        // Write models/<version>/.
        // Feature names cover every column: the identity features (named by the ids)
        // and then the attributes; none at all without attributes.
        let column_names = |ids: &[String], attributes: &[String]| -> Vec<String> {
            if attributes.is_empty() {
                Vec::new()
            } else {
                ids.iter().chain(attributes).cloned().collect()
            }
        };
        let catalog = Catalog {
            user_ids: data.user_ids.clone(),
            item_ids: data.item_ids.clone(),
            user_feature_names: column_names(&data.user_ids, &data.user_feature_names),
            item_feature_names: column_names(&data.item_ids, &data.item_feature_names),
        };
        let bytes = artifact::to_bytes(&model, &catalog)?;
        let now = self.clock.now();
        let stamp = rfc3339(now).replace(['-', ':'], "");
        let stamp = stamp
            .split('.')
            .next()
            .unwrap_or(&stamp)
            .trim_end_matches('Z')
            .to_string();
        let version = format!("{stamp}Z-{}", &sha256_hex(&bytes)[..8]);
        let report = report_svg(&curve, &version)?;
        let popular: Vec<String> = top_popular(&popularity, &data.item_ids, 100);
        let popular_json = serde_json::to_vec(&popular).map_err(|source| TrainError::Encode {
            what: "the popular list",
            source,
        })?;
        let (session, session_scores) = session_model(
            &data,
            &set,
            &options.session,
            options.session_choose,
            options.threads,
        )?;
        let mut bundle = serving_bundle(&model, &data, &set)?;
        bundle.items.session = Some(session);
        let serving = bundle.to_bytes()?;
        let files = [
            (MODEL_FILE, bytes, "application/octet-stream"),
            (SERVING_FILE, serving, "application/octet-stream"),
            (registry::REPORT_FILE, report.into_bytes(), "image/svg+xml"),
            (registry::POPULAR_FILE, popular_json, "application/json"),
        ];
        let manifest = Manifest {
            version: version.clone(),
            created_at: rfc3339(now),
            data: data.counts,
            hyperparameters: serde_json::to_value(options).map_err(|source| {
                TrainError::Encode {
                    what: "the options",
                    source,
                }
            })?,
            metrics,
            current: Compared {
                version: current_version.clone(),
                metrics: current_metrics,
            },
            baseline: Baseline { popular: baseline },
            learning_curve: curve.clone(),
            fit_seconds,
            files: files
                .iter()
                .map(|(name, bytes, _)| (name.to_string(), sha256_hex(bytes)))
                .collect(),
            session: session_scores.clone(),
        };
        for (name, bytes, content_type) in files {
            self.artifacts
                .put(&registry::file_key(&version, name), bytes, content_type)
                .await?;
        }
        let manifest_bytes =
            serde_json::to_vec_pretty(&manifest).map_err(|source| TrainError::Encode {
                what: "the manifest",
                source,
            })?;
        self.artifacts
            .put(
                &registry::file_key(&version, registry::MANIFEST_FILE),
                manifest_bytes,
                "application/json",
            )
            .await?;

        let gate = verdict(
            &metrics,
            current_metrics.as_ref(),
            &Policy {
                tolerance: options.tolerance,
                force: options.force,
            },
        );
        let (publish_it, reason) = (gate.publish, gate.reason);
        let published = publish_it && options.publish;
        if published {
            publish(self.artifacts, &version, self.clock.now()).await?;
        }
        Ok(Outcome {
            version,
            metrics,
            current_version,
            current_metrics,
            baseline_popular: baseline,
            gate_passed: publish_it,
            published,
            reason,
            counts: data.counts,
            fit_seconds,
            curve,
            session: session_scores,
        })
    }
}
