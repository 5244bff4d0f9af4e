//! `reco deadpool`.

use std::path::PathBuf;

use reco_core::Config;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub data_dir: PathBuf,
    /// Archive every active session now, however recent its last view (before a
    /// training run by hand, or to see click-through at once); a visitor's next
    /// view then starts a new session.
    #[arg(long)]
    pub all: bool,
}

pub async fn run(config: &Config, args: Args) -> Result<(), reco::Error> {
    let Args { data_dir, all } = args;
    let config = Config {
        session_timeout_secs: if all { 0 } else { config.session_timeout_secs },
        ..config.clone()
    };
    let (_, local) = reco::open_at(&config, &data_dir)?;
    let r = local.deadpool.run(None).await;
    println!(
        "archived {} sessions ({} raced with new views, {} quarantined, {} failed)",
        r.archived, r.raced, r.quarantined, r.failed
    );
    if r.failed > 0 {
        return Err(reco::Error::NotArchived(r.failed));
    }
    Ok(())
}
