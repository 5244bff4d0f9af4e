//! Scoring one session against the index, and explaining a score by the viewed item
//! that contributed most.

use super::{decayed, SessionIndex, SessionParams};

/// A neighbour session and what its items' scores are made of.
struct Neighbour {
    session: u32,
    /// Similarity per unit of shared-item weight: recency / norm.
    factor: f32,
    /// Its similarity to the session.
    similarity: f32,
    /// Position in it of the most recent shared item.
    anchor: usize,
}

/// Every item a session's views point to, with its blended score.
pub struct Scores<'a> {
    index: &'a SessionIndex,
    params: &'a SessionParams,
    /// Distinct viewed items with their weights, latest first.
    viewed: Vec<(u32, f32)>,
    neighbours: Vec<Neighbour>,
    /// Per viewed item (same order as `viewed`, first `transition_views`): the sum of
    /// its followers' weights.
    follower_totals: Vec<f32>,
    knn_scale: f32,
    transition_scale: f32,
    /// The repeat part of each viewed item's score, by item.
    repeats: Vec<(u32, f32)>,
    items: Vec<(u32, f32)>,
}

impl SessionIndex {
    /// Scores the items that follow views `viewed` (item indices, oldest first; indices
    /// out of range are ignored).
    pub fn score<'a>(&'a self, params: &'a SessionParams, viewed: &[u32]) -> Scores<'a> {
        let mut distinct: Vec<(u32, f32)> = Vec::new();
        for (age, &i) in viewed.iter().rev().enumerate() {
            if (i as usize) < self.n_items && !distinct.iter().any(|d| d.0 == i) {
                distinct.push((i, decayed(age as f32, params.position_decay)));
            }
        }
        let neighbours = self.neighbours(params, &distinct);

        let mut knn: Vec<(u32, f32)> = Vec::new();
        let mut local: Vec<(u32, f32)> = Vec::new();
        for n in &neighbours {
            local.clear();
            for (q, &j) in self.sessions.row(n.session as usize).iter().enumerate() {
                let w = self.position_weight(params, n.anchor, q) * shared(params, &distinct, j);
                local.push((j, n.similarity * w));
            }
            local.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
            local.dedup_by_key(|e| e.0);
            knn.extend_from_slice(&local);
        }
        let knn = merge(knn);

        let mut transitions: Vec<(u32, f32)> = Vec::new();
        let mut follower_totals = Vec::new();
        if params.transition_weight > 0.0 {
            for &(i, w) in distinct.iter().take(params.transition_views) {
                let row = self.followers(i);
                let total: f32 = row.iter().map(|f| f.1).sum();
                follower_totals.push(total);
                if total > 0.0 {
                    transitions.extend(row.iter().map(|&(b, t)| (b, w * t / total)));
                }
            }
        }
        let transitions = merge(transitions);

        let scale = |list: &[(u32, f32)]| {
            let max = list.iter().map(|e| e.1).fold(0.0f32, f32::max);
            if max > 0.0 {
                1.0 / max
            } else {
                0.0
            }
        };
        let mut repeats: Vec<(u32, f32)> = Vec::new();
        if params.repeat_weight > 0.0 {
            for (age, &i) in viewed.iter().rev().enumerate() {
                if (i as usize) < self.n_items {
                    repeats.push((i, decayed(age as f32, params.position_decay)));
                }
            }
        }
        let repeats = merge(repeats);
        let knn_scale = scale(&knn);
        let transition_scale = params.transition_weight * scale(&transitions);
        let repeat_scale = params.repeat_weight * scale(&repeats);
        let mut items: Vec<(u32, f32)> = knn
            .iter()
            .map(|&(i, s)| (i, s * knn_scale))
            .chain(transitions.iter().map(|&(i, s)| (i, s * transition_scale)))
            .chain(repeats.iter().map(|&(i, s)| (i, s * repeat_scale)))
            .collect();
        items = merge(items);
        Scores {
            index: self,
            params,
            viewed: distinct,
            neighbours,
            follower_totals,
            knn_scale,
            transition_scale,
            repeats: repeats
                .into_iter()
                .map(|(i, s)| (i, s * repeat_scale))
                .collect(),
            items,
        }
    }

