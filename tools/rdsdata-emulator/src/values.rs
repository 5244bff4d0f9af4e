//! PostgreSQL binary values to Data API fields, the way the real service (pgjdbc)
//! renders them: integers as `longValue`, floats as `doubleValue`, `numeric` and
//! date/time types as strings (timestamps in UTC, `YYYY-MM-DD HH:MM:SS[.ffffff]`, no
//! offset), `bytea` as base64 `blobValue`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};
use tokio_postgres::types::{FromSql, Type};

/// Any value, undecoded.
pub struct Raw<'a>(pub Option<&'a [u8]>);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }
    fn from_sql_null(_: &Type) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(None))
    }
    fn accepts(_: &Type) -> bool {
        true
    }
}

/// JDBC type code the real service reports for a PostgreSQL type.
pub fn jdbc_type(ty: &Type) -> i32 {
    match ty.name() {
        "int2" => 5,
        "int4" => 4,
        "int8" | "oid" => -5,
        "float4" => 7,
        "float8" => 8,
        "numeric" => 2,
        "bool" => -7,
        "text" | "varchar" | "name" => 12,
        "bpchar" | "char" => 1,
        "bytea" => -2,
        "date" => 91,
        "time" | "timetz" => 92,
        "timestamp" | "timestamptz" => 93,
        n if n.starts_with('_') => 2003,
        _ => 1111,
    }
}

fn be<const N: usize>(raw: &[u8]) -> Result<[u8; N], String> {
    raw.get(..N)
        .and_then(|s| s.try_into().ok())
        .ok_or_else(|| "truncated value".to_string())
}

const PG_EPOCH_OFFSET_SECS: i64 = 946_684_800; // 2000-01-01 in Unix seconds

