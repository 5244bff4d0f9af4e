//! Test support shared by the adapters' and functions' test suites:
//! - [`services`]: the real local services scripts/test starts, found or failed loudly;
//! - [`clock`]: a clock tests move by hand;
//! - [`session_contract`]: one behavioural contract for every `SessionStore`, so
//!   DynamoDB and SQLite are held to the same rules;
//! - [`deadpool_contract`]: the deadpool's guarantees on any store and warehouse,
//!   with the faults it must survive;
//! - [`warehouse_contract`]: what every warehouse adapter must do with archived
//!   sessions;
//! - [`training_contract`]: what every warehouse adapter must give training (session
//!   sequences, anonymous sessions under `include_anonymous_sessions`);
//! - [`fixture`]: a hand-checked warehouse fixture; [`shop`]: a generated shop;
//! - [`events`], [`iam`]: checks of events/ and of template.yaml's policies.

pub mod clock;
pub mod deadpool_contract;
pub mod events;
pub mod fixture;
pub mod iam;
pub mod lease_contract;
pub mod services;
pub mod session_contract;
pub mod shop;
mod support;
pub mod training_contract;
pub mod warehouse_contract;

pub use clock::ManualClock;
pub use deadpool_contract::{
    deadpool_contract, deadpool_quarantines_what_the_warehouse_refuses,
    deadpool_reaches_every_shard, WarehouseProbe,
};
pub use lease_contract::deadpool_runs_one_at_a_time;
pub use services::{run_prefix, service_env};
pub use session_contract::{archive_rules, customer_rules, session_store_contract};
pub use training_contract::{
    anonymous_sessions_train_until_customers_appear, archived_sessions_come_back_as_sequences,
    CustomerSignal, TrainingProbe,
};
pub use warehouse_contract::{
    click_through_is_counted, session_with_click, warehouse_keeps_a_reused_session_id_apart,
};
