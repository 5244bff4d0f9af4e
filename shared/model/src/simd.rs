//! Vector arithmetic and the CPU choice, for training and top-k alike: AVX2 and FMA
//! code paths on x86-64 CPUs that have them, portable code (what AArch64 runs) elsewhere.

/// The CPU has AVX2 and FMA and the AVX2 code path is built: the crate's `portable`
/// feature leaves it out, so that the portable path (the one AArch64 runs) can be
/// tested and measured on x86-64.
pub(crate) fn avx2_fma() -> bool {
    #[cfg(all(target_arch = "x86_64", not(feature = "portable")))]
    {
        std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
    }
    #[cfg(not(all(target_arch = "x86_64", not(feature = "portable"))))]
    false
}

/// The CPU has `prefetchw` (prefetch with intent to write: CPUID leaf 0x8000_0001,
/// ECX bit 8, "PRFCHW"), which the shared records' prefetches use. Asked once per
/// process, as `is_x86_feature_detected!` caches its answers (CPUID exits to the
/// hypervisor in a virtual machine).
pub(crate) fn prefetchw() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| {
            use std::arch::x86_64::{__cpuid, __get_cpuid_max};
            #[allow(unused_unsafe)]
            // SAFETY: CPUID is available on every x86-64 CPU; the extended leaf is
            // only read when the CPU reports it.
            unsafe {
                __get_cpuid_max(0x8000_0000).0 >= 0x8000_0001
                    && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
            }
        })
    }
    #[cfg(not(target_arch = "x86_64"))]
    false
}

#[inline(always)]
pub(crate) fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

/// Dot product with eight independent accumulators, so the compiler can vectorise it.
#[inline(always)]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = a.len() / 8;
    for k in 0..chunks {
        let (x, y) = (&a[k * 8..k * 8 + 8], &b[k * 8..k * 8 + 8]);
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut sum: f32 = acc.iter().sum();
    for k in chunks * 8..a.len() {
        sum += a[k] * b[k];
    }
    sum
}

/// Four dot products of `screen` with rows of the same length (a multiple of 8):
/// four independent accumulator chains, reduced together by horizontal adds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn dots4_avx2(screen: &[f32], rows: [&[f32]; 4]) -> [f32; 4] {
    use std::arch::x86_64::*;
    let n = rows.iter().fold(screen.len(), |n, r| n.min(r.len())) / 8 * 8;
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut k = 0;
    while k < n {
        // SAFETY: k + 8 <= n, which is at most the length of `screen` and each row;
        // unaligned loads.
        unsafe {
            let u = _mm256_loadu_ps(screen.as_ptr().add(k));
            for (a, r) in acc.iter_mut().zip(&rows) {
                *a = _mm256_fmadd_ps(u, _mm256_loadu_ps(r.as_ptr().add(k)), *a);
            }
        }
        k += 8;
    }
    let h = _mm256_hadd_ps(
        _mm256_hadd_ps(acc[0], acc[1]),
        _mm256_hadd_ps(acc[2], acc[3]),
    );
    let sums = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    let mut out = [0.0f32; 4];
    // SAFETY: `out` holds four f32s; unaligned store.
    unsafe { _mm_storeu_ps(out.as_mut_ptr(), sums) };
    out
}

/// The dot product of two arrays of whole vectors of eight (`S` a multiple of 8).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
pub(crate) fn dot_avx2<const S: usize>(a: &[f32; S], b: &[f32; S]) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = _mm256_setzero_ps();
    for (x, y) in a.as_chunks::<8>().0.iter().zip(b.as_chunks::<8>().0) {
        // SAFETY: each chunk holds eight f32s; unaligned loads.
        unsafe {
            acc = _mm256_fmadd_ps(
                _mm256_loadu_ps(x.as_ptr()),
                _mm256_loadu_ps(y.as_ptr()),
                acc,
            );
        }
    }
    let four = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    let two = _mm_add_ps(four, _mm_movehl_ps(four, four));
    _mm_cvtss_f32(_mm_add_ss(two, _mm_movehdup_ps(two)))
}

