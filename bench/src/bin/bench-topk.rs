//! `bench-topk ITEMS DIM K QUERIES`: exact top-k over a random ITEMS x DIM catalogue
//! (fixed seed) with `reco_model::topk`, one thread, QUERIES random queries: the int8
//! scan with exact f32 re-ranking (what serving uses; its result is the f32 scan's).
//! Prints one JSON line with its per-query p50 and p99 in microseconds, the plain f32
//! scan's for comparison, the kernel and the sizes.

use std::time::Instant;

use ndarray::{Array1, Array2};
use reco_model::topk::{ItemMatrix, QuantizedItems};

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
    let matrix = match ItemMatrix::new(vectors.view(), biases.view()) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    drop(vectors);
    let quantized = QuantizedItems::new(&matrix);
    let queries_v: Vec<Vec<f32>> = (0..queries)
        .map(|_| (0..dim).map(|_| next()).collect())
        .collect();
    let mut times = Vec::with_capacity(queries);
    let mut f32_times = Vec::with_capacity(queries);
    let mut checksum = 0usize;
    for v in &queries_v {
        let started = Instant::now();
        let q = matrix.query(v).unwrap_or_default();
        let top = quantized.top_k(&matrix, &q, 0.0, k, None);
        times.push(started.elapsed().as_secs_f64() * 1e6);
        let started = Instant::now();
        let exact = matrix.top_k(&q, 0.0, k, None);
        f32_times.push(started.elapsed().as_secs_f64() * 1e6);
        if top != exact {
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
            "kernel": matrix.kernel(),
            "matrix_bytes": matrix.bytes(), "int8_bytes": quantized.bytes(),
            "checksum": checksum,
        })
    );
}
