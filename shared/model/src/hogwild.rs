//! The training kernel: lock-free parallel SGD over shared parameters ("Hogwild").
//!
//! Soundness: threads read and write the same parameter cells concurrently, which
//! through `&mut f32` or raw pointers would be a data race and undefined behaviour in
//! Rust. Every shared cell is therefore accessed as an `AtomicU32` holding the f32's
//! bits, with `Relaxed` loads and stores. A read-modify-write of one cell is not
//! atomic as a whole, so two threads updating the same cell at once may lose one
//! step (exactly the tolerated race of Hogwild SGD), but every access is defined
//! behaviour. On x86-64 and AArch64 relaxed 32-bit loads and stores compile to plain
//! moves; the cost is that the compiler will not vectorise loops over them, so rows
//! are copied into thread-local buffers (two f32s per 64-bit cell where aligned),
//! computed on with vector instructions, and stored back: the atomics cost only the
//! scalar loads and stores of each touched row. Measured against a throwaway build
//! copying rows with plain (racy) vector moves: no difference at 10 components, and
//! about 12 % of the fit time at 64 components with two threads, where the extra
//! stores meet rows the other thread holds (docs/benchmarks.md).

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

use crate::csr::{Csr, Interactions};
use crate::params::{Loss, Params, Schedule};
use crate::rng::Rng;

const MAX_LOSS: f32 = 10.0;

/// A shared view of an `f32` buffer as atomic cells.
#[derive(Clone, Copy)]
pub(crate) struct Cells<'a>(&'a [AtomicU32]);

impl<'a> Cells<'a> {
    pub fn new(values: &'a mut [f32]) -> Self {
        let len = values.len();
        let ptr = values.as_mut_ptr().cast::<AtomicU32>();
        // SAFETY: `AtomicU32` has the same size as `u32`/`f32` and, like `f32`, an
        // alignment of 4, so the buffer is a valid `[AtomicU32]` of the same length.
        // The exclusive borrow of `values` lasts as long as the returned view, so no
        // non-atomic access to the buffer can happen while the view exists.
        Cells(unsafe { std::slice::from_raw_parts(ptr, len) })
    }

    #[inline(always)]
    pub fn get(&self, i: usize) -> f32 {
        f32::from_bits(self.0[i].load(Relaxed))
    }

    #[inline(always)]
    pub fn prefetch(&self, i: usize) {
        if let Some(c) = self.0.get(i) {
            prefetch(c, 4);
        }
    }

    #[inline(always)]
    pub fn set(&self, i: usize, v: f32) {
        self.0[i].store(v.to_bits(), Relaxed)
    }
}

