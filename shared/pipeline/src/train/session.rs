//! The session model of a version: its scoring parameters chosen on the newest
//! archived sessions (`reco_model::session::tune`), then fitted on every archived
//! session the warehouse returns, as item indices of the dataset's catalogue. Views of
//! items outside the catalogue are dropped from what it learns from and count as
//! misses where they are the view to predict.

use std::collections::HashMap;

use reco_core::warehouse::TrainingSet;
use reco_model::session::tune::{tune, CUTOFF};
use reco_model::session::{SessionIndex, SessionParams};
use reco_serving::registry::SessionScores;
use reco_serving::SessionData;

use super::evaluation::popularity;
use super::TrainError;
use crate::dataset::Dataset;

/// The fitted session model and its scores on the held-out sessions (none when there
/// were too few to hold any out, or `choose` is off).
pub fn session_model(
    data: &Dataset,
    set: &TrainingSet,
    params: &SessionParams,
    choose: bool,
    threads: usize,
) -> Result<(SessionData, Option<SessionScores>), TrainError> {
    let index: HashMap<&str, u32> = data
        .item_ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i as u32))
        .collect();
    let n_items = data.item_ids.len();
    let sessions: Vec<Vec<Option<u32>>> = set
        .sessions
        .iter()
        .map(|s| {
            s.items
                .iter()
                .map(|i| index.get(i.as_str()).copied())
                .collect()
        })
        .collect();
    let mut scores = None;
    let mut chosen = params.clone();
    if choose {
        let tuned = tune(n_items, &sessions, params, threads)?;
        if let Some(best) = tuned.chosen() {
            let held = &sessions[sessions.len() - tuned.held_out_sessions..];
            scores = Some(SessionScores {
                held_out_sessions: tuned.held_out_sessions,
                predictions: best.scores.predictions,
                hr_at_20: best.scores.hr_at_20,
                mrr_at_20: best.scores.mrr_at_20,
                popular_hr_at_20: popular_hits(data, held),
                params: tuned.params.clone(),
                trials: tuned.trials.clone(),
            });
        }
        chosen = tuned.params;
    }
    let all: Vec<Vec<u32>> = sessions
        .iter()
        .map(|s| s.iter().flatten().copied().collect())
        .collect();
    let model = SessionIndex::fit(n_items, &all, &chosen)?;
    Ok((SessionData::from_index(&model, &chosen), scores))
}

/// Share of the next views of `sessions` among the most popular items.
fn popular_hits(data: &Dataset, sessions: &[Vec<Option<u32>>]) -> f64 {
    let count = popularity(&data.all.items, data.item_ids.len());
    let mut order: Vec<u32> = (0..count.len() as u32).collect();
    order.sort_by(|&a, &b| {
        count[b as usize]
            .total_cmp(&count[a as usize])
            .then(a.cmp(&b))
    });
    order.truncate(CUTOFF);
    let (mut n, mut hits) = (0u64, 0u64);
    for s in sessions {
        for next in s.iter().skip(1) {
            n += 1;
            if next.is_some_and(|i| order.contains(&i)) {
                hits += 1;
            }
        }
    }
    hits as f64 / n.max(1) as f64
}
