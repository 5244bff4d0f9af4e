//! The warehouse on Aurora PostgreSQL through the RDS Data API: parameterised
//! statements only (no SQL is assembled from input), `BatchExecuteStatement` for bulk
//! writes inside transactions, keyset-paged reads so no response nears the service's
//! 1 MiB limit, typed decoding, and retries with backoff on transient errors.
//!
//! - [`target`]: which cluster, secret and database;
//! - [`client`]: the Data API calls, each through one retry helper;
//! - [`params`]: bound parameters and typed decoding of result fields;
//! - [`warehouse`]: the `Warehouse` adapter (archiving, imports, keyset-paged reads);
//! - [`migrate`]: the schema migrations.

pub mod client;
pub mod migrate;
pub mod params;
pub mod target;
pub mod warehouse;

use aws_sdk_rdsdata::Client;

pub use params::{
    double, format_timestamp, long, parse_timestamp, text, text_or_null, timestamp, Record,
};
pub use reco_core::warehouse::InteractionRow;
pub use target::Target;

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

/// The warehouse on Aurora PostgreSQL, reached through the RDS Data API.
#[derive(Clone, Debug)]
pub struct AuroraWarehouse {
    client: Client,
    target: Target,
}

impl AuroraWarehouse {
    pub fn new(client: Client, target: Target) -> Self {
        AuroraWarehouse { client, target }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }
}
