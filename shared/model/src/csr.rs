//! Sparse matrices: feature matrices (entity x feature) and interactions (user x item).

use crate::error::ModelError;

/// Compressed sparse rows with `f32` values and sorted column indices per row.
#[derive(Debug, Clone, PartialEq)]
pub struct Csr {
    n_rows: usize,
    n_cols: usize,
    indptr: Vec<usize>,
    indices: Vec<u32>,
    data: Vec<f32>,
}

impl Csr {
    /// The identity: one feature per entity, weight 1.
    pub fn identity(n: usize) -> Self {
        Csr {
            n_rows: n,
            n_cols: n,
            indptr: (0..=n).collect(),
            indices: (0..n as u32).collect(),
            data: vec![1.0; n],
        }
    }

    /// Builds from `(row, col, value)` triplets; duplicates are summed, columns sorted.
    pub fn from_triplets(
        n_rows: usize,
        n_cols: usize,
        triplets: &[(u32, u32, f32)],
    ) -> Result<Self, ModelError> {
        let mut counts = vec![0usize; n_rows + 1];
        for &(r, c, v) in triplets {
            if r as usize >= n_rows || c as usize >= n_cols {
                return Err(ModelError::Shape(format!(
                    "entry ({r}, {c}) outside a {n_rows} x {n_cols} matrix"
                )));
            }
            if !v.is_finite() {
                return Err(ModelError::Input(format!("entry ({r}, {c}) is not finite")));
            }
            counts[r as usize + 1] += 1;
        }
        for i in 0..n_rows {
            counts[i + 1] += counts[i];
        }
        let mut next = counts.clone();
        let mut cells = vec![(0u32, 0f32); triplets.len()];
        for &(r, c, v) in triplets {
            let slot = &mut next[r as usize];
            cells[*slot] = (c, v);
            *slot += 1;
        }
        let mut indptr = Vec::with_capacity(n_rows + 1);
        let mut indices = Vec::with_capacity(triplets.len());
        let mut data = Vec::with_capacity(triplets.len());
        indptr.push(0);
        for r in 0..n_rows {
            let row = &mut cells[counts[r]..counts[r + 1]];
            row.sort_unstable_by_key(|&(c, _)| c);
            for &(c, v) in row.iter() {
                if indices.len() > indptr[r] && indices.last() == Some(&c) {
                    if let Some(last) = data.last_mut() {
                        *last += v;
                    }
                } else {
                    indices.push(c);
                    data.push(v);
                }
            }
            indptr.push(indices.len());
        }
        Ok(Csr {
            n_rows,
            n_cols,
            indptr,
            indices,
            data,
        })
    }

    /// Each identity column followed by the given attribute columns, every row
    /// L1-normalised (as LightFM's `Dataset` builds hybrid features).
    pub fn identity_plus(
        n_rows: usize,
        n_attributes: usize,
        attributes: &[(u32, u32, f32)],
        normalise: bool,
    ) -> Result<Self, ModelError> {
        let mut triplets: Vec<(u32, u32, f32)> = (0..n_rows as u32).map(|r| (r, r, 1.0)).collect();
        for &(r, c, v) in attributes {
            triplets.push((r, n_rows as u32 + c, v));
        }
        let mut m = Self::from_triplets(n_rows, n_rows + n_attributes, &triplets)?;
        if normalise {
            m.normalise_rows();
        }
        Ok(m)
    }

    /// Scales each row to sum 1 in absolute value.
    pub fn normalise_rows(&mut self) {
        for r in 0..self.n_rows {
            let range = self.indptr[r]..self.indptr[r + 1];
            let total: f32 = self.data[range.clone()].iter().map(|v| v.abs()).sum();
            if total > 0.0 {
                for v in &mut self.data[range] {
                    *v /= total;
                }
            }
        }
    }

    /// Whether this is the identity: row r holds only column r, with weight 1.
    pub fn is_identity(&self) -> bool {
        self.n_rows == self.n_cols
            && self.indices.len() == self.n_rows
            && self
                .indices
                .iter()
                .enumerate()
                .all(|(r, &c)| c as usize == r)
            && self.data.iter().all(|&w| w == 1.0)
    }

    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    pub fn n_cols(&self) -> usize {
        self.n_cols
    }

    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// Column indices and values of one row.
    #[inline]
    pub fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let range = self.indptr[r]..self.indptr[r + 1];
        (&self.indices[range.clone()], &self.data[range])
    }

    /// Whether `(r, c)` is stored (binary search in the sorted row).
    #[inline]
    pub fn contains(&self, r: usize, c: u32) -> bool {
        self.row(r).0.binary_search(&c).is_ok()
    }

    pub fn indptr(&self) -> &[usize] {
        &self.indptr
    }

    pub fn indices(&self) -> &[u32] {
        &self.indices
    }

    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Rebuilds from raw parts, checking every invariant (used when loading artifacts).
    pub fn from_parts(
        n_rows: usize,
        n_cols: usize,
        indptr: Vec<usize>,
        indices: Vec<u32>,
        data: Vec<f32>,
    ) -> Result<Self, ModelError> {
        let bad = |m: &str| Err(ModelError::Shape(format!("sparse matrix: {m}")));
        if indptr.len() != n_rows + 1 || indptr.first() != Some(&0) {
            return bad("row pointer length");
        }
        if indptr.windows(2).any(|w| w[0] > w[1]) || indptr[n_rows] != indices.len() {
            return bad("row pointers not increasing");
        }
        if indices.len() != data.len() {
            return bad("indices and values differ in length");
        }
        for r in 0..n_rows {
            let row = &indices[indptr[r]..indptr[r + 1]];
            if row.windows(2).any(|w| w[0] >= w[1]) || row.iter().any(|&c| c as usize >= n_cols) {
                return bad("columns unsorted or out of range");
            }
        }
        Ok(Csr {
            n_rows,
            n_cols,
            indptr,
            indices,
            data,
        })
    }
}

