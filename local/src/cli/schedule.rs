//! Timers for the work `reco serve` does besides answering requests.

use std::future::Future;
use std::time::Duration;

/// Runs `task` every `period`, the first time after `first_after`, one run at a time:
/// a run that outlasts the period delays the next rather than overlapping it.
pub fn every<F, Fut>(period: Duration, first_after: Duration, mut task: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first_after, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            task().await;
        }
    });
}
