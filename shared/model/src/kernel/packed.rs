//! The packed kernel: the common fit (identity features on both sides, adagrad with
//! one accumulator per row, WARP or BPR) on rows that hold everything a step touches.
//!
//! Each user's and item's parameters live in one record of `S` floats (a multiple of 8):
//! its vector (`d` values), its bias, its embedding accumulator, its bias accumulator,
//! then zeros. A step loads three records, computes on them as fixed-size arrays
//! (whole vectors, no loop bounds or index checks left at run time: the kernel is
//! compiled once per record size) and stores them back; WARP screens against a copy
//! of the item records taken at the start of the epoch, as the general kernel does.
//! The updates are those of the general kernel (`update.rs`, row-wise adagrad), in
//! the same order; only the summation order of dot products differs.
//!
//! With several threads the records are shared as relaxed atomic cells; with one,
//! the kernel reads and writes them as the thread's own memory (`records.rs`). Records
//! are copied and dot products taken as whole vectors of eight (with AVX2, explicitly:
//! left to itself the compiler called `memcpy` for records of 72 floats and summed
//! some dot products one float at a time: docs/benchmarks.md).

use super::records::Memory;
use super::sampler::bpr_negative;
use super::{Example, Known, Sampler};
use crate::csr::Interactions;
use crate::params::Loss;
use crate::rng::Rng;
use crate::simd::{dot, sigmoid};

const MAX_LOSS: f32 = 10.0;

/// Record sizes the kernel is compiled for; a model takes the smallest that holds
/// `d + 3` values.
const STRIDES: [usize; 6] = [16, 24, 32, 40, 72, 136];

/// The record size for `d` components, if the packed kernel covers it.
pub(crate) fn stride_for(d: usize) -> Option<usize> {
    STRIDES.iter().copied().find(|&s| d + 3 <= s)
}

/// The packed kernel over one epoch (see the module's documentation).
pub(crate) struct PackedKernel<'a, M: Memory + ?Sized> {
    pub d: usize,
    pub users: &'a M,
    pub items: &'a M,
    /// The item records as they stood at the start of the epoch; empty: screen
    /// against the live records.
    pub snapshot: &'a [f32],
    pub user_alpha: f32,
    pub item_alpha: f32,
    pub learning_rate: f32,
    pub loss: Loss,
    pub max_sampled: usize,
    pub data: &'a Interactions,
    pub known: &'a Known<'a>,
    pub sampler: &'a Sampler,
    pub avx2: bool,
    /// The CPU has `prefetchw` (`simd::prefetchw`): the next example's records are
    /// prefetched for writing, since the step writes them.
    pub prefetchw: bool,
    pub stride: usize,
    /// WARP's weight by the number of draws (see `rank_weights`).
    pub rank_weights: &'a [f32],
}

/// Which values of a record are the vector and which the bias.
struct Masks<const S: usize> {
    /// 1 at the vector's components, 0 elsewhere.
    emb: [f32; S],
    /// 1 at the bias, 0 elsewhere.
    bias: [f32; S],
}

impl<const S: usize> Masks<S> {
    /// The user's vector, 1 at the bias, 0 elsewhere: `dot(screen, record)` is the
    /// item's score less the user's bias.
    #[inline(always)]
    fn screen(&self, u: &[f32; S]) -> [f32; S] {
        let mut screen = [0.0f32; S];
        for (((s, u), me), mb) in chunks_mut(&mut screen)
            .zip(chunks(u))
            .zip(chunks(&self.emb))
            .zip(chunks(&self.bias))
        {
            for j in 0..8 {
                s[j] = u[j] * me[j] + mb[j];
            }
        }
        screen
    }
}

/// A record's whole vectors of eight.
#[inline(always)]
pub(super) fn chunks<const S: usize>(v: &[f32; S]) -> impl Iterator<Item = &[f32; 8]> {
    v.as_chunks::<8>().0.iter()
}

#[inline(always)]
pub(super) fn chunks_mut<const S: usize>(v: &mut [f32; S]) -> impl Iterator<Item = &mut [f32; 8]> {
    v.as_chunks_mut::<8>().0.iter_mut()
}

/// The dot product of two records: with AVX2 in vector instructions (the slices'
/// `dot` was left partly scalar there), elsewhere `dot`.
#[inline(always)]
fn dot_rec<const S: usize>(a: &[f32; S], b: &[f32; S], avx2: bool) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is only true when the CPU supports AVX2 and FMA.
        return unsafe { crate::simd::dot_avx2(a, b) };
    }
    let _ = avx2;
    dot(a, b)
}

#[inline(always)]
fn splat(v: f32) -> [f32; 8] {
    [v; 8]
}

