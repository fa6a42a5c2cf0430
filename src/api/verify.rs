//! `POST /v1/reports/verify`: the checks `reportq verify` makes on an uploaded `a-3a`/`a-3b`
//! report (its signature when signed, checked with the certificate it carries; embedded request
//! and provenance; TeX's bytes against the recorded SHA-256), without
//! rendering it again: a re-render is the CLI's (`reportq verify --rerender`), as it takes a
//! render slot and seconds.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use axum::response::Response;

use super::ApiError;
use super::body::{blocking, no_store, read_limited};
use crate::domain::ParamError;

/// The largest PDF the route takes: API Gateway hands Lambda a binary body base64-encoded,
/// and Lambda takes 6 MB, so about 4.4 MB of PDF reach it.
pub const MAX_PDF_BYTES: usize = 4 << 20;

/// 200 with each check whether or not they hold (`ok` says which); 400 for a body that is not a
/// PDF sent as one.
pub async fn verify(headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/pdf") {
        return Err(ApiError::Invalid(ParamError::new("body", "send the PDF itself, with Content-Type: application/pdf")));
    }
    let pdf = read_limited(&headers, body, MAX_PDF_BYTES).await?;
    if !pdf.starts_with(b"%PDF-") {
        return Err(ApiError::Invalid(ParamError::new("body", "is not a PDF (it does not start with %PDF-)")));
    }
    let v = blocking(move || crate::verify::verify(&pdf, None)).await?;
    Ok(no_store(v))
}
