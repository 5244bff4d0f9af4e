use super::i8::I8Kernel;
use super::quantized::QueryCodes;
use super::*;
use crate::error::ModelError;
use ndarray::{Array1, Array2};

/// A small deterministic generator (xorshift) for test data.
fn values(n: usize, seed: u64, levels: u64) -> Vec<f32> {
    let mut s = seed.max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            // Few levels make ties common.
            (s % levels) as f32 / levels as f32 - 0.5
        })
        .collect()
}

/// The reference: every score, sorted by score descending then index ascending.
fn reference(scores: &[f32], k: usize, exclude: &Bitset) -> Vec<(usize, f32)> {
    let mut all: Vec<(usize, f32)> = scores
        .iter()
        .copied()
        .enumerate()
        .filter(|(i, s)| s.is_finite() && !exclude.contains(*i))
        .collect();
    all.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    all.truncate(k);
    all
}

#[test]
fn top_k_equals_a_full_stable_sort_with_ties_to_the_lower_index() {
    for (rows, dim, levels) in [(1, 3, 5), (7, 5, 3), (1000, 16, 4), (4099, 64, 1000)] {
        let m = Array2::from_shape_vec((rows, dim), values(rows * dim, 7, levels)).expect("shape");
        let b = Array1::from(values(rows, 11, levels));
        let items = ItemMatrix::new(m.view(), b.view()).expect("matrix");
        for seed in 1..20u64 {
            let v = values(dim, seed, levels);
            let q = items.query(&v).expect("query");
            let scores = items.scores(&q, 0.25);
            let mut exclude = Bitset::new(rows);
            for i in values(8, seed + 100, 1 << 20) {
                exclude.insert(((i + 0.5) * rows as f32) as usize);
            }
            for k in [1, 3, 10, 100, rows + 5] {
                assert_eq!(
                    items.top_k(&q, 0.25, k, Some(&exclude)),
                    reference(&scores, k, &exclude),
                    "rows {rows} dim {dim} k {k} seed {seed}"
                );
            }
            assert_eq!(
                items.top_k(&q, 0.25, 10, None),
                reference(&scores, 10, &Bitset::new(rows))
            );
        }
    }
}

#[test]
fn scores_are_dot_plus_biases() {
    let m = Array2::from_shape_vec((2, 3), vec![1.0, 2.0, 3.0, -1.0, 0.0, 0.5]).expect("m");
    let b = Array1::from(vec![0.5, -0.5]);
    let items = ItemMatrix::new(m.view(), b.view()).expect("matrix");
    let q = items.query(&[1.0, 1.0, 2.0]).expect("query");
    assert_eq!(items.scores(&q, 1.0), vec![10.5, 0.5]);
    assert_eq!(items.top_k(&q, 1.0, 1, None), vec![(0, 10.5)]);
    assert!(matches!(items.query(&[1.0]), Err(ModelError::Input(_))));
    assert!(matches!(
        ItemMatrix::new(m.view(), Array1::from(vec![0.0]).view()),
        Err(ModelError::Shape(_))
    ));
    assert_eq!(items.top_k(&q, 0.0, 0, None), vec![]);
}

/// The int8 scan with exact re-ranking returns exactly what the f32 scan returns,
/// over 1,000 random queries, with and without exclusions.
#[test]
fn quantized_scan_equals_the_exact_scan() {
    let (rows, dim) = (3001, 64);
    let m = Array2::from_shape_vec((rows, dim), values(rows * dim, 5, 1 << 20)).expect("m");
    let b = Array1::from(values(rows, 9, 1 << 20));
    let items = ItemMatrix::new(m.view(), b.view()).expect("matrix");
    let quantized = QuantizedItems::new(&items);
    assert!(quantized.bytes() * 3 < items.bytes());
    let mut differences = 0;
    for seed in 1..=1000u64 {
        let v = values(dim, seed * 7919, 1 << 20);
        let q = items.query(&v).expect("query");
        let mut exclude = Bitset::new(rows);
        if seed % 2 == 0 {
            for i in values(20, seed, 1 << 20) {
                exclude.insert(((i + 0.5) * rows as f32) as usize);
            }
        }
        let k = [1, 10, 100][seed as usize % 3];
        let exact = items.top_k(&q, 0.5, k, Some(&exclude));
        let fast = quantized.top_k(&items, &q, 0.5, k, Some(&exclude));
        if exact != fast {
            differences += 1;
        }
    }
    assert_eq!(differences, 0);
    // Ties (few distinct values) too.
    let m = Array2::from_shape_vec((500, 8), values(4000, 3, 3)).expect("m");
    let b = Array1::from(values(500, 4, 3));
    let items = ItemMatrix::new(m.view(), b.view()).expect("matrix");
    let quantized = QuantizedItems::new(&items);
    for seed in 1..50u64 {
        let q = items.query(&values(8, seed, 3)).expect("query");
        assert_eq!(
            quantized.top_k(&items, &q, 0.0, 10, None),
            items.top_k(&q, 0.0, 10, None)
        );
    }
}

