//! Evaluation: the candidate, the current model and popularity, on the same holdout.

use std::collections::HashMap;

use reco_model::model::score_all;
use reco_model::{Csr, Metrics};
use reco_serving::registry::Scores;

use super::registry::Loaded;
use crate::dataset::Dataset;

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

/// Scores of `loaded` for the dataset's users over the dataset's items, by external
/// id: unknown items never rank, unknown users fall back to item biases.
pub(crate) fn current_scorer(loaded: &Loaded, data: &Dataset) -> impl Fn(usize) -> Vec<f32> + Sync {
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

/// At most `n` rows of `m` with entries (evenly spaced), the others emptied.
pub(crate) fn sample_rows(m: &Csr, n: usize) -> Csr {
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

/// Each item's count of training interactions: the popularity baseline's scores.
pub(crate) fn popularity(items: &[u32], n_items: usize) -> Vec<f32> {
    let mut popularity = vec![0f32; n_items];
    for &i in items {
        popularity[i as usize] += 1.0;
    }
    popularity
}
