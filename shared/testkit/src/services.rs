//! The real local services scripts/test starts: their addresses come from the
//! environment, and a test that needs one fails loudly when it is missing.

/// Reads a variable scripts/test sets, failing loudly when it is missing.
pub fn service_env(var: &str, service: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: this test needs {service}. Run scripts/test, which starts it on \
             loopback and sets {var}."
        )
    })
}

/// A prefix that keeps ids of one run apart from earlier runs against the same service,
/// and from the other tests of this process: two tests that ask within one tick of the
/// clock (seen: two warehouse tests' databases given the same name) differ by the
/// count of earlier calls.
pub fn run_prefix() -> String {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("t{}-{}-{call}", std::process::id(), nanos % 1_000_000_000)
}
