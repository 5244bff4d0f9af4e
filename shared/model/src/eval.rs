//! Ranking metrics with LightFM's definitions (`lightfm.evaluation`), plus NDCG@k.
//!
//! For each user with at least one test interaction, every test item gets a rank: the
//! number of *other* items, not among the user's train interactions, that score at
//! least as high (ties count against the item; other test items do compete). Then:
//! - precision@k = (test items ranked < k) / k;
//! - recall@k = (test items ranked < k) / (test items);
//! - AUC = mean over test items, ranks sorted ascending, of 1 - max(0, rank_i - i) / N,
//!   N = items in neither the test nor the train row (0.5 when undefined);
//! - reciprocal rank = 1 / (best rank + 1);
//! - NDCG@k = sum over test items ranked < k of 1/log2(rank + 2), divided by the
//!   ideal sum over min(P, k) positions.
//!
//! Users without test interactions are left out of every mean.

use serde::{Deserialize, Serialize};

use crate::csr::Csr;
use crate::model::{score_all, Model, ModelError};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub precision_at_k: f64,
    pub recall_at_k: f64,
    pub auc: f64,
    pub reciprocal_rank: f64,
    pub ndcg_at_k: f64,
    pub k: usize,
    /// Users the means are over.
    pub users: usize,
}

/// Per-user values, for tests and reports.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UserMetrics {
    pub precision: f64,
    pub recall: f64,
    pub auc: f64,
    pub reciprocal_rank: f64,
    pub ndcg: f64,
}

/// Metrics of one user from the scores of every item.
pub fn user_metrics(scores: &[f32], test: &[u32], train: &[u32], k: usize) -> UserMetrics {
    let n_items = scores.len();
    // Scores of the competitors (items not in train), sorted descending.
    let mut competing: Vec<f32> = scores
        .iter()
        .enumerate()
        .filter(|(i, _)| train.binary_search(&(*i as u32)).is_err())
        .map(|(_, &s)| s)
        .collect();
    competing.sort_unstable_by(|a, b| b.total_cmp(a));
    let mut ranks: Vec<usize> = test
        .iter()
        .map(|&t| {
            let s = scores[t as usize];
            // Items scoring >= s, minus the item itself when it is a competitor.
            let at_least = competing.partition_point(|&c| c >= s);
            let itself = usize::from(train.binary_search(&t).is_err());
            at_least.saturating_sub(itself)
        })
        .collect();
    let p = test.len();
    let hits = ranks.iter().filter(|&&r| r < k).count();
    let dcg: f64 = ranks
        .iter()
        .filter(|&&r| r < k)
        .map(|&r| 1.0 / ((r + 2) as f64).log2())
        .sum();
    let idcg: f64 = (0..p.min(k)).map(|i| 1.0 / ((i + 2) as f64).log2()).sum();
    let best = ranks.iter().copied().min().unwrap_or(0);
    ranks.sort_unstable();
    let negatives = n_items as f64 - (p + train.len()) as f64;
    let auc = if p == 0 || negatives <= 0.0 {
        0.5
    } else {
        ranks
            .iter()
            .enumerate()
            .map(|(i, &r)| 1.0 - (r.saturating_sub(i)) as f64 / negatives)
            .sum::<f64>()
            / p as f64
    };
    UserMetrics {
        precision: hits as f64 / k as f64,
        recall: if p == 0 { 0.0 } else { hits as f64 / p as f64 },
        auc,
        reciprocal_rank: 1.0 / (best + 1) as f64,
        ndcg: if idcg > 0.0 { dcg / idcg } else { 0.0 },
    }
}

/// Evaluates `model` on `test` (users x items), excluding `train` items from ranking.
pub fn evaluate(
    model: &Model,
    test: &Csr,
    train: Option<&Csr>,
    k: usize,
) -> Result<Metrics, ModelError> {
    let (items, item_biases) = model.item_representations();
    let (users, user_biases) = model.user_representations();
    evaluate_with(test, train, k, model.params.threads, |u| {
        score_all(&items, &item_biases, users.row(u), user_biases[u]).to_vec()
    })
}

