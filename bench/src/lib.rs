//! Loading MovieLens-format splits the way `lightfm_ua.py` does: the universe is the
//! sorted distinct user and item ids of both files, positives are ratings >= 4.

pub mod sessions;

use std::collections::BTreeSet;
use std::path::Path;

use reco_model::{Csr, Interactions};

pub struct Split {
    pub n_users: usize,
    pub n_items: usize,
    pub user_ids: Vec<u64>,
    pub item_ids: Vec<u64>,
    pub train: Interactions,
    pub test: Csr,
    pub train_csr: Csr,
}

type Row = (u64, u64, f64);

/// Ratings at or above this are positives, as `lightfm_ua.py` counts them.
const POSITIVE_RATING: f64 = 4.0;

fn read_ratings(path: &Path) -> Result<Vec<Row>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            let mut f = line.split(['\t', ' ', ',']).filter(|s| !s.is_empty());
            let mut next = |what: &str| {
                f.next()
                    .ok_or_else(|| format!("{}:{}: missing {what}", path.display(), n + 1))
            };
            let u = next("user")?;
            let i = next("item")?;
            let r = next("rating")?;
            let parse_err = |what: &str| format!("{}:{}: bad {what}", path.display(), n + 1);
            Ok((
                u.parse().map_err(|_| parse_err("user"))?,
                i.parse().map_err(|_| parse_err("item"))?,
                r.parse().map_err(|_| parse_err("rating"))?,
            ))
        })
        .collect()
}

