//! The generated shop of reco-testkit, as import files with their kinds.

use std::path::{Path, PathBuf};

use reco_pipeline::import::Kind;

pub fn write_shop(dir: &Path) -> Vec<(PathBuf, Kind)> {
    reco_testkit::shop::write_shop(dir)
        .into_iter()
        .map(|(p, k)| (p, k.parse().expect("a known kind")))
        .collect()
}
