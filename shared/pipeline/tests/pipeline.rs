//! The pipeline end to end on the embedded warehouse and a folder artifact store:
//! import a generated shop, train and publish a model that beats popularity, refuse a
//! worse candidate, refuse a corrupt artifact, roll back, and refuse bad imports whole.

use std::path::Path;

use reco_core::{ArtifactStore, Clock, SystemClock, Warehouse};
use reco_embedded::{FolderArtifactStore, SqliteWarehouse};
use reco_pipeline::import::{import, read_files, ImportError, Kind};
use reco_pipeline::train::{
    current_pointer, rollback, Pipeline, TrainError, TrainOptions, CURRENT_KEY, MODEL_FILE,
    SERVING_FILE,
};

mod common;
use common::write_shop;

fn options() -> TrainOptions {
    TrainOptions {
        components: 16,
        epochs: 20,
        threads: 1,
        ..TrainOptions::default()
    }
}

/// A warehouse holding the generated shop, an empty artifact store, in `dir`.
async fn shop(dir: &Path) -> (SqliteWarehouse, FolderArtifactStore) {
    let warehouse = SqliteWarehouse::open(&dir.join("w.sqlite")).expect("warehouse");
    let store = FolderArtifactStore::new(&dir.join("artifacts"));
    import(&warehouse, None, &write_shop(dir))
        .await
        .expect("the shop loads");
    (warehouse, store)
}

fn pipeline<'a>(warehouse: &'a SqliteWarehouse, store: &'a FolderArtifactStore) -> Pipeline<'a> {
    Pipeline {
        warehouse,
        artifacts: store,
        clock: &SystemClock,
    }
}

/// A candidate clearly worse than a trained model (one component, one epoch).
fn worse() -> TrainOptions {
    TrainOptions {
        components: 1,
        epochs: 1,
        learning_rate: Some(0.001),
        tolerance: 0.0,
        ..options()
    }
}

async fn current_version(store: &FolderArtifactStore) -> String {
    current_pointer(store)
        .await
        .expect("pointer")
        .expect("published")
        .version
}

#[tokio::test]
async fn a_model_that_beats_popularity_is_published() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (warehouse, store) = shop(dir.path()).await;
    let mut epochs_seen = 0;
    let first = pipeline(&warehouse, &store)
        .run(&options(), None, |_| epochs_seen += 1)
        .await
        .expect("trains");
    assert_eq!(epochs_seen, 20);
    assert!(first.published, "{}", first.reason);
    assert!(
        first.metrics.precision_at_10 > 1.3 * first.baseline_popular.precision_at_10,
        "model {:?} vs popularity {:?}",
        first.metrics,
        first.baseline_popular
    );
    assert_eq!(current_version(&store).await, first.version);
}

#[tokio::test]
async fn the_manifest_lists_every_file_with_its_checksum() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (warehouse, store) = shop(dir.path()).await;
    let first = pipeline(&warehouse, &store)
        .run(&options(), None, |_| {})
        .await
        .expect("trains");
    let manifest: serde_json::Value = serde_json::from_slice(
        &store
            .get(&format!("models/{}/manifest.json", first.version))
            .await
            .expect("read")
            .expect("manifest"),
    )
    .expect("JSON");
    for name in [MODEL_FILE, SERVING_FILE, "report.svg", "popular.json"] {
        let bytes = store
            .get(&format!("models/{}/{name}", first.version))
            .await
            .expect("read")
            .expect("file");
        assert_eq!(
            manifest["files"][name],
            reco_pipeline::train::sha256_hex(&bytes),
            "{name}"
        );
    }
    assert!(
        manifest["metrics"]["precision_at_10"]
            .as_f64()
            .expect("p10")
            > 0.0
    );
    assert!(manifest["baseline"]["popular"]["auc"].as_f64().is_some());
    assert_eq!(
        manifest["learning_curve"].as_array().expect("curve").len(),
        20
    );
    let svg = store
        .get(&format!("models/{}/report.svg", first.version))
        .await
        .expect("read")
        .expect("svg");
    assert!(String::from_utf8_lossy(&svg).contains("<svg"));
}

#[tokio::test]
async fn a_worse_candidate_is_not_published() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (warehouse, store) = shop(dir.path()).await;
    let pipeline = pipeline(&warehouse, &store);
    let first = pipeline
        .run(&options(), None, |_| {})
        .await
        .expect("trains");
    let second = pipeline.run(&worse(), None, |_| {}).await.expect("trains");
    assert!(!second.published, "{}", second.reason);
    assert_eq!(
        second.current_version.as_deref(),
        Some(first.version.as_str())
    );
    assert_eq!(current_version(&store).await, first.version);
}

/// A trained model published, then a worse candidate published by force, in `dir`:
/// the artifact store and both runs.
async fn a_model_then_a_forced_worse_one(
    dir: &Path,
) -> (
    FolderArtifactStore,
    reco_pipeline::train::Outcome,
    reco_pipeline::train::Outcome,
) {
    let (warehouse, store) = shop(dir).await;
    let pipeline = pipeline(&warehouse, &store);
    let first = pipeline
        .run(&options(), None, |_| {})
        .await
        .expect("trains");
    let forced = TrainOptions {
        force: true,
        ..worse()
    };
    let second = pipeline.run(&forced, None, |_| {}).await.expect("trains");
    (store, first, second)
}

