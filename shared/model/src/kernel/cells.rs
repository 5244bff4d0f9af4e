//! Parameter cells shared by the training threads.
//!
//! Soundness: threads read and write the same parameter cells concurrently, which
//! through `&mut f32` or raw pointers would be a data race and undefined behaviour in
//! Rust. Every shared cell is therefore accessed as an `AtomicU32` holding the f32's
//! bits, with `Relaxed` loads and stores. A read-modify-write of one cell is not
//! atomic as a whole, so two threads updating the same cell at once may lose one
//! step (exactly the tolerated race of Hogwild SGD), but every access is defined
//! behaviour. On x86-64 and AArch64 relaxed 32-bit loads and stores compile to plain
//! moves; the cost is that the compiler will not vectorise loops over them, so rows
//! are copied into thread-local buffers (two f32s per 64-bit cell where aligned),
//! computed on with vector instructions, and stored back: the atomics cost only the
//! scalar loads and stores of each touched row. What that costs against plain (racy)
//! vector moves is measured in docs/benchmarks.md.
//!
//! With AVX2 on x86-64 the packed kernel's records (`records.rs`) and the general
//! kernel's rows (`Rows::Vector`) go one step further: they are loaded and stored as
//! whole 32-byte vectors, by `vmovups` written in inline assembly
//! (`simd::load_shared_avx2`, `simd::store_shared_avx2`). Rust's memory model does
//! not see inside an `asm!` block; what the block does is what the hardware does, and
//! x86-64 performs a vector move as accesses of its naturally aligned parts, never
//! tearing an aligned 4- or 8-byte value (an 8-byte cell at a multiple of 8 never
//! crosses a cache line). So each such move acts as relaxed atomic loads or stores of
//! its 8-byte cells, which Rust code could have written, and during a fit every
//! concurrent access to a cell is one of these moves or a relaxed atomic access of
//! the same 8 bytes: no access the compiler sees races with another. Plain vector
//! loads or intrinsics instead would be data races in Rust's model however the
//! hardware ran them.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// A shared view of an `f32` buffer as atomic cells.
#[derive(Clone, Copy)]
pub(crate) struct Cells<'a>(&'a [AtomicU32]);

impl<'a> Cells<'a> {
    pub fn new(values: &'a mut [f32]) -> Self {
        let len = values.len();
        let ptr = values.as_mut_ptr().cast::<AtomicU32>();
        // SAFETY: `AtomicU32` has the same size as `u32`/`f32` and, like `f32`, an
        // alignment of 4, so the buffer is a valid `[AtomicU32]` of the same length.
        // The exclusive borrow of `values` lasts as long as the returned view, so no
        // non-atomic access to the buffer can happen while the view exists.
        Cells(unsafe { std::slice::from_raw_parts(ptr, len) })
    }

    #[inline(always)]
    pub fn get(&self, i: usize) -> f32 {
        f32::from_bits(self.0[i].load(Relaxed))
    }

    #[inline(always)]
    pub fn prefetch(&self, i: usize) {
        if let Some(c) = self.0.get(i) {
            prefetch(c, 4);
        }
    }

    #[inline(always)]
    pub fn set(&self, i: usize, v: f32) {
        self.0[i].store(v.to_bits(), Relaxed)
    }
}

