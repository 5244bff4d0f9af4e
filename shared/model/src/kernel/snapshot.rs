//! The WARP snapshot: item representations as they stood at the start of the epoch,
//! laid out for screening sampled negatives four at a time.

use crate::simd::dot;

/// Eight `f32`s on a 32-byte boundary: one AVX vector.
#[derive(Clone, Copy, Default)]
#[repr(C, align(32))]
struct Block([f32; 8]);

/// The item representations WARP screens sampled negatives against, as they stood
/// at the start of the epoch (see `Kernel::table`). Row `i` holds item `i`'s vector,
/// then its bias, then zeros up to `stride` (a multiple of 8), and starts on a
/// 32-byte boundary: a screening vector holding the user's vector, then 1, then
/// zeros, gives `dot + item bias` as one dot product of whole, aligned vectors.
#[derive(Default)]
pub(crate) struct Table {
    blocks: Vec<Block>,
    stride: usize,
}

impl Table {
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    pub fn stride(&self) -> usize {
        self.stride
    }

    /// Sizes the table for `rows` rows of `d` components, all zero.
    pub fn reset(&mut self, rows: usize, d: usize) {
        self.stride = (d + 1).div_ceil(8) * 8;
        self.blocks.clear();
        self.blocks.resize(rows * self.stride / 8, Block::default());
    }

    /// The values, row-major, `stride` per row.
    pub fn values_mut(&mut self) -> &mut [f32] {
        let len = self.blocks.len() * 8;
        // SAFETY: `Block` is `repr(C)` around `[f32; 8]` (32 bytes, no padding), so
        // the vector's buffer is `len` initialised f32s, borrowed exclusively here.
        unsafe { std::slice::from_raw_parts_mut(self.blocks.as_mut_ptr().cast::<f32>(), len) }
    }

    pub(crate) fn values(&self) -> &[f32] {
        // SAFETY: as in `values_mut`, through a shared borrow.
        unsafe {
            std::slice::from_raw_parts(self.blocks.as_ptr().cast::<f32>(), self.blocks.len() * 8)
        }
    }

    /// `dot(screen, row)` for four rows at once. `screen` has `stride` values.
    #[inline(always)]
    pub(crate) fn dots4(&self, screen: &[f32], rows: [usize; 4], avx2: bool) -> [f32; 4] {
        let stride = self.stride;
        let values = self.values();
        let row = |r: usize| &values[r * stride..(r + 1) * stride];
        let rows = [row(rows[0]), row(rows[1]), row(rows[2]), row(rows[3])];
        let screen = &screen[..stride];
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: `avx2` is only true when the CPU was found to support AVX2 and FMA.
            return unsafe { crate::simd::dots4_avx2(screen, rows) };
        }
        let _ = avx2;
        rows.map(|r| dot(screen, r))
    }
}
