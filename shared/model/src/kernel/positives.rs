//! Known positives: which (user, item) pairs are stored interactions.

use super::cells::prefetch;
use crate::csr::Csr;

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

    /// Prefetches the bounds of `user`'s row, which `contains` reads first when it
    /// searches rows (users x items above the bit matrix's size): issued an example
    /// ahead, like the records' prefetches.
    #[inline(always)]
    pub fn prefetch_bounds(&self, user: usize) {
        if self.bits.is_empty() {
            if let Some(bound) = self.csr.indptr().get(user) {
                prefetch(bound, 2 * std::mem::size_of::<usize>());
            }
        }
    }

    /// Prefetches `user`'s row itself (its bounds are read here) when `contains`
    /// searches rows: issued as the user's example starts, so that the searches after
    /// screening find it in the cache. At a million interactions, without these two
    /// prefetches the searches' cache misses were about a third of the kernel's time.
    #[inline(always)]
    pub fn prefetch_row(&self, user: usize) {
        if !self.bits.is_empty() {
            return;
        }
        let indptr = self.csr.indptr();
        let (Some(&start), Some(&end)) = (indptr.get(user), indptr.get(user + 1)) else {
            return;
        };
        // A short row whole; of a long one, the line the search probes first.
        let (at, bytes) = if end - start <= 64 {
            (start, (end - start) * 4)
        } else {
            ((start + end) / 2, 4)
        };
        if let Some(first) = self.csr.indices().get(at) {
            prefetch(first, bytes);
        }
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
