//! Known positives: which (user, item) pairs are stored interactions.

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