pub fn load_split(dir: &Path, base: &str, test: &str) -> Result<Split, String> {
    let base = read_ratings(&dir.join(base))?;
    let test = read_ratings(&dir.join(test))?;
    let user_ids: Vec<u64> = base
        .iter()
        .chain(&test)
        .map(|r| r.0)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let item_ids: Vec<u64> = base
        .iter()
        .chain(&test)
        .map(|r| r.1)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let index = |ids: &[u64], id: u64| ids.binary_search(&id).unwrap_or(0) as u32;
    let positives = |rows: &[Row]| -> Vec<(u32, u32)> {
        let mut pairs: Vec<(u32, u32)> = rows
            .iter()
            .filter(|r| r.2 >= POSITIVE_RATING)
            .map(|r| (index(&user_ids, r.0), index(&item_ids, r.1)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        pairs
    };
    let (nu, ni) = (user_ids.len(), item_ids.len());
    let train = training_rows(nu, ni, &base, |r| {
        (index(&user_ids, r.0), index(&item_ids, r.1))
    });
    let test_pairs = positives(&test);
    let triplets: Vec<(u32, u32, f32)> = test_pairs.iter().map(|p| (p.0, p.1, 1.0)).collect();
    let test = Csr::from_triplets(nu, ni, &triplets).map_err(|e| e.to_string())?;
    let train_csr = train.positives_csr();
    Ok(Split {
        n_users: nu,
        n_items: ni,
        user_ids,
        item_ids,
        train,
        test,
        train_csr,
    })
}

/// The training interactions, as the warehouse gives them: ratings >= 4 are
/// positives (value 1), lower ratings known negatives (value -1, weight 1). A
/// positive's weight is its rating over the positives' mean rating (as the pipeline
/// normalises the warehouse's weights), or 1 with `RECO_BENCH_WEIGHTS=none`.
fn training_rows(
    n_users: usize,
    n_items: usize,
    rows: &[Row],
    index: impl Fn(&Row) -> (u32, u32),
) -> Interactions {
    let rating_weights = std::env::var("RECO_BENCH_WEIGHTS").map_or(true, |v| v != "none");
    let positives: Vec<f64> = rows
        .iter()
        .map(|r| r.2)
        .filter(|&r| r >= POSITIVE_RATING)
        .collect();
    let mean = positives.iter().sum::<f64>() / positives.len().max(1) as f64;
    let mut entries: Vec<(u32, u32, f32, f32)> = rows
        .iter()
        .map(|r| {
            let (u, i) = index(r);
            if r.2 < POSITIVE_RATING {
                (u, i, -1.0, 1.0)
            } else if rating_weights {
                (u, i, 1.0, (r.2 / mean) as f32)
            } else {
                (u, i, 1.0, 1.0)
            }
        })
        .collect();
    entries.sort_unstable_by_key(|e| (e.0, e.1));
    entries.dedup_by_key(|e| (e.0, e.1));
    Interactions {
        n_users,
        n_items,
        users: entries.iter().map(|e| e.0).collect(),
        items: entries.iter().map(|e| e.1).collect(),
        values: entries.iter().map(|e| e.2).collect(),
        weights: Some(entries.iter().map(|e| e.3).collect()),
    }
}

/// Attribute features of MovieLens users and items, as (entity id, feature name):
/// items by genre (u.item's 19 flags); users by age band, gender and occupation
/// (u.user). Files are latin-1; only ASCII fields are used.
/// (entity id, feature name) pairs.
pub type Attributes = Vec<(u64, String)>;

pub fn movielens_features(dir: &Path) -> Result<(Attributes, Attributes), String> {
    let read = |name: &str| -> Result<String, String> {
        let bytes = std::fs::read(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
        Ok(bytes.iter().map(|&b| b as char).collect())
    };
    let mut items = Vec::new();
    for (n, line) in read("u.item")?.lines().enumerate() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 24 {
            return Err(format!("u.item:{}: expected 24 fields", n + 1));
        }
        let id: u64 = f[0]
            .parse()
            .map_err(|_| format!("u.item:{}: bad id", n + 1))?;
        for (g, flag) in reco_pipeline::import::MOVIELENS_GENRES
            .iter()
            .zip(&f[5..24])
        {
            if *flag == "1" {
                items.push((id, format!("genre:{g}")));
            }
        }
    }
    let mut users = Vec::new();
    for (n, line) in read("u.user")?.lines().enumerate() {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 4 {
            return Err(format!("u.user:{}: expected 5 fields", n + 1));
        }
        let id: u64 = f[0]
            .parse()
            .map_err(|_| format!("u.user:{}: bad id", n + 1))?;
        let age: u32 = f[1]
            .parse()
            .map_err(|_| format!("u.user:{}: bad age", n + 1))?;
        users.push((id, format!("age:{}", age_band(age))));
        users.push((id, format!("gender:{}", f[2])));
        users.push((id, format!("occupation:{}", f[3])));
    }
    Ok((users, items))
}

/// MovieLens' own age bands.
pub fn age_band(age: u32) -> &'static str {
    match age {
        0..=17 => "under-18",
        18..=24 => "18-24",
        25..=34 => "25-34",
        35..=44 => "35-44",
        45..=49 => "45-49",
        50..=55 => "50-55",
        _ => "56+",
    }
}

/// Identity features followed by the named attributes, rows L1-normalised (as
/// LightFM's `Dataset` builds them). Returns the matrix and the attribute names.
pub fn hybrid_features(
    ids: &[u64],
    attributes: &[(u64, String)],
) -> Result<(Csr, Vec<String>), String> {
    let names: Vec<String> = attributes
        .iter()
        .map(|a| a.1.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let triplets: Vec<(u32, u32, f32)> = attributes
        .iter()
        .filter_map(|(id, name)| {
            let row = ids.binary_search(id).ok()?;
            let col = names.binary_search(name).ok()?;
            Some((row as u32, col as u32, 1.0))
        })
        .collect();
    let m =
        Csr::identity_plus(ids.len(), names.len(), &triplets, true).map_err(|e| e.to_string())?;
    Ok((m, names))
}

/// The arguments both split benchmarks take: `DIR LOSS COMPONENTS EPOCHS THREADS`.
pub struct SplitArgs {
    pub dir: std::path::PathBuf,
    pub loss_name: String,
    pub loss: reco_model::Loss,
    pub components: usize,
    pub epochs: usize,
    pub threads: usize,
}

impl SplitArgs {
    fn parse(args: &[String]) -> Result<Self, String> {
        let number = |i: usize, name: &str| -> Result<usize, String> {
            args[i]
                .parse()
                .map_err(|_| format!("{name}: `{}` is not a whole number", args[i]))
        };
        Ok(SplitArgs {
            dir: std::path::PathBuf::from(&args[0]),
            loss_name: args[1].clone(),
            loss: args[1]
                .parse()
                .map_err(|e: reco_model::ModelError| e.to_string())?,
            components: number(2, "COMPONENTS")?,
            epochs: number(3, "EPOCHS")?,
            threads: number(4, "THREADS")?,
        })
    }

    /// Params from the arguments, with the model's recommended options for `train`
    /// (`Params::recommended`); `RECO_BENCH_SEED` picks another seed (default 42), to
    /// see the spread of a configuration; `RECO_BENCH_PARAMS` (a JSON object) sets
    /// any field, e.g. `{"known_negative_weight": 0}` to measure one option alone.
    pub fn params(
        &self,
        attribute_features: bool,
        train: &reco_model::Interactions,
    ) -> Result<reco_model::Params, String> {
        let params = reco_model::Params {
            threads: self.threads,
            seed: std::env::var("RECO_BENCH_SEED")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(42),
            ..reco_model::Params::recommended(
                self.loss,
                self.components,
                attribute_features,
                train.positives_per_item(),
            )
        };
        let Ok(overrides) = std::env::var("RECO_BENCH_PARAMS") else {
            return Ok(params);
        };
        let overrides: serde_json::Value =
            serde_json::from_str(&overrides).map_err(|e| format!("RECO_BENCH_PARAMS: {e}"))?;
        let mut value = serde_json::to_value(&params).map_err(|e| e.to_string())?;
        if let (Some(fields), Some(set)) = (value.as_object_mut(), overrides.as_object()) {
            for (k, v) in set {
                if !fields.contains_key(k) {
                    return Err(format!("RECO_BENCH_PARAMS: `{k}` is not a parameter"));
                }
                fields.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(value).map_err(|e| format!("RECO_BENCH_PARAMS: {e}"))
    }
}

/// Runs a split benchmark binary: parses the arguments, prints the JSON line `run`
/// returns, or the error; exit status 2 on bad usage.
pub fn split_main(
    name: &str,
    run: impl FnOnce(&SplitArgs) -> Result<String, String>,
) -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 5 {
        eprintln!("usage: {name} DIR LOSS COMPONENTS EPOCHS THREADS");
        return std::process::ExitCode::from(2);
    }
    match SplitArgs::parse(&args).and_then(|a| run(&a)) {
        Ok(line) => {
            println!("{line}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Uniform numbers in [-0.5, 0.5) from a xorshift64 generator seeded with `seed`
/// (non-zero): the random catalogues of `bench-topk` and `bench-serving`.
pub fn uniform(seed: u64) -> impl FnMut() -> f32 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

/// The seed both random catalogues use.
pub const CATALOGUE_SEED: u64 = 0x9E37_79B9_7F4A_7C15;
