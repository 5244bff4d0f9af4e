//! The visitor-token secret for the Lambdas: `RECO_TOKEN_SECRET` when set (local
//! invocations), otherwise the Secrets Manager secret named by
//! `RECO_TOKEN_SECRET_ARN`, read once per cold start. Empty values count as unset.

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

/// Builds the token key from `RECO_TOKEN_SECRET` or `RECO_TOKEN_SECRET_ARN`.
pub async fn token_key(config: &SdkConfig) -> Result<TokenKey, SecretError> {
    // Empty counts as unset: the template declares RECO_TOKEN_SECRET empty so that
    // `sam local invoke --env-vars` may fill it.
    let var = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let secret = var("RECO_TOKEN_SECRET");
    let arn = var("RECO_TOKEN_SECRET_ARN");
    token_key_from(config, secret.as_deref(), arn.as_deref()).await
}

/// Builds the token key from a literal secret if given, else from the named secret.
pub async fn token_key_from(
    config: &SdkConfig,
    secret: Option<&str>,
    arn: Option<&str>,
) -> Result<TokenKey, SecretError> {
    if let Some(secret) = secret {
        return TokenKey::new(secret).map_err(SecretError::Unusable);
    }
    let arn = arn.ok_or(SecretError::Missing)?;
    let client = aws_sdk_secretsmanager::Client::new(config);
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| SecretError::Read {
            arn: arn.to_string(),
            message: aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string(),
        })?;
    let secret = out.secret_string().ok_or_else(|| SecretError::Read {
        arn: arn.to_string(),
        message: "the secret has no string value".into(),
    })?;
    TokenKey::new(secret.trim()).map_err(SecretError::Unusable)
}