/// A shared view of a row-major `f32` matrix for whole-row loads and stores. Where
/// the row length is even and the buffer 8-byte aligned (on little-endian targets
/// with 64-bit atomics), cells hold two `f32`s each, halving the number of memory
/// operations; otherwise one. Within a view every access uses the same cell width,
/// so no two atomic accesses of different sizes ever overlap.
///
/// `Vector`: the 64-bit cells of `Wide`, with AVX2 moved eight floats at a time by
/// vector moves in assembly (`simd::load_shared_avx2`), which act as relaxed accesses
/// of each cell as the packed kernel's do (module documentation); a row's last values
/// short of eight as `Wide` moves them. Every access to the view
/// is one or the other, so every cell is accessed whole, by relaxed 64-bit accesses.
#[derive(Clone, Copy)]
pub(crate) enum Rows<'a> {
    Narrow(&'a [AtomicU32]),
    #[cfg(all(target_endian = "little", target_has_atomic = "64"))]
    Wide(&'a [std::sync::atomic::AtomicU64]),
    #[cfg(target_arch = "x86_64")]
    Vector(&'a [std::sync::atomic::AtomicU64]),
}

impl<'a> Rows<'a> {
    /// `Vector` where `Wide` is possible and `avx2` (the CPU has AVX2: `simd::avx2_fma`).
    pub fn new_for(values: &'a mut [f32], row_len: usize, avx2: bool) -> Self {
        #[cfg(not(target_arch = "x86_64"))]
        let _ = avx2;
        match Rows::new(values, row_len) {
            #[cfg(target_arch = "x86_64")]
            Rows::Wide(cells) if avx2 => Rows::Vector(cells),
            rows => rows,
        }
    }

    pub fn new(values: &'a mut [f32], row_len: usize) -> Self {
        #[cfg(all(target_endian = "little", target_has_atomic = "64"))]
        {
            use std::sync::atomic::AtomicU64;
            let ptr = values.as_mut_ptr();
            if row_len.is_multiple_of(2)
                && values.len().is_multiple_of(2)
                && (ptr as usize).is_multiple_of(std::mem::align_of::<AtomicU64>())
            {
                // SAFETY: the buffer is 8-byte aligned (checked) and holds an even
                // number of f32s, so it is a valid `[AtomicU64]` of half the length
                // (AtomicU64 has the size and, as checked, the alignment of two f32s,
                // and every bit pattern is valid). The exclusive borrow of `values`
                // lasts as long as the view, so nothing else accesses the buffer.
                let cells = unsafe {
                    std::slice::from_raw_parts(ptr.cast::<AtomicU64>(), values.len() / 2)
                };
                return Rows::Wide(cells);
            }
        }
        Rows::Narrow(Cells::new(values).0)
    }

    /// Copies `out.len()` values starting at element `start` (a row start).
    #[inline(always)]
    pub fn load(&self, start: usize, out: &mut [f32]) {
        match self {
            Rows::Narrow(cells) => load(&cells[start..start + out.len()], out),
            #[cfg(all(target_endian = "little", target_has_atomic = "64"))]
            Rows::Wide(cells) => {
                let n = out.len() / 2;
                let (cells, out) = (&cells[start / 2..start / 2 + n], &mut out[..2 * n]);
                load_wide(cells, out);
            }
            #[cfg(target_arch = "x86_64")]
            Rows::Vector(cells) => {
                let n = out.len() / 2;
                let (cells, out) = (&cells[start / 2..start / 2 + n], &mut out[..2 * n]);
                let whole = n / 4 * 4;
                // SAFETY: `Vector` is only made when the CPU has AVX2; the cells hold
                // `2 * whole` floats, which `out` has room for (see the enum).
                unsafe {
                    crate::simd::load_shared_avx2(
                        cells.as_ptr().cast(),
                        out.as_mut_ptr(),
                        2 * whole,
                    )
                };
                load_wide(&cells[whole..], &mut out[2 * whole..]);
            }
        }
    }

    /// Prefetches `len` values starting at element `start`.
    #[inline(always)]
    pub fn prefetch(&self, start: usize, len: usize) {
        let (ptr, total) = match self {
            Rows::Narrow(cells) => (cells.as_ptr().cast::<f32>(), cells.len()),
            #[cfg(all(target_endian = "little", target_has_atomic = "64"))]
            Rows::Wide(cells) => (cells.as_ptr().cast::<f32>(), cells.len() * 2),
            #[cfg(target_arch = "x86_64")]
            Rows::Vector(cells) => (cells.as_ptr().cast::<f32>(), cells.len() * 2),
        };
        if start + len <= total {
            prefetch(ptr.wrapping_add(start), len * 4);
        }
    }

    /// Stores `values` starting at element `start` (a row start).
    #[inline(always)]
    pub fn store(&self, start: usize, values: &[f32]) {
        match self {
            Rows::Narrow(cells) => store(&cells[start..start + values.len()], values),
            #[cfg(all(target_endian = "little", target_has_atomic = "64"))]
            Rows::Wide(cells) => {
                let n = values.len() / 2;
                let (cells, values) = (&cells[start / 2..start / 2 + n], &values[..2 * n]);
                store_wide(cells, values);
            }
            #[cfg(target_arch = "x86_64")]
            Rows::Vector(cells) => {
                let n = values.len() / 2;
                let (cells, values) = (&cells[start / 2..start / 2 + n], &values[..2 * n]);
                let whole = n / 4 * 4;
                // SAFETY: as in `load`; writing through the cells' pointer is writing
                // through the cells (atomics are `UnsafeCell`s).
                unsafe {
                    crate::simd::store_shared_avx2(
                        values.as_ptr(),
                        cells.as_ptr().cast::<f32>().cast_mut(),
                        2 * whole,
                    )
                };
                store_wide(&cells[whole..], &values[2 * whole..]);
            }
        }
    }
}

#[cfg(all(target_endian = "little", target_has_atomic = "64"))]
#[inline(always)]
fn load_wide(cells: &[std::sync::atomic::AtomicU64], out: &mut [f32]) {
    for (c, o) in cells.iter().zip(out.as_chunks_mut::<2>().0) {
        let v = c.load(Relaxed);
        *o = [f32::from_bits(v as u32), f32::from_bits((v >> 32) as u32)];
    }
}

#[cfg(all(target_endian = "little", target_has_atomic = "64"))]
#[inline(always)]
fn store_wide(cells: &[std::sync::atomic::AtomicU64], values: &[f32]) {
    for (c, v) in cells.iter().zip(values.as_chunks::<2>().0) {
        c.store(
            u64::from(v[0].to_bits()) | (u64::from(v[1].to_bits()) << 32),
            Relaxed,
        );
    }
}

/// Hints the CPU to bring the cache lines of `len` bytes at `ptr` closer. A prefetch
/// is not a memory access (it cannot fault or race), only a hint; elsewhere than on
/// x86-64 it does nothing.
#[inline(always)]
pub(super) fn prefetch<T>(ptr: *const T, len: usize) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = ptr as usize & !63;
        let end = ptr as usize + len;
        let mut line = start;
        while line < end {
            // SAFETY: prefetching has no effect on memory or program state and is
            // defined for any address; SSE is part of the x86-64 baseline.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(line as *const i8) };
            line += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (ptr, len);
}

/// Prefetches the cache lines of `len` bytes from `ptr` with intent to write
/// (`prefetchw`), so that a line another core holds comes over once, owned, rather
/// than shared for the load and then again for the store. Only a hint, like
/// `prefetch`; only for CPUs that have the instruction (`simd::prefetchw`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) fn prefetch_write<T>(ptr: *const T, len: usize) {
    let start = ptr as usize & !63;
    let end = ptr as usize + len;
    let mut line = start;
    while line < end {
        // SAFETY: a prefetch is not a memory access: it cannot fault, and it changes
        // no memory or register state the program sees.
        unsafe {
            std::arch::asm!(
                "prefetchw byte ptr [{p}]",
                p = in(reg) line,
                options(nostack, preserves_flags, readonly),
            )
        };
        line += 64;
    }
}

#[inline(always)]
fn load(cells: &[AtomicU32], out: &mut [f32]) {
    for (o, c) in out.iter_mut().zip(cells) {
        *o = f32::from_bits(c.load(Relaxed));
    }
}

#[inline(always)]
fn store(cells: &[AtomicU32], values: &[f32]) {
    for (c, v) in cells.iter().zip(values) {
        c.store(v.to_bits(), Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::Rows;

    /// Whole rows and parts of rows, of lengths with and without a tail short of
    /// eight values, read back what was written and leave their neighbours alone, in
    /// every view this CPU can make (`Vector` with AVX2).
    #[test]
    fn rows_load_and_store_exactly_their_values() {
        let avx2 = crate::simd::avx2_fma();
        for len in [2usize, 6, 8, 10, 16, 18, 30, 64, 66] {
            for vector in [false, true] {
                let rows = 5;
                let mut values: Vec<f32> = (0..rows * len).map(|i| i as f32).collect();
                let before = values.clone();
                // The allocator's alignment (16 bytes on the platforms built for)
                // makes the 64-bit views possible.
                let aligned = (values.as_ptr() as usize).is_multiple_of(8);
                let view = Rows::new_for(&mut values, len, vector && avx2);
                #[cfg(target_arch = "x86_64")]
                assert_eq!(
                    matches!(view, Rows::Vector(_)),
                    vector && avx2 && aligned,
                    "len {len}"
                );
                let mut out = vec![0.0; len];
                view.load(2 * len, &mut out);
                assert_eq!(out, before[2 * len..3 * len], "len {len}");
                let new: Vec<f32> = (0..len).map(|i| -(i as f32) - 0.5).collect();
                view.store(3 * len, &new);
                view.load(3 * len, &mut out);
                assert_eq!(out, new, "len {len}");
                let mut expected = before.clone();
                expected[3 * len..4 * len].copy_from_slice(&new);
                assert_eq!(values, expected, "len {len}: only row 3 changed");
            }
        }
    }
}
