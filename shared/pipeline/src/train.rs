//! The training pipeline: read the training set, fit the candidate, evaluate it, the
//! current model and a popularity baseline on the same holdout, write
//! `models/<version>/` (model, manifest, report), and publish through the quality
//! gate. The same code runs in the train Lambda and in `reco train`.

use std::collections::HashMap;
use std::time::Instant;

use reco_core::warehouse::TrainingSet;
use reco_core::{ArtifactStore, Clock, Timestamp, Warehouse};
use reco_model::artifact::{self, Catalog};
use reco_model::eval::evaluate_with;
use reco_model::model::score_all;
use reco_model::{evaluate, Csr, Loss, Metrics, Model, ModelError, Params};
use reco_serving::bundle::{Bundle, Items, UserKind, UserRecord, NO_CATEGORY};
use reco_serving::registry::{self, Baseline, Compared, Manifest};
pub use reco_serving::registry::{
    sha256_hex, EpochPoint, Pointer, Scores, CURRENT_KEY, MODEL_FILE, SERVING_FILE,
};
use serde::{Deserialize, Serialize};

use crate::dataset::{Counts, Dataset, Features};

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
    #[error("stopped before the deadline: {0}")]
    Deadline(String),
    #[error("version {version} cannot be published: {reason}")]
    Unusable { version: String, reason: String },
}

/// Training options (the state machine's input in AWS; flags of `reco train`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainOptions {
    pub loss: String,
    pub components: usize,
    pub epochs: usize,
    pub learning_rate: f32,
    pub item_alpha: f32,
    pub user_alpha: f32,
    pub threads: usize,
    pub seed: u64,
    pub features: Features,
    /// Fraction of each user's most recent positives held out for evaluation.
    pub holdout: f64,
    /// Read the materialized training set instead of the view.
    pub materialized: bool,
    /// With `materialized`, refresh it first (the state machine refreshes it in a
    /// state of its own and sets this false).
    pub refresh: bool,
    /// After evaluating, refit on all data (holdout included) before writing.
    pub refit_all: bool,
    /// Publish even if the candidate's P@10 is below the current model's by more
    /// than `tolerance`.
    pub force: bool,
    pub tolerance: f64,
    /// Publish when the gate passes (the state machine sets false and publishes in
    /// a step of its own).
    pub publish: bool,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            loss: "warp".into(),
            components: 32,
            epochs: 20,
            learning_rate: 0.05,
            item_alpha: 0.0,
            user_alpha: 0.0,
            threads: 2,
            seed: 42,
            features: Features::Identity,
            holdout: 0.2,
            materialized: false,
            refresh: true,
            refit_all: false,
            force: false,
            tolerance: 0.01,
            publish: true,
        }
    }
}

impl TrainOptions {
    pub fn params(&self) -> Result<Params, ModelError> {
        let params = Params {
            no_components: self.components,
            loss: self.loss.parse::<Loss>()?,
            schedule: reco_model::Schedule::Adagrad {
                learning_rate: self.learning_rate,
            },
            item_alpha: self.item_alpha,
            user_alpha: self.user_alpha,
            threads: self.threads,
            seed: self.seed,
            ..Params::default()
        };
        params.validate()?;
        if self.epochs == 0 || self.epochs > 10_000 {
            return Err(ModelError::Params(format!(
                "epochs: {} is outside 1..=10000",
                self.epochs
            )));
        }
        if !(0.0..1.0).contains(&self.holdout) {
            return Err(ModelError::Params(format!(
                "holdout: {} is outside [0, 1)",
                self.holdout
            )));
        }
        Ok(params)
    }
}

/// The manifest's numbers from an evaluation.
pub fn scores(m: Metrics) -> Scores {
    Scores {
        precision_at_10: m.precision_at_k,
        recall_at_10: m.recall_at_k,
        auc: m.auc,
        ndcg_at_10: m.ndcg_at_k,
        users: m.users,
    }
}

/// What a run did.
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
}

fn rfc3339(t: Timestamp) -> String {
    t.to_rfc3339()
}

/// A loaded, verified version.
pub struct Loaded {
    pub version: String,
    pub model: Model,
    pub catalog: Catalog,
    pub manifest: Manifest,
}

