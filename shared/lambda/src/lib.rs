//! The functions' common start: one JSON object per log line for CloudWatch Logs
//! Insights, no timestamp (CloudWatch adds its own) and no module path, filtered by
//! `RUST_LOG` (the template sets it per function).

/// Installs the process's log subscriber; call once, first thing in `main`.
pub fn init_logging() {
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_target(false)
        .without_time()
        .init();
}
