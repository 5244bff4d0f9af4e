//! The `Warehouse` adapter: archiving sessions and imports in batches inside
//! transactions, and the training set read in keyset pages.

use async_trait::async_trait;
use aws_sdk_rdsdata::types::{Field, SqlParameter};
use reco_core::warehouse::{
    session_sequences, ClickThrough, FeatureRow, ImportBatch, InteractionRow, SessionSequence,
    TrainingSet, MAX_TRAINING_SESSIONS,
};
use reco_core::{SessionDoc, Warehouse, WarehouseError};

use crate::params::{double, long, text, text_or_null, timestamp, Record};
use crate::{AuroraWarehouse, PAGE_ROWS};

impl AuroraWarehouse {
    /// Every row of a query ordered by a two-column key, read in keyset pages of
    /// `PAGE_ROWS`: `sql` takes `:after_key`, `:after_next` (the last row's key) and
    /// `:page`, and returns the key in its first two columns.
    async fn keyset<T>(
        &self,
        sql: &str,
        decode: impl Fn(&Record) -> Result<T, WarehouseError>,
    ) -> Result<Vec<T>, WarehouseError> {
        let mut rows = Vec::new();
        let (mut key, mut next) = (String::new(), String::new());
        loop {
            let out = self
                .execute(
                    sql,
                    vec![
                        text("after_key", &key),
                        text("after_next", &next),
                        long("page", PAGE_ROWS as i64),
                    ],
                    None,
                )
                .await?;
            let records = out.records.unwrap_or_default();
            for r in &records {
                rows.push(decode(&Record(r))?);
            }
            match records.last() {
                Some(last) if records.len() == PAGE_ROWS => {
                    key = Record(last).text(0)?;
                    next = Record(last).text(1)?;
                }
                _ => break,
            }
        }
        Ok(rows)
    }

    /// Every row of `training_interactions` (or the materialized variant), ordered by
    /// (user_key, item_id).
    pub async fn interactions(
        &self,
        materialized: bool,
    ) -> Result<Vec<InteractionRow>, WarehouseError> {
        let sql = if materialized {
            "SELECT user_key, item_id, weight, positive, last_at FROM training_interactions_materialized
             WHERE (user_key, item_id) > (:after_key, :after_next)
             ORDER BY user_key, item_id LIMIT :page"
        } else {
            "SELECT user_key, item_id, weight, positive, last_at FROM training_interactions
             WHERE (user_key, item_id) > (:after_key, :after_next)
             ORDER BY user_key, item_id LIMIT :page"
        };
        self.keyset(sql, |r| {
            Ok(InteractionRow {
                user_key: r.text(0)?,
                item_id: r.text(1)?,
                weight: r.double(2)?,
                positive: r.boolean(3)?,
                last_at: r.timestamp(4)?,
            })
        })
        .await
    }

    /// Every row of a (key, feature, weight) view.
    pub async fn features(&self, items: bool) -> Result<Vec<FeatureRow>, WarehouseError> {
        let sql = if items {
            "SELECT item_id, feature, weight FROM item_features
             WHERE (item_id, feature) > (:after_key, :after_next) ORDER BY 1, 2 LIMIT :page"
        } else {
            "SELECT user_key, feature, weight FROM user_features
             WHERE (user_key, feature) > (:after_key, :after_next) ORDER BY 1, 2 LIMIT :page"
        };
        self.keyset(sql, |r| {
            Ok(FeatureRow {
                key: r.text(0)?,
                feature: r.text(1)?,
                weight: r.double(2)?,
            })
        })
        .await
    }

