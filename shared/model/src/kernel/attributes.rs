//! Attribute features: features several rows share (a genre, an age band), as
//! opposed to a row's own identity feature. With several threads their steps are
//! kept per thread and flushed now and then (see `Pending`); WARP screening reads
//! them live rather than from the snapshot (see `Kernel::item_attributes`).

use super::{Kernel, Side};

/// `Side::pending_slots` of a feature whose steps go straight to the shared parameters.
pub(crate) const NO_PENDING_SLOT: u32 = u32::MAX;

/// Examples between two flushes of a thread's pending updates.
pub(crate) const FLUSH_EVERY: usize = 64;

/// A thread's pending updates to the attribute features of one side, which with several threads
/// would otherwise be written by all of them at every step, each write waiting for
/// the cache line to come back from another core. Each thread adds its steps to
/// these features here, reads them as shared value + pending, and adds the pending
/// deltas to the shared parameters every `FLUSH_EVERY` examples (and at the end of
/// its share of the epoch): the other threads see them a few dozen steps late,
/// a bounded staleness of the kind Hogwild already tolerates.
pub(crate) struct Pending {
    pub(crate) emb: Vec<f32>,
    pub(crate) acc: Vec<f32>,
    pub(crate) bias: Vec<f32>,
    pub(crate) bias_acc: Vec<f32>,
}

impl Pending {
    /// Adds slot `h`'s pending steps, times `w`, to `out`: a vector of d values and
    /// then a bias.
    #[inline(always)]
    pub(super) fn add(&self, h: usize, w: f32, out: &mut [f32]) {
        let d = out.len() - 1;
        for (o, p) in out[..d].iter_mut().zip(&self.emb[h * d..(h + 1) * d]) {
            *o += w * p;
        }
        out[d] += w * self.bias[h];
    }

    pub(super) fn new(slots: usize, d: usize, acc_width: usize) -> Self {
        Pending {
            emb: vec![0.0; slots * d],
            acc: vec![0.0; slots * acc_width],
            bias: vec![0.0; slots],
            bias_acc: vec![0.0; slots],
        }
    }
}

/// The feature's slot in the thread's pending updates, if it is an attribute feature
/// and pending steps are in use.
#[inline(always)]
pub(crate) fn pending_slot(side: &Side<'_>, f: usize) -> Option<usize> {
    match side.pending_slots.get(f) {
        Some(&h) if h != NO_PENDING_SLOT => Some(h as usize),
        _ => None,
    }
}

impl<'a> Kernel<'a> {
    /// Adds a thread's pending updates of one side to the shared parameters and
    /// clears them. `tmp` is scratch of length d.
    pub(super) fn flush(&self, side: &Side<'a>, pending: &mut Pending, tmp: &mut [f32]) {
        let (d, a) = (self.d, side.acc_width);
        for (h, &f) in side.pending_features.iter().enumerate() {
            let f = f as usize;
            for (rows, delta, n) in [
                (&side.emb, &mut pending.emb[h * d..(h + 1) * d], d),
                (&side.emb_acc, &mut pending.acc[h * a..(h + 1) * a], a),
            ] {
                let tmp = &mut tmp[..n];
                rows.load(f * n, tmp);
                for (t, p) in tmp.iter_mut().zip(delta.iter_mut()) {
                    *t += *p;
                    *p = 0.0;
                }
                rows.store(f * n, tmp);
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
}
