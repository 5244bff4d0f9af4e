//! A warehouse paused at 0 ACUs answers its first calls with
//! `DatabaseResumingException` while it wakes: the adapter waits for it instead of
//! failing. Against the RDS Data API emulator told to answer so, over the real
//! PostgreSQL scripts/test starts.

use std::time::Instant;

use reco_core::Warehouse;
use reco_rdsdata::{AuroraWarehouse, Target};
use reco_testkit::service_env;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resuming_database_is_waited_for_not_an_error() {
    let postgres = service_env("RECO_TEST_POSTGRES_URL", "PostgreSQL");
    // An emulator of this test's own, so that no other test meets the resuming answers.
    let emulator = rdsdata_emulator::Emulator::new(&postgres).expect("emulator");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("listen");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(rdsdata_emulator::serve(listener, emulator.clone()));

    let aws = aws_config::from_env()
        .endpoint_url(format!("http://{addr}"))
        .load()
        .await;
    let warehouse = AuroraWarehouse::new(
        aws_sdk_rdsdata::Client::new(&aws),
        Target {
            resource_arn: "arn:aws:rds:us-east-1:123456789012:cluster:paused".into(),
            secret_arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:paused".into(),
            database: "postgres".into(),
        },
    );

    // More resuming answers than the retries of other transient failures cover.
    emulator.answer_resuming(6);
    let started = Instant::now();
    let in_progress = warehouse.refresh_in_progress().await;
    assert!(
        in_progress.is_ok(),
        "a resuming database is waited for: {in_progress:?}"
    );
    assert_eq!(
        emulator.resuming_calls_left(),
        0,
        "every resuming answer was met"
    );
    assert!(
        started.elapsed() < reco_rdsdata::client::RESUME_WAIT,
        "{:?}",
        started.elapsed()
    );
}
