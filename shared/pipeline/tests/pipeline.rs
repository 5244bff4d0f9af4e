//! The pipeline end to end on the embedded warehouse and a folder artifact store:
//! import a generated shop, train and publish a model that beats popularity, refuse a
//! worse candidate, refuse a corrupt artifact, roll back, and refuse bad imports whole.

use std::path::Path;

use reco_core::{ArtifactStore, Clock, SystemClock, Warehouse};
use reco_embedded::{FolderArtifactStore, SqliteWarehouse};
use reco_pipeline::import::{read_files, ImportError, Kind};
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

#[tokio::test]
async fn train_publish_gate_corruption_and_rollback() {
    let dir = tempfile::tempdir().expect("temp dir");
    let warehouse = SqliteWarehouse::open(&dir.path().join("w.sqlite")).expect("warehouse");
    let store = FolderArtifactStore::new(&dir.path().join("artifacts"));
    let files = write_shop(dir.path());
    warehouse
        .load(&read_files(&files).expect("valid shop"))
        .await
        .expect("loaded");
    let pipeline = Pipeline {
        warehouse: &warehouse,
        artifacts: &store,
        clock: &SystemClock,
    };

    let mut epochs_seen = 0;
    let first = pipeline
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
    assert_eq!(
        current_pointer(&store)
            .await
            .expect("pointer")
            .expect("published")
            .version,
        first.version
    );
    // The manifest lists every file with its sha256, and the files match.
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

    // A deliberately worse candidate is not published.
    let worse = TrainOptions {
        components: 1,
        epochs: 1,
        learning_rate: 0.001,
        tolerance: 0.0,
        ..options()
    };
    let second = pipeline.run(&worse, None, |_| {}).await.expect("trains");
    assert!(!second.published, "{}", second.reason);
    assert_eq!(
        second.current_version.as_deref(),
        Some(first.version.as_str())
    );
    assert_eq!(
        current_pointer(&store)
            .await
            .expect("pointer")
            .expect("kept")
            .version,
        first.version
    );

    // Forced, it is published; rollback brings the first back.
    let third = pipeline
        .run(
            &TrainOptions {
                force: true,
                ..worse.clone()
            },
            None,
            |_| {},
        )
        .await
        .expect("trains");
    assert!(third.published);
    let now = SystemClock.now();
    let pointer = rollback(&store, None, now).await.expect("rolls back");
    assert_eq!(pointer.version, first.version);
    assert_eq!(pointer.previous.last(), Some(&third.version));

    // A corrupt artifact is refused on load, and the current version stays.
    let key = format!("models/{}/{MODEL_FILE}", third.version);
    let mut bytes = store.get(&key).await.expect("read").expect("model");
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    store
        .put(&key, bytes, "application/octet-stream")
        .await
        .expect("corrupted");
    let refused = rollback(&store, Some(&third.version), now)
        .await
        .expect_err("corrupt refused");
    assert!(matches!(refused, TrainError::Unusable { .. }), "{refused}");
    assert_eq!(
        current_pointer(&store)
            .await
            .expect("pointer")
            .expect("kept")
            .version,
        first.version
    );
    assert!(store.get(CURRENT_KEY).await.expect("read").is_some());

    // A deadline that has passed stops the run with an error naming it.
    let late = pipeline
        .run(&options(), Some(std::time::Instant::now()), |_| {})
        .await
        .expect_err("deadline");
    assert!(matches!(late, TrainError::Deadline(_)), "{late}");
    assert!(late.to_string().contains("deadline"));
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
    // Nothing reached the warehouse: the command loads only after every row passed.
    let warehouse = SqliteWarehouse::open(&dir.path().join("w.sqlite")).expect("warehouse");
    assert!(warehouse
        .training_set(false)
        .await
        .expect("read")
        .interactions
        .is_empty());
}
