//! `reco report`.

use std::path::PathBuf;

use reco_core::{Clock, Config, SystemClock};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub data_dir: PathBuf,
    /// The same as JSON (what GET /v1/admin/models and /v1/admin/activity give).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(config: &Config, args: Args) -> Result<(), reco::Error> {
    let Args { data_dir, json } = args;
    let (_, local) = reco::open_at(config, &data_dir)?;
    let admin = local
        .api
        .admin
        .as_ref()
        .ok_or_else(|| reco::Error::Usage("the local API has no admin routes".into()))?;
    let now = SystemClock.now();
    let models = admin.models().await?;
    let activity = admin.activity(now).await?;
    if json {
        println!(
            "{}",
            serde_json::json!({"models": models, "activity": activity})
        );
    } else {
        reco::print_report(&models, &activity);
    }
    Ok(())
}
