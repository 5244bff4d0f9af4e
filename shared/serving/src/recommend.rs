//! The recommendation use case: personalised lists, similar items and popular items,
//! from the version in memory, with each item's reason computed from its score.
//!
//! Strategies (the response names the one used):
//! - `hybrid`: a customer the model was trained on; the session's views are blended
//!   in (half and half) when there are any;
//! - `session`: views in the current session (read live from the session store) and
//!   no trained customer: first the session model's items (archived sessions like
//!   this one and what followed its views: `reco_model::session`), each explained by
//!   the viewed item that contributed most to its score; then, when filters or a
//!   short history leave fewer than `k`, the recency-weighted mean of the viewed
//!   items' vectors (blended half and half with the customer's features when the
//!   model has them);
//! - `features-only`: a customer known only by their features, no views yet;
//! - `popular`: nothing known.
//!
//! A personalised score is `q . v_i + b_i` with `q = sum_c w_c x_c`, a weighted sum of
//! components (the customer's trained vector, each viewed item's vector, each user
//! feature's embedding). An item's reason is the component with the largest share
//! `w_c (x_c . v_i)` of its score.

use std::collections::HashSet;
use std::sync::Arc;

use reco_core::{SessionError, SessionService, TokenClaims};
use reco_model::topk::Bitset;
use serde::Serialize;

use crate::loader::{ModelSource, ServeError};
use crate::model::ServingModel;
use crate::query::{build_query, explain};
pub use crate::query::{Reason, Strategy};

