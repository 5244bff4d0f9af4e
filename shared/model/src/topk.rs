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
            *out = unsafe { crate::hogwild::dots4_avx2(q, rows) };
            return n;
        }
        for (j, o) in out.iter_mut().enumerate().take(n) {
            *o = crate::hogwild::dot(q, self.row(r + j));
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
fn scan_score(avx2: bool, in_group: bool, q: &[f32], row: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx2 && in_group {
        // SAFETY: `avx2` is true only when the CPU supports AVX2 and FMA.
        return unsafe { crate::hogwild::dots4_avx2(q, [row, row, row, row]) }[0];
    }
    let _ = in_group;
    crate::hogwild::dot(q, row)
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

/// The layout's row length for `dim` components: vector, bias, zero padding to a
/// multiple of 8.
fn stride_for(dim: usize) -> usize {
    (dim + 1).div_ceil(8) * 8
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

/// The catalogue's vectors rounded to half precision (IEEE binary16, relative error at
/// most 2^-11), biases in f32: half the bytes of [`ItemMatrix`], for catalogues too
/// large to keep both the f32 matrix and its int8 copy. Scores are computed in f32
/// from the rounded values, exactly as [`HalfMatrix::to_f32`]'s matrix scores them.
#[derive(Debug, Clone)]
pub struct HalfMatrix {
    rows: usize,
    dim: usize,
    data: Vec<half::f16>,
    biases: Vec<f32>,
    avx2: bool,
}

impl HalfMatrix {
    /// Rounds `vectors` (items x dim) to the nearest half-precision values.
    pub fn new(vectors: ArrayView2<f32>, biases: ArrayView1<f32>) -> Result<Self, ModelError> {
        let (rows, dim) = vectors.dim();
        if biases.len() != rows {
            return Err(ModelError::Shape(format!(
                "{} biases for {rows} item vectors",
                biases.len()
            )));
        }
        let mut data = vec![half::f16::ZERO; rows * dim];
        match vectors.as_slice() {
            Some(all) => {
                use half::slice::HalfFloatSliceExt;
                data.convert_from_f32_slice(all);
            }
            None => {
                for (o, &x) in data.iter_mut().zip(vectors.iter()) {
                    *o = half::f16::from_f32(x);
                }
            }
        }
        Ok(HalfMatrix {
            rows,
            dim,
            data,
            biases: biases.to_vec(),
            avx2: crate::hogwild::avx2_fma(),
        })
    }

    /// Bytes the matrix holds.
    pub fn bytes(&self) -> usize {
        self.data.len() * 2 + self.biases.len() * 4
    }

    /// Item `r`'s rounded vector in f32. Panics if `r` is out of range.
    pub fn vector(&self, r: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; self.dim];
        self.vector_into(r, &mut out);
        out
    }

    fn vector_into(&self, r: usize, out: &mut [f32]) {
        use half::slice::HalfFloatSliceExt;
        self.data[r * self.dim..(r + 1) * self.dim].convert_to_f32_slice(&mut out[..self.dim]);
    }

    /// Item `r`'s bias. Panics if `r` is out of range.
    pub fn bias(&self, r: usize) -> f32 {
        self.biases[r]
    }

    /// The f32 matrix of the same (rounded) values.
    pub fn to_f32(&self) -> ItemMatrix {
        let stride = stride_for(self.dim);
        let mut data = vec![0.0f32; self.rows * stride];
        for (r, out) in data.chunks_mut(stride).enumerate() {
            self.row_into(r, out);
        }
        ItemMatrix {
            rows: self.rows,
            dim: self.dim,
            stride,
            data,
            avx2: self.avx2,
        }
    }

    /// Every item's score for a query from [`ItemMatrix::query`], plus `bias`.
    pub fn scores(&self, q: &[f32], bias: f32) -> Vec<f32> {
        let mut scratch = Vec::new();
        (0..self.rows)
            .map(|r| self.score(q, r, &mut scratch) + bias)
            .collect()
    }
}

impl ExactRows for HalfMatrix {
    fn len(&self) -> usize {
        self.rows
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn row_into(&self, r: usize, out: &mut [f32]) {
        let stride = stride_for(self.dim);
        self.vector_into(r, out);
        out[self.dim] = self.biases[r];
        out[self.dim + 1..stride].fill(0.0);
    }
    fn score(&self, q: &[f32], r: usize, scratch: &mut Vec<f32>) -> f32 {
        scratch.resize(stride_for(self.dim), 0.0);
        self.row_into(r, scratch);
        scan_score(self.avx2, r < self.rows / 4 * 4, q, scratch)
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
/// keeps its scale and the norms of its codes and of its rounding error, so every
/// approximate score comes with a bound on its error. Items whose upper bound can still
/// reach the k-th best lower bound are re-scored exactly in f32, so the result is
/// exactly the f32 scan's.
#[derive(Debug, Clone)]
pub struct QuantizedItems {
    rows: usize,
    dim: usize,
    stride: usize,
    codes: Vec<i8>,
    rows_info: RowBounds,
    kernel: I8Kernel,
}

/// What the error bound needs of each row `x = scale * codes + residual`, one array
/// per quantity so the bound pass vectorises.
#[derive(Debug, Clone, Default)]
struct RowBounds {
    scale: Vec<f32>,
    bias: Vec<f32>,
    /// `scale` times the L2 norm of the codes, and the L2 norm of the residual (both
    /// rounded up).
    codes_l2: Vec<f32>,
    residual_l2: Vec<f32>,
}

/// The integer dot-product code path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum I8Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    AvxVnni,
}

impl I8Kernel {
    fn detect(avx2: bool) -> Self {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            if std::is_x86_feature_detected!("avxvnni") {
                return I8Kernel::AvxVnni;
            }
            return I8Kernel::Avx2;
        }
        let _ = avx2;
        I8Kernel::Portable
    }
}

/// The query's codes and the norms its bound needs.
struct QueryCodes {
    scale: f32,
    codes: Vec<i16>,
    /// Codes as the AVX2 kernel takes them.
    signed: Vec<i8>,
    /// Sum of the codes.
    sum: i32,
    l2: f32,
    /// L2 norm of the query's rounding error.
    residual_l2: f32,
    /// Largest absolute value of the query.
    max: f32,
}

impl QueryCodes {
    fn new(y: &[f32], stride: usize) -> Self {
        let y_max = y.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let scale = if y_max > 0.0 && y_max.is_finite() {
            y_max / 127.0
        } else {
            1.0
        };
        let mut codes = vec![0i16; stride];
        let (mut residual_sq, mut sq) = (0.0f64, 0.0f64);
        for (c, &v) in codes.iter_mut().zip(y) {
            *c = (v / scale).round().clamp(-127.0, 127.0) as i16;
            let e = f64::from(v) - f64::from(scale) * f64::from(*c);
            residual_sq += e * e;
            sq += f64::from(v) * f64::from(v);
        }
        QueryCodes {
            scale,
            signed: codes.iter().map(|&c| c as i8).collect(),
            sum: codes.iter().map(|&c| i32::from(c)).sum(),
            codes,
            l2: round_up(sq.sqrt()),
            residual_l2: round_up(residual_sq.sqrt()),
            max: y_max,
        }
    }
}

/// `x` as an f32 no smaller than `x`, with a margin for the rounding of what made it.
fn round_up(x: f64) -> f32 {
    (x * (1.0 + 1e-6)) as f32
}

impl QuantizedItems {
    /// Quantises `items`' vectors row by row (symmetric, 127 levels).
    pub fn new(items: &impl ExactRows) -> Self {
        let dim = items.dim();
        let rows = items.len();
        let stride = dim.div_ceil(32) * 32;
        let mut codes = vec![0i8; rows * stride];
        let mut info = RowBounds::default();
        let mut buffer = vec![0.0f32; stride_for(dim)];
        for r in 0..rows {
            items.row_into(r, &mut buffer);
            let (row, bias) = (&buffer[..dim], buffer[dim]);
            let max = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
            let s = if max > 0.0 && max.is_finite() {
                max / 127.0
            } else {
                1.0
            };
            let out = &mut codes[r * stride..r * stride + dim];
            let (mut l2, mut residual) = (0.0f64, 0.0f64);
            for (o, &x) in out.iter_mut().zip(row) {
                let c = (x / s).round().clamp(-127.0, 127.0);
                *o = c as i8;
                let c = f64::from(c);
                l2 += c * c;
                let e = f64::from(x) - f64::from(s) * c;
                residual += e * e;
            }
            info.scale.push(s);
            info.bias.push(bias);
            info.codes_l2.push(round_up(f64::from(s) * l2.sqrt()));
            info.residual_l2.push(round_up(residual.sqrt()));
        }
        QuantizedItems {
            rows,
            dim,
            stride,
            codes,
            rows_info: info,
            kernel: I8Kernel::detect(crate::hogwild::avx2_fma()),
        }
    }

    /// Bytes the copy holds.
    pub fn bytes(&self) -> usize {
        self.codes.len() + 16 * self.rows
    }

    /// The integer dot-product code path this copy scans with.
    pub fn kernel(&self) -> &'static str {
        match self.kernel {
            I8Kernel::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            I8Kernel::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            I8Kernel::AvxVnni => "avx-vnni",
        }
    }

    /// Integer dot products of rows `start..start + out.len()` with the query codes.
    fn dot_codes(&self, start: usize, q: &QueryCodes, out: &mut [i32]) {
        let block = &self.codes[start * self.stride..(start + out.len()) * self.stride];
        match self.kernel {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `Avx2` is chosen only when the CPU supports AVX2.
            I8Kernel::Avx2 => unsafe { dots_i8_avx2(block, self.stride, &q.signed, out) },
            #[cfg(target_arch = "x86_64")]
            I8Kernel::AvxVnni => {
                // SAFETY: `AvxVnni` is chosen only when the CPU supports AVX2 and AVX-VNNI.
                unsafe { dots_i8_vnni(block, self.stride, &q.signed, out) };
            }
            I8Kernel::Portable => {
                for (o, row) in out.iter_mut().zip(block.chunks_exact(self.stride)) {
                    *o = row
                        .iter()
                        .zip(&q.codes)
                        .map(|(&a, &b)| i32::from(a) * i32::from(b))
                        .sum();
                }
            }
        }
    }

    /// Whether the kernel takes the row codes plus 128 (its dot products exceed the
    /// codes' by 128 times the query codes' sum).
    fn offsets_rows(&self) -> bool {
        #[cfg(target_arch = "x86_64")]
        if self.kernel == I8Kernel::AvxVnni {
            return true;
        }
        false
    }

    /// Rows `start..start + dots.len()`' upper and lower bounds, and whether each upper
    /// bound is not below `floor` (1) or is (0).
    fn block_bounds(
        &self,
        start: usize,
        dots: &[i32],
        query: &QueryBound,
        floor: f32,
        out: (&mut [f32], &mut [f32], &mut [u8]),
    ) {
        #[cfg(target_arch = "x86_64")]
        if self.kernel != I8Kernel::Portable {
            // SAFETY: the x86 kernels are chosen only when the CPU supports AVX2.
            unsafe { bounds_avx2(&self.rows_info, start, dots, query, floor, out) };
            return;
        }
        bounds(&self.rows_info, start, dots, query, floor, out);
    }

    /// The same `k` items, scores and order as the f32 scan of `items` (the rows this
    /// copy was made from; `q` a query from [`ItemMatrix::query`]).
    pub fn top_k(
        &self,
        items: &impl ExactRows,
        q: &[f32],
        bias: f32,
        k: usize,
        exclude: Option<&Bitset>,
    ) -> Vec<(usize, f32)> {
        if k == 0 || q.len() != stride_for(self.dim) || self.rows != items.len() {
            return Vec::new();
        }
        let qc = QueryCodes::new(&q[..self.dim], self.stride);
        let sq = qc.scale;
        // x.y - s sq (cx.cy) = s cx.ey + ex.y, each term bounded by the smaller of its
        // Hoelder (L1 x max) and Cauchy-Schwarz (L2 x L2) bounds, plus slack for the
        // rounding of the f32 arithmetic on both sides.
        let query = QueryBound {
            scale: sq,
            l2: qc.l2,
            residual_l2: qc.residual_l2,
            magnitude: 127.0 * self.dim as f32 * qc.max,
            offset: if self.offsets_rows() { 128 * qc.sum } else { 0 },
        };
        let mut lower = Floor::new(k);
        let mut floor = f32::NEG_INFINITY;
        // Rows whose upper bound reached the k-th best lower bound when they were
        // scanned; the bound only rises, so no other row can enter the top k.
        let mut candidates: Vec<(usize, f32)> = Vec::with_capacity(4 * k + 64);
        const BLOCK: usize = 512;
        let mut dots = [0i32; BLOCK];
        let mut ups = [0f32; BLOCK];
        let mut lows = [0f32; BLOCK];
        let mut pass = [0u8; BLOCK];
        let mut start = 0;
        while start < self.rows {
            let n = (self.rows - start).min(BLOCK);
            self.dot_codes(start, &qc, &mut dots[..n]);
            // The whole block's bounds in one vectorised pass, then only the rows whose
            // upper bound reached the floor (eight at a time: most blocks have none).
            self.block_bounds(
                start,
                &dots[..n],
                &query,
                floor,
                (&mut ups[..n], &mut lows[..n], &mut pass[..n]),
            );
            for (c, chunk) in pass[..n].chunks(8).enumerate() {
                if chunk.iter().all(|&p| p == 0) {
                    continue;
                }
                for (i, _) in chunk.iter().enumerate().filter(|(_, &p)| p != 0) {
                    let j = c * 8 + i;
                    let (up, low) = (ups[j], lows[j]);
                    if up < floor {
                        continue;
                    }
                    let r = start + j;
                    if exclude.is_some_and(|e| e.contains(r)) {
                        continue;
                    }
                    if !(up.is_finite() && low.is_finite()) {
                        candidates.push((r, f32::INFINITY));
                        continue;
                    }
                    candidates.push((r, up));
                    if low > floor {
                        if let Some(t) = lower.offer(low) {
                            floor = t;
                        }
                    }
                }
            }
            start += n;
        }
        // Exact scores, highest upper bound first, until no bound left can reach the
        // k-th exact score (an equal one could still win on its lower index).
        candidates.retain(|&(_, up)| up >= floor);
        candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut best = Best::new(k);
        let mut scratch = Vec::new();
        for &(r, up) in &candidates {
            if best.threshold().is_some_and(|t| up < t) {
                break;
            }
            let score = items.score(q, r, &mut scratch);
            if score.is_finite() {
                best.offer(score, r);
            }
        }
        best.into_sorted()
            .into_iter()
            .map(|c| (c.index, c.score + bias))
            .collect()
    }
}

/// A lower bound on the k-th best score from the lower bounds offered: the k-th best
/// of them, computed once k have been offered and again each time k more have (a
/// selection over 2k values instead of a heap operation per value).
struct Floor {
    k: usize,
    kept: Vec<f32>,
    /// How many kept values trigger the next selection.
    next: usize,
}

impl Floor {
    fn new(k: usize) -> Self {
        Floor {
            k,
            kept: Vec::with_capacity(2 * k),
            next: k,
        }
    }

    /// Offers a finite lower bound; returns the new floor when it was recomputed.
    fn offer(&mut self, low: f32) -> Option<f32> {
        self.kept.push(low);
        if self.kept.len() < self.next {
            return None;
        }
        self.next = 2 * self.k;
        let (_, kth, _) = self
            .kept
            .select_nth_unstable_by(self.k - 1, |a, b| b.total_cmp(a));
        let kth = *kth;
        self.kept.truncate(self.k);
        Some(kth)
    }
}

/// The query's side of the error bound.
struct QueryBound {
    scale: f32,
    l2: f32,
    residual_l2: f32,
    /// Above any |x.y| (127 scale x dim x the largest |y|), for the rounding slack.
    magnitude: f32,
    /// What the kernel's dot products exceed the codes' by.
    offset: i32,
}

/// Each row's approximate score `s sq (cx.cy) + b` and its error bound: `x.y - s sq
/// (cx.cy) = s cx.ey + ex.y`, each term bounded by Cauchy-Schwarz (`|s cx| |ey| + |ex|
/// |y|`), plus slack for the rounding of the f32 arithmetic on both sides. Written so
/// that it vectorises, the same arithmetic on every code path.
#[inline(always)]
fn bounds(
    info: &RowBounds,
    start: usize,
    dots: &[i32],
    q: &QueryBound,
    floor: f32,
    (ups, lows, pass): (&mut [f32], &mut [f32], &mut [u8]),
) {
    let n = dots.len();
    let rows = start..start + n;
    let (scale, bias) = (&info.scale[rows.clone()], &info.bias[rows.clone()]);
    let (codes_l2, residual_l2) = (&info.codes_l2[rows.clone()], &info.residual_l2[rows]);
    let (ups, lows, pass) = (&mut ups[..n], &mut lows[..n], &mut pass[..n]);
    for j in 0..n {
        let s = scale[j];
        let b = bias[j];
        let d = dots[j] - q.offset;
        let approx = s * q.scale * d as f32 + b;
        let slack = 1e-4 * (q.magnitude * s + b.abs()) + 1e-6;
        let err = codes_l2[j] * q.residual_l2 + residual_l2[j] * q.l2 + slack;
        let up = approx + err;
        ups[j] = up;
        lows[j] = approx - err;
        // A NaN bound passes too: the row is then scored exactly.
        pass[j] = u8::from(up >= floor || up.is_nan());
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn bounds_avx2(
    info: &RowBounds,
    start: usize,
    dots: &[i32],
    q: &QueryBound,
    floor: f32,
    out: (&mut [f32], &mut [f32], &mut [u8]),
) {
    bounds(info, start, dots, q, floor, out);
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

/// Dot products of consecutive int8 rows (`stride` codes each, a multiple of 32) plus
/// 128 with int8 query codes: four rows at a time, products summed in i32 by `vpdpbusd`
/// (unsigned times signed, no intermediate saturation). Each result exceeds the codes'
/// dot product by 128 times the sum of the query codes, which the caller subtracts.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avxvnni")]
fn dots_i8_vnni(block: &[i8], stride: usize, q: &[i8], out: &mut [i32]) {
    use std::arch::x86_64::*;
    let n = stride.min(q.len()) / 32 * 32;
    let rows = out.len().min(block.len() / stride.max(1));
    let flip = _mm256_set1_epi8(i8::MIN);
    let mut r = 0;
    while r + 4 <= rows {
        let mut acc = [_mm256_setzero_si256(); 4];
        let mut k = 0;
        while k < n {
            // SAFETY: k + 32 <= n <= q.len(); unaligned load.
            let qv = unsafe { _mm256_loadu_si256(q.as_ptr().add(k) as *const __m256i) };
            for (j, a) in acc.iter_mut().enumerate() {
                // SAFETY: row r + j < rows and k + 32 <= n <= stride; unaligned load.
                let codes = unsafe {
                    _mm256_loadu_si256(block.as_ptr().add((r + j) * stride + k) as *const __m256i)
                };
                // code + 128 as an unsigned byte.
                let unsigned = _mm256_xor_si256(codes, flip);
                *a = _mm256_dpbusd_avx_epi32(*a, unsigned, qv);
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
        let mut sum = 0i32;
        for (&c, &qv) in block[r * stride..r * stride + n].iter().zip(&q[..n]) {
            sum += (i32::from(c) + 128) * i32::from(qv);
        }
        out[r] = sum;
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

    /// Rows far from unit scale (tiny, huge, all zero) and biases far from the
    /// scores' range still give exactly the f32 scan's answer.
    #[test]
    fn extreme_rows_still_rank_exactly() {
        let (rows, dim) = (1500, 32);
        let mut m =
            Array2::from_shape_vec((rows, dim), values(rows * dim, 21, 1 << 20)).expect("m");
        let mut b = Array1::from(values(rows, 23, 1 << 20));
        for r in 0..rows {
            let (row_factor, bias) = match r % 6 {
                0 => (1e-7, b[r] * 1e-7),
                1 => (3e3, b[r] * 1e5),
                2 => (1e-3, b[r] * 3e-6),
                3 => (0.0, b[r]),
                4 => (1.0, 70_000.0 * b[r].signum()),
                _ => (1.0, b[r]),
            };
            m.row_mut(r).mapv_inplace(|x| x * row_factor);
            b[r] = bias;
        }
        let items = ItemMatrix::new(m.view(), b.view()).expect("matrix");
        let quantized = QuantizedItems::new(&items);
        for seed in 1..=200u64 {
            let q = items
                .query(&values(dim, seed * 13, 1 << 20))
                .expect("query");
            let k = [1, 10, 100][seed as usize % 3];
            assert_eq!(
                quantized.top_k(&items, &q, 0.5, k, None),
                items.top_k(&q, 0.5, k, None),
                "seed {seed}"
            );
        }
    }

    /// With half-precision rows for the re-rank, the answer is exactly the f32 scan's
    /// over the same (rounded) values, and every rounded value is within 2^-11.
    #[test]
    fn half_precision_rows_rank_exactly_as_their_f32_matrix() {
        let (rows, dim) = (2003, 48);
        let m = Array2::from_shape_vec((rows, dim), values(rows * dim, 15, 1 << 20)).expect("m");
        let b = Array1::from(values(rows, 19, 1 << 20));
        let half = HalfMatrix::new(m.view(), b.view()).expect("half");
        let items = half.to_f32();
        assert!(half.bytes() * 2 <= items.bytes());
        for r in [0, 1, 1000, rows - 1] {
            for (&x, &h) in m.row(r).iter().zip(&half.vector(r)) {
                assert!(
                    (x - h).abs() <= x.abs() * 2f32.powi(-11) + 1e-7,
                    "{x} vs {h}"
                );
            }
            assert_eq!(half.bias(r), b[r]);
        }
        let quantized = QuantizedItems::new(&half);
        let mut differences = 0;
        for seed in 1..=1000u64 {
            let q = items
                .query(&values(dim, seed * 31, 1 << 20))
                .expect("query");
            if seed % 100 == 0 {
                assert_eq!(half.scores(&q, 0.5), items.scores(&q, 0.5));
            }
            let k = [1, 10, 100][seed as usize % 3];
            if quantized.top_k(&half, &q, 0.5, k, None) != items.top_k(&q, 0.5, k, None) {
                differences += 1;
            }
        }
        assert_eq!(differences, 0);
    }

    /// Every integer kernel the CPU offers computes the same dot products as the
    /// portable loop.
    #[test]
    fn integer_kernels_agree() {
        let (rows, dim) = (1030, 72);
        let m = Array2::from_shape_vec((rows, dim), values(rows * dim, 21, 1 << 20)).expect("m");
        let b = Array1::from(values(rows, 23, 1 << 20));
        let items = ItemMatrix::new(m.view(), b.view()).expect("matrix");
        let mut quantized = QuantizedItems::new(&items);
        let mut kernels = vec![I8Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        if crate::hogwild::avx2_fma() {
            kernels.push(I8Kernel::Avx2);
            if std::is_x86_feature_detected!("avxvnni") {
                kernels.push(I8Kernel::AvxVnni);
            }
        }
        for seed in 1..20u64 {
            let v = values(dim, seed, 1 << 20);
            let q = items.query(&v).expect("query");
            let codes = QueryCodes::new(&v, quantized.stride);
            let mut expected = None;
            for &kernel in &kernels {
                quantized.kernel = kernel;
                let mut dots = vec![0i32; rows];
                quantized.dot_codes(0, &codes, &mut dots);
                let offset = if quantized.offsets_rows() {
                    128 * codes.sum
                } else {
                    0
                };
                let dots: Vec<i32> = dots.iter().map(|d| d - offset).collect();
                let top = quantized.top_k(&items, &q, 0.0, 10, None);
                match &expected {
                    None => expected = Some((dots, top)),
                    Some(e) => assert_eq!(*e, (dots, top), "{kernel:?}"),
                }
            }
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
