//! An RDS Data API emulator over PostgreSQL: `ExecuteStatement`, `BatchExecuteStatement`,
//! `BeginTransaction`, `CommitTransaction` and `RollbackTransaction` with the request,
//! response and error shapes of the real service (REST-JSON, `x-amzn-ErrorType`), so the
//! unmodified `aws-sdk-rdsdata` client works against it through
//! `AWS_ENDPOINT_URL_RDS_DATA`. Signatures and ARNs are accepted, not checked; the
//! `database` member picks the PostgreSQL database.
//!
//! Like a paused Aurora Serverless v2 cluster, it can answer the first N calls with
//! `DatabaseResumingException` ([`Emulator::answer_resuming`], `--resuming-calls N`),
//! so that clients' waiting for a resume can be tested.

mod bind;
mod error;
pub mod sql;
pub mod values;

use bind::bind;
pub use error::ApiError;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde_json::{json, Map, Value};
use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls};

/// The service's limit on a result.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// Idle transactions are rolled back after this long, as the service does.
pub const TRANSACTION_IDLE: Duration = Duration::from_secs(180);

struct Transaction {
    client: Arc<Mutex<Client>>,
    last_used: Instant,
}

/// Shared state: connection pools per database and open transactions.
pub struct Emulator {
    base: tokio_postgres::Config,
    default_db: String,
    pools: std::sync::Mutex<HashMap<String, Vec<Client>>>,
    transactions: std::sync::Mutex<HashMap<String, Transaction>>,
    /// Calls still to be answered with `DatabaseResumingException`.
    resuming: AtomicU32,
}

impl Emulator {
    /// `postgres_url`: where PostgreSQL listens; its database is the default one.
    pub fn new(postgres_url: &str) -> Result<Arc<Self>, String> {
        let base: tokio_postgres::Config = postgres_url
            .parse()
            .map_err(|e| format!("postgres url: {e}"))?;
        let default_db = base.get_dbname().unwrap_or("postgres").to_string();
        Ok(Arc::new(Emulator {
            base,
            default_db,
            pools: std::sync::Mutex::new(HashMap::new()),
            transactions: std::sync::Mutex::new(HashMap::new()),
            resuming: AtomicU32::new(0),
        }))
    }

    async fn connect(&self, db: &str) -> Result<Client, ApiError> {
        let mut config = self.base.clone();
        config.dbname(db);
        let (client, connection) = config.connect(NoTls).await.map_err(|e| {
            if e.as_db_error().is_some_and(|d| d.code().code() == "3D000") {
                ApiError {
                    status: StatusCode::NOT_FOUND,
                    code: "DatabaseNotFoundException",
                    message: format!("Database {db} does not exist"),
                }
            } else {
                ApiError {
                    status: StatusCode::GATEWAY_TIMEOUT,
                    code: "DatabaseUnavailableException",
                    message: format!("cannot connect to the database: {e}"),
                }
            }
        })?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        // Timestamps render in UTC, as the service returns them.
        client
            .batch_execute("SET TIME ZONE 'UTC'")
            .await
            .map_err(|e| ApiError::database(&e))?;
        Ok(client)
    }

    async fn take(&self, db: &str) -> Result<Client, ApiError> {
        let pooled = self
            .pools
            .lock()
            .ok()
            .and_then(|mut p| p.get_mut(db).and_then(Vec::pop));
        match pooled {
            Some(c) if !c.is_closed() => Ok(c),
            _ => self.connect(db).await,
        }
    }

    fn give_back(&self, db: &str, client: Client) {
        if client.is_closed() {
            return;
        }
        if let Ok(mut p) = self.pools.lock() {
            let pool = p.entry(db.to_string()).or_default();
            if pool.len() < 16 {
                pool.push(client);
            }
        }
    }

    fn transaction(&self, id: &str) -> Result<Arc<Mutex<Client>>, ApiError> {
        let mut txs = self
            .transactions
            .lock()
            .map_err(|_| ApiError::bad_request("state poisoned"))?;
        let tx = txs
            .get_mut(id)
            .ok_or_else(|| ApiError::transaction_not_found(id))?;
        tx.last_used = Instant::now();
        Ok(Arc::clone(&tx.client))
    }

