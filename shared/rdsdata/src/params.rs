//! Bound parameters (no SQL is assembled from input) and typed decoding of result
//! fields.

use aws_sdk_rdsdata::types::{Field, SqlParameter, TypeHint};
use reco_core::{Timestamp, WarehouseError};

/// A named text parameter.
pub fn text(name: &str, value: &str) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(Field::StringValue(value.to_string()))
        .build()
}

/// A named text parameter, or NULL.
pub fn text_or_null(name: &str, value: Option<&str>) -> SqlParameter {
    match value {
        Some(v) => text(name, v),
        None => SqlParameter::builder()
            .name(name)
            .value(Field::IsNull(true))
            .build(),
    }
}

pub fn long(name: &str, value: i64) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(Field::LongValue(value))
        .build()
}

pub fn double(name: &str, value: f64) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(Field::DoubleValue(value))
        .build()
}

/// A timestamp, sent as the service expects (`YYYY-MM-DD HH:MM:SS.fff`, UTC, hinted).
pub fn timestamp(name: &str, value: Timestamp) -> SqlParameter {
    SqlParameter::builder()
        .name(name)
        .value(Field::StringValue(format_timestamp(value)))
        .type_hint(TypeHint::Timestamp)
        .build()
}

pub fn format_timestamp(t: Timestamp) -> String {
    let odt = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t.millis()) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        odt.year(),
        u8::from(odt.month()),
        odt.day(),
        odt.hour(),
        odt.minute(),
        odt.second(),
        odt.millisecond()
    )
}

/// Parses the service's timestamp strings (`YYYY-MM-DD HH:MM:SS[.f]`, UTC).
pub fn parse_timestamp(s: &str) -> Option<Timestamp> {
    let iso = format!("{}Z", s.replacen(' ', "T", 1));
    Timestamp::parse_rfc3339(&iso)
}

/// Typed access to one record.
pub struct Record<'a>(pub &'a [Field]);

impl Record<'_> {
    fn field(&self, i: usize) -> Result<&Field, WarehouseError> {
        self.0
            .get(i)
            .ok_or_else(|| WarehouseError::Other(format!("record has no column {i}")))
    }
    pub fn text(&self, i: usize) -> Result<String, WarehouseError> {
        match self.field(i)? {
            Field::StringValue(s) => Ok(s.clone()),
            other => Err(WarehouseError::Other(format!(
                "column {i}: expected text, got {other:?}"
            ))),
        }
    }
    pub fn opt_text(&self, i: usize) -> Result<Option<String>, WarehouseError> {
        match self.field(i)? {
            Field::IsNull(true) => Ok(None),
            _ => self.text(i).map(Some),
        }
    }
    pub fn long(&self, i: usize) -> Result<i64, WarehouseError> {
        match self.field(i)? {
            Field::LongValue(v) => Ok(*v),
            other => Err(WarehouseError::Other(format!(
                "column {i}: expected a long, got {other:?}"
            ))),
        }
    }
    pub fn double(&self, i: usize) -> Result<f64, WarehouseError> {
        match self.field(i)? {
            Field::DoubleValue(v) => Ok(*v),
            Field::LongValue(v) => Ok(*v as f64),
            Field::StringValue(s) => s
                .parse()
                .map_err(|_| WarehouseError::Other(format!("column {i}: `{s}` is not a number"))),
            other => Err(WarehouseError::Other(format!(
                "column {i}: expected a number, got {other:?}"
            ))),
        }
    }
    pub fn boolean(&self, i: usize) -> Result<bool, WarehouseError> {
        match self.field(i)? {
            Field::BooleanValue(v) => Ok(*v),
            other => Err(WarehouseError::Other(format!(
                "column {i}: expected a boolean, got {other:?}"
            ))),
        }
    }
    pub fn timestamp(&self, i: usize) -> Result<Timestamp, WarehouseError> {
        let s = self.text(i)?;
        parse_timestamp(&s)
            .ok_or_else(|| WarehouseError::Other(format!("column {i}: `{s}` is not a timestamp")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_through_the_service_format() {
        let t = Timestamp(1_800_000_000_123);
        assert_eq!(format_timestamp(t), "2027-01-15 08:00:00.123");
        assert_eq!(parse_timestamp("2027-01-15 08:00:00.123"), Some(t));
        assert_eq!(
            parse_timestamp("2027-01-15 08:00:00"),
            Some(Timestamp(1_800_000_000_000))
        );
        assert_eq!(parse_timestamp("garbage"), None);
    }
}