/// Reads `models/<version>/`, checking every file against the manifest's SHA-256 and
/// the model file's own checksum.
pub async fn load_version(store: &dyn ArtifactStore, version: &str) -> Result<Loaded, TrainError> {
    let unusable = |reason: String| TrainError::Unusable {
        version: version.to_string(),
        reason,
    };
    if !registry::valid_version(version) {
        return Err(unusable("not a version name".into()));
    }
    let manifest = store
        .get(&registry::file_key(version, registry::MANIFEST_FILE))
        .await?
        .ok_or_else(|| unusable("no manifest".into()))?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest).map_err(|e| unusable(format!("manifest: {e}")))?;
    let bytes = store
        .get(&registry::file_key(version, MODEL_FILE))
        .await?
        .ok_or_else(|| unusable("no model file".into()))?;
    manifest.verify(MODEL_FILE, &bytes).map_err(unusable)?;
    let (model, catalog) = artifact::from_bytes(&bytes).map_err(|e| unusable(e.to_string()))?;
    Ok(Loaded {
        version: version.to_string(),
        model,
        catalog,
        manifest,
    })
}

pub async fn current_pointer(store: &dyn ArtifactStore) -> Result<Option<Pointer>, TrainError> {
    match store.get(CURRENT_KEY).await? {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| TrainError::Data(format!("{CURRENT_KEY}: {e}"))),
    }
}

/// Publishes `version` (already written): verifies it loads, then writes the pointer
/// in one put. The pointer keeps the versions before it for rollback.
pub async fn publish(
    store: &dyn ArtifactStore,
    version: &str,
    now: Timestamp,
) -> Result<Pointer, TrainError> {
    load_version(store, version).await?;
    let mut previous = Vec::new();
    if let Some(current) = current_pointer(store).await? {
        if current.version != version {
            previous = current.previous;
            previous.push(current.version);
        }
    }
    previous.retain(|v| v != version);
    if previous.len() > 20 {
        previous.drain(..previous.len() - 20);
    }
    let pointer = Pointer {
        version: version.to_string(),
        published_at: rfc3339(now),
        previous,
    };
    let bytes = serde_json::to_vec_pretty(&pointer).map_err(|e| TrainError::Data(e.to_string()))?;
    store.put(CURRENT_KEY, bytes, "application/json").await?;
    Ok(pointer)
}

/// Republishes `to`, or the version before the current one.
pub async fn rollback(
    store: &dyn ArtifactStore,
    to: Option<&str>,
    now: Timestamp,
) -> Result<Pointer, TrainError> {
    let current = current_pointer(store)
        .await?
        .ok_or_else(|| TrainError::Data("nothing is published yet".into()))?;
    let target = match to {
        Some(v) => v.to_string(),
        None => current
            .previous
            .last()
            .cloned()
            .ok_or_else(|| TrainError::Data("no earlier version to roll back to".into()))?,
    };
    load_version(store, &target).await?;
    let pointer = reco_serving::registry::rolled_back(current, &target, rfc3339(now));
    let bytes = serde_json::to_vec_pretty(&pointer).map_err(|e| TrainError::Data(e.to_string()))?;
    store.put(CURRENT_KEY, bytes, "application/json").await?;
    Ok(pointer)
}

/// Scores of `loaded` for the dataset's users over the dataset's items, by external
/// id: unknown items never rank, unknown users fall back to item biases.
fn current_scorer(loaded: &Loaded, data: &Dataset) -> impl Fn(usize) -> Vec<f32> + Sync {
    let (items, biases) = loaded.model.item_representations();
    let (users, user_biases) = loaded.model.user_representations();
    let item_index: HashMap<&str, usize> = loaded
        .catalog
        .item_ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let user_index: HashMap<&str, usize> = loaded
        .catalog
        .user_ids
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let item_map: Vec<Option<usize>> = data
        .item_ids
        .iter()
        .map(|id| item_index.get(id.as_str()).copied())
        .collect();
    let user_map: Vec<Option<usize>> = data
        .user_ids
        .iter()
        .map(|id| user_index.get(id.as_str()).copied())
        .collect();
    let d = items.ncols();
    move |u| {
        let zero = ndarray::Array1::<f32>::zeros(d);
        let own = match user_map[u] {
            Some(cu) => score_all(&items, &biases, users.row(cu), user_biases[cu]),
            None => score_all(&items, &biases, zero.view(), 0.0),
        };
        item_map
            .iter()
            .map(|m| m.map_or(f32::NEG_INFINITY, |i| own[i]))
            .collect()
    }
}