    fn end_transaction(&self, id: &str) -> Result<Arc<Mutex<Client>>, ApiError> {
        let mut txs = self
            .transactions
            .lock()
            .map_err(|_| ApiError::bad_request("state poisoned"))?;
        txs.remove(id)
            .map(|t| t.client)
            .ok_or_else(|| ApiError::transaction_not_found(id))
    }

    /// Answers the next `calls` calls, whatever they are, with
    /// `DatabaseResumingException`, as a cluster resuming from auto-pause does.
    pub fn answer_resuming(&self, calls: u32) {
        self.resuming.store(calls, Ordering::SeqCst);
    }

    /// Calls still to be answered as resuming.
    pub fn resuming_calls_left(&self) -> u32 {
        self.resuming.load(Ordering::SeqCst)
    }

    /// Takes one of the calls to answer as resuming, if any is left.
    fn take_resuming(&self) -> bool {
        self.resuming
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Rolls back transactions idle for longer than `TRANSACTION_IDLE`.
    pub fn expire_idle(&self) {
        if let Ok(mut txs) = self.transactions.lock() {
            txs.retain(|_, t| t.last_used.elapsed() < TRANSACTION_IDLE);
        }
    }
}

/// The HTTP routes of the service.
pub fn router(emulator: Arc<Emulator>) -> Router {
    Router::new()
        .route("/Execute", post(execute))
        .route("/BatchExecute", post(batch_execute))
        .route("/BeginTransaction", post(begin))
        .route("/CommitTransaction", post(commit))
        .route("/RollbackTransaction", post(rollback))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&emulator),
            resuming,
        ))
        .with_state(emulator)
}

/// Answers a call as a resuming cluster does while the emulator is told to.
async fn resuming(
    State(em): State<Arc<Emulator>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if em.take_resuming() {
        return ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "DatabaseResumingException",
            message: "The Aurora DB instance is resuming after being auto-paused. \
                      Please wait a few seconds and try again."
                .into(),
        }
        .into_response();
    }
    next.run(request).await
}

fn parse(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(ApiError::bad_request(
            "The request body is not a JSON object",
        )),
    }
}

fn required<'a>(req: &'a Map<String, Value>, name: &str) -> Result<&'a str, ApiError> {
    match req.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        _ => Err(ApiError::bad_request(format!("{name} is required"))),
    }
}

fn database(emulator: &Emulator, req: &Map<String, Value>) -> String {
    req.get("database")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or(&emulator.default_db)
        .to_string()
}

struct Outcome {
    updated: u64,
    records: Option<(Vec<Value>, Vec<Value>, Vec<Value>)>,
}

/// Prepared statements by rewritten SQL, reused across the sets of one batch.
type Prepared = HashMap<String, tokio_postgres::Statement>;

async fn run(
    client: &Client,
    sql: &str,
    parameters: Option<&Value>,
    prepared: &mut Prepared,
) -> Result<Outcome, ApiError> {
    let (sql, params) = bind(sql, parameters)?;
    let refs: Vec<&(dyn ToSql + Sync)> = params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect();
    let statement = match prepared.get(&sql) {
        Some(s) => s.clone(),
        None => {
            let s = client
                .prepare(&sql)
                .await
                .map_err(|e| ApiError::database(&e))?;
            prepared.insert(sql.clone(), s.clone());
            s
        }
    };
    if statement.columns().is_empty() {
        let updated = client
            .execute(&statement, &refs)
            .await
            .map_err(|e| ApiError::database(&e))?;
        return Ok(Outcome {
            updated,
            records: None,
        });
    }
    let rows = client
        .query(&statement, &refs)
        .await
        .map_err(|e| ApiError::database(&e))?;
    let columns = statement.columns();
    let metadata: Vec<Value> = columns
        .iter()
        .map(|c| {
            json!({
                "name": c.name(), "label": c.name(), "typeName": c.type_().name(),
                "type": values::jdbc_type(c.type_()), "schemaName": "", "tableName": "",
                "nullable": 1, "precision": 0, "scale": 0, "isAutoIncrement": false,
                "isSigned": matches!(c.type_().name(), "int2" | "int4" | "int8" | "float4" | "float8" | "numeric"),
                "isCurrency": false, "isCaseSensitive": matches!(c.type_().name(), "text" | "varchar" | "bpchar" | "name"),
                "arrayBaseColumnType": 0,
            })
        })
        .collect();
    let mut records = Vec::with_capacity(rows.len());
    let mut plain = Vec::with_capacity(rows.len());
    for row in &rows {
        let mut fields = Vec::with_capacity(columns.len());
        let mut object = Map::new();
        for (i, c) in columns.iter().enumerate() {
            let raw: values::Raw<'_> = row.try_get(i).map_err(|e| ApiError::database(&e))?;
            let (field, value) = values::field(c.type_(), raw.0).map_err(|m| ApiError {
                status: StatusCode::BAD_REQUEST,
                code: "UnsupportedResultException",
                message: m,
            })?;
            fields.push(field);
            object.insert(c.name().to_string(), value);
        }
        records.push(Value::Array(fields));
        plain.push(Value::Object(object));
    }
    Ok(Outcome {
        updated: 0,
        records: Some((records, metadata, plain)),
    })
}

