//! The learning-rate schedules (adagrad, adadelta): one step on the features of a row.

use super::attributes::pending_slot;
use super::{Buffers, Kernel, Side};
use crate::params::Schedule;
use crate::simd::inverse_sqrt;

impl<'a> Kernel<'a> {
    /// Applies gradient `scale * grad` (per component) and `grad_bias` to every
    /// feature of `row`, each scaled by the feature's weight, under the configured
    /// schedule. `known`: the row's representation as just read, reused as the
    /// parameters when the row is a single feature of weight 1 (identity features),
    /// saving a reload.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(super) fn update(
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
        let learning_rate = self.learning_rate;
        let sw = scale * w;
        let width = side.acc_width;
        let adagrad = matches!(self.params.schedule, Schedule::Adagrad { .. });
        if let (Some(h), true) = (pending_slot(side, f), adagrad) {
            // An attribute feature: the step goes to the thread's pending updates.
            let pending = &mut buf.pending[side.index];
            let (p, a) = (&mut buf.params[..d], &mut buf.acc);
            let (pe, pa) = (
                &mut pending.emb[h * d..(h + 1) * d],
                &mut pending.acc[h * width..(h + 1) * width],
            );
            side.emb.load(f * d, p);
            side.emb_acc.load(f * width, &mut a[..width]);
            for c in 0..d {
                p[c] += pe[c];
            }
            for (a, pa) in a.iter_mut().zip(pa.iter()) {
                *a += pa;
            }
            let r = &mut buf.rate;
            self.adagrad_rates(a, width, r);
            let mut squares = 0.0;
            for c in 0..d {
                let g = grad[c] * sw;
                pe[c] -= learning_rate * r[c] * (g + alpha * p[c]);
                if width == 1 {
                    squares += g * g;
                } else {
                    pa[c] += g * g;
                }
            }
            if width == 1 {
                pa[0] += squares / d as f32;
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
        let (p, a, st) = (&mut buf.params[..d], &mut buf.acc, &mut buf.step[..d]);
        let base = f * d;
        match known {
            Some(known) => p.copy_from_slice(&known[..d]),
            None => side.emb.load(base, p),
        }
        side.emb_acc.load(f * width, &mut a[..width]);
        match self.params.schedule {
            Schedule::Adagrad { .. } => {
                let r = &mut buf.rate;
                self.adagrad_rates(a, width, r);
                let mut squares = 0.0;
                for c in 0..d {
                    let g = grad[c] * sw;
                    let rate = learning_rate * r[c];
                    p[c] -= rate * (g + alpha * p[c]);
                    if width == 1 {
                        squares += g * g;
                    } else {
                        a[c] += g * g;
                    }
                }
                if width == 1 {
                    a[0] += squares / d as f32;
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
        side.emb_acc.store(f * width, &a[..width]);
    }

    /// Adagrad's per-component rate factors `1 / sqrt(accumulator)` into `rates`
    /// (at least d values): from one accumulator per component (`width` d; `acc`
    /// padded with 1.0 to whole vectors) or one for the row (`width` 1).
    #[inline(always)]
    fn adagrad_rates(&self, acc: &[f32], width: usize, rates: &mut [f32]) {
        let d = self.d;
        if width == 1 {
            rates[..d].fill(1.0 / acc[0].sqrt());
        } else {
            let padded = d.div_ceil(8) * 8;
            inverse_sqrt(&acc[..padded], &mut rates[..padded], self.avx2);
        }
    }
}

#[inline(always)]
fn adadelta(g: f32, acc: f32, step: f32, rho: f32, eps: f32) -> (f32, f32, f32) {
    let acc = rho * acc + (1.0 - rho) * g * g;
    let rate = (step + eps).sqrt() / (acc + eps).sqrt();
    let delta = rate * g;
    let step = rho * step + (1.0 - rho) * delta * delta;
    (delta, acc, step)
}
