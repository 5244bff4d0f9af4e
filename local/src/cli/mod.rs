//! The commands of `reco`, one module each; [`schedule`] runs the timers `serve`
//! keeps (the deadpool and retraining, as the schedules run them in AWS).

mod deadpool;
mod demo;
mod import;
mod migrate;
mod report;
mod rollback;
mod schedule;
mod serve;
mod token;
mod train;

use clap::{Parser, Subcommand};
use reco_core::Config;

#[derive(Parser)]
#[command(
    name = "reco",
    version,
    about = "Recommendations for websites, on one machine"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build a demo shop in a new DATA_DIR (a generated shop, or MovieLens), replay its
    /// visitors through the HTTP API, archive, train and publish, then serve the API,
    /// the storefront (/demo/) and reco.js.
    Demo(demo::Args),
    /// Serve the HTTP API on embedded storage in DATA_DIR.
    Serve(serve::Args),
    /// Apply the warehouse migrations: to DATA_DIR's SQLite warehouse, or with
    /// --rds-data to Aurora PostgreSQL through the RDS Data API (RECO_RDS_RESOURCE_ARN,
    /// RECO_RDS_SECRET_ARN, RECO_RDS_DATABASE; AWS_ENDPOINT_URL_RDS_DATA for the emulator),
    /// then let the functions' roles log in with the passwords of the secrets listed
    /// in RECO_RDS_ROLE_SECRET_ARNS (comma-separated).
    Migrate(migrate::Args),
    /// Load the warehouse from files: CSV (header row) or JSON-lines of customers,
    /// items, purchases, ratings, or a MovieLens 100k folder. All rows are checked
    /// first; if any is bad, each is reported with file and line and nothing is loaded.
    Import(import::Args),
    /// Refresh, train, evaluate, gate and publish a model from DATA_DIR's warehouse.
    Train(train::Args),
    /// Republish a previous model version (default: the one before the current).
    Rollback(rollback::Args),
    /// Archive sessions inactive for RECO_SESSION_TIMEOUT_SECS into the warehouse, once.
    Deadpool(deadpool::Args),
    /// Print what the data dir serves and how it does: the current model with its
    /// metrics, the sessions (active, quarantined, archived, archive lag, views per
    /// minute) and click-through per model version and strategy.
    Report(report::Args),
    /// Print a visitor token the local server accepts (last line of output).
    Token(token::Args),
}

/// The Aurora warehouse through the RDS Data API (RECO_RDS_*), and the AWS
/// configuration it was made with.
async fn aurora(
    config: &Config,
) -> Result<(reco_rdsdata::AuroraWarehouse, aws_config::SdkConfig), reco::Error> {
    let target = reco_rdsdata::Target::from_config(config)?;
    let aws = aws_config::load_from_env().await;
    let warehouse = reco_rdsdata::AuroraWarehouse::new(aws_sdk_rdsdata::Client::new(&aws), target);
    Ok((warehouse, aws))
}

pub async fn run(cli: Cli) -> Result<(), reco::Error> {
    let config = Config::from_env()?;
    match cli.command {
        Command::Demo(args) => demo::run(&config, args).await,
        Command::Serve(args) => serve::run(&config, args).await,
        Command::Migrate(args) => migrate::run(&config, args).await,
        Command::Import(args) => import::run(&config, args).await,
        Command::Train(args) => train::run(&config, args).await,
        Command::Rollback(args) => rollback::run(&config, args).await,
        Command::Deadpool(args) => deadpool::run(&config, args).await,
        Command::Report(args) => report::run(&config, args).await,
        Command::Token(args) => token::run(&config, args).await,
    }
}
