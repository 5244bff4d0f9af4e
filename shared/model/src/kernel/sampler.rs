//! How WARP draws its negatives: uniformly over the catalogue (LightFM's way), or in
//! proportion to a power of each item's popularity, from an alias table (one draw,
//! one comparison); and how BPR draws its negative.

use super::Known;
use crate::csr::Interactions;
use crate::rng::Rng;

/// BPR's negative for `user`'s positive `item`, skipping the user's known positives
/// (bounded redraws): half the draws uniform over the catalogue, half the item of a
/// random interaction (popularity-weighted, as LightFM draws them). Popular negatives
/// sharpen the top of the ranking early; uniform ones also push down items nobody
/// interacted with.
#[inline(always)]
pub(crate) fn bpr_negative(
    data: &Interactions,
    known: &Known<'_>,
    user: usize,
    item: usize,
    rng: &mut Rng,
) -> usize {
    let nnz = data.items.len();
    let mut neg = item;
    for _ in 0..32 {
        neg = if rng.next_u32() & 1 == 0 {
            rng.below(data.n_items)
        } else {
            data.items[rng.below(nnz)] as usize
        };
        if !known.contains(user, neg) {
            break;
        }
    }
    neg
}

pub(crate) struct Sampler {
    n: usize,
    /// Per slot, the probability of keeping the slot's own item; empty: uniform.
    keep: Vec<f32>,
    /// Per slot, the item drawn when the slot's own is not kept.
    alias: Vec<u32>,
}

impl Sampler {
    pub fn uniform(n: usize) -> Self {
        Sampler {
            n,
            keep: Vec::new(),
            alias: Vec::new(),
        }
    }

    /// Draws item `i` with probability proportional to `(count_i + 1) ^ exponent`,
    /// `count_i` its number of positives in `items`.
    pub fn popularity(n: usize, items: impl Iterator<Item = u32>, exponent: f32) -> Self {
        if n == 0 || exponent == 0.0 {
            return Sampler::uniform(n);
        }
        let mut counts = vec![1.0f64; n];
        for i in items {
            if let Some(c) = counts.get_mut(i as usize) {
                *c += 1.0;
            }
        }
        let weights: Vec<f64> = counts.iter().map(|c| c.powf(f64::from(exponent))).collect();
        let total: f64 = weights.iter().sum();
        // Vose's alias method: scaled weights below 1 are topped up from one above.
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut keep = vec![1.0f32; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) =
            (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            keep[s] = scaled[s] as f32;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        Sampler { n, keep, alias }
    }

    #[inline(always)]
    pub fn draw(&self, rng: &mut Rng) -> usize {
        let slot = rng.below(self.n);
        match self.keep.get(slot) {
            None => slot,
            Some(&keep) => {
                if ((rng.next_u32() >> 8) as f32) * (1.0 / (1u32 << 24) as f32) < keep {
                    slot
                } else {
                    self.alias[slot] as usize
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_follow_the_powered_popularity() {
        // Item 0 has 7 positives, item 1 one, item 2 none: weights (8, 2, 1)^1.
        let items = [0u32, 0, 0, 0, 0, 0, 0, 1];
        let sampler = Sampler::popularity(3, items.iter().copied(), 1.0);
        let mut rng = Rng::new(7);
        let mut seen = [0usize; 3];
        let draws = 110_000;
        for _ in 0..draws {
            seen[sampler.draw(&mut rng)] += 1;
        }
        for (i, expected) in [8.0 / 11.0, 2.0 / 11.0, 1.0 / 11.0].iter().enumerate() {
            let share = seen[i] as f64 / draws as f64;
            assert!(
                (share - expected).abs() < 0.01,
                "item {i}: {share} vs {expected}"
            );
        }
    }

    #[test]
    fn exponent_zero_is_uniform() {
        let sampler = Sampler::popularity(4, [0u32; 100].into_iter(), 0.0);
        let mut rng = Rng::new(3);
        let mut seen = [0usize; 4];
        for _ in 0..40_000 {
            seen[sampler.draw(&mut rng)] += 1;
        }
        assert!(
            seen.iter().all(|&c| (9_000..11_000).contains(&c)),
            "{seen:?}"
        );
    }
}
