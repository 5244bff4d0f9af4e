//! Choosing the scoring parameters for a site's own sessions: the newest archived
//! sessions are held out, the index is fitted on the older ones, and each candidate
//! of a small grid (how fast a view's weight fades, how much transitions weigh)
//! predicts every next view of the held-out sessions. The candidate with the highest
//! HR@20 + MRR@20 wins. Sites differ: on long browsing sessions with many repeats
//! the whole session matters and transitions mislead; on short click streams the
//! last view and its followers decide.

use super::{SessionIndex, SessionParams};
use crate::error::ModelError;

/// The list length hits are counted in.
pub const CUTOFF: usize = 20;

/// Held-out sessions: this share of the newest ...
pub const HOLDOUT_SHARE: f64 = 0.1;
/// ... at most this many.
pub const MAX_HOLDOUT: usize = 10_000;
/// Fewer held-out sessions than this and the given parameters are kept.
pub const MIN_HOLDOUT: usize = 50;

/// View weight decays tried (0: none).
pub const POSITION_DECAYS: [f32; 5] = [0.5, 1.0, 2.0, 4.0, 0.0];
/// Transition weights tried.
pub const TRANSITION_WEIGHTS: [f32; 6] = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0];
/// Repeat weights tried, with the best of the grid above ...
pub const REPEAT_WEIGHTS: [f32; 3] = [0.25, 0.5, 1.0];
/// ... then the weight of viewed items within neighbours ...
pub const SHARED_WEIGHTS: [f32; 2] = [0.0, 0.5];
/// ... then the weight of a shared item's rarity.
pub const IDF_WEIGHTS: [f32; 2] = [0.25, 1.0];

/// Next-view prediction over every prefix of some sessions.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct NextViewScores {
    pub predictions: u64,
    pub hr_at_20: f64,
    pub mrr_at_20: f64,
}

impl NextViewScores {
    fn objective(&self) -> f64 {
        self.hr_at_20 + self.mrr_at_20
    }
}

/// One candidate and how it did.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Trial {
    pub position_decay: f32,
    pub transition_weight: f32,
    pub repeat_weight: f32,
    pub shared_weight: f32,
    pub idf_weight: f32,
    pub scores: NextViewScores,
}

/// The parameters chosen and every trial.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tuned {
    pub params: SessionParams,
    /// Empty when there were too few sessions to hold out.
    pub trials: Vec<Trial>,
    pub held_out_sessions: usize,
}

impl Tuned {
    /// The trial of the parameters chosen (none when nothing was tried).
    pub fn chosen(&self) -> Option<&Trial> {
        let p = &self.params;
        self.trials.iter().find(|t| {
            t.position_decay == p.position_decay
                && t.transition_weight == p.transition_weight
                && t.repeat_weight == p.repeat_weight
                && t.shared_weight == p.shared_weight
                && t.idf_weight == p.idf_weight
        })
    }
}

