//! Field-by-field validation of request input. Every refusal names the field, using
//! JSON paths such as `views[3].item_id`.
//!
//! Limits (the rules of `reco_core::ids`): session ids 1..=128 bytes of
//! `A-Z a-z 0-9 . _ : -`; item ids 1..=256 bytes and customer ids 1..=128 bytes of
//! UTF-8 with no control or invisible format characters and no surrounding
//! whitespace; 1..=25 views per batch; `viewed_at` and `shown_at` RFC 3339, at most 5
//! minutes ahead of the server clock and at most 7 days old; 1..=10 impressions per
//! request, each of 1..=100 item ids.

use reco_core::ids;
use reco_core::sessions::{ImpressionInput, TrackViews, ViewInput};
use reco_core::Timestamp;
use serde_json::{Map, Value};

use crate::ApiError;

pub const MAX_SESSION_ID: usize = ids::MAX_SESSION_ID_BYTES;
pub const MAX_ITEM_ID: usize = ids::MAX_ITEM_ID_BYTES;
pub const MAX_CUSTOMER_ID: usize = ids::MAX_CUSTOMER_ID_BYTES;
pub const MAX_BATCH: usize = 25;
/// Impressions per request.
pub const MAX_IMPRESSIONS: usize = 10;
/// Items per impression: what one response holds at most (`k` is at most 100).
pub const MAX_SHOWN_ITEMS: usize = 100;
pub const MAX_FUTURE_SECS: i64 = 300;
pub const MAX_AGE_SECS: i64 = 7 * 86_400;

pub fn session_id(id: &str) -> Result<(), ApiError> {
    ids::session_id(id).map_err(|e| ApiError::invalid("session_id", &e.to_string()))
}

fn text_id(field: &str, value: &Value, max: usize) -> Result<String, ApiError> {
    let Value::String(s) = value else {
        return Err(ApiError::invalid(field, "must be a string"));
    };
    ids::text_id(s, max).map_err(|e| ApiError::invalid(field, &e.to_string()))?;
    Ok(s.clone())
}

fn viewed_at(field: &str, value: &Value, now: Timestamp) -> Result<Timestamp, ApiError> {
    let Value::String(s) = value else {
        return Err(ApiError::invalid(
            field,
            "must be an RFC 3339 date-time string",
        ));
    };
    let t = Timestamp::parse_rfc3339(s)
        .ok_or_else(|| ApiError::invalid(field, "must be an RFC 3339 date-time string"))?;
    if t > now.plus_secs(MAX_FUTURE_SECS) {
        return Err(ApiError::invalid(field, "is in the future"));
    }
    if t < now.plus_secs(-MAX_AGE_SECS) {
        return Err(ApiError::invalid(field, "is more than 7 days old"));
    }
    Ok(t)
}

fn reject_unknown(
    object: &Map<String, Value>,
    prefix: &str,
    allowed: &[&str],
) -> Result<(), ApiError> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::unknown_field(&format!("{prefix}{k}"))),
        None => Ok(()),
    }
}

/// One view object: `{item_id, customer_id?, viewed_at?, recommendation_id?}`.
/// Returns the view and its customer id, if any.
fn view(
    prefix: &str,
    object: &Map<String, Value>,
    now: Timestamp,
) -> Result<(ViewInput, Option<String>), ApiError> {
    reject_unknown(
        object,
        prefix,
        &["item_id", "customer_id", "viewed_at", "recommendation_id"],
    )?;
    let item_field = format!("{prefix}item_id");
    let item_id = match object.get("item_id") {
        Some(v) => text_id(&item_field, v, MAX_ITEM_ID)?,
        None => return Err(ApiError::invalid(&item_field, "is required")),
    };
    let customer_id = match object.get("customer_id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(text_id(
            &format!("{prefix}customer_id"),
            v,
            MAX_CUSTOMER_ID,
        )?),
    };
    let viewed_at = match object.get("viewed_at") {
        None | Some(Value::Null) => None,
        Some(v) => Some(viewed_at(&format!("{prefix}viewed_at"), v, now)?),
    };
    let recommendation_id = match object.get("recommendation_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(r)) => {
            reco_core::ids::recommendation_id(r).map_err(|e| {
                ApiError::invalid(&format!("{prefix}recommendation_id"), &e.to_string())
            })?;
            Some(r.clone())
        }
        Some(_) => {
            return Err(ApiError::invalid(
                &format!("{prefix}recommendation_id"),
                "must be a string",
            ))
        }
    };
    Ok((
        ViewInput {
            item_id,
            viewed_at,
            recommendation_id,
        },
        customer_id,
    ))
}

