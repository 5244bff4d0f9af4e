//! `bench-hybrid DIR LOSS COMPONENTS EPOCHS THREADS`: like bench-model, with hybrid
//! features: identity + genres for items, identity + age band, gender and occupation
//! for users (rows L1-normalised). Prints one JSON line.

use std::process::ExitCode;
use std::time::Instant;

use reco_bench::SplitArgs;
use reco_model::evaluate;

fn main() -> ExitCode {
    reco_bench::split_main("bench-hybrid", run)
}

fn run(a: &SplitArgs) -> Result<String, String> {
    let (dir, components, epochs, threads) = (&a.dir, a.components, a.epochs, a.threads);
    let split = reco_bench::load_split(dir, "ua.base", "ua.test")?;
    let (user_attrs, item_attrs) = reco_bench::movielens_features(dir)?;
    let (user_features, _) = reco_bench::hybrid_features(&split.user_ids, &user_attrs)?;
    let (item_features, _) = reco_bench::hybrid_features(&split.item_ids, &item_attrs)?;
    let params = a.params(true, &split.train)?;
    let start = Instant::now();
    let model = params
        .fit(&split.train, user_features, item_features, epochs)
        .map_err(|e| e.to_string())?;
    let fit_s = start.elapsed().as_secs_f64();
    let m = evaluate(&model, &split.test, Some(&split.train_csr), 10).map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "impl": "reco", "features": "hybrid", "loss": a.loss_name, "dim": components,
        "epochs": epochs, "threads": threads,
        "fit_s": (fit_s * 1000.0).round() / 1000.0,
        "p10": (m.precision_at_k * 10000.0).round() / 10000.0,
        "auc": (m.auc * 10000.0).round() / 10000.0,
    })
    .to_string())
}