fn reply(body: Value) -> Result<Response, ApiError> {
    let text = body.to_string();
    if text.len() > MAX_RESPONSE_BYTES {
        return Err(ApiError::bad_request(
            "Database returned more than the allowed response size limit",
        ));
    }
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    Ok((StatusCode::OK, headers, text).into_response())
}

async fn execute(State(em): State<Arc<Emulator>>, body: Bytes) -> Result<Response, ApiError> {
    let req = parse(&body)?;
    required(&req, "resourceArn")?;
    required(&req, "secretArn")?;
    let sql = required(&req, "sql")?.to_string();
    let params = req.get("parameters");
    let outcome = match req.get("transactionId").and_then(Value::as_str) {
        Some(id) => {
            let client = em.transaction(id)?;
            let client = client.lock().await;
            run(&client, &sql, params, &mut Prepared::new()).await?
        }
        None => {
            let db = database(&em, &req);
            let client = em.take(&db).await?;
            let outcome = run(&client, &sql, params, &mut Prepared::new()).await;
            em.give_back(&db, client);
            outcome?
        }
    };
    let json_format = req.get("formatRecordsAs").and_then(Value::as_str) == Some("JSON");
    let metadata_wanted = req.get("includeResultMetadata").and_then(Value::as_bool) == Some(true);
    let mut out = Map::new();
    out.insert("numberOfRecordsUpdated".into(), json!(outcome.updated));
    out.insert("generatedFields".into(), json!([]));
    if let Some((records, metadata, plain)) = outcome.records {
        if json_format {
            out.insert(
                "formattedRecords".into(),
                json!(Value::Array(plain).to_string()),
            );
        } else {
            out.insert("records".into(), Value::Array(records));
            if metadata_wanted {
                out.insert("columnMetadata".into(), Value::Array(metadata));
            }
        }
    }
    reply(Value::Object(out))
}

async fn batch_execute(State(em): State<Arc<Emulator>>, body: Bytes) -> Result<Response, ApiError> {
    let req = parse(&body)?;
    required(&req, "resourceArn")?;
    required(&req, "secretArn")?;
    let sql = required(&req, "sql")?.to_string();
    let sets: Vec<Value> = match req.get("parameterSets") {
        Some(Value::Array(sets)) => sets.clone(),
        None => vec![Value::Array(Vec::new())],
        Some(_) => {
            return Err(ApiError::bad_request(
                "parameterSets must be a list of lists",
            ))
        }
    };
    let run_all = |client: Arc<Mutex<Client>>| {
        let sql = sql.clone();
        let sets = sets.clone();
        async move {
            let client = client.lock().await;
            let mut results = Vec::with_capacity(sets.len());
            let mut prepared = Prepared::new();
            for set in &sets {
                run(&client, &sql, Some(set), &mut prepared).await?;
                results.push(json!({"generatedFields": []}));
            }
            Ok::<_, ApiError>(results)
        }
    };
    let results = match req.get("transactionId").and_then(Value::as_str) {
        Some(id) => run_all(em.transaction(id)?).await?,
        None => {
            // Outside a transaction the batch is atomic on its own.
            let db = database(&em, &req);
            let client = em.take(&db).await?;
            client
                .batch_execute("BEGIN")
                .await
                .map_err(|e| ApiError::database(&e))?;
            let shared = Arc::new(Mutex::new(client));
            let result = run_all(Arc::clone(&shared)).await;
            let client = Arc::try_unwrap(shared)
                .map_err(|_| ApiError::bad_request("connection still in use"))?
                .into_inner();
            let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
            let ended = client.batch_execute(end).await;
            em.give_back(&db, client);
            let results = result?;
            ended.map_err(|e| ApiError::database(&e))?;
            results
        }
    };
    reply(json!({ "updateResults": results }))
}

