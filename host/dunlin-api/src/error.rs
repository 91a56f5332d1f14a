//! The one error shape of every response: `{"error": {"code", "message", "details"}}`.
//!
//! Codes are stable (clients branch on them); messages are for people and never carry an
//! internal detail (SQL, a path, a panic): an internal failure goes to the log with its whole
//! chain of causes and the client reads `internal`.

use axum::extract::rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use dunlin_core::text::{truncate, Escaped};
use serde::Serialize;
use utoipa::ToSchema;

/// The most bytes of a message quoted back from what the client sent (a parser's account
/// of a body may quote it).
const MESSAGE_BYTES: usize = 512;

/// What went wrong with a request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No `Authorization: Bearer <key>` header.
    #[error("this request needs an `Authorization: Bearer <key>` header")]
    MissingKey,
    /// A key that is unknown, revoked, malformed, or not the operator's where the operator's
    /// is needed.
    #[error("the key is not valid here")]
    InvalidKey,
    /// The object does not exist for this tenant (whether or not another tenant has one of
    /// that id).
    #[error("{what} {id:?} not found")]
    NotFound {
        /// What was asked for.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// No route has this path.
    #[error("no route {0}")]
    UnknownRoute(String),
    /// The route does not take this method.
    #[error("this route does not take that method")]
    MethodNotAllowed,
    /// Input the request may not carry: `code` says which rule it broke.
    #[error("{message}")]
    BadRequest {
        /// The stable code.
        code: &'static str,
        /// What is wrong.
        message: String,
        /// Structured detail, e.g. the rows refused.
        details: serde_json::Value,
    },
    /// Well-formed input that cannot be acted on (a template that does not render, a policy
    /// component the sandbox refuses): `code` says why, `details` where.
    #[error("{message}")]
    Unprocessable {
        /// The stable code.
        code: &'static str,
        /// What is wrong.
        message: String,
        /// Structured detail, e.g. the part and line.
        details: serde_json::Value,
    },
    /// The request conflicts with the state of the tenant's data (an id taken, a version in
    /// use, a sweep running, an action not in a state the request applies to): `code` says
    /// which.
    #[error("{message}")]
    Conflict {
        /// The stable code.
        code: &'static str,
        /// What conflicts.
        message: String,
    },
    /// The body is not a WebAssembly component (by its `Content-Type`).
    #[error("the request body must be a WebAssembly component (Content-Type: application/wasm)")]
    WasmExpected,
    /// The body is over the cap.
    #[error("the request body is over the limit")]
    TooLarge,
    /// The body is not JSON (by its `Content-Type`).
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// The request took longer than the server allows.
    #[error("the request took too long")]
    Timeout,
    /// The key has spent its requests for now.
    #[error("too many requests with this key; retry after {retry_after} s")]
    RateLimited {
        /// Seconds until a request is taken again.
        retry_after: u64,
    },
    /// The database is unreachable or its schema not current.
    #[error("not ready")]
    NotReady,
    /// Anything else: logged, never shown.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl ApiError {
    /// Bad input with a code and no details.
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
            details: serde_json::Value::Null,
        }
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingKey => "missing-key",
            ApiError::InvalidKey => "invalid-key",
            ApiError::NotFound { .. } => "not-found",
            ApiError::UnknownRoute(_) => "unknown-route",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::BadRequest { code, .. }
            | ApiError::Conflict { code, .. }
            | ApiError::Unprocessable { code, .. } => code,
            ApiError::WasmExpected => "unsupported-media-type",
            ApiError::TooLarge => "body-too-large",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::Timeout => "timeout",
            ApiError::RateLimited { .. } => "rate-limited",
            ApiError::NotReady => "not-ready",
            ApiError::Internal(_) => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingKey | ApiError::InvalidKey => StatusCode::UNAUTHORIZED,
            ApiError::NotFound { .. } | ApiError::UnknownRoute(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::WasmExpected => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Timeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotReady => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The error for a response status that a layer produced without a body (the body cap,
    /// the timeout), so that every error has the one shape.
    pub(crate) fn for_status(status: StatusCode) -> Self {
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
            StatusCode::REQUEST_TIMEOUT => ApiError::Timeout,
            StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
            StatusCode::NOT_FOUND => ApiError::UnknownRoute(String::new()),
            s if s.is_client_error() => ApiError::bad(
                "invalid-request",
                "the request could not be read as this route takes it",
            ),
            _ => ApiError::Internal("an error answered without a body".into()),
        }
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// One error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, kebab-case: `missing-key`, `invalid-key`, `not-found`, `unknown-route`,
    /// `method-not-allowed`, `invalid-body`, `invalid-query`, `invalid-path`, `id-mismatch`,
    /// `invalid-row`, `too-many-rows`, `invalid-idempotency-key`, `idempotency-key-reused`,
    /// `idempotency-key-in-progress`, `body-too-large`, `unsupported-media-type`, `timeout`,
    /// `not-ready`, `internal`; for delivery `invalid-template`, `invalid-settings`,
    /// `invalid-endpoint`, `endpoint-exists`, `not-retryable`; for policies and sweeps
    /// `policy-rejected`, `policy-in-use`, `no-previous-version`, `invalid-settings`,
    /// `sweep-running`; for outcomes `outcome-does-not-fit`; `rate-limited`, `tenant-exists`.
    pub code: String,
    /// For people.
    pub message: String,
    /// Structured detail, or null.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(cause) = &self {
            let mut chain = cause.to_string();
            let mut source = cause.source();
            while let Some(s) = source {
                chain.push_str(": ");
                chain.push_str(&s.to_string());
                source = s.source();
            }
            tracing::error!(cause = %Escaped(&truncate(&chain, 4096)), "request failed");
        }
        let status = self.status();
        let unauthorized = status == StatusCode::UNAUTHORIZED;
        let retry_after = match &self {
            ApiError::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        };
        let details = match &self {
            ApiError::BadRequest { details, .. } | ApiError::Unprocessable { details, .. } => {
                details.clone()
            }
            _ => serde_json::Value::Null,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: truncate(&self.to_string(), MESSAGE_BYTES).into_owned(),
                details,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if unauthorized {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
            _ => ApiError::bad("invalid-body", rejection.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad("invalid-query", rejection.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        ApiError::for_status(rejection.status())
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad("invalid-path", rejection.body_text())
    }
}

impl From<dunlin_store::StoreError> for ApiError {
    fn from(e: dunlin_store::StoreError) -> Self {
        ApiError::Internal(Box::new(e))
    }
}

impl From<dunlin_import::ImportError> for ApiError {
    fn from(e: dunlin_import::ImportError) -> Self {
        ApiError::Internal(Box::new(e))
    }
}