/// The learning-curve picture: loss and P@10 (holdout sample) per epoch, as SVG.
pub fn report_svg(curve: &[EpochPoint], title: &str) -> Result<String, String> {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (900, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (left, right) = root.split_horizontally(450);
        let n = curve.len().max(1) as f64;
        type Points = Vec<(f64, f64)>;
        let panels: [(_, &str, Points); 2] = [
            (
                &left,
                "training loss",
                curve.iter().map(|p| (p.epoch as f64, p.loss)).collect(),
            ),
            (
                &right,
                "P@10 (holdout sample)",
                curve
                    .iter()
                    .map(|p| (p.epoch as f64, p.precision_at_10))
                    .collect(),
            ),
        ];
        for (area, name, points) in panels {
            let max = points.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-6) * 1.1;
            let mut chart = ChartBuilder::on(area)
                .caption(format!("{title}: {name}"), ("sans-serif", 16))
                .margin(12)
                .x_label_area_size(30)
                .y_label_area_size(50)
                .build_cartesian_2d(0.0..n + 1.0, 0.0..max)
                .map_err(|e| e.to_string())?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .draw()
                .map_err(|e| e.to_string())?;
            chart
                .draw_series(LineSeries::new(points, &BLUE))
                .map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
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
        let params = options.params()?;
        if options.materialized && options.refresh {
            self.warehouse.refresh_training_set().await?;
        }
        let set = self.warehouse.training_set(options.materialized).await?;
        let data =
            Dataset::build(&set, options.features, options.holdout).map_err(TrainError::Data)?;
        if data.train.is_empty() {
            return Err(TrainError::Data(
                "no positive interactions to train on".into(),
            ));
        }
        let train_csr = data.train.to_csr();
        // P@10 per epoch on a sample of holdout users keeps the curve cheap.
        let sample_test = sample_rows(&data.test, 1000);
        let start = Instant::now();
        let mut curve = Vec::new();
        let mut model = Model::new(
            params.clone(),
            data.user_features.clone(),
            data.item_features.clone(),
        )?;
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
                    return Err(ModelError::Input(format!(
                        "the run's deadline passed after epoch {} of {}",
                        stats.epoch, options.epochs
                    )));
                }
                Ok(())
            })
            .map_err(|e| match e {
                ModelError::Input(m) if m.contains("deadline") => TrainError::Deadline(m),
                other => TrainError::Model(other),
            })?;
        let fit_seconds = start.elapsed().as_secs_f64();

        // The candidate, the current model and popularity, on the same holdout.
        let metrics = scores(evaluate(&model, &data.test, Some(&train_csr), 10)?);
        let mut popularity = vec![0f32; data.item_ids.len()];
        for &i in &data.train.items {
            popularity[i as usize] += 1.0;
        }
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
            model = Model::fit(
                params.clone(),
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
        let report = report_svg(&curve, &version).map_err(TrainError::Data)?;
        let popular: Vec<String> = top_popular(&popularity, &data.item_ids, 100);
        let popular_json =
            serde_json::to_vec(&popular).map_err(|e| TrainError::Data(e.to_string()))?;
        let serving = serving_bundle(&model, &data, &set)?
            .to_bytes()
            .map_err(|e| TrainError::Data(e.to_string()))?;
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
            hyperparameters: serde_json::to_value(options)
                .map_err(|e| TrainError::Data(e.to_string()))?,
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
        };
        for (name, bytes, content_type) in files {
            self.artifacts
                .put(&registry::file_key(&version, name), bytes, content_type)
                .await?;
        }
        let manifest_bytes =
            serde_json::to_vec_pretty(&manifest).map_err(|e| TrainError::Data(e.to_string()))?;
        self.artifacts
            .put(
                &registry::file_key(&version, registry::MANIFEST_FILE),
                manifest_bytes,
                "application/json",
            )
            .await?;

        // The gate: finite, and not worse than the current model beyond the tolerance.
        let (publish_it, reason) = if !metrics.finite() {
            (false, "candidate metrics are not finite".to_string())
        } else if options.force {
            (true, "forced".to_string())
        } else {
            match &current_metrics {
                None => (true, "no usable current model".to_string()),
                Some(c) if metrics.precision_at_10 + options.tolerance >= c.precision_at_10 => (
                    true,
                    format!(
                        "P@10 {:.4} within {} of the current {:.4}",
                        metrics.precision_at_10, options.tolerance, c.precision_at_10
                    ),
                ),
                Some(c) => (
                    false,
                    format!(
                        "P@10 {:.4} is below the current {:.4} by more than {}",
                        metrics.precision_at_10, c.precision_at_10, options.tolerance
                    ),
                ),
            }
        };
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
        })
    }
}