    /// The newest `max` archived sessions with views (`training_sessions`; training
    /// reads [`MAX_TRAINING_SESSIONS`]), oldest first by (session_start, session_id),
    /// each with its views by seq. The oldest of them is found first; from it on, the
    /// views are read in keyset pages of `PAGE_ROWS` on (session_start, session_id,
    /// seq), so a session may span pages but no response nears the 1 MiB limit. The
    /// start travels as text (`session_start::text`, exact to the microsecond), so the
    /// key is never rounded.
    pub async fn sessions(&self, max: usize) -> Result<Vec<SessionSequence>, WarehouseError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let skip = i64::try_from(max - 1).unwrap_or(i64::MAX);
        let oldest = self
            .execute(
                "SELECT session_start::text AS start_key, session_id FROM sessions s
                 WHERE EXISTS (SELECT 1 FROM session_views v WHERE v.session_id = s.session_id)
                 ORDER BY session_start DESC, session_id DESC OFFSET :skip LIMIT 1",
                vec![long("skip", skip)],
                None,
            )
            .await?;
        // Fewer sessions than the limit: all of them, from the start of time.
        let (mut start, mut session) = match oldest.records().first() {
            Some(r) => (Record(r).text(0)?, Record(r).text(1)?),
            None => ("-infinity".to_string(), String::new()),
        };
        let mut seq = -1;
        let mut views = Vec::new();
        loop {
            let out = self
                .execute(
                    "SELECT session_start::text AS start_key, session_id, seq, item_id FROM training_sessions
                     WHERE (session_start, session_id) >= (CAST(:start AS timestamptz), :session)
                       AND (session_start, session_id, seq) > (CAST(:start AS timestamptz), :session, :seq)
                     ORDER BY session_start, session_id, seq LIMIT :page",
                    vec![
                        text("start", &start),
                        text("session", &session),
                        long("seq", seq),
                        long("page", PAGE_ROWS as i64),
                    ],
                    None,
                )
                .await?;
            let records = out.records.unwrap_or_default();
            for r in &records {
                let r = Record(r);
                views.push((r.text(1)?, r.text(3)?));
            }
            match records.last() {
                Some(last) if records.len() == PAGE_ROWS => {
                    let last = Record(last);
                    start = last.text(0)?;
                    session = last.text(1)?;
                    seq = last.long(2)?;
                }
                _ => break,
            }
        }
        Ok(session_sequences(views))
    }

    /// Recomputes the materialized training set without blocking readers.
    pub async fn refresh_materialized(&self) -> Result<(), WarehouseError> {
        self.execute(
            "REFRESH MATERIALIZED VIEW CONCURRENTLY training_interactions_materialized",
            Vec::new(),
            None,
        )
        .await
        .map(|_| ())
    }
}

const UPSERT_SESSION: &str =
    "INSERT INTO sessions (session_id, customer_id, session_start, last_update, view_count)
     VALUES (:session_id, :customer_id, :session_start, :last_update, :view_count)
     ON CONFLICT (session_id) DO UPDATE SET
         customer_id = EXCLUDED.customer_id, session_start = EXCLUDED.session_start,
         last_update = EXCLUDED.last_update, view_count = EXCLUDED.view_count, archived_at = now()";

const UPSERT_VIEW: &str =
    "INSERT INTO session_views (session_id, seq, item_id, viewed_at, recommendation_id)
     VALUES (:session_id, :seq, :item_id, :viewed_at, :recommendation_id)
     ON CONFLICT (session_id, seq) DO UPDATE SET item_id = EXCLUDED.item_id,
         viewed_at = EXCLUDED.viewed_at, recommendation_id = EXCLUDED.recommendation_id";

const UPSERT_IMPRESSION: &str = "INSERT INTO session_impressions (session_id, seq, list_position,
         recommendation_id, model_version, strategy, item_id, shown_at)
     VALUES (:session_id, :seq, :position, :recommendation_id, :model_version, :strategy,
         :item_id, :shown_at)
     ON CONFLICT (session_id, seq, list_position) DO UPDATE SET
         recommendation_id = EXCLUDED.recommendation_id, model_version = EXCLUDED.model_version,
         strategy = EXCLUDED.strategy, item_id = EXCLUDED.item_id, shown_at = EXCLUDED.shown_at";

