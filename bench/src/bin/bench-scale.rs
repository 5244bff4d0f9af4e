//! `bench-scale [ITEMS] [USERS] [PER_USER] [COMPONENTS] [THREADS]`: a synthetic catalogue
//! (default 1,000,000 items x 64 components, 50,000 users with 20 interactions each,
//! popularity skewed) trains one WARP epoch, then serves top-10 for 1,000 users.
//! Prints time and peak memory (VmHWM) against the size of the parameters.

use std::time::Instant;

use reco_model::model::{score_all, top_k};
use reco_model::{Csr, Interactions, Loss, Params};

fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn main() {
    let arg = |i: usize, default: usize| {
        std::env::args()
            .nth(i)
            .and_then(|a| a.parse().ok())
            .unwrap_or(default)
    };
    let (n_items, n_users, per_user, d, threads) = (
        arg(1, 1_000_000),
        arg(2, 50_000),
        arg(3, 20),
        arg(4, 64),
        arg(5, 2),
    );
    // Popularity skew: item = floor(n * u^3) for uniform u.
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut pairs = Vec::with_capacity(n_users * per_user);
    for u in 0..n_users {
        for _ in 0..per_user {
            let item = ((n_items as f64) * next().powi(3)) as u32;
            pairs.push((u as u32, item.min(n_items as u32 - 1)));
        }
    }
    pairs.sort_unstable();
    pairs.dedup();
    let data = Interactions::from_pairs(n_users, n_items, &pairs);
    let params = Params {
        no_components: d,
        loss: Loss::Warp,
        threads,
        ..Params::default()
    };
    let t = Instant::now();
    let mut model = params
        .init(Csr::identity(n_users), Csr::identity(n_items))
        .expect("valid");
    let init_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    model.fit_partial(&data, 1).expect("trains");
    let epoch_s = t.elapsed().as_secs_f64();
    let after_fit = peak_rss_bytes();
    let t = Instant::now();
    let (items, biases) = model.item_representations();
    let bundle_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let queries = 1000.min(n_users);
    let mut checksum = 0usize;
    for u in 0..queries {
        let (v, b) = model.user_representation(u);
        let scores = score_all(&items, &biases, v.view(), b);
        checksum += top_k(scores.view(), 10, &[]).len();
    }
    let per_query_ms = t.elapsed().as_secs_f64() * 1000.0 / queries as f64;
    let param_bytes = 4
        * (model.items.embeddings.len()
            + model.items.emb_acc.len()
            + model.items.biases.len() * 2
            + model.users.embeddings.len()
            + model.users.emb_acc.len()
            + model.users.biases.len() * 2) as u64;
    let peak = peak_rss_bytes();
    println!(
        "{}",
        serde_json::json!({
            "items": n_items, "users": n_users, "interactions": data.len(), "dim": d, "threads": threads,
            "init_s": (init_s * 1000.0).round() / 1000.0,
            "epoch_s": (epoch_s * 1000.0).round() / 1000.0,
            "serving_bundle_s": (bundle_s * 1000.0).round() / 1000.0,
            "top10_ms": (per_query_ms * 1000.0).round() / 1000.0,
            "top10_results": checksum,
            "param_mib": param_bytes / (1 << 20),
            "peak_rss_after_fit_mib": after_fit / (1 << 20),
            "peak_rss_mib": peak / (1 << 20),
            "beyond_params_mib": peak.saturating_sub(param_bytes) / (1 << 20),
        })
    );
}
