//! What DynamoDB bills for a write to the sessions table, computed from the items as
//! DynamoDB sizes them, so that the cost of a view (docs/cost.md) follows from what the
//! adapter really writes.
//!
//! Sizes (DynamoDB developer guide, "Item sizes and formats"): an attribute is its
//! name's UTF-8 bytes plus its value; a string its UTF-8 bytes; a number 1 byte per two
//! significant digits plus 1; a boolean or null 1 byte; a list or map 3 bytes plus,
//! per element, 1 byte and the element (a map element's name counts too). An on-demand
//! write costs 1 write unit per KB (rounded up) of the larger of the item before and
//! after. A global secondary index entry costs 1 more write unit when the write adds or
//! removes it, or changes a projected attribute, and 2 when it changes the entry's key
//! (the old entry deleted, the new one put): "Managing throughput settings on
//! provisioned tables / global secondary indexes" ("Write capacity considerations").

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// An item as the SDK returns it.
pub type Item = HashMap<String, AttributeValue>;

/// Bytes DynamoDB counts for a number given as text.
pub fn number_size(text: &str) -> usize {
    let digits: String = text
        .trim_start_matches('-')
        .chars()
        .filter(|c| c.is_ascii_digit())
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

/// Bytes DynamoDB counts for one value.
pub fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        // A type newer than this code: counted as nothing rather than guessed.
        _ => 0,
    }
}

/// Bytes DynamoDB counts for an item.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// Write units of one on-demand write of the item, from its state before (`None`:
/// new) and after (`None`: deleted).
pub fn table_write_units(before: Option<&Item>, after: Option<&Item>) -> u32 {
    let size = before.map(item_size).max(after.map(item_size)).unwrap_or(0);
    (size.div_ceil(1024).max(1)) as u32
}

/// Write units a keys-only global secondary index keyed by `keys` adds to the write:
/// an item is in the index while it has every key attribute.
pub fn index_write_units(before: Option<&Item>, after: Option<&Item>, keys: &[&str]) -> u32 {
    let entry = |item: Option<&Item>| -> Option<Vec<AttributeValue>> {
        let item = item?;
        keys.iter().map(|k| item.get(*k).cloned()).collect()
    };
    match (entry(before), entry(after)) {
        (None, None) => 0,
        (Some(_), None) | (None, Some(_)) => 1,
        (Some(a), Some(b)) if a == b => 0,
        (Some(_), Some(_)) => 2,
    }
}

/// The keys of the sessions table's active-session index.
pub const INDEX_KEYS: [&str; 2] = ["active_shard", crate::IDLE_CHECK];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_count_significant_digits() {
        assert_eq!(number_size("0"), 1);
        assert_eq!(number_size("7"), 2);
        assert_eq!(
            number_size("1765000000000"),
            3,
            "leading/trailing zeros trimmed"
        );
        assert_eq!(number_size("1765123456789"), 8);
    }

    #[test]
    fn sizes_follow_the_documented_rules() {
        let item: Item = HashMap::from([
            ("id".to_string(), AttributeValue::S("abc".into())),
            ("on".to_string(), AttributeValue::Bool(true)),
            (
                "l".to_string(),
                AttributeValue::L(vec![AttributeValue::M(HashMap::from([(
                    "k".to_string(),
                    AttributeValue::S("vv".into()),
                )]))]),
            ),
        ]);
        // id: 2 + 3; on: 2 + 1; l: 1 + 3 + (1 + (3 + 1 + 1 + 2)).
        assert_eq!(item_size(&item), 5 + 3 + 1 + 3 + 8);
        let big: Item = HashMap::from([("a".to_string(), AttributeValue::S("x".repeat(1500)))]);
        assert_eq!(table_write_units(Some(&item), Some(&big)), 2);
        assert_eq!(table_write_units(None, Some(&item)), 1);
    }

    #[test]
    fn index_writes_count_entries_added_removed_and_moved() {
        let keys = ["k"];
        let with = |v: &str| Item::from([("k".to_string(), AttributeValue::N(v.into()))]);
        let without = Item::new();
        assert_eq!(
            index_write_units(Some(&without), Some(&with("1")), &keys),
            1
        );
        assert_eq!(
            index_write_units(Some(&with("1")), Some(&with("1")), &keys),
            0
        );
        assert_eq!(
            index_write_units(Some(&with("1")), Some(&with("2")), &keys),
            2
        );
        assert_eq!(
            index_write_units(Some(&with("1")), Some(&without), &keys),
            1
        );
        assert_eq!(index_write_units(None, Some(&without), &keys), 0);
    }
}
