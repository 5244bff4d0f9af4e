//! A session's views as the SQLite store keeps them: text, one view per line, each a
//! JSON array `[viewed_at, item_id, recommendation_id]` (`null` when the view was not
//! opened from a recommendation). The newest views sit in the session's own row
//! (`recent`), so that an append rewrites that one row; once `recent` passes
//! `RECENT_BYTES` it moves whole into a numbered chunk row of its own.

use reco_core::{StoreError, Timestamp, View};

/// The size `recent` may reach before it moves into a chunk: small enough that the
/// session's row stays within one 4 KiB page.
pub(super) const RECENT_BYTES: usize = 2048;

/// Appends one line per view to `out`.
pub(super) fn encode(views: &[View], out: &mut String) {
    for v in views {
        let line = (v.viewed_at.millis(), &v.item_id, &v.recommendation_id);
        // Serialising integers and strings into a String cannot fail.
        if let Ok(text) = serde_json::to_string(&line) {
            out.push_str(&text);
            out.push('\n');
        }
    }
}

/// Decodes the lines of `text` onto `into`, in order.
pub(super) fn decode(text: &str, into: &mut Vec<View>) -> Result<(), StoreError> {
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (viewed_at, item_id, recommendation_id): (i64, String, Option<String>) =
            serde_json::from_str(line)
                .map_err(|e| StoreError::Corrupt(format!("stored view {line:?}: {e}")))?;
        into.push(View {
            item_id,
            viewed_at: Timestamp(viewed_at),
            recommendation_id,
        });
    }
    Ok(())
}

/// Where `added` goes: onto `recent`, or, when that would pass `RECENT_BYTES`, into a
/// fresh `recent` with the old one returned to be kept as the next chunk.
pub(super) fn place(recent: String, added: String) -> (String, Option<String>) {
    if !recent.is_empty() && recent.len() + added.len() > RECENT_BYTES {
        (added, Some(recent))
    } else {
        (recent + &added, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(item: &str, t: i64, rec: Option<&str>) -> View {
        View {
            item_id: item.to_string(),
            viewed_at: Timestamp(t),
            recommendation_id: rec.map(str::to_string),
        }
    }

    #[test]
    fn views_round_trip_whatever_their_ids_hold() {
        let views = vec![
            view("sku-1", 1, None),
            view("a \"quoted\" \\ id, with [brackets]", -5, Some("ab")),
            view("ünïcödé 商品", i64::MAX, None),
        ];
        let mut text = String::new();
        encode(&views, &mut text);
        assert_eq!(text.lines().count(), 3);
        let mut back = Vec::new();
        decode(&text, &mut back).expect("decodes");
        assert_eq!(back, views);
    }

    #[test]
    fn a_damaged_line_is_corrupt_not_skipped() {
        let mut back = Vec::new();
        let e = decode("[1,\"a\",null]\n[2,\"b\"\n", &mut back).expect_err("refused");
        assert!(matches!(e, StoreError::Corrupt(m) if m.contains("[2,\\\"b\\\"")));
    }

    #[test]
    fn recent_moves_into_a_chunk_only_when_it_would_pass_its_size() {
        let small = "x".repeat(100);
        let (recent, chunk) = place(String::new(), "y".repeat(RECENT_BYTES + 10));
        assert_eq!((recent.len(), chunk), (RECENT_BYTES + 10, None));
        let (recent, chunk) = place(small.clone(), "y".repeat(RECENT_BYTES - 100));
        assert_eq!((recent.len(), chunk), (RECENT_BYTES, None));
        let (recent, chunk) = place(small.clone(), "y".repeat(RECENT_BYTES - 99));
        assert_eq!(recent.len(), RECENT_BYTES - 99);
        assert_eq!(chunk, Some(small));
    }
}
