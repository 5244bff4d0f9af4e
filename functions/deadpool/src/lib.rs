//! The deadpool function: wiring of the deadpool use case onto DynamoDB and Aurora
//! (RDS Data API), and one invocation per scheduled event, bounded by the Lambda's
//! deadline. Counts go to the log as structured fields and, when the run did or met
//! something, as a CloudWatch Embedded Metric Format line: an idle run publishes no
//! metric, so an idle month bills no custom metric.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{Error, LambdaEvent};
use reco_core::deadpool::DeadpoolReport;
use reco_core::{Config, Deadpool, SystemClock};
use reco_dynamodb::DynamoSessionStore;
use reco_rdsdata::{AuroraWarehouse, Target};
use serde_json::{json, Value};

/// Every AWS action this function calls, from the adapters it wires: template.yaml's
/// policy for it allows exactly these (tests/events.rs checks).
pub fn iam_actions() -> Vec<&'static str> {
    [
        reco_dynamodb::iam::SESSIONS,
        reco_dynamodb::iam::INACTIVE_INDEX,
        reco_rdsdata::iam::STATEMENTS,
        reco_rdsdata::iam::BATCHES,
        reco_rdsdata::iam::SECRET,
    ]
    .concat()
}

/// Builds the use case once per cold start.
pub fn build(
    config: &Config,
    dynamodb: aws_sdk_dynamodb::Client,
    rdsdata: aws_sdk_rdsdata::Client,
    target: Target,
) -> Deadpool {
    let store = DynamoSessionStore::new(dynamodb, config.sessions_table.clone());
    let warehouse = AuroraWarehouse::new(rdsdata, target);
    let store = Arc::new(store);
    Deadpool::new(
        store.clone(),
        store,
        Arc::new(warehouse),
        Arc::new(SystemClock),
        config,
    )
}

/// One CloudWatch Embedded Metric Format line with the run's counts.
fn emf_line(report: &DeadpoolReport, namespace: &str, now_ms: i64) -> String {
    json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Function"]],
                "Metrics": [
                    {"Name": "SessionsArchived", "Unit": "Count"},
                    {"Name": "SessionsRaced", "Unit": "Count"},
                    {"Name": "SessionsFailed", "Unit": "Count"},
                    {"Name": "SessionsQuarantined", "Unit": "Count"},
                    {"Name": "LeaseBusy", "Unit": "Count"},
                ],
            }],
        },
        "Function": "deadpool",
        "SessionsArchived": report.archived,
        "SessionsRaced": report.raced,
        "SessionsFailed": report.failed,
        "SessionsQuarantined": report.quarantined,
        "LeaseBusy": u8::from(report.lease_busy),
        "OutOfTime": report.out_of_time,
    })
    .to_string()
}

/// One scheduled run.
pub async fn handle(deadpool: &Deadpool, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let report = deadpool
        .run(reco_core::domain::deadline_from_epoch_ms(
            event.context.deadline,
            Duration::ZERO,
        ))
        .await;
    tracing::info!(
        archived = report.archived,
        raced = report.raced,
        failed = report.failed,
        quarantined = report.quarantined,
        batches = report.batches,
        deferred = report.deferred,
        out_of_time = report.out_of_time,
        lease_busy = report.lease_busy,
        "deadpool run"
    );
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    // EMF: CloudWatch turns this stdout line into metrics.
    if worth_a_metric(&report) {
        println!("{}", emf_line(&report, "reco", now_ms));
    }
    Ok(json!({
        "archived": report.archived,
        "raced": report.raced,
        "failed": report.failed,
        "quarantined": report.quarantined,
        "batches": report.batches,
        "out_of_time": report.out_of_time,
        "deferred": report.deferred,
        "lease_busy": report.lease_busy,
    }))
}

/// Whether a run publishes its counts: only when it found work or was kept from it.
fn worth_a_metric(report: &DeadpoolReport) -> bool {
    report.archived + report.raced + report.failed + report.quarantined > 0
        || report.lease_busy
        || report.out_of_time
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metrics_line_is_embedded_metric_format() {
        let report = DeadpoolReport {
            archived: 7,
            raced: 1,
            failed: 2,
            quarantined: 3,
            ..DeadpoolReport::default()
        };
        let line: Value = serde_json::from_str(&emf_line(&report, "reco", 1_000)).expect("JSON");
        assert_eq!(line["_aws"]["Timestamp"], 1_000);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "reco");
        let names: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .expect("metrics")
            .iter()
            .filter_map(|m| m["Name"].as_str())
            .collect();
        assert_eq!(names.len(), 5);
        for name in &names {
            assert!(line[name].is_number(), "{name} has a value");
        }
        assert_eq!(
            (
                line["SessionsArchived"].as_u64(),
                line["SessionsQuarantined"].as_u64()
            ),
            (Some(7), Some(3))
        );
    }

    #[test]
    fn an_idle_run_publishes_no_metric_a_busy_lease_does() {
        assert!(!worth_a_metric(&DeadpoolReport::default()));
        let busy = DeadpoolReport {
            lease_busy: true,
            ..DeadpoolReport::default()
        };
        assert!(worth_a_metric(&busy));
        let line: Value = serde_json::from_str(&emf_line(&busy, "reco", 1)).expect("JSON");
        assert_eq!(line["LeaseBusy"], 1);
        assert_eq!(line["SessionsArchived"], 0);
        assert!(worth_a_metric(&DeadpoolReport {
            failed: 1,
            ..DeadpoolReport::default()
        }));
    }
}
