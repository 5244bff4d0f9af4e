//! Exact top-k over a catalogue, for serving: every item's vector and bias in one
//! contiguous row-major f32 matrix (the bias as one more column, rows padded with
//! zeros to a multiple of 8), scored against a query `[v, 1, 0...]` on one thread with
//! SIMD dot products four rows at a time. The best `k` are kept in a bounded heap (no
//! sort of all scores); items left out are a bitset read in place, never a copy of the
//! matrix. Ties go to the lower item index, as `argsort(-scores, kind="stable")[:k]`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

mod exact;
mod half;
mod i8;
mod quantized;

pub use exact::ItemMatrix;
pub use half::HalfMatrix;
pub use quantized::QuantizedItems;

/// The dot product of two equally long slices, as the scan's portable path computes it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    crate::simd::dot(a, b)
}

/// Items as a set of indices, one bit each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bitset {
    words: Vec<u64>,
    len: usize,
}

impl Bitset {
    pub fn new(len: usize) -> Self {
        Bitset {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// Adds `i`; indices past the end are ignored.
    pub fn insert(&mut self, i: usize) {
        if i < self.len {
            self.words[i / 64] |= 1 << (i % 64);
        }
    }

    /// Every index in `0..len`.
    pub fn full(len: usize) -> Self {
        let mut words = vec![u64::MAX; len.div_ceil(64)];
        if !len.is_multiple_of(64) {
            if let Some(last) = words.last_mut() {
                *last = (1u64 << (len % 64)) - 1;
            }
        }
        Bitset { words, len }
    }

    /// Removes `i`; indices past the end are ignored.
    pub fn remove(&mut self, i: usize) {
        if i < self.len {
            self.words[i / 64] &= !(1 << (i % 64));
        }
    }

    /// Adds every index of `other` (indices past this set's end are ignored).
    pub fn union_with(&mut self, other: &Bitset) {
        for (w, o) in self.words.iter_mut().zip(&other.words) {
            *w |= o;
        }
        if let Some(last) = self.words.last_mut() {
            if !self.len.is_multiple_of(64) {
                *last &= (1u64 << (self.len % 64)) - 1;
            }
        }
    }

    pub fn contains(&self, i: usize) -> bool {
        i < self.len && self.words[i / 64] & (1 << (i % 64)) != 0
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }
}

/// A candidate in the heap: ordered so that the heap's top is the worst kept.
#[derive(Clone, Copy)]
struct Kept {
    score: f32,
    index: usize,
}

impl PartialEq for Kept {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Kept {}
impl PartialOrd for Kept {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Kept {
    /// "Greater" is worse: a lower score, or the same score at a higher index.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then(self.index.cmp(&other.index))
    }
}

/// Rows scored exactly after the int8 scan: each row is `[vector, bias, 0...]` as f32,
/// [`ItemMatrix`]'s layout.
pub trait ExactRows {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn dim(&self) -> usize;
    /// Row `r` into `out` (at least the layout's stride long).
    fn row_into(&self, r: usize, out: &mut [f32]);
    /// Row `r`'s score for a query from [`ItemMatrix::query`], exactly as
    /// [`ItemMatrix::top_k`] computes it over the same values; `scratch` is reused
    /// between calls.
    fn score(&self, q: &[f32], r: usize, scratch: &mut Vec<f32>) -> f32;
}

/// The scan's query for a representation `v`: `[v, 1, 0...]` in the layout's row
/// length (its bias only shifts every score alike, so it is added to the results, not
/// scanned).
pub fn scan_query(v: &[f32]) -> Vec<f32> {
    let dim = v.len();
    let mut q = vec![0.0f32; stride_for(dim)];
    q[..dim].copy_from_slice(v);
    q[dim] = 1.0;
    q
}

/// (items, dim) of a catalogue given as item vectors and one bias per item.
fn catalogue_shape(
    vectors: &ndarray::ArrayView2<f32>,
    biases: &ndarray::ArrayView1<f32>,
) -> Result<(usize, usize), crate::error::ModelError> {
    let (rows, dim) = vectors.dim();
    if biases.len() != rows {
        return Err(crate::error::ModelError::Shape(format!(
            "{} biases for {rows} item vectors",
            biases.len()
        )));
    }
    Ok((rows, dim))
}

/// The layout's row length for `dim` components: vector, bias, zero padding to a
/// multiple of 8.
fn stride_for(dim: usize) -> usize {
    (dim + 1).div_ceil(8) * 8
}

/// Keeps the `k` best candidates (by [`Kept`]'s order) seen so far.
struct Best {
    heap: BinaryHeap<Kept>,
    k: usize,
}

impl Best {
    fn new(k: usize) -> Self {
        Best {
            heap: BinaryHeap::with_capacity(k + 1),
            k,
        }
    }

    fn offer(&mut self, score: f32, index: usize) {
        let kept = Kept { score, index };
        if self.heap.len() < self.k {
            self.heap.push(kept);
        } else if let Some(mut top) = self.heap.peek_mut() {
            if kept < *top {
                *top = kept;
            }
        }
    }

    /// The worst kept score once `k` are kept.
    fn threshold(&self) -> Option<f32> {
        (self.heap.len() == self.k)
            .then(|| self.heap.peek().map(|t| t.score))
            .flatten()
    }

    fn into_sorted(self) -> Vec<Kept> {
        self.heap.into_sorted_vec()
    }
}

#[cfg(test)]
mod tests;