/// User-item interactions in coordinate form, with optional per-entry sample weights.
/// Entries with a value > 0 are positives; 0 or negative entries are negatives for
/// the logistic loss and known negatives for the ranking losses, which step on them
/// only with `Params::known_negative_weight` > 0.
#[derive(Debug, Clone, PartialEq)]
pub struct Interactions {
    pub n_users: usize,
    pub n_items: usize,
    pub users: Vec<u32>,
    pub items: Vec<u32>,
    pub values: Vec<f32>,
    pub weights: Option<Vec<f32>>,
}

impl Interactions {
    /// Positive interactions of weight 1 from `(user, item)` pairs.
    pub fn from_pairs(n_users: usize, n_items: usize, pairs: &[(u32, u32)]) -> Self {
        Interactions {
            n_users,
            n_items,
            users: pairs.iter().map(|p| p.0).collect(),
            items: pairs.iter().map(|p| p.1).collect(),
            values: vec![1.0; pairs.len()],
            weights: None,
        }
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The number of positives (value > 0) over the number of items: how many
    /// positive steps an item's parameters take per epoch on average (what
    /// `Params::recommended`'s learning rate depends on).
    pub fn positives_per_item(&self) -> f32 {
        let positives = self.values.iter().filter(|&&v| v > 0.0).count();
        positives as f32 / self.n_items.max(1) as f32
    }

    pub fn validate(&self) -> Result<(), ModelError> {
        let n = self.users.len();
        if self.items.len() != n || self.values.len() != n {
            return Err(ModelError::Shape(
                "interactions: users, items and values differ in length".into(),
            ));
        }
        if let Some(w) = &self.weights {
            if w.len() != n {
                return Err(ModelError::Shape(
                    "sample weights differ in length from interactions".into(),
                ));
            }
            if w.iter().any(|v| !v.is_finite() || *v < 0.0) {
                return Err(ModelError::Input(
                    "sample weights must be finite and >= 0".into(),
                ));
            }
        }
        if let Some(i) = self.users.iter().position(|&u| u as usize >= self.n_users) {
            return Err(ModelError::Shape(format!(
                "interaction {i}: user {} >= n_users {}",
                self.users[i], self.n_users
            )));
        }
        if let Some(i) = self
            .items
            .iter()
            .position(|&it| it as usize >= self.n_items)
        {
            return Err(ModelError::Shape(format!(
                "interaction {i}: item {} >= n_items {}",
                self.items[i], self.n_items
            )));
        }
        if self.values.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Input(
                "interaction values must be finite".into(),
            ));
        }
        Ok(())
    }

    /// The user x item matrix of stored entries (duplicates summed).
    pub fn to_csr(&self) -> Csr {
        self.csr_where(|_| true)
    }

    /// The user x item matrix of the positives (value > 0).
    pub fn positives_csr(&self) -> Csr {
        self.csr_where(|v| v > 0.0)
    }

    fn csr_where(&self, keep: impl Fn(f32) -> bool) -> Csr {
        let triplets: Vec<(u32, u32, f32)> = (0..self.len())
            .filter(|&i| keep(self.values[i]))
            .map(|i| (self.users[i], self.items[i], self.values[i]))
            .collect();
        // Indices were validated; from_triplets cannot fail on them.
        Csr::from_triplets(self.n_users, self.n_items, &triplets)
            .unwrap_or_else(|_| Csr::from_triplets(0, 0, &[]).expect("empty matrix"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triplets_sort_and_sum() {
        let m = Csr::from_triplets(2, 3, &[(1, 2, 1.0), (0, 1, 2.0), (1, 0, 1.0), (1, 2, 0.5)])
            .expect("valid");
        assert_eq!(m.row(0), (&[1u32][..], &[2.0f32][..]));
        assert_eq!(m.row(1), (&[0u32, 2][..], &[1.0f32, 1.5][..]));
        assert!(m.contains(1, 2) && !m.contains(0, 2));
        assert!(matches!(
            Csr::from_triplets(2, 3, &[(2, 0, 1.0)]),
            Err(crate::ModelError::Shape(_))
        ));
    }

    #[test]
    fn identity_plus_normalises() {
        let m = Csr::identity_plus(2, 2, &[(0, 0, 1.0), (0, 1, 1.0)], true).expect("valid");
        assert_eq!(m.n_cols(), 4);
        let (cols, vals) = m.row(0);
        assert_eq!(cols, &[0, 2, 3]);
        assert!((vals.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert_eq!(m.row(1), (&[1u32][..], &[1.0f32][..]));
        assert!(!m.is_identity());
        assert!(Csr::identity(3).is_identity());
    }
}
