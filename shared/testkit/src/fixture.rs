//! A hand-checked warehouse fixture and the rows the training views must return for it,
//! in PostgreSQL and SQLite alike. Each adapter loads it through its own
//! `Warehouse::load` and `Warehouse::archive_sessions` (see [`load`]).

use reco_core::warehouse::{Customer, ImportBatch, Item as ItemRow, Purchase, Rating};
use reco_core::{SessionDoc, Timestamp, View, Warehouse, WarehouseError};

/// (customer_id, birth_year, gender, region)
pub const CUSTOMERS: &[(&str, i32, &str, Option<&str>)] =
    &[("c1", 1990, "F", Some("North")), ("c2", 2010, "M", None)];
/// (item_id, category, brand, price, tags)
pub type Item = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    f64,
    &'static str,
);
pub const ITEMS: &[Item] = &[
    ("i1", Some("Shoes"), Some("Acme"), 30.0, "red, sale"),
    ("i2", Some("Hats"), None, 5.0, ""),
    ("i3", None, Some("Zed"), 300.0, "Eco"),
];
/// (purchase_id, customer_id, item_id, quantity)
pub const PURCHASES: &[(&str, &str, &str, i32)] = &[("p1", "c1", "i2", 2), ("p2", "c1", "i2", 5)];
/// (customer_id, item_id, rating)
pub const RATINGS: &[(&str, &str, i32)] = &[("c1", "i1", 2), ("c2", "i1", 5), ("c2", "i3", 3)];
/// (session_id, customer_id, viewed items in order)
pub const SESSIONS: &[(&str, Option<&str>, &[&str])] = &[
    ("s1", Some("c1"), &["i1", "i1", "i3"]),
    ("s2", None, &["i2"]),
];

/// (user_key, item_id, weight, positive), sorted.
pub fn interactions(anonymous: bool) -> Vec<(String, String, f64, bool)> {
    let mut rows = vec![
        // two views (2) + a rating of 2 (2); the dislike overrides the views
        ("c1", "i1", 4.0, false),
        // 7 units bought, 3 count: 15
        ("c1", "i2", 15.0, true),
        ("c1", "i3", 1.0, true),
        ("c2", "i1", 5.0, true),
        // rated 3: weight 3, not a positive
        ("c2", "i3", 3.0, false),
    ];
    if anonymous {
        rows.push(("session:s2", "i2", 1.0, true));
    }
    let mut rows: Vec<_> = rows
        .into_iter()
        .map(|(u, i, w, p)| (u.to_string(), i.to_string(), w, p))
        .collect();
    rows.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    rows
}

fn band(age: i32) -> &'static str {
    match age {
        ..=17 => "under-18",
        18..=24 => "18-24",
        25..=34 => "25-34",
        35..=44 => "35-44",
        45..=54 => "45-54",
        55..=64 => "55-64",
        _ => "65+",
    }
}

/// (user_key, feature), sorted, for the given current year.
pub fn user_features(year: i32) -> Vec<(String, String)> {
    let mut rows = vec![
        ("c1".to_string(), format!("age:{}", band(year - 1990))),
        ("c1".to_string(), "gender:F".to_string()),
        ("c1".to_string(), "region:north".to_string()),
        ("c2".to_string(), format!("age:{}", band(year - 2010))),
        ("c2".to_string(), "gender:M".to_string()),
    ];
    rows.sort();
    rows
}

/// (item_id, feature), sorted.
pub fn item_features() -> Vec<(String, String)> {
    let mut rows: Vec<(String, String)> = [
        ("i1", "category:shoes"),
        ("i1", "brand:acme"),
        ("i1", "price:25-50"),
        ("i1", "tag:red"),
        ("i1", "tag:sale"),
        ("i2", "category:hats"),
        ("i2", "price:under-10"),
        ("i3", "brand:zed"),
        ("i3", "price:250+"),
        ("i3", "tag:eco"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    rows.sort();
    rows
}

/// The current UTC year.
pub fn current_year() -> i32 {
    time::OffsetDateTime::now_utc().year()
}

/// When every fixture event happened.
pub const AT: Timestamp = Timestamp(1_800_000_000_000);

/// The customers, items, purchases and ratings as one import batch.
pub fn batch() -> ImportBatch {
    ImportBatch {
        customers: CUSTOMERS
            .iter()
            .map(|(id, year, gender, region)| Customer {
                customer_id: id.to_string(),
                birth_year: Some(*year),
                gender: Some(gender.to_string()),
                region: region.map(str::to_string),
            })
            .collect(),
        items: ITEMS
            .iter()
            .map(|(id, category, brand, price, tags)| ItemRow {
                item_id: id.to_string(),
                category: category.map(str::to_string),
                brand: brand.map(str::to_string),
                price: Some(*price),
                tags: tags.to_string(),
                active: true,
            })
            .collect(),
        purchases: PURCHASES
            .iter()
            .map(|(id, customer, item, quantity)| Purchase {
                purchase_id: id.to_string(),
                customer_id: customer.to_string(),
                item_id: item.to_string(),
                quantity: *quantity,
                purchased_at: AT,
            })
            .collect(),
        ratings: RATINGS
            .iter()
            .map(|(customer, item, rating)| Rating {
                customer_id: customer.to_string(),
                item_id: item.to_string(),
                rating: *rating,
                rated_at: AT,
            })
            .collect(),
    }
}

/// The archived sessions.
pub fn sessions() -> Vec<SessionDoc> {
    SESSIONS
        .iter()
        .map(|(sid, customer, items)| SessionDoc {
            session_id: sid.to_string(),
            customer_id: customer.map(str::to_string),
            is_active: false,
            session_start: AT,
            last_update: AT,
            items_viewed: items
                .iter()
                .map(|i| View {
                    item_id: i.to_string(),
                    viewed_at: AT,
                    recommendation_id: None,
                })
                .collect(),
            view_count: items.len() as u32,
            impressions: Vec::new(),
            expires_at: None,
        })
        .collect()
}

/// Loads the fixture through the warehouse's own import and archive paths.
pub async fn load(warehouse: &dyn Warehouse) -> Result<(), WarehouseError> {
    warehouse.load(&batch()).await?;
    warehouse.archive_sessions(&sessions()).await
}
