//! The DynamoDB session store against moto server (started by scripts/test, found
//! through AWS_ENDPOINT_URL_DYNAMODB like any SDK client would).

use std::collections::HashMap;
use std::sync::Arc;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use reco_dynamodb::{create_sessions_table, DynamoSessionStore, ACTIVE_INDEX, TTL_ATTRIBUTE};
use reco_testkit::{run_prefix, service_env};

async fn client() -> Client {
    service_env("AWS_ENDPOINT_URL_DYNAMODB", "moto server (DynamoDB)");
    let config = aws_config::load_from_env().await;
    Client::new(&config)
}

async fn fresh_table(client: &Client) -> String {
    let table = format!("sessions-{}", run_prefix());
    create_sessions_table(client, &table)
        .await
        .expect("table created");
    table
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dynamodb_store_meets_the_session_store_contract() {
    let client = client().await;
    let table = fresh_table(&client).await;
    let store = DynamoSessionStore::new(client, table);
    reco_testkit::session_store_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn archived_items_carry_ttl_and_leave_the_active_index() {
    let client = client().await;
    let table = fresh_table(&client).await;
    let store = DynamoSessionStore::new(client.clone(), table.clone());
    reco_testkit::archive_rules(&store, "ttl").await;
    let item = client
        .get_item()
        .table_name(&table)
        .key("session_id", AttributeValue::S("ttl-archive".into()))
        .send()
        .await
        .expect("get")
        .item
        .expect("exists");
    assert_eq!(
        item.get(TTL_ATTRIBUTE),
        Some(&AttributeValue::N("1900000000".into()))
    );
    assert_eq!(item.get("is_active"), Some(&AttributeValue::Bool(false)));
    assert!(
        !item.contains_key("active_shard"),
        "sparse index key removed"
    );

    // An active session is in the sparse index under its shard; the archived one is not.
    reco_testkit::customer_rules(&store, "ttl").await;
    let active = client
        .query()
        .table_name(&table)
        .index_name(ACTIVE_INDEX)
        .key_condition_expression("active_shard = :s AND idle_check < :cutoff")
        .expression_attribute_values(":s", AttributeValue::N("3".into()))
        .expression_attribute_values(":cutoff", AttributeValue::N("9999999999999".into()))
        .send()
        .await
        .expect("query");
    let ids: Vec<String> = active
        .items()
        .iter()
        .filter_map(|i| i.get("session_id").and_then(|v| v.as_s().ok()).cloned())
        .collect();
    assert_eq!(ids, vec!["ttl-customer".to_string()]);

    let ttl = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .expect("describe ttl");
    let desc = ttl.time_to_live_description().expect("ttl described");
    assert_eq!(desc.attribute_name(), Some(TTL_ATTRIBUTE));
}

/// The table the code creates is the table template.yaml declares.
#[tokio::test]
async fn table_definition_agrees_with_template() {
    let template: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))
            .expect("template.yaml readable"),
    )
    .expect("template.yaml parses");
    let props = &template["Resources"]["SessionsTable"]["Properties"];
    let pairs = |v: &serde_yaml::Value, a: &str, b: &str| -> HashMap<String, String> {
        v.as_sequence()
            .expect("a list")
            .iter()
            .map(|e| {
                (
                    e[a].as_str().expect("string").to_string(),
                    e[b].as_str().expect("string").to_string(),
                )
            })
            .collect()
    };

    let client = client().await;
    let table = fresh_table(&client).await;
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .expect("describe")
        .table
        .expect("table");
    let attrs: HashMap<String, String> = described
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_string(),
                a.attribute_type().as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(
        attrs,
        pairs(
            &props["AttributeDefinitions"],
            "AttributeName",
            "AttributeType"
        )
    );
    let keys: HashMap<String, String> = described
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_string(),
                k.key_type().as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(keys, pairs(&props["KeySchema"], "AttributeName", "KeyType"));
    let gsi_t = &props["GlobalSecondaryIndexes"][0];
    let gsi = &described.global_secondary_indexes()[0];
    assert_eq!(gsi.index_name(), gsi_t["IndexName"].as_str());
    assert_eq!(gsi.index_name(), Some(ACTIVE_INDEX));
    let gsi_keys: HashMap<String, String> = gsi
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_string(),
                k.key_type().as_str().to_string(),
            )
        })
        .collect();
    assert_eq!(
        gsi_keys,
        pairs(&gsi_t["KeySchema"], "AttributeName", "KeyType")
    );
    assert_eq!(
        gsi.projection()
            .and_then(|p| p.projection_type())
            .map(|p| p.as_str()),
        gsi_t["Projection"]["ProjectionType"].as_str()
    );
    assert_eq!(
        props["TimeToLiveSpecification"]["AttributeName"].as_str(),
        Some(TTL_ATTRIBUTE)
    );
    assert_eq!(props["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
}