/// What predict needs of the fitted model: item representations, categories and
/// popularity, user-feature embeddings, and each customer (trained, or represented by
/// features only) with their known positives. Anonymous session users are left out.
fn serving_bundle(model: &Model, data: &Dataset, set: &TrainingSet) -> Result<Bundle, TrainError> {
    let (items, item_biases) = model.item_representations();
    let (n_items, dim) = items.dim();
    let mut category_of: HashMap<&str, String> = HashMap::new();
    for row in &set.item_features {
        if let Some(c) = row.feature.strip_prefix("category:") {
            category_of
                .entry(row.key.as_str())
                .or_insert_with(|| c.to_lowercase());
        }
    }
    let mut category_names: Vec<String> = category_of.values().cloned().collect();
    category_names.sort();
    category_names.dedup();
    let category_index: HashMap<&str, u32> = category_names
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u32))
        .collect();
    let categories = data
        .item_ids
        .iter()
        .map(|id| {
            category_of
                .get(id.as_str())
                .and_then(|c| category_index.get(c.as_str()).copied())
                .unwrap_or(NO_CATEGORY)
        })
        .collect();
    let mut popularity = vec![0f32; n_items];
    for &i in &data.all.items {
        popularity[i as usize] += 1.0;
    }
    let n_users = data.user_ids.len();
    let n_user_features = data.user_feature_names.len();
    let feature_rows = n_users..n_users + n_user_features;
    let user_feature_vectors: Vec<f32> = if model.users.embeddings.nrows() >= feature_rows.end {
        feature_rows
            .clone()
            .flat_map(|r| model.users.embeddings.row(r).to_vec())
            .collect()
    } else {
        Vec::new()
    };
    let (user_vectors, user_biases) = model.user_representations();
    let all = data.all.to_csr();
    let mut users = HashMap::new();
    for (u, id) in data.user_ids.iter().enumerate() {
        if id.starts_with("session:") {
            continue;
        }
        let positives = all.row(u).0.to_vec();
        let record = if !positives.is_empty() {
            UserRecord {
                kind: UserKind::Trained,
                vector: user_vectors.row(u).to_vec(),
                bias: user_biases[u],
                positives,
                features: Vec::new(),
            }
        } else if user_feature_vectors.is_empty() {
            continue;
        } else {
            let (cols, weights) = model.user_features.row(u);
            let features: Vec<(u32, f32)> = cols
                .iter()
                .zip(weights)
                .filter(|(&c, _)| c as usize >= n_users)
                .map(|(&c, &w)| (c - n_users as u32, w))
                .collect();
            if features.is_empty() {
                continue;
            }
            let mut vector = vec![0f32; dim];
            let mut bias = 0f32;
            for &(f, w) in &features {
                let r = n_users + f as usize;
                for (v, e) in vector.iter_mut().zip(model.users.embeddings.row(r)) {
                    *v += w * e;
                }
                bias += w * model.users.biases[r];
            }
            UserRecord {
                kind: UserKind::FeaturesOnly,
                vector,
                bias,
                positives: Vec::new(),
                features,
            }
        };
        users.insert(id.clone(), record);
    }
    Ok(Bundle {
        items: Items {
            ids: data.item_ids.clone(),
            dim,
            vectors: items.iter().copied().collect(),
            biases: item_biases.to_vec(),
            categories,
            category_names,
            popularity,
            user_feature_names: if user_feature_vectors.is_empty() {
                Vec::new()
            } else {
                data.user_feature_names.clone()
            },
            user_feature_vectors,
        },
        users: Some(users),
    })
}

fn top_popular(popularity: &[f32], ids: &[String], k: usize) -> Vec<String> {
    let mut order: Vec<usize> = (0..popularity.len()).collect();
    order.sort_by(|&a, &b| popularity[b].total_cmp(&popularity[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(k)
        .filter(|&i| popularity[i] > 0.0)
        .map(|i| ids[i].clone())
        .collect()
}

/// At most `n` rows of `m` with entries (evenly spaced), the others emptied.
fn sample_rows(m: &Csr, n: usize) -> Csr {
    let rows: Vec<usize> = (0..m.n_rows())
        .filter(|&r| !m.row(r).0.is_empty())
        .collect();
    let step = rows.len().div_ceil(n.max(1)).max(1);
    let mut triplets = Vec::new();
    for &r in rows.iter().step_by(step) {
        let (cols, vals) = m.row(r);
        triplets.extend(cols.iter().zip(vals).map(|(&c, &v)| (r as u32, c, v)));
    }
    Csr::from_triplets(m.n_rows(), m.n_cols(), &triplets).unwrap_or_else(|_| m.clone())
}
