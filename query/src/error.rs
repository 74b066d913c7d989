//! What can fail on the read side, and one mapping from that to an HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use weir_store::StoreError;

/// A read that failed: what the typed read functions return.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The store refused the read (a bad query or cursor) or failed at it.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blocking task that ran the read panicked or was cancelled.
    #[error("the read stopped before it finished: {0}")]
    Interrupted(String),
}

/// The body of every API error: `{"error": "..."}`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ErrorBody {
    /// What went wrong and what to send instead.
    pub error: String,
}

impl ErrorBody {
    /// A body saying `error`.
    pub fn new(error: impl Into<String>) -> Self {
        ErrorBody {
            error: error.into(),
        }
    }
}

/// An error answered as an [`ErrorBody`].
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter is missing or malformed.
    #[error("{0}")]
    BadRequest(String),
    /// Nothing matches.
    #[error("{0}")]
    NotFound(String),
    /// Storage that should come back (cluster mode's object store): the
    /// client should try again shortly.
    #[error("{0}")]
    Unavailable(String),
    /// A storage failure; logged, masked to the user.
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            e @ StoreError::BadQuery(_) => ApiError::BadRequest(e.to_string()),
            e @ StoreError::SplitsUnavailable(_) => ApiError::Unavailable(e.to_string()),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Store(e) => e.into(),
            e @ ReadError::Interrupted(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl From<weir_core::TimeError> for ApiError {
    fn from(e: weir_core::TimeError) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(detail) => {
                tracing::error!(error = %detail, "query failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        (status, Json(ErrorBody::new(self.to_string()))).into_response()
    }
}
