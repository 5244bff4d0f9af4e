//! Errors with the service's shapes: status, `x-amzn-ErrorType` and message.

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// An error as the service reports it.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "BadRequestException",
            message: message.into(),
        }
    }
    pub(crate) fn database(e: &tokio_postgres::Error) -> Self {
        let message = match e.as_db_error() {
            Some(db) => {
                let mut m = format!("ERROR: {}", db.message());
                if let Some(detail) = db.detail() {
                    m.push_str(&format!("\n  Detail: {detail}"));
                }
                if let Some(hint) = db.hint() {
                    m.push_str(&format!("\n  Hint: {hint}"));
                }
                format!("{m}; SQLState: {}", db.code().code())
            }
            None => e.to_string(),
        };
        if e.as_db_error().is_none() && e.is_closed() {
            return ApiError {
                status: StatusCode::GATEWAY_TIMEOUT,
                code: "DatabaseUnavailableException",
                message,
            };
        }
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "DatabaseErrorException",
            message,
        }
    }
    pub(crate) fn transaction_not_found(id: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "TransactionNotFoundException",
            message: format!("Transaction {id} is not found"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        headers.insert("x-amzn-ErrorType", HeaderValue::from_static(self.code));
        (
            self.status,
            headers,
            json!({ "message": self.message }).to_string(),
        )
            .into_response()
    }
}
