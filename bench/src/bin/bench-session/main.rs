//! `bench-session CSV [COMPONENTS EPOCHS SEED]`: next-view prediction on Diginetica-format
//! item views (`session_id;user_id;item_id;timeframe;eventdate`). Sessions are ordered
//! by date; the last 20% of dates are held out. The model is trained on the earlier
//! sessions as users (WARP, identity features); each held-out session of two or more
//! views then predicts every next view from its prefix, through the serving path's
//! `session` strategy (`reco_serving::recommend::session_top_k`: the recency-weighted
//! mean of the viewed items' vectors, exact top-k). Compared in the same run with
//! popularity (training views) and item co-occurrence kNN (the last viewed item's
//! neighbours by cosine of session co-occurrence, led by the item itself in the `all`
//! setting; popularity after them). Targets not
//! in the training catalogue are skipped (no method could rank them). Two settings:
//! `all` predicts every next view with nothing excluded (a repeated view is a hit);
//! `new` predicts only next views of items not yet in the prefix, with the prefix's
//! items excluded from every method's list (as `exclude_seen` does). Prints one JSON
//! line: HR@20 and MRR@20 of each method in each setting.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use reco_bench::sessions::sessions_bundle;
use reco_model::topk::Bitset;
use reco_model::{Interactions, Loss, Params, Schedule};
use reco_serving::model::{ServingModel, Source};
use reco_serving::recommend::session_top_k;

const K: usize = 20;

struct Hits {
    hits: usize,
    rr: f64,
    n: usize,
}

impl Hits {
    fn new() -> Self {
        Hits {
            hits: 0,
            rr: 0.0,
            n: 0,
        }
    }
    fn add(&mut self, list: &[usize], target: usize) {
        self.n += 1;
        if let Some(p) = list.iter().take(K).position(|&i| i == target) {
            self.hits += 1;
            self.rr += 1.0 / (p + 1) as f64;
        }
    }
    fn json(&self) -> serde_json::Value {
        let n = self.n.max(1) as f64;
        serde_json::json!({"hr_at_20": self.hits as f64 / n, "mrr_at_20": self.rr / n})
    }
}

