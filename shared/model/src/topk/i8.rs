//! Integer dot products of the int8 scan, per CPU.

/// The integer dot-product code path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum I8Kernel {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    AvxVnni,
}

impl I8Kernel {
    pub(super) fn detect(avx2: bool) -> Self {
        #[cfg(target_arch = "x86_64")]
        if avx2 {
            if std::is_x86_feature_detected!("avxvnni") {
                return I8Kernel::AvxVnni;
            }
            return I8Kernel::Avx2;
        }
        let _ = avx2;
        I8Kernel::Portable
    }
}

/// Dot products of consecutive int8 rows (`stride` codes each, a multiple of 32) with
/// int8 query codes (each within -127..=127): four rows at a time, reduced together.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
pub(super) fn dots_i8_avx2(block: &[i8], stride: usize, q: &[i8], out: &mut [i32]) {
    use std::arch::x86_64::*;
    let n = stride.min(q.len()) / 32 * 32;
    // SAFETY (both helpers): callers pass `k + 32 <= n`, within the row and the query;
    // unaligned loads.
    // |code| (unsigned) times the query code with the code's sign: pairs summed to i16
    // (at most 2 x 127 x 127, no saturation), then to i32.
    #[inline(always)]
    unsafe fn step(row: *const i8, q: *const i8, k: usize, acc: __m256i) -> __m256i {
        unsafe {
            let codes = _mm256_loadu_si256(row.add(k) as *const __m256i);
            let qv = _mm256_loadu_si256(q.add(k) as *const __m256i);
            let pairs = _mm256_maddubs_epi16(_mm256_abs_epi8(codes), _mm256_sign_epi8(qv, codes));
            _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)))
        }
    }
    let rows = out.len().min(block.len() / stride.max(1));
    let mut r = 0;
    while r + 4 <= rows {
        let mut acc = [_mm256_setzero_si256(); 4];
        let mut k = 0;
        while k < n {
            for (j, a) in acc.iter_mut().enumerate() {
                // SAFETY: row r + j < rows; k + 32 <= n.
                *a = unsafe { step(block.as_ptr().add((r + j) * stride), q.as_ptr(), k, *a) };
            }
            k += 32;
        }
        let h = _mm256_hadd_epi32(
            _mm256_hadd_epi32(acc[0], acc[1]),
            _mm256_hadd_epi32(acc[2], acc[3]),
        );
        let sums = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        // SAFETY: r + 4 <= rows <= out.len(); unaligned store of four i32s.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(r) as *mut __m128i, sums) };
        r += 4;
    }
    while r < rows {
        let mut acc = _mm256_setzero_si256();
        let mut k = 0;
        while k < n {
            // SAFETY: row r < rows; k + 32 <= n.
            acc = unsafe { step(block.as_ptr().add(r * stride), q.as_ptr(), k, acc) };
            k += 32;
        }
        let sum128 = _mm_add_epi32(
            _mm256_castsi256_si128(acc),
            _mm256_extracti128_si256(acc, 1),
        );
        let sum64 = _mm_add_epi32(sum128, _mm_unpackhi_epi64(sum128, sum128));
        let sum32 = _mm_add_epi32(sum64, _mm_shuffle_epi32(sum64, 1));
        out[r] = _mm_cvtsi128_si32(sum32);
        r += 1;
    }
}

/// Dot products of consecutive int8 rows (`stride` codes each, a multiple of 32) plus
/// 128 with int8 query codes: four rows at a time, products summed in i32 by `vpdpbusd`
/// (unsigned times signed, no intermediate saturation). Each result exceeds the codes'
/// dot product by 128 times the sum of the query codes, which the caller subtracts.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avxvnni")]
pub(super) fn dots_i8_vnni(block: &[i8], stride: usize, q: &[i8], out: &mut [i32]) {
    use std::arch::x86_64::*;
    let n = stride.min(q.len()) / 32 * 32;
    let rows = out.len().min(block.len() / stride.max(1));
    let flip = _mm256_set1_epi8(i8::MIN);
    let mut r = 0;
    while r + 4 <= rows {
        let mut acc = [_mm256_setzero_si256(); 4];
        let mut k = 0;
        while k < n {
            // SAFETY: k + 32 <= n <= q.len(); unaligned load.
            let qv = unsafe { _mm256_loadu_si256(q.as_ptr().add(k) as *const __m256i) };
            for (j, a) in acc.iter_mut().enumerate() {
                // SAFETY: row r + j < rows and k + 32 <= n <= stride; unaligned load.
                let codes = unsafe {
                    _mm256_loadu_si256(block.as_ptr().add((r + j) * stride + k) as *const __m256i)
                };
                // code + 128 as an unsigned byte.
                let unsigned = _mm256_xor_si256(codes, flip);
                *a = _mm256_dpbusd_avx_epi32(*a, unsigned, qv);
            }
            k += 32;
        }
        let h = _mm256_hadd_epi32(
            _mm256_hadd_epi32(acc[0], acc[1]),
            _mm256_hadd_epi32(acc[2], acc[3]),
        );
        let sums = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
        // SAFETY: r + 4 <= rows <= out.len(); unaligned store of four i32s.
        unsafe { _mm_storeu_si128(out.as_mut_ptr().add(r) as *mut __m128i, sums) };
        r += 4;
    }
    while r < rows {
        let mut sum = 0i32;
        for (&c, &qv) in block[r * stride..r * stride + n].iter().zip(&q[..n]) {
            sum += (i32::from(c) + 128) * i32::from(qv);
        }
        out[r] = sum;
        r += 1;
    }
}
