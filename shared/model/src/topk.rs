//! Exact top-k over a catalogue, for serving: every item's vector and bias in one
//! contiguous row-major f32 matrix (the bias as one more column, rows padded with
//! zeros to a multiple of 8), scored against a query `[v, 1, 0...]` on one thread with
//! SIMD dot products four rows at a time. The best `k` are kept in a bounded heap (no
//! sort of all scores); items left out are a bitset read in place, never a copy of the
//! matrix. Ties go to the lower item index, as `argsort(-scores, kind="stable")[:k]`.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use ndarray::{ArrayView1, ArrayView2};

use crate::model::ModelError;

/// The dot product of two equally long slices, as the scan's portable path computes it.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    crate::hogwild::dot(a, b)
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

/// The catalogue's vectors and biases, laid out for scanning.
#[derive(Debug, Clone)]
pub struct ItemMatrix {
    rows: usize,
    dim: usize,
    stride: usize,
    data: Vec<f32>,
    avx2: bool,
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

impl ItemMatrix {
    /// Lays out `vectors` (items x dim) and `biases` (items).
    pub fn new(vectors: ArrayView2<f32>, biases: ArrayView1<f32>) -> Result<Self, ModelError> {
        let (rows, dim) = vectors.dim();
        if biases.len() != rows {
            return Err(ModelError::Shape(format!(
                "{} biases for {rows} item vectors",
                biases.len()
            )));
        }
        let stride = (dim + 1).div_ceil(8) * 8;
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
            avx2: crate::hogwild::avx2_fma(),
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
        let mut q = vec![0.0f32; self.stride];
        q[..self.dim].copy_from_slice(v);
        q[self.dim] = 1.0;
        Ok(q)
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
            *out = unsafe { crate::hogwild::dots4_avx2(q, rows) };
            return n;
        }
        for (j, o) in out.iter_mut().enumerate().take(n) {
            *o = crate::hogwild::dot(q, self.row(r + j));
        }
        n
    }

