//! The personalised query of the fold-in: `sum_c w_c x_c` over a customer's trained
//! vector, each viewed item's vector and each user feature's embedding, the strategy
//! it stands for, and each item's reason (the component with the largest share of its
//! score).

use reco_model::foldin::SESSION_HALF_LIFE;
use reco_model::topk::dot;

use crate::bundle::{UserKind, UserRecord};
use crate::model::ServingModel;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    Hybrid,
    Session,
    FeaturesOnly,
    Popular,
    Similar,
}

/// Why an item is in a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// This viewed item contributed most to the score.
    BecauseViewed(String),
    /// This customer feature contributed most.
    BecauseFeature(String),
    /// The customer's own trained taste contributed most.
    BecauseHistory(bool),
    /// Popular (the popular list, or a fill-in when filters left too few).
    Popular(bool),
    /// Similar to this item.
    SimilarTo(String),
}

/// What a score is made of.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Part {
    History,
    Viewed(usize),
    Feature(usize),
}

/// The query: `sum_c w_c x_c` and the components it came from.
pub(crate) struct Query {
    pub(crate) vector: Vec<f32>,
    pub(crate) bias: f32,
    /// Each part's weight, what it is, and its vector (kept for the reasons, so each
    /// item's explanation reads no vector from the model but its own).
    pub(crate) parts: Vec<(f32, Part, Vec<f32>)>,
}

impl Query {
    pub(crate) fn new(dim: usize) -> Self {
        Query {
            vector: vec![0.0; dim],
            bias: 0.0,
            parts: Vec::new(),
        }
    }

    pub(crate) fn add(&mut self, weight: f32, x: &[f32], part: Part) {
        for (q, v) in self.vector.iter_mut().zip(x) {
            *q += weight * v;
        }
        self.parts.push((weight, part, x.to_vec()));
    }
}

/// The strategy and, unless it is `popular`, the query.
pub(crate) fn build_query(
    model: &ServingModel,
    user: Option<&UserRecord>,
    viewed: &[usize],
) -> (Strategy, Option<Query>) {
    let dim = model.dim();
    // Recency weights of the views, newest 1, halving every SESSION_HALF_LIFE views.
    let weights: Vec<f32> = (0..viewed.len())
        .map(|j| {
            let age = (viewed.len() - 1 - j) as f32;
            0.5f32.powf(age / SESSION_HALF_LIFE)
        })
        .collect();
    let total: f32 = weights.iter().sum();
    let add_views = |q: &mut Query, share: f32| {
        for (&i, &w) in viewed.iter().zip(&weights) {
            q.add(share * w / total, &model.vector(i), Part::Viewed(i));
        }
    };
    let add_features = |q: &mut Query, user: &UserRecord, share: f32| {
        for &(f, w) in &user.features {
            if let Some(x) = model.user_feature_vector(f as usize) {
                q.add(share * w, x, Part::Feature(f as usize));
            }
        }
        q.bias += share * user.bias;
    };
    let session_share = if viewed.is_empty() { 0.0 } else { 0.5 };
    match user {
        Some(u) if u.kind == UserKind::Trained && u.vector.len() == dim => {
            let mut q = Query::new(dim);
            q.add(1.0 - session_share, &u.vector, Part::History);
            q.bias = (1.0 - session_share) * u.bias;
            add_views(&mut q, session_share);
            (Strategy::Hybrid, Some(q))
        }
        Some(u) if u.kind == UserKind::FeaturesOnly && !u.features.is_empty() => {
            let mut q = Query::new(dim);
            add_features(&mut q, u, 1.0 - session_share);
            if viewed.is_empty() {
                (Strategy::FeaturesOnly, Some(q))
            } else {
                add_views(&mut q, session_share);
                (Strategy::Session, Some(q))
            }
        }
        _ if !viewed.is_empty() => {
            let mut q = Query::new(dim);
            add_views(&mut q, 1.0);
            (Strategy::Session, Some(q))
        }
        _ => (Strategy::Popular, None),
    }
}

/// The component with the largest share of item `i`'s score.
pub(crate) fn explain(model: &ServingModel, query: &Query, i: usize) -> Reason {
    let v = model.vector(i);
    let mut best: Option<(f32, Part)> = None;
    let mut explained = 0.0f32;
    let mut history = false;
    for &(w, part, ref x) in &query.parts {
        if matches!(part, Part::History) {
            history = true;
            continue;
        }
        let share = w * dot(x, &v);
        explained += share;
        if best.is_none_or(|(s, _)| share > s) {
            best = Some((share, part));
        }
    }
    if history {
        // The trained vector's share: what is left of q . v after the other parts.
        let share = dot(&query.vector, &v) - explained;
        if best.is_none_or(|(s, _)| share > s) {
            best = Some((share, Part::History));
        }
    }
    reason_of(model, best.map(|b| b.1))
}

pub(crate) fn reason_of(model: &ServingModel, part: Option<Part>) -> Reason {
    match part {
        Some(Part::Viewed(j)) => Reason::BecauseViewed(model.item_id(j).to_string()),
        Some(Part::Feature(f)) => {
            Reason::BecauseFeature(model.user_feature_name(f).unwrap_or_default().to_string())
        }
        Some(Part::History) => Reason::BecauseHistory(true),
        None => Reason::Popular(true),
    }
}
