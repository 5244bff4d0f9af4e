//! Data folders made before views were kept in chunks: their `session_doc_views`
//! table (one row per view) moves into `session_doc_view_chunks` and `view_seconds`
//! once, in one transaction, the first time the store opens them.

use rusqlite::{params, Connection};

use super::views::{self, RECENT_BYTES};
use reco_core::{Timestamp, View};

/// Moves a `session_doc_views` table, when there is one, into chunks (every old view
/// into chunk rows, in their order; `recent` left empty) and drops it, with the index
/// on `(active_shard, last_update)` that appends no longer keep up to date.
pub(super) fn views_into_chunks(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute_batch("DROP INDEX IF EXISTS session_docs_active")?;
    let old: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'session_doc_views'",
        [],
        |r| r.get(0),
    )?;
    if old {
        let mut sessions: Vec<(String, Vec<View>)> = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT session_id, item_id, viewed_at, recommendation_id
                 FROM session_doc_views ORDER BY session_id, seq",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(r) = rows.next()? {
                let session: String = r.get(0)?;
                let view = View {
                    item_id: r.get(1)?,
                    viewed_at: Timestamp(r.get(2)?),
                    recommendation_id: r.get(3)?,
                };
                match sessions.last_mut() {
                    Some((s, views)) if *s == session => views.push(view),
                    _ => sessions.push((session, vec![view])),
                }
            }
        }
        let mut insert = tx.prepare(
            "INSERT INTO session_doc_view_chunks (session_id, chunk, views) VALUES (?1, ?2, ?3)",
        )?;
        let mut count = tx.prepare(
            "UPDATE session_docs SET chunk_count = ?2, recent = '' WHERE session_id = ?1",
        )?;
        for (session, session_views) in &sessions {
            let mut chunks: Vec<String> = vec![String::new()];
            for v in session_views {
                let mut line = String::new();
                views::encode(std::slice::from_ref(v), &mut line);
                match chunks.last_mut() {
                    Some(c) if c.is_empty() || c.len() + line.len() <= RECENT_BYTES => {
                        c.push_str(&line)
                    }
                    _ => chunks.push(line),
                }
            }
            for (i, chunk) in chunks.iter().enumerate() {
                insert.execute(params![session, i as i64, chunk])?;
            }
            count.execute(params![session, chunks.len() as i64])?;
        }
        drop((insert, count));
        tx.execute_batch(
            "INSERT INTO view_seconds (second, views)
                 SELECT viewed_at / 1000, COUNT(*) FROM session_doc_views
                 WHERE viewed_at >= (CAST(strftime('%s', 'now') AS INTEGER) - 3600) * 1000
                 GROUP BY viewed_at / 1000
                 ON CONFLICT (second) DO UPDATE SET views = views + excluded.views;
             DROP TABLE session_doc_views;",
        )?;
        tracing::info!(
            sessions = sessions.len(),
            "session store: views moved into chunks"
        );
    }
    tx.commit()
}
