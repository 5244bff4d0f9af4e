//! The SQLite session store meets the same contract as the DynamoDB one.

use std::sync::Arc;

use reco_embedded::SqliteSessionStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_store_meets_the_session_store_contract() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteSessionStore::open(&dir.path().join("s.sqlite")).expect("opens");
    reco_testkit::session_store_contract(Arc::new(store)).await;
}

#[tokio::test]
async fn sessions_survive_reopening_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.sqlite");
    {
        let store = SqliteSessionStore::open(&path).expect("opens");
        reco_testkit::customer_rules(&store, "reopen").await;
    }
    let store = SqliteSessionStore::open(&path).expect("reopens");
    let doc = reco_core::SessionStore::get(&store, "reopen-customer")
        .await
        .expect("read")
        .expect("kept");
    assert_eq!(doc.view_count, 3);
}
