//! DiAGRAM's old routes under `/api/`, for its frontend unchanged: an array of model objects
//! is the `diagram` template's `models`, parsed with the same rules as every other route.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::body::{accepted, attachment, blocking, idempotency_key, png, prefers_async, read_json, see_other};
use super::{ApiError, ApiState, Shared};
use crate::domain::ParamError;
use crate::domain::job::{JobError, Status};
use crate::submit::Item;
use crate::template;
use crate::wire::{Alive, Submitted, Valid};

/// The largest PDF answered inline: Lambda's response limit is 6 MB, and base64 adds a third.
const INLINE_PDF_MAX: u64 = 4 << 20;

impl ApiState {
    /// An array of model objects as a `diagram` report request.
    async fn diagram_models(&self, headers: &HeaderMap, body: Body) -> Result<Item, ApiError> {
        let value = read_json(headers, body, self.cfg.max_request_bytes).await?;
        if !value.is_array() {
            return Err(ApiError::Invalid(ParamError::new("", "send an array of model objects")));
        }
        self.item(json!({ "template": "diagram", "params": { "models": value } })).map_err(ApiError::Invalid)
    }
}

/// `/api/model/score`: one model (or an array of one) → scores rounded to 4 decimals, as the
/// old backend gave them.
pub async fn score(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let d = s.scorer()?;
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let score = blocking(move || d.score_value(&value)).await?.map_err(|error| ApiError::Score { error, index: None })?;
    Ok(axum::Json(score.rounded(4)).into_response())
}

pub async fn validate(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    match s.diagram_models(&headers, body).await {
        Ok(_) => Ok(axum::Json(Valid { status: true }).into_response()),
        // The old answer's `status: false` stays in the body for callers that read it.
        Err(e @ ApiError::Invalid(_)) => {
            let mut body = e.body();
            body.status = Some(false);
            Ok((StatusCode::BAD_REQUEST, axum::Json(body)).into_response())
        }
        Err(e) => Err(e),
    }
}

pub async fn csv(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let item = s.diagram_models(&headers, body).await?;
    Ok(attachment("text/csv; charset=UTF-8", &format!("models-{}.csv", template::Date::now().iso()), template::csv(&item.request.params)))
}

pub async fn chart(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let rows: Vec<template::diagram::ScoreRow> = serde_path_to_error::deserialize(value)
        .map_err(|e| ApiError::Invalid(ParamError::new(e.path().to_string().trim_start_matches('.'), e.inner().to_string())))?;
    let bytes = blocking(move || template::diagram::chart_from_rows(&rows)).await?.map_err(ApiError::Invalid)?;
    Ok(png(bytes))
}

/// The old synchronous PDF route, now a queued job like every report: waits for it up to
/// `REPORTQ_PDF_WAIT_SECS` and answers the PDF as before; past that, or when the caller sent
/// `Prefer: respond-async`, answers 202 with the job.
pub async fn pdf(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let item = s.diagram_models(&headers, body).await?;
    let stored = item.body.clone();
    let (mut job, _) = s.submitter.submit(item, &stored, key.as_deref()).await?;
    let location = format!("/v1/reports/{}", job.id);
    if prefers_async(&headers) {
        let mut resp = accepted(location, Submitted::of(&job));
        resp.headers_mut().insert("preference-applied", HeaderValue::from_static("respond-async"));
        return Ok(resp);
    }
    let until = Instant::now() + s.cfg.pdf_wait;
    let mut pause = Duration::from_millis(100);
    loop {
        match job.status {
            Status::Succeeded => {
                let out = job.output.clone().ok_or_else(|| ApiError::Internal("a succeeded job without output".into()))?;
                if out.size > INLINE_PDF_MAX {
                    return see_other(&s.submitter.store.report_url(job.id, s.cfg.url_expiry, &job.filename()).await?.url);
                }
                let bytes = s.submitter.store.report(job.id).await?.ok_or_else(|| ApiError::Internal("report vanished".into()))?;
                return Ok(attachment("application/pdf", &job.filename(), bytes));
            }
            Status::Failed => {
                let e = job.error.clone().unwrap_or(JobError { code: "failed".into(), message: "the job failed".into() });
                let mut body = ApiError::JobFailed(e).body();
                body.job_id = Some(job.id);
                return Ok((StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response());
            }
            _ => {}
        }
        let now = Instant::now();
        if now >= until {
            return Ok(accepted(location, Submitted::of(&job)));
        }
        tokio::time::sleep(pause.min(until - now)).await;
        pause = (pause * 3 / 2).min(Duration::from_millis(500));
        if let Some((j, _)) = s.submitter.store.job(job.id).await? {
            job = j;
        }
    }
}

pub async fn is_alive() -> Response {
    axum::Json(Alive { alive: true }).into_response()
}
