//! Artifact (placeholder)
