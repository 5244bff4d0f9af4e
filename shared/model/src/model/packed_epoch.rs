//! One epoch of the packed kernel (`kernel::packed`) for `Model::fit_epochs`.

use super::{Data, Model, LIVE_EPOCHS};
use crate::kernel::{across_threads, shuffle_block, Example, Memory, PackedKernel, Records};
use crate::params::Loss;
use crate::rng::Rng;

impl Model {
    /// One epoch of the packed kernel on `records` (users, items) in `order`, split
    /// between threads as `run_epoch` splits it; `shared`: on shared cells even with
    /// one thread.
    pub(super) fn run_packed_epoch(
        &self,
        data: Data<'_>,
        records: &mut [Records; 2],
        snapshot: &mut Records,
        (order, rng): (&mut [Example], &mut Rng),
        avx2: bool,
        shared: bool,
    ) -> (f64, usize) {
        let p = &self.params;
        let threads = p.threads;
        let screened = matches!(p.loss, Loss::Warp) && self.epochs >= LIVE_EPOCHS;
        if screened {
            snapshot.copy_from(&records[1]);
        }
        let seeds: Vec<u64> = (0..threads).map(|_| rng.next_u64()).collect();
        let [users, items] = records;
        let stride = users.stride();
        let snapshot = if screened { snapshot.values() } else { &[] };
        if threads == 1 && !shared {
            let (users, items) = (users.exclusive(), items.exclusive());
            let kernel = self.packed_kernel(data, users, items, snapshot, avx2, stride);
            shuffle_block(order, seeds[0]);
            return kernel.run(order, seeds[0]);
        }
        let (users, items) = (users.cells(), items.cells());
        let kernel = self.packed_kernel(data, users, items, snapshot, avx2, stride);
        across_threads(order, &seeds, |block, seed| kernel.run(block, seed))
    }

    /// The packed kernel for this epoch on `users` and `items` (see `Memory`).
    fn packed_kernel<'a, M: Memory + ?Sized>(
        &self,
        data: Data<'a>,
        users: &'a M,
        items: &'a M,
        snapshot: &'a [f32],
        avx2: bool,
        stride: usize,
    ) -> PackedKernel<'a, M> {
        let p = &self.params;
        PackedKernel {
            d: p.no_components,
            users,
            items,
            snapshot,
            user_alpha: p.user_alpha,
            item_alpha: p.item_alpha,
            learning_rate: self.learning_rate(),
            loss: p.loss,
            max_sampled: p.max_sampled,
            data: data.interactions,
            known: data.known,
            sampler: data.sampler,
            avx2,
            prefetchw: crate::simd::prefetchw(),
            stride,
            rank_weights: data.rank_weights,
        }
    }
}