/// Rows far from unit scale (tiny, huge, all zero) and biases far from the
/// scores' range still give exactly the f32 scan's answer.
#[test]
fn extreme_rows_still_rank_exactly() {
    let (rows, dim) = (1500, 32);
    let mut m = Array2::from_shape_vec((rows, dim), values(rows * dim, 21, 1 << 20)).expect("m");
    let mut b = Array1::from(values(rows, 23, 1 << 20));
    for r in 0..rows {
        let (row_factor, bias) = match r % 6 {
            0 => (1e-7, b[r] * 1e-7),
            1 => (3e3, b[r] * 1e5),
            2 => (1e-3, b[r] * 3e-6),
            3 => (0.0, b[r]),
            4 => (1.0, 70_000.0 * b[r].signum()),
            _ => (1.0, b[r]),
        };
        m.row_mut(r).mapv_inplace(|x| x * row_factor);
        b[r] = bias;
    }
    let items = ItemMatrix::new(m.view(), b.view()).expect("matrix");
    let quantized = QuantizedItems::new(&items);
    for seed in 1..=200u64 {
        let q = items
            .query(&values(dim, seed * 13, 1 << 20))
            .expect("query");
        let k = [1, 10, 100][seed as usize % 3];
        assert_eq!(
            quantized.top_k(&items, &q, 0.5, k, None),
            items.top_k(&q, 0.5, k, None),
            "seed {seed}"
        );
    }
}

/// With half-precision rows for the re-rank, the answer is exactly the f32 scan's
/// over the same (rounded) values, and every rounded value is within 2^-11.
#[test]
fn half_precision_rows_rank_exactly_as_their_f32_matrix() {
    let (rows, dim) = (2003, 48);
    let m = Array2::from_shape_vec((rows, dim), values(rows * dim, 15, 1 << 20)).expect("m");
    let b = Array1::from(values(rows, 19, 1 << 20));
    let half = HalfMatrix::new(m.view(), b.view()).expect("half");
    let items = half.to_f32();
    assert!(half.bytes() * 2 <= items.bytes());
    for r in [0, 1, 1000, rows - 1] {
        for (&x, &h) in m.row(r).iter().zip(&half.vector(r)) {
            assert!(
                (x - h).abs() <= x.abs() * 2f32.powi(-11) + 1e-7,
                "{x} vs {h}"
            );
        }
        assert_eq!(half.bias(r), b[r]);
    }
    let quantized = QuantizedItems::new(&half);
    let mut differences = 0;
    for seed in 1..=1000u64 {
        let q = items
            .query(&values(dim, seed * 31, 1 << 20))
            .expect("query");
        if seed % 100 == 0 {
            assert_eq!(half.scores(&q, 0.5), items.scores(&q, 0.5));
        }
        let k = [1, 10, 100][seed as usize % 3];
        if quantized.top_k(&half, &q, 0.5, k, None) != items.top_k(&q, 0.5, k, None) {
            differences += 1;
        }
    }
    assert_eq!(differences, 0);
}

/// Every integer kernel the CPU offers computes the same dot products as the
/// portable loop.
#[test]
fn integer_kernels_agree() {
    let (rows, dim) = (1030, 72);
    let m = Array2::from_shape_vec((rows, dim), values(rows * dim, 21, 1 << 20)).expect("m");
    let b = Array1::from(values(rows, 23, 1 << 20));
    let items = ItemMatrix::new(m.view(), b.view()).expect("matrix");
    let mut quantized = QuantizedItems::new(&items);
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
    let mut kernels = vec![I8Kernel::Portable];
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2_fma() {
        kernels.push(I8Kernel::Avx2);
        if std::is_x86_feature_detected!("avxvnni") {
            kernels.push(I8Kernel::AvxVnni);
        }
    }
    for seed in 1..20u64 {
        let v = values(dim, seed, 1 << 20);
        let q = items.query(&v).expect("query");
        let codes = QueryCodes::new(&v, quantized.stride);
        let mut expected = None;
        for &kernel in &kernels {
            quantized.kernel = kernel;
            let mut dots = vec![0i32; rows];
            quantized.dot_codes(0, &codes, &mut dots);
            let offset = if quantized.offsets_rows() {
                128 * codes.sum
            } else {
                0
            };
            let dots: Vec<i32> = dots.iter().map(|d| d - offset).collect();
            let top = quantized.top_k(&items, &q, 0.0, 10, None);
            match &expected {
                None => expected = Some((dots, top)),
                Some(e) => assert_eq!(*e, (dots, top), "{kernel:?}"),
            }
        }
    }
}

#[test]
fn bitsets_hold_what_was_inserted() {
    let mut b = Bitset::new(130);
    assert!(b.is_empty());
    for i in [0, 63, 64, 129, 500] {
        b.insert(i);
    }
    assert!(b.contains(0) && b.contains(63) && b.contains(64) && b.contains(129));
    assert!(!b.contains(1) && !b.contains(128) && !b.contains(500));
    assert_eq!(b.len(), 130);
}

#[test]
fn full_sets_remove_and_union() {
    let mut full = Bitset::full(130);
    assert!((0..130).all(|i| full.contains(i)) && !full.contains(130));
    full.remove(64);
    assert!(!full.contains(64));
    let mut a = Bitset::new(130);
    a.insert(3);
    let mut b = Bitset::new(200);
    b.insert(129);
    b.insert(150);
    a.union_with(&b);
    let members: Vec<usize> = (0..200).filter(|&i| a.contains(i)).collect();
    assert_eq!(members, [3, 129]);
}
