//! `reco rollback`.

use std::path::PathBuf;

use reco_core::{Clock, Config, SystemClock};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub data_dir: PathBuf,
    #[arg(long)]
    pub to: Option<String>,
}

pub async fn run(config: &Config, args: Args) -> Result<(), reco::Error> {
    let Args { data_dir, to } = args;
    let (_, local) = reco::open_at(config, &data_dir)?;
    let pointer =
        reco_pipeline::train::rollback(&local.artifacts, to.as_deref(), SystemClock.now()).await?;
    println!(
        "published {} (previous: {:?})",
        pointer.version, pointer.previous
    );
    Ok(())
}
