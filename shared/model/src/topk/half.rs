//! The catalogue in half precision, re-scored exactly in f32.

use ndarray::{ArrayView1, ArrayView2};

use super::exact::scan_score;
use super::{stride_for, ExactRows, ItemMatrix};
use crate::error::ModelError;

/// The catalogue's vectors rounded to half precision (IEEE binary16, relative error at
/// most 2^-11), biases in f32: half the bytes of [`ItemMatrix`], for catalogues too
/// large to keep both the f32 matrix and its int8 copy. Scores are computed in f32
/// from the rounded values, exactly as [`HalfMatrix::to_f32`]'s matrix scores them.
#[derive(Debug, Clone)]
pub struct HalfMatrix {
    rows: usize,
    dim: usize,
    data: Vec<half::f16>,
    biases: Vec<f32>,
    avx2: bool,
}

impl HalfMatrix {
    /// Rounds `vectors` (items x dim) to the nearest half-precision values.
    pub fn new(vectors: ArrayView2<f32>, biases: ArrayView1<f32>) -> Result<Self, ModelError> {
        let (rows, dim) = super::catalogue_shape(&vectors, &biases)?;
        let mut data = vec![half::f16::ZERO; rows * dim];
        match vectors.as_slice() {
            Some(all) => {
                use half::slice::HalfFloatSliceExt;
                data.convert_from_f32_slice(all);
            }
            None => {
                for (o, &x) in data.iter_mut().zip(vectors.iter()) {
                    *o = half::f16::from_f32(x);
                }
            }
        }
        Ok(HalfMatrix {
            rows,
            dim,
            data,
            biases: biases.to_vec(),
            avx2: crate::simd::avx2_fma(),
        })
    }

    /// Bytes the matrix holds.
    pub fn bytes(&self) -> usize {
        self.data.len() * 2 + self.biases.len() * 4
    }

    /// Item `r`'s rounded vector in f32. Panics if `r` is out of range.
    pub fn vector(&self, r: usize) -> Vec<f32> {
        let mut out = vec![0.0f32; self.dim];
        self.vector_into(r, &mut out);
        out
    }

    fn vector_into(&self, r: usize, out: &mut [f32]) {
        use half::slice::HalfFloatSliceExt;
        self.data[r * self.dim..(r + 1) * self.dim].convert_to_f32_slice(&mut out[..self.dim]);
    }

    /// Item `r`'s bias. Panics if `r` is out of range.
    pub fn bias(&self, r: usize) -> f32 {
        self.biases[r]
    }

    /// The f32 matrix of the same (rounded) values.
    pub fn to_f32(&self) -> ItemMatrix {
        let stride = stride_for(self.dim);
        let mut data = vec![0.0f32; self.rows * stride];
        for (r, out) in data.chunks_mut(stride).enumerate() {
            self.row_into(r, out);
        }
        ItemMatrix {
            rows: self.rows,
            dim: self.dim,
            stride,
            data,
            avx2: self.avx2,
        }
    }

    /// Every item's score for a query from [`ItemMatrix::query`], plus `bias`.
    pub fn scores(&self, q: &[f32], bias: f32) -> Vec<f32> {
        let mut scratch = Vec::new();
        (0..self.rows)
            .map(|r| self.score(q, r, &mut scratch) + bias)
            .collect()
    }
}

impl ExactRows for HalfMatrix {
    fn len(&self) -> usize {
        self.rows
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn row_into(&self, r: usize, out: &mut [f32]) {
        let stride = stride_for(self.dim);
        self.vector_into(r, out);
        out[self.dim] = self.biases[r];
        out[self.dim + 1..stride].fill(0.0);
    }
    fn score(&self, q: &[f32], r: usize, scratch: &mut Vec<f32>) -> f32 {
        scratch.resize(stride_for(self.dim), 0.0);
        self.row_into(r, scratch);
        scan_score(self.avx2, r < self.rows / 4 * 4, q, scratch)
    }
}
