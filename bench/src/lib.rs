//! Loading MovieLens-format splits the way `lightfm_ua.py` does: the universe is the
//! sorted distinct user and item ids of both files, positives are ratings >= 4.

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
            .filter(|r| r.2 >= 4.0)
            .map(|r| (index(&user_ids, r.0), index(&item_ids, r.1)))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        pairs
    };
    let (nu, ni) = (user_ids.len(), item_ids.len());
    let train = Interactions::from_pairs(nu, ni, &positives(&base));
    let test_pairs = positives(&test);
    let triplets: Vec<(u32, u32, f32)> = test_pairs.iter().map(|p| (p.0, p.1, 1.0)).collect();
    let test = Csr::from_triplets(nu, ni, &triplets).map_err(|e| e.to_string())?;
    let train_csr = train.to_csr();
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
