//! `bench-session --split DIR [--seeds N] [--params JSON] [--fixed]`: a public
//! session benchmark (`reco_bench::sessions`) with its papers' protocol: every test
//! prefix predicts its next item; HR@20 and MRR@20 over all test pairs, targets
//! unseen in training counted as misses.
//!
//! Trained as `reco train` trains: the session model's parameters chosen on the newest
//! training sessions (unless `--fixed`), the index fitted on all of them, the matrix
//! factorisation fitted with the default options on sessions as users; then scored
//! through `reco_serving::recommend::session_top_k` (the code `/v1/recommendations`
//! runs), topped up with popular items as the route does. Once per seed (the
//! factorisation's), median and range reported. Also: the same lists with the
//! prefix's items excluded (`exclude_seen=true`), counted on every pair.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use reco_bench::sessions::{load_session_split, sessions_bundle};
use reco_model::session::tune::tune;
use reco_model::session::{SessionIndex, SessionParams};
use reco_model::topk::Bitset;
use reco_model::{Csr, Interactions};
use reco_pipeline::train::TrainOptions;
use reco_serving::bundle::Bundle;
use reco_serving::model::{ServingModel, Source};
use reco_serving::recommend::session_top_k;
use reco_serving::SessionData;

const K: usize = 20;

pub struct Args<'a> {
    pub seeds: u64,
    pub overrides: Option<&'a str>,
    pub fixed: bool,
}

#[derive(Default, Clone, Copy)]
struct Count {
    hits: u64,
    rr: f64,
}

impl Count {
    fn add(&mut self, list: &[usize], target: Option<usize>) {
        if let Some(p) = target.and_then(|t| list.iter().take(K).position(|&i| i == t)) {
            self.hits += 1;
            self.rr += 1.0 / (p + 1) as f64;
        }
    }
}

