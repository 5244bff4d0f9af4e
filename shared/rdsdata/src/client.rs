//! The Data API calls the adapter makes, each through one retry helper: transient
//! failures (throttling, a resuming database, lost connections) are retried with
//! backoff and logged; the rest are mapped to `WarehouseError` once.

use std::future::Future;
use std::time::Duration;

use aws_sdk_rdsdata::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_rdsdata::types::SqlParameter;
use reco_core::WarehouseError;

use crate::{AuroraWarehouse, Target, BATCH_SETS};

/// Attempts per call, the first included, for transient failures other than a
/// resuming database.
const ATTEMPTS: u32 = 5;
/// How long a call waits for a database resuming from auto-pause (Aurora Serverless
/// v2 at 0 ACUs takes about 15 s): it is asked again, at most 2 s apart, until then.
pub const RESUME_WAIT: Duration = Duration::from_secs(60);

fn resuming<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    matches!(e, SdkError::ServiceError(s) if s.err().code() == Some("DatabaseResumingException"))
}

/// Whether an error is worth retrying: throttling, an unreachable or resuming
/// database, server-side failures and lost connections.
pub(crate) fn transient<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    match e {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => true,
        SdkError::ServiceError(s) => matches!(
            s.err().code(),
            Some(
                "DatabaseResumingException"
                    | "DatabaseUnavailableException"
                    | "ServiceUnavailableError"
                    | "InternalServerErrorException"
                    | "ThrottlingException"
            )
        ),
        _ => false,
    }
}

fn map_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: std::fmt::Debug>(
    e: SdkError<E, R>,
) -> WarehouseError {
    let transient = transient(&e);
    let (code, message) = match &e {
        SdkError::ServiceError(s) => (
            s.err().code().unwrap_or("").to_string(),
            s.err().message().unwrap_or("").to_string(),
        ),
        _ => (
            String::new(),
            aws_sdk_rdsdata::error::DisplayErrorContext(&e).to_string(),
        ),
    };
    if transient {
        return WarehouseError::Unavailable(format!("{code} {message}").trim().to_string());
    }
    // Integrity violations (SQLSTATE class 23) are the data's fault.
    if code == "DatabaseErrorException" && message.contains("SQLState: 23") {
        return WarehouseError::Rejected(message);
    }
    WarehouseError::Other(format!("{code}: {message}"))
}

