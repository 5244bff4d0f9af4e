//! One training step of each loss against values computed by hand from the
//! update rules (adagrad, learning rate 0.05, accumulators starting at 1, so the
//! first step's rate is exactly 0.05).

use ndarray::{arr1, arr2, Array2};

use crate::csr::{Csr, Interactions};
use crate::model::{Model, Path};
use crate::params::{Loss, Params};

const LR: f32 = 0.05;

fn model(loss: Loss, users: Array2<f32>, items: Array2<f32>) -> Model {
    model_with(loss, users, items, |_| {})
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-6
}

#[test]
fn screening_dots_match_plain_sums() {
    // Four rows of a 10-component table (stride 16: vector, bias, zeros), scored
    // by the portable path and, where the CPU has it, the AVX2 path.
    let (d, n) = (10, 5);
    let mut table = super::snapshot::Table::default();
    table.reset(n, d);
    let stride = table.stride();
    assert_eq!(stride, 16);
    for (i, v) in table.values_mut().iter_mut().enumerate() {
        if i % stride <= d {
            *v = ((i * 7919) % 23) as f32 / 7.0 - 1.5;
        }
    }
    let mut screen = vec![0.0f32; stride];
    for (c, v) in screen[..d].iter_mut().enumerate() {
        *v = c as f32 * 0.25 - 1.0;
    }
    screen[d] = 1.0;
    let rows = [4, 0, 2, 4];
    let want = rows.map(|r| {
        let row = &table.values()[r * stride..(r + 1) * stride];
        (0..=d)
            .map(|c| f64::from(screen[c]) * f64::from(row[c]))
            .sum::<f64>()
    });
    let mut paths = vec![false];
    if crate::simd::avx2_fma() {
        paths.push(true);
    }
    for avx2 in paths {
        let got = table.dots4(&screen, rows, avx2);
        for (g, w) in got.iter().zip(want) {
            assert!((f64::from(*g) - w).abs() < 1e-4, "avx2 {avx2}: {g} vs {w}");
        }
    }
}

#[test]
fn logistic_step() {
    let (u, i) = ([0.1f32, 0.2], [0.3f32, -0.1]);
    let mut m = model(Loss::Logistic, arr2(&[u]), arr2(&[i]));
    m.fit_partial(&Interactions::from_pairs(1, 1, &[(0, 0)]), 1)
        .expect("trains");
    let score = u[0] * i[0] + u[1] * i[1];
    let l = sigmoid(score) - 1.0; // d loss / d score for a positive
    for c in 0..2 {
        assert!(close(m.items.embeddings[[0, c]], i[c] - LR * l * u[c]));
        assert!(close(m.users.embeddings[[0, c]], u[c] - LR * l * i[c]));
        assert!(close(m.items.emb_acc[[0, c]], 1.0 + (l * u[c]).powi(2)));
    }
    assert!(close(m.items.biases[0], -LR * l));
    assert!(close(m.users.biases[0], -LR * l));
    assert!(close(m.items.bias_acc[0], 1.0 + l * l));
}

#[test]
fn bpr_step() {
    let (u, p, n) = ([0.1f32, 0.2], [0.3f32, -0.1], [-0.2f32, 0.4]);
    let mut m = model(Loss::Bpr, arr2(&[u]), arr2(&[p, n]));
    m.fit_partial(&Interactions::from_pairs(1, 2, &[(0, 0)]), 1)
        .expect("trains");
    let diff = (u[0] * p[0] + u[1] * p[1]) - (u[0] * n[0] + u[1] * n[1]);
    let l = 1.0 - sigmoid(diff);
    for c in 0..2 {
        assert!(close(m.items.embeddings[[0, c]], p[c] + LR * l * u[c]));
        assert!(close(m.items.embeddings[[1, c]], n[c] - LR * l * u[c]));
        assert!(close(
            m.users.embeddings[[0, c]],
            u[c] + LR * l * (p[c] - n[c])
        ));
    }
    assert!(close(m.items.biases[0], LR * l));
    assert!(close(m.items.biases[1], -LR * l));
    assert_eq!(
        m.users.biases[0], 0.0,
        "the user bias cancels in pairwise losses"
    );
}

