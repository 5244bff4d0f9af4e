//! Where the packed kernel's records live: one buffer per side (`Records`), read and
//! written through `Memory`: as cells the training threads share (relaxed atomics,
//! or with AVX2 whole aligned vector moves that act as such: see `cells.rs`), or as
//! one thread's own memory.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Sixteen floats on a cache-line boundary.
#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Line([f32; 16]);

/// One side's records, `stride` floats each.
#[derive(Clone, Default)]
pub(crate) struct Records {
    lines: Vec<Line>,
    stride: usize,
    rows: usize,
}

impl Records {
    /// `rows` records of `stride` floats, all zero.
    pub fn new(rows: usize, stride: usize) -> Self {
        Records {
            lines: vec![Line::default(); (rows * stride).div_ceil(16)],
            stride,
            rows,
        }
    }

    /// A copy of `other`'s values (same shape), for the screening snapshot.
    pub fn copy_from(&mut self, other: &Records) {
        self.lines.clone_from(&other.lines);
        self.stride = other.stride;
        self.rows = other.rows;
    }

    pub fn stride(&self) -> usize {
        self.stride
    }

    pub fn values(&self) -> &[f32] {
        // SAFETY: `Line` is `repr(C)` around `[f32; 16]` (64 bytes, no padding), so the
        // buffer is `16 * len` initialised f32s, borrowed shared here.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast(), self.lines.len() * 16) }
    }

    pub fn values_mut(&mut self) -> &mut [f32] {
        // SAFETY: as in `values`, borrowed exclusively.
        unsafe {
            std::slice::from_raw_parts_mut(self.lines.as_mut_ptr().cast(), self.lines.len() * 16)
        }
    }

    /// The records as one thread's own memory.
    pub fn exclusive(&mut self) -> &[Cell<f32>] {
        Cell::from_mut(self.values_mut()).as_slice_of_cells()
    }

    /// The records as cells the training threads share (see `cells.rs`: relaxed
    /// atomic loads and stores, two f32s per 64-bit cell).
    pub fn cells(&mut self) -> &[AtomicU64] {
        let len = self.lines.len() * 8;
        // SAFETY: the buffer is 64-byte aligned and holds 16 * lines f32s, so it is a
        // valid `[AtomicU64]` of 8 * lines cells (every bit pattern is valid). The
        // exclusive borrow of `self` lasts as long as the view, so nothing accesses
        // the buffer except through it.
        unsafe { std::slice::from_raw_parts(self.lines.as_mut_ptr().cast::<AtomicU64>(), len) }
    }
}

/// Where the records live: `[AtomicU64]`, cells the training threads share, or
/// `[Cell<f32>]`, one thread's own records. `row` is a user or item index, below the
/// number of records.
pub(crate) trait Memory {
    fn load<const S: usize>(&self, row: usize, avx2: bool) -> [f32; S];
    fn store<const S: usize>(&self, row: usize, rec: &[f32; S], avx2: bool);
    /// Prefetches record `row`'s cache lines; with `write`, for writing (see
    /// `cells::prefetch_write`; only `simd::prefetchw` CPUs may be asked to).
    fn prefetch<const S: usize>(&self, row: usize, write: bool);
}

impl Memory for [AtomicU64] {
    /// With `avx2`, whole aligned vectors of eight floats moved in assembly (see
    /// `cells.rs` on why that is sound); one thread's own memory costs no less
    /// (docs/benchmarks.md). Otherwise relaxed loads and stores of 64-bit cells.
    #[inline(always)]
    fn load<const S: usize>(&self, row: usize, avx2: bool) -> [f32; S] {
        let mut out = [0.0f32; S];
        let cells = &self[row * (S / 2)..(row + 1) * (S / 2)];
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: `avx2` is only true when the CPU supports AVX2; the record is
            // `S` floats (a multiple of 8) at a multiple of 32 bytes into the 64-byte
            // aligned buffer (`Records::cells`), and with `avx2` every access to the
            // shared records during the epoch is such a vector move.
            unsafe { crate::simd::load_shared_avx2(cells.as_ptr().cast(), out.as_mut_ptr(), S) };
            return out;
        }
        let _ = avx2;
        for (i, cell) in cells.iter().enumerate() {
            let v = cell.load(Relaxed);
            out[2 * i] = f32::from_bits(v as u32);
            out[2 * i + 1] = f32::from_bits((v >> 32) as u32);
        }
        out
    }

    #[inline(always)]
    fn store<const S: usize>(&self, row: usize, rec: &[f32; S], avx2: bool) {
        let cells = &self[row * (S / 2)..(row + 1) * (S / 2)];
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: as in `load`; writing through the cells' pointer is writing
            // through the cells (atomics are `UnsafeCell`s).
            let to = cells.as_ptr().cast::<f32>().cast_mut();
            unsafe { crate::simd::store_shared_avx2(rec.as_ptr(), to, S) };
            return;
        }
        let _ = avx2;
        for (i, cell) in cells.iter().enumerate() {
            let (lo, hi) = (rec[2 * i].to_bits(), rec[2 * i + 1].to_bits());
            cell.store(u64::from(lo) | (u64::from(hi) << 32), Relaxed);
        }
    }

    #[inline(always)]
    fn prefetch<const S: usize>(&self, row: usize, write: bool) {
        if let Some(first) = self.get(row * (S / 2)) {
            #[cfg(target_arch = "x86_64")]
            if write {
                super::cells::prefetch_write(first, S * 4);
                return;
            }
            let _ = write;
            super::cells::prefetch(first, S * 4);
        }
    }
}

impl Memory for [Cell<f32>] {
    #[inline(always)]
    fn load<const S: usize>(&self, row: usize, avx2: bool) -> [f32; S] {
        let mut out = [0.0f32; S];
        let cells = &self.as_chunks::<S>().0[row];
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: `avx2` is only true when the CPU supports AVX2; `cells` and
            // `out` hold `S` f32s each (`Cell<f32>` has f32's layout), and nothing
            // else accesses this thread's own cells meanwhile.
            unsafe { crate::simd::copy_avx2::<S>(cells.as_ptr().cast(), out.as_mut_ptr()) };
            return out;
        }
        let _ = avx2;
        for (o, c) in out.iter_mut().zip(cells) {
            *o = c.get();
        }
        out
    }

    #[inline(always)]
    fn store<const S: usize>(&self, row: usize, rec: &[f32; S], avx2: bool) {
        let cells = &self.as_chunks::<S>().0[row];
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            // SAFETY: as in `load`; the pointer covers the whole record, and writing
            // through it is writing through the cells (`Cell` is an `UnsafeCell`).
            let to = cells.as_ptr().cast::<f32>().cast_mut();
            unsafe { crate::simd::copy_avx2::<S>(rec.as_ptr(), to) };
            return;
        }
        let _ = avx2;
        for (c, v) in cells.iter().zip(rec) {
            c.set(*v);
        }
    }

    #[inline(always)]
    /// Ignores `write`: no other core holds the thread's own records.
    fn prefetch<const S: usize>(&self, row: usize, _write: bool) {
        if let Some(first) = self.get(row * S) {
            super::cells::prefetch(first, S * 4);
        }
    }
}
