//! Configuration from the environment, shared by the Lambdas and the local server:
//! one typed struct, validated once at start.

/// A variable that is set but unusable.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

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
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads variables through `lookup`, applying defaults and bounds.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let d = Config::default();
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
                crate::sessions::MAX_VIEWS_LIMIT,
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
                crate::deadpool::MAX_ACTIVE_SHARDS,
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
        let over = (crate::sessions::MAX_VIEWS_LIMIT + 1).to_string();
        let e = Config::from_lookup(|k| (k == "RECO_MAX_VIEWS_PER_SESSION").then(|| over.clone()))
            .expect_err("refused");
        assert_eq!(e.var, "RECO_MAX_VIEWS_PER_SESSION");
        let fits = crate::sessions::MAX_VIEWS_LIMIT.to_string();
        assert!(
            Config::from_lookup(|k| (k == "RECO_MAX_VIEWS_PER_SESSION").then(|| fits.clone()))
                .is_ok()
        );
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