/// A shared view of a row-major `f32` matrix for whole-row loads and stores. Where
/// the row length is even and the buffer 8-byte aligned (on little-endian targets
/// with 64-bit atomics), cells hold two `f32`s each, halving the number of memory
/// operations; otherwise one. Within a view every access uses the same cell width,
/// so no two atomic accesses of different sizes ever overlap.
#[derive(Clone, Copy)]
pub(crate) enum Rows<'a> {
    Narrow(&'a [AtomicU32]),
    #[cfg(all(target_endian = "little", target_has_atomic = "64"))]
    Wide(&'a [std::sync::atomic::AtomicU64]),
}

impl<'a> Rows<'a> {
    pub fn new(values: &'a mut [f32], row_len: usize) -> Self {
        #[cfg(all(target_endian = "little", target_has_atomic = "64"))]
        {
            use std::sync::atomic::AtomicU64;
            let ptr = values.as_mut_ptr();
            if row_len.is_multiple_of(2)
                && values.len().is_multiple_of(2)
                && (ptr as usize).is_multiple_of(std::mem::align_of::<AtomicU64>())
            {
                // SAFETY: the buffer is 8-byte aligned (checked) and holds an even
                // number of f32s, so it is a valid `[AtomicU64]` of half the length
                // (AtomicU64 has the size and, as checked, the alignment of two f32s,
                // and every bit pattern is valid). The exclusive borrow of `values`
                // lasts as long as the view, so nothing else accesses the buffer.
                let cells = unsafe {
                    std::slice::from_raw_parts(ptr.cast::<AtomicU64>(), values.len() / 2)
                };
                return Rows::Wide(cells);
            }
        }
        Rows::Narrow(Cells::new(values).0)
    }

    /// Copies `out.len()` values starting at element `start` (a row start).
    #[inline(always)]
    pub fn load(&self, start: usize, out: &mut [f32]) {
        match self {
            Rows::Narrow(cells) => load(&cells[start..start + out.len()], out),
            #[cfg(all(target_endian = "little", target_has_atomic = "64"))]
            Rows::Wide(cells) => {
                let n = out.len() / 2;
                let (cells, out) = (&cells[start / 2..start / 2 + n], &mut out[..2 * n]);
                for i in 0..n {
                    let v = cells[i].load(Relaxed);
                    out[2 * i] = f32::from_bits(v as u32);
                    out[2 * i + 1] = f32::from_bits((v >> 32) as u32);
                }
            }
        }
    }

    /// Prefetches `len` values starting at element `start`.
    #[inline(always)]
    pub fn prefetch(&self, start: usize, len: usize) {
        let (ptr, total) = match self {
            Rows::Narrow(cells) => (cells.as_ptr().cast::<f32>(), cells.len()),
            #[cfg(all(target_endian = "little", target_has_atomic = "64"))]
            Rows::Wide(cells) => (cells.as_ptr().cast::<f32>(), cells.len() * 2),
        };
        if start + len <= total {
            prefetch(ptr.wrapping_add(start), len * 4);
        }
    }

    /// Stores `values` starting at element `start` (a row start).
    #[inline(always)]
    pub fn store(&self, start: usize, values: &[f32]) {
        match self {
            Rows::Narrow(cells) => store(&cells[start..start + values.len()], values),
            #[cfg(all(target_endian = "little", target_has_atomic = "64"))]
            Rows::Wide(cells) => {
                let n = values.len() / 2;
                let (cells, values) = (&cells[start / 2..start / 2 + n], &values[..2 * n]);
                for i in 0..n {
                    let (lo, hi) = (values[2 * i].to_bits(), values[2 * i + 1].to_bits());
                    cells[i].store(u64::from(lo) | (u64::from(hi) << 32), Relaxed);
                }
            }
        }
    }
}

/// Hints the CPU to bring the cache lines of `len` bytes at `ptr` closer. A prefetch
/// is not a memory access (it cannot fault or race), only a hint; elsewhere than on
/// x86-64 it does nothing.
#[inline(always)]
fn prefetch<T>(ptr: *const T, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = ptr as usize & !63;
        let end = ptr as usize + len;
        let mut line = start;
        while line < end {
            // SAFETY: prefetching has no effect on memory or program state and is
            // defined for any address; SSE is part of the x86-64 baseline.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line as *const i8) };
            line += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (ptr, len);
}

/// "Is (user, item) a stored interaction?": a bit matrix when users x items is at
/// most 2^27 bits (16 MiB), otherwise a binary search in the user's sorted row.
pub(crate) struct Known<'a> {
    csr: &'a Csr,
    bits: Vec<u64>,
}

impl<'a> Known<'a> {
    pub fn new(csr: &'a Csr) -> Self {
        let cells = csr.n_rows().saturating_mul(csr.n_cols());
        let mut bits = Vec::new();
        if cells <= 1 << 27 {
            bits = vec![0u64; cells.div_ceil(64)];
            for r in 0..csr.n_rows() {
                for &c in csr.row(r).0 {
                    let i = r * csr.n_cols() + c as usize;
                    bits[i >> 6] |= 1 << (i & 63);
                }
            }
        }
        Known { csr, bits }
    }

    #[inline(always)]
    pub fn contains(&self, user: usize, item: usize) -> bool {
        if self.bits.is_empty() {
            self.csr.contains(user, item as u32)
        } else {
            let i = user * self.csr.n_cols() + item;
            self.bits[i >> 6] >> (i & 63) & 1 == 1
        }
    }
}

/// Eight `f32`s on a 32-byte boundary: one AVX vector.
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct Block([f32; 8]);

/// The item representations WARP screens sampled negatives against, as they stood
/// at the start of the epoch (see `Kernel::table`). Row `i` holds item `i`'s vector,
/// then its bias, then zeros up to `stride` (a multiple of 8), and starts on a
/// 32-byte boundary: a screening vector holding the user's vector, then 1, then
/// zeros, gives `dot + item bias` as one dot product of whole, aligned vectors.
#[derive(Default)]
pub(crate) struct Table {
    blocks: Vec<Block>,
    stride: usize,
}

impl Table {
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Sizes the table for `rows` rows of `d` components, all zero.
    pub fn reset(&mut self, rows: usize, d: usize) {
        self.stride = (d + 1).div_ceil(8) * 8;
        self.blocks.clear();
        self.blocks.resize(rows * self.stride / 8, Block::default());
    }

    /// The values, row-major, `stride` per row.
    pub fn values_mut(&mut self) -> &mut [f32] {
        let len = self.blocks.len() * 8;
        // SAFETY: `Block` is `repr(C)` around `[f32; 8]` (32 bytes, no padding), so
        // the vector's buffer is `len` initialised f32s, borrowed exclusively here.
        unsafe { std::slice::from_raw_parts_mut(self.blocks.as_mut_ptr().cast::<f32>(), len) }
    }

    fn values(&self) -> &[f32] {
        // SAFETY: as in `values_mut`, through a shared borrow.
        unsafe {
            std::slice::from_raw_parts(self.blocks.as_ptr().cast::<f32>(), self.blocks.len() * 8)
        }
    }

    /// `dot(screen, row)` for four rows at once. `screen` has `stride` values.
    #[inline(always)]
    fn dots4(&self, screen: &[f32], rows: [usize; 4], avx2: bool) -> [f32; 4] {
        let stride = self.stride;
        let values = self.values();
        let row = |r: usize| &values[r * stride..(r + 1) * stride];
        let rows = [row(rows[0]), row(rows[1]), row(rows[2]), row(rows[3])];
        let screen = &screen[..stride];
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: `avx2` is only true when the CPU was found to support AVX2 and FMA.
            return unsafe { dots4_avx2(screen, rows) };
        }
        let _ = avx2;
        rows.map(|r| dot(screen, r))
    }
}

/// Four dot products of `screen` with rows of the same length (a multiple of 8):
/// four independent accumulator chains, reduced together by horizontal adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn dots4_avx2(screen: &[f32], rows: [&[f32]; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let n = rows.iter().fold(screen.len(), |n, r| n.min(r.len())) / 8 * 8;
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut k = 0;
    while k < n {
        // SAFETY: k + 8 <= n, which is at most the length of `screen` and each row;
        // unaligned loads.
        unsafe {
            let u = _mm256_loadu_ps(screen.as_ptr().add(k));
            for (a, r) in acc.iter_mut().zip(&rows) {
                *a = _mm256_fmadd_ps(u, _mm256_loadu_ps(r.as_ptr().add(k)), *a);
            }
        }
        k += 8;
    }
    let h = _mm256_hadd_ps(
        _mm256_hadd_ps(acc[0], acc[1]),
        _mm256_hadd_ps(acc[2], acc[3]),
    );
    let sums = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    let mut out = [0.0f32; 4];
    // SAFETY: `out` holds four f32s; unaligned store.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), sums) };
    out
}

/// One training example as the kernel reads it. Each epoch shuffles a vector of
/// these, so the kernel reads its examples sequentially instead of gathering each
/// one's user, item, value and weight from four arrays at a random index (four cache
/// misses per example once the parameters fill the cache).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Example {
    pub user: u32,
    pub item: u32,
    pub value: f32,
    pub weight: f32,
}

impl Example {
    pub fn all(data: &Interactions) -> Vec<Example> {
        (0..data.len())
            .map(|i| Example {
                user: data.users[i],
                item: data.items[i],
                value: data.values[i],
                weight: data.weights.as_ref().map_or(1.0, |w| w[i]),
            })
            .collect()
    }
}

