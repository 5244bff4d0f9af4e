//! The fitted model: learned parameters, training entry points and scoring.

use ndarray::{Array1, Array2, ArrayView1};

use crate::csr::{Csr, Interactions};
pub use crate::error::ModelError;
use crate::feature_split::FeatureSplit;
use crate::kernel::{
    across_threads, rank_weights, stride_for, Example, Kernel, Known, Records, Sampler, Table,
};
use crate::params::{Loss, Params, Schedule};
pub use crate::side_params::SideParams;
use crate::simd::dot;

/// Which kernel a fit takes (the tests compare them on the same fit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// The general kernel, whatever the fit.
    General,
    /// The packed kernel where it covers the fit (`kernel::packed`): on cells the
    /// threads share with several threads, on plain memory with one.
    Packed,
    /// The packed kernel on shared cells even with one thread.
    PackedShared,
}

mod packed_epoch;

/// Epochs whose WARP screening reads live parameters rather than a snapshot.
const LIVE_EPOCHS: usize = 1;
use crate::rng::Rng;

/// What an epoch trains on, built once per fit.
#[derive(Clone, Copy)]
struct Data<'a> {
    interactions: &'a Interactions,
    /// The positives (value > 0) per user.
    positives: &'a Csr,
    known: &'a Known<'a>,
    sampler: &'a Sampler,
    /// WARP's weight by the number of draws (see `kernel::rank_weights`).
    rank_weights: &'a [f32],
}

/// What one epoch did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EpochStats {
    pub epoch: usize,
    /// Mean loss over the examples visited (for WARP: the mean rank-weighted step).
    pub loss: f64,
}

/// A hybrid factorisation model (its learned parameters) and the feature matrices it
/// was fitted with. Made from its hyperparameters by [`Params::fit`] (or
/// [`Params::init`], then [`Model::fit_partial`]), as in linfa: the hyperparameters
/// are a value of their own, validated, and kept read-only beside what was learned.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub(crate) params: Params,
    pub users: SideParams,
    pub items: SideParams,
    pub user_features: Csr,
    pub item_features: Csr,
    /// Epochs trained so far (continues across `fit_partial`).
    pub epochs: usize,
}

impl Params {
    /// A model initialised for these feature matrices, untrained (for training epoch
    /// by epoch with [`Model::fit_partial`]).
    pub fn init(self, user_features: Csr, item_features: Csr) -> Result<Model, ModelError> {
        self.validate()?;
        let mut rng = Rng::new(self.seed);
        // Items first, then users, as LightFM draws them.
        let items = SideParams::new(item_features.n_cols(), &self, &mut rng);
        let users = SideParams::new(user_features.n_cols(), &self, &mut rng);
        Ok(Model {
            params: self,
            users,
            items,
            user_features,
            item_features,
            epochs: 0,
        })
    }

    /// A model fitted to `interactions` for `epochs` epochs.
    pub fn fit(
        self,
        interactions: &Interactions,
        user_features: Csr,
        item_features: Csr,
        epochs: usize,
    ) -> Result<Model, ModelError> {
        let mut model = self.init(user_features, item_features)?;
        model.fit_partial(interactions, epochs)?;
        Ok(model)
    }
}

impl Model {
    /// The hyperparameters it was made with.
    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn n_users(&self) -> usize {
        self.user_features.n_rows()
    }

    pub fn n_items(&self) -> usize {
        self.item_features.n_rows()
    }

    pub fn dim(&self) -> usize {
        self.params.no_components
    }

    /// Continues training with the same feature dimensions.
    pub fn fit_partial(
        &mut self,
        interactions: &Interactions,
        epochs: usize,
    ) -> Result<Vec<EpochStats>, ModelError> {
        self.fit_partial_with(interactions, epochs, |_, _| Ok(()))
    }

    /// Like `fit_partial`, calling `after_epoch` with each epoch's statistics and the
    /// model as it stands (for learning curves, progress and deadlines).
    pub fn fit_partial_with(
        &mut self,
        interactions: &Interactions,
        epochs: usize,
        after_epoch: impl FnMut(&EpochStats, &Model) -> Result<(), ModelError>,
    ) -> Result<Vec<EpochStats>, ModelError> {
        self.fit_epochs(interactions, epochs, Path::Packed, after_epoch)
    }

