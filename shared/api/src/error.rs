//! API errors: `{"error": {"code", "message", "field"?}}` with the status that fits.
//! Every use-case error is mapped to a status here, and only here.

use bytes::Bytes;
use http::{Response, StatusCode};
use reco_core::{SessionError, StoreError};
use reco_serving::ServeError;
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Seconds for a `Retry-After` header.
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    /// A field failed validation; the message starts with the field's name.
    pub fn invalid(field: &str, problem: &str) -> Self {
        ApiError {
            field: Some(field.to_string()),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_field",
                format!("{field}: {problem}"),
            )
        }
    }

    pub fn unknown_field(field: &str) -> Self {
        ApiError {
            field: Some(field.to_string()),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "unknown_field",
                format!("{field}: unknown field"),
            )
        }
    }

    /// A query parameter's value is unusable; the message starts with its name.
    pub fn invalid_parameter(name: &str, problem: &str) -> Self {
        ApiError {
            field: Some(name.to_string()),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                format!("{name}: {problem}"),
            )
        }
    }

    /// The route takes no such query parameter.
    pub fn unknown_parameter(name: &str) -> Self {
        ApiError {
            field: Some(name.to_string()),
            ..Self::new(
                StatusCode::BAD_REQUEST,
                "unknown_parameter",
                format!("{name}: unknown parameter"),
            )
        }
    }

    pub fn malformed_json(detail: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("body: not valid JSON ({detail})"),
        )
    }

    pub fn unauthorized(message: &str) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// The request is valid but the state it meets refuses it.
    pub fn conflict(code: &'static str, message: &str) -> Self {
        Self::new(StatusCode::CONFLICT, code, message)
    }

    pub fn forbidden(code: &'static str, message: &str) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// A dependency failed; the detail goes to the log (5xx are scrubbed).
    pub fn unavailable(code: &'static str, message: &str) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message)
    }

    pub fn not_found(message: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn method_not_allowed(allowed: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this route accepts {allowed}"),
        )
    }

    pub fn body_timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "body: not received in time",
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("body: larger than {limit} bytes"),
        )
    }

    /// A failure of this service rather than of the request. The detail goes to the
    /// log only; the client gets a generic message with the request id to quote.
    pub fn internal(status: StatusCode, code: &'static str, request_id: &str) -> Self {
        let message = if status == StatusCode::SERVICE_UNAVAILABLE {
            format!("the service is unavailable, retry later (request {request_id})")
        } else {
            format!("internal error (request {request_id})")
        };
        Self::new(status, code, message)
    }

    pub fn into_response(self) -> Response<Bytes> {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(field) = &self.field {
            error["field"] = json!(field);
        }
        let mut response = crate::json_response(self.status, &json!({ "error": error }));
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(http::header::RETRY_AFTER, http::HeaderValue::from(secs));
        }
        response
    }
}

impl From<ServeError> for ApiError {
    fn from(e: ServeError) -> Self {
        let message = e.to_string();
        match e {
            ServeError::NoModel => Self::new(StatusCode::SERVICE_UNAVAILABLE, "no_model", message),
            ServeError::Unavailable(_) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "model_unavailable",
                message,
            ),
            ServeError::UnknownItem(_) => Self::new(StatusCode::NOT_FOUND, "unknown_item", message),
            ServeError::Session(e) => e.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        let message = e.to_string();
        match e {
            SessionError::Forbidden(_) => Self::new(StatusCode::FORBIDDEN, "forbidden", message),
            SessionError::NotFound(_) => Self::new(StatusCode::NOT_FOUND, "not_found", message),
            SessionError::Archived => Self::new(StatusCode::CONFLICT, "session_archived", message),
            SessionError::CustomerMismatch => {
                Self::new(StatusCode::FORBIDDEN, "customer_mismatch", message)
            }
            SessionError::CapReached {
                retry_after_secs, ..
            } => ApiError {
                retry_after: Some(retry_after_secs),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, "view_cap_reached", message)
            },
            SessionError::TooLarge { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "session_too_large", message)
            }
            SessionError::ImpressionsFull { .. } => {
                Self::new(StatusCode::PAYLOAD_TOO_LARGE, "impressions_full", message)
            }
            SessionError::Store(StoreError::Unavailable(_)) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                format!("storage is unavailable, retry later ({message})"),
            ),
            SessionError::Store(_) => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
            }
        }
    }
}
