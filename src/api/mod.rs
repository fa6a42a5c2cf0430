//! The HTTP API: one axum router, served by `lambda_http` behind API Gateway (HTTP API,
//! payload v2) and by hyper for `reportq serve`.
//!
//! Every route is listed once in [`ROUTES`]; the router is built from that table and
//! `openapi.json` describes the same table (a test holds the two together).

mod error;
pub mod openapi;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

pub use error::{ApiError, ItemError};

use crate::config::{MAX_BATCH, PipelineConfig};
use crate::job::{Batch, Job, Jobs, Status, batch_key, now_epoch, rfc3339};
use crate::queue::{JobMessage, Queue};
use crate::request::{ParamError, ReportRequest};
use crate::scoring::Diagram;
use crate::store::Put;
use crate::template;

/// What the scoring routes answer with, when they can.
pub type Scorer = Result<Diagram, String>;

/// Everything a request handler needs; shared by all requests.
pub struct ApiState {
    pub jobs: Jobs,
    pub queue: Queue,
    pub cfg: PipelineConfig,
    pub scorer: Scorer,
}

type Shared = Arc<ApiState>;

/// Loads the DiAGRAM network named by the config. A missing setting or a bad file is not fatal
/// to the API: the scoring routes answer 503 saying what to fix, the report routes carry on.
pub fn load_scorer(cfg: &PipelineConfig) -> Scorer {
    let Some(path) = &cfg.diagram_model else {
        return Err(crate::scoring::NOT_CONFIGURED.into());
    };
    Diagram::load(path).map_err(|e| format!("the DiAGRAM network at REPORTQ_DIAGRAM_MODEL could not be loaded: {e}"))
}

/// One route: the router and the OpenAPI document are both made from this table.
pub struct Route {
    pub method: Method,
    pub path: &'static str,
}

macro_rules! routes {
    ($($m:ident $p:literal => $h:expr;)*) => {
        /// Every route the API serves.
        pub fn routes() -> Vec<Route> {
            vec![$(Route { method: Method::$m, path: $p }),*]
        }

        fn build(router: Router<Shared>) -> Router<Shared> {
            let mut by_path: Vec<(&'static str, MethodRouter<Shared>)> = Vec::new();
            $(
                let mr = routes!(@method $m, $h);
                match by_path.iter_mut().find(|(p, _)| *p == $p) {
                    Some((_, existing)) => *existing = std::mem::take(existing).merge(mr),
                    None => by_path.push(($p, mr)),
                }
            )*
            by_path.into_iter().fold(router, |r, (p, mr)| r.route(p, mr))
        }
    };
    (@method GET, $h:expr) => { get($h) };
    (@method POST, $h:expr) => { post($h) };
}

routes! {
    POST "/v1/reports" => submit;
    POST "/v1/reports/batch" => submit_batch;
    POST "/v1/reports/chart" => chart;
    POST "/v1/reports/csv" => csv;
    GET "/v1/reports/{id}" => get_job;
    GET "/v1/reports/{id}/pdf" => get_pdf;
    GET "/v1/batches/{id}" => get_batch;
    POST "/v1/score" => score_many;
    POST "/v1/score/improvements" => improvements;
    POST "/api/model/score" => diagram_score;
    POST "/api/validation/validate_json" => diagram_validate;
    POST "/api/report/pdf" => diagram_pdf;
    POST "/api/report/csv" => diagram_csv;
    POST "/api/chart/plot" => diagram_chart;
    GET "/api/test/is_alive" => is_alive;
    POST "/api/test/is_alive" => is_alive;
    GET "/healthz" => healthz;
    GET "/openapi.json" => openapi_doc;
}

/// The API as a router, with CORS for the configured origins.
pub fn router(state: Arc<ApiState>) -> Router {
    let cors = cors(&state.cfg.cors_origins);
    build(Router::new())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::map_response(json_rejections))
        .layer(cors)
        .with_state(state)
}

/// axum's own extractor rejections (a malformed query string or path) answer in plain text;
/// every error this API gives is `{"error": {...}}`, so those are rewrapped here, once.
async fn json_rejections(resp: Response) -> Response {
    let plain = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/plain"));
    if !(resp.status().is_client_error() && plain) {
        return resp;
    }
    let status = resp.status();
    let text = axum::body::to_bytes(resp.into_body(), 64 * 1024).await.unwrap_or_default();
    let body = json!({ "error": { "code": "bad_request", "message": String::from_utf8_lossy(&text) } });
    (status, axum::Json(body)).into_response()
}

fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allow = if origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()))
    };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::CONTENT_TYPE, header::HeaderName::from_static("idempotency-key"), header::HeaderName::from_static("prefer")])
        .expose_headers([header::LOCATION, header::CONTENT_DISPOSITION, header::HeaderName::from_static("preference-applied")])
        .max_age(Duration::from_secs(600))
}

// ---------------------------------------------------------------------------------------------
// Request bodies

/// Reads a JSON body: 415 unless it says JSON, 413 past `limit`, 400 if it does not parse.
async fn read_json(headers: &HeaderMap, body: Body, limit: usize) -> Result<Value, ApiError> {
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if !(mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))) {
        return Err(ApiError::UnsupportedMediaType);
    }
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
    serde_json::from_slice(&bytes).map_err(|e| ApiError::Malformed(e.to_string()))
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
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

/// A record of an Idempotency-Key: what it created, and a fingerprint of the request that did.
#[derive(Serialize, Deserialize)]
struct IdempotencyRecord {
    id: Uuid,
    fingerprint: String,
}

fn fingerprint(v: &Value) -> String {
    hex::encode(Sha256::digest(serde_json::to_vec(v).expect("serialises")))
}

fn idempotency_object(kind: &str, key: &str) -> String {
    format!("idempotency/{kind}/{}.json", hex::encode(Sha256::digest(key.as_bytes())))
}