/// Runs `call` until it succeeds, fails for good, or has been tried `ATTEMPTS`
/// times; each retry is logged with what was called and waits longer than the last.
async fn retrying<T, E, R, F, Fut>(what: &'static str, mut call: F) -> Result<T, WarehouseError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SdkError<E, R>>>,
{
    let mut attempt = 0;
    let mut resume_polls = 0u32;
    let started = std::time::Instant::now();
    loop {
        match call().await {
            Ok(out) => return Ok(out),
            // A paused cluster wakes on the first call: wait for it, not an error.
            Err(e) if resuming(&e) && started.elapsed() < RESUME_WAIT => {
                if resume_polls == 0 {
                    tracing::info!(call = what, "the database is resuming; waiting for it");
                }
                let pause = Duration::from_millis(100 << resume_polls.min(5))
                    .min(Duration::from_secs(2))
                    .min(RESUME_WAIT.saturating_sub(started.elapsed()));
                tokio::time::sleep(pause).await;
                resume_polls += 1;
            }
            Err(e) if transient(&e) && !resuming(&e) && attempt + 1 < ATTEMPTS => {
                tracing::warn!(attempt, call = what, error = %DisplayErrorContext(&e), "retrying");
                tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
                attempt += 1;
            }
            Err(e) => return Err(map_error(e)),
        }
    }
}

impl AuroraWarehouse {
    /// Creates database `name` on the same cluster (through its `postgres`
    /// maintenance database) and returns a handle on it. `name` must be a plain
    /// lowercase identifier: it cannot be a bound parameter, so it is checked instead.
    pub async fn create_database(&self, name: &str) -> Result<AuroraWarehouse, WarehouseError> {
        let plain = name.starts_with(|c: char| c.is_ascii_lowercase())
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !plain {
            return Err(WarehouseError::Rejected(format!(
                "database name `{name}` must be a lowercase identifier (a-z, 0-9, _)"
            )));
        }
        let maintenance = AuroraWarehouse::new(
            self.client.clone(),
            Target {
                database: "postgres".into(),
                ..self.target.clone()
            },
        );
        maintenance
            .execute(&format!("CREATE DATABASE {name}"), Vec::new(), None)
            .await?;
        Ok(AuroraWarehouse::new(
            self.client.clone(),
            Target {
                database: name.to_string(),
                ..self.target.clone()
            },
        ))
    }

    /// Runs one statement (in `transaction` if given), retrying transient failures.
    pub async fn execute(
        &self,
        sql: &str,
        params: Vec<SqlParameter>,
        transaction: Option<&str>,
    ) -> Result<aws_sdk_rdsdata::operation::execute_statement::ExecuteStatementOutput, WarehouseError>
    {
        retrying("ExecuteStatement", || {
            self.client
                .execute_statement()
                .resource_arn(&self.target.resource_arn)
                .secret_arn(&self.target.secret_arn)
                .database(&self.target.database)
                .sql(sql)
                .set_parameters(Some(params.clone()))
                .set_transaction_id(transaction.map(str::to_string))
                .send()
        })
        .await
    }

    /// Runs one statement once per parameter set, in chunks of `BATCH_SETS`.
    pub async fn batch(
        &self,
        sql: &str,
        sets: Vec<Vec<SqlParameter>>,
        transaction: Option<&str>,
    ) -> Result<(), WarehouseError> {
        for chunk in sets.chunks(BATCH_SETS) {
            retrying("BatchExecuteStatement", || {
                self.client
                    .batch_execute_statement()
                    .resource_arn(&self.target.resource_arn)
                    .secret_arn(&self.target.secret_arn)
                    .database(&self.target.database)
                    .sql(sql)
                    .set_parameter_sets(Some(chunk.to_vec()))
                    .set_transaction_id(transaction.map(str::to_string))
                    .send()
            })
            .await?;
        }
        Ok(())
    }

    pub async fn begin(&self) -> Result<String, WarehouseError> {
        let out = retrying("BeginTransaction", || {
            self.client
                .begin_transaction()
                .resource_arn(&self.target.resource_arn)
                .secret_arn(&self.target.secret_arn)
                .database(&self.target.database)
                .send()
        })
        .await?;
        out.transaction_id
            .ok_or_else(|| WarehouseError::Other("BeginTransaction returned no id".into()))
    }

    /// Commits once: a commit whose answer was lost cannot be told from one that
    /// failed, so it is not retried.
    pub async fn commit(&self, transaction: &str) -> Result<(), WarehouseError> {
        self.client
            .commit_transaction()
            .resource_arn(&self.target.resource_arn)
            .secret_arn(&self.target.secret_arn)
            .transaction_id(transaction)
            .send()
            .await
            .map(|_| ())
            .map_err(map_error)
    }

    /// Best effort: the service also rolls back a transaction left idle.
    pub async fn rollback(&self, transaction: &str) {
        let result = self
            .client
            .rollback_transaction()
            .resource_arn(&self.target.resource_arn)
            .secret_arn(&self.target.secret_arn)
            .transaction_id(transaction)
            .send()
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %DisplayErrorContext(&e), "rollback failed");
        }
    }

    /// Runs `work` in a transaction: committed if it succeeds, rolled back if not.
    pub async fn in_transaction<'a, F, Fut>(&'a self, work: F) -> Result<(), WarehouseError>
    where
        F: FnOnce(String) -> Fut,
        Fut: std::future::Future<Output = Result<(), WarehouseError>> + 'a,
    {
        let tx = self.begin().await?;
        match work(tx.clone()).await {
            Ok(()) => self.commit(&tx).await,
            Err(e) => {
                self.rollback(&tx).await;
                Err(e)
            }
        }
    }
}
