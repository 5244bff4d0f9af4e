//! The session document as a DynamoDB item, and back.

use aws_sdk_dynamodb::types::AttributeValue;
use reco_core::{Impression, SessionDoc, StoreError, Timestamp, View};

use std::collections::HashMap;

use crate::{Item, TTL_ATTRIBUTE};

pub(crate) fn number(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(n)) => n
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("{name} is not a number: {n}"))),
        _ => Err(StoreError::Corrupt(format!("{name} is missing"))),
    }
}

pub(crate) fn encode_impression(i: &Impression) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        (
            "recommendation_id".to_string(),
            AttributeValue::S(i.recommendation_id.clone()),
        ),
        (
            "model_version".to_string(),
            AttributeValue::S(i.model_version.clone()),
        ),
        (
            "strategy".to_string(),
            AttributeValue::S(i.strategy.clone()),
        ),
        (
            "item_ids".to_string(),
            AttributeValue::L(i.item_ids.iter().cloned().map(AttributeValue::S).collect()),
        ),
        (
            "shown_at".to_string(),
            AttributeValue::N(i.shown_at.millis().to_string()),
        ),
    ]))
}

fn decode_impression(entry: &AttributeValue) -> Result<Impression, StoreError> {
    let AttributeValue::M(m) = entry else {
        return Err(StoreError::Corrupt("impressions holds a non-map".into()));
    };
    let text = |name: &str| match m.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(StoreError::Corrupt(format!(
            "an impression's {name} is missing or not a string"
        ))),
    };
    let item_ids = match m.get("item_ids") {
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|v| match v {
                AttributeValue::S(s) => Ok(s.clone()),
                _ => Err(StoreError::Corrupt(
                    "an impression's item_ids holds a non-string".into(),
                )),
            })
            .collect::<Result<Vec<_>, _>>()?,
        _ => {
            return Err(StoreError::Corrupt(
                "an impression's item_ids is missing".into(),
            ))
        }
    };
    Ok(Impression {
        recommendation_id: text("recommendation_id")?,
        model_version: text("model_version")?,
        strategy: text("strategy")?,
        item_ids,
        shown_at: Timestamp(number(m, "shown_at")?),
    })
}

/// Reads a session item into the domain type.
pub fn decode(item: &Item) -> Result<SessionDoc, StoreError> {
    let session_id = match item.get("session_id") {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => return Err(StoreError::Corrupt("session_id is missing".into())),
    };
    let customer_id = match item.get("customer_id") {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    };
    let is_active = matches!(item.get("is_active"), Some(AttributeValue::Bool(true)));
    let mut items_viewed = Vec::new();
    if let Some(AttributeValue::L(list)) = item.get("items_viewed") {
        for entry in list {
            let AttributeValue::M(m) = entry else {
                return Err(StoreError::Corrupt("items_viewed holds a non-map".into()));
            };
            let item_id = match m.get("item_id") {
                Some(AttributeValue::S(s)) => s.clone(),
                _ => return Err(StoreError::Corrupt("a view has no item_id".into())),
            };
            let recommendation_id = match m.get("recommendation_id") {
                None => None,
                Some(AttributeValue::S(s)) => Some(s.clone()),
                Some(_) => {
                    return Err(StoreError::Corrupt(
                        "a view's recommendation_id is not a string".into(),
                    ))
                }
            };
            items_viewed.push(View {
                item_id,
                viewed_at: Timestamp(number(m, "viewed_at")?),
                recommendation_id,
            });
        }
    }
    let impressions = match item.get("impressions") {
        None => Vec::new(),
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(decode_impression)
            .collect::<Result<Vec<_>, _>>()?,
        Some(_) => return Err(StoreError::Corrupt("impressions is not a list".into())),
    };
    let view_count = u32::try_from(number(item, "view_count")?)
        .map_err(|_| StoreError::Corrupt("view_count out of range".into()))?;
    let expires_at = match item.get(TTL_ATTRIBUTE) {
        Some(_) => Some(number(item, TTL_ATTRIBUTE)?),
        None => None,
    };
    Ok(SessionDoc {
        session_id,
        customer_id,
        is_active,
        session_start: Timestamp(number(item, "session_start")?),
        last_update: Timestamp(number(item, "last_update")?),
        items_viewed,
        view_count,
        impressions,
        expires_at,
    })
}
