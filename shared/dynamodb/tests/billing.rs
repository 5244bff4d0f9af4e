//! The write units a session costs, computed from the items the adapter really writes
//! (read back from moto server after each write) by DynamoDB's sizing rules, against
//! the figures docs/cost.md is generated from (docs/cost-units.json).

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use reco_core::ports::AppendRequest;
use reco_core::sessions::{
    impression_bytes, request_bytes, shard_of, IMPRESSION_BYTES_BUDGET, SESSION_BYTES_BUDGET,
};
use reco_core::{Impression, SessionStore, Timestamp, View};
use reco_dynamodb::billing::{index_write_units, table_write_units, Item, INDEX_KEYS};
use reco_dynamodb::{create_sessions_table, DynamoSessionStore};
use reco_testkit::{run_prefix, service_env};

const UNITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/cost-units.json");
const T0: i64 = 1_765_000_000_000;
/// Views of the measured session come this far apart.
const VIEW_GAP_MS: i64 = 20_000;

async fn raw(client: &Client, table: &str, sid: &str) -> Option<Item> {
    client
        .get_item()
        .table_name(table)
        .key("session_id", AttributeValue::S(sid.to_string()))
        .consistent_read(true)
        .send()
        .await
        .expect("get")
        .item
}

/// A 40-byte id.
fn id40(kind: &str, i: usize) -> String {
    let id = format!("{kind}-{i:0>38}");
    format!("{:.40}", id)
}

#[derive(Default, Debug)]
struct Tally {
    table: u32,
    index: u32,
    /// Index writes had the sort key been `last_update` (every view moves the entry).
    index_if_last_update: u32,
    /// Index writes had the sort key been `last_update` rounded down to the minute.
    index_if_minute_bucket: u32,
}

impl Tally {
    fn add(&mut self, before: Option<&Item>, after: Option<&Item>) {
        self.table += table_write_units(before, after);
        self.index += index_write_units(before, after, &INDEX_KEYS);
        let by = |item: Option<&Item>, bucket: i64| -> Option<Item> {
            let item = item?;
            let mut keyed = Item::new();
            if let Some(shard) = item.get("active_shard") {
                let lu: i64 = match item.get("last_update") {
                    Some(AttributeValue::N(n)) => n.parse().expect("number"),
                    _ => return Some(keyed),
                };
                keyed.insert("active_shard".into(), shard.clone());
                keyed.insert("k".into(), AttributeValue::N((lu / bucket).to_string()));
            }
            Some(keyed)
        };
        let keys = ["active_shard", "k"];
        self.index_if_last_update +=
            index_write_units(by(before, 1).as_ref(), by(after, 1).as_ref(), &keys);
        self.index_if_minute_bucket += index_write_units(
            by(before, 60_000).as_ref(),
            by(after, 60_000).as_ref(),
            &keys,
        );
    }
}

fn units_file() -> serde_json::Value {
    let text = std::fs::read_to_string(UNITS).expect("docs/cost-units.json");
    serde_json::from_str(&text).expect("docs/cost-units.json is JSON")
}

fn recorded(units: &serde_json::Value, name: &str) -> f64 {
    units["dynamodb"][name]
        .as_f64()
        .unwrap_or_else(|| panic!("docs/cost-units.json has dynamodb.{name}"))
}

