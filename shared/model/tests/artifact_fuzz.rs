//! Property tests over the artifact reader: arbitrary bytes, and real model files with
//! bytes flipped, cut or spliced, load as a model or are refused with an error; the
//! reader never panics or reads out of bounds.

use proptest::prelude::*;
use reco_model::artifact::{self, Catalog};
use reco_model::{Csr, Interactions, Params};

fn model_file() -> Vec<u8> {
    static FILE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    FILE.get_or_init(write_model_file).clone()
}

fn write_model_file() -> Vec<u8> {
    let pairs: Vec<(u32, u32)> = (0..60u32).map(|u| (u % 12, (u * 5) % 9)).collect();
    let train = Interactions::from_pairs(12, 9, &pairs);
    let params = Params {
        no_components: 3,
        threads: 1,
        ..Params::default()
    };
    let model = params
        .fit(&train, Csr::identity(12), Csr::identity(9), 1)
        .expect("fits");
    let catalog = Catalog {
        user_ids: (0..12).map(|u| format!("u{u}")).collect(),
        item_ids: (0..9).map(|i| format!("i{i}")).collect(),
        user_feature_names: Vec::new(),
        item_feature_names: Vec::new(),
    };
    artifact::to_bytes(&model, &catalog).expect("serialises")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_bytes_are_refused(bytes in any::<Vec<u8>>()) {
        prop_assert!(artifact::from_bytes(&bytes).is_err());
    }

    #[test]
    fn damaged_model_files_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = model_file();
        for (at, value) in &flips {
            let i = at.index(bytes.len());
            bytes[i] = *value;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        if let Ok((model, catalog)) = artifact::from_bytes(&bytes) {
            // Whatever loads is whole: every item scores to a finite number.
            let items: Vec<usize> = (0..model.n_items()).collect();
            for u in 0..model.n_users() {
                let scores = model.predict(u, &items).expect("scores");
                prop_assert!(scores.iter().all(|s| s.is_finite()));
            }
            prop_assert!(catalog.item_ids.is_empty() || catalog.item_ids.len() == model.n_items());
        }
    }
}
