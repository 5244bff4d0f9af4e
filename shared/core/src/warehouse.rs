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

/// Everything training reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainingSet {
    pub interactions: Vec<InteractionRow>,
    pub user_features: Vec<FeatureRow>,
    pub item_features: Vec<FeatureRow>,
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