/// Copies `S` floats (a multiple of 8) from `src` to `dst` as whole vectors.
///
/// # Safety
/// `src` must be valid for reading `S` floats, `dst` for writing them.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn copy_avx2<const S: usize>(src: *const f32, dst: *mut f32) {
    use std::arch::x86_64::*;
    let mut k = 0;
    while k < S {
        // SAFETY: k + 8 <= S, within both buffers as the caller guarantees.
        unsafe { _mm256_storeu_ps(dst.add(k), _mm256_loadu_ps(src.add(k))) };
        k += 8;
    }
}

/// Copies `n` floats (a multiple of 8) out of 64-bit cells other threads write
/// concurrently, eight at a time by vector moves (`vmovups`) in assembly: the packed
/// kernel's records and the general kernel's `Rows::Vector` (see `kernel/cells.rs`
/// on why that is sound).
///
/// # Safety
/// `src` must be 8-byte aligned and valid for reading `n` floats, `dst` valid for
/// writing them; every concurrent access to `src`'s cells must be a relaxed 64-bit
/// atomic access or one of these moves.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn load_shared_avx2(src: *const f32, dst: *mut f32, n: usize) {
    use std::arch::x86_64::*;
    let mut k = 0;
    while k + 8 <= n {
        let v: __m256;
        // SAFETY: k + 8 <= n: a 32-byte read within the caller's range.
        unsafe {
            std::arch::asm!(
                "vmovups {v}, ymmword ptr [{p}]",
                p = in(reg) src.add(k),
                v = out(ymm_reg) v,
                options(nostack, preserves_flags, readonly),
            );
            _mm256_storeu_ps(dst.add(k), v);
        }
        k += 8;
    }
}

/// Writes `n` floats (a multiple of 8) into 64-bit cells other threads read and
/// write concurrently (the inverse of `load_shared_avx2`).
///
/// # Safety
/// As `load_shared_avx2`, with `src` the thread's own values and `dst` the
/// shared cells.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
#[inline]
pub(crate) unsafe fn store_shared_avx2(src: *const f32, dst: *mut f32, n: usize) {
    use std::arch::x86_64::*;
    let mut k = 0;
    while k + 8 <= n {
        // SAFETY: k + 8 <= n: a 32-byte write within the caller's range.
        unsafe {
            let v = _mm256_loadu_ps(src.add(k));
            std::arch::asm!(
                "vmovups ymmword ptr [{p}], {v}",
                p = in(reg) dst.add(k),
                v = in(ymm_reg) v,
                options(nostack, preserves_flags),
            );
        }
        k += 8;
    }
}

/// `out[i] = 1 / sqrt(values[i])`. With AVX2 and FMA: the hardware estimate refined
/// by one Newton-Raphson step (relative error about 1e-7, like a correctly rounded
/// division to within f32 precision), several times faster than a square root and a
/// division per element.
#[inline(always)]
pub(crate) fn inverse_sqrt(values: &[f32], out: &mut [f32], avx2: bool) {
    #[cfg(target_arch = "x86_64")]
    if avx2 {
        // SAFETY: `avx2` is only true when the CPU was found to support AVX2 and FMA.
        unsafe { inverse_sqrt_avx2(values, out) };
        return;
    }
    let _ = avx2;
    for (o, v) in out.iter_mut().zip(values) {
        *o = 1.0 / v.sqrt();
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
fn inverse_sqrt_avx2(values: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = values.len().min(out.len());
    let whole = n / 8 * 8;
    let half = _mm256_set1_ps(0.5);
    let three_halves = _mm256_set1_ps(1.5);
    for (v, o) in values[..whole]
        .chunks_exact(8)
        .zip(out[..whole].chunks_exact_mut(8))
    {
        // SAFETY: both chunks hold exactly 8 f32s; unaligned loads and stores.
        unsafe {
            let x = _mm256_loadu_ps(v.as_ptr());
            let y = _mm256_rsqrt_ps(x);
            // y * (1.5 - 0.5 * x * y * y)
            let xyy = _mm256_mul_ps(_mm256_mul_ps(x, y), y);
            let y = _mm256_mul_ps(y, _mm256_fnmadd_ps(half, xyy, three_halves));
            _mm256_storeu_ps(o.as_mut_ptr(), y);
        }
    }
    for (o, v) in out[whole..n].iter_mut().zip(&values[whole..n]) {
        *o = 1.0 / v.sqrt();
    }
}