/// Checks a pairwise step on (user 0, pos, neg) with some loss `l`, and returns `l`.
fn pairwise_step(m: &Model, u: &[f32], items: &[[f32; 2]], pos: usize) -> (usize, f32) {
    let moved: Vec<usize> = (0..items.len())
        .filter(|&i| i != pos && m.items.embeddings[[i, 0]] != items[i][0])
        .collect();
    assert_eq!(moved.len(), 1, "exactly one negative updated: {moved:?}");
    let neg = moved[0];
    let l = m.items.biases[pos] / LR;
    assert!(close(m.items.biases[neg], -LR * l));
    for c in 0..2 {
        assert!(close(
            m.items.embeddings[[pos, c]],
            items[pos][c] + LR * l * u[c]
        ));
        assert!(close(
            m.items.embeddings[[neg, c]],
            items[neg][c] - LR * l * u[c]
        ));
        let want = u[c] + LR * l * (items[pos][c] - items[neg][c]);
        assert!(close(m.users.embeddings[[0, c]], want));
    }
    (neg, l)
}

#[test]
fn warp_step_uses_the_rank_weight() {
    // Five items; every negative violates the margin, so the weight is
    // ln(floor(4 / draws)): ln 4 at the first draw, ln 2 at the second
    // (when the first draw hit the positive).
    let u = [0.1f32, 0.2];
    let items = [
        [0.3f32, -0.1],
        [0.3, -0.1],
        [0.3, -0.1],
        [0.3, -0.1],
        [0.3, -0.1],
    ];
    let mut m = model(Loss::Warp, arr2(&[u]), arr2(&items));
    m.fit_partial(&Interactions::from_pairs(1, 5, &[(0, 0)]), 1)
        .expect("trains");
    let (_, l) = pairwise_step(&m, &u, &items, 0);
    assert!(
        close(l, 4f32.ln()) || close(l, 2f32.ln()),
        "weight {l} is not ln 4 or ln 2"
    );
}

#[test]
fn warp_skips_when_no_negative_violates() {
    // The positive outscores every negative by more than the margin: no update.
    let u = [1.0f32, 1.0];
    let items = [[2.0f32, 2.0], [-1.0, -1.0], [-1.0, -1.0]];
    let mut m = model(Loss::Warp, arr2(&[u]), arr2(&items));
    m.fit_partial(&Interactions::from_pairs(1, 3, &[(0, 0)]), 1)
        .expect("trains");
    assert_eq!(m.items.embeddings, arr2(&items));
    assert_eq!(m.items.biases, arr1(&[0.0f32, 0.0, 0.0]));
}

#[test]
fn kos_step_updates_one_sampled_positive() {
    // Two positives (0 scores higher than 1), k = 2 of n = 2 draws: the anchor is
    // the lower-scored draw. Negatives 2..6 all violate.
    let u = [0.1f32, 0.2];
    let mut items = vec![[0.5f32, 0.5], [0.2, 0.1]];
    items.extend(std::iter::repeat_n([0.3f32, -0.1], 5));
    let mut m = model(Loss::WarpKos { k: 2, n: 2 }, arr2(&[u]), arr2(&items));
    let before = m.clone();
    // Two entries: the user is visited twice, one pairwise step each.
    m.fit_partial(&Interactions::from_pairs(1, 7, &[(0, 0), (0, 1)]), 1)
        .expect("trains");
    let changed = |i: usize| m.items.biases[i] != before.items.biases[i];
    let positives = (0..2).filter(|&i| changed(i)).count();
    let negatives = (2..7).filter(|&i| changed(i)).count();
    assert!(
        (1..=2).contains(&positives),
        "{positives} positives stepped"
    );
    assert!(
        (1..=2).contains(&negatives),
        "{negatives} negatives stepped"
    );
    // Positives only ever move up, negatives down.
    assert!((0..2).all(|i| m.items.biases[i] >= 0.0));
    assert!((2..7).all(|i| m.items.biases[i] <= 0.0));
}