    /// `fit_partial_with`, on the kernel `path` says.
    pub(crate) fn fit_epochs(
        &mut self,
        interactions: &Interactions,
        epochs: usize,
        path: Path,
        mut after_epoch: impl FnMut(&EpochStats, &Model) -> Result<(), ModelError>,
    ) -> Result<Vec<EpochStats>, ModelError> {
        self.params.validate()?;
        interactions.validate()?;
        self.check_shapes(interactions)?;
        let positives = interactions.positives_csr();
        let known = Known::new(&positives);
        let sampler = Sampler::popularity(
            interactions.n_items,
            positives.indices().iter().copied(),
            self.params.sampling_exponent,
        );
        // The parameters' sums over the last `averaged` epochs (see
        // `Params::average_epochs`).
        let averaged = self.params.average_epochs.min(epochs);
        let mut sums: Option<[(Array2<f32>, Array1<f32>); 2]> = None;
        // Pending per-thread updates of attribute features pay off with several
        // threads; with one they would only delay the thread's own steps.
        let pending =
            self.params.threads > 1 && matches!(self.params.schedule, Schedule::Adagrad { .. });
        let splits = [
            FeatureSplit::new(&self.user_features, pending)?,
            FeatureSplit::new(&self.item_features, pending)?,
        ];
        // The CPU's code path, chosen once for the whole fit.
        let avx2 = crate::simd::avx2_fma();
        let mut order = Example::all(interactions);
        // The ranking losses skip known negatives unless they are asked to step on
        // them: leave them out of the epoch's order rather than visit them.
        if !matches!(self.params.loss, Loss::Logistic) && self.params.known_negative_weight == 0.0 {
            order.retain(|e| e.value > 0.0);
        }
        let mut rng = Rng::new(self.params.seed ^ (self.epochs as u64).wrapping_mul(0x9E37_79B9));
        let mut stats = Vec::with_capacity(epochs);
        let mut records = self
            .packed_stride(&splits)
            .filter(|_| path != Path::General)
            .map(|s| [self.users.pack(s), self.items.pack(s)]);
        let mut snapshot = Records::default();
        let rank_weights = rank_weights(interactions.n_items, self.params.max_sampled);
        // Once here: each epoch's threads shuffle their blocks (`across_threads`).
        rng.shuffle(&mut order);
        for epoch in 0..epochs {
            let data = Data {
                interactions,
                positives: &positives,
                known: &known,
                sampler: &sampler,
                rank_weights: &rank_weights,
            };
            let (loss, visited) = match &mut records {
                Some(records) => {
                    let shared = path == Path::PackedShared;
                    let done = self.run_packed_epoch(
                        data,
                        records,
                        &mut snapshot,
                        (&mut order, &mut rng),
                        avx2,
                        shared,
                    );
                    self.users.unpack(&records[0]);
                    self.items.unpack(&records[1]);
                    done
                }
                None => self.run_epoch(data, &splits, &mut order, &mut rng, avx2),
            };
            self.epochs += 1;
            if !self.users.finite() {
                return Err(ModelError::Diverged {
                    epoch: self.epochs,
                    what: "a user parameter",
                });
            }
            if !self.items.finite() {
                return Err(ModelError::Diverged {
                    epoch: self.epochs,
                    what: "an item parameter",
                });
            }
            let s = EpochStats {
                epoch: self.epochs,
                loss: if visited > 0 {
                    loss / visited as f64
                } else {
                    0.0
                },
            };
            stats.push(s);
            if averaged > 1 && epoch + averaged >= epochs {
                let sides = [&self.users, &self.items];
                match &mut sums {
                    None => {
                        sums = Some(sides.map(|p| (p.embeddings.clone(), p.biases.clone())));
                    }
                    Some(sums) => {
                        for ((emb, bias), p) in sums.iter_mut().zip(sides) {
                            *emb += &p.embeddings;
                            *bias += &p.biases;
                        }
                    }
                }
            }
            after_epoch(&s, self)?;
        }
        if let Some([(user_emb, user_bias), (item_emb, item_bias)]) = sums {
            let n = averaged as f32;
            self.users.embeddings = user_emb / n;
            self.users.biases = user_bias / n;
            self.items.embeddings = item_emb / n;
            self.items.biases = item_bias / n;
        }
        Ok(stats)
    }

    /// The record size of the packed kernel if it covers this fit: identity features on
    /// both sides, WARP or BPR without known negatives, adagrad with row-wise
    /// accumulators, and a supported number of components.
    fn packed_stride(&self, splits: &[FeatureSplit; 2]) -> Option<usize> {
        let p = &self.params;
        let covered = matches!(p.loss, Loss::Warp | Loss::Bpr)
            && p.known_negative_weight == 0.0
            && matches!(p.schedule, Schedule::Adagrad { .. })
            && p.acc_width() == 1
            && splits.iter().all(|s| s.identity);
        stride_for(p.no_components).filter(|_| covered)
    }

