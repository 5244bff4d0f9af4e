//! Which features rows own and which they share: how the kernel treats each.

use crate::csr::Csr;
use crate::error::ModelError;
use crate::kernel::NO_PENDING_SLOT;

/// The features of one side split by how many rows have them: owned by one row
/// (identity features) or shared by several (attribute features). Items' owned features go
/// into WARP's screening snapshot, their attribute features are read live (see
/// `Kernel::item_attributes`); with several threads, attribute features of both sides are
/// stepped in per-thread pending buffers (see `kernel::Pending`).
pub(crate) struct FeatureSplit {
    /// Per feature: at most one row has it.
    pub(crate) owned: Vec<bool>,
    /// Per row, its attribute features and their weights.
    pub(crate) attributes: Csr,
    /// Per feature, its slot in each thread's pending updates if it is an attribute feature and
    /// `pending` was asked for (`NO_PENDING_SLOT` otherwise); see `kernel::Pending`.
    pub(crate) pending_slots: Vec<u32>,
    /// The features with a slot, in slot order.
    pub(crate) pending_features: Vec<u32>,
    /// The features are the identity (feature i is row i, weight 1).
    pub(crate) identity: bool,
}

impl FeatureSplit {
    pub(crate) fn new(features: &Csr, pending: bool) -> Result<Self, ModelError> {
        let mut rows = vec![0u32; features.n_cols()];
        for &f in features.indices() {
            rows[f as usize] = rows[f as usize].saturating_add(1);
        }
        let owned: Vec<bool> = rows.iter().map(|&n| n <= 1).collect();
        let mut triplets = Vec::new();
        for r in 0..features.n_rows() {
            let (cols, weights) = features.row(r);
            for (&f, &w) in cols.iter().zip(weights) {
                if !owned[f as usize] {
                    triplets.push((r as u32, f, w));
                }
            }
        }
        let attributes = Csr::from_triplets(features.n_rows(), features.n_cols(), &triplets)?;
        let mut pending_slots = vec![NO_PENDING_SLOT; if pending { features.n_cols() } else { 0 }];
        let mut pending_features = Vec::new();
        for (f, slot) in pending_slots.iter_mut().enumerate() {
            if !owned[f] {
                *slot = pending_features.len() as u32;
                pending_features.push(f as u32);
            }
        }
        Ok(FeatureSplit {
            owned,
            attributes,
            pending_slots,
            pending_features,
            identity: features.is_identity(),
        })
    }
}
