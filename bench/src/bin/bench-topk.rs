//! `bench-topk ITEMS DIM K QUERIES`: exact top-k over a random ITEMS x DIM catalogue
//! (fixed seed) with `reco_model::topk`, one thread, QUERIES random queries: what
//! serving keeps for a large catalogue (the vectors rounded to half precision and their
//! int8 copy), scanned in int8 and re-ranked exactly in f32 (its result is the f32
//! scan's over the same values; the program exits with an error on any difference).
//! Prints one JSON line with its per-query p50 and p99 in microseconds, the plain f32
//! scan's for comparison, the kernels, the sizes and the resident memory once the
//! structures are built (before the f32 reference matrix is).

use std::time::Instant;

use ndarray::{Array1, Array2};
use reco_model::topk::{scan_query, HalfMatrix, QuantizedItems};

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap_or(0))
        .collect();
    let [items, dim, k, queries] = args[..] else {
        eprintln!("usage: bench-topk ITEMS DIM K QUERIES");
        std::process::exit(2);
    };
    if items == 0 || dim == 0 || k == 0 || queries == 0 {
        eprintln!("ITEMS, DIM, K and QUERIES must be positive whole numbers");
        std::process::exit(2);
    }
    let mut next = reco_bench::uniform(reco_bench::CATALOGUE_SEED);
    let vectors = Array2::from_shape_simple_fn((items, dim), &mut next);
    let biases = Array1::from_shape_simple_fn(items, &mut next);
    // What serving keeps for a large catalogue: the vectors in half precision and
    // their int8 copy.
    let half = match HalfMatrix::new(vectors.view(), biases.view()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    drop((vectors, biases));
    let quantized = QuantizedItems::new(&half);
    let resident = resident_bytes();
    let queries_v: Vec<Vec<f32>> = (0..queries)
        .map(|_| (0..dim).map(|_| next()).collect())
        .collect();
    // Each scan runs over all the queries in turn (so neither evicts the other's
    // data from the cache between queries), then the answers are compared.
    let mut times = Vec::with_capacity(queries);
    let mut answers = Vec::with_capacity(queries);
    for v in &queries_v {
        let started = Instant::now();
        let q = scan_query(v);
        answers.push(quantized.top_k(&half, &q, 0.0, k, None));
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    // The f32 matrix of the same values: the reference, and the plain scan's time.
    let matrix = half.to_f32();
    let mut f32_times = Vec::with_capacity(queries);
    let mut checksum = 0usize;
    for (v, top) in queries_v.iter().zip(&answers) {
        let started = Instant::now();
        let q = scan_query(v);
        let exact = matrix.top_k(&q, 0.0, k, None);
        f32_times.push(started.elapsed().as_secs_f64() * 1e6);
        if *top != exact {
            eprintln!("the int8 scan and the f32 scan disagree");
            std::process::exit(1);
        }
        checksum = checksum.wrapping_add(top.first().map_or(0, |t| t.0));
    }
    let pct = |times: &mut Vec<f64>, p: f64| {
        times.sort_by(f64::total_cmp);
        times[((times.len() - 1) as f64 * p).round() as usize]
    };
    println!(
        "{}",
        serde_json::json!({
            "items": items, "dim": dim, "k": k, "queries": queries,
            "p50_us": pct(&mut times, 0.5), "p99_us": pct(&mut times, 0.99),
            "f32_p50_us": pct(&mut f32_times, 0.5), "f32_p99_us": pct(&mut f32_times, 0.99),
            "kernel": matrix.kernel(), "int8_kernel": quantized.kernel(),
            "half_bytes": half.bytes(), "int8_bytes": quantized.bytes(),
            "f32_bytes": matrix.bytes(),
            "resident_mb": resident as f64 / 1e6,
            "checksum": checksum,
        })
    );
}

/// The process's resident memory (VmRSS), 0 where /proc is not available.
fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
