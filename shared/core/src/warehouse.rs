//! Warehouse rows: what imports load and what training reads.

use crate::domain::Timestamp;

#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub customer_id: String,
    pub birth_year: Option<i32>,
    pub gender: Option<String>,
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub item_id: String,
    pub category: Option<String>,
    pub brand: Option<String>,
    pub price: Option<f64>,
    /// Comma-separated.
    pub tags: String,
    pub active: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Purchase {
    pub purchase_id: String,
    pub customer_id: String,
    pub item_id: String,
    pub quantity: i32,
    pub purchased_at: Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    pub customer_id: String,
    pub item_id: String,
    pub rating: i32,
    pub rated_at: Timestamp,
}

/// Rows to load in one transaction (upserts by key).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportBatch {
    pub customers: Vec<Customer>,
    pub items: Vec<Item>,
    pub purchases: Vec<Purchase>,
    pub ratings: Vec<Rating>,
}

impl ImportBatch {
    pub fn len(&self) -> usize {
        self.customers.len() + self.items.len() + self.purchases.len() + self.ratings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One row of `training_interactions`.
#[derive(Debug, Clone, PartialEq)]
pub struct InteractionRow {
    pub user_key: String,
    pub item_id: String,
    pub weight: f64,
    pub positive: bool,
    pub last_at: Timestamp,
}

/// One row of `user_features` or `item_features`.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    pub key: String,
    pub feature: String,
    pub weight: f64,
}

/// One archived session's views in order, as training reads them (`training_sessions`).
#[derive(Debug, Clone, PartialEq)]
pub struct SessionSequence {
    pub session_id: String,
    /// The viewed items, by the views' `seq`.
    pub items: Vec<String>,
}

/// The newest archived sessions training reads as sequences.
pub const MAX_TRAINING_SESSIONS: usize = 500_000;

/// Groups `(session_id, item_id)` view rows, ordered by session and then by `seq`, into
/// one sequence per session, in the order the sessions first appear.
pub fn session_sequences<I>(views: I) -> Vec<SessionSequence>
where
    I: IntoIterator<Item = (String, String)>,
{
    let mut out: Vec<SessionSequence> = Vec::new();
    for (session_id, item_id) in views {
        match out.last_mut() {
            Some(last) if last.session_id == session_id => last.items.push(item_id),
            _ => out.push(SessionSequence {
                session_id,
                items: vec![item_id],
            }),
        }
    }
    out
}

/// Everything training reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingSet {
    pub interactions: Vec<InteractionRow>,
    pub user_features: Vec<FeatureRow>,
    pub item_features: Vec<FeatureRow>,
    /// Every archived session with at least one view, anonymous or not (whatever
    /// `include_anonymous_sessions` says): the newest [`MAX_TRAINING_SESSIONS`], oldest
    /// first by (session_start, session_id), each with its views by `seq`.
    pub sessions: Vec<SessionSequence>,
}

/// One row of `recommendation_performance`: how the lists of one model version and
/// strategy did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ClickThrough {
    pub model_version: String,
    pub strategy: String,
    /// Recommendation lists shown.
    pub recommendations: u64,
    /// Items shown (each once per list).
    pub impressions: u64,
    /// Shown items opened from their list in the same session.
    pub clicks: u64,
    /// `clicks / impressions`.
    pub click_through: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_views_of_a_session_make_one_sequence() {
        let rows = [
            ("s2", "b"),
            ("s2", "a"),
            ("s1", "c"),
            ("s3", "d"),
            ("s3", "d"),
        ];
        let got = session_sequences(rows.iter().map(|(s, i)| (s.to_string(), i.to_string())));
        let got: Vec<(&str, Vec<&str>)> = got
            .iter()
            .map(|s| {
                (
                    s.session_id.as_str(),
                    s.items.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("s2", vec!["b", "a"]),
                ("s1", vec!["c"]),
                ("s3", vec!["d", "d"])
            ]
        );
        assert!(session_sequences(Vec::new()).is_empty());
    }
}
