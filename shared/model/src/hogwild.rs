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
//! are copied into thread-local buffers before the arithmetic. docs/benchmarks.md
//! records what this costs against a single-threaded non-atomic baseline.

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
    pub fn set(&self, i: usize, v: f32) {
        self.0[i].store(v.to_bits(), Relaxed)
    }

    #[inline(always)]
    pub fn row(&self, start: usize, len: usize) -> &'a [AtomicU32] {
        &self.0[start..start + len]
    }
}

/// One side (users or items) of the parameters: embeddings, biases and the schedule's
/// accumulators (adagrad: sum of squared gradients; adadelta: running averages of
/// squared gradients and squared steps).
#[derive(Clone, Copy)]
pub(crate) struct Side<'a> {
    pub emb: Cells<'a>,
    pub bias: Cells<'a>,
    pub emb_acc: Cells<'a>,
    pub bias_acc: Cells<'a>,
    pub emb_step: Cells<'a>,
    pub bias_step: Cells<'a>,
    pub features: &'a Csr,
    pub alpha: f32,
}

pub(crate) struct Kernel<'a> {
    pub d: usize,
    pub users: Side<'a>,
    pub items: Side<'a>,
    pub params: &'a Params,
    pub data: &'a Interactions,
    /// Stored entries per user (sorted), for "is this a known positive?".
    pub positives: &'a Csr,
}

/// Per-thread scratch space, allocated once per epoch and thread.
struct Scratch {
    user: Vec<f32>,
    pos: Vec<f32>,
    neg: Vec<f32>,
    grad: Vec<f32>,
    kos: Vec<(f32, u32)>,
}

impl<'a> Kernel<'a> {
    /// Representation of one row: weighted sum of feature embeddings; the last slot
    /// holds the summed bias.
    #[inline]
    fn repr(&self, side: &Side<'a>, row: usize, out: &mut [f32]) {
        let d = self.d;
        let (cols, weights) = side.features.row(row);
        if let ([f], [w]) = (cols, weights) {
            // One feature (identity features): a scaled copy, no accumulation.
            let f = *f as usize;
            for (o, cell) in out[..d].iter_mut().zip(side.emb.row(f * d, d)) {
                *o = w * f32::from_bits(cell.load(Relaxed));
            }
            out[d] = w * side.bias.get(f);
            return;
        }
        out.fill(0.0);
        for (&f, &w) in cols.iter().zip(weights) {
            let f = f as usize;
            for (o, cell) in out[..d].iter_mut().zip(side.emb.row(f * d, d)) {
                *o += w * f32::from_bits(cell.load(Relaxed));
            }
            out[d] += w * side.bias.get(f);
        }
    }

    #[inline]
    fn score(&self, u: &[f32], i: &[f32]) -> f32 {
        let d = self.d;
        dot(&u[..d], &i[..d]) + u[d] + i[d]
    }

    /// Applies gradient `grad` (per component) and `grad_bias` to every feature of
    /// `row`, each scaled by the feature's weight, under the configured schedule.
    #[inline]
    fn update(&self, side: &Side<'a>, row: usize, grad: &[f32], grad_bias: f32) {
        let d = self.d;
        let alpha = side.alpha;
        let (cols, weights) = side.features.row(row);
        for (&f, &w) in cols.iter().zip(weights) {
            let f = f as usize;
            let base = f * d;
            let emb = side.emb.row(base, d);
            let acc = side.emb_acc.row(base, d);
            match self.params.schedule {
                Schedule::Adagrad { learning_rate } => {
                    for c in 0..d {
                        let g = grad[c] * w;
                        let a = f32::from_bits(acc[c].load(Relaxed));
                        let p = f32::from_bits(emb[c].load(Relaxed));
                        let rate = learning_rate / a.sqrt();
                        emb[c].store((p - rate * (g + alpha * p)).to_bits(), Relaxed);
                        acc[c].store((a + g * g).to_bits(), Relaxed);
                    }
                    if grad_bias != 0.0 {
                        let g = grad_bias * w;
                        let a = side.bias_acc.get(f);
                        let p = side.bias.get(f);
                        let rate = learning_rate / a.sqrt();
                        side.bias.set(f, p - rate * (g + alpha * p));
                        side.bias_acc.set(f, a + g * g);
                    }
                }
                Schedule::Adadelta { rho, epsilon } => {
                    let step = side.emb_step.row(base, d);
                    for c in 0..d {
                        let g = grad[c] * w;
                        let p = f32::from_bits(emb[c].load(Relaxed));
                        let (delta, a, s) = adadelta(
                            g + alpha * p,
                            f32::from_bits(acc[c].load(Relaxed)),
                            f32::from_bits(step[c].load(Relaxed)),
                            rho,
                            epsilon,
                        );
                        emb[c].store((p - delta).to_bits(), Relaxed);
                        acc[c].store(a.to_bits(), Relaxed);
                        step[c].store(s.to_bits(), Relaxed);
                    }
                    if grad_bias != 0.0 {
                        let p = side.bias.get(f);
                        let (delta, a, s) = adadelta(
                            grad_bias * w + alpha * p,
                            side.bias_acc.get(f),
                            side.bias_step.get(f),
                            rho,
                            epsilon,
                        );
                        side.bias.set(f, p - delta);
                        side.bias_acc.set(f, a);
                        side.bias_step.set(f, s);
                    }
                }
            }
        }
    }

