//! From warehouse rows to model inputs: id maps, feature matrices, and a holdout of
//! each user's most recent positives for evaluation.

use std::collections::{BTreeSet, HashMap};

use reco_core::warehouse::{FeatureRow, TrainingSet};
use reco_model::{Csr, Interactions};
use serde::{Deserialize, Serialize};

/// Which features the model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Features {
    /// One feature per user and item: collaborative filtering (most accurate for
    /// users and items with history).
    #[default]
    Identity,
    /// Identity plus the warehouse's user and item features, rows L1-normalised:
    /// cold items and new users can be scored from their attributes.
    Hybrid,
}

#[derive(Debug, Clone)]
pub struct Dataset {
    pub user_ids: Vec<String>,
    pub item_ids: Vec<String>,
    pub user_feature_names: Vec<String>,
    pub item_feature_names: Vec<String>,
    pub user_features: Csr,
    pub item_features: Csr,
    /// Positives used for training (weights normalised to mean 1).
    pub train: Interactions,
    /// Held-out positives (users x items).
    pub test: Csr,
    /// All positives (users x items), for ranking exclusion and refits.
    pub all: Interactions,
    pub counts: Counts,
}

pub use reco_serving::registry::Counts;

fn index(ids: &[String]) -> HashMap<&str, u32> {
    ids.iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i as u32))
        .collect()
}

fn matrix(
    ids: &[String],
    rows: &[FeatureRow],
    features: Features,
) -> Result<(Csr, Vec<String>), String> {
    if features == Features::Identity {
        return Ok((Csr::identity(ids.len()), Vec::new()));
    }
    let names: Vec<String> = rows
        .iter()
        .map(|r| r.feature.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let by_id = index(ids);
    let by_name = index(&names);
    let triplets: Vec<(u32, u32, f32)> = rows
        .iter()
        .filter_map(|r| {
            Some((
                *by_id.get(r.key.as_str())?,
                *by_name.get(r.feature.as_str())?,
                r.weight as f32,
            ))
        })
        .collect();
    let m =
        Csr::identity_plus(ids.len(), names.len(), &triplets, true).map_err(|e| e.to_string())?;
    Ok((m, names))
}

impl Dataset {
    /// `holdout`: fraction of each user's positives (most recent first) held out, for
    /// users with at least 5 positives; 0 holds out nothing.
    pub fn build(set: &TrainingSet, features: Features, holdout: f64) -> Result<Self, String> {
        let user_ids: Vec<String> = set
            .interactions
            .iter()
            .map(|r| r.user_key.clone())
            .chain(set.user_features.iter().map(|r| r.key.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let item_ids: Vec<String> = set
            .interactions
            .iter()
            .map(|r| r.item_id.clone())
            .chain(set.item_features.iter().map(|r| r.key.clone()))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if user_ids.is_empty() || item_ids.is_empty() {
            return Err("the training set is empty: import data or archive sessions first".into());
        }
        let (users, items) = (index(&user_ids), index(&item_ids));
        // Positives per user, most recent first.
        let mut per_user: HashMap<u32, Vec<(i64, u32, f32)>> = HashMap::new();
        for r in set.interactions.iter().filter(|r| r.positive) {
            per_user
                .entry(users[r.user_key.as_str()])
                .or_default()
                .push((
                    r.last_at.millis(),
                    items[r.item_id.as_str()],
                    r.weight as f32,
                ));
        }
        let mut train = Vec::new();
        let mut test = Vec::new();
        let mut all = Vec::new();
        let mut keys: Vec<u32> = per_user.keys().copied().collect();
        keys.sort_unstable();
        for u in keys {
            let rows = per_user.get_mut(&u).map(std::mem::take).unwrap_or_default();
            let mut rows = rows;
            rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let held = if rows.len() >= 5 && holdout > 0.0 {
                ((rows.len() as f64 * holdout).round() as usize).max(1)
            } else {
                0
            };
            for (k, &(_, i, w)) in rows.iter().enumerate() {
                all.push((u, i, w));
                if k < held {
                    test.push((u, i, 1.0f32));
                } else {
                    train.push((u, i, w));
                }
            }
        }
        let to_interactions = |rows: &[(u32, u32, f32)]| {
            let mean = rows.iter().map(|r| f64::from(r.2)).sum::<f64>() / rows.len().max(1) as f64;
            let mean = if mean > 0.0 { mean } else { 1.0 };
            Interactions {
                n_users: user_ids.len(),
                n_items: item_ids.len(),
                users: rows.iter().map(|r| r.0).collect(),
                items: rows.iter().map(|r| r.1).collect(),
                values: vec![1.0; rows.len()],
                weights: Some(
                    rows.iter()
                        .map(|r| (f64::from(r.2) / mean) as f32)
                        .collect(),
                ),
            }
        };
        let test_csr =
            Csr::from_triplets(user_ids.len(), item_ids.len(), &test).map_err(|e| e.to_string())?;
        let (user_features, user_feature_names) = matrix(&user_ids, &set.user_features, features)?;
        let (item_features, item_feature_names) = matrix(&item_ids, &set.item_features, features)?;
        let counts = Counts {
            users: user_ids.len(),
            items: item_ids.len(),
            interactions: set.interactions.len(),
            positives: all.len(),
            train: train.len(),
            holdout: test.len(),
        };
        Ok(Dataset {
            train: to_interactions(&train),
            all: to_interactions(&all),
            test: test_csr,
            user_features,
            item_features,
            user_ids,
            item_ids,
            user_feature_names,
            item_feature_names,
            counts,
        })
    }
}
