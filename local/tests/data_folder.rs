//! The data folder across versions and time, through the `reco` binary: a folder whose
//! databases a newer reco has migrated is refused with a message saying what to do,
//! and `reco serve` deletes archived sessions once they expire.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

#[allow(dead_code)]
mod common;
use common::{cli_token, record_views, start_with, BIN};

fn set_user_version(path: &Path, version: i64) {
    rusqlite::Connection::open(path)
        .and_then(|c| c.pragma_update(None, "user_version", version))
        .expect("writes user_version");
}

/// `reco migrate --data-dir DIR`: whether it succeeded, and its stderr.
fn migrate(dir: &Path) -> (bool, String) {
    let out = Command::new(BIN)
        .args(["migrate", "--data-dir"])
        .arg(dir)
        .env_remove("RECO_TOKEN_SECRET")
        .output()
        .expect("reco migrate runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_folder_migrated_by_a_newer_reco_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (ok, stderr) = migrate(dir.path());
    assert!(ok, "a new folder opens: {stderr}");
    let (ok, stderr) = migrate(dir.path());
    assert!(ok, "a folder at the current version opens: {stderr}");

    for (file, known) in [
        ("sessions.sqlite", reco_embedded::sessions::SCHEMA_VERSION),
        ("warehouse.sqlite", reco_embedded::warehouse::SCHEMA_VERSION),
    ] {
        let path = dir.path().join(file);
        set_user_version(&path, known + 1);
        let (ok, stderr) = migrate(dir.path());
        assert!(!ok, "{file} from a newer reco is refused");
        for expected in [
            path.display().to_string(),
            format!("schema version {}", known + 1),
            format!("versions up to {known}"),
            "Upgrade reco".to_string(),
        ] {
            assert!(
                stderr.contains(&expected),
                "{file}: {expected:?} in {stderr}"
            );
        }
        set_user_version(&path, known);
    }
    let (ok, stderr) = migrate(dir.path());
    assert!(
        ok,
        "back at the current version, the folder opens: {stderr}"
    );
}

/// Whether `session` is in the store, and whether it is active.
fn stored(db: &rusqlite::Connection, session: &str) -> Option<bool> {
    use rusqlite::OptionalExtension;
    db.query_row(
        "SELECT is_active FROM session_docs WHERE session_id = ?1",
        [session],
        |r| r.get(0),
    )
    .optional()
    .expect("reads the store")
}

/// Polls `check` every 100 ms for up to `within`: whether it came true.
async fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < within {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    check()
}

#[tokio::test]
async fn reco_serve_deletes_archived_sessions_once_they_expire() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_with(
        dir.path(),
        &[
            ("RECO_SESSION_TIMEOUT_SECS", "1"),
            ("RECO_DEADPOOL_INTERVAL_SECS", "1"),
        ],
    )
    .await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    for session in ["s-expiring", "s-kept"] {
        let token = cli_token(dir.path(), &["--session", session]);
        record_views(&http, &server.base, session, &token, &["i1", "i2"]).await;
    }
    let db = rusqlite::Connection::open(dir.path().join("sessions.sqlite")).expect("store");
    let archived = eventually(Duration::from_secs(10), || {
        stored(&db, "s-expiring") == Some(false) && stored(&db, "s-kept") == Some(false)
    })
    .await;
    assert!(archived, "the deadpool archived both sessions");
    // RECO_ARCHIVED_TTL_DAYS is a day at least: s-expiring's expiry is moved into the
    // past instead of waiting for it.
    db.execute(
        "UPDATE session_docs SET expires_at = 1 WHERE session_id = 's-expiring'",
        [],
    )
    .expect("expiry moved");
    let deleted = eventually(Duration::from_secs(10), || {
        stored(&db, "s-expiring").is_none()
    })
    .await;
    assert!(deleted, "the expired session is still stored");
    assert_eq!(
        stored(&db, "s-kept"),
        Some(false),
        "the unexpired one stays"
    );
    // The warehouse keeps what was archived from it.
    let warehouse = rusqlite::Connection::open(dir.path().join("warehouse.sqlite")).expect("db");
    let archived_views: i64 = warehouse
        .query_row(
            "SELECT COUNT(*) FROM session_views WHERE session_id = 's-expiring'",
            [],
            |r| r.get(0),
        )
        .expect("counts");
    assert_eq!(archived_views, 2);
}