/// One side (users or items) of the parameters: embeddings, biases and the schedule's
/// accumulators (adagrad: sum of squared gradients; adadelta: running averages of
/// squared gradients and squared steps).
#[derive(Clone, Copy)]
pub(crate) struct Side<'a> {
    pub emb: Rows<'a>,
    pub bias: Cells<'a>,
    pub emb_acc: Rows<'a>,
    pub bias_acc: Cells<'a>,
    pub emb_step: Rows<'a>,
    pub bias_step: Cells<'a>,
    pub features: &'a Csr,
    /// `features` is the identity (feature i is row i, weight 1).
    pub identity: bool,
    pub alpha: f32,
    /// 0 for users, 1 for items: which of a thread's `Pending` buffers is this side's.
    pub index: usize,
    /// Per feature, its slot in the thread's `Pending` buffers if its updates are
    /// kept there (`NOT_HOT` if not); empty if none are.
    pub hot: &'a [u32],
    /// The features with a slot, in slot order.
    pub hot_features: &'a [u32],
}

/// `Side::hot` of a feature whose updates go straight to the shared parameters.
pub(crate) const NOT_HOT: u32 = u32::MAX;

/// Examples between two flushes of a thread's pending updates.
const FLUSH_EVERY: usize = 64;

/// A thread's pending updates to the hot features of one side: features many rows
/// share (attributes such as a genre or an age band), which with several threads
/// would otherwise be written by all of them at every step, each write waiting for
/// the cache line to come back from another core. Each thread adds its steps to
/// these features here, reads them as shared value + pending, and adds the pending
/// deltas to the shared parameters every `FLUSH_EVERY` examples (and at the end of
/// its share of the epoch): the other threads see them a few dozen steps late,
/// a bounded staleness of the kind Hogwild already tolerates.
struct Pending {
    emb: Vec<f32>,
    acc: Vec<f32>,
    bias: Vec<f32>,
    bias_acc: Vec<f32>,
}

impl Pending {
    /// Adds slot `h`'s pending steps, times `w`, to `out`: a vector of d values and
    /// then a bias.
    #[inline(always)]
    fn add(&self, h: usize, w: f32, out: &mut [f32]) {
        let d = out.len() - 1;
        for (o, p) in out[..d].iter_mut().zip(&self.emb[h * d..(h + 1) * d]) {
            *o += w * p;
        }
        out[d] += w * self.bias[h];
    }

    fn new(slots: usize, d: usize) -> Self {
        Pending {
            emb: vec![0.0; slots * d],
            acc: vec![0.0; slots * d],
            bias: vec![0.0; slots],
            bias_acc: vec![0.0; slots],
        }
    }
}

pub(crate) struct Kernel<'a> {
    pub d: usize,
    pub users: Side<'a>,
    pub items: Side<'a>,
    pub params: &'a Params,
    pub data: &'a Interactions,
    /// Stored entries per user (sorted), for "is this a known positive?".
    pub positives: &'a Csr,
    pub known: &'a Known<'a>,
    /// Item representations as they stood at the start of the epoch, read without
    /// atomics: WARP screens sampled negatives against this snapshot, four draws at a
    /// time (vectorised dot products, O(d) whatever the number of item features),
    /// then reads the live parameters of the one negative it steps on. Empty: screen
    /// against the live parameters (the first epochs, while they move fast).
    /// Measured against LightFM in docs/benchmarks.md.
    pub table: &'a Table,
    /// Per item, its shared features (attributes several items have) and their
    /// weights: the table holds only the part of each representation owned by the
    /// item (its identity feature), and screening adds these features' part from the
    /// live parameters, computed once per example and feature. Shared features move
    /// with every update of any item that has them, so a snapshot of them would be
    /// stale within the epoch.
    pub shared: &'a Csr,
    /// Some item has shared features.
    pub has_shared: bool,
    /// The CPU has AVX2 and FMA: `run` takes the AVX2 code path (see `avx2_fma`).
    pub avx2: bool,
}

/// Per-thread scratch space, allocated once per epoch and thread.
struct Scratch {
    user: Vec<f32>,
    /// The user's vector, 1, zeros: screens against the table (see `Table`).
    screen: Vec<f32>,
    /// Per item feature: the user's score for it, valid where its stamp is `stamp`
    /// (the current example's); see `Kernel::shared`.
    shared_value: Vec<f32>,
    shared_stamp: Vec<u32>,
    stamp: u32,
    pos: Vec<f32>,
    neg: Vec<f32>,
    grad: Vec<f32>,
    kos: Vec<(f32, u32)>,
    tmp: Vec<f32>,
    buf: Buffers,
}

/// Rows being updated, copied out of the shared cells.
struct Buffers {
    params: Vec<f32>,
    acc: Vec<f32>,
    step: Vec<f32>,
    rate: Vec<f32>,
    /// Users' and items' pending updates (see `Pending`).
    pending: [Pending; 2],
}

/// The feature's slot in the thread's pending updates, if it is hot.
#[inline(always)]
fn hot_slot(side: &Side<'_>, f: usize) -> Option<usize> {
    match side.hot.get(f) {
        Some(&h) if h != NOT_HOT => Some(h as usize),
        _ => None,
    }
}

