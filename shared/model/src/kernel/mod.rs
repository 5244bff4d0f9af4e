//! The training kernel: lock-free parallel SGD over shared parameters ("Hogwild").
//!
//! - [`cells`]: the parameters as atomic cells threads share without data races;
//! - [`crate::simd`]: vector arithmetic and the CPU choice (made once per fit);
//! - [`snapshot`]: the item table WARP screens negatives against;
//! - [`attributes`]: features several rows share, stepped per thread;
//! - [`positives`]: known (user, item) pairs;
//! - [`sampler`]: how WARP draws negatives;
//! - [`update`]: the learning-rate schedules;
//! - [`losses`]: one function per loss;
//! - [`packed`]: the same steps for the common fit, on one record per row;
//! - [`records`]: where the packed kernel's records live;
//! - here: the kernel, a row's representation, and one thread's pass over an epoch.

mod attributes;
mod cells;
mod losses;
mod packed;
mod positives;
mod records;
mod sampler;
mod snapshot;
mod update;

pub(crate) use attributes::NO_PENDING_SLOT;
use attributes::{pending_slot, Pending, FLUSH_EVERY};
pub(crate) use cells::{Cells, Rows};
pub(crate) use packed::{stride_for, PackedKernel};
pub(crate) use positives::Known;
pub(crate) use records::{Memory, Records};
pub(crate) use sampler::Sampler;
pub(crate) use snapshot::Table;

use crate::csr::{Csr, Interactions};
use crate::params::{Loss, Params};
use crate::rng::Rng;
use crate::simd::dot;

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
    /// Values per row of `emb_acc`: d, or 1 under row-wise adagrad
    /// (`Params::row_adagrad`).
    pub acc_width: usize,
    pub features: &'a Csr,
    /// `features` is the identity (feature i is row i, weight 1).
    pub identity: bool,
    pub alpha: f32,
    /// 0 for users, 1 for items: which of a thread's `Pending` buffers is this side's.
    pub index: usize,
    /// Per feature, its slot in the thread's `Pending` buffers if its updates are
    /// kept there (`NO_PENDING_SLOT` if not); empty if none are.
    pub pending_slots: &'a [u32],
    /// The features with a slot, in slot order.
    pub pending_features: &'a [u32],
}

pub(crate) struct Kernel<'a> {
    pub d: usize,
    pub users: Side<'a>,
    pub items: Side<'a>,
    pub params: &'a Params,
    pub data: &'a Interactions,
    /// Positives (value > 0) per user (sorted).
    pub positives: &'a Csr,
    /// Where WARP draws its negatives from.
    pub sampler: &'a Sampler,
    /// WARP's weight by the number of draws (see `rank_weights`).
    pub rank_weights: &'a [f32],
    /// This epoch's adagrad learning rate (see `Params::learning_rate_decay`).
    pub learning_rate: f32,
    pub known: &'a Known<'a>,
    /// Item representations as they stood at the start of the epoch, read without
    /// atomics: WARP screens sampled negatives against this snapshot, four draws at a
    /// time (vectorised dot products, O(d) whatever the number of item features),
    /// then reads the live parameters of the one negative it steps on. Empty: screen
    /// against the live parameters (the first epochs, while they move fast).
    /// Measured against LightFM in docs/benchmarks.md.
    pub table: &'a Table,
    /// Per item, its attribute features (features several items have) and their
    /// weights: the table holds only the part of each representation owned by the
    /// item (its identity feature), and screening adds these features' part from the
    /// live parameters, computed once per example and feature. Shared features move
    /// with every update of any item that has them, so a snapshot of them would be
    /// stale within the epoch.
    pub item_attributes: &'a Csr,
    /// Some item has attribute features.
    pub has_item_attributes: bool,
    /// The CPU has AVX2 and FMA: `run` takes the AVX2 code path (see `avx2_fma`).
    pub avx2: bool,
}

