//! Schema versions of the embedded databases: each records the version of its layout
//! in SQLite's `user_version`, and a build refuses a database newer than it knows.

use std::path::Path;

use rusqlite::Connection;

/// A database written by a newer build: its recorded schema version is above the
/// newest this build knows, so this build would misread it (and could lose data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewerSchema {
    /// The database file's name.
    pub file: String,
    /// The version the file records.
    pub found: i64,
    /// The newest version this build knows.
    pub known: i64,
}

impl std::fmt::Display for NewerSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} has schema version {}, but this reco knows versions up to {}: a newer reco \
             has written it. Upgrade reco to open it (this one would misread its data), or \
             restore a copy of the data folder made before the upgrade.",
            self.file, self.found, self.known
        )
    }
}

impl std::error::Error for NewerSchema {}

/// The name errors give the database at `path`: its file name.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// The version `conn`'s database records: 0 for a new database, or one made before
/// versions were recorded.
pub(crate) fn recorded(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

/// `Some` when the database records a version above `known`.
pub(crate) fn newer(
    conn: &Connection,
    file: &str,
    known: i64,
) -> rusqlite::Result<Option<NewerSchema>> {
    let found = recorded(conn)?;
    Ok((found > known).then(|| NewerSchema {
        file: file.to_string(),
        found,
        known,
    }))
}

/// Records `version` (once the database has been migrated to it).
pub(crate) fn record(conn: &Connection, version: i64) -> rusqlite::Result<()> {
    if recorded(conn)? != version {
        conn.pragma_update(None, "user_version", version)?;
    }
    Ok(())
}