fn params_from(overrides: Option<&str>) -> Result<SessionParams, String> {
    let mut value = serde_json::to_value(SessionParams::default()).map_err(|e| e.to_string())?;
    if let Some(json) = overrides {
        let extra: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
        if let (Some(v), Some(e)) = (value.as_object_mut(), extra.as_object()) {
            for (k, x) in e {
                v.insert(k.clone(), x.clone());
            }
        }
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

fn median(mut v: Vec<f64>) -> serde_json::Value {
    v.sort_by(f64::total_cmp);
    serde_json::json!({
        "median": v.get(v.len() / 2).copied().unwrap_or(f64::NAN),
        "min": v.first().copied().unwrap_or(f64::NAN),
        "max": v.last().copied().unwrap_or(f64::NAN),
    })
}

pub fn run(dir: &Path, args: &Args) -> Result<serde_json::Value, String> {
    let split = load_session_split(dir)?;
    let base = params_from(args.overrides)?;
    let mut index: HashMap<u64, u32> = HashMap::new();
    let mut ids: Vec<String> = Vec::new();
    let sessions: Vec<Vec<u32>> = split
        .train
        .iter()
        .map(|s| {
            s.iter()
                .map(|id| {
                    *index.entry(*id).or_insert_with(|| {
                        ids.push(id.to_string());
                        ids.len() as u32 - 1
                    })
                })
                .collect()
        })
        .collect();
    let n = ids.len();

    // The session model, as the pipeline's `session_model` builds it.
    let started = Instant::now();
    let (params, trials) = if args.fixed {
        (base.clone(), Vec::new())
    } else {
        let as_views: Vec<Vec<Option<u32>>> = sessions
            .iter()
            .map(|s| s.iter().map(|&i| Some(i)).collect())
            .collect();
        let tuned = tune(n, &as_views, &base, 2).map_err(|e| e.to_string())?;
        (tuned.params, tuned.trials)
    };
    let choose_s = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let session_index = SessionIndex::fit(n, &sessions, &params).map_err(|e| e.to_string())?;
    let session_fit_s = started.elapsed().as_secs_f64();
    let session = SessionData::from_index(&session_index, &params);

    // Sessions as users for the factorisation: each distinct item once.
    let (mut users, mut items) = (Vec::new(), Vec::new());
    let mut popularity = vec![0f32; n];
    for (u, s) in sessions.iter().enumerate() {
        let mut distinct = s.clone();
        distinct.sort_unstable();
        distinct.dedup();
        for i in distinct {
            users.push(u as u32);
            items.push(i);
            popularity[i as usize] += 1.0;
        }
    }
    let interactions = Interactions {
        n_users: sessions.len(),
        n_items: n,
        values: vec![1.0; users.len()],
        users,
        items,
        weights: None,
    };
    let options = TrainOptions::default();
    let mut by_popularity: Vec<usize> = (0..n).collect();
    by_popularity.sort_by(|&a, &b| popularity[b].total_cmp(&popularity[a]).then(a.cmp(&b)));

    let (mut hr, mut mrr, mut hr_new, mut mrr_new, mut mf_fit, mut per_query) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for seed in 0..args.seeds {
        let mf = TrainOptions {
            seed: 42 + seed,
            ..options.clone()
        }
        .params(interactions.positives_per_item())
        .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let model = mf
            .fit(
                &interactions,
                Csr::identity(sessions.len()),
                Csr::identity(n),
                options.epochs,
            )
            .map_err(|e| e.to_string())?;
        mf_fit.push(started.elapsed().as_secs_f64());
        let bundle = sessions_bundle(&ids, &model, &popularity, Some(session.clone()));
        // Through the bytes predict reads.
        let bytes = bundle.to_bytes().map_err(|e| e.to_string())?;
        let bundle = Bundle::from_bytes(&bytes).map_err(|e| e.to_string())?;
        let serving =
            ServingModel::new("bench", bundle, Source::Artifacts).map_err(|e| e.to_string())?;
        let started = Instant::now();
        let (all, new) = score_all(&serving, &split.test, &index, &by_popularity);
        per_query.push(1e6 * started.elapsed().as_secs_f64() / split.test.len() as f64 * 2.0);
        let total = split.test.len() as f64;
        hr.push(100.0 * all.hits as f64 / total);
        mrr.push(100.0 * all.rr / total);
        hr_new.push(100.0 * new.hits as f64 / total);
        mrr_new.push(100.0 * new.rr / total);
    }
    let unknown = split
        .test
        .iter()
        .filter(|(_, t)| !index.contains_key(t))
        .count();
    Ok(serde_json::json!({
        "dataset": dir.file_name().map(|f| f.to_string_lossy().to_string()),
        "train_sessions": sessions.len(),
        "items": n,
        "test_pairs": split.test.len(),
        "unknown_targets": unknown,
        "seeds": args.seeds,
        "hr_at_20": median(hr),
        "mrr_at_20": median(mrr),
        "exclude_seen": {"hr_at_20": median(hr_new), "mrr_at_20": median(mrr_new)},
        "choose_s": choose_s,
        "session_fit_s": session_fit_s,
        "mf_fit_s": median(mf_fit),
        "query_us": median(per_query),
        "session_index_mb": session_index.bytes() as f64 / 1e6,
        "params": params,
        "trials": trials,
    }))
}

/// Counts over every test pair, on two threads: nothing excluded, and the prefix's
/// items excluded.
fn score_all(
    serving: &ServingModel,
    test: &[(Vec<u64>, u64)],
    index: &HashMap<u64, u32>,
    by_popularity: &[usize],
) -> (Count, Count) {
    let chunk = test.len().div_ceil(2).max(1);
    let parts: Vec<(Count, Count)> = std::thread::scope(|scope| {
        let handles: Vec<_> = test
            .chunks(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let (mut all, mut new) = (Count::default(), Count::default());
                    for (prefix, target) in part {
                        let viewed: Vec<usize> = prefix
                            .iter()
                            .filter_map(|id| index.get(id).map(|&i| i as usize))
                            .collect();
                        let target = index.get(target).map(|&i| i as usize);
                        let empty = Bitset::new(serving.len());
                        all.add(&listed(serving, &viewed, &empty, by_popularity), target);
                        let mut seen = Bitset::new(serving.len());
                        for &i in &viewed {
                            seen.insert(i);
                        }
                        new.add(&listed(serving, &viewed, &seen, by_popularity), target);
                    }
                    (all, new)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    parts
        .iter()
        .fold((Count::default(), Count::default()), |(a, b), (x, y)| {
            (
                Count {
                    hits: a.hits + x.hits,
                    rr: a.rr + x.rr,
                },
                Count {
                    hits: b.hits + y.hits,
                    rr: b.rr + y.rr,
                },
            )
        })
}

/// The route's list: the session strategy, then popular items not excluded.
fn listed(
    serving: &ServingModel,
    viewed: &[usize],
    exclude: &Bitset,
    by_popularity: &[usize],
) -> Vec<usize> {
    let mut list: Vec<usize> = session_top_k(serving, viewed, K, exclude)
        .into_iter()
        .map(|e| e.0)
        .collect();
    for &i in by_popularity {
        if list.len() >= K {
            break;
        }
        if !exclude.contains(i) && !list.contains(&i) {
            list.push(i);
        }
    }
    list
}