    /// The `neighbours` candidate sessions most similar to the weighted distinct views.
    fn neighbours(&self, params: &SessionParams, distinct: &[(u32, f32)]) -> Vec<Neighbour> {
        let mut shared: Vec<(u32, f32)> = Vec::new();
        for &(i, w) in distinct {
            let row = self.postings.row(i as usize);
            let w = w * self.idf(params, i);
            shared.extend(row.iter().take(params.sample).map(|&s| (s, w)));
        }
        let shared = merge(shared);
        let newest = self.sessions.len().saturating_sub(1) as f32;
        let n_viewed = distinct.len().max(1) as f32;
        let mut found: Vec<Neighbour> = shared
            .into_iter()
            .map(|(s, w)| {
                let len = self.sessions.row(s as usize).len().max(1) as f32;
                let recency = decayed(newest - s as f32, params.recency_decay);
                let factor = recency / (n_viewed * len).sqrt();
                Neighbour {
                    session: s,
                    factor,
                    similarity: w * factor,
                    anchor: 0,
                }
            })
            .collect();
        // Most similar first; ties to the newer session.
        let order = |a: &Neighbour, b: &Neighbour| {
            b.similarity
                .total_cmp(&a.similarity)
                .then(b.session.cmp(&a.session))
        };
        if found.len() > params.neighbours {
            found.select_nth_unstable_by(params.neighbours, order);
            found.truncate(params.neighbours);
        }
        found.sort_unstable_by(order);
        for n in &mut found {
            let row = self.sessions.row(n.session as usize);
            n.anchor = distinct
                .iter()
                .find_map(|&(i, _)| row.iter().rposition(|&j| j == i))
                .unwrap_or(0);
        }
        found
    }

    /// How much sharing `item` says: `1 + idf_weight * ln(sessions / sessions holding it)`.
    fn idf(&self, params: &SessionParams, item: u32) -> f32 {
        if params.idf_weight > 0.0 {
            let holding = self.postings.row(item as usize).len().max(1) as f32;
            let all = self.sessions.len().max(1) as f32;
            1.0 + params.idf_weight * (all / holding).ln().max(0.0)
        } else {
            1.0
        }
    }

    /// Weight of the item at position `q` of a neighbour whose shared item is at `anchor`.
    fn position_weight(&self, params: &SessionParams, anchor: usize, q: usize) -> f32 {
        let d = q.abs_diff(anchor) as f32;
        let w = decayed(d, params.match_decay);
        if q < anchor {
            w * params.before_weight
        } else {
            w
        }
    }
}

impl Scores<'_> {
    /// Every scored item, unsorted.
    pub fn items(&self) -> &[(u32, f32)] {
        &self.items
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The best `k` items not skipped, best first (ties: lower index).
    pub fn top_k(&self, k: usize, skip: impl Fn(u32) -> bool) -> Vec<(u32, f32)> {
        let mut list: Vec<(u32, f32)> = self
            .items
            .iter()
            .copied()
            .filter(|&(i, _)| !skip(i))
            .collect();
        let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if list.len() > k && k > 0 {
            list.select_nth_unstable_by(k - 1, order);
        }
        list.truncate(k);
        list.sort_unstable_by(order);
        list
    }

    /// The viewed item that contributed most to `item`'s score: through the neighbours
    /// that share it and hold `item`, and through its transitions to `item`.
    pub fn because(&self, item: u32) -> Option<u32> {
        let index = self.index;
        let mut best: Option<(f32, u32)> = None;
        for (v, &(source, w)) in self.viewed.iter().enumerate() {
            let mut share = 0.0f32;
            for n in &self.neighbours {
                let row = index.sessions.row(n.session as usize);
                if !row.contains(&source) {
                    continue;
                }
                let weight = row
                    .iter()
                    .enumerate()
                    .filter(|&(_, &j)| j == item)
                    .map(|(q, _)| index.position_weight(self.params, n.anchor, q))
                    .fold(0.0f32, f32::max)
                    * shared(self.params, &self.viewed, item);
                share += w * index.idf(self.params, source) * n.factor * weight * self.knn_scale;
            }
            if let Some(&total) = self.follower_totals.get(v) {
                if total > 0.0 {
                    let t = index
                        .followers(source)
                        .iter()
                        .find(|f| f.0 == item)
                        .map_or(0.0, |f| f.1);
                    share += w * t / total * self.transition_scale;
                }
            }
            if source == item {
                if let Ok(r) = self.repeats.binary_search_by_key(&item, |e| e.0) {
                    share += self.repeats[r].1;
                }
            }
            if share > 0.0 && best.is_none_or(|(s, _)| share > s) {
                best = Some((share, source));
            }
        }
        best.map(|b| b.1)
    }
}

