//! `reco deadpool`.

use std::path::PathBuf;

use reco_core::{Clock, Config, SystemClock};

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
    if r.lease_busy {
        println!("another deadpool run holds the lease (reco serve on this folder?): nothing done");
        return Ok(());
    }
    println!(
        "archived {} sessions ({} raced with new views, {} quarantined, {} failed)",
        r.archived, r.raced, r.quarantined, r.failed
    );
    // Archived sessions past RECO_ARCHIVED_TTL_DAYS go, as DynamoDB's TTL deletes them.
    let deleted = local
        .sessions
        .delete_expired(SystemClock.now(), reco_embedded::sessions::EXPIRED_BATCH)
        .await?;
    if deleted > 0 {
        println!("deleted {deleted} archived sessions past their expiry");
    }
    if r.failed > 0 {
        return Err(reco::Error::NotArchived(r.failed));
    }
    Ok(())
}
