//! The generated shop (reco-testkit) loaded into a SQLite warehouse, to train the
//! models the predict tests serve.

use std::path::Path;

use reco_core::warehouse::ImportBatch;
use reco_embedded::SqliteWarehouse;
use reco_pipeline::import::read_files;

/// A warehouse in `dir` holding the shop, plus `extra`.
pub async fn shop_warehouse(dir: &Path, extra: ImportBatch) -> SqliteWarehouse {
    let warehouse = SqliteWarehouse::open(&dir.join("w.sqlite")).expect("warehouse");
    let files: Vec<_> = reco_testkit::shop::write_shop(dir)
        .into_iter()
        .map(|(p, k)| (p, k.parse().expect("kind")))
        .collect();
    let mut batch = read_files(&files).expect("shop");
    batch.customers.extend(extra.customers);
    batch.items.extend(extra.items);
    batch.purchases.extend(extra.purchases);
    batch.ratings.extend(extra.ratings);
    reco_core::Warehouse::load(&warehouse, &batch)
        .await
        .expect("loaded");
    warehouse
}
