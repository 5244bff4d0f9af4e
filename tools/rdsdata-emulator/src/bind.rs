//! `:name` parameters bound as the service binds them.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{Map, Value};
use tokio_postgres::types::ToSql;

use crate::error::ApiError;
use crate::sql;

pub(crate) type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// Turns `:name` placeholders into typed positional ones, binding each parameter as
/// the service does: strings as varchar (or through the type hint), longs as int8,
/// doubles as float8, blobs as bytea, nulls as untyped NULL.
pub(crate) fn bind(sql: &str, parameters: Option<&Value>) -> Result<(String, Params), ApiError> {
    let mut by_name: HashMap<String, &Map<String, Value>> = HashMap::new();
    if let Some(list) = parameters {
        let list = list
            .as_array()
            .ok_or_else(|| ApiError::bad_request("parameters must be a list"))?;
        for p in list {
            let p = p
                .as_object()
                .ok_or_else(|| ApiError::bad_request("a parameter must be an object"))?;
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            by_name.insert(name, p);
        }
    }
    let mut params: Params = Vec::new();
    let rewritten = sql::rewrite(sql, |name| {
        let p = by_name
            .get(name)
            .ok_or_else(|| format!("No value specified for parameter: {name}"))?;
        let value = p
            .get("value")
            .and_then(Value::as_object)
            .ok_or_else(|| format!("parameter {name} has no value"))?;
        let hint = p.get("typeHint").and_then(Value::as_str);
        let (kind, v) = value
            .iter()
            .next()
            .ok_or_else(|| format!("parameter {name} has an empty value"))?;
        let n = params.len() + 1;
        let cast = match (kind.as_str(), v) {
            ("isNull", _) => return Ok("NULL".to_string()),
            ("stringValue", Value::String(s)) => {
                params.push(Box::new(s.clone()));
                match hint {
                    Some("TIMESTAMP") => "::text::timestamp",
                    Some("DATE") => "::text::date",
                    Some("TIME") => "::text::time",
                    Some("DECIMAL") => "::text::numeric",
                    Some("UUID") => "::text::uuid",
                    Some("JSON") => "::text::json",
                    _ => "::varchar",
                }
            }
            ("longValue", Value::Number(x)) => {
                params.push(Box::new(
                    x.as_i64()
                        .ok_or_else(|| format!("parameter {name} is not a long"))?,
                ));
                "::int8"
            }
            ("doubleValue", x) => {
                let v = match x {
                    Value::Number(x) => x.as_f64().unwrap_or(f64::NAN),
                    Value::String(s) => s.parse().unwrap_or(f64::NAN),
                    _ => return Err(format!("parameter {name} is not a double")),
                };
                params.push(Box::new(v));
                "::float8"
            }
            ("booleanValue", Value::Bool(b)) => {
                params.push(Box::new(*b));
                "::bool"
            }
            ("blobValue", Value::String(s)) => {
                let bytes = STANDARD
                    .decode(s)
                    .map_err(|_| format!("parameter {name} is not base64"))?;
                params.push(Box::new(bytes));
                "::bytea"
            }
            ("arrayValue", _) => return Err("Array parameters are not supported".to_string()),
            (other, _) => return Err(format!("parameter {name}: unsupported value {other}")),
        };
        Ok(format!("${n}{cast}"))
    })
    .map_err(ApiError::bad_request)?;
    Ok((rewritten, params))
}
