//! A version in memory, laid out for answering: the item matrix for exact top-k (with
//! its int8 copy for large catalogues), norms for cosine similarity, categories and
//! popularity orders, and, when read from the artifact store, every customer.

use std::collections::HashMap;

use reco_model::topk::{dot, Bitset, ItemMatrix, QuantizedItems};

use crate::bundle::{Bundle, BundleError, UserRecord, NO_CATEGORY};

/// Catalogues at least this large are scanned through the int8 copy first.
pub const QUANTIZE_FROM_ITEMS: usize = 20_000;

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
    matrix: ItemMatrix,
    quantized: Option<QuantizedItems>,
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
}

impl ServingModel {
    pub fn new(version: &str, bundle: Bundle, source: Source) -> Result<Self, BundleError> {
        let it = bundle.items;
        let n = it.ids.len();
        let vectors = ndarray::ArrayView2::from_shape((n, it.dim), &it.vectors)
            .map_err(|e| BundleError(e.to_string()))?;
        let biases = ndarray::ArrayView1::from(&it.biases);
        let matrix = ItemMatrix::new(vectors, biases).map_err(|e| BundleError(e.to_string()))?;
        let quantized = (n >= QUANTIZE_FROM_ITEMS).then(|| QuantizedItems::new(&matrix));
        let inv_norms = (0..n)
            .map(|i| {
                let v = matrix.vector(i);
                let norm = dot(v, v).sqrt();
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
            matrix,
            quantized,
            inv_norms,
            categories: it.categories,
            category_index,
            category_members,
            by_popularity,
            popularity: it.popularity,
            user_feature_names: it.user_feature_names,
            user_feature_vectors: it.user_feature_vectors,
            users: bundle.users,
        })
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.matrix.dim()
    }

    /// Bytes of the scanned matrices.
    pub fn matrix_bytes(&self) -> usize {
        self.matrix.bytes() + self.quantized.as_ref().map_or(0, |q| q.bytes())
    }

    pub fn item_index(&self, id: &str) -> Option<usize> {
        self.index.get(id).map(|&i| i as usize)
    }

    pub fn item_id(&self, i: usize) -> &str {
        &self.ids[i]
    }

    pub fn vector(&self, i: usize) -> &[f32] {
        self.matrix.vector(i)
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
        let Ok(q) = self.matrix.query(v) else {
            return Vec::new();
        };
        match &self.quantized {
            Some(quantized) => quantized.top_k(&self.matrix, &q, bias, k, Some(exclude)),
            None => self.matrix.top_k(&q, bias, k, Some(exclude)),
        }
    }

    /// The `k` items most similar to `item` by cosine of their representations,
    /// skipping `exclude` (ties: lower index).
    pub fn similar(&self, item: usize, k: usize, exclude: &Bitset) -> Vec<(usize, f32)> {
        let Ok(mut q) = self.matrix.query(self.matrix.vector(item)) else {
            return Vec::new();
        };
        // Leave the bias out of the dot product.
        if let Some(b) = q.get_mut(self.dim()) {
            *b = 0.0;
        }
        let target = self.inv_norms[item];
        let mut scored: Vec<(f32, usize)> = self
            .matrix
            .scores(&q, 0.0)
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
