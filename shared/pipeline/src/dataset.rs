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

/// Why a training set cannot become a dataset.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("the training set is empty: import data or archive sessions first")]
    Empty,
    #[error(transparent)]
    Model(#[from] reco_model::ModelError),
}

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
) -> Result<(Csr, Vec<String>), DatasetError> {
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
    let m = Csr::identity_plus(ids.len(), names.len(), &triplets, true)?;
    Ok((m, names))
}

impl Dataset {
    /// Some user or item has a feature besides its own (an attribute).
    pub fn has_attribute_features(&self) -> bool {
        [&self.user_features, &self.item_features]
            .iter()
            .any(|f| f.nnz() > f.n_rows())
    }

    /// `holdout`: fraction of each user's positives (most recent first) held out, for
    /// users with at least 5 positives; 0 holds out nothing.
    pub fn build(
        set: &TrainingSet,
        features: Features,
        holdout: f64,
    ) -> Result<Self, DatasetError> {
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
            return Err(DatasetError::Empty);
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
        let test_csr = Csr::from_triplets(user_ids.len(), item_ids.len(), &test)?;
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

#[cfg(test)]
mod tests {
    use reco_core::warehouse::InteractionRow;
    use reco_core::Timestamp;

    use super::*;

    fn row(user: &str, item: &str, weight: f64, positive: bool, at: i64) -> InteractionRow {
        InteractionRow {
            user_key: user.into(),
            item_id: item.into(),
            weight,
            positive,
            last_at: Timestamp(at),
        }
    }

    fn feature(key: &str, feature: &str) -> FeatureRow {
        FeatureRow {
            key: key.into(),
            feature: feature.into(),
            weight: 1.0,
        }
    }

    /// Six positives for u1 (the two most recent held out at 0.3), four for u2 (too
    /// few to hold any out), one known negative; u3 has features only.
    fn set() -> TrainingSet {
        let mut interactions: Vec<InteractionRow> = (0..6)
            .map(|i| row("u1", &format!("i{i}"), 2.0, true, 100 + i))
            .collect();
        interactions.extend((0..4).map(|i| row("u2", &format!("i{i}"), 1.0, true, 100 + i)));
        interactions.push(row("u2", "i5", 3.0, false, 200));
        TrainingSet {
            interactions,
            user_features: vec![feature("u1", "age:25-34"), feature("u3", "age:18-24")],
            item_features: vec![feature("i0", "category:shoes")],
            sessions: Vec::new(),
        }
    }

    #[test]
    fn the_most_recent_positives_of_users_with_five_or_more_are_held_out() {
        let d = Dataset::build(&set(), Features::Identity, 0.3).expect("builds");
        assert_eq!(
            d.user_ids,
            vec!["u1", "u2", "u3"],
            "users with features only count"
        );
        assert_eq!(d.item_ids.len(), 6);
        let held = |user: &str| -> Vec<String> {
            let u = d.user_ids.iter().position(|x| x == user).expect("user");
            d.test
                .row(u)
                .0
                .iter()
                .map(|&i| d.item_ids[i as usize].clone())
                .collect()
        };
        assert_eq!(
            held("u1"),
            vec!["i4", "i5"],
            "six positives x 0.3 = 2, the latest"
        );
        assert!(held("u2").is_empty(), "four positives: none held out");
        assert_eq!(
            (d.counts.positives, d.counts.train, d.counts.holdout),
            (10, 8, 2),
            "the negative is no positive"
        );
        // Training weights are normalised to mean 1.
        let weights = d.train.weights.as_ref().expect("weights");
        let mean = weights.iter().map(|&w| f64::from(w)).sum::<f64>() / weights.len() as f64;
        assert!((mean - 1.0).abs() < 1e-6, "{mean}");
        assert!(d.user_features.is_identity() && d.user_feature_names.is_empty());
    }

    #[test]
    fn hybrid_features_add_named_columns_after_the_identity() {
        let d = Dataset::build(&set(), Features::Hybrid, 0.0).expect("builds");
        assert_eq!(d.user_feature_names, vec!["age:18-24", "age:25-34"]);
        assert_eq!(d.user_features.n_cols(), d.user_ids.len() + 2);
        assert_eq!(d.item_feature_names, vec!["category:shoes"]);
        assert_eq!(d.counts.holdout, 0, "holdout 0 holds out nothing");
        assert!(d.has_attribute_features());
        let identity = Dataset::build(&set(), Features::Identity, 0.0).expect("builds");
        assert!(!identity.has_attribute_features());
        let mut bare = set();
        bare.user_features.clear();
        bare.item_features.clear();
        let bare = Dataset::build(&bare, Features::Hybrid, 0.0).expect("builds");
        assert!(!bare.has_attribute_features(), "hybrid without attributes");
    }

    #[test]
    fn an_empty_training_set_says_what_to_do() {
        let e =
            Dataset::build(&TrainingSet::default(), Features::Identity, 0.2).expect_err("empty");
        assert!(matches!(e, DatasetError::Empty));
        assert!(e.to_string().contains("import data"), "{e}");
    }
}