    /// Pairwise step for loss `l` on (user, positive, negative), from the
    /// representations computed before the step. The user bias cancels in
    /// `score(pos) - score(neg)`, so it has no gradient here.
    fn pairwise_update(&self, l: f32, user: usize, pos: usize, neg: usize, s: &mut Scratch) {
        let d = self.d;
        for c in 0..d {
            s.grad[c] = -l * s.user[c];
        }
        self.update(&self.items, pos, &s.grad, -l);
        for c in 0..d {
            s.grad[c] = -s.grad[c];
        }
        self.update(&self.items, neg, &s.grad, l);
        for c in 0..d {
            s.grad[c] = l * (s.neg[c] - s.pos[c]);
        }
        self.update(&self.users, user, &s.grad, 0.0);
    }

    /// Draws negatives until one violates the margin, then steps; returns the loss.
    #[allow(clippy::too_many_arguments)]
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
        for sampled in 1..=self.params.max_sampled {
            let neg = rng.below(n_items);
            self.repr(&self.items, neg, &mut s.neg);
            let neg_score = self.score(&s.user, &s.neg);
            if neg_score > pos_score - 1.0 {
                if self.positives.contains(user, neg as u32) {
                    continue;
                }
                // ln of the estimated rank, floor((n_items - 1) / draws), at least 1 so
                // that tiny catalogues never give a negative or infinite weight.
                let rank_estimate = ((n_items - 1) / sampled).max(1) as f32;
                let l = (weight * rank_estimate.ln()).min(MAX_LOSS);
                self.pairwise_update(l, user, pos, neg, s);
                return l;
            }
        }
        0.0
    }

    /// Runs one thread's share of an epoch over `order` (indices into the
    /// interactions). Returns the summed loss and the number of examples visited.
    pub fn run(&self, order: &[u32], seed: u64) -> (f64, usize) {
        let d = self.d;
        let mut rng = Rng::new(seed);
        let mut s = Scratch {
            user: vec![0.0; d + 1],
            pos: vec![0.0; d + 1],
            neg: vec![0.0; d + 1],
            grad: vec![0.0; d],
            kos: Vec::new(),
        };
        let data = self.data;
        let mut total = 0.0f64;
        let mut visited = 0usize;
        for &idx in order {
            let idx = idx as usize;
            let user = data.users[idx] as usize;
            let item = data.items[idx] as usize;
            let value = data.values[idx];
            let weight = data.weights.as_ref().map_or(1.0, |w| w[idx]);
            match self.params.loss {
                Loss::Logistic => {
                    self.repr(&self.users, user, &mut s.user);
                    self.repr(&self.items, item, &mut s.pos);
                    let p = sigmoid(self.score(&s.user, &s.pos));
                    let y = if value > 0.0 { 1.0 } else { 0.0 };
                    let l = weight * (p - y);
                    for c in 0..d {
                        s.grad[c] = l * s.user[c];
                    }
                    self.update(&self.items, item, &s.grad, l);
                    for c in 0..d {
                        s.grad[c] = l * s.pos[c];
                    }
                    self.update(&self.users, user, &s.grad, l);
                    let pt = if y > 0.0 { p } else { 1.0 - p };
                    total += f64::from(-weight * pt.max(1e-7).ln());
                }
                Loss::Warp => {
                    if value <= 0.0 {
                        continue;
                    }
                    self.repr(&self.users, user, &mut s.user);
                    self.repr(&self.items, item, &mut s.pos);
                    let pos_score = self.score(&s.user, &s.pos);
                    total +=
                        f64::from(self.warp_step(user, item, pos_score, weight, &mut rng, &mut s));
                }
                Loss::WarpKos { k, n } => {
                    let (row, _) = self.positives.row(user);
                    if row.is_empty() {
                        continue;
                    }
                    self.repr(&self.users, user, &mut s.user);
                    let m = n.min(row.len());
                    s.kos.clear();
                    for _ in 0..m {
                        let q = row[rng.below(row.len())];
                        self.repr(&self.items, q as usize, &mut s.pos);
                        s.kos.push((self.score(&s.user, &s.pos), q));
                    }
                    s.kos.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
                    let (pos_score, pos) = s.kos[k.min(m) - 1];
                    self.repr(&self.items, pos as usize, &mut s.pos);
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
                    // Negatives are items of random interactions (popularity-weighted,
                    // as LightFM samples them), skipping the user's known positives.
                    let nnz = data.items.len();
                    let mut neg = item;
                    for _ in 0..nnz.min(1000) {
                        neg = data.items[rng.below(nnz)] as usize;
                        if !self.positives.contains(user, neg as u32) {
                            break;
                        }
                    }
                    self.repr(&self.users, user, &mut s.user);
                    self.repr(&self.items, item, &mut s.pos);
                    self.repr(&self.items, neg, &mut s.neg);
                    let diff = self.score(&s.user, &s.pos) - self.score(&s.user, &s.neg);
                    let l = weight * (1.0 - sigmoid(diff));
                    self.pairwise_update(l, user, item, neg, &mut s);
                    total += f64::from(-weight * sigmoid(diff).max(1e-7).ln());
                }
            }
            visited += 1;
        }
        (total, visited)
    }
}

#[inline]
fn adadelta(g: f32, acc: f32, step: f32, rho: f32, eps: f32) -> (f32, f32, f32) {
    let acc = rho * acc + (1.0 - rho) * g * g;
    let rate = (step + eps).sqrt() / (acc + eps).sqrt();
    let delta = rate * g;
    let step = rho * step + (1.0 - rho) * delta * delta;
    (delta, acc, step)
}

#[inline]
pub(crate) fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// Dot product with eight independent accumulators, so the compiler can vectorise it.
#[inline]
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