/// Parses `{item_id, customer_id?, viewed_at?, recommendation_id?}` or `{views: [...],
/// customer_id?}`.
pub fn track_views(body: &[u8], now: Timestamp) -> Result<TrackViews, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::malformed_json(&e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    };
    let mut customers: Vec<(String, String)> = Vec::new();
    let mut views = Vec::new();
    if let Some(batch) = object.get("views") {
        reject_unknown(&object, "", &["views", "customer_id"])?;
        if let Some(c) = object.get("customer_id").filter(|v| !v.is_null()) {
            customers.push((
                "customer_id".into(),
                text_id("customer_id", c, MAX_CUSTOMER_ID)?,
            ));
        }
        let Value::Array(items) = batch else {
            return Err(ApiError::invalid("views", "must be an array"));
        };
        if items.is_empty() || items.len() > MAX_BATCH {
            return Err(ApiError::invalid(
                "views",
                &format!("must hold 1..={MAX_BATCH} views"),
            ));
        }
        for (i, item) in items.iter().enumerate() {
            let prefix = format!("views[{i}].");
            let Value::Object(o) = item else {
                return Err(ApiError::invalid(
                    &format!("views[{i}]"),
                    "must be an object",
                ));
            };
            let (v, c) = view(&prefix, o, now)?;
            if let Some(c) = c {
                customers.push((format!("{prefix}customer_id"), c));
            }
            views.push(v);
        }
    } else {
        let (v, c) = view("", &object, now)?;
        if let Some(c) = c {
            customers.push(("customer_id".into(), c));
        }
        views.push(v);
    }
    let customer_id = match customers.split_first() {
        None => None,
        Some(((_, first), rest)) => {
            if let Some((field, _)) = rest.iter().find(|(_, c)| c != first) {
                return Err(ApiError::invalid(
                    field,
                    "differs from the other customer_id in this request",
                ));
            }
            Some(first.clone())
        }
    };
    Ok(TrackViews { customer_id, views })
}

fn string_field<'a>(
    object: &'a Map<String, Value>,
    field: &str,
    path: &str,
) -> Result<&'a str, ApiError> {
    match object.get(field) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(ApiError::invalid(path, "is required")),
        Some(_) => Err(ApiError::invalid(path, "must be a string")),
    }
}

