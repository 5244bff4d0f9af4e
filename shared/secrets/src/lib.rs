//! The visitor-token secret for the Lambdas: `RECO_TOKEN_SECRET` when set (local
//! invocations), otherwise the Secrets Manager secret named by
//! `RECO_TOKEN_SECRET_ARN`, read once per cold start.

use aws_config::SdkConfig;
use reco_core::TokenKey;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("set RECO_TOKEN_SECRET or RECO_TOKEN_SECRET_ARN")]
    Missing,
    #[error("reading secret {arn}: {message}")]
    Read { arn: String, message: String },
    #[error("token secret unusable: {0}")]
    Unusable(String),
}

/// Builds the token key from the environment or Secrets Manager.
pub async fn token_key(config: &SdkConfig) -> Result<TokenKey, SecretError> {
    if let Ok(secret) = std::env::var("RECO_TOKEN_SECRET") {
        return TokenKey::new(secret).map_err(SecretError::Unusable);
    }
    let arn = std::env::var("RECO_TOKEN_SECRET_ARN").map_err(|_| SecretError::Missing)?;
    let client = aws_sdk_secretsmanager::Client::new(config);
    let out = client
        .get_secret_value()
        .secret_id(&arn)
        .send()
        .await
        .map_err(|e| SecretError::Read {
            arn: arn.clone(),
            message: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        })?;
    let secret = out.secret_string().ok_or_else(|| SecretError::Read {
        arn: arn.clone(),
        message: "the secret has no string value".into(),
    })?;
    TokenKey::new(secret.trim()).map_err(SecretError::Unusable)
}
