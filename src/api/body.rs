//! What every route reads from a request (a JSON body within limits, an Idempotency-Key,
//! an id in the path) and the shared shapes of answers.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::Value;
use uuid::Uuid;

use super::ApiError;

/// Reads a JSON body: 415 unless it says JSON, 413 past `limit`, 400 if it does not parse.
pub async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !(mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let bytes = read_limited(headers, body, limit).await?;
    serde_json::from_slice(&bytes).map_err(|e| ApiError::Malformed(e.to_string()))
}

/// The body's bytes, at most `limit` of them (else 413).
pub async fn read_limited(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok());
    let mut bytes = Vec::with_capacity(declared.unwrap_or(0).min(limit));
    let mut stream = body.into_data_stream();
    let mut seen = 0usize;
    // Past the limit the rest is read and dropped (up to a bound): a client still sending its
    // body when the 413 comes would get a broken pipe instead of the answer.
    let drain = limit.saturating_mul(4).min(16 << 20);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| ApiError::Malformed(format!("reading the body: {e}")))?;
        seen += chunk.len();
        if seen > drain {
            break;
        }
        if seen <= limit && declared.is_none_or(|n| n <= limit) {
            bytes.extend_from_slice(&chunk);
        }
    }
    if seen > limit || declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge { limit });
    }
    Ok(bytes)
}

pub fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(v) = headers.get("idempotency-key") else { return Ok(None) };
    let bad = |m: &str| ApiError::BadHeader { name: "Idempotency-Key", message: m.into() };
    let s = v.to_str().map_err(|_| bad("must be visible ASCII"))?.trim();
    // The IETF draft sends the key as a quoted string; plain tokens are common too.
    let s = s.strip_prefix('"').and_then(|s| s.strip_suffix('"')).unwrap_or(s);
    if s.is_empty() || s.len() > 255 {
        return Err(bad("must be 1 to 255 characters"));
    }
    Ok(Some(s.to_string()))
}

pub fn parse_id(id: &str, what: &str) -> Result<Uuid, ApiError> {
    // A malformed id is an unknown id: no need to tell callers how ids look.
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound(format!("no {what} {id}")))
}

/// `202` with `Location`.
pub fn accepted(location: String, body: impl serde::Serialize) -> Response {
    let mut resp = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// JSON that must not be cached (statuses change; presigned URLs in it are fresh each time).
pub fn no_store(body: impl serde::Serialize) -> Response {
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

pub fn see_other(url: &str) -> Result<Response, ApiError> {
    let loc = HeaderValue::from_str(url).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, loc), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]).into_response())
}

pub fn png(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "image/png")], bytes).into_response()
}

pub fn attachment(content_type: &'static str, filename: &str, bytes: impl IntoResponse) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment"))),
        ],
        bytes,
    )
        .into_response()
}

/// Runs CPU work (charts, scoring) off the async threads.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::Internal(e.to_string()))
}
