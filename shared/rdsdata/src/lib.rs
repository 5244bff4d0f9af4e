//! The warehouse on Aurora PostgreSQL through the RDS Data API: parameterised
//! statements only (no SQL is assembled from input), `BatchExecuteStatement` for bulk
//! writes inside transactions, keyset-paged reads so no response nears the service's
//! 1 MiB limit, typed decoding, and retries with backoff on transient errors.

pub mod migrate;

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_rdsdata::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rdsdata::types::{Field, SqlParameter, TypeHint};
use aws_sdk_rdsdata::Client;
use reco_core::{SessionDoc, Timestamp, Warehouse, WarehouseError};

/// The IAM actions this adapter calls, by use (a test holds template.yaml to them).
/// The Data API reads the database secret with the caller's rights, hence
/// `secretsmanager:GetSecretValue` on that secret.
pub mod iam {
    /// Statements and transactions on the cluster (reading, refreshing, archiving).
    pub const STATEMENTS: &[&str] = &[
        "rds-data:ExecuteStatement",
        "rds-data:BeginTransaction",
        "rds-data:CommitTransaction",
        "rds-data:RollbackTransaction",
    ];
    /// Batches (archiving sessions, imports).
    pub const BATCHES: &[&str] = &["rds-data:BatchExecuteStatement"];
    /// On the database secret.
    pub const SECRET: &[&str] = &["secretsmanager:GetSecretValue"];
}

/// Rows per keyset page: small enough that a page of the widest row stays far below
/// the 1 MiB response limit.
pub const PAGE_ROWS: usize = 2000;
/// Parameter sets per `BatchExecuteStatement`.
pub const BATCH_SETS: usize = 500;
const ATTEMPTS: u32 = 5;

/// Where the cluster is: `RECO_RDS_RESOURCE_ARN`, `RECO_RDS_SECRET_ARN`,
/// `RECO_RDS_DATABASE` (default `reco`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub resource_arn: String,
    pub secret_arn: String,
    pub database: String,
}

impl Target {
    pub fn from_env() -> Result<Self, String> {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{name} is not set"))
        };
        Ok(Target {
            resource_arn: var("RECO_RDS_RESOURCE_ARN")?,
            secret_arn: var("RECO_RDS_SECRET_ARN")?,
            database: var("RECO_RDS_DATABASE").unwrap_or_else(|_| "reco".to_string()),
        })
    }
}

#[derive(Clone, Debug)]
pub struct RdsData {
    client: Client,
    target: Target,
}

/// Whether an error is worth retrying: throttling, an unreachable or resuming
/// database, server-side failures and lost connections.
fn transient<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
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

/// A named text parameter.
pub fn text(name: &str, value: &str) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(Field::StringValue(value.to_string()))
        .build()
}

/// A named text parameter, or NULL.
pub fn text_or_null(name: &str, value: Option<&str>) -> SqlParameter {
    match value {
        Some(v) => text(name, v),
        None => SqlParameter::builder()
            .name(name)
            .value(Field::IsNull(true))
            .build(),
    }
}

pub fn long(name: &str, value: i64) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(Field::LongValue(value))
        .build()
}

pub fn double(name: &str, value: f64) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(Field::DoubleValue(value))
        .build()
}

/// A timestamp, sent as the service expects (`YYYY-MM-DD HH:MM:SS.fff`, UTC, hinted).
pub fn timestamp(name: &str, value: Timestamp) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(Field::StringValue(format_timestamp(value)))
        .type_hint(TypeHint::Timestamp)
        .build()
}

pub fn format_timestamp(t: Timestamp) -> String {
    let odt = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.millis()) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        odt.year(),
        u8::from(odt.month()),
        odt.day(),
        odt.hour(),
        odt.minute(),
        odt.second(),
        odt.millisecond()
    )
}

/// Parses the service's timestamp strings (`YYYY-MM-DD HH:MM:SS[.f]`, UTC).
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let iso = format!("{}Z", s.replacen(' ', "T", 1));
    Timestamp::parse_rfc3339(&iso)
}

/// Typed access to one record.
pub struct Record<'a>(pub &'a [Field]);

