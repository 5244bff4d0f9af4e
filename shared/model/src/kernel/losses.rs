//! The losses, one function per loss (as LightFM's training loops are): each takes
//! one example, steps, and returns its loss, or `None` when the example is skipped.

use super::attributes::pending_slot;
use super::sampler::bpr_negative;
use super::{Example, Kernel, Scratch};
use crate::params::Loss;
use crate::rng::Rng;
use crate::simd::{dot, sigmoid};

const MAX_LOSS: f32 = 10.0;

impl<'a> Kernel<'a> {
    /// Logistic loss on one (user, item, label) example.
    #[inline(always)]
    pub(super) fn logistic(&self, e: &Example, s: &mut Scratch) -> f64 {
        let (user, item, weight) = (e.user as usize, e.item as usize, e.weight);
        self.repr(&self.users, user, &mut s.user, &mut s.tmp, &s.buf.pending);
        self.repr(&self.items, item, &mut s.pos, &mut s.tmp, &s.buf.pending);
        let p = sigmoid(self.score(&s.user, &s.pos));
        let y = if e.value > 0.0 { 1.0 } else { 0.0 };
        let l = weight * (p - y);
        self.update(&self.items, item, &s.user, l, l, &s.pos, &mut s.buf);
        self.update(&self.users, user, &s.pos, l, l, &s.user, &mut s.buf);
        let pt = if y > 0.0 { p } else { 1.0 - p };
        f64::from(-weight * pt.max(1e-7).ln())
    }

    /// WARP on one positive example; negatives are skipped.
    #[inline(always)]
    pub(super) fn warp(&self, e: &Example, rng: &mut Rng, s: &mut Scratch) -> Option<f64> {
        if e.value <= 0.0 {
            return self.known_negative(e, rng, s);
        }
        let (user, item) = (e.user as usize, e.item as usize);
        self.repr(&self.users, user, &mut s.user, &mut s.tmp, &s.buf.pending);
        self.repr(&self.items, item, &mut s.pos, &mut s.tmp, &s.buf.pending);
        let pos_score = self.score(&s.user, &s.pos);
        Some(f64::from(
            self.warp_step(user, item, pos_score, e.weight, rng, s),
        ))
    }

    /// k-OS WARP: the positive stepped on is the k-th best scored of `n` of the
    /// user's positives drawn at random.
    #[inline(always)]
    pub(super) fn warp_kos(
        &self,
        e: &Example,
        k: usize,
        n: usize,
        rng: &mut Rng,
        s: &mut Scratch,
    ) -> Option<f64> {
        if e.value <= 0.0 {
            return self.known_negative(e, rng, s);
        }
        let user = e.user as usize;
        let (row, _) = self.positives.row(user);
        if row.is_empty() {
            return None;
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
        Some(f64::from(self.warp_step(
            user,
            pos as usize,
            pos_score,
            e.weight,
            rng,
            s,
        )))
    }

    /// BPR on one positive example against one sampled negative.
    #[inline(always)]
    pub(super) fn bpr(&self, e: &Example, rng: &mut Rng, s: &mut Scratch) -> Option<f64> {
        if e.value <= 0.0 {
            return self.known_negative(e, rng, s);
        }
        let (user, item, weight) = (e.user as usize, e.item as usize, e.weight);
        let neg = bpr_negative(self.data, self.known, user, item, rng);
        self.repr(&self.users, user, &mut s.user, &mut s.tmp, &s.buf.pending);
        self.repr(&self.items, item, &mut s.pos, &mut s.tmp, &s.buf.pending);
        self.repr(&self.items, neg, &mut s.neg, &mut s.tmp, &s.buf.pending);
        let diff = self.score(&s.user, &s.pos) - self.score(&s.user, &s.neg);
        let l = weight * (1.0 - sigmoid(diff));
        self.pairwise_update(l, user, item, neg, s);
        Some(f64::from(-weight * sigmoid(diff).max(1e-7).ln()))
    }

    /// A known negative (value <= 0) against one of the user's positives drawn at
    /// random: a pairwise step of weight `known_negative_weight` times the example's
    /// weight when the negative scores within the margin of the positive (WARP's
    /// rule; BPR steps by its own logistic rule). Skipped (`None`) when the option
    /// is off or the user has no positive.
    #[inline(always)]
    fn known_negative(&self, e: &Example, rng: &mut Rng, s: &mut Scratch) -> Option<f64> {
        let weight = self.params.known_negative_weight * e.weight;
        if weight <= 0.0 {
            return None;
        }
        let (user, neg) = (e.user as usize, e.item as usize);
        let (row, _) = self.positives.row(user);
        if row.is_empty() {
            return None;
        }
        let pos = row[rng.below(row.len())] as usize;
        self.repr(&self.users, user, &mut s.user, &mut s.tmp, &s.buf.pending);
        self.repr(&self.items, pos, &mut s.pos, &mut s.tmp, &s.buf.pending);
        self.repr(&self.items, neg, &mut s.neg, &mut s.tmp, &s.buf.pending);
        let diff = self.score(&s.user, &s.pos) - self.score(&s.user, &s.neg);
        let l = if matches!(self.params.loss, Loss::Bpr) {
            weight * (1.0 - sigmoid(diff))
        } else if diff < 1.0 {
            weight
        } else {
            return Some(0.0);
        };
        self.pairwise_update(l, user, pos, neg, s);
        Some(f64::from(l))
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
        let max_sampled = self.params.max_sampled;
        let table = self.table;
        if table.is_empty() {
            for sampled in 1..=max_sampled {
                let neg = self.sampler.draw(rng);
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
        if self.has_item_attributes {
            s.stamp = s.stamp.wrapping_add(1);
            if s.stamp == 0 {
                s.attribute_stamp.fill(0);
                s.stamp = 1;
            }
        }
        let mut sampled = 0;
        while sampled < max_sampled {
            let batch = (max_sampled - sampled).min(4);
            let mut draws = [0usize; 4];
            for draw in &mut draws[..batch] {
                *draw = self.sampler.draw(rng);
            }
            let scores = table.dots4(&s.screen, draws, self.avx2);
            for (&neg, &score) in draws[..batch].iter().zip(&scores) {
                sampled += 1;
                let score = if self.has_item_attributes {
                    score + self.attribute_score(neg, s)
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

    /// The user's score for the attribute features of `item` (weighted dot products
    /// plus biases), from live parameters, each feature's computed once per example.
    #[inline(always)]
    fn attribute_score(&self, item: usize, s: &mut Scratch) -> f32 {
        let d = self.d;
        let (cols, weights) = self.item_attributes.row(item);
        let mut total = 0.0;
        for (&g, &w) in cols.iter().zip(weights) {
            let g = g as usize;
            if s.attribute_stamp[g] != s.stamp {
                let feature = &mut s.tmp[..=d];
                self.items.emb.load(g * d, &mut feature[..d]);
                feature[d] = self.items.bias.get(g);
                if let Some(h) = pending_slot(&self.items, g) {
                    s.buf.pending[self.items.index].add(h, 1.0, feature);
                }
                s.attribute_value[g] = dot(&s.user[..d], &feature[..d]) + feature[d];
                s.attribute_stamp[g] = s.stamp;
            }
            total += w * s.attribute_value[g];
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
        self.repr(&self.items, neg, &mut s.neg, &mut s.tmp, &s.buf.pending);
        let l = (weight * self.rank_weights[sampled]).min(MAX_LOSS);
        self.pairwise_update(l, user, pos, neg, s);
        l
    }
}
