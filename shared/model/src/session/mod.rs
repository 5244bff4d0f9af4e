//! Next-item scoring for a session from archived sessions: a session-neighbourhood
//! model (the ideas of STAN and VSTAN: Garg et al., SIGIR 2019; Ludewig et al., 2021)
//! blended with item-to-item transition statistics (sequential rules).
//!
//! Fitting is counting: the index keeps the most recent archived sessions in
//! chronological order, and for each item the sessions that hold it (newest first) and
//! the items that followed it within a few steps. Scoring a session of views
//! `v_1..v_L`:
//!
//! 1. **Neighbours.** Each distinct viewed item weighs `exp(-age / position_decay)`
//!    (age 0 for the latest view), times `1 + idf_weight * ln(S / S_i)` for an item
//!    held by `S_i` of the `S` sessions. The candidates are the `sample` most recent
//!    sessions holding each viewed item; a candidate's similarity is the sum of the
//!    weights of the items it shares with the session, divided by
//!    `sqrt(distinct viewed items x candidate length)`, times
//!    `exp(-rank / recency_decay)` where rank counts archived sessions newer than it.
//!    The `neighbours` most similar are kept.
//! 2. **Neighbourhood score.** Each item of a neighbour scores the neighbour's
//!    similarity times `exp(-d / match_decay)`, `d` the distance in that session from
//!    the neighbour's occurrence of the most recent shared item (items after it count
//!    fully, items before it `before_weight` of that; items this session viewed
//!    `shared_weight` of that).
//! 3. **Transitions.** Item `b` seen `g <= transition_steps` views after `a` in an
//!    archived session adds `1/g` to `a -> b`; the last `transition_views` views score
//!    their successors, each view weighted as in 1, each source's row normalised to
//!    sum 1.
//! 4. **Repeats.** Each viewed item scores the sum of its views' weights as in 1.
//! 5. **Blend.** The three scores are each divided by their maximum over the
//!    candidates and summed, transitions weighted `transition_weight`, repeats
//!    `repeat_weight`.
//!
//! Each part of an item's score comes from one viewed item (the shared item of a
//! neighbour, the source of a transition, the item itself), so the viewed item that contributed most is
//! a true explanation ([`Scores::because`]).

mod score;
pub mod tune;

pub use score::Scores;

use crate::error::ModelError;

/// How sessions are scored. Chosen on public session benchmarks (docs/benchmarks.md,
/// "Session recommendations").
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SessionParams {
    /// Most archived sessions kept, the newest.
    pub max_sessions: usize,
    /// Candidate sessions read per viewed item, the newest holding it.
    pub sample: usize,
    /// Nearest sessions whose items are scored.
    pub neighbours: usize,
    /// Decay of a view's weight with its age in views (0: none).
    pub position_decay: f32,
    /// Decay of a neighbour's weight with the archived sessions newer than it (0: none).
    pub recency_decay: f32,
    /// Decay of a neighbour item's weight with its distance from the shared item
    /// (0: none).
    pub match_decay: f32,
    /// Weight of neighbour items before the shared item, relative to those after it.
    pub before_weight: f32,
    /// Weight of how rare a shared item is in a neighbour's similarity: each shared
    /// item counts `1 + idf_weight * ln(sessions / sessions holding it)` times its view
    /// weight (0: rarity does not count).
    pub idf_weight: f32,
    /// Weight, in a neighbour, of the items this session viewed (repeats are then
    /// `repeat_weight`'s to score), relative to the others.
    pub shared_weight: f32,
    /// Weight of the transition score against the neighbourhood score.
    pub transition_weight: f32,
    /// Followers within this many views count as transitions.
    pub transition_steps: usize,
    /// Most followers kept per item, the strongest.
    pub transition_keep: usize,
    /// The latest views whose transitions are scored.
    pub transition_views: usize,
    /// Weight of the session's own items (each view `exp(-age / position_decay)`)
    /// against the neighbourhood score.
    pub repeat_weight: f32,
}

impl Default for SessionParams {
    fn default() -> Self {
        SessionParams {
            max_sessions: 1_000_000,
            sample: 500,
            neighbours: 100,
            position_decay: 2.0,
            recency_decay: 0.0,
            match_decay: 2.0,
            before_weight: 0.5,
            shared_weight: 1.0,
            idf_weight: 0.0,
            transition_weight: 0.5,
            transition_steps: 3,
            transition_keep: 100,
            transition_views: 3,
            repeat_weight: 0.0,
        }
    }
}