/// `out[i] = 1 / sqrt(values[i])`. With AVX2 and FMA: the hardware estimate refined
/// by one Newton-Raphson step (relative error about 1e-7, like a correctly rounded
/// division to within f32 precision), several times faster than a square root and a
/// division per element.
#[inline(always)]
fn inverse_sqrt(values: &[f32], out: &mut [f32], avx2: bool) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is only true when the CPU was found to support AVX2 and FMA.
        unsafe { inverse_sqrt_avx2(values, out) };
        return;
    }
    let _ = avx2;
    for (o, v) in out.iter_mut().zip(values) {
        *o = 1.0 / v.sqrt();
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn inverse_sqrt_avx2(values: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = values.len().min(out.len());
    let whole = n / 8 * 8;
    let half = _mm256_set1_ps(0.5);
    let three_halves = _mm256_set1_ps(1.5);
    for (v, o) in values[..whole]
        .chunks_exact(8)
        .zip(out[..whole].chunks_exact_mut(8))
    {
        // SAFETY: both chunks hold exactly 8 f32s; unaligned loads and stores.
        unsafe {
            let x = _mm256_loadu_ps(v.as_ptr());
            let y = _mm256_rsqrt_ps(x);
            // y * (1.5 - 0.5 * x * y * y)
            let xyy = _mm256_mul_ps(_mm256_mul_ps(x, y), y);
            let y = _mm256_mul_ps(y, _mm256_fnmadd_ps(half, xyy, three_halves));
            _mm256_storeu_ps(o.as_mut_ptr(), y);
        }
    }
    for (o, v) in out[whole..n].iter_mut().zip(&values[whole..n]) {
        *o = 1.0 / v.sqrt();
    }
}

#[inline(always)]
fn load(cells: &[AtomicU32], out: &mut [f32]) {
    for (o, c) in out.iter_mut().zip(cells) {
        *o = f32::from_bits(c.load(Relaxed));
    }
}

#[inline(always)]
fn store(cells: &[AtomicU32], values: &[f32]) {
    for (c, v) in cells.iter().zip(values) {
        c.store(v.to_bits(), Relaxed);
    }
}

impl<'a> Kernel<'a> {
    /// Representation of one row: weighted sum of feature embeddings; the last slot
    /// holds the summed bias. `tmp` is scratch of length d.
    #[inline(always)]
    fn repr(
        &self,
        side: &Side<'a>,
        row: usize,
        out: &mut [f32],
        tmp: &mut [f32],
        pending: &[Pending; 2],
    ) {
        let d = self.d;
        let pending = &pending[side.index];
        if side.identity {
            side.emb.load(row * d, &mut out[..d]);
            out[d] = side.bias.get(row);
            return;
        }
        let (cols, weights) = side.features.row(row);
        if let ([f], [w]) = (cols, weights) {
            // One feature (identity features): a copy, scaled unless the weight is 1.
            let f = *f as usize;
            side.emb.load(f * d, &mut out[..d]);
            out[d] = side.bias.get(f);
            if let Some(h) = hot_slot(side, f) {
                pending.add(h, 1.0, &mut out[..=d]);
            }
            if *w != 1.0 {
                out[..=d].iter_mut().for_each(|v| *v *= w);
            }
            return;
        }
        out.fill(0.0);
        for (&f, &w) in cols.iter().zip(weights) {
            let f = f as usize;
            side.emb.load(f * d, &mut tmp[..d]);
            for (o, v) in out[..d].iter_mut().zip(&tmp[..d]) {
                *o += w * v;
            }
            out[d] += w * side.bias.get(f);
            if let Some(h) = hot_slot(side, f) {
                pending.add(h, w, &mut out[..=d]);
            }
        }
    }

    /// Adds a thread's pending updates of one side to the shared parameters and
    /// clears them. `tmp` is scratch of length d.
    fn flush(&self, side: &Side<'a>, pending: &mut Pending, tmp: &mut [f32]) {
        let d = self.d;
        let tmp = &mut tmp[..d];
        for (h, &f) in side.hot_features.iter().enumerate() {
            let (f, range) = (f as usize, h * d..(h + 1) * d);
            for (rows, delta) in [
                (&side.emb, &mut pending.emb[range.clone()]),
                (&side.emb_acc, &mut pending.acc[range]),
            ] {
                rows.load(f * d, tmp);
                for (t, p) in tmp.iter_mut().zip(delta.iter_mut()) {
                    *t += *p;
                    *p = 0.0;
                }
                rows.store(f * d, tmp);
            }
            for (cells, delta) in [
                (&side.bias, &mut pending.bias[h]),
                (&side.bias_acc, &mut pending.bias_acc[h]),
            ] {
                cells.set(f, cells.get(f) + *delta);
                *delta = 0.0;
            }
        }
    }

    /// Prefetches what the step on `e` will read first: the parameters and
    /// accumulators of its user's and item's features. Issued one example ahead,
    /// it hides the misses on rows another thread has just written.
    #[inline(always)]
    fn prefetch(&self, e: &Example) {
        let d = self.d;
        for (side, row) in [(&self.users, e.user), (&self.items, e.item)] {
            let (cols, _) = if side.identity {
                (std::slice::from_ref(&row), &[][..])
            } else {
                side.features.row(row as usize)
            };
            for &f in cols.iter().take(4) {
                let f = f as usize;
                side.emb.prefetch(f * d, d);
                side.emb_acc.prefetch(f * d, d);
                side.bias.prefetch(f);
                side.bias_acc.prefetch(f);
            }
        }
    }

    #[inline(always)]
    fn score(&self, u: &[f32], i: &[f32]) -> f32 {
        let d = self.d;
        dot(&u[..d], &i[..d]) + u[d] + i[d]
    }

    /// Applies gradient `scale * grad` (per component) and `grad_bias` to every
    /// feature of `row`, each scaled by the feature's weight, under the configured
    /// schedule. `known`: the row's representation as just read, reused as the
    /// parameters when the row is a single feature of weight 1 (identity features),
    /// saving a reload.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn update(
        &self,
        side: &Side<'a>,
        row: usize,
        grad: &[f32],
        scale: f32,
        grad_bias: f32,
        known: &[f32],
        buf: &mut Buffers,
    ) {
        if side.identity {
            self.update_feature(side, row, 1.0, grad, scale, grad_bias, Some(known), buf);
            return;
        }
        let (cols, weights) = side.features.row(row);
        let known = matches!(weights, [w] if *w == 1.0).then_some(known);
        for (&f, &w) in cols.iter().zip(weights) {
            self.update_feature(side, f as usize, w, grad, scale, grad_bias, known, buf);
        }
    }

    /// `update` for one feature `f` of weight `w`. The feature's rows are copied into
    /// thread-local buffers, updated there (a loop the compiler vectorises, square
    /// roots included) and stored back. `known`: the feature's current parameters,
    /// if the caller has them.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn update_feature(
        &self,
        side: &Side<'a>,
        f: usize,
        w: f32,
        grad: &[f32],
        scale: f32,
        grad_bias: f32,
        known: Option<&[f32]>,
        buf: &mut Buffers,
    ) {
        let d = self.d;
        let alpha = side.alpha;
        let grad = &grad[..d];
        if let (Some(h), Schedule::Adagrad { learning_rate }) =
            (hot_slot(side, f), self.params.schedule)
        {
            // A hot feature: the step goes to the thread's pending updates.
            let pending = &mut buf.pending[side.index];
            let (p, a, r) = (&mut buf.params[..d], &mut buf.acc[..d], &mut buf.rate[..d]);
            let (pe, pa) = (
                &mut pending.emb[h * d..(h + 1) * d],
                &mut pending.acc[h * d..(h + 1) * d],
            );
            side.emb.load(f * d, p);
            side.emb_acc.load(f * d, a);
            for c in 0..d {
                p[c] += pe[c];
                a[c] += pa[c];
            }
            inverse_sqrt(a, r, self.avx2);
            let sw = scale * w;
            for c in 0..d {
                let g = grad[c] * sw;
                pe[c] -= learning_rate * r[c] * (g + alpha * p[c]);
                pa[c] += g * g;
            }
            if grad_bias != 0.0 {
                let g = grad_bias * w;
                let ab = side.bias_acc.get(f) + pending.bias_acc[h];
                let pb = side.bias.get(f) + pending.bias[h];
                pending.bias[h] -= learning_rate / ab.sqrt() * (g + alpha * pb);
                pending.bias_acc[h] += g * g;
            }
            return;
        }
        let (p, a, st) = (&mut buf.params[..d], &mut buf.acc[..d], &mut buf.step[..d]);
        let base = f * d;
        match known {
            Some(known) => p.copy_from_slice(&known[..d]),
            None => side.emb.load(base, p),
        }
        side.emb_acc.load(base, a);
        let sw = scale * w;
        match self.params.schedule {
            Schedule::Adagrad { learning_rate } => {
                let r = &mut buf.rate[..d];
                inverse_sqrt(a, r, self.avx2);
                for c in 0..d {
                    let g = grad[c] * sw;
                    let rate = learning_rate * r[c];
                    p[c] -= rate * (g + alpha * p[c]);
                    a[c] += g * g;
                }
                if grad_bias != 0.0 {
                    let g = grad_bias * w;
                    let ab = side.bias_acc.get(f);
                    let pb = side.bias.get(f);
                    let rate = learning_rate / ab.sqrt();
                    side.bias.set(f, pb - rate * (g + alpha * pb));
                    side.bias_acc.set(f, ab + g * g);
                }
            }
            Schedule::Adadelta { rho, epsilon } => {
                side.emb_step.load(base, st);
                for c in 0..d {
                    let (delta, acc, stp) =
                        adadelta(grad[c] * sw + alpha * p[c], a[c], st[c], rho, epsilon);
                    p[c] -= delta;
                    a[c] = acc;
                    st[c] = stp;
                }
                side.emb_step.store(base, st);
                if grad_bias != 0.0 {
                    let pb = side.bias.get(f);
                    let (delta, acc, stp) = adadelta(
                        grad_bias * w + alpha * pb,
                        side.bias_acc.get(f),
                        side.bias_step.get(f),
                        rho,
                        epsilon,
                    );
                    side.bias.set(f, pb - delta);
                    side.bias_acc.set(f, acc);
                    side.bias_step.set(f, stp);
                }
            }
        }
        side.emb.store(base, p);
        side.emb_acc.store(base, a);
    }

    /// Pairwise step for loss `l` on (user, positive, negative), from the
    /// representations computed before the step. The user bias cancels in
    /// `score(pos) - score(neg)`, so it has no gradient here.
    #[inline(always)]
    fn pairwise_update(&self, l: f32, user: usize, pos: usize, neg: usize, s: &mut Scratch) {
        let d = self.d;
        // d loss / d item = -l * user (positive), +l * user (negative);
        // d loss / d user = l * (neg - pos).
        self.update(&self.items, pos, &s.user, -l, -l, &s.pos, &mut s.buf);
        self.update(&self.items, neg, &s.user, l, l, &s.neg, &mut s.buf);
        for ((g, n), p) in s.grad[..d].iter_mut().zip(&s.neg[..d]).zip(&s.pos[..d]) {
            *g = n - p;
        }
        self.update(&self.users, user, &s.grad, l, 0.0, &s.user, &mut s.buf);
    }

    /// Draws negatives until one violates the margin, then steps; returns the loss.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn warp_step(
        &self,
        user: usize,
        pos: usize,
        pos_score: f32,
        weight: f32,
        rng: &mut Rng,
        s: &mut Scratch,
    ) -> f32 {
        let n_items = self.data.n_items;
        let max_sampled = self.params.max_sampled;
        let table = self.table;
        if table.is_empty() {
            for sampled in 1..=max_sampled {
                let neg = rng.below(n_items);
                self.repr(&self.items, neg, &mut s.neg, &mut s.tmp, &s.buf.pending);
                if self.score(&s.user, &s.neg) > pos_score - 1.0 && !self.known.contains(user, neg)
                {
                    return self.warp_update(user, pos, neg, sampled, weight, s);
                }
            }
            return 0.0;
        }
        // Screening against the snapshot: draws are made and scored four at a time
        // (the last batch may score unused rows), then examined in draw order, so
        // the first violating draw and its count are those of one-at-a-time draws.
        let d = self.d;
        s.screen[..d].copy_from_slice(&s.user[..d]);
        s.screen[d] = 1.0;
        // score = dot + user bias + item bias; the table dot includes the item bias.
        let threshold = pos_score - 1.0 - s.user[d];
        if self.has_shared {
            s.stamp = s.stamp.wrapping_add(1);
            if s.stamp == 0 {
                s.shared_stamp.fill(0);
                s.stamp = 1;
            }
        }
        let mut sampled = 0;
        while sampled < max_sampled {
            let batch = (max_sampled - sampled).min(4);
            let mut draws = [0usize; 4];
            for draw in &mut draws[..batch] {
                *draw = rng.below(n_items);
            }
            let scores = table.dots4(&s.screen, draws, self.avx2);
            for (&neg, &score) in draws[..batch].iter().zip(&scores) {
                sampled += 1;
                let score = if self.has_shared {
                    score + self.shared_score(neg, s)
                } else {
                    score
                };
                if score > threshold && !self.known.contains(user, neg) {
                    return self.warp_update(user, pos, neg, sampled, weight, s);
                }
            }
        }
        0.0
    }

    /// The user's score for the shared features of `item` (weighted dot products
    /// plus biases), from live parameters, each feature's computed once per example.
    #[inline(always)]
    fn shared_score(&self, item: usize, s: &mut Scratch) -> f32 {
        let d = self.d;
        let (cols, weights) = self.shared.row(item);
        let mut total = 0.0;
        for (&g, &w) in cols.iter().zip(weights) {
            let g = g as usize;
            if s.shared_stamp[g] != s.stamp {
                let feature = &mut s.tmp[..=d];
                self.items.emb.load(g * d, &mut feature[..d]);
                feature[d] = self.items.bias.get(g);
                if let Some(h) = hot_slot(&self.items, g) {
                    s.buf.pending[self.items.index].add(h, 1.0, feature);
                }
                s.shared_value[g] = dot(&s.user[..d], &feature[..d]) + feature[d];
                s.shared_stamp[g] = s.stamp;
            }
            total += w * s.shared_value[g];
        }
        total
    }

    /// The WARP step on (user, pos, neg) found at draw `sampled`; returns the loss.
    #[inline(always)]
    fn warp_update(
        &self,
        user: usize,
        pos: usize,
        neg: usize,
        sampled: usize,
        weight: f32,
        s: &mut Scratch,
    ) -> f32 {
        let n_items = self.data.n_items;
        self.repr(&self.items, neg, &mut s.neg, &mut s.tmp, &s.buf.pending);
        // ln of the estimated rank, floor((n_items - 1) / draws), at least 1 so that
        // tiny catalogues never give a negative or infinite weight.
        let rank_estimate = ((n_items - 1) / sampled).max(1) as f32;
        let l = (weight * rank_estimate.ln()).min(MAX_LOSS);
        self.pairwise_update(l, user, pos, neg, s);
        l
    }

    /// Runs one thread's share of an epoch over `examples`. Returns the summed loss
    /// and the number of examples visited.
    /// On x86-64 CPUs with AVX2 the same code runs compiled for AVX2 (8-wide
    /// vectors); elsewhere it runs as compiled for the baseline target.
    pub fn run(&self, examples: &[Example], seed: u64) -> (f64, usize) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `run_avx2` requires AVX2 and FMA, which `avx2` says the CPU has.
            return unsafe { self.run_avx2(examples, seed) };
        }
        self.run_any(examples, seed)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2(&self, examples: &[Example], seed: u64) -> (f64, usize) {
        self.run_any(examples, seed)
    }

    #[inline(always)]
    fn run_any(&self, examples: &[Example], seed: u64) -> (f64, usize) {
        let d = self.d;
        let mut rng = Rng::new(seed);
        let n_shared = if self.has_shared {
            self.items.features.n_cols()
        } else {
            0
        };
        let mut s = Scratch {
            user: vec![0.0; d + 1],
            screen: vec![0.0; self.table.stride().max(d + 1)],
            shared_value: vec![0.0; n_shared],
            shared_stamp: vec![0; n_shared],
            stamp: 0,
            pos: vec![0.0; d + 1],
            neg: vec![0.0; d + 1],
            grad: vec![0.0; d],
            kos: Vec::new(),
            tmp: vec![0.0; d + 1],
            buf: Buffers {
                params: vec![0.0; d],
                acc: vec![0.0; d],
                step: vec![0.0; d],
                rate: vec![0.0; d],
                pending: [
                    Pending::new(self.users.hot_features.len(), d),
                    Pending::new(self.items.hot_features.len(), d),
                ],
            },
        };
        let flushing = !self.users.hot_features.is_empty() || !self.items.hot_features.is_empty();
        let data = self.data;
        let mut total = 0.0f64;
        let mut visited = 0usize;
        for (k, e) in examples.iter().enumerate() {
            if flushing && k % FLUSH_EVERY == FLUSH_EVERY - 1 {
                self.flush(&self.users, &mut s.buf.pending[0], &mut s.tmp);
                self.flush(&self.items, &mut s.buf.pending[1], &mut s.tmp);
            }
            if let Some(next) = examples.get(k + 1) {
                self.prefetch(next);
            }
            let (user, item, value, weight) = (e.user as usize, e.item as usize, e.value, e.weight);
            match self.params.loss {
                Loss::Logistic => {
                    self.repr(&self.users, user, &mut s.user, &mut s.tmp, &s.buf.pending);
                    self.repr(&self.items, item, &mut s.pos, &mut s.tmp, &s.buf.pending);
                    let p = sigmoid(self.score(&s.user, &s.pos));
                    let y = if value > 0.0 { 1.0 } else { 0.0 };
                    let l = weight * (p - y);
                    self.update(&self.items, item, &s.user, l, l, &s.pos, &mut s.buf);
                    self.update(&self.users, user, &s.pos, l, l, &s.user, &mut s.buf);
                    let pt = if y > 0.0 { p } else { 1.0 - p };
                    total += f64::from(-weight * pt.max(1e-7).ln());
                }
                Loss::Warp => {
                    if value <= 0.0 {
                        continue;
                    }
                    self.repr(&self.users, user, &mut s.user, &mut s.tmp, &s.buf.pending);
                    self.repr(&self.items, item, &mut s.pos, &mut s.tmp, &s.buf.pending);
                    let pos_score = self.score(&s.user, &s.pos);
                    total +=
                        f64::from(self.warp_step(user, item, pos_score, weight, &mut rng, &mut s));
                }
                Loss::WarpKos { k, n } => {
                    let (row, _) = self.positives.row(user);
                    if row.is_empty() {
                        continue;
                    }
                    self.repr(&self.users, user, &mut s.user, &mut s.tmp, &s.buf.pending);
                    let m = n.min(row.len());
                    s.kos.clear();
                    for _ in 0..m {
                        let q = row[rng.below(row.len())];
                        self.repr(
                            &self.items,
                            q as usize,
                            &mut s.pos,
                            &mut s.tmp,
                            &s.buf.pending,
                        );
                        s.kos.push((self.score(&s.user, &s.pos), q));
                    }
                    s.kos.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
                    let (pos_score, pos) = s.kos[k.min(m) - 1];
                    self.repr(
                        &self.items,
                        pos as usize,
                        &mut s.pos,
                        &mut s.tmp,
                        &s.buf.pending,
                    );
                    total += f64::from(self.warp_step(
                        user,
                        pos as usize,
                        pos_score,
                        weight,
                        &mut rng,
                        &mut s,
                    ));
                }
                Loss::Bpr => {
                    if value <= 0.0 {
                        continue;
                    }
                    // One negative, skipping the user's known positives (bounded
                    // redraws): half the draws uniform over the catalogue, half the
                    // item of a random interaction (popularity-weighted, as LightFM
                    // draws them). Popular negatives sharpen the top of the ranking
                    // early; uniform ones also push down items nobody interacted with.
                    let nnz = data.items.len();
                    let mut neg = item;
                    for _ in 0..32 {
                        neg = if rng.next_u32() & 1 == 0 {
                            rng.below(data.n_items)
                        } else {
                            data.items[rng.below(nnz)] as usize
                        };
                        if !self.known.contains(user, neg) {
                            break;
                        }
                    }
                    self.repr(&self.users, user, &mut s.user, &mut s.tmp, &s.buf.pending);
                    self.repr(&self.items, item, &mut s.pos, &mut s.tmp, &s.buf.pending);
                    self.repr(&self.items, neg, &mut s.neg, &mut s.tmp, &s.buf.pending);
                    let diff = self.score(&s.user, &s.pos) - self.score(&s.user, &s.neg);
                    let l = weight * (1.0 - sigmoid(diff));
                    self.pairwise_update(l, user, item, neg, &mut s);
                    total += f64::from(-weight * sigmoid(diff).max(1e-7).ln());
                }
            }
            visited += 1;
        }
        if flushing {
            self.flush(&self.users, &mut s.buf.pending[0], &mut s.tmp);
            self.flush(&self.items, &mut s.buf.pending[1], &mut s.tmp);
        }
        (total, visited)
    }
}