    /// This epoch's adagrad learning rate (see `Params::learning_rate_decay`).
    fn learning_rate(&self) -> f32 {
        match self.params.schedule {
            Schedule::Adagrad { learning_rate } => {
                let decaying = self.epochs.saturating_sub(self.params.decay_start);
                learning_rate / (1.0 + self.params.learning_rate_decay * decaying as f32)
            }
            Schedule::Adadelta { .. } => 0.0,
        }
    }

    fn run_epoch(
        &mut self,
        data: Data<'_>,
        splits: &[FeatureSplit; 2],
        order: &mut [Example],
        rng: &mut Rng,
        avx2: bool,
    ) -> (f64, usize) {
        let d = self.params.no_components;
        let threads = self.params.threads;
        // WARP screens sampled negatives against a snapshot of the item
        // representations taken at the start of the epoch (see kernel/), except in
        // the first epoch, where parameters move fastest (against the initial
        // near-zero vectors every draw would look like a violation). The snapshot
        // holds only the features each item owns; attribute features, which many
        // items share and which therefore move fast all along, are read live
        // (a snapshot of them costs P@10 in the hybrid benchmark: docs/benchmarks.md).
        // The snapshot costs one pass over the items per epoch.
        let mut table = Table::default();
        if matches!(self.params.loss, Loss::Warp | Loss::WarpKos { .. })
            && self.epochs >= LIVE_EPOCHS
        {
            self.items
                .fill_table(&self.item_features, &splits[1].owned, &mut table);
        }
        let seeds: Vec<u64> = (0..threads).map(|_| rng.next_u64()).collect();
        let learning_rate = self.learning_rate();
        let params = &self.params;
        let kernel = Kernel {
            d,
            users: self
                .users
                .cells(&self.user_features, params.user_alpha, 0, &splits[0], avx2),
            items: self
                .items
                .cells(&self.item_features, params.item_alpha, 1, &splits[1], avx2),
            params,
            data: data.interactions,
            positives: data.positives,
            known: data.known,
            sampler: data.sampler,
            rank_weights: data.rank_weights,
            learning_rate,
            table: &table,
            item_attributes: &splits[1].attributes,
            has_item_attributes: splits[1].attributes.nnz() > 0,
            avx2,
        };
        across_threads(order, &seeds, |block, seed| kernel.run(block, seed))
    }

    fn check_shapes(&self, interactions: &Interactions) -> Result<(), ModelError> {
        if interactions.n_users != self.user_features.n_rows() {
            return Err(ModelError::Shape(format!(
                "interactions have {} users but the user feature matrix has {} rows",
                interactions.n_users,
                self.user_features.n_rows()
            )));
        }
        if interactions.n_items != self.item_features.n_rows() {
            return Err(ModelError::Shape(format!(
                "interactions have {} items but the item feature matrix has {} rows",
                interactions.n_items,
                self.item_features.n_rows()
            )));
        }
        if self.user_features.n_cols() != self.users.embeddings.nrows() {
            return Err(ModelError::Shape(format!(
                "the user feature matrix has {} columns but the model has {} user features",
                self.user_features.n_cols(),
                self.users.embeddings.nrows()
            )));
        }
        if self.item_features.n_cols() != self.items.embeddings.nrows() {
            return Err(ModelError::Shape(format!(
                "the item feature matrix has {} columns but the model has {} item features",
                self.item_features.n_cols(),
                self.items.embeddings.nrows()
            )));
        }
        Ok(())
    }

    /// Replaces the feature matrices (new users or items with known features) keeping
    /// the parameters; the feature dimensions must not change.
    pub fn set_features(
        &mut self,
        user_features: Csr,
        item_features: Csr,
    ) -> Result<(), ModelError> {
        if user_features.n_cols() != self.users.embeddings.nrows()
            || item_features.n_cols() != self.items.embeddings.nrows()
        {
            return Err(ModelError::Shape(format!(
                "feature matrices have {} user and {} item features; the model has {} and {}",
                user_features.n_cols(),
                item_features.n_cols(),
                self.users.embeddings.nrows(),
                self.items.embeddings.nrows()
            )));
        }
        self.user_features = user_features;
        self.item_features = item_features;
        Ok(())
    }

