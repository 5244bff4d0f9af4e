//! `reco demo`.

use std::net::SocketAddr;
use std::path::PathBuf;

use reco_core::Config;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "./reco-demo")]
    pub data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// The generated shop's seed: the same seed, the same shop.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// A MovieLens 100k folder to use instead of a generated shop.
    #[arg(long)]
    pub movielens: Option<PathBuf>,
    /// Stop once the model is published (`reco serve --data-dir DATA_DIR` serves it).
    #[arg(long)]
    pub no_serve: bool,
    /// Products per category (8 categories).
    #[arg(long, default_value_t = 60)]
    pub items_per_category: usize,
    #[arg(long, default_value_t = 400)]
    pub customers: usize,
    /// Visitor sessions replayed.
    #[arg(long, default_value_t = 2000)]
    pub sessions: usize,
}

pub async fn run(config: &Config, args: Args) -> Result<(), reco::Error> {
    let Args {
        data_dir,
        addr,
        seed,
        movielens,
        no_serve,
        items_per_category,
        customers,
        sessions,
    } = args;
    if items_per_category == 0 || items_per_category > 10_000 {
        return Err(reco::Error::Usage(
            "--items-per-category must be 1..=10000".into(),
        ));
    }
    if customers > 1_000_000 || sessions > 1_000_000 {
        return Err(reco::Error::Usage(
            "--customers and --sessions must be at most 1000000".into(),
        ));
    }
    let options = reco::demo::DemoOptions {
        data_dir: data_dir.clone(),
        seed,
        movielens,
        size: reco::shop::ShopSize {
            items_per_category,
            customers,
            sessions,
        },
    };
    let report = reco::demo::run(config, &options).await?;
    println!(
        "demo shop ready in {:.1} s: {} views replayed, {} sessions archived",
        report.seconds, report.views_sent, report.archived
    );
    if no_serve {
        println!(
            "serve it with: reco serve --data-dir {}",
            data_dir.display()
        );
        return Ok(());
    }
    super::serve::serve(config, addr, &data_dir, false).await
}