/// Claims an Idempotency-Key for `new_id`. `Ok(None)`: first use, go ahead with `new_id`;
/// `Ok(Some(id))`: a retry of the request that created `id`.
async fn claim_key(s: &ApiState, kind: &str, key: &str, body: &Value, new_id: Uuid) -> Result<Option<Uuid>, ApiError> {
    let obj = idempotency_object(kind, key);
    let rec = IdempotencyRecord { id: new_id, fingerprint: fingerprint(body) };
    match s.jobs.store.put_json_if(&obj, &rec, None).await? {
        Put::Written(_) => Ok(None),
        Put::Conflict => {
            let (old, _) = s
                .jobs
                .store
                .get_json::<IdempotencyRecord>(&obj)
                .await?
                .ok_or_else(|| ApiError::Internal(format!("{obj} vanished")))?;
            if old.fingerprint != rec.fingerprint {
                return Err(ApiError::IdempotencyMismatch);
            }
            Ok(Some(old.id))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Views

fn job_links(id: Uuid) -> Value {
    json!({ "self": format!("/v1/reports/{id}"), "pdf": format!("/v1/reports/{id}/pdf") })
}

/// A job as the API shows it; `result` (a fresh presigned URL) only when it succeeded.
async fn job_view(s: &ApiState, job: &Job) -> Result<Value, ApiError> {
    let mut v = json!({
        "job_id": job.id,
        "status": job.status,
        "template": job.template,
        "created_at": rfc3339(job.created_at_epoch),
        "updated_at": rfc3339(job.updated_at_epoch),
        "attempts": job.attempts,
        "links": job_links(job.id),
    });
    if let Some(b) = job.batch_id {
        v["batch_id"] = json!(b);
    }
    if let Some(t) = job.started_at_epoch {
        v["started_at"] = json!(rfc3339(t));
    }
    if let Some(t) = job.finished_at_epoch {
        v["finished_at"] = json!(rfc3339(t));
    }
    if let Some(e) = &job.error {
        v["error"] = json!(e);
    }
    if let (Status::Succeeded, Some(out)) = (job.status, &job.output) {
        let filename = job.filename();
        let p = s.jobs.store.presign_get(&out.key, s.cfg.url_expiry, &filename, "application/pdf").await?;
        let expires = p.expires_at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
        v["result"] = json!({
            "url": p.url,
            "expires_at": rfc3339(expires),
            "filename": filename,
            "size": out.size,
            "sha256": out.sha256,
            "content_type": "application/pdf",
        });
    }
    Ok(v)
}

fn accepted(location: String, body: Value) -> Response {
    let mut resp = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

fn parse_id(id: &str, what: &str) -> Result<Uuid, ApiError> {
    // A malformed id is an unknown id: no need to tell callers how ids look.
    Uuid::parse_str(id).map_err(|_| ApiError::NotFound(format!("no {what} {id}")))
}

// ---------------------------------------------------------------------------------------------
// Reports

/// Stores a validated request as a job and enqueues it. With an Idempotency-Key, a retry of
/// the same request returns the job the first try made (and re-sends its message if it is
/// still queued, in case the first try died before sending it: duplicates are harmless).
async fn submit_job(s: &ApiState, body: Value, req: &ReportRequest, key: Option<String>) -> Result<(Job, bool), ApiError> {
    let mut id = Uuid::new_v4();
    if let Some(key) = &key {
        if let Some(old) = claim_key(s, "job", key, &body, id).await? {
            id = old;
            if let Some((job, _)) = s.jobs.get(id).await? {
                if job.status == Status::Queued {
                    s.queue.send(&JobMessage { job_id: id }).await?;
                }
                return Ok((job, false));
            }
        }
    }
    let job = Job::new(id, None, req.template_name(), body, now_epoch());
    s.jobs.create(&job).await?;
    if let Err(e) = s.queue.send(&JobMessage { job_id: id }).await {
        if key.is_none() {
            // Nobody can retry this job into the queue: say so rather than leave it queued.
            let (cur, etag) = s.jobs.get(id).await?.ok_or_else(|| ApiError::Internal("job vanished".into()))?;
            let failed = cur.failed(
                now_epoch(),
                crate::job::JobError { code: "enqueue_failed".into(), message: "the job could not be queued; submit it again".into() },
            );
            let _ = s.jobs.replace(&failed, &etag).await;
        }
        return Err(e.into());
    }
    Ok((job, true))
}

fn submitted_body(job: &Job) -> Value {
    json!({
        "job_id": job.id,
        "status": job.status,
        "created_at": rfc3339(job.created_at_epoch),
        "links": job_links(job.id),
    })
}

async fn submit(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let req = ReportRequest::from_value(value.clone()).map_err(ApiError::Invalid)?;
    let (job, _) = submit_job(&s, value, &req, key).await?;
    Ok(accepted(format!("/v1/reports/{}", job.id), submitted_body(&job)))
}

async fn submit_batch(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let value = read_json(&headers, body, s.cfg.max_batch_bytes).await?;
    let items = match &value {
        Value::Array(a) => a.clone(),
        Value::Object(o) => match o.get("requests") {
            Some(Value::Array(a)) if o.len() == 1 => a.clone(),
            _ => return Err(ApiError::Invalid(ParamError::new("requests", "send {\"requests\": [request, ...]}"))),
        },
        _ => return Err(ApiError::Invalid(ParamError::new("requests", "send {\"requests\": [request, ...]}"))),
    };
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::Invalid(ParamError::new(
            "requests",
            format!("holds {} requests; a batch takes 1 to {MAX_BATCH}", items.len()),
        )));
    }
    // Everything is validated before anything is stored or sent.
    let mut reqs = Vec::with_capacity(items.len());
    let mut bad = Vec::new();
    for (index, item) in items.iter().enumerate() {
        match ReportRequest::from_value(item.clone()) {
            Ok(r) => reqs.push(r),
            Err(e) => bad.push(ItemError { index, field: e.field, message: e.message }),
        }
    }
    if !bad.is_empty() {
        return Err(ApiError::InvalidBatch(bad));
    }

    let mut batch_id = Uuid::new_v4();
    let mut replay = false;
    if let Some(key) = &key {
        if let Some(old) = claim_key(&s, "batch", key, &value, batch_id).await? {
            batch_id = old;
            replay = true;
        }
    }
    let batch = match s.jobs.store.get_json::<Batch>(&batch_key(batch_id)).await? {
        Some((b, _)) if replay => b,
        _ => {
            let b = Batch { id: batch_id, created_at_epoch: now_epoch(), job_ids: (0..items.len()).map(|_| Uuid::new_v4()).collect() };
            // The batch record first: it holds the job ids, so a retry finishes the same jobs.
            s.jobs.store.put_json_if(&batch_key(batch_id), &b, None).await?;
            b
        }
    };
    let now = batch.created_at_epoch;
    // Owned inputs: a stream of futures borrowing locals is not provably Send across an await.
    let new_jobs: Vec<Job> = batch
        .job_ids
        .iter()
        .zip(items)
        .zip(&reqs)
        .map(|((id, item), req)| Job::new(*id, Some(batch_id), req.template_name(), item, now))
        .collect();
    let created: Vec<Result<bool, _>> = futures::stream::iter(new_jobs)
        .map(|job| {
            let jobs = s.jobs.clone();
            async move { jobs.create(&job).await }
        })
        .buffered(32)
        .collect()
        .await;
    for r in created {
        r?;
    }
    let to_send: Vec<JobMessage> = if replay {
        let moved = s.jobs.batch_statuses(batch_id).await?;
        batch.job_ids.iter().filter(|id| !moved.contains_key(id)).map(|&job_id| JobMessage { job_id }).collect()
    } else {
        batch.job_ids.iter().map(|&job_id| JobMessage { job_id }).collect()
    };
    s.queue.send_all(&to_send).await?;
    let body = json!({
        "batch_id": batch_id,
        "count": batch.job_ids.len(),
        "job_ids": batch.job_ids,
        "created_at": rfc3339(now),
        "links": { "self": format!("/v1/batches/{batch_id}") },
    });
    Ok(accepted(format!("/v1/batches/{batch_id}"), body))
}

async fn get_job(State(s): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_id(&id, "job")?;
    let (job, _) = s.jobs.get(id).await?.ok_or_else(|| ApiError::NotFound(format!("no job {id}")))?;
    let mut resp = axum::Json(job_view(&s, &job).await?).into_response();
    // Status changes; the presigned URL in it is fresh each time.
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

async fn get_pdf(State(s): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_id(&id, "job")?;
    let (job, _) = s.jobs.get(id).await?.ok_or_else(|| ApiError::NotFound(format!("no job {id}")))?;
    match (job.status, &job.output) {
        (Status::Succeeded, Some(out)) => {
            let p = s.jobs.store.presign_get(&out.key, s.cfg.url_expiry, &job.filename(), "application/pdf").await?;
            see_other(&p.url)
        }
        (Status::Failed, _) => Err(ApiError::JobFailed(job.error.clone().unwrap_or(crate::job::JobError {
            code: "failed".into(),
            message: "the job failed".into(),
        }))),
        (st, _) => Err(ApiError::NotReady(st.as_str())),
    }
}

fn see_other(url: &str) -> Result<Response, ApiError> {
    let loc = HeaderValue::from_str(url).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, loc), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]).into_response())
}

