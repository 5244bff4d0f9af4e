//! The parameters of one side of the model (users or items), their schedule state,
//! and their representations of feature rows.

use ndarray::{Array1, Array2, Axis};

use crate::csr::Csr;
use crate::feature_split::FeatureSplit;
use crate::kernel::{Cells, Records, Rows, Side, Table};
use crate::params::{Params, Schedule};
use crate::rng::Rng;

/// Parameters of one side (users or items).
#[derive(Debug, Clone, PartialEq)]
pub struct SideParams {
    /// One row per feature.
    pub embeddings: Array2<f32>,
    pub biases: Array1<f32>,
    /// Schedule state: adagrad's sums of squared gradients (or adadelta's running
    /// average of squared gradients), and adadelta's running average of squared steps
    /// (empty under adagrad).
    pub emb_acc: Array2<f32>,
    pub bias_acc: Array1<f32>,
    pub emb_step: Array2<f32>,
    pub bias_step: Array1<f32>,
}

impl SideParams {
    pub(crate) fn new(n_features: usize, params: &Params, rng: &mut Rng) -> Self {
        let (d, schedule) = (params.no_components, &params.schedule);
        // LightFM's initialisation: uniform in [-0.5/d, 0.5/d).
        let embeddings = Array2::from_shape_fn((n_features, d), |_| {
            ((rng.unit_f64() - 0.5) / d as f64) as f32
        });
        let (acc0, steps) = match schedule {
            Schedule::Adagrad { .. } => (1.0, 0),
            Schedule::Adadelta { .. } => (0.0, n_features),
        };
        SideParams {
            embeddings,
            biases: Array1::zeros(n_features),
            emb_acc: Array2::from_elem((n_features, params.acc_width()), acc0),
            bias_acc: Array1::from_elem(n_features, acc0),
            emb_step: Array2::zeros((steps, d)),
            bias_step: Array1::zeros(steps),
        }
    }

    pub(crate) fn cells<'a>(
        &'a mut self,
        features: &'a Csr,
        alpha: f32,
        index: usize,
        split: &'a FeatureSplit,
        avx2: bool,
    ) -> Side<'a> {
        let d = self.embeddings.ncols();
        let acc_width = self.emb_acc.ncols();
        Side {
            emb: Rows::new_for(as_slice(&mut self.embeddings), d, avx2),
            bias: Cells::new(as_slice1(&mut self.biases)),
            acc_width,
            emb_acc: Rows::new_for(as_slice(&mut self.emb_acc), acc_width, avx2),
            bias_acc: Cells::new(as_slice1(&mut self.bias_acc)),
            emb_step: Rows::new_for(as_slice(&mut self.emb_step), d, avx2),
            bias_step: Cells::new(as_slice1(&mut self.bias_step)),
            features,
            identity: split.identity,
            alpha,
            index,
            pending_slots: &split.pending_slots,
            pending_features: &split.pending_features,
        }
    }

    /// The parameters and their row-wise adagrad state as records of `stride`
    /// floats for the packed kernel: vector, bias, vector accumulator, bias
    /// accumulator, zeros.
    pub(crate) fn pack(&self, stride: usize) -> Records {
        let (rows, d) = self.embeddings.dim();
        let mut records = Records::new(rows, stride);
        let values = records.values_mut();
        for (r, out) in values.chunks_exact_mut(stride).take(rows).enumerate() {
            for (o, v) in out[..d].iter_mut().zip(self.embeddings.row(r)) {
                *o = *v;
            }
            out[d] = self.biases[r];
            out[d + 1] = self.emb_acc[[r, 0]];
            out[d + 2] = self.bias_acc[r];
        }
        records
    }

    /// Reads back what `pack` wrote, as trained.
    pub(crate) fn unpack(&mut self, records: &Records) {
        let d = self.embeddings.ncols();
        let rows = self.embeddings.nrows();
        for (r, rec) in records
            .values()
            .chunks_exact(records.stride())
            .take(rows)
            .enumerate()
        {
            for (o, v) in self.embeddings.row_mut(r).iter_mut().zip(&rec[..d]) {
                *o = *v;
            }
            self.biases[r] = rec[d];
            self.emb_acc[[r, 0]] = rec[d + 1];
            self.bias_acc[r] = rec[d + 2];
        }
    }

    pub(crate) fn finite(&self) -> bool {
        self.embeddings.iter().all(|v| v.is_finite()) && self.biases.iter().all(|v| v.is_finite())
    }

    /// Representation of an entity with the given feature row: (vector, bias).
    pub fn represent(&self, cols: &[u32], weights: &[f32]) -> (Array1<f32>, f32) {
        let mut v = Array1::zeros(self.embeddings.ncols());
        let mut b = 0.0;
        for (&f, &w) in cols.iter().zip(weights) {
            v.scaled_add(w, &self.embeddings.row(f as usize));
            b += w * self.biases[f as usize];
        }
        (v, b)
    }

    /// Representations of every row of `features` into the screening `table`, from
    /// the features `owned` marks only (see `Kernel::item_attributes`).
    pub(crate) fn fill_table(&self, features: &Csr, owned: &[bool], table: &mut Table) {
        let d = self.embeddings.ncols();
        table.reset(features.n_rows(), d);
        let stride = table.stride();
        for (r, out) in table.values_mut().chunks_exact_mut(stride).enumerate() {
            let (cols, weights) = features.row(r);
            for (&f, &w) in cols.iter().zip(weights) {
                if !owned[f as usize] {
                    continue;
                }
                let e = self.embeddings.row(f as usize);
                for (o, v) in out[..d].iter_mut().zip(e.iter()) {
                    *o += w * v;
                }
                out[d] += w * self.biases[f as usize];
            }
        }
    }

    /// Representations of every row of `features`: (n_rows x d, n_rows).
    pub fn represent_all(&self, features: &Csr) -> (Array2<f32>, Array1<f32>) {
        let d = self.embeddings.ncols();
        let mut vectors = Array2::zeros((features.n_rows(), d));
        let mut biases = Array1::zeros(features.n_rows());
        for (r, mut out) in vectors.axis_iter_mut(Axis(0)).enumerate() {
            let (cols, weights) = features.row(r);
            for (&f, &w) in cols.iter().zip(weights) {
                out.scaled_add(w, &self.embeddings.row(f as usize));
                biases[r] += w * self.biases[f as usize];
            }
        }
        (vectors, biases)
    }
}

fn as_slice(a: &mut Array2<f32>) -> &mut [f32] {
    // Arrays are created in standard layout here and never transposed in place.
    a.as_slice_mut().expect("parameters are contiguous")
}

fn as_slice1(a: &mut Array1<f32>) -> &mut [f32] {
    a.as_slice_mut().expect("parameters are contiguous")
}