impl<M: Memory + ?Sized> PackedKernel<'_, M> {
    /// Runs one thread's share of an epoch; returns the summed loss and the number of
    /// examples stepped on.
    pub fn run(&self, examples: &[Example], seed: u64) -> (f64, usize) {
        match self.stride {
            16 => self.dispatch::<16>(examples, seed),
            24 => self.dispatch::<24>(examples, seed),
            32 => self.dispatch::<32>(examples, seed),
            40 => self.dispatch::<40>(examples, seed),
            72 => self.dispatch::<72>(examples, seed),
            _ => self.dispatch::<136>(examples, seed),
        }
    }

    fn dispatch<const S: usize>(&self, examples: &[Example], seed: u64) -> (f64, usize) {
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `run_avx2` requires AVX2 and FMA, which `avx2` says the CPU has.
            return unsafe { self.run_avx2::<S>(examples, seed) };
        }
        self.run_any::<S>(examples, seed)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn run_avx2<const S: usize>(&self, examples: &[Example], seed: u64) -> (f64, usize) {
        self.run_any::<S>(examples, seed)
    }

    #[inline(always)]
    fn run_any<const S: usize>(&self, examples: &[Example], seed: u64) -> (f64, usize) {
        debug_assert!(self.d + 3 <= S && S == self.stride);
        let d = self.d;
        let mut masks = Masks {
            emb: [0.0; S],
            bias: [0.0; S],
        };
        masks.emb[..d].fill(1.0);
        masks.bias[d] = 1.0;
        let mut rng = Rng::new(seed);
        let mut total = 0.0f64;
        let mut visited = 0usize;
        for (k, e) in examples.iter().enumerate() {
            if let Some(next) = examples.get(k + 1) {
                self.users.prefetch::<S>(next.user as usize, self.prefetchw);
                self.items.prefetch::<S>(next.item as usize, self.prefetchw);
                self.known.prefetch_bounds(next.user as usize);
            }
            if e.value <= 0.0 {
                continue;
            }
            let loss = match self.loss {
                Loss::Bpr => self.bpr::<S>(e, &masks, &mut rng),
                _ => self.warp::<S>(e, &masks, &mut rng),
            };
            total += f64::from(loss);
            visited += 1;
        }
        (total, visited)
    }

    /// WARP on one positive: draws negatives until one scores within the margin of
    /// the positive, then steps with the rank estimated from the number of draws.
    #[inline(always)]
    fn warp<const S: usize>(&self, e: &Example, m: &Masks<S>, rng: &mut Rng) -> f32 {
        let (user, item) = (e.user as usize, e.item as usize);
        self.known.prefetch_row(user);
        let u = self.users.load::<S>(user, self.avx2);
        let pos = self.items.load::<S>(item, self.avx2);
        let screen = m.screen(&u);
        let threshold = dot_rec(&screen, &pos, self.avx2) - 1.0;
        if self.snapshot.is_empty() {
            // Against the live records, one draw at a time.
            for sampled in 1..=self.max_sampled {
                let neg = self.sampler.draw(rng);
                let score = dot_rec(&screen, &self.items.load::<S>(neg, self.avx2), self.avx2);
                if score > threshold && !self.known.contains(user, neg) {
                    return self.warp_step::<S>(e, sampled, (user, &u), (item, &pos), neg, m);
                }
            }
            return 0.0;
        }
        // Against the snapshot: four draws scored at a time, examined in draw order.
        let mut sampled = 0;
        while sampled < self.max_sampled {
            let batch = (self.max_sampled - sampled).min(4);
            let mut draws = [0usize; 4];
            for draw in &mut draws[..batch] {
                *draw = self.sampler.draw(rng);
            }
            let scores = self.scores4::<S>(&screen, draws);
            for (&neg, &score) in draws[..batch].iter().zip(&scores) {
                sampled += 1;
                if score > threshold && !self.known.contains(user, neg) {
                    return self.warp_step::<S>(e, sampled, (user, &u), (item, &pos), neg, m);
                }
            }
        }
        0.0
    }

    /// WARP's step once `neg` violated the margin at draw `sampled`; returns the loss.
    /// A method, not a closure: a closure is compiled on its own unless inlined,
    /// for the baseline instruction set rather than the AVX2 build's.
    #[inline(always)]
    fn warp_step<const S: usize>(
        &self,
        e: &Example,
        sampled: usize,
        user: (usize, &[f32; S]),
        pos: (usize, &[f32; S]),
        neg: usize,
        m: &Masks<S>,
    ) -> f32 {
        let l = (e.weight * self.rank_weights[sampled]).min(MAX_LOSS);
        let neg_rec = self.items.load::<S>(neg, self.avx2);
        self.pairwise::<S>(l, user, pos, (neg, &neg_rec), m);
        l
    }

    /// BPR on one positive against one sampled negative (drawn as the general
    /// kernel draws it).
    #[inline(always)]
    fn bpr<const S: usize>(&self, e: &Example, m: &Masks<S>, rng: &mut Rng) -> f32 {
        let (user, item) = (e.user as usize, e.item as usize);
        let neg = bpr_negative(self.data, self.known, user, item, rng);
        let u = self.users.load::<S>(user, self.avx2);
        let pos = self.items.load::<S>(item, self.avx2);
        let neg_rec = self.items.load::<S>(neg, self.avx2);
        let screen = m.screen(&u);
        let diff = dot_rec(&screen, &pos, self.avx2) - dot_rec(&screen, &neg_rec, self.avx2);
        let l = e.weight * (1.0 - sigmoid(diff));
        self.pairwise::<S>(l, (user, &u), (item, &pos), (neg, &neg_rec), m);
        -e.weight * sigmoid(diff).max(1e-7).ln()
    }

    /// Scores (less the user's bias) of four items of the snapshot for `screen`.
    #[inline(always)]
    fn scores4<const S: usize>(&self, screen: &[f32; S], draws: [usize; 4]) -> [f32; 4] {
        // Draws are item indices, below the snapshot's number of records. Rows of
        // `S` floats, written out rather than through `map`, which is not always
        // inlined: the dot products' lengths are then known at compile time.
        let (table, _) = self.snapshot.as_chunks::<S>();
        let rows: [&[f32]; 4] = [
            &table[draws[0]],
            &table[draws[1]],
            &table[draws[2]],
            &table[draws[3]],
        ];
        #[cfg(target_arch = "x86_64")]
        if self.avx2 {
            // SAFETY: `avx2` is only true when the CPU supports AVX2 and FMA.
            return unsafe { crate::simd::dots4_avx2(screen, rows) };
        }
        [
            dot(screen, rows[0]),
            dot(screen, rows[1]),
            dot(screen, rows[2]),
            dot(screen, rows[3]),
        ]
    }

    /// The pairwise step for loss `l` on (user, positive, negative), from their
    /// records as read before the step: the items move along `∓ l * user`, their
    /// biases by `∓ l`, the user along `l * (neg - pos)` (the user's bias cancels).
    #[inline(always)]
    fn pairwise<const S: usize>(
        &self,
        l: f32,
        (user, u): (usize, &[f32; S]),
        (pos, p): (usize, &[f32; S]),
        (neg, n): (usize, &[f32; S]),
        m: &Masks<S>,
    ) {
        let mut g = [0.0f32; S];
        for ((g, u), me) in chunks_mut(&mut g).zip(chunks(u)).zip(chunks(&m.emb)) {
            for j in 0..8 {
                g[j] = u[j] * me[j];
            }
        }
        // The items' gradient is the same vector for both: its squares once.
        let squares = dot_rec(&g, &g, self.avx2);
        let rec = self.step::<S>(p, &g, squares, -l, -l, self.item_alpha, m);
        self.items.store::<S>(pos, &rec, self.avx2);
        let rec = self.step::<S>(n, &g, squares, l, l, self.item_alpha, m);
        self.items.store::<S>(neg, &rec, self.avx2);
        for (((g, n), p), me) in chunks_mut(&mut g)
            .zip(chunks(n))
            .zip(chunks(p))
            .zip(chunks(&m.emb))
        {
            for j in 0..8 {
                g[j] = (n[j] - p[j]) * me[j];
            }
        }
        let squares = dot_rec(&g, &g, self.avx2);
        let rec = self.step::<S>(u, &g, squares, l, 0.0, self.user_alpha, m);
        self.users.store::<S>(user, &rec, self.avx2);
    }

    /// Adagrad on one record: its new value from `old`, for gradient `scale * g` on
    /// the vector (`g` zero outside it; `squares` its squared norm), `grad_bias` on
    /// the bias (none when 0), L2 penalty `alpha`, one accumulator for the vector
    /// (the mean of its squared gradients) and one for the bias. Computed into a new
    /// record, vector by vector, rather than on a copy of `old`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn step<const S: usize>(
        &self,
        old: &[f32; S],
        g: &[f32; S],
        squares: f32,
        scale: f32,
        grad_bias: f32,
        alpha: f32,
        m: &Masks<S>,
    ) -> [f32; S] {
        let d = self.d;
        let rate = self.learning_rate / old[d + 1].sqrt();
        let bias_rate = if grad_bias != 0.0 {
            self.learning_rate / old[d + 2].sqrt()
        } else {
            0.0
        };
        let emb_rate = splat(rate);
        let bias_rate = splat(bias_rate);
        let (scale8, grad_bias, alpha) = (splat(scale), splat(grad_bias), splat(alpha));
        let mut rec = [0.0f32; S];
        for ((((r, o), g), me), mb) in chunks_mut(&mut rec)
            .zip(chunks(old))
            .zip(chunks(g))
            .zip(chunks(&m.emb))
            .zip(chunks(&m.bias))
        {
            for j in 0..8 {
                let grad = g[j] * scale8[j] + mb[j] * grad_bias[j];
                let rate = me[j] * emb_rate[j] + mb[j] * bias_rate[j];
                r[j] = o[j] - rate * (grad + alpha[j] * o[j]);
            }
        }
        rec[d + 1] += squares * scale * scale / d as f32;
        rec[d + 2] += grad_bias[0] * grad_bias[0];
        rec
    }
}