impl SessionParams {
    pub fn validate(&self) -> Result<(), ModelError> {
        for (name, v) in [
            ("position_decay", self.position_decay),
            ("recency_decay", self.recency_decay),
            ("match_decay", self.match_decay),
            ("transition_weight", self.transition_weight),
            ("repeat_weight", self.repeat_weight),
            ("idf_weight", self.idf_weight),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(ModelError::Input(format!(
                    "session {name} must be finite and >= 0"
                )));
            }
        }
        for (name, v) in [
            ("before_weight", self.before_weight),
            ("shared_weight", self.shared_weight),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(ModelError::Input(format!(
                    "session {name} must be within 0..=1"
                )));
            }
        }
        for (name, v) in [
            ("max_sessions", self.max_sessions),
            ("sample", self.sample),
            ("neighbours", self.neighbours),
        ] {
            if v == 0 {
                return Err(ModelError::Input(format!("session {name} must be >= 1")));
            }
        }
        Ok(())
    }
}

/// `exp(-x / decay)`, or 1 when `decay` is 0 (no decay).
pub(crate) fn decayed(x: f32, decay: f32) -> f32 {
    if decay > 0.0 {
        (-x / decay).exp()
    } else {
        1.0
    }
}

/// Rows of `u32`s (or of pairs) as offsets into one flat array.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Rows<T> {
    pub offsets: Vec<u32>,
    pub values: Vec<T>,
}

impl<T: Copy> Rows<T> {
    fn from_lists(lists: impl IntoIterator<Item = Vec<T>>) -> Self {
        let mut rows = Rows {
            offsets: vec![0],
            values: Vec::new(),
        };
        for list in lists {
            rows.values.extend(list);
            rows.offsets.push(rows.values.len() as u32);
        }
        rows
    }

    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Row `r`; empty past the end.
    pub fn row(&self, r: usize) -> &[T] {
        match (self.offsets.get(r), self.offsets.get(r + 1)) {
            (Some(&a), Some(&b)) => &self.values[a as usize..b as usize],
            _ => &[],
        }
    }

    fn check(&self, what: &str) -> Result<(), ModelError> {
        let bad = |m: &str| ModelError::Input(format!("{what}: {m}"));
        if self.offsets.first().copied().unwrap_or(0) != 0 {
            return Err(bad("offsets must start at 0"));
        }
        if self.offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(bad("offsets must not decrease"));
        }
        if self.offsets.last().map_or(0, |&o| o as usize) != self.values.len() {
            return Err(bad("offsets must end at the number of values"));
        }
        Ok(())
    }
}

/// What serving needs: the archived sessions (item indices, oldest session first) and
/// each item's strongest followers. The item postings are derived.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionIndex {
    n_items: usize,
    /// Each kept session's views, oldest session first.
    pub sessions: Rows<u32>,
    /// Each item's followers `(item, weight)`, strongest first.
    pub transitions: Rows<(u32, f32)>,
    /// Each item's sessions, newest first, each session once.
    postings: Rows<u32>,
}

impl SessionIndex {
    /// Counts `sessions` (item indices below `n_items`, oldest session first); sessions
    /// of fewer than two views say nothing of what follows and are left out.
    pub fn fit(
        n_items: usize,
        sessions: &[Vec<u32>],
        params: &SessionParams,
    ) -> Result<Self, ModelError> {
        params.validate()?;
        if let Some(i) = sessions.iter().flatten().find(|&&i| i as usize >= n_items) {
            return Err(ModelError::Input(format!(
                "session item {i} >= {n_items} items"
            )));
        }
        let kept: Vec<&Vec<u32>> = sessions.iter().filter(|s| s.len() >= 2).collect();
        let kept = &kept[kept.len().saturating_sub(params.max_sessions)..];
        let rows = Rows::from_lists(kept.iter().map(|s| s.to_vec()));
        let transitions = count_transitions(n_items, &rows, params);
        Self::new(n_items, rows, transitions)
    }