/// The CPU has AVX2 and FMA and the AVX2 code path is not turned off: setting
/// `RECO_MODEL_PORTABLE=1` runs the portable path (the one AArch64 runs), to test or
/// measure it on x86-64.
pub(crate) fn avx2_fma() -> bool {
    if std::env::var_os("RECO_MODEL_PORTABLE").is_some_and(|v| !v.is_empty() && v != "0") {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[inline(always)]
fn adadelta(g: f32, acc: f32, step: f32, rho: f32, eps: f32) -> (f32, f32, f32) {
    let acc = rho * acc + (1.0 - rho) * g * g;
    let rate = (step + eps).sqrt() / (acc + eps).sqrt();
    let delta = rate * g;
    let step = rho * step + (1.0 - rho) * delta * delta;
    (delta, acc, step)
}

#[inline(always)]
pub(crate) fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// Dot product with eight independent accumulators, so the compiler can vectorise it.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for k in 0..chunks {
        let (x, y) = (&a[k * 8..k * 8 + 8], &b[k * 8..k * 8 + 8]);
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for k in chunks * 8..a.len() {
        sum += a[k] * b[k];
    }
    sum
}

#[cfg(test)]
mod tests {
    //! One training step of each loss against values computed by hand from the
    //! update rules (adagrad, learning rate 0.05, accumulators starting at 1, so the
    //! first step's rate is exactly 0.05).

    use ndarray::{arr1, arr2, Array2};

    use crate::csr::{Csr, Interactions};
    use crate::model::Model;
    use crate::params::{Loss, Params};

    const LR: f32 = 0.05;

    fn model(loss: Loss, users: Array2<f32>, items: Array2<f32>) -> Model {
        let p = Params {
            no_components: users.ncols(),
            loss,
            threads: 1,
            ..Params::default()
        };
        let mut m = Model::new(
            p,
            Csr::identity(users.nrows()),
            Csr::identity(items.nrows()),
        )
        .expect("valid");
        m.users.embeddings = users;
        m.items.embeddings = items;
        m
    }

    fn sigmoid(x: f32) -> f32 {
        1.0 / (1.0 + (-x).exp())
    }

    fn close(a: f32, b: f32) -> bool {
        (a - b).abs() < 1e-6
    }

    #[test]
    fn screening_dots_match_plain_sums() {
        // Four rows of a 10-component table (stride 16: vector, bias, zeros), scored
        // by the portable path and, where the CPU has it, the AVX2 path.
        let (d, n) = (10, 5);
        let mut table = super::Table::default();
        table.reset(n, d);
        let stride = table.stride();
        assert_eq!(stride, 16);
        for (i, v) in table.values_mut().iter_mut().enumerate() {
            if i % stride <= d {
                *v = ((i * 7919) % 23) as f32 / 7.0 - 1.5;
            }
        }
        let mut screen = vec![0.0f32; stride];
        for (c, v) in screen[..d].iter_mut().enumerate() {
            *v = c as f32 * 0.25 - 1.0;
        }
        screen[d] = 1.0;
        let rows = [4, 0, 2, 4];
        let want = rows.map(|r| {
            let row = &table.values()[r * stride..(r + 1) * stride];
            (0..=d)
                .map(|c| f64::from(screen[c]) * f64::from(row[c]))
                .sum::<f64>()
        });
        let mut paths = vec![false];
        if super::avx2_fma() {
            paths.push(true);
        }
        for avx2 in paths {
            let got = table.dots4(&screen, rows, avx2);
            for (g, w) in got.iter().zip(want) {
                assert!((f64::from(*g) - w).abs() < 1e-4, "avx2 {avx2}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn logistic_step() {
        let (u, i) = ([0.1f32, 0.2], [0.3f32, -0.1]);
        let mut m = model(Loss::Logistic, arr2(&[u]), arr2(&[i]));
        m.fit_partial(&Interactions::from_pairs(1, 1, &[(0, 0)]), 1)
            .expect("trains");
        let score = u[0] * i[0] + u[1] * i[1];
        let l = sigmoid(score) - 1.0; // d loss / d score for a positive
        for c in 0..2 {
            assert!(close(m.items.embeddings[[0, c]], i[c] - LR * l * u[c]));
            assert!(close(m.users.embeddings[[0, c]], u[c] - LR * l * i[c]));
            assert!(close(m.items.emb_acc[[0, c]], 1.0 + (l * u[c]).powi(2)));
        }
        assert!(close(m.items.biases[0], -LR * l));
        assert!(close(m.users.biases[0], -LR * l));
        assert!(close(m.items.bias_acc[0], 1.0 + l * l));
    }

    #[test]
    fn bpr_step() {
        let (u, p, n) = ([0.1f32, 0.2], [0.3f32, -0.1], [-0.2f32, 0.4]);
        let mut m = model(Loss::Bpr, arr2(&[u]), arr2(&[p, n]));
        m.fit_partial(&Interactions::from_pairs(1, 2, &[(0, 0)]), 1)
            .expect("trains");
        let diff = (u[0] * p[0] + u[1] * p[1]) - (u[0] * n[0] + u[1] * n[1]);
        let l = 1.0 - sigmoid(diff);
        for c in 0..2 {
            assert!(close(m.items.embeddings[[0, c]], p[c] + LR * l * u[c]));
            assert!(close(m.items.embeddings[[1, c]], n[c] - LR * l * u[c]));
            assert!(close(
                m.users.embeddings[[0, c]],
                u[c] + LR * l * (p[c] - n[c])
            ));
        }
        assert!(close(m.items.biases[0], LR * l));
        assert!(close(m.items.biases[1], -LR * l));
        assert_eq!(
            m.users.biases[0], 0.0,
            "the user bias cancels in pairwise losses"
        );
    }

    /// Checks a pairwise step on (user 0, pos, neg) with some loss `l`, and returns `l`.
    fn pairwise_step(m: &Model, u: &[f32], items: &[[f32; 2]], pos: usize) -> (usize, f32) {
        let moved: Vec<usize> = (0..items.len())
            .filter(|&i| i != pos && m.items.embeddings[[i, 0]] != items[i][0])
            .collect();
        assert_eq!(moved.len(), 1, "exactly one negative updated: {moved:?}");
        let neg = moved[0];
        let l = m.items.biases[pos] / LR;
        assert!(close(m.items.biases[neg], -LR * l));
        for c in 0..2 {
            assert!(close(
                m.items.embeddings[[pos, c]],
                items[pos][c] + LR * l * u[c]
            ));
            assert!(close(
                m.items.embeddings[[neg, c]],
                items[neg][c] - LR * l * u[c]
            ));
            let want = u[c] + LR * l * (items[pos][c] - items[neg][c]);
            assert!(close(m.users.embeddings[[0, c]], want));
        }
        (neg, l)
    }

    #[test]
    fn warp_step_uses_the_rank_weight() {
        // Five items; every negative violates the margin, so the weight is
        // ln(floor(4 / draws)): ln 4 at the first draw, ln 2 at the second
        // (when the first draw hit the positive).
        let u = [0.1f32, 0.2];
        let items = [
            [0.3f32, -0.1],
            [0.3, -0.1],
            [0.3, -0.1],
            [0.3, -0.1],
            [0.3, -0.1],
        ];
        let mut m = model(Loss::Warp, arr2(&[u]), arr2(&items));
        m.fit_partial(&Interactions::from_pairs(1, 5, &[(0, 0)]), 1)
            .expect("trains");
        let (_, l) = pairwise_step(&m, &u, &items, 0);
        assert!(
            close(l, 4f32.ln()) || close(l, 2f32.ln()),
            "weight {l} is not ln 4 or ln 2"
        );
    }

    #[test]
    fn warp_skips_when_no_negative_violates() {
        // The positive outscores every negative by more than the margin: no update.
        let u = [1.0f32, 1.0];
        let items = [[2.0f32, 2.0], [-1.0, -1.0], [-1.0, -1.0]];
        let mut m = model(Loss::Warp, arr2(&[u]), arr2(&items));
        m.fit_partial(&Interactions::from_pairs(1, 3, &[(0, 0)]), 1)
            .expect("trains");
        assert_eq!(m.items.embeddings, arr2(&items));
        assert_eq!(m.items.biases, arr1(&[0.0f32, 0.0, 0.0]));
    }

    #[test]
    fn kos_step_updates_one_sampled_positive() {
        // Two positives (0 scores higher than 1), k = 2 of n = 2 draws: the anchor is
        // the lower-scored draw. Negatives 2..6 all violate.
        let u = [0.1f32, 0.2];
        let mut items = vec![[0.5f32, 0.5], [0.2, 0.1]];
        items.extend(std::iter::repeat_n([0.3f32, -0.1], 5));
        let mut m = model(Loss::WarpKos { k: 2, n: 2 }, arr2(&[u]), arr2(&items));
        let before = m.clone();
        // Two entries: the user is visited twice, one pairwise step each.
        m.fit_partial(&Interactions::from_pairs(1, 7, &[(0, 0), (0, 1)]), 1)
            .expect("trains");
        let changed = |i: usize| m.items.biases[i] != before.items.biases[i];
        let positives = (0..2).filter(|&i| changed(i)).count();
        let negatives = (2..7).filter(|&i| changed(i)).count();
        assert!(
            (1..=2).contains(&positives),
            "{positives} positives stepped"
        );
        assert!(
            (1..=2).contains(&negatives),
            "{negatives} negatives stepped"
        );
        // Positives only ever move up, negatives down.
        assert!((0..2).all(|i| m.items.biases[i] >= 0.0));
        assert!((2..7).all(|i| m.items.biases[i] <= 0.0));
    }
}