mod split;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--split") {
        let usage = "usage: bench-session --split DIR [--seeds N] [--params JSON] [--fixed]";
        let Some(dir) = args.get(1) else {
            eprintln!("{usage}");
            std::process::exit(2);
        };
        let mut options = split::Args {
            seeds: 3,
            overrides: None,
            fixed: false,
        };
        let mut rest = args[2..].iter();
        while let Some(flag) = rest.next() {
            match (flag.as_str(), rest.clone().next()) {
                ("--seeds", Some(v)) if v.parse::<u64>().is_ok_and(|n| n > 0) => {
                    options.seeds = v.parse().unwrap_or(3);
                    rest.next();
                }
                ("--params", Some(v)) => {
                    options.overrides = Some(v.as_str());
                    rest.next();
                }
                ("--fixed", _) => options.fixed = true,
                _ => {
                    eprintln!("{usage}");
                    std::process::exit(2);
                }
            }
        }
        match split::run(std::path::Path::new(dir), &options) {
            Ok(v) => println!("{v}"),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        }
        return;
    }
    let Some(path) = args.first() else {
        eprintln!("usage: bench-session CSV [COMPONENTS EPOCHS SEED]");
        std::process::exit(2);
    };
    let components: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let epochs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(30);
    let seed: u64 = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(42);
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::exit(1);
        }
    };
    // session -> (date, [(timeframe, item)])
    let mut sessions: BTreeMap<String, (String, Vec<(i64, String)>)> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(';').collect();
        if f.len() < 5 {
            continue;
        }
        let e = sessions
            .entry(f[0].to_string())
            .or_insert_with(|| (f[4].to_string(), Vec::new()));
        e.1.push((f[3].parse().unwrap_or(0), f[2].to_string()));
    }
    let mut ordered: Vec<(String, Vec<String>)> = sessions
        .into_values()
        .map(|(date, mut views)| {
            views.sort();
            (date, views.into_iter().map(|v| v.1).collect())
        })
        .filter(|(_, v): &(String, Vec<String>)| v.len() >= 2)
        .collect();
    ordered.sort_by(|a, b| a.0.cmp(&b.0));
    let mut dates: Vec<&String> = ordered.iter().map(|s| &s.0).collect();
    dates.dedup();
    let cut = dates[dates.len() * 4 / 5].clone();
    let (train, test): (Vec<_>, Vec<_>) = ordered.into_iter().partition(|s| s.0 < cut);

    let mut index: HashMap<String, usize> = HashMap::new();
    let mut ids: Vec<String> = Vec::new();
    for (_, views) in &train {
        for v in views {
            if !index.contains_key(v) {
                index.insert(v.clone(), ids.len());
                ids.push(v.clone());
            }
        }
    }
    let n = ids.len();
    let mut popularity = vec![0f32; n];
    let mut users = Vec::new();
    let mut items = Vec::new();
    let mut cooc: HashMap<(usize, usize), f32> = HashMap::new();
    for (u, (_, views)) in train.iter().enumerate() {
        let mut distinct: Vec<usize> = views.iter().map(|v| index[v]).collect();
        distinct.sort_unstable();
        distinct.dedup();
        for &i in &distinct {
            users.push(u as u32);
            items.push(i as u32);
            popularity[i] += 1.0;
            for &j in &distinct {
                if i != j {
                    *cooc.entry((i, j)).or_default() += 1.0;
                }
            }
        }
    }
    let mut neighbours: Vec<Vec<(f32, usize)>> = vec![Vec::new(); n];
    for (&(i, j), &c) in &cooc {
        neighbours[i].push((c / (popularity[i] * popularity[j]).sqrt(), j));
    }
    for list in &mut neighbours {
        list.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        list.truncate(K);
    }
    let mut by_popularity: Vec<usize> = (0..n).collect();
    by_popularity.sort_by(|&a, &b| popularity[b].total_cmp(&popularity[a]).then(a.cmp(&b)));

    let interactions = Interactions {
        n_users: train.len(),
        n_items: n,
        values: vec![1.0; users.len()],
        users,
        items,
        weights: None,
    };
    let params = Params {
        no_components: components,
        loss: Loss::Warp,
        schedule: Schedule::Adagrad {
            learning_rate: 0.05,
        },
        threads: 2,
        seed,
        ..Params::default()
    };
    let started = Instant::now();
    let model = match params.fit(
        &interactions,
        reco_model::Csr::identity(train.len()),
        reco_model::Csr::identity(n),
        epochs,
    ) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let fit_s = started.elapsed().as_secs_f64();
    let bundle = sessions_bundle(&ids, &model, &popularity, None);
    let serving = match ServingModel::new("bench", bundle, Source::Artifacts) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };

    let mut results = serde_json::Map::new();
    let mut skipped = 0;
    for setting in ["all", "new"] {
        let (mut ours, mut pop, mut knn) = (Hits::new(), Hits::new(), Hits::new());
        for (_, views) in &test {
            for p in 1..views.len() {
                let Some(&target) = index.get(&views[p]) else {
                    if setting == "all" {
                        skipped += 1;
                    }
                    continue;
                };
                let prefix: Vec<usize> = views[..p]
                    .iter()
                    .filter_map(|v| index.get(v).copied())
                    .collect();
                let mut exclude = Bitset::new(n);
                if setting == "new" {
                    if prefix.contains(&target) {
                        continue;
                    }
                    for &i in &prefix {
                        exclude.insert(i);
                    }
                }
                let keep = |i: &usize| !exclude.contains(*i);
                let popular: Vec<usize> =
                    by_popularity.iter().copied().filter(keep).take(K).collect();
                let list: Vec<usize> = if prefix.is_empty() {
                    popular.clone()
                } else {
                    session_top_k(&serving, &prefix, K, &exclude)
                        .into_iter()
                        .map(|(i, _)| i)
                        .collect()
                };
                ours.add(&list, target);
                pop.add(&popular, target);
                let mut list: Vec<usize> = prefix
                    .last()
                    .map(|&l| {
                        let mut own = vec![l];
                        own.extend(neighbours[l].iter().map(|x| x.1));
                        own.into_iter().filter(keep).collect()
                    })
                    .unwrap_or_default();
                for &i in &popular {
                    if list.len() >= K {
                        break;
                    }
                    if !list.contains(&i) {
                        list.push(i);
                    }
                }
                list.truncate(K);
                knn.add(&list, target);
            }
        }
        results.insert(
            setting.to_string(),
            serde_json::json!({
                "predictions": ours.n,
                "session_model": ours.json(),
                "popularity": pop.json(),
                "item_knn": knn.json(),
            }),
        );
    }
    println!(
        "{}",
        serde_json::json!({
            "train_sessions": train.len(),
            "test_sessions": test.len(),
            "items": n,
            "skipped_unknown_targets": skipped,
            "components": components,
            "epochs": epochs,
            "seed": seed,
            "fit_s": fit_s,
            "results": results,
        })
    );
}