#[tokio::test]
async fn a_ten_view_session_costs_at_most_1_2_write_units_per_view() {
    service_env("AWS_ENDPOINT_URL_DYNAMODB", "moto server (DynamoDB)");
    let client = Client::new(&aws_config::load_from_env().await);
    let table = format!("billing-{}", run_prefix());
    create_sessions_table(&client, &table).await.expect("table");
    let store = DynamoSessionStore::new(client.clone(), table.clone());

    // Ten views of 40-byte item ids in a session with a 40-byte id, 20 s apart.
    let sid = format!("{}-{}", run_prefix(), "s")
        .chars()
        .take(40)
        .collect::<String>();
    let sid = format!("{sid:x<40}");
    assert_eq!(sid.len(), 40);
    let mut views_only = Tally::default();
    for i in 0..10 {
        view(&store, &client, &table, &sid, i, &mut views_only).await;
    }
    let per_view = f64::from(views_only.table + views_only.index) / 10.0;
    let if_last_update = f64::from(views_only.table + views_only.index_if_last_update) / 10.0;
    let if_minute = f64::from(views_only.table + views_only.index_if_minute_bucket) / 10.0;
    println!(
        "per view: {per_view} (table {}, index {}); keyed by last_update {if_last_update}; \
         by the minute of last_update {if_minute}",
        views_only.table, views_only.index
    );
    assert!(
        per_view <= 1.2,
        "{per_view} write units per view: {views_only:?}"
    );
    assert!(
        if_last_update > 2.5,
        "the old key would cost about 2.9: {if_last_update}"
    );

    // Archiving it: the deactivation's write and the index entry's removal.
    let before = raw(&client, &table, &sid).await;
    let last = T0 + 9 * VIEW_GAP_MS;
    assert!(store
        .archive(&sid, Timestamp(last), T0 / 1000 + 86_400)
        .await
        .expect("archive"));
    let after = raw(&client, &table, &sid).await;
    let mut archive = Tally::default();
    archive.add(before.as_ref(), after.as_ref());
    let per_archive = f64::from(archive.table + archive.index);

    // A session whose page also reports what it showed: a list of ten 40-byte ids
    // after each view.
    let sid2 = format!("{}y", &sid[..39]);
    let mut mixed_views = Tally::default();
    let mut impressions = Tally::default();
    for i in 0..10 {
        let at = T0 + i as i64 * VIEW_GAP_MS;
        let after = view(&store, &client, &table, &sid2, i, &mut mixed_views).await;
        let shown = [Impression {
            recommendation_id: format!("{:032x}", i + 1),
            model_version: "20261207T000000Z-0123abcd".into(),
            strategy: "session".into(),
            item_ids: (0..10).map(|j| id40("item", 100 + j)).collect(),
            shown_at: Timestamp(at + 500),
        }];
        let before = after;
        append(&store, &sid2, &[], &shown, at + 500).await;
        let after = raw(&client, &table, &sid2).await;
        impressions.add(before.as_ref(), after.as_ref());
    }
    let per_impression = f64::from(impressions.table + impressions.index) / 10.0;
    let per_view_with_impressions = f64::from(mixed_views.table + mixed_views.index) / 10.0;
    println!(
        "archive: {per_archive}; with a list of 10 shown after each view: \
         {per_view_with_impressions} per view, {per_impression} per list"
    );

    // docs/cost.md is generated from these figures: they must be today's.
    let units = units_file();
    for (name, measured) in [
        ("view_wru", per_view),
        ("archive_wru_per_session", per_archive),
        ("impression_wru", per_impression),
        ("view_wru_with_impressions", per_view_with_impressions),
    ] {
        let figure = recorded(&units, name);
        assert!(
            (figure - measured).abs() < 0.005,
            "docs/cost-units.json says dynamodb.{name} = {figure}, the adapter's writes cost \
             {measured}: update the file and run scripts/cost"
        );
    }
}

/// Records the `i`-th view of the measured sessions (a 40-byte item id, at
/// `T0 + i` gaps) in `sid`, tallies what it cost, and returns the item after it.
async fn view(
    store: &DynamoSessionStore,
    client: &Client,
    table: &str,
    sid: &str,
    i: usize,
    tally: &mut Tally,
) -> Option<Item> {
    let at = T0 + i as i64 * VIEW_GAP_MS;
    let views = [View {
        item_id: id40("item", i),
        viewed_at: Timestamp(at),
        recommendation_id: None,
    }];
    let before = raw(client, table, sid).await;
    append(store, sid, &views, &[], at).await;
    let after = raw(client, table, sid).await;
    tally.add(before.as_ref(), after.as_ref());
    after
}

async fn append(
    store: &DynamoSessionStore,
    sid: &str,
    views: &[View],
    impressions: &[Impression],
    at: i64,
) {
    let out = store
        .append(AppendRequest {
            session_id: sid,
            customer_id: None,
            views,
            now: Timestamp(at),
            max_views: 500,
            added_bytes: request_bytes(views),
            max_bytes: SESSION_BYTES_BUDGET,
            active_shard: shard_of(sid, 16),
            impressions,
            added_impression_bytes: impressions.iter().map(impression_bytes).sum(),
            max_impression_bytes: IMPRESSION_BYTES_BUDGET,
        })
        .await
        .expect("append");
    assert_eq!(out, reco_core::AppendOutcome::Appended);
}