#[async_trait]
impl Warehouse for AuroraWarehouse {
    async fn archive_sessions(&self, sessions: &[SessionDoc]) -> Result<(), WarehouseError> {
        let session_sets: Vec<Vec<SqlParameter>> = sessions
            .iter()
            .map(|s| {
                vec![
                    text("session_id", &s.session_id),
                    text_or_null("customer_id", s.customer_id.as_deref()),
                    timestamp("session_start", s.session_start),
                    timestamp("last_update", s.last_update),
                    long("view_count", i64::from(s.view_count)),
                ]
            })
            .collect();
        let view_sets: Vec<Vec<SqlParameter>> = sessions
            .iter()
            .flat_map(|s| {
                s.items_viewed.iter().enumerate().map(move |(seq, v)| {
                    vec![
                        text("session_id", &s.session_id),
                        long("seq", seq as i64),
                        text("item_id", &v.item_id),
                        timestamp("viewed_at", v.viewed_at),
                        text_or_null("recommendation_id", v.recommendation_id.as_deref()),
                    ]
                })
            })
            .collect();
        let impression_sets: Vec<Vec<SqlParameter>> = sessions
            .iter()
            .flat_map(|s| {
                s.impressions
                    .iter()
                    .enumerate()
                    .flat_map(move |(seq, imp)| {
                        imp.item_ids
                            .iter()
                            .enumerate()
                            .map(move |(position, item)| {
                                vec![
                                    text("session_id", &s.session_id),
                                    long("seq", seq as i64),
                                    long("position", position as i64),
                                    text("recommendation_id", &imp.recommendation_id),
                                    text("model_version", &imp.model_version),
                                    text("strategy", &imp.strategy),
                                    text("item_id", item),
                                    timestamp("shown_at", imp.shown_at),
                                ]
                            })
                    })
            })
            .collect();
        self.in_transaction(|tx| async move {
            self.batch(UPSERT_SESSION, session_sets, Some(&tx)).await?;
            if !view_sets.is_empty() {
                self.batch(UPSERT_VIEW, view_sets, Some(&tx)).await?;
            }
            if !impression_sets.is_empty() {
                self.batch(UPSERT_IMPRESSION, impression_sets, Some(&tx))
                    .await?;
            }
            Ok(())
        })
        .await
    }

