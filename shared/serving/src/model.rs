//! A version in memory, laid out for answering: the item matrix for exact top-k (for
//! large catalogues, the vectors in half precision and their int8 copy), norms for
//! cosine similarity, categories and popularity orders, and every customer when read
//! from the artifact store, or each customer's record digest when read from the cache.

use std::borrow::Cow;
use std::collections::HashMap;

use reco_model::session::{SessionIndex, SessionParams};
use reco_model::topk::{dot, Bitset, HalfMatrix, ItemMatrix, QuantizedItems};

use crate::bundle::{Bundle, BundleError, Items as BundleItems, UserRecord, NO_CATEGORY};
use crate::cached::UserDigests;

/// Catalogues at least this large keep their vectors in half precision and are scanned
/// through an int8 copy first.
pub const QUANTIZE_FROM_ITEMS: usize = 20_000;

/// The item vectors as scanned.
enum Items {
    /// f32, scanned directly.
    Exact(ItemMatrix),
    /// Rounded to half precision (relative error at most 2^-11), scanned in int8 and
    /// re-ranked exactly in f32 from the rounded values: both together take fewer bytes
    /// than the f32 matrix alone (212 against 288 per item at 64 components).
    Compact {
        rows: HalfMatrix,
        int8: QuantizedItems,
    },
}

/// Where a version was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Artifacts,
}

pub struct ServingModel {
    pub version: String,
    pub source: Source,
    ids: Vec<String>,
    index: HashMap<String, u32>,
    items: Items,
    dim: usize,
    inv_norms: Vec<f32>,
    categories: Vec<u32>,
    category_index: HashMap<String, u32>,
    /// Each category's items, most popular first.
    category_members: Vec<Vec<u32>>,
    /// Every item, most popular first (ties: lower index).
    by_popularity: Vec<u32>,
    popularity: Vec<f32>,
    popularity_total: f32,
    user_feature_names: Vec<String>,
    user_feature_vectors: Vec<f32>,
    users: Option<HashMap<String, UserRecord>>,
    /// When read from the cache: each customer's record digest, which a record read
    /// from the cache must match.
    user_digests: Option<UserDigests>,
    /// The session model, when the version has one.
    session: Option<(SessionIndex, SessionParams)>,
}

