//! The sessions table's definition, for local stacks and tests.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;
use reco_core::StoreError;

use crate::{sdk_error, ACTIVE_INDEX, IDLE_CHECK, TTL_ATTRIBUTE};

/// Creates the sessions table exactly as template.yaml declares it (a test checks
/// that the two agree): on-demand, keyed by `session_id`, with the sparse
/// active-session index and TTL on `expires_at`. For local stacks and tests.
pub async fn create_sessions_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))
    };
    let attr = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(kind)
            .build()
            .map_err(|e| StoreError::Other(e.to_string()))
    };
    let index = GlobalSecondaryIndex::builder()
        .index_name(ACTIVE_INDEX)
        .key_schema(key("active_shard", KeyType::Hash)?)
        .key_schema(key(IDLE_CHECK, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build(),
        )
        .build()
        .map_err(|e| StoreError::Other(e.to_string()))?;
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("session_id", ScalarAttributeType::S)?)
        .attribute_definitions(attr("active_shard", ScalarAttributeType::N)?)
        .attribute_definitions(attr(IDLE_CHECK, ScalarAttributeType::N)?)
        .key_schema(key("session_id", KeyType::Hash)?)
        .global_secondary_indexes(index)
        .send()
        .await
        .map_err(sdk_error)?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(TTL_ATTRIBUTE)
                .build()
                .map_err(|e| StoreError::Other(e.to_string()))?,
        )
        .send()
        .await
        .map_err(sdk_error)?;
    Ok(())
}