/// Most items a list may hold.
pub const MAX_K: usize = 100;
/// Most ids `exclude` may hold.
pub const MAX_EXCLUDE: usize = 100;
/// The most recent views a session list is computed from.
pub const SESSION_VIEWS_USED: usize = 50;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    pub item_id: String,
    pub score: f32,
    pub reason: Reason,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    pub recommendation_id: String,
    pub model_version: String,
    pub strategy: Strategy,
    pub items: Vec<Scored>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct RecommendRequest {
    pub session_id: String,
    pub customer_id: Option<String>,
    pub k: usize,
    pub category: Option<String>,
    pub exclude_seen: bool,
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SimilarRequest {
    pub item_id: String,
    pub k: usize,
    pub category: Option<String>,
    pub session_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct PopularRequest {
    pub k: usize,
    pub category: Option<String>,
}

/// Recommendations from the model a [`ModelSource`] keeps current.
pub struct Recommender {
    source: Arc<ModelSource>,
}

impl Recommender {
    pub fn new(source: Arc<ModelSource>) -> Self {
        Recommender { source }
    }

    pub fn source(&self) -> &ModelSource {
        &self.source
    }

    /// The visitor's list. The token must be for `session_id`, and for `customer_id`
    /// when one is named.
    pub async fn recommend(
        &self,
        sessions: &SessionService,
        claims: &TokenClaims,
        request: &RecommendRequest,
    ) -> Result<Recommendation, ServeError> {
        if claims.sid != request.session_id {
            return Err(ServeError::Session(SessionError::Forbidden(format!(
                "session {}",
                request.session_id
            ))));
        }
        if let Some(c) = &request.customer_id {
            if claims.cid.as_deref() != Some(c.as_str()) {
                return Err(ServeError::Session(SessionError::Forbidden(format!(
                    "customer_id {c}"
                ))));
            }
        }
        let model = self.source.current().await?;
        let doc = match sessions.get(&request.session_id, claims).await {
            Ok(doc) => Some(doc),
            Err(SessionError::NotFound(_)) => None,
            Err(e) => return Err(ServeError::Session(e)),
        };
        let customer = request
            .customer_id
            .clone()
            .or_else(|| claims.cid.clone())
            .or_else(|| doc.as_ref().and_then(|d| d.customer_id.clone()));
        let (model, user) = match &customer {
            Some(c) => self.source.user(model, c).await,
            None => (model, None),
        };
        let viewed: Vec<usize> = doc
            .as_ref()
            .map(|d| {
                let views = &d.items_viewed;
                views[views.len().saturating_sub(SESSION_VIEWS_USED)..]
                    .iter()
                    .filter_map(|v| model.item_index(&v.item_id))
                    .collect()
            })
            .unwrap_or_default();

        let category = category_of(&model, request.category.as_deref());
        let mut exclude = Bitset::new(model.len());
        if request.exclude_seen {
            for &i in &viewed {
                exclude.insert(i);
            }
            if let Some(u) = &user {
                for &p in &u.positives {
                    exclude.insert(p as usize);
                }
            }
        }
        for id in &request.exclude {
            if let Some(i) = model.item_index(id) {
                exclude.insert(i);
            }
        }

        let (strategy, query) = build_query(&model, user.as_ref(), &viewed);
        let mut items = Vec::with_capacity(request.k);
        let mut chosen = HashSet::new();
        let mut skip = skipped(&model, category, &exclude);
        if strategy == Strategy::Session {
            for (i, score, because) in session_model_top_k(&model, &viewed, request.k, &skip) {
                chosen.insert(i);
                skip.insert(i);
                items.push(Scored {
                    item_id: model.item_id(i).to_string(),
                    score,
                    reason: Reason::BecauseViewed(model.item_id(because).to_string()),
                });
            }
        }
        if let (Some(query), true) = (&query, items.len() < request.k) {
            let wanted = request.k - items.len();
            for (i, score) in model.top_k(&query.vector, query.bias, wanted, &skip) {
                chosen.insert(i);
                skip.insert(i);
                items.push(Scored {
                    item_id: model.item_id(i).to_string(),
                    score,
                    reason: explain(&model, query, i),
                });
            }
        }
        fill_popular(
            &model,
            category,
            &exclude,
            &mut chosen,
            request.k,
            &mut items,
        );
        Ok(answer(&model, strategy, items))
    }

    /// Items like `item_id` by cosine; with a session, what it viewed is left out.
    pub async fn similar(
        &self,
        sessions: &SessionService,
        claims: &TokenClaims,
        request: &SimilarRequest,
    ) -> Result<Recommendation, ServeError> {
        let model = self.source.current().await?;
        let target = model
            .item_index(&request.item_id)
            .ok_or_else(|| ServeError::UnknownItem(request.item_id.clone()))?;
        let mut exclude = Bitset::new(model.len());
        exclude.insert(target);
        if let Some(session_id) = &request.session_id {
            match sessions.get(session_id, claims).await {
                Ok(doc) => {
                    for v in &doc.items_viewed {
                        if let Some(i) = model.item_index(&v.item_id) {
                            exclude.insert(i);
                        }
                    }
                }
                Err(SessionError::NotFound(_)) => {}
                Err(e) => return Err(ServeError::Session(e)),
            }
        }
        let category = category_of(&model, request.category.as_deref());
        let skip = skipped(&model, category, &exclude);
        let mut chosen = HashSet::new();
        let mut items: Vec<Scored> = model
            .similar(target, request.k, &skip)
            .into_iter()
            .map(|(i, score)| {
                chosen.insert(i);
                Scored {
                    item_id: model.item_id(i).to_string(),
                    score,
                    reason: Reason::SimilarTo(request.item_id.clone()),
                }
            })
            .collect();
        fill_popular(
            &model,
            category,
            &exclude,
            &mut chosen,
            request.k,
            &mut items,
        );
        Ok(answer(&model, Strategy::Similar, items))
    }

    /// The published popular list, per category when asked.
    pub async fn popular(&self, request: &PopularRequest) -> Result<Recommendation, ServeError> {
        let model = self.source.current().await?;
        let category = category_of(&model, request.category.as_deref());
        let order: &[u32] = match category {
            CategoryFilter::All => model.popular_order(None),
            CategoryFilter::One(c) => model.popular_order(Some(c)),
            CategoryFilter::Unknown => &[],
        };
        let items = order
            .iter()
            .take(request.k)
            .map(|&i| Scored {
                item_id: model.item_id(i as usize).to_string(),
                score: model.popularity_share(i as usize),
                reason: Reason::Popular(true),
            })
            .collect();
        Ok(answer(&model, Strategy::Popular, items))
    }
}

#[derive(Debug, Clone, Copy)]
enum CategoryFilter {
    All,
    One(usize),
    /// A category the model has no item in.
    Unknown,
}

fn category_of(model: &ServingModel, name: Option<&str>) -> CategoryFilter {
    match name {
        None => CategoryFilter::All,
        Some(n) => match model.category(&n.to_lowercase()) {
            Some(c) => CategoryFilter::One(c),
            None => CategoryFilter::Unknown,
        },
    }
}

/// Items a scan leaves out: `exclude`, and those outside the category asked for.
fn skipped(model: &ServingModel, category: CategoryFilter, exclude: &Bitset) -> Bitset {
    match category {
        CategoryFilter::All => exclude.clone(),
        CategoryFilter::One(c) => {
            let mut skip = model.outside_category(Some(c));
            skip.union_with(exclude);
            skip
        }
        CategoryFilter::Unknown => Bitset::full(model.len()),
    }
}

fn answer(model: &ServingModel, strategy: Strategy, items: Vec<Scored>) -> Recommendation {
    Recommendation {
        recommendation_id: new_id(),
        model_version: model.version.clone(),
        strategy,
        items,
    }
}

/// The `session` strategy's top k for views `viewed` (item indices, oldest first),
/// skipping `exclude`: what `/v1/recommendations` answers for an anonymous visitor,
/// before popular fill-ins. The session model's items first, then the fold-in's.
/// Empty without views.
pub fn session_top_k(
    model: &ServingModel,
    viewed: &[usize],
    k: usize,
    exclude: &Bitset,
) -> Vec<(usize, f32)> {
    let mut skip = exclude.clone();
    let mut list: Vec<(usize, f32)> = session_model_top_k(model, viewed, k, exclude)
        .into_iter()
        .map(|(i, score, _)| {
            skip.insert(i);
            (i, score)
        })
        .collect();
    if list.len() < k {
        if let (_, Some(q)) = build_query(model, None, viewed) {
            list.extend(model.top_k(&q.vector, q.bias, k - list.len(), &skip));
        }
    }
    list
}

/// The session model's best `k` items not in `skip`, each with the viewed item that
/// contributed most to its score. Empty when the version has no session model or the
/// views point nowhere.
fn session_model_top_k(
    model: &ServingModel,
    viewed: &[usize],
    k: usize,
    skip: &Bitset,
) -> Vec<(usize, f32, usize)> {
    let Some((index, params)) = model.session_model() else {
        return Vec::new();
    };
    let views: Vec<u32> = viewed.iter().map(|&i| i as u32).collect();
    let scores = index.score(params, &views);
    let top = scores.top_k(k, |i| skip.contains(i as usize));
    let items: Vec<u32> = top.iter().map(|e| e.0).collect();
    top.into_iter()
        .zip(scores.because_each(&items))
        .filter_map(|((i, score), because)| Some((i as usize, score, because? as usize)))
        .collect()
}

/// Tops `items` up to `k` with the most popular items not excluded nor chosen: first
/// from the category asked for, then from the whole catalogue.
fn fill_popular(
    model: &ServingModel,
    category: CategoryFilter,
    exclude: &Bitset,
    chosen: &mut HashSet<usize>,
    k: usize,
    items: &mut Vec<Scored>,
) {
    let mut orders: Vec<&[u32]> = Vec::new();
    if let CategoryFilter::One(c) = category {
        orders.push(model.popular_order(Some(c)));
    }
    orders.push(model.popular_order(None));
    for order in orders {
        for &i in order {
            if items.len() >= k {
                return;
            }
            let i = i as usize;
            if exclude.contains(i) || !chosen.insert(i) {
                continue;
            }
            items.push(Scored {
                item_id: model.item_id(i).to_string(),
                score: model.popularity_share(i),
                reason: Reason::Popular(true),
            });
        }
    }
}

/// A fresh recommendation id: 32 hex digits.
pub fn new_id() -> String {
    let mut raw = [0u8; 16];
    if getrandom::fill(&mut raw).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        raw = nanos.to_be_bytes();
    }
    raw.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::{Bundle, Items, UserKind, UserRecord};
    use crate::model::Source;
    use crate::query::Query;

    /// Items a=(1,0) b=(0,1) c=(.9,.1) d=(.1,.9) e=(-1,0); a, c in "left", the rest in
    /// "right"; popularity e > d > c > b > a. User features region:north=(1,0),
    /// gender:f=(0,1).
    fn model() -> ServingModel {
        ServingModel::new("v1", bundle(), Source::Artifacts).expect("valid")
    }

    fn bundle() -> Bundle {
        Bundle {
            items: Items {
                ids: ["a", "b", "c", "d", "e"].map(String::from).to_vec(),
                dim: 2,
                vectors: vec![1.0, 0.0, 0.0, 1.0, 0.9, 0.1, 0.1, 0.9, -1.0, 0.0],
                biases: vec![0.0; 5],
                categories: vec![0, 1, 0, 1, 1],
                category_names: vec!["left".into(), "right".into()],
                popularity: vec![1.0, 2.0, 3.0, 4.0, 5.0],
                user_feature_names: vec!["region:north".into(), "gender:f".into()],
                user_feature_vectors: vec![1.0, 0.0, 0.0, 1.0],
                session: None,
            },
            users: None,
        }
    }

    fn ranked(m: &ServingModel, q: &Query, seen: &[usize], k: usize) -> Vec<(String, Reason)> {
        let mut exclude = Bitset::new(m.len());
        for &i in seen {
            exclude.insert(i);
        }
        m.top_k(&q.vector, q.bias, k, &exclude)
            .into_iter()
            .map(|(i, _)| (m.item_id(i).to_string(), explain(m, q, i)))
            .collect()
    }

    /// `model()` with a session model: a then d twice, b then e once.
    fn with_sessions() -> ServingModel {
        let params = reco_model::session::SessionParams::default();
        let index = reco_model::session::SessionIndex::fit(
            5,
            &[vec![0, 3], vec![1, 4], vec![0, 3]],
            &params,
        )
        .expect("fits");
        let mut bundle = bundle();
        bundle.items.session = Some(crate::SessionData::from_index(&index, &params));
        ServingModel::new("v2", bundle, Source::Artifacts).expect("valid")
    }

    #[test]
    fn the_session_model_leads_and_the_fold_in_tops_up() {
        let m = with_sessions();
        let mut seen = Bitset::new(m.len());
        seen.insert(0);
        // a's sessions lead to d; then the fold-in (a's vector) ranks c, then b (d taken).
        let got: Vec<&str> = session_top_k(&m, &[0], 3, &seen)
            .iter()
            .map(|&(i, _)| m.item_id(i))
            .collect();
        assert_eq!(got, vec!["d", "c", "b"]);
        let led = session_model_top_k(&m, &[0], 3, &seen);
        assert_eq!(led.len(), 1, "only d follows a in the archived sessions");
        assert_eq!((led[0].0, led[0].2), (3, 0), "d, because a was viewed");
        // Without the model (a version-1 bundle) the fold-in alone answers.
        let got: Vec<&str> = session_top_k(&model(), &[0], 3, &seen)
            .iter()
            .map(|&(i, _)| m.item_id(i))
            .collect();
        assert_eq!(got, vec!["c", "d", "b"]);
    }

    #[test]
    fn a_session_item_is_explained_by_the_view_that_contributed_most() {
        let m = model();
        let (strategy, q) = build_query(&m, None, &[0, 1]);
        assert_eq!(strategy, Strategy::Session);
        let got = ranked(&m, &q.expect("a query"), &[0, 1], 2);
        assert_eq!(
            got,
            vec![
                ("d".to_string(), Reason::BecauseViewed("b".into())),
                ("c".to_string(), Reason::BecauseViewed("a".into())),
            ]
        );
    }

    #[test]
    fn a_trained_customer_is_explained_by_history_or_a_view() {
        let m = model();
        let user = UserRecord {
            kind: UserKind::Trained,
            vector: vec![0.0, 1.0],
            bias: 0.0,
            positives: vec![],
            features: vec![],
        };
        let (strategy, q) = build_query(&m, Some(&user), &[0]);
        assert_eq!(strategy, Strategy::Hybrid);
        let got = ranked(&m, &q.expect("a query"), &[0], 3);
        let reason = |id: &str| got.iter().find(|g| g.0 == id).map(|g| g.1.clone());
        assert_eq!(reason("c"), Some(Reason::BecauseViewed("a".into())));
        assert_eq!(reason("d"), Some(Reason::BecauseHistory(true)));
        // Without views the customer's taste alone explains the list.
        let (_, q) = build_query(&m, Some(&user), &[]);
        assert!(ranked(&m, &q.expect("a query"), &[], 3)
            .iter()
            .all(|g| g.1 == Reason::BecauseHistory(true)));
    }

    #[test]
    fn a_customer_known_by_features_is_explained_by_a_feature() {
        let m = model();
        let user = UserRecord {
            kind: UserKind::FeaturesOnly,
            vector: vec![0.8, 0.2],
            bias: 0.0,
            positives: vec![],
            features: vec![(0, 0.8), (1, 0.2)],
        };
        let (strategy, q) = build_query(&m, Some(&user), &[]);
        assert_eq!(strategy, Strategy::FeaturesOnly);
        let got = ranked(&m, &q.expect("a query"), &[], 2);
        assert_eq!(
            got[0],
            ("a".into(), Reason::BecauseFeature("region:north".into()))
        );
        assert_eq!(
            got[1],
            ("c".into(), Reason::BecauseFeature("region:north".into()))
        );
        // With views it is a session list, the features blended in.
        assert_eq!(build_query(&m, Some(&user), &[1]).0, Strategy::Session);
        // Nothing known: popular, no query.
        assert!(matches!(
            build_query(&m, None, &[]),
            (Strategy::Popular, None)
        ));
    }

    #[test]
    fn fill_ins_come_from_the_category_then_the_catalogue_and_skip_exclusions() {
        let m = model();
        let mut exclude = Bitset::new(m.len());
        exclude.insert(4); // e
        let mut chosen = HashSet::from([2usize]); // c, already listed
        let mut items = vec![Scored {
            item_id: "c".into(),
            score: 1.0,
            reason: Reason::BecauseViewed("a".into()),
        }];
        let left = m.category("left").expect("category");
        fill_popular(
            &m,
            CategoryFilter::One(left),
            &exclude,
            &mut chosen,
            4,
            &mut items,
        );
        let ids: Vec<&str> = items.iter().map(|s| s.item_id.as_str()).collect();
        assert_eq!(ids, ["c", "a", "d", "b"]);
        assert!(items[1..].iter().all(|s| s.reason == Reason::Popular(true)));
    }
}
