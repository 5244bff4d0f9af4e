//! The visitor-token secret for the Lambdas: `RECO_TOKEN_SECRET` when set (local
//! invocations), otherwise the Secrets Manager secret named by
//! `RECO_TOKEN_SECRET_ARN`, read once per cold start. Empty values count as unset.
//! Either holds one secret, or `{"keys": [{"kid", "secret"}, ...]}` with up to two
//! during a rotation (`reco_core::TokenKeys::parse`).

use aws_config::SdkConfig;
use reco_core::TokenKeys;

/// The IAM action reading the token secret calls (a test holds template.yaml to it).
pub const IAM_ACTIONS: &[&str] = &["secretsmanager:GetSecretValue"];

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("set RECO_TOKEN_SECRET or RECO_TOKEN_SECRET_ARN")]
    Missing,
    #[error("reading secret {arn}: {message}")]
    Read { arn: String, message: String },
    #[error("token secret unusable: {0}")]
    Unusable(String),
}

/// Builds the token key from the configured secret (`RECO_TOKEN_SECRET`) or, failing
/// that, the Secrets Manager secret it names (`RECO_TOKEN_SECRET_ARN`).
pub async fn token_key(
    aws: &SdkConfig,
    config: &reco_core::Config,
) -> Result<TokenKeys, SecretError> {
    let secret = config.token_secret.as_ref().map(|s| s.0.as_str());
    token_key_from(aws, secret, config.token_secret_arn.as_deref()).await
}

/// Builds the token key from a literal secret if given, else from the named secret.
pub async fn token_key_from(
    config: &SdkConfig,
    secret: Option<&str>,
    arn: Option<&str>,
) -> Result<TokenKeys, SecretError> {
    if let Some(secret) = secret {
        return TokenKeys::parse(secret).map_err(|e| SecretError::Unusable(e.to_string()));
    }
    let arn = arn.ok_or(SecretError::Missing)?;
    let secret = secret_string(config, arn).await?;
    TokenKeys::parse(&secret).map_err(|e| SecretError::Unusable(e.to_string()))
}

/// The string value of a Secrets Manager secret.
async fn secret_string(config: &SdkConfig, arn: &str) -> Result<String, SecretError> {
    let read = |message: String| SecretError::Read {
        arn: arn.to_string(),
        message,
    };
    let out = aws_sdk_secretsmanager::Client::new(config)
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| read(aws_sdk_secretsmanager::error::DisplayErrorContext(&e).to_string()))?;
    out.secret_string()
        .map(str::to_string)
        .ok_or_else(|| read("the secret has no string value".into()))
}

/// A database role's credentials, from a secret holding `{"username", "password", ...}`
/// (the shape RDS and the Data API use).
pub async fn database_credentials(
    config: &SdkConfig,
    arn: &str,
) -> Result<(String, String), SecretError> {
    let text = secret_string(config, arn).await?;
    #[derive(serde::Deserialize)]
    struct Credentials {
        username: String,
        password: String,
    }
    let c: Credentials = serde_json::from_str(&text).map_err(|_| SecretError::Read {
        arn: arn.to_string(),
        message: "not a JSON object with username and password".into(),
    })?;
    Ok((c.username, c.password))
}
