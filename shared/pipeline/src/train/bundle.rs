//! The serving bundle: what predict needs of the fitted model.

use std::collections::HashMap;

use reco_core::warehouse::TrainingSet;
use reco_model::Model;
use reco_serving::bundle::{Bundle, Items, UserKind, UserRecord, NO_CATEGORY};

use super::TrainError;
use crate::dataset::Dataset;

/// What predict needs of the fitted model: item representations, categories and
/// popularity, user-feature embeddings, and each customer (trained, or represented by
/// features only) with their known positives. Anonymous session users are left out.
pub(crate) fn serving_bundle(
    model: &Model,
    data: &Dataset,
    set: &TrainingSet,
) -> Result<Bundle, TrainError> {
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
            session: None,
        },
        users: Some(users),
    })
}

pub(crate) fn top_popular(popularity: &[f32], ids: &[String], k: usize) -> Vec<String> {
    let mut order: Vec<usize> = (0..popularity.len()).collect();
    order.sort_by(|&a, &b| popularity[b].total_cmp(&popularity[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(k)
        .filter(|&i| popularity[i] > 0.0)
        .map(|i| ids[i].clone())
        .collect()
}