#[derive(Deserialize)]
struct Page {
    cursor: Option<String>,
    limit: Option<usize>,
}

async fn get_batch(State(s): State<Shared>, Path(id): Path<String>, Query(page): Query<Page>) -> Result<Response, ApiError> {
    let id = parse_id(&id, "batch")?;
    let (batch, _) = s.jobs.store.get_json::<Batch>(&batch_key(id)).await?.ok_or_else(|| ApiError::NotFound(format!("no batch {id}")))?;
    // One listing of the markers, not one read per job.
    let moved = s.jobs.batch_statuses(id).await?;
    let status_of = |j: &Uuid| moved.get(j).copied().unwrap_or(Status::Queued);
    let mut counts = serde_json::Map::new();
    for st in Status::ALL {
        counts.insert(st.as_str().into(), json!(batch.job_ids.iter().filter(|j| status_of(j) == st).count()));
    }
    let start: usize = match page.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse().map_err(|_| ApiError::Invalid(ParamError::new("cursor", "not a cursor this API gave out")))?,
    };
    let limit = page.limit.unwrap_or(100).clamp(1, 1000);
    let end = (start + limit).min(batch.job_ids.len());
    let jobs: Vec<Value> = batch.job_ids.get(start.min(end)..end).unwrap_or_default()
        .iter()
        .map(|j| json!({ "job_id": j, "status": status_of(j), "links": job_links(*j) }))
        .collect();
    let done = batch.job_ids.iter().all(|j| status_of(j).is_final());
    let body = json!({
        "batch_id": id,
        "created_at": rfc3339(batch.created_at_epoch),
        "total": batch.job_ids.len(),
        "done": done,
        "counts": counts,
        "jobs": jobs,
        "next_cursor": if end < batch.job_ids.len() { json!(end.to_string()) } else { Value::Null },
    });
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(resp)
}