impl Record<'_> {
    fn field(&self, i: usize) -> Result<&Field, WarehouseError> {
        self.0
            .get(i)
            .ok_or_else(|| WarehouseError::Other(format!("record has no column {i}")))
    }
    pub fn text(&self, i: usize) -> Result<String, WarehouseError> {
        match self.field(i)? {
            Field::StringValue(s) => Ok(s.clone()),
            other => Err(WarehouseError::Other(format!(
                "column {i}: expected text, got {other:?}"
            ))),
        }
    }
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, WarehouseError> {
        match self.field(i)? {
            Field::IsNull(true) => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
    pub fn long(&self, i: usize) -> Result<i64, WarehouseError> {
        match self.field(i)? {
            Field::LongValue(v) => Ok(*v),
            other => Err(WarehouseError::Other(format!(
                "column {i}: expected a long, got {other:?}"
            ))),
        }
    }
    pub fn double(&self, i: usize) -> Result<f64, WarehouseError> {
        match self.field(i)? {
            Field::DoubleValue(v) => Ok(*v),
            Field::LongValue(v) => Ok(*v as f64),
            Field::StringValue(s) => s
                .parse()
                .map_err(|_| WarehouseError::Other(format!("column {i}: `{s}` is not a number"))),
            other => Err(WarehouseError::Other(format!(
                "column {i}: expected a number, got {other:?}"
            ))),
        }
    }
    pub fn boolean(&self, i: usize) -> Result<bool, WarehouseError> {
        match self.field(i)? {
            Field::BooleanValue(v) => Ok(*v),
            other => Err(WarehouseError::Other(format!(
                "column {i}: expected a boolean, got {other:?}"
            ))),
        }
    }
    pub fn timestamp(&self, i: usize) -> Result<Timestamp, WarehouseError> {
        let s = self.text(i)?;
        parse_timestamp(&s)
            .ok_or_else(|| WarehouseError::Other(format!("column {i}: `{s}` is not a timestamp")))
    }
}

pub use reco_core::warehouse::InteractionRow;
use reco_core::warehouse::{ClickThrough, FeatureRow, ImportBatch, TrainingSet};

impl RdsData {
    pub fn new(client: Client, target: Target) -> Self {
        RdsData { client, target }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Creates database `name` on the same cluster (through its `postgres`
    /// maintenance database) and returns a handle on it. `name` must be a plain
    /// lowercase identifier: it cannot be a bound parameter, so it is checked instead.
    pub async fn create_database(&self, name: &str) -> Result<RdsData, WarehouseError> {
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
        let maintenance = RdsData::new(
            self.client.clone(),
            Target {
                database: "postgres".into(),
                ..self.target.clone()
            },
        );
        maintenance
            .execute(&format!("CREATE DATABASE {name}"), Vec::new(), None)
            .await?;
        Ok(RdsData::new(
            self.client.clone(),
            Target {
                database: name.to_string(),
                ..self.target.clone()
            },
        ))
    }

    async fn backoff(attempt: u32) {
        tokio::time::sleep(Duration::from_millis(100 << attempt.min(6))).await;
    }

    /// Runs one statement (in `transaction` if given), retrying transient failures.
    pub async fn execute(
        &self,
        sql: &str,
        params: Vec<SqlParameter>,
        transaction: Option<&str>,
    ) -> Result<aws_sdk_rdsdata::operation::execute_statement::ExecuteStatementOutput, WarehouseError>
    {
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .execute_statement()
                .resource_arn(&self.target.resource_arn)
                .secret_arn(&self.target.secret_arn)
                .database(&self.target.database)
                .sql(sql)
                .set_parameters(Some(params.clone()))
                .set_transaction_id(transaction.map(str::to_string))
                .send()
                .await;
            match result {
                Ok(out) => return Ok(out),
                Err(e) if transient(&e) && attempt + 1 < ATTEMPTS => {
                    tracing::warn!(attempt, error = %aws_sdk_rdsdata::error::DisplayErrorContext(&e), "retrying statement");
                    Self::backoff(attempt).await;
                    attempt += 1;
                }
                Err(e) => return Err(map_error(e)),
            }
        }
    }

    /// Runs one statement once per parameter set, in chunks of `BATCH_SETS`.
    pub async fn batch(
        &self,
        sql: &str,
        sets: Vec<Vec<SqlParameter>>,
        transaction: Option<&str>,
    ) -> Result<(), WarehouseError> {
        for chunk in sets.chunks(BATCH_SETS) {
            let mut attempt = 0;
            loop {
                let result = self
                    .client
                    .batch_execute_statement()
                    .resource_arn(&self.target.resource_arn)
                    .secret_arn(&self.target.secret_arn)
                    .database(&self.target.database)
                    .sql(sql)
                    .set_parameter_sets(Some(chunk.to_vec()))
                    .set_transaction_id(transaction.map(str::to_string))
                    .send()
                    .await;
                match result {
                    Ok(_) => break,
                    Err(e) if transient(&e) && attempt + 1 < ATTEMPTS => {
                        Self::backoff(attempt).await;
                        attempt += 1;
                    }
                    Err(e) => return Err(map_error(e)),
                }
            }
        }
        Ok(())
    }

    pub async fn begin(&self) -> Result<String, WarehouseError> {
        let mut attempt = 0;
        loop {
            let result = self
                .client
                .begin_transaction()
                .resource_arn(&self.target.resource_arn)
                .secret_arn(&self.target.secret_arn)
                .database(&self.target.database)
                .send()
                .await;
            match result {
                Ok(out) => {
                    return out.transaction_id.ok_or_else(|| {
                        WarehouseError::Other("BeginTransaction returned no id".into())
                    })
                }
                Err(e) if transient(&e) && attempt + 1 < ATTEMPTS => {
                    Self::backoff(attempt).await;
                    attempt += 1;
                }
                Err(e) => return Err(map_error(e)),
            }
        }
    }

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
            tracing::warn!(error = %aws_sdk_rdsdata::error::DisplayErrorContext(&e), "rollback failed");
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

    /// Every row of `training_interactions` (or the materialized variant), read in
    /// keyset pages ordered by (user_key, item_id).
    pub async fn interactions(
        &self,
        materialized: bool,
    ) -> Result<Vec<InteractionRow>, WarehouseError> {
        let sql = if materialized {
            "SELECT user_key, item_id, weight, positive, last_at FROM training_interactions_materialized
             WHERE (user_key, item_id) > (:after_user, :after_item)
             ORDER BY user_key, item_id LIMIT :page"
        } else {
            "SELECT user_key, item_id, weight, positive, last_at FROM training_interactions
             WHERE (user_key, item_id) > (:after_user, :after_item)
             ORDER BY user_key, item_id LIMIT :page"
        };
        let mut rows = Vec::new();
        let (mut after_user, mut after_item) = (String::new(), String::new());
        loop {
            let out = self
                .execute(
                    sql,
                    vec![
                        text("after_user", &after_user),
                        text("after_item", &after_item),
                        long("page", PAGE_ROWS as i64),
                    ],
                    None,
                )
                .await?;
            let records = out.records.unwrap_or_default();
            let n = records.len();
            for r in &records {
                let r = Record(r);
                rows.push(InteractionRow {
                    user_key: r.text(0)?,
                    item_id: r.text(1)?,
                    weight: r.double(2)?,
                    positive: r.boolean(3)?,
                    last_at: r.timestamp(4)?,
                });
            }
            match rows.last() {
                Some(last) if n == PAGE_ROWS => {
                    after_user = last.user_key.clone();
                    after_item = last.item_id.clone();
                }
                _ => break,
            }
        }
        Ok(rows)
    }

    /// Every row of a (key, feature, weight) view, in keyset pages.
    pub async fn features(&self, items: bool) -> Result<Vec<FeatureRow>, WarehouseError> {
        let sql = if items {
            "SELECT item_id, feature, weight FROM item_features
             WHERE (item_id, feature) > (:after_key, :after_feature) ORDER BY 1, 2 LIMIT :page"
        } else {
            "SELECT user_key, feature, weight FROM user_features
             WHERE (user_key, feature) > (:after_key, :after_feature) ORDER BY 1, 2 LIMIT :page"
        };
        let mut rows: Vec<FeatureRow> = Vec::new();
        let (mut key, mut feature) = (String::new(), String::new());
        loop {
            let out = self
                .execute(
                    sql,
                    vec![
                        text("after_key", &key),
                        text("after_feature", &feature),
                        long("page", PAGE_ROWS as i64),
                    ],
                    None,
                )
                .await?;
            let records = out.records.unwrap_or_default();
            for r in &records {
                let r = Record(r);
                rows.push(FeatureRow {
                    key: r.text(0)?,
                    feature: r.text(1)?,
                    weight: r.double(2)?,
                });
            }
            match rows.last() {
                Some(last) if records.len() == PAGE_ROWS => {
                    key = last.key.clone();
                    feature = last.feature.clone();
                }
                _ => break,
            }
        }
        Ok(rows)
    }

    /// Recomputes the materialized training set without blocking readers.
    pub async fn refresh_materialized(&self) -> Result<(), WarehouseError> {
        self.execute(
            "REFRESH MATERIALIZED VIEW CONCURRENTLY training_interactions_materialized",
            Vec::new(),
            None,
        )
        .await
        .map(|_| ())
    }
}

const UPSERT_SESSION: &str =
    "INSERT INTO sessions (session_id, customer_id, session_start, last_update, view_count)
     VALUES (:session_id, :customer_id, :session_start, :last_update, :view_count)
     ON CONFLICT (session_id) DO UPDATE SET
         customer_id = EXCLUDED.customer_id, session_start = EXCLUDED.session_start,
         last_update = EXCLUDED.last_update, view_count = EXCLUDED.view_count, archived_at = now()";

const UPSERT_VIEW: &str =
    "INSERT INTO session_views (session_id, seq, item_id, viewed_at, recommendation_id)
     VALUES (:session_id, :seq, :item_id, :viewed_at, :recommendation_id)
     ON CONFLICT (session_id, seq) DO UPDATE SET item_id = EXCLUDED.item_id,
         viewed_at = EXCLUDED.viewed_at, recommendation_id = EXCLUDED.recommendation_id";

const UPSERT_IMPRESSION: &str = "INSERT INTO session_impressions (session_id, seq, list_position,
         recommendation_id, model_version, strategy, item_id, shown_at)
     VALUES (:session_id, :seq, :position, :recommendation_id, :model_version, :strategy,
         :item_id, :shown_at)
     ON CONFLICT (session_id, seq, list_position) DO UPDATE SET
         recommendation_id = EXCLUDED.recommendation_id, model_version = EXCLUDED.model_version,
         strategy = EXCLUDED.strategy, item_id = EXCLUDED.item_id, shown_at = EXCLUDED.shown_at";

#[async_trait]
impl Warehouse for RdsData {
    async fn archive_sessions(&self, sessions: &[SessionDoc]) -> Result<(), WarehouseError> {
        let session_sets: Vec<Vec<SqlParameter>> = sessions
            .iter()
            .map(|s| {
                vec![
                    text("session_id", &s.session_id),
                    text_or_null("customer_id", s.customer_id.as_deref()),
                    timestamp("session_start", s.session_start),
                    timestamp("last_update", s.last_update),
                    long("view_count", i64::from(s.view_count)),
                ]
            })
            .collect();
        let view_sets: Vec<Vec<SqlParameter>> = sessions
            .iter()
            .flat_map(|s| {
                s.items_viewed.iter().enumerate().map(move |(seq, v)| {
                    vec![
                        text("session_id", &s.session_id),
                        long("seq", seq as i64),
                        text("item_id", &v.item_id),
                        timestamp("viewed_at", v.viewed_at),
                        text_or_null("recommendation_id", v.recommendation_id.as_deref()),
                    ]
                })
            })
            .collect();
        let impression_sets: Vec<Vec<SqlParameter>> = sessions
            .iter()
            .flat_map(|s| {
                s.impressions
                    .iter()
                    .enumerate()
                    .flat_map(move |(seq, imp)| {
                        imp.item_ids
                            .iter()
                            .enumerate()
                            .map(move |(position, item)| {
                                vec![
                                    text("session_id", &s.session_id),
                                    long("seq", seq as i64),
                                    long("position", position as i64),
                                    text("recommendation_id", &imp.recommendation_id),
                                    text("model_version", &imp.model_version),
                                    text("strategy", &imp.strategy),
                                    text("item_id", item),
                                    timestamp("shown_at", imp.shown_at),
                                ]
                            })
                    })
            })
            .collect();
        self.in_transaction(|tx| async move {
            self.batch(UPSERT_SESSION, session_sets, Some(&tx)).await?;
            if !view_sets.is_empty() {
                self.batch(UPSERT_VIEW, view_sets, Some(&tx)).await?;
            }
            if !impression_sets.is_empty() {
                self.batch(UPSERT_IMPRESSION, impression_sets, Some(&tx))
                    .await?;
            }
            Ok(())
        })
        .await
    }

    async fn click_through(&self) -> Result<Vec<ClickThrough>, WarehouseError> {
        let out = self
            .execute(
                "SELECT model_version, strategy, recommendations, impressions, clicks, click_through
                 FROM recommendation_performance ORDER BY model_version DESC, strategy",
                Vec::new(),
                None,
            )
            .await?;
        let count = |r: &Record<'_>, i: usize| -> Result<u64, WarehouseError> {
            u64::try_from(r.long(i)?).map_err(|_| WarehouseError::Other("a negative count".into()))
        };
        out.records()
            .iter()
            .map(|r| {
                let r = Record(r);
                Ok(ClickThrough {
                    model_version: r.text(0)?,
                    strategy: r.text(1)?,
                    recommendations: count(&r, 2)?,
                    impressions: count(&r, 3)?,
                    clicks: count(&r, 4)?,
                    click_through: r.double(5)?,
                })
            })
            .collect()
    }

    async fn load(&self, batch: &ImportBatch) -> Result<(), WarehouseError> {
        let customers: Vec<Vec<SqlParameter>> = batch
            .customers
            .iter()
            .map(|c| {
                vec![
                    text("id", &c.customer_id),
                    match c.birth_year {
                        Some(y) => long("year", i64::from(y)),
                        None => text_or_null("year", None),
                    },
                    text_or_null("gender", c.gender.as_deref()),
                    text_or_null("region", c.region.as_deref()),
                ]
            })
            .collect();
        let items: Vec<Vec<SqlParameter>> = batch
            .items
            .iter()
            .map(|i| {
                vec![
                    text("id", &i.item_id),
                    text_or_null("category", i.category.as_deref()),
                    text_or_null("brand", i.brand.as_deref()),
                    match i.price {
                        Some(p) => double("price", p),
                        None => text_or_null("price", None),
                    },
                    text("tags", &i.tags),
                    SqlParameter::builder()
                        .name("active")
                        .value(Field::BooleanValue(i.active))
                        .build(),
                ]
            })
            .collect();
        let purchases: Vec<Vec<SqlParameter>> = batch
            .purchases
            .iter()
            .map(|p| {
                vec![
                    text("id", &p.purchase_id),
                    text("customer", &p.customer_id),
                    text("item", &p.item_id),
                    long("qty", i64::from(p.quantity)),
                    timestamp("at", p.purchased_at),
                ]
            })
            .collect();
        let ratings: Vec<Vec<SqlParameter>> = batch
            .ratings
            .iter()
            .map(|r| {
                vec![
                    text("customer", &r.customer_id),
                    text("item", &r.item_id),
                    long("rating", i64::from(r.rating)),
                    timestamp("at", r.rated_at),
                ]
            })
            .collect();
        self.in_transaction(|tx| async move {
            let steps = [
                ("INSERT INTO customers (customer_id, birth_year, gender, region) VALUES (:id, :year, :gender, :region)
                  ON CONFLICT (customer_id) DO UPDATE SET birth_year = EXCLUDED.birth_year,
                      gender = EXCLUDED.gender, region = EXCLUDED.region", customers),
                ("INSERT INTO items (item_id, category, brand, price, tags, active)
                  VALUES (:id, :category, :brand, :price, :tags, :active)
                  ON CONFLICT (item_id) DO UPDATE SET category = EXCLUDED.category, brand = EXCLUDED.brand,
                      price = EXCLUDED.price, tags = EXCLUDED.tags, active = EXCLUDED.active", items),
                ("INSERT INTO purchases VALUES (:id, :customer, :item, :qty, :at)
                  ON CONFLICT (purchase_id) DO UPDATE SET customer_id = EXCLUDED.customer_id,
                      item_id = EXCLUDED.item_id, quantity = EXCLUDED.quantity, purchased_at = EXCLUDED.purchased_at", purchases),
                ("INSERT INTO ratings VALUES (:customer, :item, :rating, :at)
                  ON CONFLICT (customer_id, item_id) DO UPDATE SET rating = EXCLUDED.rating, rated_at = EXCLUDED.rated_at", ratings),
            ];
            for (sql, sets) in steps {
                if !sets.is_empty() {
                    self.batch(sql, sets, Some(&tx)).await?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn refresh_training_set(&self) -> Result<(), WarehouseError> {
        self.refresh_materialized().await
    }

    async fn refresh_in_progress(&self) -> Result<bool, WarehouseError> {
        // Another session's statement: visible to the role that runs it (the state
        // machine uses the train role's secret) and to pg_read_all_stats members.
        let out = self
            .execute(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                     WHERE pid <> pg_backend_pid() AND state = 'active'
                       AND query ILIKE 'REFRESH MATERIALIZED VIEW%training_interactions_materialized%')",
                Vec::new(),
                None,
            )
            .await?;
        let records = out.records();
        let first = records
            .first()
            .ok_or_else(|| WarehouseError::Other("no row from pg_stat_activity".into()))?;
        Record(first).boolean(0)
    }

    async fn training_set(&self, materialized: bool) -> Result<TrainingSet, WarehouseError> {
        Ok(TrainingSet {
            interactions: self.interactions(materialized).await?,
            user_features: self.features(false).await?,
            item_features: self.features(true).await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_the_service_format() {
        let t = Timestamp(1_800_000_000_123);
        assert_eq!(format_timestamp(t), "2027-01-15 08:00:00.123");
        assert_eq!(parse_timestamp("2027-01-15 08:00:00.123"), Some(t));
        assert_eq!(
            parse_timestamp("2027-01-15 08:00:00"),
            Some(Timestamp(1_800_000_000_000))
        );
        assert_eq!(parse_timestamp("garbage"), None);
    }
}