/// Parses `{impressions: [{recommendation_id, model_version, strategy, item_ids,
/// shown_at?}]}`: 1..=10 impressions, each of 1..=100 item ids, the other fields as a
/// recommendation response gave them.
pub fn impressions(body: &[u8], now: Timestamp) -> Result<Vec<ImpressionInput>, ApiError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::malformed_json(&e.to_string()))?;
    let Value::Object(object) = value else {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    };
    reject_unknown(&object, "", &["impressions"])?;
    let list = match object.get("impressions") {
        Some(Value::Array(list)) => list,
        None => return Err(ApiError::invalid("impressions", "is required")),
        Some(_) => return Err(ApiError::invalid("impressions", "must be an array")),
    };
    if list.is_empty() || list.len() > MAX_IMPRESSIONS {
        return Err(ApiError::invalid(
            "impressions",
            &format!("must hold 1..={MAX_IMPRESSIONS} impressions"),
        ));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let prefix = format!("impressions[{i}].");
        let Value::Object(o) = entry else {
            return Err(ApiError::invalid(
                &format!("impressions[{i}]"),
                "must be an object",
            ));
        };
        reject_unknown(
            o,
            &prefix,
            &[
                "recommendation_id",
                "model_version",
                "strategy",
                "item_ids",
                "shown_at",
            ],
        )?;
        let field = |name: &str| format!("{prefix}{name}");
        let recommendation_id = string_field(o, "recommendation_id", &field("recommendation_id"))?;
        ids::recommendation_id(recommendation_id)
            .map_err(|e| ApiError::invalid(&field("recommendation_id"), &e.to_string()))?;
        let model_version = string_field(o, "model_version", &field("model_version"))?;
        ids::model_version(model_version)
            .map_err(|e| ApiError::invalid(&field("model_version"), &e.to_string()))?;
        let strategy = string_field(o, "strategy", &field("strategy"))?;
        ids::strategy(strategy)
            .map_err(|e| ApiError::invalid(&field("strategy"), &e.to_string()))?;
        let items = match o.get("item_ids") {
            Some(Value::Array(items)) => items,
            None | Some(Value::Null) => {
                return Err(ApiError::invalid(&field("item_ids"), "is required"))
            }
            Some(_) => return Err(ApiError::invalid(&field("item_ids"), "must be an array")),
        };
        if items.is_empty() || items.len() > MAX_SHOWN_ITEMS {
            return Err(ApiError::invalid(
                &field("item_ids"),
                &format!("must hold 1..={MAX_SHOWN_ITEMS} item ids"),
            ));
        }
        let item_ids = items
            .iter()
            .enumerate()
            .map(|(j, v)| text_id(&format!("{prefix}item_ids[{j}]"), v, MAX_ITEM_ID))
            .collect::<Result<Vec<_>, _>>()?;
        let shown_at = match o.get("shown_at") {
            None | Some(Value::Null) => None,
            Some(v) => Some(viewed_at(&field("shown_at"), v, now)?),
        };
        out.push(ImpressionInput {
            recommendation_id: recommendation_id.to_string(),
            model_version: model_version.to_string(),
            strategy: strategy.to_string(),
            item_ids,
            shown_at,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp(1_800_000_000_000);

    fn err(body: &str) -> ApiError {
        track_views(body.as_bytes(), NOW).expect_err("refused")
    }

    #[test]
    fn single_and_batch_views_parse() {
        let one = track_views(br#"{"item_id":"i1","customer_id":"c1"}"#, NOW).expect("valid");
        assert_eq!(one.customer_id.as_deref(), Some("c1"));
        assert_eq!(one.views.len(), 1);
        let batch = track_views(
            br#"{"views":[{"item_id":"a","viewed_at":"2027-01-15T08:00:00Z"},{"item_id":"b"}]}"#,
            NOW,
        )
        .expect("valid");
        assert_eq!(batch.views.len(), 2);
        assert!(batch.views[0].viewed_at.is_some());
        assert_eq!(batch.customer_id, None);
    }

    #[test]
    fn each_refusal_names_its_field() {
        let cases = [
            (r#"{"item_id":""}"#, "invalid_field", Some("item_id")),
            (r#"{"item_id":7}"#, "invalid_field", Some("item_id")),
            (r#"{"item":"x"}"#, "unknown_field", Some("item")),
            (r#"{}"#, "invalid_field", Some("item_id")),
            (
                r#"{"item_id":"x","viewed_at":"noon"}"#,
                "invalid_field",
                Some("viewed_at"),
            ),
            (
                r#"{"item_id":"x","viewed_at":"2030-01-01T00:00:00Z"}"#,
                "invalid_field",
                Some("viewed_at"),
            ),
            (
                r#"{"item_id":"x","viewed_at":"2020-01-01T00:00:00Z"}"#,
                "invalid_field",
                Some("viewed_at"),
            ),
            (r#"{"views":[]}"#, "invalid_field", Some("views")),
            (
                r#"{"views":[{"item_id":"a"},{"item_id":" b"}]}"#,
                "invalid_field",
                Some("views[1].item_id"),
            ),
            (
                r#"{"views":[{"item_id":"a","extra":1}]}"#,
                "unknown_field",
                Some("views[0].extra"),
            ),
            (
                r#"{"views":[{"item_id":"a","customer_id":"c1"},{"item_id":"b","customer_id":"c2"}]}"#,
                "invalid_field",
                Some("views[1].customer_id"),
            ),
            (r#"[1,2]"#, "invalid_field", Some("body")),
            (r#"{"item_id":"x""#, "malformed_json", None),
        ];
        for (body, code, field) in cases {
            let e = err(body);
            assert_eq!(e.status.as_u16(), 400, "{body}");
            assert_eq!(e.code, code, "{body}");
            assert_eq!(e.field.as_deref(), field, "{body}");
            if let Some(f) = field {
                assert!(e.message.contains(f), "{body}: {}", e.message);
            }
        }
    }

    #[test]
    fn recommendation_ids_are_kept_when_well_formed_and_refused_otherwise() {
        let rid = "0123456789abcdef0123456789abcdef";
        let one = track_views(
            format!(r#"{{"item_id":"i1","recommendation_id":"{rid}"}}"#).as_bytes(),
            NOW,
        )
        .expect("valid");
        assert_eq!(one.views[0].recommendation_id.as_deref(), Some(rid));
        let batch = track_views(
            format!(
                r#"{{"views":[{{"item_id":"a"}},{{"item_id":"b","recommendation_id":"{rid}"}}]}}"#
            )
            .as_bytes(),
            NOW,
        )
        .expect("valid");
        assert_eq!(batch.views[0].recommendation_id, None);
        assert_eq!(batch.views[1].recommendation_id.as_deref(), Some(rid));
        for (body, field) in [
            (
                r#"{"item_id":"i","recommendation_id":"ABCDEF0123456789ABCDEF0123456789"}"#,
                "recommendation_id",
            ),
            (
                r#"{"item_id":"i","recommendation_id":"0123"}"#,
                "recommendation_id",
            ),
            (
                r#"{"item_id":"i","recommendation_id":7}"#,
                "recommendation_id",
            ),
            (
                r#"{"views":[{"item_id":"i","recommendation_id":"x"}]}"#,
                "views[0].recommendation_id",
            ),
        ] {
            let e = track_views(body.as_bytes(), NOW).expect_err(body);
            assert_eq!(
                (e.code, e.field.as_deref()),
                ("invalid_field", Some(field)),
                "{body}"
            );
            assert!(e.message.starts_with(field), "{}", e.message);
        }
    }

    #[test]
    fn batches_over_the_limit_are_refused() {
        let views: Vec<String> = (0..26)
            .map(|i| format!(r#"{{"item_id":"i{i}"}}"#))
            .collect();
        let e = err(&format!(r#"{{"views":[{}]}}"#, views.join(",")));
        assert_eq!(e.field.as_deref(), Some("views"));
    }

    #[test]
    fn ids_are_limited_in_bytes_and_refuse_invisible_characters() {
        let four_byte = "\u{1F600}";
        let ok = format!(r#"{{"item_id":"{}"}}"#, four_byte.repeat(64));
        assert!(track_views(ok.as_bytes(), NOW).is_ok());
        let e = err(&format!(r#"{{"item_id":"{}"}}"#, four_byte.repeat(65)));
        assert_eq!(e.field.as_deref(), Some("item_id"));
        assert!(e.message.contains("bytes"), "{}", e.message);
        let e = err(r#"{"item_id":"sku\u202e1"}"#);
        assert_eq!(e.field.as_deref(), Some("item_id"));
        let e = err(r#"{"item_id":"a","customer_id":"c\u200b1"}"#);
        assert_eq!(e.field.as_deref(), Some("customer_id"));
    }

    #[test]
    fn session_ids_are_checked() {
        assert!(session_id("abc-123_x:y.z").is_ok());
        for bad in [String::new(), "a b".into(), "x".repeat(129)] {
            let e = session_id(&bad).expect_err("refused");
            assert_eq!(
                (e.status.as_u16(), e.code),
                (400, "invalid_field"),
                "{bad:?}"
            );
            assert!(e.message.contains("session_id"), "{}", e.message);
        }
    }

    #[test]
    fn impressions_parse_and_name_the_bad_field() {
        let rid = "0123456789abcdef0123456789abcdef";
        let good = format!(
            r#"{{"impressions":[{{"recommendation_id":"{rid}","model_version":"20261130T120000Z-ab12","strategy":"session","item_ids":["a","b"]}}]}}"#
        );
        let parsed = impressions(good.as_bytes(), NOW).expect("valid");
        assert_eq!(parsed.len(), 1);
        assert_eq!(parsed[0].item_ids, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(parsed[0].shown_at, None);
        let refused = |body: String, field: &str| {
            let e = impressions(body.as_bytes(), NOW).expect_err("refused");
            assert!(e.message.contains(field), "{field}: {}", e.message);
        };
        refused(good.replace(rid, "XYZ"), "impressions[0].recommendation_id");
        refused(good.replace("session", "magic"), "impressions[0].strategy");
        refused(
            good.replace("20261130T120000Z-ab12", "../x"),
            "impressions[0].model_version",
        );
        refused(
            good.replace(r#"["a","b"]"#, "[]"),
            "impressions[0].item_ids",
        );
        refused(
            good.replace(r#""b""#, r#""""#),
            "impressions[0].item_ids[1]",
        );
        refused(
            good.replace(r#""strategy""#, r#""colour""#),
            "impressions[0].colour",
        );
        refused(r#"{"impressions":[]}"#.into(), "impressions");
        refused(r#"{"views":[]}"#.into(), "views");
        refused(
            good.replace(r#""item_ids""#, r#""shown_at":"tomorrow","item_ids""#),
            "impressions[0].shown_at",
        );
    }
}