/// A one-thread model with these embeddings, adagrad at 0.05, and the parameters
/// `change` sets.
fn model_with(
    loss: Loss,
    users: Array2<f32>,
    items: Array2<f32>,
    change: impl FnOnce(&mut Params),
) -> Model {
    let mut p = Params {
        no_components: users.ncols(),
        loss,
        threads: 1,
        ..Params::default()
    };
    change(&mut p);
    let mut m = p
        .init(Csr::identity(users.nrows()), Csr::identity(items.nrows()))
        .expect("valid");
    m.users.embeddings = users;
    m.items.embeddings = items;
    m
}

#[test]
fn learning_rate_decays_after_the_start_epoch() {
    let (u, i) = ([0.1f32, 0.2], [0.3f32, -0.1]);
    let mut m = model_with(Loss::Logistic, arr2(&[u]), arr2(&[i]), |p| {
        p.learning_rate_decay = 0.1;
        p.decay_start = 5;
    });
    // The model's 11th epoch: 10 - 5 = 5 epochs of decay, rate 0.05 / 1.5.
    m.epochs = 10;
    m.fit_partial(&Interactions::from_pairs(1, 1, &[(0, 0)]), 1)
        .expect("trains");
    let l = sigmoid(u[0] * i[0] + u[1] * i[1]) - 1.0;
    for c in 0..2 {
        assert!(close(
            m.items.embeddings[[0, c]],
            i[c] - LR / 1.5 * l * u[c]
        ));
    }
    assert!(close(m.items.biases[0], -LR / 1.5 * l));
}

#[test]
fn row_adagrad_keeps_one_accumulator_per_row() {
    let (u, i) = ([0.1f32, 0.2], [0.3f32, -0.1]);
    let mut m = model_with(Loss::Logistic, arr2(&[u]), arr2(&[i]), |p| {
        p.row_adagrad = true;
    });
    assert_eq!(m.items.emb_acc.dim(), (1, 1));
    let data = Interactions::from_pairs(1, 1, &[(0, 0)]);
    m.fit_partial(&data, 1).expect("trains");
    let l = sigmoid(u[0] * i[0] + u[1] * i[1]) - 1.0;
    // First step: accumulator 1, rate 0.05 for every component.
    let stepped = [i[0] - LR * l * u[0], i[1] - LR * l * u[1]];
    for (c, want) in stepped.iter().enumerate() {
        assert!(close(m.items.embeddings[[0, c]], *want));
    }
    let mean_square = ((l * u[0]).powi(2) + (l * u[1]).powi(2)) / 2.0;
    let acc = 1.0 + mean_square;
    assert!(close(m.items.emb_acc[[0, 0]], acc));
    // Second step: one rate for the row, 0.05 / sqrt(accumulator).
    let user = [m.users.embeddings[[0, 0]], m.users.embeddings[[0, 1]]];
    let score = user[0] * stepped[0] + user[1] * stepped[1] + m.users.biases[0] + m.items.biases[0];
    let l2 = sigmoid(score) - 1.0;
    m.fit_partial(&data, 1).expect("trains");
    for (c, (before, u)) in stepped.iter().zip(user).enumerate() {
        let want = before - LR / acc.sqrt() * l2 * u;
        assert!(close(m.items.embeddings[[0, c]], want), "{c}");
    }
}

#[test]
fn averaging_keeps_the_mean_of_the_last_epochs() {
    let data = Interactions::from_pairs(3, 4, &[(0, 0), (1, 1), (2, 2), (0, 3)]);
    let fresh = |average: usize| {
        let users = Array2::from_shape_fn((3, 4), |(r, c)| (r * 4 + c) as f32 * 0.01 - 0.05);
        let items = Array2::from_shape_fn((4, 4), |(r, c)| 0.04 - (r * 4 + c) as f32 * 0.01);
        model_with(Loss::Warp, users, items, |p| p.average_epochs = average)
    };
    let mut seen = Vec::new();
    let mut plain = fresh(0);
    plain
        .fit_partial_with(&data, 3, |_, m| {
            seen.push(m.items.embeddings.clone());
            Ok(())
        })
        .expect("trains");
    let mut averaged = fresh(2);
    averaged.fit_partial(&data, 3).expect("trains");
    let want = (&seen[1] + &seen[2]) / 2.0;
    assert_ne!(seen[1], seen[2], "the last two epochs differ");
    for (a, b) in averaged.items.embeddings.iter().zip(want.iter()) {
        assert!(close(*a, *b), "{a} vs {b}");
    }
}

