//! Configuration from the environment, shared by the Lambdas and the local server:
//! one typed struct, read and validated once at start by each process, which hands
//! adapters values (never variable names). [`VARIABLES`] lists every variable read;
//! a test (shared/testkit/tests/docs.rs) holds the README's table to it.

/// A variable that is set but unusable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

/// The largest accepted `RECO_MAX_VIEWS_PER_SESSION`: that many views of the longest
/// item ids still fit a session's byte budget (checked where the budget is,
/// `sessions::SESSION_BYTES_BUDGET`).
pub const MAX_VIEWS_LIMIT: u32 = 1000;

/// The largest accepted `RECO_ACTIVE_SHARDS`. Every deadpool run also looks at the
/// shards between the configured count and this one, so sessions indexed under a
/// larger count before it was reduced are still archived.
pub const MAX_ACTIVE_SHARDS: u32 = 64;

/// The serving cache's namespace when `RECO_CACHE_NAMESPACE` is unset.
pub const DEFAULT_CACHE_NAMESPACE: &str = "default";

/// Whether `namespace` may prefix serving-cache keys: 1 to 128 characters of
/// `A-Z a-z 0-9 _ -` (no `:`, so one namespace's keys never look like another's).
/// Every CloudFormation stack name is one: template.yaml passes the stack's name.
pub fn valid_cache_namespace(namespace: &str) -> bool {
    (1..=128).contains(&namespace.len())
        && namespace
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A secret value: kept out of `Debug` output and logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Every variable `Config` reads, in the README's table order.
pub const VARIABLES: &[&str] = &[
    "RECO_SESSION_TIMEOUT_SECS",
    "RECO_MAX_VIEWS_PER_SESSION",
    "RECO_MAX_BODY_BYTES",
    "RECO_SESSIONS_TABLE",
    "RECO_ACTIVE_SHARDS",
    "RECO_ARCHIVED_TTL_DAYS",
    "RECO_DEADPOOL_INTERVAL_SECS",
    "RECO_DEADPOOL_BATCH",
    "RECO_TRAIN_INTERVAL_SECS",
    "RECO_ARTIFACT_BUCKET",
    "RECO_ARTIFACT_PREFIX",
    "RECO_REDIS_URL",
    "RECO_CACHE_NAMESPACE",
    "RECO_MODEL_REFRESH_SECS",
    "RECO_TOKEN_SECRET",
    "RECO_TOKEN_MAX_TTL_SECS",
    "RECO_RDS_RESOURCE_ARN",
    "RECO_RDS_SECRET_ARN",
    "RECO_RDS_DATABASE",
    "RECO_RDS_ROLE_SECRET_ARNS",
    "RECO_TOKEN_SECRET_ARN",
    "AWS_S3_FORCE_PATH_STYLE",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `RECO_SESSION_TIMEOUT_SECS`: inactivity after which a session is archived.
    pub session_timeout_secs: u64,
    /// `RECO_MAX_VIEWS_PER_SESSION`: views one session may hold.
    pub max_views_per_session: u32,
    /// `RECO_SESSIONS_TABLE`: the DynamoDB table of session documents.
    pub sessions_table: String,
    /// `RECO_ACTIVE_SHARDS`: partitions of the active-session index.
    pub active_shards: u32,
    /// `RECO_ARCHIVED_TTL_DAYS`: how long an archived session document is kept.
    pub archived_ttl_days: u32,
    /// `RECO_MAX_BODY_BYTES`: largest request body accepted.
    pub max_body_bytes: usize,
    /// `RECO_DEADPOOL_INTERVAL_SECS`: local server only; in AWS a schedule decides.
    pub deadpool_interval_secs: u64,
    /// `RECO_DEADPOOL_BATCH`: sessions the deadpool archives per warehouse transaction.
    pub deadpool_batch: usize,
    /// `RECO_TRAIN_INTERVAL_SECS`: local server only, retraining timer (0: off).
    pub train_interval_secs: u64,
    /// `RECO_TOKEN_MAX_TTL_SECS`: longest visitor-token lifetime (`exp - iat`) accepted;
    /// below the archived-session TTL, so no token outlives its session's document.
    pub token_max_ttl_secs: u64,
    /// `RECO_MODEL_REFRESH_SECS`: how often a serving process checks for a newer
    /// published model.
    pub model_refresh_secs: u64,
    /// `RECO_ARTIFACT_BUCKET`: the S3 bucket of models (train and predict functions).
    pub artifact_bucket: Option<String>,
    /// `RECO_ARTIFACT_PREFIX`: key prefix inside the artifact bucket.
    pub artifact_prefix: String,
    /// `RECO_REDIS_URL`: the serving cache (`redis://` or `rediss://`).
    pub redis_url: Option<String>,
    /// `RECO_CACHE_NAMESPACE`: the prefix of this deployment's serving-cache keys, so
    /// that deployments sharing one cache never read each other's entries.
    pub cache_namespace: String,
    /// `RECO_TOKEN_SECRET`: the token secret or key set itself.
    pub token_secret: Option<Secret>,
    /// `RECO_TOKEN_SECRET_ARN`: the Secrets Manager secret holding it.
    pub token_secret_arn: Option<String>,
    /// `RECO_RDS_RESOURCE_ARN`: the Aurora cluster.
    pub rds_resource_arn: Option<String>,
    /// `RECO_RDS_SECRET_ARN`: the secret with the cluster's credentials.
    pub rds_secret_arn: Option<String>,
    /// `RECO_RDS_DATABASE`: the warehouse database.
    pub rds_database: String,
    /// `RECO_RDS_ROLE_SECRET_ARNS`: secrets whose passwords `reco migrate --rds-data`
    /// gives the database roles (comma-separated).
    pub rds_role_secret_arns: Vec<String>,
    /// `AWS_S3_FORCE_PATH_STYLE`: path-style S3 addressing (S3 emulators).
    pub s3_force_path_style: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            session_timeout_secs: 1800,
            max_views_per_session: 500,
            sessions_table: "reco-sessions".to_string(),
            active_shards: 8,
            archived_ttl_days: 30,
            max_body_bytes: 64 * 1024,
            deadpool_interval_secs: 60,
            deadpool_batch: 100,
            train_interval_secs: 86_400,
            token_max_ttl_secs: 86_400,
            model_refresh_secs: 60,
            artifact_bucket: None,
            artifact_prefix: String::new(),
            redis_url: None,
            cache_namespace: DEFAULT_CACHE_NAMESPACE.to_string(),
            token_secret: None,
            token_secret_arn: None,
            rds_resource_arn: None,
            rds_secret_arn: None,
            rds_database: "reco".to_string(),
            rds_role_secret_arns: Vec::new(),
            s3_force_path_style: false,
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// `RECO_ARTIFACT_BUCKET`, which the process cannot run without.
    pub fn require_artifact_bucket(&self) -> Result<&str, ConfigError> {
        self.artifact_bucket.as_deref().ok_or(ConfigError {
            var: "RECO_ARTIFACT_BUCKET",
            message: "is not set".into(),
        })
    }

    /// Reads variables through `lookup`, applying defaults and bounds.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Config::default();
        // Empty counts as unset: the template declares some variables empty so that
        // `sam local invoke --env-vars` may fill them.
        let text = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
        let config = Config {
            session_timeout_secs: number(
                &lookup,
                "RECO_SESSION_TIMEOUT_SECS",
                d.session_timeout_secs,
                1,
                7 * 86_400,
            )?,
            max_views_per_session: number(
                &lookup,
                "RECO_MAX_VIEWS_PER_SESSION",
                d.max_views_per_session,
                1,
                MAX_VIEWS_LIMIT,
            )?,
            sessions_table: match lookup("RECO_SESSIONS_TABLE") {
                Some(v) if v.trim().is_empty() => {
                    return Err(ConfigError {
                        var: "RECO_SESSIONS_TABLE",
                        message: "must not be empty".into(),
                    })
                }
                Some(v) => v,
                None => d.sessions_table,
            },
            active_shards: number(
                &lookup,
                "RECO_ACTIVE_SHARDS",
                d.active_shards,
                1,
                MAX_ACTIVE_SHARDS,
            )?,
            archived_ttl_days: number(
                &lookup,
                "RECO_ARCHIVED_TTL_DAYS",
                d.archived_ttl_days,
                1,
                3650,
            )?,
            max_body_bytes: number(
                &lookup,
                "RECO_MAX_BODY_BYTES",
                d.max_body_bytes,
                1024,
                6 * 1024 * 1024,
            )?,
            deadpool_interval_secs: number(
                &lookup,
                "RECO_DEADPOOL_INTERVAL_SECS",
                d.deadpool_interval_secs,
                1,
                86_400,
            )?,
            deadpool_batch: number(&lookup, "RECO_DEADPOOL_BATCH", d.deadpool_batch, 1, 1000)?,
            train_interval_secs: number(
                &lookup,
                "RECO_TRAIN_INTERVAL_SECS",
                d.train_interval_secs,
                0,
                30 * 86_400,
            )?,
            token_max_ttl_secs: number(
                &lookup,
                "RECO_TOKEN_MAX_TTL_SECS",
                d.token_max_ttl_secs,
                60,
                7 * 86_400,
            )?,
            model_refresh_secs: number(
                &lookup,
                "RECO_MODEL_REFRESH_SECS",
                d.model_refresh_secs,
                0,
                86_400,
            )?,
            artifact_bucket: text("RECO_ARTIFACT_BUCKET"),
            artifact_prefix: text("RECO_ARTIFACT_PREFIX").unwrap_or_default(),
            redis_url: text("RECO_REDIS_URL"),
            cache_namespace: match text("RECO_CACHE_NAMESPACE") {
                None => d.cache_namespace,
                Some(v) if valid_cache_namespace(&v) => v,
                Some(v) => {
                    return Err(ConfigError {
                        var: "RECO_CACHE_NAMESPACE",
                        message: format!(
                            "`{}` is not 1 to 64 characters of A-Z a-z 0-9 _ -",
                            v.escape_debug()
                        ),
                    })
                }
            },
            token_secret: text("RECO_TOKEN_SECRET").map(Secret),
            token_secret_arn: text("RECO_TOKEN_SECRET_ARN"),
            rds_resource_arn: text("RECO_RDS_RESOURCE_ARN"),
            rds_secret_arn: text("RECO_RDS_SECRET_ARN"),
            rds_database: text("RECO_RDS_DATABASE").unwrap_or(d.rds_database),
            rds_role_secret_arns: text("RECO_RDS_ROLE_SECRET_ARNS")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default(),
            s3_force_path_style: match text("AWS_S3_FORCE_PATH_STYLE").as_deref() {
                None | Some("false") | Some("0") => false,
                Some("true") | Some("1") => true,
                Some(other) => {
                    return Err(ConfigError {
                        var: "AWS_S3_FORCE_PATH_STYLE",
                        message: format!("`{other}` is not true, false, 1 or 0"),
                    })
                }
            },
        };
        if config.token_max_ttl_secs >= u64::from(config.archived_ttl_days) * 86_400 {
            return Err(ConfigError {
                var: "RECO_TOKEN_MAX_TTL_SECS",
                message: format!(
                    "{} s must be below RECO_ARCHIVED_TTL_DAYS ({} days)",
                    config.token_max_ttl_secs, config.archived_ttl_days
                ),
            });
        }
        Ok(config)
    }
}

