//! The operator's routes under `/v1/admin/`, for admin tokens only (`reco token
//! --admin`; a visitor token gets 403 `admin_required`):
//! - `GET /v1/admin/models`: the published versions, newest first, with their metrics,
//!   the popularity baseline, data sizes and fit time, and which one is current;
//! - `GET /v1/admin/models/{version}/report.svg`: a version's learning curve;
//! - `POST /v1/admin/rollback {"to"?}`: publishes an earlier version again (default:
//!   the one before the current), after checking its serving bundle against its
//!   manifest;
//! - `GET /v1/admin/activity`: the session store's counts, archive lag and views per
//!   minute, and click-through per model version and strategy from the warehouse.

use std::sync::Arc;

use bytes::Bytes;
use http::{header, Response};
use reco_core::{ArtifactStore, SessionStatistics, Timestamp, TokenKeys, Warehouse};
use reco_serving::loader::read_version;
use reco_serving::registry::{
    self, read_pointer, Manifest, Pointer, CURRENT_KEY, MANIFEST_FILE, REPORT_FILE,
};
use reco_serving::ModelSource;
use serde_json::{json, Value};

use crate::ApiError;

/// What the admin routes read and write.
pub struct Admin {
    /// The operator's key: admin tokens are signed with it, never with the visitor
    /// key, so that whoever signs visitor tokens (the site's backend) cannot act as
    /// an operator.
    pub tokens: TokenKeys,
    pub artifacts: Arc<dyn ArtifactStore>,
    /// The model this process serves, told to reload after a rollback.
    pub models: Option<Arc<ModelSource>>,
    /// Session counts for the activity route.
    pub sessions: Arc<dyn SessionStatistics>,
    /// Click-through for the activity route.
    pub warehouse: Arc<dyn Warehouse>,
    /// The session timeout, for the archive lag.
    pub session_timeout_secs: u64,
}

fn unavailable(e: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable("artifacts_unavailable", &e.to_string())
}

fn version_param(version: &str) -> Result<(), ApiError> {
    if registry::valid_version(version) {
        Ok(())
    } else {
        Err(ApiError::invalid(
            "version",
            "is not a model version (ASCII letters, digits, '-', '_', '.')",
        ))
    }
}

impl Admin {
    async fn manifest(&self, version: &str) -> Result<Option<Manifest>, ApiError> {
        let key = registry::file_key(version, MANIFEST_FILE);
        match self.artifacts.get(&key).await.map_err(unavailable)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| unavailable(format!("{key}: {e}"))),
        }
    }

    /// `GET /v1/admin/models`.
    pub async fn models(&self) -> Result<Value, ApiError> {
        let pointer = read_pointer(self.artifacts.as_ref())
            .await
            .map_err(unavailable)?;
        let Some(pointer) = pointer else {
            return Ok(json!({"current": null, "published_at": null, "versions": []}));
        };
        let mut versions = Vec::new();
        let order = std::iter::once(&pointer.version).chain(pointer.previous.iter().rev());
        for version in order {
            let current = *version == pointer.version;
            let entry = match self.manifest(version).await? {
                Some(m) => json!({
                    "version": version,
                    "current": current,
                    "created_at": m.created_at,
                    "metrics": m.metrics,
                    "baseline": m.baseline,
                    "compared_with": m.current,
                    "data": m.data,
                    "fit_seconds": m.fit_seconds,
                    "hyperparameters": m.hyperparameters,
                    "learning_curve": m.learning_curve,
                }),
                None => json!({"version": version, "current": current, "missing": true}),
            };
            versions.push(entry);
        }
        Ok(json!({
            "current": pointer.version,
            "published_at": pointer.published_at,
            "versions": versions,
        }))
    }

    /// `GET /v1/admin/activity`.
    pub async fn activity(&self, now: Timestamp) -> Result<Value, ApiError> {
        let sessions = self
            .sessions
            .stats(now, self.session_timeout_secs)
            .await
            .map_err(|e| ApiError::unavailable("unavailable", &e.to_string()))?;
        let click_through = self
            .warehouse
            .click_through()
            .await
            .map_err(|e| ApiError::unavailable("unavailable", &e.to_string()))?;
        Ok(json!({
            "at": now.to_rfc3339(),
            "session_timeout_secs": self.session_timeout_secs,
            "sessions": sessions,
            "click_through": click_through,
        }))
    }

    /// `GET /v1/admin/models/{version}/report.svg`.
    pub async fn report(&self, version: &str) -> Result<Response<Bytes>, ApiError> {
        version_param(version)?;
        let key = registry::file_key(version, REPORT_FILE);
        let bytes = self
            .artifacts
            .get(&key)
            .await
            .map_err(unavailable)?
            .ok_or_else(|| ApiError::not_found(&format!("no report for version {version}")))?;
        let mut response = Response::new(Bytes::from(bytes));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("image/svg+xml"),
        );
        Ok(response)
    }

    /// `POST /v1/admin/rollback`.
    pub async fn rollback(&self, body: &[u8], now: Timestamp) -> Result<Value, ApiError> {
        let to = parse_rollback(body)?;
        let current = read_pointer(self.artifacts.as_ref())
            .await
            .map_err(unavailable)?
            .ok_or_else(|| ApiError::conflict("nothing_published", "no model is published yet"))?;
        let target = match to {
            Some(v) => v,
            None => current.previous.last().cloned().ok_or_else(|| {
                ApiError::conflict("no_earlier_version", "no earlier version to roll back to")
            })?,
        };
        if target == current.version {
            return Err(ApiError::conflict(
                "already_current",
                &format!("{target} is already the current version"),
            ));
        }
        if !current.previous.contains(&target) {
            return Err(ApiError::invalid(
                "to",
                &format!("{target} is not one of the published versions"),
            ));
        }
        // The version must still load: its bundle verified against its manifest.
        read_version(self.artifacts.as_ref(), &target)
            .await
            .map_err(|e| {
                ApiError::conflict(
                    "version_unusable",
                    &format!("{target} cannot be served: {e}"),
                )
            })?;
        let pointer: Pointer = registry::rolled_back(current, &target, now.to_rfc3339());
        let bytes = serde_json::to_vec_pretty(&pointer).map_err(unavailable)?;
        self.artifacts
            .put(CURRENT_KEY, bytes, "application/json")
            .await
            .map_err(unavailable)?;
        if let Some(models) = &self.models {
            models.invalidate();
        }
        Ok(json!({"current": pointer.version, "previous": pointer.previous}))
    }
}

/// `{"to": "<version>"}`, `{}` or an empty body.
fn parse_rollback(body: &[u8]) -> Result<Option<String>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|_| ApiError::invalid("body", "must be JSON"))?;
    let object = value
        .as_object()
        .ok_or_else(|| ApiError::invalid("body", "must be a JSON object"))?;
    if let Some(k) = object.keys().find(|k| *k != "to") {
        return Err(ApiError::invalid(k, "is not a field of this request"));
    }
    match object.get("to") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(v)) => {
            version_param(v).map_err(|_| ApiError::invalid("to", "is not a model version"))?;
            Ok(Some(v.clone()))
        }
        Some(_) => Err(ApiError::invalid("to", "must be a string")),
    }
}