#[test]
fn known_negatives_are_pushed_below_the_positives() {
    // One user, a positive (item 0) and a known negative (item 1) that scores
    // higher; item 2 is unlabelled.
    let data = Interactions {
        n_users: 1,
        n_items: 3,
        users: vec![0, 0],
        items: vec![0, 1],
        values: vec![1.0, -1.0],
        weights: None,
    };
    let gap = |weight: f32| {
        let users = arr2(&[[0.3f32, 0.2]]);
        let items = arr2(&[[0.1f32, 0.1], [0.4, 0.3], [0.0, 0.1]]);
        let mut m = model_with(Loss::Warp, users, items, |p| {
            p.known_negative_weight = weight
        });
        m.fit_partial(&data, 5).expect("trains");
        let u = m.users.embeddings.row(0);
        let score = |i: usize| u.dot(&m.items.embeddings.row(i)) + m.items.biases[i];
        score(0) - score(1)
    };
    let (ignored, used) = (gap(0.0), gap(1.0));
    assert!(
        used > ignored + 0.05,
        "gap {used} with known negatives, {ignored} without"
    );
}

#[test]
fn packed_kernel_steps_as_the_general_one() {
    // The packed kernel (identity features, row-wise adagrad, WARP or BPR) against
    // the general kernel from the same start, one thread: the same draws, the same
    // steps, so the same parameters to rounding; on the thread's own memory and on
    // the cells threads share. Two epochs: the first screens
    // against live rows, the second against the snapshot. 2 and 10 components use
    // 16-float records, 40 the next compiled size up (72).
    let (n_users, n_items) = (30, 50);
    let mut pairs = Vec::new();
    for u in 0..n_users {
        for k in 0..6 {
            pairs.push((u as u32, ((u * 7 + k * 11) % n_items) as u32));
        }
    }
    let data = Interactions::from_pairs(n_users, n_items, &pairs);
    for loss in [Loss::Warp, Loss::Bpr] {
        for d in [2, 10, 40] {
            let fit = |path: Path| {
                let params = Params {
                    no_components: d,
                    loss,
                    threads: 1,
                    row_adagrad: true,
                    seed: 5,
                    ..Params::default()
                };
                assert!(super::stride_for(d).is_some());
                let mut m = params
                    .init(Csr::identity(n_users), Csr::identity(n_items))
                    .expect("valid");
                m.fit_epochs(&data, 2, path, |_, _| Ok(())).expect("trains");
                m
            };
            let general = fit(Path::General);
            for path in [Path::Packed, Path::PackedShared] {
                let packed = fit(path);
                let init = Params {
                    no_components: d,
                    seed: 5,
                    ..Params::default()
                }
                .init(Csr::identity(n_users), Csr::identity(n_items))
                .expect("valid");
                assert_ne!(
                    packed.items.embeddings, init.items.embeddings,
                    "{loss:?} d={d} trained"
                );
                let sides = [
                    (&packed.users, &general.users),
                    (&packed.items, &general.items),
                ];
                for (p, g) in sides {
                    let values = |s: &crate::model::SideParams| -> Vec<f32> {
                        s.embeddings
                            .iter()
                            .chain(&s.biases)
                            .chain(&s.emb_acc)
                            .chain(&s.bias_acc)
                            .copied()
                            .collect()
                    };
                    for (x, y) in values(p).iter().zip(values(g)) {
                        assert!((x - y).abs() < 1e-5, "{loss:?} d={d} {path:?}: {x} vs {y}");
                    }
                }
            }
        }
    }
}
