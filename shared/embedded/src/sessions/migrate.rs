//! Data folders made before views were kept in chunks: their `session_doc_views`
//! table (one row per view) moves into `session_doc_view_chunks` and `view_seconds`
//! once, in one transaction, the first time the store opens them.

use rusqlite::{params, Connection};

use super::views;
use reco_core::{Timestamp, View};

/// Moves a `session_doc_views` table, when there is one, into the sessions' rows and
/// chunks (in their order, by the appends' rule: the newest views in the row) and
/// drops it, with the index on `(active_shard, last_update)` that appends no longer
/// keep up to date.
pub(super) fn views_into_chunks(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute_batch("DROP INDEX IF EXISTS session_docs_active")?;
    let old: bool = tx.query_row(
        "SELECT COUNT(*) > 0 FROM sqlite_schema WHERE type = 'table' AND name = 'session_doc_views'",
        [],
        |r| r.get(0),
    )?;
    if old {
        let mut insert = tx.prepare(
            "INSERT INTO session_doc_view_chunks (session_id, chunk, views) VALUES (?1, ?2, ?3)",
        )?;
        let mut finish = tx.prepare(
            "UPDATE session_docs SET recent = ?2, chunk_count = ?3 WHERE session_id = ?1",
        )?;
        let mut read = tx.prepare(
            "SELECT session_id, item_id, viewed_at, recommendation_id
             FROM session_doc_views ORDER BY session_id, seq",
        )?;
        let mut rows = read.query([])?;
        // The session being moved: its id, its views not yet in a chunk, its chunks.
        let mut current: Option<(String, String, u32)> = None;
        let mut sessions = 0usize;
        loop {
            let row = rows.next()?;
            let session: Option<String> = row.map(|r| r.get(0)).transpose()?;
            if current.as_ref().map(|c| &c.0) != session.as_ref() {
                if let Some((id, recent, chunks)) = current.take() {
                    finish.execute(params![id, recent, chunks])?;
                    sessions += 1;
                }
                current = session.clone().map(|id| (id, String::new(), 0));
            }
            let (Some(r), Some((id, recent, chunks))) = (row, current.as_mut()) else {
                break;
            };
            let mut line = String::new();
            let view = View {
                item_id: r.get(1)?,
                viewed_at: Timestamp(r.get(2)?),
                recommendation_id: r.get(3)?,
            };
            views::encode(std::slice::from_ref(&view), &mut line);
            // The same rule as appends: the newest views stay in the row.
            let (rest, full) = views::place(std::mem::take(recent), line);
            *recent = rest;
            if let Some(full) = full {
                insert.execute(params![&*id, *chunks, full])?;
                *chunks += 1;
            }
        }
        drop(rows);
        drop((read, insert, finish));
        tx.execute_batch(
            "INSERT INTO view_seconds (second, views)
                 SELECT viewed_at / 1000, COUNT(*) FROM session_doc_views
                 WHERE viewed_at >= (CAST(strftime('%s', 'now') AS INTEGER) - 3600) * 1000
                 GROUP BY viewed_at / 1000
                 ON CONFLICT (second) DO UPDATE SET views = views + excluded.views;
             DROP TABLE session_doc_views;",
        )?;
        tracing::info!(sessions, "session store: views moved into chunks");
    }
    tx.commit()
}
