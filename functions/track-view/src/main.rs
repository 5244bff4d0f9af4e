//! Lambda entry point: build clients once per cold start, then serve events.

use lambda_http::{run, service_fn, Error};
use reco_core::Config;

#[tokio::main]
async fn main() -> Result<(), Error> {
    reco_lambda::init_logging();
    let config = Config::from_env()?;
    let aws = aws_config::load_from_env().await;
    let tokens = reco_secrets::token_key(&aws, &config).await?;
    let api = track_view::build_api(&config, aws_sdk_dynamodb::Client::new(&aws), tokens);
    let api = &api;
    run(service_fn(move |event| async move {
        Ok::<_, Error>(track_view::handle(api, event).await)
    }))
    .await
}
