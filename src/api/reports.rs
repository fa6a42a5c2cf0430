//! `/v1/reports`: submit one report, read a job, download its PDF, and the request's chart and
//! CSV at once.

use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;
use uuid::Uuid;

use super::body::{accepted, attachment, blocking, idempotency_key, no_store, parse_id, png, read_json, see_other};
use super::{ApiError, ApiState, Shared};
use crate::domain::ParamError;
use crate::domain::job::{Job, JobError, Lane, Status, rfc3339};
use crate::domain::trace::Trace;
use crate::request::ReportRequest;
use crate::submit::Item;
use crate::template;
use crate::wire::{JobResult, JobView, Submitted};

impl ApiState {
    /// Parses a request with this API's rules (its network, if any) into what is stored.
    pub fn item(&self, mut body: Value) -> Result<Item, crate::domain::ParamError> {
        let request = ReportRequest::parse(&body, self.scorer.as_deref().ok())?;
        request.normalise(&mut body);
        Ok(Item { body, request, trace: None })
    }

    pub async fn job(&self, id: Uuid) -> Result<Job, ApiError> {
        Ok(self.submitter.store.job(id).await?.ok_or_else(|| ApiError::NotFound(format!("no job {id}")))?.0)
    }

    /// A job as the API shows it; `result` (a fresh presigned URL) only when it succeeded.
    pub async fn view(&self, job: &Job) -> Result<JobView, ApiError> {
        let mut v = JobView::of(job);
        if let (Status::Succeeded, Some(out)) = (job.status, &job.output) {
            let filename = job.filename();
            let p = self.submitter.store.report_url(job.id, self.cfg.url_expiry, &filename).await?;
            let expires = p.expires_at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
            v.result = Some(JobResult {
                url: p.url,
                expires_at: rfc3339(expires),
                filename,
                size: out.size,
                sha256: out.sha256.clone(),
                content_type: "application/pdf".into(),
            });
        }
        Ok(v)
    }
}

pub async fn submit(State(s): State<Shared>, Extension(trace): Extension<Trace>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let mut item = s.item(value.clone()).map_err(ApiError::Invalid)?;
    item.trace = Some(trace);
    s.admit(Lane::Interactive, 1).await?;
    let (job, created) = s.submitter.submit(item, &value, key.as_deref(), Lane::Interactive).await?;
    if created {
        s.sent(Lane::Interactive, 1);
    }
    Ok(accepted(format!("/v1/reports/{}", job.id), Submitted::of(&job)))
}

pub async fn get_job(State(s): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = s.job(parse_id(&id, "job")?).await?;
    Ok(no_store(s.view(&job).await?))
}

pub async fn get_pdf(State(s): State<Shared>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = s.job(parse_id(&id, "job")?).await?;
    match job.status {
        Status::Succeeded => see_other(&s.submitter.store.report_url(job.id, s.cfg.url_expiry, &job.filename()).await?.url),
        Status::Failed => Err(ApiError::JobFailed(job.error.clone().unwrap_or(JobError { code: "failed".into(), message: "the job failed".into() }))),
        st => Err(ApiError::NotReady(st.as_str())),
    }
}

pub async fn chart(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let item = s.item(value).map_err(ApiError::Invalid)?;
    let bytes = blocking(move || template::chart_png(&item.request.params)).await?.map_err(|e| match e {
        crate::chart::ChartError::NoChart => ApiError::Invalid(ParamError::new("params.sections", e.to_string())),
        e => ApiError::Internal(format!("chart: {e}")),
    })?;
    Ok(png(bytes))
}

pub async fn csv(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let item = s.item(value).map_err(ApiError::Invalid)?;
    let name = format!("{}-{}.csv", item.request.template_name(), template::Date::now().iso());
    Ok(attachment("text/csv; charset=UTF-8", &name, template::csv(&item.request.params)))
}