    /// Row `r`'s score exactly as the scan computes it (the four-row kernel's
    /// arithmetic per row does not depend on the other three rows).
    fn score_one(&self, q: &[f32], r: usize) -> f32 {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 && r < self.rows / 4 * 4 {
            let row = self.row(r);
            // SAFETY: `avx2` is true only when the CPU supports AVX2 and FMA.
            return unsafe { crate::hogwild::dots4_avx2(q, [row, row, row, row]) }[0];
        }
        crate::hogwild::dot(q, self.row(r))
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

/// An int8 copy of an [`ItemMatrix`] scanned first, a quarter of the bytes: each row
/// keeps its scale and the L1 norm of its codes, so every approximate score comes with
/// a bound on its error. Items whose upper bound can still reach the k-th best lower
/// bound are re-scored exactly in f32, so the result is exactly the f32 scan's.
#[derive(Debug, Clone)]
pub struct QuantizedItems {
    rows: usize,
    dim: usize,
    stride: usize,
    codes: Vec<i8>,
    /// Per row: scale, L1 norm of the codes, bias.
    scale: Vec<f32>,
    l1: Vec<f32>,
    bias: Vec<f32>,
    avx2: bool,
}

impl QuantizedItems {
    /// Quantises `items`' vectors row by row (symmetric, 127 levels).
    pub fn new(items: &ItemMatrix) -> Self {
        let dim = items.dim;
        let stride = dim.div_ceil(32) * 32;
        let mut codes = vec![0i8; items.rows * stride];
        let mut scale = Vec::with_capacity(items.rows);
        let mut l1 = Vec::with_capacity(items.rows);
        let mut bias = Vec::with_capacity(items.rows);
        for r in 0..items.rows {
            let row = &items.row(r)[..dim];
            let max = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let s = if max > 0.0 && max.is_finite() {
                max / 127.0
            } else {
                1.0
            };
            let out = &mut codes[r * stride..r * stride + dim];
            let mut norm = 0.0f32;
            for (o, &x) in out.iter_mut().zip(row) {
                let c = (x / s).round().clamp(-127.0, 127.0);
                *o = c as i8;
                norm += c.abs();
            }
            scale.push(s);
            l1.push(norm);
            bias.push(items.row(r)[dim]);
        }
        QuantizedItems {
            rows: items.rows,
            dim,
            stride,
            codes,
            scale,
            l1,
            bias,
            avx2: items.avx2,
        }
    }

    /// Bytes the copy holds.
    pub fn bytes(&self) -> usize {
        self.codes.len() + 12 * self.rows
    }

    /// Integer dot products of rows `start..start + out.len()` with the query codes.
    fn dot_codes(&self, start: usize, q: &[i16], q8: &[i8], out: &mut [i32]) {
        let block = &self.codes[start * self.stride..(start + out.len()) * self.stride];
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is true only when the CPU supports AVX2.
            unsafe { dots_i8_avx2(block, self.stride, q8, out) };
            return;
        }
        let _ = q8;
        for (o, row) in out.iter_mut().zip(block.chunks_exact(self.stride)) {
            *o = row
                .iter()
                .zip(q)
                .map(|(&a, &b)| i32::from(a) * i32::from(b))
                .sum();
        }
    }

    /// The same `k` items, scores and order as `items.top_k(q, bias, k, exclude)`
    /// (`items` is the matrix this copy was made from, `q` its query).
    pub fn top_k(
        &self,
        items: &ItemMatrix,
        q: &[f32],
        bias: f32,
        k: usize,
        exclude: Option<&Bitset>,
    ) -> Vec<(usize, f32)> {
        if k == 0 || q.len() != items.stride || self.rows != items.rows {
            return Vec::new();
        }
        let y = &q[..self.dim];
        let y_max = y.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let y_l1: f32 = y.iter().map(|v| v.abs()).sum();
        let sq = if y_max > 0.0 && y_max.is_finite() {
            y_max / 127.0
        } else {
            1.0
        };
        let mut qc = vec![0i16; self.stride];
        for (c, &v) in qc.iter_mut().zip(y) {
            *c = (v / sq).round().clamp(-127.0, 127.0) as i16;
        }
        let q8: Vec<i8> = qc.iter().map(|&c| c as i8).collect();
        // |x.y - s sq (cx.cy)| <= s/2 (sq |cx|_1 + |y|_1), plus slack for the rounding
        // of the f32 arithmetic on both sides.
        let mut lower = Best::new(k);
        let mut floor = f32::NEG_INFINITY;
        // Rows whose upper bound reached the k-th best lower bound when they were
        // scanned; the bound only rises, so no other row can enter the top k.
        let mut candidates: Vec<(usize, f32)> = Vec::with_capacity(4 * k + 64);
        const BLOCK: usize = 512;
        let mut dots = [0i32; BLOCK];
        let mut ups = [0f32; BLOCK];
        // Each row's bound, with the same arithmetic in both passes.
        let bound = |d: i32, s: f32, l1: f32, b: f32| {
            let approx = s * sq * d as f32 + b;
            let slack = 1e-4 * (127.0 * s * y_l1 + b.abs()) + 1e-6;
            let err = 0.5 * s * (sq * l1 + y_l1) + slack;
            (approx, err)
        };
        let mut start = 0;
        while start < self.rows {
            let n = (self.rows - start).min(BLOCK);
            self.dot_codes(start, &qc, &q8, &mut dots[..n]);
            // Upper bounds of the whole block first (a loop the compiler vectorises),
            // then one comparison per row; few rows pass it.
            for ((((u, &d), &s), &l1), &b) in ups[..n]
                .iter_mut()
                .zip(&dots[..n])
                .zip(&self.scale[start..start + n])
                .zip(&self.l1[start..start + n])
                .zip(&self.bias[start..start + n])
            {
                let (approx, err) = bound(d, s, l1, b);
                *u = approx + err;
            }
            for (j, &up) in ups[..n].iter().enumerate() {
                if up < floor {
                    continue;
                }
                let r = start + j;
                let (approx, err) = bound(dots[j], self.scale[r], self.l1[r], self.bias[r]);
                if exclude.is_some_and(|e| e.contains(r)) {
                    continue;
                }
                if !(approx.is_finite() && err.is_finite()) {
                    candidates.push((r, f32::INFINITY));
                    continue;
                }
                candidates.push((r, up));
                if approx - err > floor {
                    lower.offer(approx - err, r);
                    if let Some(t) = lower.threshold() {
                        floor = t;
                    }
                }
            }
            start += n;
        }
        let mut best = Best::new(k);
        for &(r, up) in &candidates {
            if up >= floor {
                let score = items.score_one(q, r);
                if score.is_finite() {
                    best.offer(score, r);
                }
            }
        }
        best.into_sorted()
            .into_iter()
            .map(|c| (c.index, c.score + bias))
            .collect()
    }
}

/// Dot products of consecutive int8 rows (`stride` codes each, a multiple of 32) with
/// int8 query codes (each within -127..=127): four rows at a time, reduced together.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dots_i8_avx2(block: &[i8], stride: usize, q: &[i8], out: &mut [i32]) {
    use std::arch::x86_64::*;
    let n = stride.min(q.len()) / 32 * 32;
    // SAFETY (both helpers): callers pass `k + 32 <= n`, within the row and the query;
    // unaligned loads.
    // |code| (unsigned) times the query code with the code's sign: pairs summed to i16
    // (at most 2 x 127 x 127, no saturation), then to i32.
    #[inline(always)]
    unsafe fn step(row: *const i8, q: *const i8, k: usize, acc: __m256i) -> __m256i {
        unsafe {
            let codes = _mm256_loadu_si256(row.add(k) as *const __m256i);
            let qv = _mm256_loadu_si256(q.add(k) as *const __m256i);
            let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(codes), _mm256_sign_epi8(qv, codes));
            _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
        }
    }
    let rows = out.len().min(block.len() / stride.max(1));
    let mut r = 0;
    while r + 4 <= rows {
        let mut acc = [_mm256_setzero_si256(); 4];
        let mut k = 0;
        while k < n {
            for (j, a) in acc.iter_mut().enumerate() {
                // SAFETY: row r + j < rows; k + 32 <= n.
                *a = unsafe { step(block.as_ptr().add((r + j) * stride), q.as_ptr(), k, *a) };
            }
            k += 32;
        }
        let h = _mm256_hadd_epi32(
            _mm256_hadd_epi32(acc[0], acc[1]),
            _mm256_hadd_epi32(acc[2], acc[3]),
        );
        let sums = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        // SAFETY: r + 4 <= rows <= out.len(); unaligned store of four i32s.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(r) as *mut __m128i, sums) };
        r += 4;
    }
    while r < rows {
        let mut acc = _mm256_setzero_si256();
        let mut k = 0;
        while k < n {
            // SAFETY: row r < rows; k + 32 <= n.
            acc = unsafe { step(block.as_ptr().add(r * stride), q.as_ptr(), k, acc) };
            k += 32;
        }
        let sum128 = _mm_add_epi32(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256(acc, 1),
        );
        let sum64 = _mm_add_epi32(sum128, _mm_unpackhi_epi64(sum128, sum128));
        let sum32 = _mm_add_epi32(sum64, _mm_shuffle_epi32(sum64, 1));
        out[r] = _mm_cvtsi128_si32(sum32);
        r += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    /// A small deterministic generator (xorshift) for test data.
    fn values(n: usize, seed: u64, levels: u64) -> Vec<f32> {
        let mut s = seed.max(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                // Few levels make ties common.
                (s % levels) as f32 / levels as f32 - 0.5
            })
            .collect()
    }

    /// The reference: every score, sorted by score descending then index ascending.
    fn reference(scores: &[f32], k: usize, exclude: &Bitset) -> Vec<(usize, f32)> {
        let mut all: Vec<(usize, f32)> = scores
            .iter()
            .copied()
            .enumerate()
            .filter(|(i, s)| s.is_finite() && !exclude.contains(*i))
            .collect();
        all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        all.truncate(k);
        all
    }

    #[test]
    fn top_k_equals_a_full_stable_sort_with_ties_to_the_lower_index() {
        for (rows, dim, levels) in [(1, 3, 5), (7, 5, 3), (1000, 16, 4), (4099, 64, 1000)] {
            let m =
                Array2::from_shape_vec((rows, dim), values(rows * dim, 7, levels)).expect("shape");
            let b = Array1::from(values(rows, 11, levels));
            let items = ItemMatrix::new(m.view(), b.view()).expect("matrix");
            for seed in 1..20u64 {
                let v = values(dim, seed, levels);
                let q = items.query(&v).expect("query");
                let scores = items.scores(&q, 0.25);
                let mut exclude = Bitset::new(rows);
                for i in values(8, seed + 100, 1 << 20) {
                    exclude.insert(((i + 0.5) * rows as f32) as usize);
                }
                for k in [1, 3, 10, 100, rows + 5] {
                    assert_eq!(
                        items.top_k(&q, 0.25, k, Some(&exclude)),
                        reference(&scores, k, &exclude),
                        "rows {rows} dim {dim} k {k} seed {seed}"
                    );
                }
                assert_eq!(
                    items.top_k(&q, 0.25, 10, None),
                    reference(&scores, 10, &Bitset::new(rows))
                );
            }
        }
    }

    #[test]
    fn scores_are_dot_plus_biases() {
        let m = Array2::from_shape_vec((2, 3), vec![1.0, 2.0, 3.0, -1.0, 0.0, 0.5]).expect("m");
        let b = Array1::from(vec![0.5, -0.5]);
        let items = ItemMatrix::new(m.view(), b.view()).expect("matrix");
        let q = items.query(&[1.0, 1.0, 2.0]).expect("query");
        assert_eq!(items.scores(&q, 1.0), vec![10.5, 0.5]);
        assert_eq!(items.top_k(&q, 1.0, 1, None), vec![(0, 10.5)]);
        assert!(items.query(&[1.0]).is_err());
        assert!(ItemMatrix::new(m.view(), Array1::from(vec![0.0]).view()).is_err());
        assert_eq!(items.top_k(&q, 0.0, 0, None), vec![]);
    }

    /// The int8 scan with exact re-ranking returns exactly what the f32 scan returns,
    /// over 1,000 random queries, with and without exclusions.
    #[test]
    fn quantized_scan_equals_the_exact_scan() {
        let (rows, dim) = (3001, 64);
        let m = Array2::from_shape_vec((rows, dim), values(rows * dim, 5, 1 << 20)).expect("m");
        let b = Array1::from(values(rows, 9, 1 << 20));
        let items = ItemMatrix::new(m.view(), b.view()).expect("matrix");
        let quantized = QuantizedItems::new(&items);
        assert!(quantized.bytes() * 3 < items.bytes());
        let mut differences = 0;
        for seed in 1..=1000u64 {
            let v = values(dim, seed * 7919, 1 << 20);
            let q = items.query(&v).expect("query");
            let mut exclude = Bitset::new(rows);
            if seed % 2 == 0 {
                for i in values(20, seed, 1 << 20) {
                    exclude.insert(((i + 0.5) * rows as f32) as usize);
                }
            }
            let k = [1, 10, 100][seed as usize % 3];
            let exact = items.top_k(&q, 0.5, k, Some(&exclude));
            let fast = quantized.top_k(&items, &q, 0.5, k, Some(&exclude));
            if exact != fast {
                differences += 1;
            }
        }
        assert_eq!(differences, 0);
        // Ties (few distinct values) too.
        let m = Array2::from_shape_vec((500, 8), values(4000, 3, 3)).expect("m");
        let b = Array1::from(values(500, 4, 3));
        let items = ItemMatrix::new(m.view(), b.view()).expect("matrix");
        let quantized = QuantizedItems::new(&items);
        for seed in 1..50u64 {
            let q = items.query(&values(8, seed, 3)).expect("query");
            assert_eq!(
                quantized.top_k(&items, &q, 0.0, 10, None),
                items.top_k(&q, 0.0, 10, None)
            );
        }
    }

    #[test]
    fn bitsets_hold_what_was_inserted() {
        let mut b = Bitset::new(130);
        assert!(b.is_empty());
        for i in [0, 63, 64, 129, 500] {
            b.insert(i);
        }
        assert!(b.contains(0) && b.contains(63) && b.contains(64) && b.contains(129));
        assert!(!b.contains(1) && !b.contains(128) && !b.contains(500));
        assert_eq!(b.len(), 130);
    }

    #[test]
    fn full_sets_remove_and_union() {
        let mut full = Bitset::full(130);
        assert!((0..130).all(|i| full.contains(i)) && !full.contains(130));
        full.remove(64);
        assert!(!full.contains(64));
        let mut a = Bitset::new(130);
        a.insert(3);
        let mut b = Bitset::new(200);
        b.insert(129);
        b.insert(150);
        a.union_with(&b);
        let members: Vec<usize> = (0..200).filter(|&i| a.contains(i)).collect();
        assert_eq!(members, [3, 129]);
    }
}
