//! `bench-hybrid DIR LOSS COMPONENTS EPOCHS THREADS`: like bench-model, with hybrid
//! features: identity + genres for items, identity + age band, gender and occupation
//! for users (rows L1-normalised). Prints one JSON line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use reco_model::{evaluate, Loss, Model, Params};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 {
        eprintln!("usage: bench-hybrid DIR LOSS COMPONENTS EPOCHS THREADS");
        return ExitCode::from(2);
    }
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<String, String> {
    let dir = PathBuf::from(&args[0]);
    let loss: Loss = args[1]
        .parse()
        .map_err(|e: reco_model::ModelError| e.to_string())?;
    let number = |i: usize| -> Result<usize, String> {
        args[i]
            .parse()
            .map_err(|_| format!("`{}` is not a whole number", args[i]))
    };
    let (components, epochs, threads) = (number(2)?, number(3)?, number(4)?);
    let split = reco_bench::load_split(&dir, "ua.base", "ua.test")?;
    let (user_attrs, item_attrs) = reco_bench::movielens_features(&dir)?;
    let (user_features, _) = reco_bench::hybrid_features(&split.user_ids, &user_attrs)?;
    let (item_features, _) = reco_bench::hybrid_features(&split.item_ids, &item_attrs)?;
    let params = Params {
        no_components: components,
        loss,
        threads,
        seed: 42,
        ..Params::default()
    };
    let start = Instant::now();
    let model = Model::fit(params, &split.train, user_features, item_features, epochs)
        .map_err(|e| e.to_string())?;
    let fit_s = start.elapsed().as_secs_f64();
    let m = evaluate(&model, &split.test, Some(&split.train_csr), 10).map_err(|e| e.to_string())?;
    Ok(serde_json::json!({
        "impl": "reco", "features": "hybrid", "loss": args[1], "dim": components,
        "epochs": epochs, "threads": threads,
        "fit_s": (fit_s * 1000.0).round() / 1000.0,
        "p10": (m.precision_at_k * 10000.0).round() / 10000.0,
        "auc": (m.auc * 10000.0).round() / 10000.0,
    })
    .to_string())
}
