//! `bench-serving ITEMS DIM USERS`: the serving bundle of a random catalogue of ITEMS
//! items x DIM components (12 categories) and USERS customers (10 positives each):
//! its size on S3 and in the cache (items part), the time to parse it and lay it out
//! for serving (`ServingModel::new`, the load after the bytes arrived), and the
//! process's resident memory once only the model is left (and its peak, which includes
//! generating the catalogue). Prints one JSON line.

use std::collections::HashMap;
use std::time::Instant;

use reco_serving::bundle::{Bundle, Items, UserKind, UserRecord};
use reco_serving::model::{ServingModel, Source};

/// `VmHWM` (peak) or `VmRSS` (now) of this process, in MB.
fn rss_mb(field: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().unwrap_or(0))
        .collect();
    let [items, dim, users] = args[..] else {
        eprintln!("usage: bench-serving ITEMS DIM USERS");
        std::process::exit(2);
    };
    if items == 0 || dim == 0 {
        eprintln!("ITEMS and DIM must be positive whole numbers");
        std::process::exit(2);
    }
    let mut unit = reco_bench::uniform(reco_bench::CATALOGUE_SEED);
    let bundle = Bundle {
        items: Items {
            ids: (0..items).map(|i| format!("sku-{i:07}")).collect(),
            dim,
            vectors: (0..items * dim).map(|_| unit()).collect(),
            biases: (0..items).map(|_| unit()).collect(),
            categories: (0..items).map(|i| (i % 12) as u32).collect(),
            category_names: (0..12).map(|c| format!("category-{c}")).collect(),
            popularity: (0..items).map(|_| (unit() + 0.5) * 100.0).collect(),
            user_feature_names: Vec::new(),
            user_feature_vectors: Vec::new(),
            session: None,
        },
        users: Some(
            (0..users)
                .map(|u| {
                    (
                        format!("customer-{u:07}"),
                        UserRecord {
                            kind: UserKind::Trained,
                            vector: (0..dim).map(|_| unit()).collect(),
                            bias: unit(),
                            positives: (0..10).map(|j| ((u * 31 + j * 7) % items) as u32).collect(),
                            features: Vec::new(),
                        },
                    )
                })
                .collect::<HashMap<_, _>>(),
        ),
    };
    let full = match bundle.to_bytes() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let items_part = Bundle {
        items: bundle.items.clone(),
        users: None,
    }
    .to_bytes()
    .unwrap_or_default();
    drop(bundle);
    let full_mb = full.len() as f64 / 1e6;
    drop(full);
    let items_part_mb = items_part.len() as f64 / 1e6;
    let started = Instant::now();
    let parsed = match Bundle::from_bytes(&items_part) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let parse_s = started.elapsed().as_secs_f64();
    let model = match ServingModel::new("bench", parsed, Source::Cache) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let load_s = started.elapsed().as_secs_f64();
    drop(items_part);
    println!(
        "{}",
        serde_json::json!({
            "items": items,
            "dim": dim,
            "users": users,
            "bundle_mb": full_mb,
            "items_part_mb": items_part_mb,
            "parse_s": parse_s,
            "load_s": load_s,
            "matrix_mb": model.matrix_bytes() as f64 / 1e6,
            "rss_after_load_mb": rss_mb("VmRSS:"),
            "peak_rss_mb": rss_mb("VmHWM:"),
        })
    );
}
