//! Lambda entry point: build clients once per cold start, then serve scheduled events.

use lambda_runtime::{run, service_fn, Error};
use reco_core::Config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    reco_lambda::init_logging();
    let config = Config::from_env()?;
    let target = reco_rdsdata::Target::from_config(&config)?;
    let aws = aws_config::load_from_env().await;
    let deadpool = deadpool::build(
        &config,
        aws_sdk_dynamodb::Client::new(&aws),
        aws_sdk_rdsdata::Client::new(&aws),
        target,
    );
    let deadpool = &deadpool;
    run(service_fn(move |event| deadpool::handle(deadpool, event))).await
}