    /// An index from its stored parts, checked.
    pub fn new(
        n_items: usize,
        sessions: Rows<u32>,
        transitions: Rows<(u32, f32)>,
    ) -> Result<Self, ModelError> {
        Self::check_parts(n_items, &sessions, &transitions)?;
        let postings = postings(n_items, &sessions);
        Ok(SessionIndex {
            n_items,
            sessions,
            transitions,
            postings,
        })
    }

    /// Whether stored parts make an index over `n_items` items (what [`Self::new`]
    /// checks, without building it).
    pub fn check_parts(
        n_items: usize,
        sessions: &Rows<u32>,
        transitions: &Rows<(u32, f32)>,
    ) -> Result<(), ModelError> {
        sessions.check("session rows")?;
        transitions.check("transition rows")?;
        if sessions.values.iter().any(|&i| i as usize >= n_items) {
            return Err(ModelError::Input("session item out of range".into()));
        }
        if transitions.len() != n_items && !transitions.is_empty() {
            return Err(ModelError::Input(format!(
                "transition rows: {} rows for {n_items} items",
                transitions.len()
            )));
        }
        if transitions
            .values
            .iter()
            .any(|&(i, w)| i as usize >= n_items || !w.is_finite())
        {
            return Err(ModelError::Input(
                "transition item out of range or weight not finite".into(),
            ));
        }
        Ok(())
    }

    /// An index with no sessions: every score is empty.
    pub fn empty(n_items: usize) -> Self {
        SessionIndex {
            n_items,
            sessions: Rows {
                offsets: vec![0],
                values: Vec::new(),
            },
            transitions: Rows::default(),
            postings: Rows::default(),
        }
    }

    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Archived sessions kept.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Bytes held in memory.
    pub fn bytes(&self) -> usize {
        4 * (self.sessions.offsets.len()
            + self.sessions.values.len()
            + self.postings.offsets.len()
            + self.postings.values.len()
            + self.transitions.offsets.len())
            + 8 * self.transitions.values.len()
    }

    fn followers(&self, item: u32) -> &[(u32, f32)] {
        self.transitions.row(item as usize)
    }
}

/// Each item's sessions, newest first.
fn postings(n_items: usize, sessions: &Rows<u32>) -> Rows<u32> {
    let mut counts = vec![0u32; n_items + 1];
    let mut distinct: Vec<u32> = Vec::new();
    let mut each = |f: &mut dyn FnMut(u32, u32)| {
        for s in (0..sessions.len()).rev() {
            distinct.clear();
            distinct.extend_from_slice(sessions.row(s));
            distinct.sort_unstable();
            distinct.dedup();
            for &i in &distinct {
                f(i, s as u32);
            }
        }
    };
    each(&mut |i, _| counts[i as usize + 1] += 1);
    for i in 0..n_items {
        counts[i + 1] += counts[i];
    }
    let mut values = vec![0u32; counts[n_items] as usize];
    let mut next = counts.clone();
    each(&mut |i, s| {
        values[next[i as usize] as usize] = s;
        next[i as usize] += 1;
    });
    Rows {
        offsets: counts,
        values,
    }
}

/// `a -> b` weighs `1/g` for each time `b` came `g <= steps` views after `a`; each
/// item keeps its `keep` strongest followers.
fn count_transitions(
    n_items: usize,
    sessions: &Rows<u32>,
    params: &SessionParams,
) -> Rows<(u32, f32)> {
    let mut pairs: Vec<(u32, u32, f32)> = Vec::new();
    for s in 0..sessions.len() {
        let row = sessions.row(s);
        for (t, &a) in row.iter().enumerate() {
            for g in 1..=params.transition_steps {
                match row.get(t + g) {
                    Some(&b) => pairs.push((a, b, 1.0 / g as f32)),
                    None => break,
                }
            }
        }
    }
    pairs.sort_unstable_by_key(|p| (p.0, p.1));
    let mut lists: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n_items];
    let mut k = 0;
    while k < pairs.len() {
        let (a, b, mut w) = pairs[k];
        k += 1;
        while k < pairs.len() && pairs[k].0 == a && pairs[k].1 == b {
            w += pairs[k].2;
            k += 1;
        }
        lists[a as usize].push((b, w));
    }
    for list in &mut lists {
        list.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        list.truncate(params.transition_keep);
    }
    Rows::from_lists(lists)
}

#[cfg(test)]
mod tests;
