//! `bench-model DIR LOSS COMPONENTS EPOCHS THREADS`: fits on DIR/ua.base, evaluates on
//! DIR/ua.test exactly as `lightfm_ua.py` does, prints one JSON line.

use std::process::ExitCode;
use std::time::Instant;

use reco_bench::SplitArgs;
use reco_model::{evaluate, Csr};

fn main() -> ExitCode {
    reco_bench::split_main("bench-model", run)
}

fn run(a: &SplitArgs) -> Result<String, String> {
    let (dir, components, epochs, threads) = (&a.dir, a.components, a.epochs, a.threads);
    let split = reco_bench::load_split(dir, "ua.base", "ua.test")?;
    let params = a.params(false, &split.train)?;
    let start = Instant::now();
    let model = params
        .fit(
            &split.train,
            Csr::identity(split.n_users),
            Csr::identity(split.n_items),
            epochs,
        )
        .map_err(|e| e.to_string())?;
    let fit_s = start.elapsed().as_secs_f64();
    if let Ok(dir) = std::env::var("RECO_BENCH_DUMP") {
        // Parameters as raw little-endian f32, for evaluating them with other tools.
        let dump = |name: &str, values: Vec<f32>| {
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            std::fs::write(format!("{dir}/{name}.f32"), bytes).map_err(|e| e.to_string())
        };
        dump(
            "item_embeddings",
            model.items.embeddings.iter().copied().collect(),
        )?;
        dump("item_biases", model.items.biases.to_vec())?;
        dump(
            "user_embeddings",
            model.users.embeddings.iter().copied().collect(),
        )?;
        dump("user_biases", model.users.biases.to_vec())?;
    }
    let m = evaluate(&model, &split.test, Some(&split.train_csr), 10).map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "impl": "reco",
        "loss": a.loss_name,
        "dim": components,
        "epochs": epochs,
        "threads": threads,
        "fit_s": (fit_s * 1000.0).round() / 1000.0,
        "p10": (m.precision_at_k * 10000.0).round() / 10000.0,
        "auc": (m.auc * 10000.0).round() / 10000.0,
        "users": m.users,
    })
    .to_string())
}