fn new_id() -> String {
    let mut raw = [0u8; 48];
    let _ = getrandom::fill(&mut raw);
    STANDARD.encode(raw)
}

async fn begin(State(em): State<Arc<Emulator>>, body: Bytes) -> Result<Response, ApiError> {
    let req = parse(&body)?;
    required(&req, "resourceArn")?;
    required(&req, "secretArn")?;
    let db = database(&em, &req);
    let client = em.connect(&db).await?;
    client
        .batch_execute("BEGIN")
        .await
        .map_err(|e| ApiError::database(&e))?;
    let id = new_id();
    em.expire_idle();
    if let Ok(mut txs) = em.transactions.lock() {
        txs.insert(
            id.clone(),
            Transaction {
                client: Arc::new(Mutex::new(client)),
                last_used: Instant::now(),
            },
        );
    }
    reply(json!({ "transactionId": id }))
}

async fn end(em: &Emulator, body: &Bytes, sql: &str, status: &str) -> Result<Response, ApiError> {
    let req = parse(body)?;
    required(&req, "resourceArn")?;
    required(&req, "secretArn")?;
    let id = required(&req, "transactionId")?;
    let client = em.end_transaction(id)?;
    let client = client.lock().await;
    client
        .batch_execute(sql)
        .await
        .map_err(|e| ApiError::database(&e))?;
    reply(json!({ "transactionStatus": status }))
}

async fn commit(State(em): State<Arc<Emulator>>, body: Bytes) -> Result<Response, ApiError> {
    end(&em, &body, "COMMIT", "Transaction Committed").await
}

async fn rollback(State(em): State<Arc<Emulator>>, body: Bytes) -> Result<Response, ApiError> {
    end(&em, &body, "ROLLBACK", "Rollback Complete").await
}

/// Serves until the process ends, expiring idle transactions in the background.
pub async fn serve(
    listener: tokio::net::TcpListener,
    emulator: Arc<Emulator>,
) -> std::io::Result<()> {
    let sweeper = Arc::clone(&emulator);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(30));
        loop {
            tick.tick().await;
            sweeper.expire_idle();
        }
    });
    axum::serve(listener, router(emulator)).await
}

/// The listen address, if it is on loopback: the emulator checks no credentials.
pub fn loopback_only(listen: &str) -> Result<std::net::SocketAddr, String> {
    let addr: std::net::SocketAddr = listen
        .parse()
        .map_err(|_| format!("--listen {listen}: not an IP:PORT address"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "--listen {listen}: the emulator listens on loopback only (127.0.0.1 or ::1)"
        ));
    }
    Ok(addr)
}

/// A PostgreSQL URL with its password (if any) replaced by `***`, for logs.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod safety_tests {
    use super::*;

    #[test]
    fn listens_on_loopback_only() {
        assert!(loopback_only("127.0.0.1:8181").is_ok());
        assert!(loopback_only("[::1]:8181").is_ok());
        assert!(loopback_only("0.0.0.0:8181").is_err());
        assert!(loopback_only("192.0.2.7:8181").is_err());
        assert!(loopback_only("localhost:8181").is_err());
    }

    #[test]
    fn passwords_never_reach_the_log() {
        assert_eq!(
            redact_password("postgres://reco:s3cr3t@127.0.0.1:5433/db"),
            "postgres://reco:***@127.0.0.1:5433/db"
        );
        assert_eq!(
            redact_password("postgres://reco@127.0.0.1/db"),
            "postgres://reco@127.0.0.1/db"
        );
        assert!(!redact_password("postgresql://u:p%40ss@h/db").contains("p%40ss"));
    }
}