    async fn click_through(&self) -> Result<Vec<ClickThrough>, WarehouseError> {
        let out = self
            .execute(
                "SELECT model_version, strategy, recommendations, impressions, clicks, click_through
                 FROM recommendation_performance ORDER BY model_version DESC, strategy",
                Vec::new(),
                None,
            )
            .await?;
        let count = |r: &Record<'_>, i: usize| -> Result<u64, WarehouseError> {
            u64::try_from(r.long(i)?).map_err(|_| WarehouseError::Other("a negative count".into()))
        };
        out.records()
            .iter()
            .map(|r| {
                let r = Record(r);
                Ok(ClickThrough {
                    model_version: r.text(0)?,
                    strategy: r.text(1)?,
                    recommendations: count(&r, 2)?,
                    impressions: count(&r, 3)?,
                    clicks: count(&r, 4)?,
                    click_through: r.double(5)?,
                })
            })
            .collect()
    }

    async fn load(&self, batch: &ImportBatch) -> Result<(), WarehouseError> {
        let customers: Vec<Vec<SqlParameter>> = batch
            .customers
            .iter()
            .map(|c| {
                vec![
                    text("id", &c.customer_id),
                    match c.birth_year {
                        Some(y) => long("year", i64::from(y)),
                        None => text_or_null("year", None),
                    },
                    text_or_null("gender", c.gender.as_deref()),
                    text_or_null("region", c.region.as_deref()),
                ]
            })
            .collect();
        let items: Vec<Vec<SqlParameter>> = batch
            .items
            .iter()
            .map(|i| {
                vec![
                    text("id", &i.item_id),
                    text_or_null("category", i.category.as_deref()),
                    text_or_null("brand", i.brand.as_deref()),
                    match i.price {
                        Some(p) => double("price", p),
                        None => text_or_null("price", None),
                    },
                    text("tags", &i.tags),
                    SqlParameter::builder()
                        .name("active")
                        .value(Field::BooleanValue(i.active))
                        .build(),
                ]
            })
            .collect();
        let purchases: Vec<Vec<SqlParameter>> = batch
            .purchases
            .iter()
            .map(|p| {
                vec![
                    text("id", &p.purchase_id),
                    text("customer", &p.customer_id),
                    text("item", &p.item_id),
                    long("qty", i64::from(p.quantity)),
                    timestamp("at", p.purchased_at),
                ]
            })
            .collect();
        let ratings: Vec<Vec<SqlParameter>> = batch
            .ratings
            .iter()
            .map(|r| {
                vec![
                    text("customer", &r.customer_id),
                    text("item", &r.item_id),
                    long("rating", i64::from(r.rating)),
                    timestamp("at", r.rated_at),
                ]
            })
            .collect();
        self.in_transaction(|tx| async move {
            let steps = [
                ("INSERT INTO customers (customer_id, birth_year, gender, region) VALUES (:id, :year, :gender, :region)
                  ON CONFLICT (customer_id) DO UPDATE SET birth_year = EXCLUDED.birth_year,
                      gender = EXCLUDED.gender, region = EXCLUDED.region", customers),
                ("INSERT INTO items (item_id, category, brand, price, tags, active)
                  VALUES (:id, :category, :brand, :price, :tags, :active)
                  ON CONFLICT (item_id) DO UPDATE SET category = EXCLUDED.category, brand = EXCLUDED.brand,
                      price = EXCLUDED.price, tags = EXCLUDED.tags, active = EXCLUDED.active", items),
                ("INSERT INTO purchases VALUES (:id, :customer, :item, :qty, :at)
                  ON CONFLICT (purchase_id) DO UPDATE SET customer_id = EXCLUDED.customer_id,
                      item_id = EXCLUDED.item_id, quantity = EXCLUDED.quantity, purchased_at = EXCLUDED.purchased_at", purchases),
                ("INSERT INTO ratings VALUES (:customer, :item, :rating, :at)
                  ON CONFLICT (customer_id, item_id) DO UPDATE SET rating = EXCLUDED.rating, rated_at = EXCLUDED.rated_at", ratings),
            ];
            for (sql, sets) in steps {
                if !sets.is_empty() {
                    self.batch(sql, sets, Some(&tx)).await?;
                }
            }
            Ok(())
        })
        .await
    }

    async fn refresh_training_set(&self) -> Result<(), WarehouseError> {
        self.refresh_materialized().await
    }

    async fn refresh_in_progress(&self) -> Result<bool, WarehouseError> {
        // Another session's statement: visible to the role that runs it (the state
        // machine uses the train role's secret) and to pg_read_all_stats members.
        let out = self
            .execute(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                     WHERE pid <> pg_backend_pid() AND state = 'active'
                       AND query ILIKE 'REFRESH MATERIALIZED VIEW%training_interactions_materialized%')",
                Vec::new(),
                None,
            )
            .await?;
        let records = out.records();
        let first = records
            .first()
            .ok_or_else(|| WarehouseError::Other("no row from pg_stat_activity".into()))?;
        Record(first).boolean(0)
    }

    async fn training_set(&self, materialized: bool) -> Result<TrainingSet, WarehouseError> {
        Ok(TrainingSet {
            interactions: self.interactions(materialized).await?,
            user_features: self.features(false).await?,
            item_features: self.features(true).await?,
            sessions: self.sessions(MAX_TRAINING_SESSIONS).await?,
        })
    }
}
