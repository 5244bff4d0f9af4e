//! The int8 copy scanned first, with a bound on each score's error, and the exact
//! re-rank of the rows whose bound can still reach the top k.

use super::i8::I8Kernel;
#[cfg(target_arch = "x86_64")]
use super::i8::{dots_i8_avx2, dots_i8_vnni};
use super::{stride_for, Best, Bitset, ExactRows};

/// An int8 copy of an [`ItemMatrix`] scanned first, a quarter of the bytes: each row
/// keeps its scale and the norms of its codes and of its rounding error, so every
/// approximate score comes with a bound on its error. Items whose upper bound can still
/// reach the k-th best lower bound are re-scored exactly in f32, so the result is
/// exactly the f32 scan's.
#[derive(Debug, Clone)]
pub struct QuantizedItems {
    rows: usize,
    dim: usize,
    pub(super) stride: usize,
    codes: Vec<i8>,
    rows_info: RowBounds,
    pub(super) kernel: I8Kernel,
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

/// The query's codes and the norms its bound needs.
pub(super) struct QueryCodes {
    pub(super) scale: f32,
    pub(super) codes: Vec<i16>,
    /// Codes as the AVX2 kernel takes them.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub(super) signed: Vec<i8>,
    /// Sum of the codes.
    pub(super) sum: i32,
    pub(super) l2: f32,
    /// L2 norm of the query's rounding error.
    pub(super) residual_l2: f32,
    /// Largest absolute value of the query.
    pub(super) max: f32,
}

impl QueryCodes {
    pub(super) fn new(y: &[f32], stride: usize) -> Self {
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
            kernel: I8Kernel::detect(crate::simd::avx2_fma()),
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
    pub(super) fn dot_codes(&self, start: usize, q: &QueryCodes, out: &mut [i32]) {
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
    pub(super) fn offsets_rows(&self) -> bool {
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
