//! `reco import`.

use std::path::PathBuf;

use reco_core::Config;

const NOTHING_TO_IMPORT: &str =
    "nothing to import: give --movielens or --customers/--items/--purchases/--ratings files";

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Load into Aurora through the RDS Data API instead (RECO_RDS_*).
    #[arg(long)]
    pub rds_data: bool,
    #[arg(long)]
    pub movielens: Option<PathBuf>,
    #[arg(long)]
    pub customers: Vec<PathBuf>,
    #[arg(long)]
    pub items: Vec<PathBuf>,
    #[arg(long)]
    pub purchases: Vec<PathBuf>,
    #[arg(long)]
    pub ratings: Vec<PathBuf>,
}

pub async fn run(config: &Config, args: Args) -> Result<(), reco::Error> {
    let Args {
        data_dir,
        rds_data,
        movielens,
        customers,
        items,
        purchases,
        ratings,
    } = args;
    use reco_pipeline::import::{import, ImportError, Kind};
    let mut files = Vec::new();
    for (list, kind) in [
        (customers, Kind::Customers),
        (items, Kind::Items),
        (purchases, Kind::Purchases),
        (ratings, Kind::Ratings),
    ] {
        files.extend(list.into_iter().map(|p| (p, kind)));
    }
    if movielens.is_none() && files.is_empty() {
        return Err(reco::Error::Usage(NOTHING_TO_IMPORT.into()));
    }
    let warehouse: Box<dyn reco_core::Warehouse> = if rds_data {
        Box::new(super::aurora(config).await?.0)
    } else {
        let data_dir =
            data_dir.ok_or_else(|| reco::Error::Usage("give --data-dir, or --rds-data".into()))?;
        let dir = reco::open_dir(&data_dir)?;
        Box::new(reco::open(config, &dir)?.warehouse)
    };
    let batch = import(warehouse.as_ref(), movielens.as_deref(), &files)
        .await
        .map_err(|e| {
            reco::Error::Usage(match e {
                ImportError::BadRows(_) => format!("nothing was loaded; bad rows:\n{e}"),
                ImportError::Empty => NOTHING_TO_IMPORT.to_string(),
                e => format!("nothing was loaded: {e}"),
            })
        })?;
    println!(
        "loaded {} customers, {} items, {} purchases, {} ratings",
        batch.customers.len(),
        batch.items.len(),
        batch.purchases.len(),
        batch.ratings.len()
    );
    Ok(())
}