// ---------------------------------------------------------------------------------------------
// Synchronous outputs

fn png(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "image/png")], bytes).into_response()
}

fn csv_response(text: String, filename: &str) -> Response {
    let disposition = format!("attachment; filename=\"{filename}\"");
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=UTF-8")),
            (header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).expect("ascii")),
        ],
        text,
    )
        .into_response()
}

async fn chart(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let req = ReportRequest::from_value(value).map_err(ApiError::Invalid)?;
    let bytes = tokio::task::spawn_blocking(move || template::chart_png(&req.params))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|e| ApiError::Internal(format!("chart: {e}")))?;
    Ok(png(bytes))
}

async fn csv(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let req = ReportRequest::from_value(value).map_err(ApiError::Invalid)?;
    let name = format!("{}-{}.csv", req.template_name(), template::Date::now().iso());
    Ok(csv_response(template::csv(&req.params), &name))
}

// ---------------------------------------------------------------------------------------------
// Scoring

fn scorer(s: &ApiState) -> Result<Diagram, ApiError> {
    s.scorer.clone().map_err(ApiError::ScoringUnavailable)
}

async fn diagram_score(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let d = scorer(&s)?;
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let score = tokio::task::spawn_blocking(move || d.score(&value))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|error| ApiError::Score { error, index: None })?;
    // The old backend rounded every number to 4 decimals; its frontend is used to that.
    Ok(axum::Json(score.rounded(4)).into_response())
}

async fn score_many(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let d = scorer(&s)?;
    let value = read_json(&headers, body, s.cfg.max_batch_bytes).await?;
    let Value::Array(models) = value else {
        return Err(ApiError::Invalid(ParamError::new("", "send an array of model objects")));
    };
    if models.is_empty() || models.len() > MAX_BATCH {
        return Err(ApiError::Invalid(ParamError::new("", format!("send 1 to {MAX_BATCH} model objects"))));
    }
    let scores = tokio::task::spawn_blocking(move || {
        models
            .iter()
            .enumerate()
            // An array of one is a model to `score`, so each model is passed alone.
            .map(|(i, m)| d.score(m).map_err(|error| ApiError::Score { error, index: Some(i) }))
            .collect::<Result<Vec<_>, _>>()
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))??;
    Ok(axum::Json(scores).into_response())
}

async fn improvements(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let d = scorer(&s)?;
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let list = tokio::task::spawn_blocking(move || d.improvements(&value))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(|error| ApiError::Score { error, index: None })?;
    let ranked: Vec<Value> = list
        .iter()
        .enumerate()
        .map(|(i, imp)| {
            let mut v = serde_json::to_value(imp).expect("serialises");
            v["rank"] = json!(i + 1);
            v["total_gain"] = json!(imp.total_gain());
            v
        })
        .collect();
    Ok(axum::Json(json!({ "improvements": ranked })).into_response())
}

// ---------------------------------------------------------------------------------------------
// DiAGRAM's old routes: an array of model objects is the `diagram` template's `models`.

async fn diagram_models(s: &ApiState, headers: &HeaderMap, body: Body) -> Result<(Value, ReportRequest), ApiError> {
    let value = read_json(headers, body, s.cfg.max_request_bytes).await?;
    if !value.is_array() {
        return Err(ApiError::Invalid(ParamError::new("", "send an array of model objects")));
    }
    let request = json!({ "template": "diagram", "params": { "models": value } });
    let req = ReportRequest::from_value(request.clone()).map_err(ApiError::Invalid)?;
    Ok((request, req))
}

async fn diagram_validate(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    match diagram_models(&s, &headers, body).await {
        Ok(_) => Ok(axum::Json(json!({ "status": true })).into_response()),
        // The old answer's `status: false` stays in the body for callers that read it.
        Err(ApiError::Invalid(p)) => {
            let mut body = ApiError::Invalid(p).body();
            body["status"] = json!(false);
            Ok((StatusCode::BAD_REQUEST, axum::Json(body)).into_response())
        }
        Err(e) => Err(e),
    }
}

async fn diagram_csv(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let (_, req) = diagram_models(&s, &headers, body).await?;
    Ok(csv_response(template::csv(&req.params), &format!("models-{}.csv", template::Date::now().iso())))
}

