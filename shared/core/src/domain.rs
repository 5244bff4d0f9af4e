//! Domain types: views, session documents and the millisecond timestamps they carry.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, UTC. Stored as a number so that the active-session
/// index can range over it; rendered as RFC 3339 in the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// Parses an RFC 3339 date-time (`2026-11-26T10:00:00Z`, offsets allowed).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        let ms = t.unix_timestamp_nanos() / 1_000_000;
        i64::try_from(ms).ok().map(Timestamp)
    }

    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| self.0.to_string())
    }

    pub fn plus_secs(self, secs: i64) -> Self {
        Timestamp(self.0.saturating_add(secs.saturating_mul(1000)))
    }
}

/// One product view inside a session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    pub item_id: String,
    pub viewed_at: Timestamp,
    /// The recommendation the visitor opened this item from (`recommendation_id` of
    /// a recommendation response), for click attribution.
    pub recommendation_id: Option<String>,
}

/// One recommendation list a page showed the visitor: which items, from which model
/// version and strategy (the response's fields), for click-through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Impression {
    pub recommendation_id: String,
    pub model_version: String,
    pub strategy: String,
    /// The items shown, in the order shown.
    pub item_ids: Vec<String>,
    pub shown_at: Timestamp,
}

/// The session document: what one visitor looked at, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionDoc {
    pub session_id: String,
    pub customer_id: Option<String>,
    pub is_active: bool,
    pub session_start: Timestamp,
    pub last_update: Timestamp,
    /// Views ordered by `viewed_at` (ties keep arrival order).
    pub items_viewed: Vec<View>,
    pub view_count: u32,
    /// Recommendation lists shown in this session, in arrival order.
    pub impressions: Vec<Impression>,
    /// Epoch seconds after which the store may delete an archived session.
    pub expires_at: Option<i64>,
}

/// An invocation's deadline given as epoch milliseconds (0: none), as an `Instant`
/// `margin` before it: the time left to stop cleanly.
pub fn deadline_from_epoch_ms(
    epoch_ms: u64,
    margin: std::time::Duration,
) -> Option<std::time::Instant> {
    if epoch_ms == 0 {
        return None;
    }
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    let left = std::time::Duration::from_millis(epoch_ms.saturating_sub(now_ms));
    Some(std::time::Instant::now() + left.saturating_sub(margin))
}

impl SessionDoc {
    /// Orders views by time; stores keep arrival order, readers see time order.
    pub fn sort_views(&mut self) {
        self.items_viewed.sort_by_key(|v| v.viewed_at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_keep_their_margin_and_zero_means_none() {
        use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
        assert_eq!(deadline_from_epoch_ms(0, Duration::ZERO), None);
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_millis() as u64;
        let d = deadline_from_epoch_ms(now_ms + 120_000, Duration::from_secs(60)).expect("set");
        let left = d.saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_secs(55) && left <= Duration::from_secs(60),
            "{left:?}"
        );
        let past = deadline_from_epoch_ms(now_ms - 5_000, Duration::ZERO).expect("set");
        assert!(past <= Instant::now(), "a passed deadline is now");
    }

    #[test]
    fn rfc3339_round_trip_keeps_milliseconds() {
        let t = Timestamp::parse_rfc3339("2026-11-26T10:00:00.123Z").expect("parses");
        assert_eq!(t.millis() % 1000, 123);
        assert_eq!(Timestamp::parse_rfc3339(&t.to_rfc3339()), Some(t));
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let a = Timestamp::parse_rfc3339("2026-11-26T12:00:00+02:00").expect("parses");
        let b = Timestamp::parse_rfc3339("2026-11-26T10:00:00Z").expect("parses");
        assert_eq!(a, b);
    }

    #[test]
    fn garbage_is_refused() {
        assert_eq!(Timestamp::parse_rfc3339("yesterday"), None);
        assert_eq!(Timestamp::parse_rfc3339("2026-13-40T00:00:00Z"), None);
    }
}
