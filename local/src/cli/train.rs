//! `reco train`.

use std::path::PathBuf;

use reco_core::Config;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Training options as JSON (the state machine's input), e.g. '{"epochs": 30}'.
    #[arg(long)]
    pub options: Option<String>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub components: Option<usize>,
    #[arg(long)]
    pub loss: Option<String>,
    /// Publish even if worse than the current model.
    #[arg(long)]
    pub force: bool,
}

pub async fn run(config: &Config, args: Args) -> Result<(), reco::Error> {
    let Args {
        data_dir,
        options,
        epochs,
        components,
        loss,
        force,
    } = args;
    let mut opts: reco_pipeline::train::TrainOptions = match options {
        Some(json) => serde_json::from_str(&json).map_err(reco::Error::json("--options"))?,
        None => Default::default(),
    };
    if let Some(e) = epochs {
        opts.epochs = e;
    }
    if let Some(c) = components {
        opts.components = c;
    }
    if let Some(l) = loss {
        opts.loss = l;
    }
    opts.force |= force;
    let (dir, local) = reco::open_at(config, &data_dir)?;
    let outcome = reco::train(&local, &opts).await?;
    reco::print_summary(&outcome, &dir);
    Ok(())
}
