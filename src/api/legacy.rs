//! DiAGRAM's old routes under `/api/`, for its frontend unchanged: an array of model objects
//! is the `diagram` template's `models`, parsed with the same rules as every other route.

use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::body::{attachment, blocking, png, read_json, see_other};
use super::{ApiError, ApiState, Shared};
use crate::domain::ParamError;
use crate::domain::diagram::Model;
use crate::domain::job::{JobError, Lane, Status};
use crate::domain::trace::Trace;
use crate::submit::Item;
use crate::template;
use crate::wire::{Alive, Valid};

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
    let score = blocking(move || d.score_rounded(&Model::parse_one(&value)?, crate::scoring::API_DECIMALS))
        .await?
        .map_err(|error| ApiError::Score { error, index: None })?;
    Ok(axum::Json(score).into_response())
}

/// `/api/validation/validate_json`: the frontend reads `status` and, when it is false, says
/// "Could not extract models from file"; any other status shows an unrelated alert. So an
/// upload that is not a valid models file (invalid, not JSON, too large) answers
/// `200 {"status": false, "error": {...}}`, the reason beside the flag.
pub async fn validate(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    match s.diagram_models(&headers, body).await {
        Ok(_) => Ok(axum::Json(Valid { status: true }).into_response()),
        Err(e @ (ApiError::Invalid(_) | ApiError::Malformed(_) | ApiError::TooLarge { .. })) => {
            let mut body = e.body();
            body.status = Some(false);
            Ok(axum::Json(body).into_response())
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

/// How many times one body may be resubmitted after its job failed for a reason worth
/// retrying (each try is a job of its own, keyed `...-2`, `...-3`).
const PDF_TRIES: u32 = 3;
/// What `Retry-After` says when the PDF is not ready within the wait.
const PDF_RETRY_AFTER_SECS: u64 = 5;

/// The old synchronous PDF route, now a queued job like every report. The frontend saves
/// whatever a 2xx carries as `models-YYYY-MM-DD.pdf`, so this route answers 2xx with the PDF
/// and nothing else: it waits for the job up to `REPORTQ_PDF_WAIT_SECS` (inside API Gateway's
/// 30 s), then answers `503` with `Retry-After` and the job id.
///
/// The frontend sends no Idempotency-Key, so one is made from the body and the day (the
/// report's date is part of it): the user's retry of the same export joins the job already
/// running and collects its PDF, instead of queueing another render.
pub async fn pdf(State(s): State<Shared>, Extension(trace): Extension<Trace>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let item = s.diagram_models(&headers, body).await?;
    let stored = item.body.clone();
    s.admit(Lane::Interactive, 1).await?;
    // Under a backlog the job is queued (a retry of the same body joins it) but this function
    // is not held waiting for it: many waiting PDF requests would take the API's concurrency.
    let wait = if s.backlog(Lane::Interactive).await > s.cfg.pdf_wait_backlog { Duration::ZERO } else { s.cfg.pdf_wait };
    let base_key = format!("api-report-pdf-{}-{}", template::Date::now().iso(), crate::submit::fingerprint(&stored));
    let mut job = None;
    for n in 1..=PDF_TRIES {
        let key = if n == 1 { base_key.clone() } else { format!("{base_key}-{n}") };
        let again = Item { body: item.body.clone(), request: item.request.clone(), trace: Some(trace), callback: None };
        let (j, created) = s.submitter.submit(again, &stored, Some(&key), Lane::Interactive).await?;
        if created {
            s.sent(Lane::Interactive, 1);
        }
        // A job that ended for a passing reason (never queued, retries used up) would answer
        // every retry with that failure: the next try is a new job.
        let retry = j.status == Status::Failed && j.error.as_ref().is_some_and(JobError::is_transient);
        job = Some(j);
        if !retry {
            break;
        }
    }
    let mut job = job.expect("PDF_TRIES >= 1");
    let until = Instant::now() + wait;
    let mut pause = Duration::from_millis(100);
    loop {
        match job.status {
            Status::Succeeded => {
                let out = job.output.clone().ok_or_else(|| ApiError::Internal("a succeeded job without output".into()))?;
                if out.size > s.cfg.inline_pdf_max {
                    // Too large for API Gateway's answer: the browser follows the redirect to
                    // S3 (the bucket's CORS rules let it read the PDF there).
                    return see_other(&s.links.url(&job).await?);
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
            let mut body = ApiError::PdfPending { status: job.status.as_str(), retry_after: PDF_RETRY_AFTER_SECS }.body();
            body.job_id = Some(job.id);
            let mut resp = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(PDF_RETRY_AFTER_SECS));
            resp.headers_mut().insert(header::LOCATION, HeaderValue::from_str(&format!("/v1/reports/{}", job.id)).expect("ascii"));
            return Ok(resp);
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