/// Evaluates any scorer: `scores(user)` gives the score of every item.
pub fn evaluate_with(
    test: &Csr,
    train: Option<&Csr>,
    k: usize,
    threads: usize,
    scores: impl Fn(usize) -> Vec<f32> + Sync,
) -> Result<Metrics, ModelError> {
    if k == 0 {
        return Err(ModelError::Params("k: must be at least 1".into()));
    }
    if let Some(train) = train {
        if train.n_rows() != test.n_rows() || train.n_cols() != test.n_cols() {
            return Err(ModelError::Shape(format!(
                "test is {} x {} but train is {} x {}",
                test.n_rows(),
                test.n_cols(),
                train.n_rows(),
                train.n_cols()
            )));
        }
    }
    let users: Vec<usize> = (0..test.n_rows())
        .filter(|&u| !test.row(u).0.is_empty())
        .collect();
    let per_user = |u: usize| {
        let s = scores(u);
        let train_row = train.map_or(&[][..], |t| t.row(u).0);
        user_metrics(&s, test.row(u).0, train_row, k)
    };
    let threads = threads.max(1);
    let results: Vec<UserMetrics> = if threads == 1 || users.len() < 64 {
        users.iter().map(|&u| per_user(u)).collect()
    } else {
        let chunk = users.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let handles: Vec<_> = users
                .chunks(chunk)
                .map(|block| {
                    let per_user = &per_user;
                    scope.spawn(move || block.iter().map(|&u| per_user(u)).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    let n = results.len().max(1) as f64;
    let mean = |f: fn(&UserMetrics) -> f64| results.iter().map(f).sum::<f64>() / n;
    Ok(Metrics {
        precision_at_k: mean(|m| m.precision),
        recall_at_k: mean(|m| m.recall),
        auc: mean(|m| m.auc),
        reciprocal_rank: mean(|m| m.reciprocal_rank),
        ndcg_at_k: mean(|m| m.ndcg),
        k,
        users: results.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    /// Six items; train = {0}; test = {1, 4}. Scores rank the competitors
    /// 2 (0.9), 1 (0.8), 3 (0.8), 5 (0.3), 4 (0.1); item 0 (train) scores 1.0 and
    /// does not compete.
    /// rank(1) = items other than 1, not in train, with score >= 0.8: {2, 3} = 2
    /// (the tie with 3 counts against it). rank(4) = {2, 1, 3, 5} = 4.
    #[test]
    fn hand_computed_example() {
        let scores = [1.0, 0.8, 0.9, 0.8, 0.1, 0.3];
        let m = user_metrics(&scores, &[1, 4], &[0], 3);
        // precision@3: one hit (rank 2 < 3) / 3
        assert!(close(m.precision, 1.0 / 3.0), "{m:?}");
        // recall@3: 1 / 2
        assert!(close(m.recall, 0.5));
        // reciprocal rank: 1 / (2 + 1)
        assert!(close(m.reciprocal_rank, 1.0 / 3.0));
        // AUC: N = 6 - (2 + 1) = 3 negatives {2, 3, 5}; sorted ranks [2, 4];
        // 1 - 2/3 = 1/3; 1 - (4 - 1)/3 = 0 -> mean 1/6. (Pairs: item 1 beats 5 only
        // (tie with 3 is a miss): 1/3; item 4 beats none: 0.)
        assert!(close(m.auc, 1.0 / 6.0), "{}", m.auc);
        // NDCG@3: DCG = 1/log2(4) = 0.5; IDCG = 1 + 1/log2(3).
        assert!(close(m.ndcg, 0.5 / (1.0 + 1.0 / 3f64.log2())));
    }

    #[test]
    fn perfect_ranking_scores_one() {
        let scores = [0.9, 0.8, 0.1, 0.2];
        let m = user_metrics(&scores, &[0, 1], &[], 2);
        assert!(close(m.precision, 1.0));
        assert!(close(m.recall, 1.0));
        assert!(close(m.auc, 1.0));
        assert!(close(m.reciprocal_rank, 1.0));
        assert!(close(m.ndcg, 1.0));
    }

    #[test]
    fn users_without_test_items_are_left_out() {
        let test = Csr::from_triplets(3, 4, &[(1, 0, 1.0)]).expect("valid");
        let m = evaluate_with(&test, None, 2, 1, |_| vec![1.0, 0.0, 0.0, 0.0]).expect("ok");
        assert_eq!(m.users, 1);
        assert!(close(m.precision_at_k, 0.5));
        assert!(matches!(
            evaluate_with(&test, None, 0, 1, |_| vec![0.0; 4]),
            Err(crate::ModelError::Params(_))
        ));
    }
}
