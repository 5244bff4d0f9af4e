//! What every warehouse adapter must give training: the archived sessions as ordered
//! view sequences (`training_sessions`), and anonymous sessions as `session:<id>`
//! users as `reco_settings.include_anonymous_sessions` says ('auto' by default).

use reco_core::warehouse::{ImportBatch, Purchase, Rating, TrainingSet};
use reco_core::{SessionDoc, Timestamp, View, Warehouse};

use crate::run_prefix;
use crate::support::T0;

/// The adapter's own SQL for what the `Warehouse` port does not do.
#[async_trait::async_trait]
pub trait TrainingProbe: Send + Sync {
    /// `reco_settings.include_anonymous_sessions`.
    async fn anonymous_setting(&self) -> String;
    /// Sets `reco_settings.include_anonymous_sessions` to `value`.
    async fn set_anonymous_setting(&self, value: &str);
    /// Inserts view `seq` of the archived session `session_id` (at `T0`).
    async fn insert_view(&self, session_id: &str, seq: i64, item_id: &str);
}

/// An archived session starting at `start`, with `items` viewed in order.
fn session(session_id: &str, customer_id: Option<&str>, start: i64, items: &[&str]) -> SessionDoc {
    SessionDoc {
        session_id: session_id.to_string(),
        customer_id: customer_id.map(str::to_string),
        is_active: false,
        session_start: Timestamp(start),
        last_update: Timestamp(start + 1_000),
        items_viewed: items
            .iter()
            .enumerate()
            .map(|(i, item)| View {
                item_id: item.to_string(),
                viewed_at: Timestamp(start + i as i64),
                recommendation_id: None,
            })
            .collect(),
        view_count: items.len() as u32,
        impressions: Vec::new(),
        expires_at: None,
    }
}

/// The sequences of `set` whose session id starts with `prefix`, as (id, items).
fn sequences(set: &TrainingSet, prefix: &str) -> Vec<(String, Vec<String>)> {
    set.sessions
        .iter()
        .filter(|s| s.session_id.starts_with(prefix))
        .map(|s| (s.session_id.clone(), s.items.clone()))
        .collect()
}

fn owned(id: &str, items: &[&str]) -> (String, Vec<String>) {
    (
        id.to_string(),
        items.iter().map(|i| i.to_string()).collect(),
    )
}

/// Archived sessions come back in `TrainingSet::sessions`, anonymous or not and
/// whatever `include_anonymous_sessions` says: oldest first by session_start, each
/// with its views by seq (also when they were stored out of that order); a session
/// without views is left out.
pub async fn archived_sessions_come_back_as_sequences(
    warehouse: &dyn Warehouse,
    probe: &dyn TrainingProbe,
) {
    let p = run_prefix();
    let (late, early, empty) = (
        format!("{p}-late"),
        format!("{p}-early"),
        format!("{p}-empty"),
    );
    // Archived first, though it started last.
    warehouse
        .archive_sessions(&[session(&late, None, T0 + 60_000, &["x", "y", "x"])])
        .await
        .expect("archived");
    warehouse
        .archive_sessions(&[
            session(&early, Some("c-seq"), T0, &[]),
            session(&empty, None, T0 + 120_000, &[]),
        ])
        .await
        .expect("archived");
    // The customer's views stored out of their order.
    for (seq, item) in [(2, "c"), (0, "a"), (1, "b")] {
        probe.insert_view(&early, seq, item).await;
    }
    let expected = vec![
        owned(&early, &["a", "b", "c"]),
        owned(&late, &["x", "y", "x"]),
    ];
    for setting in ["auto", "false", "true"] {
        probe.set_anonymous_setting(setting).await;
        for materialized in [false, true] {
            warehouse.refresh_training_set().await.expect("refreshed");
            let set = warehouse.training_set(materialized).await.expect("read");
            assert_eq!(
                sequences(&set, &p),
                expected,
                "include_anonymous_sessions = {setting}, materialized {materialized}"
            );
        }
    }
}

/// What, beside an archived session with a customer, tells `'auto'` the site has
/// customers.
#[derive(Debug, Clone, Copy)]
pub enum CustomerSignal {
    /// An archived session with a customer.
    Session,
    /// A purchase.
    Purchase,
    /// A rating.
    Rating,
}

/// The user keys of the interactions training reads (the view, then the refreshed
/// materialized variant, which must agree).
async fn users(warehouse: &dyn Warehouse) -> Vec<String> {
    let read = |set: TrainingSet| {
        let mut users: Vec<String> = set.interactions.into_iter().map(|r| r.user_key).collect();
        users.sort();
        users.dedup();
        users
    };
    let view = read(warehouse.training_set(false).await.expect("read"));
    warehouse.refresh_training_set().await.expect("refreshed");
    let stored = read(warehouse.training_set(true).await.expect("read"));
    assert_eq!(
        view, stored,
        "the materialized variant agrees with the view"
    );
    view
}

/// On a new warehouse (the setting at its default, 'auto'), a site with only anonymous
/// sessions trains on them as `session:<id>` users; once `signal` shows a customer,
/// they are left out. 'true' includes them whatever else there is; 'false' leaves them
/// out.
pub async fn anonymous_sessions_train_until_customers_appear(
    warehouse: &dyn Warehouse,
    probe: &dyn TrainingProbe,
    signal: CustomerSignal,
) {
    let p = run_prefix();
    let anon = format!("{p}-anon");
    let pseudo = format!("session:{anon}");
    assert_eq!(probe.anonymous_setting().await, "auto", "the default");
    warehouse
        .archive_sessions(&[session(&anon, None, T0, &["i1", "i2"])])
        .await
        .expect("archived");
    assert_eq!(
        users(warehouse).await,
        std::slice::from_ref(&pseudo),
        "only anonymous sessions"
    );
    probe.set_anonymous_setting("false").await;
    assert!(users(warehouse).await.is_empty(), "'false' leaves them out");
    probe.set_anonymous_setting("auto").await;
    assert_eq!(users(warehouse).await, std::slice::from_ref(&pseudo));

    let customer = format!("{p}-customer");
    match signal {
        CustomerSignal::Session => warehouse
            .archive_sessions(&[session(&format!("{p}-known"), Some(&customer), T0, &["i3"])])
            .await
            .expect("archived"),
        CustomerSignal::Purchase => warehouse
            .load(&ImportBatch {
                purchases: vec![Purchase {
                    purchase_id: format!("{p}-purchase"),
                    customer_id: customer.clone(),
                    item_id: "i3".into(),
                    quantity: 1,
                    purchased_at: Timestamp(T0),
                }],
                ..ImportBatch::default()
            })
            .await
            .expect("loaded"),
        CustomerSignal::Rating => warehouse
            .load(&ImportBatch {
                ratings: vec![Rating {
                    customer_id: customer.clone(),
                    item_id: "i3".into(),
                    rating: 5,
                    rated_at: Timestamp(T0),
                }],
                ..ImportBatch::default()
            })
            .await
            .expect("loaded"),
    }
    assert_eq!(
        users(warehouse).await,
        std::slice::from_ref(&customer),
        "{signal:?}: a site with customers leaves anonymous sessions out under 'auto'"
    );
    probe.set_anonymous_setting("true").await;
    let mut both = vec![customer.clone(), pseudo];
    both.sort();
    assert_eq!(users(warehouse).await, both, "'true' includes them");
    probe.set_anonymous_setting("false").await;
    assert_eq!(
        users(warehouse).await,
        [customer],
        "'false' leaves them out"
    );
}