/// Scores `index` on every prefix of `sessions` (`None`: a view of an item outside
/// the catalogue, a miss when it is the next view), on `threads` threads.
pub fn next_view_scores(
    index: &SessionIndex,
    params: &SessionParams,
    sessions: &[Vec<Option<u32>>],
    threads: usize,
) -> NextViewScores {
    let chunk = sessions.len().div_ceil(threads.max(1)).max(1);
    let parts: Vec<(u64, u64, f64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = sessions
            .chunks(chunk)
            .map(|part| scope.spawn(move || count_hits(index, params, part)))
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let predictions: u64 = parts.iter().map(|p| p.0).sum();
    let n = predictions.max(1) as f64;
    NextViewScores {
        predictions,
        hr_at_20: parts.iter().map(|p| p.1).sum::<u64>() as f64 / n,
        mrr_at_20: parts.iter().map(|p| p.2).sum::<f64>() / n,
    }
}

/// (predictions, hits, sum of reciprocal ranks).
fn count_hits(
    index: &SessionIndex,
    params: &SessionParams,
    sessions: &[Vec<Option<u32>>],
) -> (u64, u64, f64) {
    let (mut predictions, mut hits, mut rr) = (0u64, 0u64, 0f64);
    let mut prefix = Vec::new();
    for s in sessions {
        prefix.clear();
        for t in 1..s.len() {
            if let Some(i) = s[t - 1] {
                prefix.push(i);
            }
            predictions += 1;
            let Some(target) = s[t] else { continue };
            let list = index.score(params, &prefix).top_k(CUTOFF, |_| false);
            if let Some(p) = list.iter().position(|e| e.0 == target) {
                hits += 1;
                rr += 1.0 / (p + 1) as f64;
            }
        }
    }
    (predictions, hits, rr)
}

/// Chooses `position_decay` and `transition_weight` for `sessions` (oldest first) on
/// their grid, then `repeat_weight` (0 or one of [`REPEAT_WEIGHTS`]) with the best of
/// them, then `shared_weight` (1 or one of [`SHARED_WEIGHTS`]), then `idf_weight` (0 or
/// one of [`IDF_WEIGHTS`]); the rest of `base` unchanged.
pub fn tune(
    n_items: usize,
    sessions: &[Vec<Option<u32>>],
    base: &SessionParams,
    threads: usize,
) -> Result<Tuned, ModelError> {
    base.validate()?;
    let held = ((sessions.len() as f64 * HOLDOUT_SHARE) as usize).min(MAX_HOLDOUT);
    if held < MIN_HOLDOUT {
        return Ok(Tuned {
            params: base.clone(),
            trials: Vec::new(),
            held_out_sessions: 0,
        });
    }
    let (older, newer) = sessions.split_at(sessions.len() - held);
    let older: Vec<Vec<u32>> = older
        .iter()
        .map(|s| s.iter().flatten().copied().collect())
        .collect();
    let index = SessionIndex::fit(n_items, &older, base)?;
    let mut trials: Vec<(Trial, SessionParams)> = Vec::new();
    let mut run = |params: SessionParams| {
        let scores = next_view_scores(&index, &params, newer, threads);
        let trial = Trial {
            position_decay: params.position_decay,
            transition_weight: params.transition_weight,
            repeat_weight: params.repeat_weight,
            shared_weight: params.shared_weight,
            idf_weight: params.idf_weight,
            scores,
        };
        trials.push((trial, params));
        best_of(&trials)
    };
    let mut grid_best = base.clone();
    for &position_decay in &POSITION_DECAYS {
        for &transition_weight in &TRANSITION_WEIGHTS {
            grid_best = run(SessionParams {
                position_decay,
                transition_weight,
                repeat_weight: 0.0,
                ..base.clone()
            });
        }
    }
    let mut best = grid_best.clone();
    for &repeat_weight in &REPEAT_WEIGHTS {
        best = run(SessionParams {
            repeat_weight,
            ..grid_best.clone()
        });
    }
    let with_repeats = best.clone();
    for &shared_weight in &SHARED_WEIGHTS {
        best = run(SessionParams {
            shared_weight,
            // Without the neighbours' copies, repeats need their own score.
            repeat_weight: with_repeats.repeat_weight.max(REPEAT_WEIGHTS[0]),
            ..with_repeats.clone()
        });
    }
    let shared = best.clone();
    for &idf_weight in &IDF_WEIGHTS {
        best = run(SessionParams {
            idf_weight,
            ..shared.clone()
        });
    }
    Ok(Tuned {
        params: best,
        trials: trials.into_iter().map(|t| t.0).collect(),
        held_out_sessions: held,
    })
}

/// The parameters of the trial with the highest objective (the first of equals).
fn best_of(trials: &[(Trial, SessionParams)]) -> SessionParams {
    let mut best = &trials[0];
    for t in &trials[1..] {
        if t.0.scores.objective() > best.0.scores.objective() {
            best = t;
        }
    }
    best.1.clone()
}
