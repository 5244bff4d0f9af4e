//! `bench-model DIR LOSS COMPONENTS EPOCHS THREADS`: fits on DIR/ua.base, evaluates on
//! DIR/ua.test exactly as `lightfm_ua.py` does, prints one JSON line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use reco_model::{evaluate, Csr, Loss, Model, Params};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 {
        eprintln!("usage: bench-model DIR LOSS COMPONENTS EPOCHS THREADS");
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
    let number = |i: usize, name: &str| -> Result<usize, String> {
        args[i]
            .parse()
            .map_err(|_| format!("{name}: `{}` is not a whole number", args[i]))
    };
    let components = number(2, "COMPONENTS")?;
    let epochs = number(3, "EPOCHS")?;
    let threads = number(4, "THREADS")?;
    let split = reco_bench::load_split(&dir, "ua.base", "ua.test")?;
    let params = Params {
        no_components: components,
        loss,
        threads,
        // RECO_BENCH_SEED: another seed, to see the spread of a configuration.
        seed: std::env::var("RECO_BENCH_SEED")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(42),
        ..Params::default()
    };
    let start = Instant::now();
    let model = Model::fit(
        params,
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
        "loss": args[1],
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
