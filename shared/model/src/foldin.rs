//! Scoring without retraining: users and items the model never saw.
//!
//! - A new user with known features: the weighted sum of those features' embeddings
//!   (exactly how a trained user is represented, minus the identity feature).
//! - A cold item with known features: likewise, from the item feature embeddings.
//! - An anonymous session: the recency-weighted mean of the representations of the
//!   items it viewed. Weight of the j-th most recent view = 0.5^(j / half_life); a
//!   repeated view counts again. The mean is taken over item vectors (not biases): a
//!   session is scored by how well each item aligns with what it viewed, plus the
//!   item's own bias (its popularity under the model).

use ndarray::{Array1, Array2};

use crate::model::{Model, ModelError};

/// Default half-life of a view's weight, in views.
pub const SESSION_HALF_LIFE: f32 = 5.0;

fn check(entries: &[(u32, f32)], n: usize, what: &str) -> Result<(Vec<u32>, Vec<f32>), ModelError> {
    let mut sorted = entries.to_vec();
    sorted.sort_by_key(|e| e.0);
    if let Some((f, _)) = sorted.iter().find(|(f, _)| *f as usize >= n) {
        return Err(ModelError::Input(format!("{what} feature {f} >= {n}")));
    }
    if sorted.iter().any(|(_, w)| !w.is_finite()) {
        return Err(ModelError::Input(format!(
            "{what} feature weights must be finite"
        )));
    }
    Ok(sorted.into_iter().unzip())
}

/// (vector, bias) of a user known only by features `(feature index, weight)`.
pub fn user_from_features(
    model: &Model,
    features: &[(u32, f32)],
) -> Result<(Array1<f32>, f32), ModelError> {
    let (c, w) = check(features, model.users.embeddings.nrows(), "user")?;
    Ok(model.users.represent(&c, &w))
}

/// (vector, bias) of an item known only by features.
pub fn item_from_features(
    model: &Model,
    features: &[(u32, f32)],
) -> Result<(Array1<f32>, f32), ModelError> {
    let (c, w) = check(features, model.items.embeddings.nrows(), "item")?;
    Ok(model.items.represent(&c, &w))
}

/// Vector of an anonymous session from the items it viewed, oldest first.
pub fn session_vector(
    item_vectors: &Array2<f32>,
    viewed: &[usize],
    half_life: f32,
) -> Result<Array1<f32>, ModelError> {
    let mut v = Array1::zeros(item_vectors.ncols());
    let mut total = 0.0f32;
    for (age, &item) in viewed.iter().rev().enumerate() {
        if item >= item_vectors.nrows() {
            return Err(ModelError::Input(format!(
                "item {item} >= {}",
                item_vectors.nrows()
            )));
        }
        let w = 0.5f32.powf(age as f32 / half_life.max(1e-3));
        v.scaled_add(w, &item_vectors.row(item));
        total += w;
    }
    if total > 0.0 {
        v /= total;
    }
    Ok(v)
}

/// The `k` items most similar to `item` by cosine of their representations.
pub fn similar_items(
    item_vectors: &Array2<f32>,
    item: usize,
    k: usize,
) -> Result<Vec<(usize, f32)>, ModelError> {
    if item >= item_vectors.nrows() {
        return Err(ModelError::Input(format!(
            "item {item} >= {}",
            item_vectors.nrows()
        )));
    }
    let norms: Array1<f32> = item_vectors
        .rows()
        .into_iter()
        .map(|r| r.dot(&r).sqrt().max(1e-12))
        .collect();
    let target = item_vectors.row(item);
    let cos: Array1<f32> = item_vectors.dot(&target) / (&norms * norms[item]);
    Ok(crate::model::top_k(cos.view(), k, &[item]))
}
