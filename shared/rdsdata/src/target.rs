//! Which cluster, secret and database the adapter talks to.

use reco_core::{Config, ConfigError};

/// Where the cluster is: `RECO_RDS_RESOURCE_ARN`, `RECO_RDS_SECRET_ARN`,
/// `RECO_RDS_DATABASE` (default `reco`), as the process's configuration read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub resource_arn: String,
    pub secret_arn: String,
    pub database: String,
}

impl Target {
    /// The target the configuration names; an error names the variable missing.
    pub fn from_config(config: &Config) -> Result<Self, ConfigError> {
        let required = |value: &Option<String>, var: &'static str| {
            value.clone().ok_or_else(|| ConfigError {
                var,
                message: "is not set".into(),
            })
        };
        Ok(Target {
            resource_arn: required(&config.rds_resource_arn, "RECO_RDS_RESOURCE_ARN")?,
            secret_arn: required(&config.rds_secret_arn, "RECO_RDS_SECRET_ARN")?,
            database: config.rds_database.clone(),
        })
    }
}