    /// A user's representation (vector, bias).
    pub fn user_representation(&self, user: usize) -> (Array1<f32>, f32) {
        let (c, w) = self.user_features.row(user);
        self.users.represent(c, w)
    }

    /// An item's representation (vector, bias).
    pub fn item_representation(&self, item: usize) -> (Array1<f32>, f32) {
        let (c, w) = self.item_features.row(item);
        self.items.represent(c, w)
    }

    /// Every item's representation: (n_items x d, n_items).
    pub fn item_representations(&self) -> (Array2<f32>, Array1<f32>) {
        self.items.represent_all(&self.item_features)
    }

    /// Every user's representation: (n_users x d, n_users).
    pub fn user_representations(&self) -> (Array2<f32>, Array1<f32>) {
        self.users.represent_all(&self.user_features)
    }

    /// Scores of (user, item) pairs.
    pub fn predict(&self, user: usize, items: &[usize]) -> Result<Vec<f32>, ModelError> {
        if user >= self.n_users() {
            return Err(ModelError::Input(format!(
                "user {user} >= {}",
                self.n_users()
            )));
        }
        let (u, ub) = self.user_representation(user);
        items
            .iter()
            .map(|&i| {
                if i >= self.n_items() {
                    return Err(ModelError::Input(format!("item {i} >= {}", self.n_items())));
                }
                let (v, b) = self.item_representation(i);
                Ok(u.dot(&v) + ub + b)
            })
            .collect()
    }
}

/// The `k` best of `scores`, skipping `exclude` (sorted or not), best first.
pub fn top_k(scores: ArrayView1<f32>, k: usize, exclude: &[usize]) -> Vec<(usize, f32)> {
    let mut excluded = exclude.to_vec();
    excluded.sort_unstable();
    let mut candidates: Vec<(usize, f32)> = scores
        .iter()
        .copied()
        .enumerate()
        .filter(|(i, s)| s.is_finite() && excluded.binary_search(i).is_err())
        .collect();
    let by_score = |a: &(usize, f32), b: &(usize, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if candidates.len() > k {
        if k == 0 {
            return Vec::new();
        }
        candidates.select_nth_unstable_by(k - 1, by_score);
        candidates.truncate(k);
    }
    candidates.sort_unstable_by(by_score);
    candidates
}

/// Scores of every item for a representation: `items · v + item_bias + bias`.
pub fn score_all(
    items: &Array2<f32>,
    item_biases: &Array1<f32>,
    v: ArrayView1<f32>,
    bias: f32,
) -> Array1<f32> {
    let mut s = Array1::zeros(items.nrows());
    if let (Some(vs), Some(out)) = (v.as_slice(), s.as_slice_mut()) {
        for (r, (o, row)) in out.iter_mut().zip(items.rows()).enumerate() {
            *o = match row.as_slice() {
                Some(x) => dot(x, vs),
                None => row.dot(&v),
            } + item_biases[r]
                + bias;
        }
    } else {
        s = items.dot(&v) + item_biases + bias;
    }
    s
}

#[cfg(test)]
mod tests {
    use crate::csr::Csr;
    use crate::feature_split::FeatureSplit;

    #[test]
    fn features_split_into_owned_and_attributes() {
        // Three items with identity features; items 0 and 1 share attribute 0,
        // item 2 alone has attribute 1 (owned, like an identity feature).
        let features = Csr::identity_plus(3, 2, &[(0, 0, 1.0), (1, 0, 1.0), (2, 1, 1.0)], true)
            .expect("features");
        let split = FeatureSplit::new(&features, true).expect("split");
        assert_eq!(split.owned, vec![true, true, true, false, true]);
        assert_eq!(split.attributes.row(0), (&[3u32][..], &[0.5f32][..]));
        assert_eq!(split.attributes.row(1), (&[3u32][..], &[0.5f32][..]));
        assert_eq!(split.attributes.row(2).0.len(), 0);
        assert_eq!(split.pending_features, vec![3]);
        assert_eq!(split.pending_slots[3], 0);
        assert!(split
            .pending_slots
            .iter()
            .enumerate()
            .all(|(f, &h)| f == 3 || h == crate::kernel::NO_PENDING_SLOT));
        let identity = FeatureSplit::new(&Csr::identity(4), true).expect("split");
        assert!(identity.owned.iter().all(|&o| o));
        assert_eq!(identity.attributes.nnz(), 0);
    }
}
