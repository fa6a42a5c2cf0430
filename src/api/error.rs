//! The API's one error type, mapped once to a status and the body
//! `{"error": {"code", "message", "field"?, ...}}`.

use crate::access::AccessError;
use crate::domain::ParamError;
use crate::domain::job::JobError;
use crate::queue::QueueError;
use crate::scoring::ScoreError;
use crate::store::StoreError;
use crate::submit::SubmitError;
use crate::wire::{ErrorBody, ErrorDetail, ItemError};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The message alone: the field travels beside it, in `field`.
    #[error("{}", .0.message)]
    Invalid(ParamError),
    #[error("{} of the batch's requests are invalid", .0.len())]
    InvalidBatch(Vec<ItemError>),
    #[error("the body is not valid JSON: {0}")]
    Malformed(String),
    #[error("header {name}: {message}")]
    BadHeader { name: &'static str, message: String },
    #[error("the body is larger than the {limit} bytes this route takes")]
    TooLarge { limit: usize },
    #[error("send the body as JSON, with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("{0}")]
    NotFound(String),
    #[error("this route does not take that method")]
    MethodNotAllowed,
    #[error("the report is not ready: the job is {0}")]
    NotReady(&'static str),
    #[error("the job failed: {}", .0.message)]
    JobFailed(JobError),
    #[error("the report is not ready yet (the job is {status}); send the same request again in {retry_after} seconds to collect it")]
    PdfPending { status: &'static str, retry_after: u64 },
    #[error("reportq is busy: {waiting} reports are waiting on the {lane} queue; try again in {retry_after} seconds")]
    Overloaded { lane: &'static str, waiting: u64, retry_after: u64 },
    #[error("this Idempotency-Key was used for a different request; use a new key for a new request")]
    IdempotencyMismatch,
    #[error("{error}")]
    Score { error: ScoreError, index: Option<usize> },
    #[error("{0}")]
    ScoringUnavailable(String),
    #[error("{0}")]
    Store(#[from] StoreError),
    #[error("{0}")]
    Queue(#[from] QueueError),
    #[error("the manifest of batch {0} is not uploaded yet: PUT it to the batch's upload URL, then start the batch")]
    ManifestMissing(uuid::Uuid),
    #[error("{0}")]
    Internal(String),
    #[error("{0}")]
    Access(AccessError),
}

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::Store(e) => ApiError::Store(e),
            e => ApiError::Access(e),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid(_) | ApiError::InvalidBatch(_) | ApiError::Malformed(_) | ApiError::BadHeader { .. } | ApiError::Score { .. } => {
                StatusCode::BAD_REQUEST
            }
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotReady(_) | ApiError::JobFailed(_) | ApiError::ManifestMissing(_) => StatusCode::CONFLICT,
            ApiError::IdempotencyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::ScoringUnavailable(_) | ApiError::Store(_) | ApiError::Queue(_) | ApiError::PdfPending { .. } | ApiError::Overloaded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            ApiError::Access(AccessError::Forbidden(_)) => StatusCode::FORBIDDEN,
            ApiError::Access(AccessError::QuotaExceeded { .. }) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Access(AccessError::OverQuota { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Access(AccessError::Store(_)) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Access(_) => StatusCode::UNAUTHORIZED,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid(_) => "invalid_request",
            ApiError::InvalidBatch(_) => "invalid_batch",
            ApiError::Malformed(_) => "malformed_json",
            ApiError::BadHeader { .. } => "invalid_header",
            ApiError::TooLarge { .. } => "too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::NotReady(_) => "not_ready",
            ApiError::JobFailed(_) => "job_failed",
            ApiError::PdfPending { .. } => "report_pending",
            ApiError::Overloaded { .. } => "overloaded",
            ApiError::IdempotencyMismatch => "idempotency_key_reused",
            ApiError::Score { .. } => "invalid_model",
            ApiError::ScoringUnavailable(_) => "scoring_unavailable",
            ApiError::Store(_) => "store_unavailable",
            ApiError::Queue(_) => "queue_unavailable",
            ApiError::ManifestMissing(_) => "manifest_not_uploaded",
            ApiError::Internal(_) => "internal",
            ApiError::Access(e) => match e {
                AccessError::Missing | AccessError::NoClaims => "unauthorized",
                AccessError::Invalid => "invalid_key",
                AccessError::Revoked => "key_revoked",
                AccessError::Forbidden(_) => "forbidden",
                AccessError::QuotaExceeded { .. } => "quota_exceeded",
                AccessError::OverQuota { .. } => "over_quota",
                AccessError::Store(_) => "store_unavailable",
            },
        }
    }

    pub fn body(&self) -> ErrorBody {
        // Store and queue errors name buckets, keys and SDK internals: logged, not shown.
        let message = match self {
            ApiError::Store(_) => "the job store is unavailable; try again shortly".to_string(),
            ApiError::Queue(_) => "the job queue is unavailable; try again shortly".to_string(),
            ApiError::Internal(_) => "internal error".to_string(),
            e => e.to_string(),
        };
        let mut err = ErrorDetail { code: self.code().into(), message, ..ErrorDetail::default() };
        match self {
            ApiError::Invalid(p) => err.field = Some(p.field.clone()),
            ApiError::BadHeader { name, .. } => err.field = Some(name.to_string()),
            ApiError::Access(AccessError::Missing | AccessError::Invalid | AccessError::Revoked | AccessError::NoClaims) => {
                err.field = Some("Authorization".into())
            }
            ApiError::InvalidBatch(items) => err.items = Some(items.clone()),
            ApiError::Score { error, index } => {
                err.field = Some(error.field.clone());
                err.model = Some(error.model.clone());
                err.scenario = Some(error.scenario.clone());
                err.index = *index;
            }
            ApiError::JobFailed(e) => err.job_error = Some(e.clone()),
            _ => {}
        }
        ErrorBody { error: err, status: None, job_id: None }
    }
}

impl From<SubmitError> for ApiError {
    fn from(e: SubmitError) -> Self {
        match e {
            SubmitError::Store(e) => ApiError::Store(e),
            SubmitError::Queue(e) => ApiError::Queue(e),
            SubmitError::KeyReused => ApiError::IdempotencyMismatch,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, ApiError::Store(_) | ApiError::Queue(_) | ApiError::Internal(_)) {
            tracing::error!(error = %self, code = self.code(), "request failed");
        }
        let mut resp = (self.status(), axum::Json(self.body())).into_response();
        if matches!(self, ApiError::Store(_) | ApiError::Queue(_)) {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("2"));
        }
        if let ApiError::Overloaded { retry_after, .. } | ApiError::Access(AccessError::QuotaExceeded { retry_after, .. }) = &self {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(*retry_after));
        }
        if resp.status() == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer realm=\"reportq\""));
        }
        resp
    }
}