async fn diagram_chart(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let rows: Vec<template::diagram::ScoreRow> = serde_path_to_error::deserialize(value)
        .map_err(|e| ApiError::Invalid(ParamError::new(e.path().to_string().trim_start_matches('.'), e.inner().to_string())))?;
    let bytes = tokio::task::spawn_blocking(move || template::diagram::chart_from_rows(&rows))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::Invalid)?;
    Ok(png(bytes))
}

/// The largest PDF answered inline: Lambda's response limit is 6 MB, and base64 adds a third.
const INLINE_PDF_MAX: u64 = 4 << 20;

/// The old synchronous PDF route, now a queued job like every report: waits for it up to
/// `REPORTQ_PDF_WAIT_SECS` and answers the PDF as before; past that, or when the caller sent
/// `Prefer: respond-async`, answers 202 with the job.
async fn diagram_pdf(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let (request, req) = diagram_models(&s, &headers, body).await?;
    let (job, _) = submit_job(&s, request, &req, key).await?;
    let respond_async = headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("respond-async"));
    let location = format!("/v1/reports/{}", job.id);
    if respond_async {
        let mut resp = accepted(location, submitted_body(&job));
        resp.headers_mut().insert("preference-applied", HeaderValue::from_static("respond-async"));
        return Ok(resp);
    }
    let until = Instant::now() + s.cfg.pdf_wait;
    let mut pause = Duration::from_millis(100);
    let mut job = job;
    loop {
        match (job.status, &job.output) {
            (Status::Succeeded, Some(out)) => {
                if out.size > INLINE_PDF_MAX {
                    let p = s.jobs.store.presign_get(&out.key, s.cfg.url_expiry, &job.filename(), "application/pdf").await?;
                    return see_other(&p.url);
                }
                let obj = s.jobs.store.get(&out.key).await?.ok_or_else(|| ApiError::Internal("report vanished".into()))?;
                let disposition = format!("attachment; filename=\"{}\"", job.filename());
                return Ok((
                    [
                        (header::CONTENT_TYPE, HeaderValue::from_static("application/pdf")),
                        (header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).expect("ascii")),
                    ],
                    obj.bytes,
                )
                    .into_response());
            }
            (Status::Failed, _) => {
                let e = job.error.clone().unwrap_or(crate::job::JobError { code: "failed".into(), message: "the job failed".into() });
                let mut body = ApiError::JobFailed(e).body();
                body["job_id"] = json!(job.id);
                return Ok((StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response());
            }
            _ => {}
        }
        let now = Instant::now();
        if now >= until {
            return Ok(accepted(location, submitted_body(&job)));
        }
        tokio::time::sleep(pause.min(until - now)).await;
        pause = (pause * 3 / 2).min(Duration::from_millis(500));
        if let Some((j, _)) = s.jobs.get(job.id).await? {
            job = j;
        }
    }
}

async fn is_alive() -> Response {
    axum::Json(json!({ "alive": true })).into_response()
}

async fn healthz(State(s): State<Shared>) -> Response {
    axum::Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "scoring": s.scorer.is_ok(),
    }))
    .into_response()
}

async fn openapi_doc() -> Response {
    axum::Json(openapi::document()).into_response()
}

impl ApiState {
    /// The API's state from the environment: AWS clients, bucket, queue, DiAGRAM network.
    pub async fn from_env() -> Result<ApiState, String> {
        let cfg = PipelineConfig::from_env()?;
        let (s3, sqs) = crate::aws::clients().await;
        Ok(Self::new(cfg.clone(), s3, sqs)?)
    }

    pub fn new(cfg: PipelineConfig, s3: aws_sdk_s3::Client, sqs: aws_sdk_sqs::Client) -> Result<ApiState, String> {
        let queue = Queue::new(sqs, cfg.queue_url()?);
        let jobs = Jobs::new(crate::store::Store::new(s3, cfg.bucket.clone()));
        let scorer = load_scorer(&cfg);
        if let Err(e) = &scorer {
            eprintln!("api: scoring routes disabled: {e}");
        }
        Ok(ApiState { jobs, queue, cfg, scorer })
    }
}

/// `reportq serve`: the same router over plain HTTP, until `stop` resolves.
pub async fn serve(state: ApiState, listener: tokio::net::TcpListener, stop: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    axum::serve(listener, router(Arc::new(state))).with_graceful_shutdown(stop).await
}