fn timestamp(micros: i64) -> Result<String, String> {
    let secs = micros.div_euclid(1_000_000) + PG_EPOCH_OFFSET_SECS;
    let frac = micros.rem_euclid(1_000_000);
    let t = time::OffsetDateTime::from_unix_timestamp(secs).map_err(|e| e.to_string())?;
    let mut s = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if frac != 0 {
        let f = format!("{frac:06}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
    Ok(s)
}

fn date(days: i32) -> Result<String, String> {
    let t =
        time::OffsetDateTime::from_unix_timestamp(i64::from(days) * 86_400 + PG_EPOCH_OFFSET_SECS)
            .map_err(|e| e.to_string())?;
    Ok(format!(
        "{:04}-{:02}-{:02}",
        t.year(),
        u8::from(t.month()),
        t.day()
    ))
}

/// PostgreSQL's binary `numeric`: base-10000 digits with weight, sign and scale.
fn numeric(raw: &[u8]) -> Result<String, String> {
    let ndigits = i16::from_be_bytes(be(raw)?) as usize;
    let weight = i16::from_be_bytes(be(&raw[2..])?) as i32;
    let sign = u16::from_be_bytes(be(&raw[4..])?);
    let dscale = i16::from_be_bytes(be(&raw[6..])?) as usize;
    if sign == 0xC000 {
        return Ok("NaN".into());
    }
    let digits: Vec<u16> = (0..ndigits)
        .map(|k| be::<2>(&raw[8 + 2 * k..]).map(u16::from_be_bytes))
        .collect::<Result<_, _>>()?;
    let mut int_part = String::new();
    for k in 0..=weight.max(-1) {
        let d = digits.get(k as usize).copied().unwrap_or(0);
        if int_part.is_empty() {
            if d != 0 || k == weight {
                int_part = d.to_string();
            }
        } else {
            int_part.push_str(&format!("{d:04}"));
        }
    }
    if int_part.is_empty() {
        int_part.push('0');
    }
    let mut frac = String::new();
    let mut k = weight + 1;
    while frac.len() < dscale {
        let d = if k < 0 {
            0
        } else {
            digits.get(k as usize).copied().unwrap_or(0)
        };
        frac.push_str(&format!("{d:04}"));
        k += 1;
    }
    frac.truncate(dscale);
    let mut s = String::new();
    if sign == 0x4000 {
        s.push('-');
    }
    s.push_str(&int_part);
    if dscale > 0 {
        s.push('.');
        s.push_str(&frac);
    }
    Ok(s)
}

/// A typed value: the Data API field and its plain JSON form (for `formatRecordsAs`).
pub fn field(ty: &Type, raw: Option<&[u8]>) -> Result<(Value, Value), String> {
    let Some(raw) = raw else {
        return Ok((json!({"isNull": true}), Value::Null));
    };
    let long = |v: i64| (json!({ "longValue": v }), json!(v));
    let string = |s: String| (json!({ "stringValue": s }), json!(s));
    Ok(match ty.name() {
        "bool" => (
            json!({"booleanValue": raw.first() == Some(&1)}),
            json!(raw.first() == Some(&1)),
        ),
        "int2" => long(i64::from(i16::from_be_bytes(be(raw)?))),
        "int4" => long(i64::from(i32::from_be_bytes(be(raw)?))),
        "int8" => long(i64::from_be_bytes(be(raw)?)),
        "oid" => long(i64::from(u32::from_be_bytes(be(raw)?))),
        "float4" => {
            // Through the shortest decimal, as the service does, not the f32 widening.
            let v: f64 = f32::from_be_bytes(be(raw)?)
                .to_string()
                .parse()
                .unwrap_or(f64::NAN);
            (json!({ "doubleValue": v }), json!(v))
        }
        "float8" => {
            let v = f64::from_be_bytes(be(raw)?);
            (json!({ "doubleValue": v }), json!(v))
        }
        "numeric" => string(numeric(raw)?),
        "text" | "varchar" | "name" | "bpchar" | "char" | "json" | "xml" | "unknown" => {
            string(String::from_utf8_lossy(raw).into_owned())
        }
        "jsonb" => string(String::from_utf8_lossy(raw.get(1..).unwrap_or_default()).into_owned()),
        "uuid" => {
            let h: String = raw.iter().map(|b| format!("{b:02x}")).collect();
            if h.len() != 32 {
                return Err("bad uuid".into());
            }
            string(format!(
                "{}-{}-{}-{}-{}",
                &h[..8],
                &h[8..12],
                &h[12..16],
                &h[16..20],
                &h[20..]
            ))
        }
        "timestamp" | "timestamptz" => string(timestamp(i64::from_be_bytes(be(raw)?))?),
        "date" => string(date(i32::from_be_bytes(be(raw)?))?),
        "time" => {
            let us = i64::from_be_bytes(be(raw)?);
            let t = timestamp(us)?;
            string(t[11..].to_string())
        }
        "bytea" => {
            let b = STANDARD.encode(raw);
            (json!({ "blobValue": b }), json!(b))
        }
        other => {
            return Err(format!(
                "the Data API does not return values of type {other}"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_binary_renders_as_text() {
        // 123456.7890: weight 1, digits [12, 3456, 7890], dscale 4
        let raw = [0, 3, 0, 1, 0, 0, 0, 4, 0, 12, 0x0d, 0x80, 0x1e, 0xd2];
        assert_eq!(numeric(&raw).expect("decodes"), "123456.7890");
        // -0.05: weight -1, digits [500], dscale 2
        let raw = [0, 1, 0xff, 0xff, 0x40, 0, 0, 2, 0x01, 0xf4];
        assert_eq!(numeric(&raw).expect("decodes"), "-0.05");
        // 0
        let raw = [0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(numeric(&raw).expect("decodes"), "0");
    }

    #[test]
    fn timestamps_are_utc_without_offset() {
        assert_eq!(timestamp(0).expect("ok"), "2000-01-01 00:00:00");
        assert_eq!(timestamp(1_500_000).expect("ok"), "2000-01-01 00:00:01.5");
        assert_eq!(date(-1).expect("ok"), "1999-12-31");
    }
}