/// Per-thread scratch space, allocated once per epoch and thread.
struct Scratch {
    user: Vec<f32>,
    /// The user's vector, 1, zeros: screens against the table (see `Table`).
    screen: Vec<f32>,
    /// Per item feature: the user's score for it, valid where its stamp is `stamp`
    /// (the current example's); see `Kernel::item_attributes`.
    attribute_value: Vec<f32>,
    attribute_stamp: Vec<u32>,
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
            if let Some(h) = pending_slot(side, f) {
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
            if let Some(h) = pending_slot(side, f) {
                pending.add(h, w, &mut out[..=d]);
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
                side.emb_acc.prefetch(f * side.acc_width, side.acc_width);
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
        let n_attributes = if self.has_item_attributes {
            self.items.features.n_cols()
        } else {
            0
        };
        let mut s = Scratch {
            user: vec![0.0; d + 1],
            screen: vec![0.0; self.table.stride().max(d + 1)],
            attribute_value: vec![0.0; n_attributes],
            attribute_stamp: vec![0; n_attributes],
            stamp: 0,
            pos: vec![0.0; d + 1],
            neg: vec![0.0; d + 1],
            grad: vec![0.0; d],
            kos: Vec::new(),
            tmp: vec![0.0; d + 1],
            buf: Buffers {
                params: vec![0.0; d],
                // Padded to whole vectors of 1.0, so that `inverse_sqrt` runs on
                // whole vectors only.
                acc: vec![1.0; d.div_ceil(8) * 8],
                step: vec![0.0; d],
                rate: vec![0.0; d.div_ceil(8) * 8],
                pending: [
                    Pending::new(self.users.pending_features.len(), d, self.users.acc_width),
                    Pending::new(self.items.pending_features.len(), d, self.items.acc_width),
                ],
            },
        };
        let flushing =
            !self.users.pending_features.is_empty() || !self.items.pending_features.is_empty();
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
            let loss = match self.params.loss {
                Loss::Logistic => Some(self.logistic(e, &mut s)),
                Loss::Warp => self.warp(e, &mut rng, &mut s),
                Loss::WarpKos { k, n } => self.warp_kos(e, k, n, &mut rng, &mut s),
                Loss::Bpr => self.bpr(e, &mut rng, &mut s),
            };
            if let Some(loss) = loss {
                total += loss;
                visited += 1;
            }
        }
        if flushing {
            self.flush(&self.users, &mut s.buf.pending[0], &mut s.tmp);
            self.flush(&self.items, &mut s.buf.pending[1], &mut s.tmp);
        }
        (total, visited)
    }
}

/// WARP's step weight by the number of draws that found the violation (index 1 up
/// to `max_sampled`; index 0 unused): ln of the estimated rank,
/// `floor((n_items - 1) / draws)`, at least 1 so that tiny catalogues never give a
/// negative or infinite weight.
pub(crate) fn rank_weights(n_items: usize, max_sampled: usize) -> Vec<f32> {
    (0..=max_sampled)
        .map(|draws| (n_items.saturating_sub(1) / draws.max(1)).max(1) as f32)
        .map(f32::ln)
        .collect()
}

/// Runs an epoch's `order` on one thread per seed, each on a contiguous block of it
/// (on the calling thread when there is one), which the thread first shuffles
/// (`shuffle_block`); sums the (loss, visited) each returns. The fit shuffles the
/// whole order once, so the blocks are a random partition of the examples; each
/// epoch then shuffles them in parallel, where one shuffle of the whole order took a
/// tenth of a two-thread epoch at a million examples (its swaps miss the cache).
pub(crate) fn across_threads(
    order: &mut [Example],
    seeds: &[u64],
    run: impl Fn(&[Example], u64) -> (f64, usize) + Sync,
) -> (f64, usize) {
    let threads = seeds.len();
    if threads == 1 || order.len() < 2 * threads {
        shuffle_block(order, seeds[0]);
        return run(order, seeds[0]);
    }
    let chunk = order.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = order
            .chunks_mut(chunk)
            .zip(seeds)
            .map(|(block, &seed)| {
                let run = &run;
                scope.spawn(move || {
                    shuffle_block(block, seed);
                    run(block, seed)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or((f64::NAN, 0)))
            .fold((0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    })
}

/// Shuffles one thread's block of an epoch with a generator of its own, drawn from
/// the thread's `seed` (the kernel's generator starts from `seed` itself).
pub(crate) fn shuffle_block(block: &mut [Example], seed: u64) {
    Rng::new(seed ^ 0x5851_F42D_4C95_7F2D).shuffle(block);
}

#[cfg(test)]
mod tests;
