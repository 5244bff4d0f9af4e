//! Behaviour of the model on generated data with planted structure: it learns the
//! structure (beating popularity), is deterministic with one thread and a seed, scores
//! cold items and anonymous sessions from features and views, refuses bad input, stops
//! on divergence, and survives a round trip through its artifact.

use reco_model::artifact::{self, Catalog};
use reco_model::eval::evaluate_with;
use reco_model::foldin;
use reco_model::{evaluate, Csr, Interactions, Loss, Model, ModelError, Params, Schedule};

const USERS: usize = 300;
const ITEMS: usize = 120;
const GROUPS: usize = 6;

/// Splitmix, so the fixture does not depend on the crate's private generator.
struct Gen(u64);
impl Gen {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn group_of_item(i: usize) -> usize {
    i % GROUPS
}

/// Each user likes one group: 12 interactions, 11 in its group and one anywhere.
/// Items of low index within a group are more popular, so popularity is a real
/// baseline. The last 3 interactions of each user are the test set.
fn planted() -> (Interactions, Csr, Csr) {
    let mut g = Gen(7);
    let mut train = Vec::new();
    let mut test = Vec::new();
    for u in 0..USERS {
        let group = u % GROUPS;
        let mut chosen: Vec<usize> = Vec::new();
        while chosen.len() < 12 {
            let item = if chosen.len() == 11 {
                g.below(ITEMS)
            } else {
                // Skewed choice within the group: min of two draws.
                let k = g.below(ITEMS / GROUPS).min(g.below(ITEMS / GROUPS));
                k * GROUPS + group
            };
            if !chosen.contains(&item) {
                chosen.push(item);
            }
        }
        for (n, &i) in chosen.iter().enumerate() {
            if n < 9 {
                train.push((u as u32, i as u32));
            } else {
                test.push((u as u32, i as u32, 1.0f32));
            }
        }
    }
    let train = Interactions::from_pairs(USERS, ITEMS, &train);
    let test = Csr::from_triplets(USERS, ITEMS, &test).expect("valid test set");
    let train_csr = train.to_csr();
    (train, test, train_csr)
}

/// Identity features plus each item's group as an attribute feature.
fn item_group_features() -> Csr {
    let groups: Vec<(u32, u32, f32)> = (0..ITEMS)
        .map(|i| (i as u32, group_of_item(i) as u32, 1.0))
        .collect();
    Csr::identity_plus(ITEMS, GROUPS, &groups, true).expect("features")
}

/// Identity features plus each user's group as an attribute feature.
fn user_group_features() -> Csr {
    let groups: Vec<(u32, u32, f32)> = (0..USERS)
        .map(|u| (u as u32, (u % GROUPS) as u32, 1.0))
        .collect();
    Csr::identity_plus(USERS, GROUPS, &groups, true).expect("features")
}

fn params(loss: Loss) -> Params {
    Params {
        no_components: 16,
        loss,
        threads: 1,
        seed: 3,
        ..Params::default()
    }
}

fn fit(loss: Loss, train: &Interactions, epochs: usize) -> Model {
    fit_with(params(loss), train, epochs)
}

/// Fits with identity features on both sides.
fn fit_with(p: Params, train: &Interactions, epochs: usize) -> Model {
    p.fit(train, Csr::identity(USERS), Csr::identity(ITEMS), epochs)
        .expect("fits")
}

#[test]
fn every_loss_beats_popularity_on_planted_structure() {
    let (train, test, train_csr) = planted();
    let mut popularity = vec![0f32; ITEMS];
    for &i in &train.items {
        popularity[i as usize] += 1.0;
    }
    let baseline =
        evaluate_with(&test, Some(&train_csr), 10, 1, |_| popularity.clone()).expect("evaluates");
    for loss in [
        Loss::Warp,
        Loss::Bpr,
        Loss::WarpKos { k: 3, n: 10 },
        Loss::Logistic,
    ] {
        let model = fit(loss, &train, 30);
        let m = evaluate(&model, &test, Some(&train_csr), 10).expect("evaluates");
        assert!(
            m.precision_at_k > 1.5 * baseline.precision_at_k && m.auc > baseline.auc,
            "{loss:?}: model {m:?} vs popularity {baseline:?}"
        );
    }
}

#[test]
fn one_thread_and_a_seed_are_deterministic() {
    let (train, _, _) = planted();
    let a = fit(Loss::Warp, &train, 3);
    let b = fit(Loss::Warp, &train, 3);
    assert_eq!(a, b);
    let mut other = params(Loss::Warp);
    other.seed = 4;
    let c = other
        .fit(&train, Csr::identity(USERS), Csr::identity(ITEMS), 3)
        .expect("fits");
    assert_ne!(a.items.embeddings, c.items.embeddings);
}

#[test]
fn multithreaded_training_learns_too() {
    let (train, test, train_csr) = planted();
    let mut p = params(Loss::Warp);
    p.threads = 4;
    let model = fit_with(p, &train, 30);
    let m = evaluate(&model, &test, Some(&train_csr), 10).expect("evaluates");
    assert!(m.precision_at_k > 0.1, "{m:?}");
}

/// The packed kernel (identity features, row-wise adagrad) with two threads shares
/// its records between them: it learns as well as with one thread.
#[test]
fn packed_kernel_on_two_threads_learns_like_one() {
    let (train, test, train_csr) = planted();
    for loss in [Loss::Warp, Loss::Bpr] {
        let mut p = params(loss);
        p.row_adagrad = true;
        let one = fit_with(p.clone(), &train, 30);
        p.threads = 2;
        let two = fit_with(p, &train, 30);
        assert_ne!(one, two, "{loss:?}: two threads ran");
        let one = evaluate(&one, &test, Some(&train_csr), 10).expect("evaluates");
        let two = evaluate(&two, &test, Some(&train_csr), 10).expect("evaluates");
        assert!(
            two.precision_at_k > 0.1 && two.precision_at_k > 0.9 * one.precision_at_k,
            "{loss:?}: two threads {two:?} against one {one:?}"
        );
    }
}

/// With several threads, the shared attribute features of both sides are stepped in
/// per-thread pending buffers and added to the model every few dozen examples: the
/// model still learns, and every attribute's parameters and accumulators moved.
#[test]
fn multithreaded_hybrid_training_learns_and_keeps_every_attribute_step() {
    let (train, test, train_csr) = planted();
    let (user_features, item_features) = (user_group_features(), item_group_features());
    for loss in [Loss::Warp, Loss::Bpr] {
        let mut p = params(loss);
        p.threads = 2;
        let model = p
            .fit(&train, user_features.clone(), item_features.clone(), 20)
            .expect("fits");
        let m = evaluate(&model, &test, Some(&train_csr), 10).expect("evaluates");
        assert!(m.precision_at_k > 0.1, "{loss:?}: {m:?}");
        for (side, n) in [(&model.users, USERS), (&model.items, ITEMS)] {
            for g in n..n + GROUPS {
                // Accumulators start at 1 and only grow: every pending step landed.
                assert!(
                    side.emb_acc.row(g).iter().all(|&a| a > 1.0),
                    "{loss:?}: attribute {g} never stepped"
                );
                // Pairwise losses never step user biases (their gradient is zero).
                if n == ITEMS {
                    assert!(side.bias_acc[g] > 1.0, "{loss:?}: attribute {g} bias");
                }
            }
        }
    }
}

#[test]
fn adadelta_trains() {
    let (train, test, train_csr) = planted();
    let mut p = params(Loss::Warp);
    p.schedule = Schedule::Adadelta {
        rho: 0.95,
        epsilon: 1e-6,
    };
    let model = fit_with(p, &train, 30);
    let m = evaluate(&model, &test, Some(&train_csr), 10).expect("evaluates");
    assert!(m.auc > 0.75, "{m:?}");
}

/// Items carry their group as a feature; a new item known only by its group lands
/// among that group's items, and users of that group rank it high.
#[test]
fn cold_item_ranks_near_items_with_the_same_features() {
    let (train, _, _) = planted();
    let model = params(Loss::Warp)
        .fit(&train, Csr::identity(USERS), item_group_features(), 30)
        .expect("fits");
    let group = 2usize;
    let (cold, cold_bias) =
        foldin::item_from_features(&model, &[((ITEMS + group) as u32, 1.0)]).expect("folds in");
    let (items, _) = model.item_representations();
    // Cosine neighbours of the cold vector: mostly its group.
    let mut with_cold = items.clone();
    with_cold.push_row(cold.view()).expect("same width");
    let near = foldin::similar_items(&with_cold, ITEMS, 10).expect("similar");
    let same = near
        .iter()
        .filter(|(i, _)| group_of_item(*i) == group)
        .count();
    assert!(
        same >= 8,
        "{same} of 10 neighbours share the group: {near:?}"
    );
    // Users of the group score it above most items of other groups.
    let users: Vec<usize> = (0..USERS).filter(|u| u % GROUPS == group).collect();
    let mut wins = 0usize;
    let mut total = 0usize;
    for &u in &users {
        let (uv, _) = model.user_representation(u);
        let cold_score = uv.dot(&cold) + cold_bias;
        for i in (0..ITEMS).filter(|&i| group_of_item(i) != group) {
            let (iv, ib) = model.item_representation(i);
            total += 1;
            wins += usize::from(cold_score > uv.dot(&iv) + ib);
        }
    }
    assert!(
        wins as f64 > 0.8 * total as f64,
        "cold item beat {wins} of {total}"
    );
}

#[test]
fn anonymous_session_is_scored_from_its_views() {
    let (train, _, _) = planted();
    let model = fit(Loss::Warp, &train, 30);
    let (items, biases) = model.item_representations();
    let group = 4usize;
    let viewed: Vec<usize> = (0..4).map(|k| k * GROUPS + group).collect();
    let v = foldin::session_vector(&items, &viewed, foldin::SESSION_HALF_LIFE).expect("folds in");
    let scores = reco_model::model::score_all(&items, &biases, v.view(), 0.0);
    let top = reco_model::model::top_k(scores.view(), 10, &viewed);
    let same = top
        .iter()
        .filter(|(i, _)| group_of_item(*i) == group)
        .count();
    assert!(
        same >= 7,
        "{same} of the top 10 are from the viewed group: {top:?}"
    );
    assert!(matches!(
        foldin::session_vector(&items, &[ITEMS], 5.0),
        Err(ModelError::Input(_))
    ));
}

#[test]
fn new_user_is_scored_from_features() {
    let (train, _, _) = planted();
    // Users carry their group as a feature.
    let model = params(Loss::Warp)
        .fit(&train, user_group_features(), Csr::identity(ITEMS), 30)
        .expect("fits");
    let group = 1usize;
    let (v, b) =
        foldin::user_from_features(&model, &[((USERS + group) as u32, 1.0)]).expect("folds in");
    let (items, biases) = model.item_representations();
    let scores = reco_model::model::score_all(&items, &biases, v.view(), b);
    let top = reco_model::model::top_k(scores.view(), 10, &[]);
    let same = top
        .iter()
        .filter(|(i, _)| group_of_item(*i) == group)
        .count();
    assert!(
        same >= 7,
        "{same} of the top 10 are from the user's group: {top:?}"
    );
    assert!(matches!(
        foldin::user_from_features(&model, &[(10_000, 1.0)]),
        Err(ModelError::Input(_))
    ));
}

#[test]
fn artifact_round_trip_keeps_predictions_and_refuses_damage() {
    let (train, _, _) = planted();
    let model = fit(Loss::Warp, &train, 5);
    let catalog = Catalog {
        user_ids: (0..USERS).map(|u| format!("user-{u}")).collect(),
        item_ids: (0..ITEMS).map(|i| format!("item-{i}")).collect(),
        user_feature_names: Vec::new(),
        item_feature_names: Vec::new(),
    };
    let bytes = artifact::to_bytes(&model, &catalog).expect("serialises");
    let (loaded, loaded_catalog) = artifact::from_bytes(&bytes).expect("loads");
    assert_eq!(loaded, model);
    assert_eq!(loaded_catalog, catalog);
    let items: Vec<usize> = (0..ITEMS).collect();
    for u in [0, 17, USERS - 1] {
        assert_eq!(
            loaded.predict(u, &items).expect("scores"),
            model.predict(u, &items).expect("scores")
        );
    }
    // Training continues from the loaded state exactly as from the original.
    let mut a = model.clone();
    let mut b = loaded;
    a.fit_partial(&train, 1).expect("continues");
    b.fit_partial(&train, 1).expect("continues");
    assert_eq!(a, b);

    let truncated = &bytes[..bytes.len() - 100];
    let e = artifact::from_bytes(truncated)
        .expect_err("truncated file refused")
        .to_string();
    assert!(e.contains("truncated"), "{e}");
    let mut flipped = bytes.clone();
    let at = bytes.len() - 5000;
    flipped[at] ^= 0x40;
    let e = artifact::from_bytes(&flipped)
        .expect_err("corrupt file refused")
        .to_string();
    assert!(e.contains("checksum"), "{e}");
    assert!(matches!(
        artifact::from_bytes(b"not a model"),
        Err(ModelError::Artifact(_))
    ));
    let bad_catalog = Catalog {
        item_ids: vec!["a\nb".into(); ITEMS],
        ..catalog
    };
    assert!(matches!(
        artifact::to_bytes(&model, &bad_catalog),
        Err(ModelError::Artifact(_))
    ));
}

#[test]
fn bad_input_is_refused_clearly() {
    let (train, _, _) = planted();
    let e = params(Loss::Warp)
        .fit(&train, Csr::identity(USERS), Csr::identity(ITEMS + 1), 1)
        .expect_err("item count mismatch");
    assert!(matches!(e, ModelError::Shape(_)), "{e}");
    assert!(e.to_string().contains("items"), "{e}");
    let mut model = fit(Loss::Warp, &train, 1);
    let grown = Csr::identity(ITEMS + 5);
    assert!(matches!(
        model.set_features(Csr::identity(USERS), grown),
        Err(ModelError::Shape(_))
    ));
    let mut bad = train.clone();
    bad.items[0] = ITEMS as u32;
    assert!(matches!(
        model.fit_partial(&bad, 1),
        Err(ModelError::Shape(_))
    ));
    let mut weights = train.clone();
    weights.weights = Some(vec![1.0; 3]);
    assert!(matches!(
        model.fit_partial(&weights, 1),
        Err(ModelError::Shape(_))
    ));
    let mut p = params(Loss::Warp);
    p.no_components = 0;
    let e = p
        .init(Csr::identity(USERS), Csr::identity(ITEMS))
        .expect_err("refused");
    assert!(e.to_string().contains("no_components"), "{e}");
}

#[test]
fn divergence_stops_with_an_error() {
    let (train, _, _) = planted();
    let mut p = params(Loss::Logistic);
    p.schedule = Schedule::Adagrad {
        learning_rate: 1e30,
    };
    let mut mixed = train.clone();
    // Negatives too, so logistic has both labels to push apart.
    for n in 0..mixed.len() {
        if n % 2 == 0 {
            mixed.values[n] = -1.0;
        }
    }
    let e = p
        .fit(&mixed, Csr::identity(USERS), Csr::identity(ITEMS), 5)
        .expect_err("diverges");
    assert!(matches!(e, ModelError::Diverged { .. }), "{e}");
    assert!(e.to_string().contains("learning rate"), "{e}");
}

#[test]
fn sample_weights_shift_the_model() {
    let (train, _, _) = planted();
    let mut weighted = train.clone();
    weighted.weights = Some(
        (0..train.len())
            .map(|n| if n % 3 == 0 { 5.0 } else { 0.2 })
            .collect(),
    );
    let a = fit(Loss::Warp, &train, 3);
    let b = fit(Loss::Warp, &weighted, 3);
    assert_ne!(a.items.embeddings, b.items.embeddings);
}