fn number<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    min: T,
    max: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let Some(raw) = lookup(var) else {
        return Ok(default);
    };
    let value: T = raw.trim().parse().map_err(|_| ConfigError {
        var,
        message: format!("`{raw}` is not a whole number"),
    })?;
    if value < min || value > max {
        return Err(ConfigError {
            var,
            message: format!("{value} is outside {min}..={max}"),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_when_unset() {
        let c = Config::from_lookup(|_| None).expect("defaults are valid");
        assert_eq!(c, Config::default());
        assert_eq!(c.session_timeout_secs, 1800);
        assert_eq!(c.max_views_per_session, 500);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = Config::from_lookup(|k| (k == "RECO_MAX_VIEWS_PER_SESSION").then(|| "lots".into()))
            .expect_err("refused");
        assert_eq!(e.var, "RECO_MAX_VIEWS_PER_SESSION");
        let e = Config::from_lookup(|k| (k == "RECO_SESSION_TIMEOUT_SECS").then(|| "0".into()))
            .expect_err("refused");
        assert!(e.to_string().contains("outside"), "{e}");
    }

    #[test]
    fn view_caps_that_do_not_fit_the_byte_budget_are_refused() {
        let over = (MAX_VIEWS_LIMIT + 1).to_string();
        let e = Config::from_lookup(|k| (k == "RECO_MAX_VIEWS_PER_SESSION").then(|| over.clone()))
            .expect_err("refused");
        assert_eq!(e.var, "RECO_MAX_VIEWS_PER_SESSION");
        let fits = MAX_VIEWS_LIMIT.to_string();
        assert!(
            Config::from_lookup(|k| (k == "RECO_MAX_VIEWS_PER_SESSION").then(|| fits.clone()))
                .is_ok()
        );
    }

    #[test]
    fn names_and_secrets_are_read_once_and_empty_counts_as_unset() {
        let c = Config::from_lookup(|k| match k {
            "RECO_ARTIFACT_BUCKET" => Some("models".into()),
            "RECO_REDIS_URL" => Some(String::new()),
            "RECO_TOKEN_SECRET" => Some("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t".into()),
            "RECO_RDS_ROLE_SECRET_ARNS" => Some("arn:a, ,arn:b".into()),
            "AWS_S3_FORCE_PATH_STYLE" => Some("true".into()),
            _ => None,
        })
        .expect("valid");
        assert_eq!(c.require_artifact_bucket().expect("set"), "models");
        assert_eq!(c.redis_url, None);
        assert_eq!(c.rds_database, "reco");
        assert_eq!(c.rds_role_secret_arns, vec!["arn:a", "arn:b"]);
        assert!(c.s3_force_path_style);
        assert!(
            !format!("{c:?}").contains("s3cr3t"),
            "the secret stays out of Debug"
        );
        let e = Config::default()
            .require_artifact_bucket()
            .expect_err("unset");
        assert_eq!(e.var, "RECO_ARTIFACT_BUCKET");
        let e = Config::from_lookup(|k| (k == "AWS_S3_FORCE_PATH_STYLE").then(|| "yes".into()))
            .expect_err("refused");
        assert_eq!(e.var, "AWS_S3_FORCE_PATH_STYLE");
    }

    #[test]
    fn cache_namespaces_are_checked() {
        assert_eq!(
            Config::from_lookup(|_| None)
                .expect("default")
                .cache_namespace,
            DEFAULT_CACHE_NAMESPACE
        );
        let long = "n".repeat(128);
        for good in ["reco-prod", "Stack_2", long.as_str()] {
            let c = Config::from_lookup(|k| (k == "RECO_CACHE_NAMESPACE").then(|| good.into()))
                .expect("valid");
            assert_eq!(c.cache_namespace, good);
        }
        let too_long = "n".repeat(129);
        for bad in ["a:b", "a b", "é", "a/b", too_long.as_str()] {
            let e = Config::from_lookup(|k| (k == "RECO_CACHE_NAMESPACE").then(|| bad.into()))
                .expect_err("refused");
            assert_eq!(e.var, "RECO_CACHE_NAMESPACE", "{bad}");
        }
    }

    #[test]
    fn token_lifetimes_stay_below_the_archive_ttl() {
        let e = Config::from_lookup(|k| match k {
            "RECO_ARCHIVED_TTL_DAYS" => Some("1".into()),
            "RECO_TOKEN_MAX_TTL_SECS" => Some("86400".into()),
            _ => None,
        })
        .expect_err("refused");
        assert_eq!(e.var, "RECO_TOKEN_MAX_TTL_SECS");
        assert_eq!(Config::default().token_max_ttl_secs, 86_400);
    }
}