impl Scores<'_> {
    /// [`Scores::because`] for each of `items` (distinct), in one pass over the
    /// neighbours and transitions instead of one per item.
    pub fn because_each(&self, items: &[u32]) -> Vec<Option<u32>> {
        let index = self.index;
        let params = self.params;
        let nv = self.viewed.len();
        let mut share = vec![0f32; items.len() * nv];
        let mut slots: Vec<(u32, usize)> = items.iter().enumerate().map(|(s, &i)| (i, s)).collect();
        slots.sort_unstable();
        let slot_of = |j: u32| {
            slots
                .binary_search_by_key(&j, |e| e.0)
                .ok()
                .map(|p| slots[p].1)
        };
        let mut shared_views: Vec<usize> = Vec::new();
        let mut weights: Vec<(usize, f32)> = Vec::new();
        for n in &self.neighbours {
            let row = index.sessions.row(n.session as usize);
            shared_views.clear();
            shared_views.extend((0..nv).filter(|&v| row.contains(&self.viewed[v].0)));
            if shared_views.is_empty() {
                continue;
            }
            weights.clear();
            for (q, &j) in row.iter().enumerate() {
                let Some(slot) = slot_of(j) else { continue };
                let w =
                    index.position_weight(params, n.anchor, q) * shared(params, &self.viewed, j);
                match weights.iter_mut().find(|e| e.0 == slot) {
                    Some(e) => e.1 = e.1.max(w),
                    None => weights.push((slot, w)),
                }
            }
            for &(slot, w) in &weights {
                for &v in &shared_views {
                    let (source, vw) = self.viewed[v];
                    share[slot * nv + v] +=
                        vw * index.idf(params, source) * n.factor * w * self.knn_scale;
                }
            }
        }
        for (v, &total) in self.follower_totals.iter().enumerate() {
            if total > 0.0 {
                let (source, vw) = self.viewed[v];
                for &(b, t) in index.followers(source) {
                    if let Some(slot) = slot_of(b) {
                        share[slot * nv + v] += vw * t / total * self.transition_scale;
                    }
                }
            }
        }
        for (slot, &item) in items.iter().enumerate() {
            if let Some(v) = self.viewed.iter().position(|e| e.0 == item) {
                if let Ok(r) = self.repeats.binary_search_by_key(&item, |e| e.0) {
                    share[slot * nv + v] += self.repeats[r].1;
                }
            }
        }
        (0..items.len())
            .map(|slot| {
                let mut best: Option<(f32, u32)> = None;
                for v in 0..nv {
                    let s = share[slot * nv + v];
                    if s > 0.0 && best.is_none_or(|(b, _)| s > b) {
                        best = Some((s, self.viewed[v].0));
                    }
                }
                best.map(|b| b.1)
            })
            .collect()
    }
}

/// `shared_weight` for an item the session viewed, else 1.
fn shared(params: &SessionParams, viewed: &[(u32, f32)], item: u32) -> f32 {
    if viewed.iter().any(|v| v.0 == item) {
        params.shared_weight
    } else {
        1.0
    }
}

/// Sums the weights of equal keys; sorted by key.
fn merge(mut list: Vec<(u32, f32)>) -> Vec<(u32, f32)> {
    list.sort_unstable_by_key(|e| e.0);
    let mut out: Vec<(u32, f32)> = Vec::with_capacity(list.len());
    for (k, w) in list {
        match out.last_mut() {
            Some(last) if last.0 == k => last.1 += w,
            _ => out.push((k, w)),
        }
    }
    out
}
