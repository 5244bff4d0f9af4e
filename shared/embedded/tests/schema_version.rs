//! Each embedded database records its schema version; a database recording a newer
//! one than this build knows is refused with an error naming the file, both versions
//! and the way out, and nothing in it is changed.

use reco_embedded::{sessions, warehouse, SqliteSessionStore, SqliteWarehouse};

fn user_version(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .and_then(|c| c.pragma_query_value(None, "user_version", |r| r.get(0)))
        .expect("reads user_version")
}

fn set_user_version(path: &std::path::Path, version: i64) {
    rusqlite::Connection::open(path)
        .and_then(|c| c.pragma_update(None, "user_version", version))
        .expect("writes user_version");
}

/// The refusal's text names the file, both versions, and says to upgrade.
fn assert_refusal(message: &str, file: &str, found: i64, known: i64) {
    assert!(message.contains(file), "{message}");
    assert!(
        message.contains(&format!("schema version {found}")),
        "{message}"
    );
    assert!(
        message.contains(&format!("versions up to {known}")),
        "{message}"
    );
    assert!(message.contains("Upgrade reco"), "{message}");
}

#[test]
fn a_session_store_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sessions.sqlite");
    // New: opens and records the current version; reopens at it.
    drop(SqliteSessionStore::open(&path).expect("a new file opens"));
    assert_eq!(user_version(&path), sessions::SCHEMA_VERSION);
    drop(SqliteSessionStore::open(&path).expect("the current version opens"));

    let newer = sessions::SCHEMA_VERSION + 1;
    set_user_version(&path, newer);
    let tables_before: i64 = rusqlite::Connection::open(&path)
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |r| r.get(0)))
        .expect("schema");
    let refused = SqliteSessionStore::open(&path)
        .err()
        .expect("a newer file is refused");
    assert_refusal(
        &refused.to_string(),
        "sessions.sqlite",
        newer,
        sessions::SCHEMA_VERSION,
    );
    // Refused untouched: its version and tables are as they were.
    assert_eq!(user_version(&path), newer);
    let tables_after: i64 = rusqlite::Connection::open(&path)
        .and_then(|c| c.query_row("SELECT COUNT(*) FROM sqlite_schema", [], |r| r.get(0)))
        .expect("schema");
    assert_eq!(tables_after, tables_before);
}

#[test]
fn a_session_store_made_before_versions_is_opened_and_stamped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("sessions.sqlite");
    drop(SqliteSessionStore::open(&path).expect("opens"));
    set_user_version(&path, 0);
    drop(SqliteSessionStore::open(&path).expect("an unversioned file opens"));
    assert_eq!(user_version(&path), sessions::SCHEMA_VERSION);
}

#[test]
fn a_warehouse_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("warehouse.sqlite");
    drop(SqliteWarehouse::open(&path).expect("a new file opens"));
    assert_eq!(user_version(&path), warehouse::SCHEMA_VERSION);
    assert_eq!(
        warehouse::SCHEMA_VERSION,
        warehouse::MIGRATIONS.len() as i64
    );
    drop(SqliteWarehouse::open(&path).expect("the current version opens"));
    // One made before versions were recorded opens and is stamped.
    set_user_version(&path, 0);
    drop(SqliteWarehouse::open(&path).expect("an unversioned file opens"));
    assert_eq!(user_version(&path), warehouse::SCHEMA_VERSION);

    let newer = warehouse::SCHEMA_VERSION + 3;
    set_user_version(&path, newer);
    let refused = SqliteWarehouse::open(&path)
        .err()
        .expect("a newer file is refused");
    assert_refusal(
        &refused.to_string(),
        "warehouse.sqlite",
        newer,
        warehouse::SCHEMA_VERSION,
    );
    assert_eq!(user_version(&path), newer);
}
