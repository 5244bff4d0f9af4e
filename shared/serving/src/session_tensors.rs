//! The session model's part of the serving bundle (format version 2): the archived
//! sessions and item transitions the `session` strategy scores from, and the
//! parameters training chose for them.
//!
//! | tensor | dtype, shape | |
//! |---|---|---|
//! | `session_params` | U8 | the scoring parameters, JSON |
//! | `session_offsets`, `session_items` | U32 [sessions + 1], U32 | each session's views (item indices), oldest session first |
//! | `transition_offsets` | U32 [items + 1] | each item's followers ... |
//! | `transition_items`, `transition_weights` | U32, F32 | ... and their weights, strongest first |
//!
//! A version-1 bundle has none of them: its `session` strategy is the fold-in alone.

use reco_model::session::{Rows, SessionIndex, SessionParams};
use safetensors::tensor::{Dtype, SafeTensors};

use crate::tensors::{err, f32_bytes, f32s, raw, u32_bytes, u32s, BundleError, Owned};

/// What the session model keeps of training.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionData {
    pub params: SessionParams,
    pub sessions: Rows<u32>,
    pub transitions: Rows<(u32, f32)>,
}

impl SessionData {
    pub fn from_index(index: &SessionIndex, params: &SessionParams) -> Self {
        SessionData {
            params: params.clone(),
            sessions: index.sessions.clone(),
            transitions: index.transitions.clone(),
        }
    }

    /// Whether the parts and parameters make a model over a catalogue of `n_items`.
    pub fn check(&self, n_items: usize) -> Result<(), BundleError> {
        self.params
            .validate()
            .map_err(|e| err(format!("session_params: {e}")))?;
        SessionIndex::check_parts(n_items, &self.sessions, &self.transitions)
            .map_err(|e| err(e.to_string()))
    }

    /// The index serving scores from, and its parameters, checked against a catalogue
    /// of `n_items`.
    pub fn into_index(self, n_items: usize) -> Result<(SessionIndex, SessionParams), BundleError> {
        self.check(n_items)?;
        let index = SessionIndex::new(n_items, self.sessions, self.transitions)
            .map_err(|e| err(e.to_string()))?;
        Ok((index, self.params))
    }

    pub(crate) fn tensors(&self) -> Result<Vec<Owned>, BundleError> {
        let params = serde_json::to_vec(&self.params).map_err(|e| err(e.to_string()))?;
        let (items, weights): (Vec<u32>, Vec<f32>) =
            self.transitions.values.iter().copied().unzip();
        let t = items.len();
        Ok(vec![
            ("session_params", Dtype::U8, vec![], params),
            (
                "session_offsets",
                Dtype::U32,
                vec![self.sessions.offsets.len()],
                u32_bytes(&self.sessions.offsets),
            ),
            (
                "session_items",
                Dtype::U32,
                vec![self.sessions.values.len()],
                u32_bytes(&self.sessions.values),
            ),
            (
                "transition_offsets",
                Dtype::U32,
                vec![self.transitions.offsets.len()],
                u32_bytes(&self.transitions.offsets),
            ),
            ("transition_items", Dtype::U32, vec![t], u32_bytes(&items)),
            (
                "transition_weights",
                Dtype::F32,
                vec![t],
                f32_bytes(&weights),
            ),
        ])
    }

    /// The session part of a bundle file, if it has one.
    pub(crate) fn read(st: &SafeTensors<'_>) -> Result<Option<Self>, BundleError> {
        if st.tensor("session_params").is_err() {
            return Ok(None);
        }
        let params = serde_json::from_slice(&raw(st, "session_params", Dtype::U8)?)
            .map_err(|e| err(format!("session_params: {e}")))?;
        let items = u32s(st, "transition_items")?;
        let weights = f32s(st, "transition_weights")?;
        if items.len() != weights.len() {
            return Err(err(
                "transition_items and transition_weights differ in length",
            ));
        }
        Ok(Some(SessionData {
            params,
            sessions: Rows {
                offsets: u32s(st, "session_offsets")?,
                values: u32s(st, "session_items")?,
            },
            transitions: Rows {
                offsets: u32s(st, "transition_offsets")?,
                values: items.into_iter().zip(weights).collect(),
            },
        }))
    }
}
