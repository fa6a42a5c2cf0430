//! `POST /v1/batches` and `POST /v1/batches/{id}/start`: a bulk run from a JSONL manifest
//! (up to [`MAX_LINES`] requests) uploaded straight to S3 with a presigned PUT, then fanned
//! out by the worker side ([`crate::fanout`]); never by an API invocation, which only checks
//! the upload and sends one message.
//!
//! The quota is charged for the declared lines when the batch is made (as a batch of that
//! many requests would be); admission control is the API's at start (the backlog must have
//! room) and the fan-out's per chunk afterwards.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::body::{accepted, idempotency_key, parse_id, read_json};
use super::{ApiError, Shared};
use crate::domain::ParamError;
use crate::domain::access::Caller;
use crate::domain::job::rfc3339;
use crate::domain::manifest::{CHUNK_LINES, MAX_BYTES, MAX_LINES};
use crate::domain::webhook::Callback;
use crate::fanout::FanoutMessage;
use crate::submit::NewBatch;
use crate::wire::{ManifestCreated, ManifestLinks, Upload};

/// How long the upload URL works.
const UPLOAD_EXPIRY: Duration = Duration::from_secs(3600);

/// `{"manifest": {"lines": N}, "callback"?: {...}}`, nothing else.
fn parse(value: Value) -> Result<(u32, Option<Callback>), ApiError> {
    let invalid = |field: &str, message: String| ApiError::Invalid(ParamError::new(field, message));
    let Value::Object(mut o) = value else { return Err(invalid("manifest", "send {\"manifest\": {\"lines\": N}}".into())) };
    let callback = o.remove("callback").map(|v| Callback::parse(&v, "callback")).transpose().map_err(ApiError::Invalid)?;
    let manifest = o.remove("manifest").ok_or_else(|| invalid("manifest", "send {\"manifest\": {\"lines\": N}}".into()))?;
    if let Some(k) = o.keys().next() {
        return Err(invalid(k, "not a field of a manifest batch (manifest, callback)".into()));
    }
    let Value::Object(mut m) = manifest else { return Err(invalid("manifest", "an object: {\"lines\": N}".into())) };
    let lines = m.remove("lines").ok_or_else(|| invalid("manifest.lines", "how many lines the file holds".into()))?;
    if let Some(k) = m.keys().next() {
        return Err(invalid(&format!("manifest.{k}"), "not a field of a manifest (lines)".into()));
    }
    match lines.as_u64() {
        Some(n @ 1..) if n <= u64::from(MAX_LINES) => Ok((n as u32, callback)),
        _ => Err(invalid("manifest.lines", format!("is {lines}; a manifest holds 1 to {MAX_LINES} lines"))),
    }
}

pub async fn create(State(s): State<Shared>, Extension(caller): Extension<Caller>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let value = read_json(&headers, body, 64 << 10).await?;
    let fingerprint = crate::submit::fingerprint(&value);
    let (lines, callback) = parse(value)?;
    let named = callback.iter().map(|cb| (cb, "callback".to_string()));
    let callbacks = s.plan_callbacks(named)?;
    let idem = key.as_deref().map(|k| (crate::store::IdempotencyScope::Batch, k));
    let new = NewBatch { fingerprint, key: key.as_deref(), caller: &caller, callback };
    let batch = s
        .charged(&caller, u64::from(lines), idem, async {
            s.check_callbacks(&callbacks).await?;
            s.submitter.create_manifest(lines, new).await.map_err(ApiError::from)
        })
        .await?;
    let upload = s.submitter.store.manifest_upload_url(batch.id, UPLOAD_EXPIRY).await?;
    let expires = upload.expires_at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let this = format!("/v1/batches/{}", batch.id);
    let created = ManifestCreated {
        batch_id: batch.id,
        lines: batch.manifest.as_ref().map_or(lines, |m| m.lines),
        created_at: rfc3339(batch.created_at_epoch),
        upload: Upload { method: "PUT".into(), url: upload.url, expires_at: rfc3339(expires), max_bytes: MAX_BYTES },
        links: ManifestLinks { start: format!("{this}/start"), this: this.clone() },
    };
    let mut resp = (StatusCode::CREATED, axum::Json(created)).into_response();
    if let Ok(v) = HeaderValue::from_str(&this) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// Checks the upload and hands the batch to the fan-out. Starting twice is harmless (one
/// fan-out holds the lease; a finished one does nothing).
pub async fn start(State(s): State<Shared>, Extension(caller): Extension<Caller>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_id(&id, "batch")?;
    let store = &s.submitter.store;
    let missing = || ApiError::NotFound(format!("no manifest batch {id}"));
    let batch = store.batch(id).await?.filter(|b| b.manifest.is_some()).ok_or_else(missing)?;
    if !caller.may_read(batch.owner.as_deref()) {
        return Err(missing());
    }
    match store.manifest_size(id).await? {
        None | Some(0) => return Err(ApiError::ManifestMissing(id)),
        Some(n) if n > MAX_BYTES => return Err(ApiError::TooLarge { limit: MAX_BYTES as usize }),
        Some(_) => {}
    }
    // The backlog must have room for the first chunk; the fan-out checks before each one.
    s.admit(crate::queue::Lane::Bulk, u64::from(CHUNK_LINES)).await?;
    s.submitter.queue.send_raw(&FanoutMessage { fanout: id }.body(), Duration::ZERO).await?;
    tracing::info!(batch_id = %id, "manifest fan-out started");
    Ok(accepted(format!("/v1/batches/{id}"), serde_json::json!({ "batch_id": id, "links": { "self": format!("/v1/batches/{id}") } })))
}