#[tokio::test]
async fn a_forced_candidate_is_published_and_rollback_restores_the_previous() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, first, third) = a_model_then_a_forced_worse_one(dir.path()).await;
    assert!(third.published);
    assert_eq!(current_version(&store).await, third.version);
    let pointer = rollback(&store, None, SystemClock.now())
        .await
        .expect("rolls back");
    assert_eq!(pointer.version, first.version);
    assert_eq!(pointer.previous.last(), Some(&third.version));
    assert_eq!(current_version(&store).await, first.version);
}

#[tokio::test]
async fn a_corrupt_artifact_is_refused_and_the_current_version_stays() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (store, first, second) = a_model_then_a_forced_worse_one(dir.path()).await;
    rollback(&store, None, SystemClock.now())
        .await
        .expect("rolls back");
    let key = format!("models/{}/{MODEL_FILE}", second.version);
    let mut bytes = store.get(&key).await.expect("read").expect("model");
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    store
        .put(&key, bytes, "application/octet-stream")
        .await
        .expect("corrupted");
    let refused = rollback(&store, Some(&second.version), SystemClock.now())
        .await
        .expect_err("corrupt refused");
    assert!(matches!(refused, TrainError::Unusable { .. }), "{refused}");
    assert_eq!(current_version(&store).await, first.version);
    assert!(store.get(CURRENT_KEY).await.expect("read").is_some());
}

#[tokio::test]
async fn a_passed_deadline_stops_the_run_and_publishes_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (warehouse, store) = shop(dir.path()).await;
    let late = pipeline(&warehouse, &store)
        .run(&options(), Some(std::time::Instant::now()), |_| {})
        .await
        .expect_err("deadline");
    assert!(matches!(late, TrainError::Deadline(_)), "{late}");
    assert!(late.to_string().contains("deadline"));
    assert!(current_pointer(&store).await.expect("pointer").is_none());
}

#[tokio::test]
async fn an_import_with_bad_rows_reports_them_and_loads_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let files = write_shop(dir.path());
    let bad = dir.path().join("bad-ratings.csv");
    std::fs::write(
        &bad,
        "customer_id,item_id,rating,rated_at\nc1,i1,5,2026-10-01T00:00:00Z\nc2,i2,9,2026-10-01T00:00:00Z\n,i3,4,2026-10-01T00:00:00Z\nc4,i4,3,yesterday\n",
    )
    .expect("write");
    let bad_json = dir.path().join("bad-purchases.jsonl");
    std::fs::write(&bad_json, "{\"purchase_id\":\"p\",\"customer_id\":\"c\",\"item_id\":\"i\",\"quantity\":-2,\"purchased_at\":\"2026-10-01T00:00:00Z\"}\nnot json\n")
        .expect("write");
    let mut all = files.clone();
    all.push((bad.clone(), Kind::Ratings));
    all.push((bad_json.clone(), Kind::Purchases));
    let Err(ImportError::BadRows(rows)) = read_files(&all) else {
        panic!("bad rows must be refused")
    };
    let lines: Vec<(String, usize)> = rows
        .iter()
        .map(|r| {
            (
                Path::new(&r.file)
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .to_string(),
                r.line,
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            ("bad-ratings.csv".to_string(), 3),
            ("bad-ratings.csv".to_string(), 4),
            ("bad-ratings.csv".to_string(), 5),
            ("bad-purchases.jsonl".to_string(), 1),
            ("bad-purchases.jsonl".to_string(), 2),
        ]
    );
    assert!(rows[0].message.contains("rating"), "{}", rows[0].message);
    assert!(
        rows[1].message.contains("customer_id"),
        "{}",
        rows[1].message
    );
    assert!(rows[2].message.contains("rated_at"), "{}", rows[2].message);
    assert!(rows[3].message.contains("quantity"), "{}", rows[3].message);
    // Through the import itself, into a warehouse already holding the shop: refused
    // whole, and the warehouse holds exactly what it held.
    let (warehouse, _) = shop(dir.path()).await;
    let before = warehouse.training_set(false).await.expect("read");
    assert!(!before.interactions.is_empty());
    let refused = import(&warehouse, None, &all).await;
    assert!(
        matches!(refused, Err(ImportError::BadRows(ref r)) if r.len() == 5),
        "{refused:?}"
    );
    assert_eq!(warehouse.training_set(false).await.expect("read"), before);
}

#[tokio::test]
async fn an_import_of_nothing_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let warehouse = SqliteWarehouse::open(&dir.path().join("w.sqlite")).expect("warehouse");
    let empty = dir.path().join("empty.csv");
    std::fs::write(&empty, "customer_id,item_id,rating,rated_at\n").expect("write");
    let refused = import(&warehouse, None, &[(empty, Kind::Ratings)]).await;
    assert!(matches!(refused, Err(ImportError::Empty)), "{refused:?}");
}