impl ServingModel {
    pub fn new(version: &str, bundle: Bundle, source: Source) -> Result<Self, BundleError> {
        let it = bundle.items;
        let n = it.ids.len();
        let vectors = ndarray::ArrayView2::from_shape((n, it.dim), &it.vectors)
            .map_err(|e| BundleError(e.to_string()))?;
        let biases = ndarray::ArrayView1::from(&it.biases);
        let items = if n >= QUANTIZE_FROM_ITEMS {
            let rows = HalfMatrix::new(vectors, biases).map_err(|e| BundleError(e.to_string()))?;
            let int8 = QuantizedItems::new(&rows);
            Items::Compact { rows, int8 }
        } else {
            Items::Exact(ItemMatrix::new(vectors, biases).map_err(|e| BundleError(e.to_string()))?)
        };
        let vector = |i: usize| match &items {
            Items::Exact(m) => Cow::Borrowed(m.vector(i)),
            Items::Compact { rows, .. } => Cow::Owned(rows.vector(i)),
        };
        let inv_norms = (0..n)
            .map(|i| {
                let v = vector(i);
                let norm = dot(&v, &v).sqrt();
                if norm > 1e-12 {
                    1.0 / norm
                } else {
                    0.0
                }
            })
            .collect();
        let mut by_popularity: Vec<u32> = (0..n as u32).collect();
        by_popularity.sort_by(|&a, &b| {
            it.popularity[b as usize]
                .total_cmp(&it.popularity[a as usize])
                .then(a.cmp(&b))
        });
        let mut category_members = vec![Vec::new(); it.category_names.len()];
        for &i in &by_popularity {
            let c = it.categories[i as usize];
            if c != NO_CATEGORY {
                category_members[c as usize].push(i);
            }
        }
        let index = it
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u32))
            .collect();
        let session = match it.session {
            Some(data) => Some(data.into_index(n)?),
            None => None,
        };
        let category_index = it
            .category_names
            .iter()
            .enumerate()
            .map(|(i, c)| (c.clone(), i as u32))
            .collect();
        Ok(ServingModel {
            version: version.to_string(),
            source,
            popularity_total: it.popularity.iter().sum::<f32>().max(1e-12),
            ids: it.ids,
            index,
            items,
            dim: it.dim,
            inv_norms,
            categories: it.categories,
            category_index,
            category_members,
            by_popularity,
            popularity: it.popularity,
            user_feature_names: it.user_feature_names,
            user_feature_vectors: it.user_feature_vectors,
            users: bundle.users,
            user_digests: None,
            session,
        })
    }

    /// A version read from the cache: its items, and the digest of each customer's
    /// cached record.
    pub fn from_cache(
        version: &str,
        items: BundleItems,
        user_digests: UserDigests,
    ) -> Result<Self, BundleError> {
        let mut model = Self::new(version, Bundle { items, users: None }, Source::Cache)?;
        model.user_digests = Some(user_digests);
        Ok(model)
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// The session model and its scoring parameters, when the version has one.
    pub fn session_model(&self) -> Option<(&SessionIndex, &SessionParams)> {
        self.session.as_ref().map(|(i, p)| (i, p))
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Bytes of the scanned matrices.
    pub fn matrix_bytes(&self) -> usize {
        match &self.items {
            Items::Exact(m) => m.bytes(),
            Items::Compact { rows, int8 } => rows.bytes() + int8.bytes(),
        }
    }

    pub fn item_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).map(|&i| i as usize)
    }

    pub fn item_id(&self, i: usize) -> &str {
        &self.ids[i]
    }

    /// Item `i`'s vector as scored. Panics if `i` is out of range.
    pub fn vector(&self, i: usize) -> Cow<'_, [f32]> {
        match &self.items {
            Items::Exact(m) => Cow::Borrowed(m.vector(i)),
            Items::Compact { rows, .. } => Cow::Owned(rows.vector(i)),
        }
    }

    /// The scan's query for `v`: `[v, 1, 0...]`.
    fn query(&self, v: &[f32]) -> Option<Vec<f32>> {
        if v.len() != self.dim {
            return None;
        }
        Some(reco_model::topk::scan_query(v))
    }

    pub fn user_feature_name(&self, f: usize) -> Option<&str> {
        self.user_feature_names.get(f).map(String::as_str)
    }

    pub fn user_feature_vector(&self, f: usize) -> Option<&[f32]> {
        let d = self.dim();
        self.user_feature_vectors.get(f * d..(f + 1) * d)
    }

    /// The customers, when this version was read from the artifact store.
    pub fn users(&self) -> Option<&HashMap<String, UserRecord>> {
        self.users.as_ref()
    }

    /// The digest of each customer's cached record, when this version was read from
    /// the cache.
    pub fn user_digests(&self) -> Option<&UserDigests> {
        self.user_digests.as_ref()
    }

    pub fn category(&self, name: &str) -> Option<usize> {
        self.category_index.get(name).map(|&c| c as usize)
    }

    pub fn in_category(&self, item: usize, category: usize) -> bool {
        self.categories.get(item).copied() == Some(category as u32)
    }

    /// Items of `category` (every item for `None`), most popular first.
    pub fn popular_order(&self, category: Option<usize>) -> &[u32] {
        match category {
            Some(c) => self.category_members.get(c).map_or(&[], Vec::as_slice),
            None => &self.by_popularity,
        }
    }

    /// The item's share of all positives in the training data.
    pub fn popularity_share(&self, i: usize) -> f32 {
        self.popularity[i] / self.popularity_total
    }

    /// A bitset of every item outside `category`.
    pub fn outside_category(&self, category: Option<usize>) -> Bitset {
        let mut set = Bitset::full(self.len());
        for &i in self.popular_order(category) {
            set.remove(i as usize);
        }
        set
    }

    /// The `k` best items for representation `v` plus `bias`, exact, skipping `exclude`.
    pub fn top_k(&self, v: &[f32], bias: f32, k: usize, exclude: &Bitset) -> Vec<(usize, f32)> {
        let Some(q) = self.query(v) else {
            return Vec::new();
        };
        match &self.items {
            Items::Exact(m) => m.top_k(&q, bias, k, Some(exclude)),
            Items::Compact { rows, int8 } => int8.top_k(rows, &q, bias, k, Some(exclude)),
        }
    }

    /// The `k` items most similar to `item` by cosine of their representations,
    /// skipping `exclude` (ties: lower index).
    pub fn similar(&self, item: usize, k: usize, exclude: &Bitset) -> Vec<(usize, f32)> {
        let Some(mut q) = self.query(&self.vector(item)) else {
            return Vec::new();
        };
        // Leave the bias out of the dot product.
        if let Some(b) = q.get_mut(self.dim()) {
            *b = 0.0;
        }
        let target = self.inv_norms[item];
        let scores = match &self.items {
            Items::Exact(m) => m.scores(&q, 0.0),
            Items::Compact { rows, .. } => rows.scores(&q, 0.0),
        };
        let mut scored: Vec<(f32, usize)> = scores
            .into_iter()
            .enumerate()
            .filter(|&(i, s)| i != item && !exclude.contains(i) && s.is_finite())
            .map(|(i, s)| (s * self.inv_norms[i] * target, i))
            .collect();
        let order = |a: &(f32, usize), b: &(f32, usize)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if scored.len() > k && k > 0 {
            scored.select_nth_unstable_by(k - 1, order);
            scored.truncate(k);
        }
        scored.sort_by(order);
        scored.truncate(k);
        scored.into_iter().map(|(s, i)| (i, s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalogue(n: usize, dim: usize) -> Bundle {
        let mut s = 88172645463325252u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s % 100_000) as f32 / 100_000.0 - 0.5
        };
        Bundle {
            items: BundleItems {
                ids: (0..n).map(|i| format!("sku-{i}")).collect(),
                dim,
                vectors: (0..n * dim).map(|_| next()).collect(),
                biases: (0..n).map(|_| next()).collect(),
                categories: vec![NO_CATEGORY; n],
                popularity: vec![1.0; n],
                ..Default::default()
            },
            users: None,
        }
    }

    /// A large catalogue is kept in half precision with its int8 copy (together fewer
    /// bytes than the f32 matrix alone) and still ranks exactly: the same answer as sorting every
    /// score computed from the values it keeps.
    #[test]
    fn large_catalogues_rank_exactly_over_what_they_keep() {
        let (n, dim) = (QUANTIZE_FROM_ITEMS + 7, 16);
        let bundle = catalogue(n, dim);
        let original = bundle.items.vectors.clone();
        let model = ServingModel::new("v1", bundle, Source::Artifacts).expect("model");
        assert!(matches!(model.items, Items::Compact { .. }));
        assert!(model.matrix_bytes() < n * (dim + 1).div_ceil(8) * 8 * 4);
        for i in [0, 1, n / 2, n - 1] {
            for (&x, &h) in original[i * dim..(i + 1) * dim]
                .iter()
                .zip(model.vector(i).iter())
            {
                assert!((x - h).abs() <= x.abs() * 2f32.powi(-11) + 1e-7);
            }
        }
        let mut exclude = Bitset::new(n);
        exclude.insert(3);
        for seed in 0..20 {
            let v: Vec<f32> = (0..dim)
                .map(|j| ((seed * 7 + j * 3) % 11) as f32 / 11.0 - 0.4)
                .collect();
            let top = model.top_k(&v, 0.25, 10, &exclude);
            let Items::Compact { rows, .. } = &model.items else {
                unreachable!("checked above")
            };
            let q = model.query(&v).expect("query");
            let mut all: Vec<(usize, f32)> = rows
                .scores(&q, 0.25)
                .into_iter()
                .enumerate()
                .filter(|&(i, _)| i != 3)
                .collect();
            all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            all.truncate(10);
            assert_eq!(top, all, "seed {seed}");
        }
        let similar = model.similar(5, 3, &Bitset::new(n));
        assert_eq!(similar.len(), 3);
        assert!(similar.iter().all(|&(i, s)| i != 5 && s <= 1.0 + 1e-5));
        assert!(similar.windows(2).all(|w| w[0].1 >= w[1].1));
    }

    #[test]
    fn small_catalogues_keep_f32() {
        let bundle = catalogue(100, 4);
        let original = bundle.items.vectors.clone();
        let model = ServingModel::new("v1", bundle, Source::Artifacts).expect("model");
        assert!(matches!(model.items, Items::Exact(_)));
        assert_eq!(&*model.vector(7), &original[28..32]);
    }
}
