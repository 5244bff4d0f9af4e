//! The exact f32 scan.

use ndarray::{ArrayView1, ArrayView2};

use super::{scan_query, stride_for, Best, Bitset, ExactRows};
use crate::error::ModelError;

/// The catalogue's vectors and biases, laid out for scanning.
#[derive(Debug, Clone)]
pub struct ItemMatrix {
    pub(super) rows: usize,
    pub(super) dim: usize,
    pub(super) stride: usize,
    pub(super) data: Vec<f32>,
    pub(super) avx2: bool,
}

impl ItemMatrix {
    /// Lays out `vectors` (items x dim) and `biases` (items).
    pub fn new(vectors: ArrayView2<f32>, biases: ArrayView1<f32>) -> Result<Self, ModelError> {
        let (rows, dim) = super::catalogue_shape(&vectors, &biases)?;
        let stride = stride_for(dim);
        let mut data = vec![0.0f32; rows * stride];
        for (r, (row, out)) in vectors
            .rows()
            .into_iter()
            .zip(data.chunks_mut(stride))
            .enumerate()
        {
            for (o, &x) in out.iter_mut().zip(row.iter()) {
                *o = x;
            }
            out[dim] = biases[r];
        }
        Ok(ItemMatrix {
            rows,
            dim,
            stride,
            data,
            avx2: crate::simd::avx2_fma(),
        })
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The dot-product code path the scan takes on this CPU.
    pub fn kernel(&self) -> &'static str {
        if self.avx2 {
            "avx2+fma"
        } else {
            "portable"
        }
    }

    /// Bytes the matrix holds.
    pub fn bytes(&self) -> usize {
        self.data.len() * std::mem::size_of::<f32>()
    }

    /// The scan's query for a representation `v` (its bias only shifts every score
    /// alike, so it is added to the results, not scanned).
    pub fn query(&self, v: &[f32]) -> Result<Vec<f32>, ModelError> {
        if v.len() != self.dim {
            return Err(ModelError::Input(format!(
                "query has {} components, the items {}",
                v.len(),
                self.dim
            )));
        }
        Ok(scan_query(v))
    }

    fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.stride..(r + 1) * self.stride]
    }

    /// Item `r`'s vector (without its bias). Panics if `r` is out of range.
    pub fn vector(&self, r: usize) -> &[f32] {
        &self.row(r)[..self.dim]
    }

    /// Item `r`'s bias. Panics if `r` is out of range.
    pub fn bias(&self, r: usize) -> f32 {
        self.row(r)[self.dim]
    }

    /// Scores of rows `r..r + 4` (fewer at the end), as the scan computes them.
    fn score4(&self, q: &[f32], r: usize, out: &mut [f32; 4]) -> usize {
        let n = (self.rows - r).min(4);
        #[cfg(target_arch = "x86_64")]
        if self.avx2 && n == 4 {
            let rows = [
                self.row(r),
                self.row(r + 1),
                self.row(r + 2),
                self.row(r + 3),
            ];
            // SAFETY: `avx2` is true only when the CPU supports AVX2 and FMA.
            *out = unsafe { crate::simd::dots4_avx2(q, rows) };
            return n;
        }
        for (j, o) in out.iter_mut().enumerate().take(n) {
            *o = crate::simd::dot(q, self.row(r + j));
        }
        n
    }

    /// Row `r`'s score exactly as the scan computes it.
    fn score_one(&self, q: &[f32], r: usize) -> f32 {
        scan_score(self.avx2, r < self.rows / 4 * 4, q, self.row(r))
    }

    /// Every item's score for the query from [`ItemMatrix::query`], plus `bias`.
    pub fn scores(&self, q: &[f32], bias: f32) -> Vec<f32> {
        let mut out = Vec::with_capacity(self.rows);
        let mut four = [0.0f32; 4];
        let mut r = 0;
        while r < self.rows {
            let n = self.score4(q, r, &mut four);
            out.extend(four[..n].iter().map(|s| s + bias));
            r += n;
        }
        out
    }

    /// The `k` best items for the query from [`ItemMatrix::query`], best first, with
    /// `bias` added; items in `exclude` and non-finite scores are skipped.
    pub fn top_k(
        &self,
        q: &[f32],
        bias: f32,
        k: usize,
        exclude: Option<&Bitset>,
    ) -> Vec<(usize, f32)> {
        if k == 0 || q.len() != self.stride {
            return Vec::new();
        }
        let mut best = Best::new(k);
        let mut worst = f32::NEG_INFINITY;
        let mut four = [0.0f32; 4];
        let mut r = 0;
        while r < self.rows {
            let n = self.score4(q, r, &mut four);
            for (j, &s) in four[..n].iter().enumerate() {
                let index = r + j;
                // Most rows lose to the worst kept: one comparison and on.
                if s < worst || !s.is_finite() {
                    continue;
                }
                if exclude.is_some_and(|e| e.contains(index)) {
                    continue;
                }
                best.offer(s, index);
                if let Some(t) = best.threshold() {
                    worst = t;
                }
            }
            r += n;
        }
        best.into_sorted()
            .into_iter()
            .map(|c| (c.index, c.score + bias))
            .collect()
    }
}

/// A row's score as [`ItemMatrix`]'s scan computes it: with the four-row kernel for
/// rows in a group of four (its arithmetic per row does not depend on the other three
/// rows), with the portable loop for the last rows.
pub(super) fn scan_score(avx2: bool, in_group: bool, q: &[f32], row: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx2 && in_group {
        // SAFETY: `avx2` is true only when the CPU supports AVX2 and FMA.
        return unsafe { crate::simd::dots4_avx2(q, [row, row, row, row]) }[0];
    }
    let _ = (avx2, in_group);
    crate::simd::dot(q, row)
}

impl ExactRows for ItemMatrix {
    fn len(&self) -> usize {
        self.rows
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn row_into(&self, r: usize, out: &mut [f32]) {
        out[..self.stride].copy_from_slice(self.row(r));
    }
    fn score(&self, q: &[f32], r: usize, _scratch: &mut Vec<f32>) -> f32 {
        self.score_one(q, r)
    }
}
