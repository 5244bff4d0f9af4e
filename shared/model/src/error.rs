//! The model crate's error.

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("invalid hyperparameter {0}")]
    Params(String),
    #[error("dimension mismatch: {0}")]
    Shape(String),
    #[error("invalid input: {0}")]
    Input(String),
    #[error(
        "training diverged in epoch {epoch}: {what} is no longer finite; lower the \
         learning rate or add regularisation"
    )]
    Diverged { epoch: usize, what: &'static str },
    #[error("artifact: {0}")]
    Artifact(String),
    /// The caller's per-epoch callback asked training to stop (a deadline, say).
    #[error("stopped: {0}")]
    Stopped(String),
}
