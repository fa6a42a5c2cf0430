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
use crate::domain::access::Caller;
use crate::domain::job::{Job, JobError, Lane, Status};
use crate::domain::trace::Trace;
use crate::domain::webhook::{Callback, Subject};
use crate::request::ReportRequest;
use crate::store::IdempotencyScope;
use crate::submit::Item;
use crate::template;
use crate::wire::{JobResult, JobView, Submitted, WebhookView};
use std::time::Duration;

impl ApiState {
    /// Parses a request with this API's rules (its network, if any) into what is stored.
    /// The `callback` (taken out: the stored request is what is rendered) is checked for
    /// form only; [`ApiState::check_callback`] checks where it leads.
    pub fn item(&self, mut body: Value) -> Result<Item, crate::domain::ParamError> {
        let callback = match body.as_object_mut().and_then(|o| o.remove("callback")) {
            None => None,
            Some(v) => Some(Callback::parse(&v, "callback")?),
        };
        let request = ReportRequest::parse(&body, self.scorer.as_deref().ok())?;
        request.normalise(&mut body);
        Ok(Item { body, request, trace: None, callback })
    }

    /// Refuses a callback this deployment cannot or may not call: webhooks off, or a URL whose
    /// host resolves to a loopback, private, link-local or metadata address (checked again at
    /// every delivery). `field` names the callback in the request.
    pub async fn check_callback(&self, cb: &Callback, field: &str) -> Result<(), ApiError> {
        let w = &self.cfg.webhooks;
        if w.queue_url.is_none() {
            return Err(ApiError::Invalid(ParamError::new(field, "webhooks are not enabled on this deployment; poll the job instead")));
        }
        crate::webhook::ssrf::resolve(&cb.url, &w.allow, Duration::from_secs(3))
            .await
            .map(|_| ())
            .map_err(|e| ApiError::Invalid(ParamError::new(format!("{field}.url"), e.reason)))
    }

    /// A job the caller may see: another caller's job is as missing as one that never was.
    pub async fn job(&self, id: Uuid, caller: &Caller) -> Result<Job, ApiError> {
        let missing = || ApiError::NotFound(format!("no job {id}"));
        let job = self.submitter.store.job(id).await?.ok_or_else(missing)?.0;
        if !caller.may_read(job.owner.as_deref()) {
            return Err(missing());
        }
        Ok(job)
    }

    /// Counts `n` reports against the caller's quota, runs `submit`, and gives the count back
    /// if nothing new was made (a replayed key) or the submit failed. A replay of a key the
    /// caller already used costs nothing, so it goes through even with the quota used up.
    pub async fn charged<T>(
        &self,
        caller: &Caller,
        n: u64,
        key: Option<(IdempotencyScope, &str)>,
        submit: impl std::future::Future<Output = Result<(T, bool), ApiError>>,
    ) -> Result<T, ApiError> {
        let now = crate::domain::now_epoch();
        match self.access.charge(caller, n, now).await {
            Ok(()) => {}
            Err(e @ crate::access::AccessError::QuotaExceeded { .. }) => {
                let replay = match key {
                    Some((scope, k)) => self.submitter.idempotency.get(scope, caller.owner.as_deref(), k).await?.is_some(),
                    None => false,
                };
                if !replay {
                    crate::metrics::count("QuotaRefusals", &[], 1.0);
                    return Err(e.into());
                }
                return submit.await.map(|(t, _)| t);
            }
            Err(e) => return Err(e.into()),
        }
        match submit.await {
            Ok((t, true)) => Ok(t),
            Ok((t, false)) => {
                self.access.refund(caller, n, now).await;
                Ok(t)
            }
            Err(e) => {
                self.access.refund(caller, n, now).await;
                Err(e)
            }
        }
    }

    /// A job as the API shows it; `result` (a fresh presigned URL) only when it succeeded,
    /// `webhook` (its delivery attempts) when it has a callback.
    pub async fn view(&self, job: &Job) -> Result<JobView, ApiError> {
        let mut v = JobView::of(job);
        if job.callback.is_some() {
            v.webhook = self.deliveries.get(&Subject::Report(job.id).webhook_id()).await?.map(WebhookView::of);
        }
        if let Some(link) = self.links.of(job).await? {
            v.result = Some(JobResult {
                url: link.url,
                expires_at: link.expires_at,
                filename: link.filename,
                size: link.size,
                sha256: link.sha256,
                content_type: "application/pdf".into(),
            });
        }
        Ok(v)
    }
}

pub async fn submit(
    State(s): State<Shared>,
    Extension(trace): Extension<Trace>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let mut item = s.item(value.clone()).map_err(ApiError::Invalid)?;
    if let Some(cb) = &item.callback {
        s.check_callback(cb, "callback").await?;
    }
    item.trace = Some(trace);
    s.admit(Lane::Interactive, 1).await?;
    let submit = s.submitter.submit_as(item, &value, key.as_deref(), Lane::Interactive, &caller);
    let idem = key.as_deref().map(|k| (IdempotencyScope::Job, k));
    let (job, created) = s.charged(&caller, 1, idem, async { submit.await.map(|(j, c)| ((j, c), c)).map_err(ApiError::from) }).await?;
    if created {
        s.sent(Lane::Interactive, 1);
    }
    Ok(accepted(format!("/v1/reports/{}", job.id), Submitted::of(&job)))
}

pub async fn get_job(State(s): State<Shared>, Extension(caller): Extension<Caller>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = s.job(parse_id(&id, "job")?, &caller).await?;
    Ok(no_store(s.view(&job).await?))
}

pub async fn get_pdf(State(s): State<Shared>, Extension(caller): Extension<Caller>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let job = s.job(parse_id(&id, "job")?, &caller).await?;
    match job.status {
        Status::Succeeded => see_other(&s.links.url(&job).await?),
        Status::Failed => Err(ApiError::JobFailed(job.error.clone().unwrap_or(JobError { code: "failed".into(), message: "the job failed".into() }))),
        st => Err(ApiError::NotReady(st.as_str())),
    }
}

/// Refuses a callback on a route that answers at once: there is nothing to call back about.
fn no_callback(item: &Item) -> Result<(), ApiError> {
    match item.callback {
        Some(_) => Err(ApiError::Invalid(ParamError::new("callback", "only queued reports (POST /v1/reports, /v1/reports/batch) take a callback"))),
        None => Ok(()),
    }
}

pub async fn chart(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let item = s.item(value).map_err(ApiError::Invalid)?;
    no_callback(&item)?;
    let bytes = blocking(move || template::chart_png(&item.request.params)).await?.map_err(|e| match e {
        crate::chart::ChartError::NoChart => ApiError::Invalid(ParamError::new("params.sections", e.to_string())),
        e => ApiError::Internal(format!("chart: {e}")),
    })?;
    Ok(png(bytes))
}

pub async fn csv(State(s): State<Shared>, headers: HeaderMap, body: Body) -> Result<Response, ApiError> {
    let value = read_json(&headers, body, s.cfg.max_request_bytes).await?;
    let item = s.item(value).map_err(ApiError::Invalid)?;
    no_callback(&item)?;
    let name = format!("{}-{}.csv", item.request.template_name(), template::Date::now().iso());
    Ok(attachment("text/csv; charset=UTF-8", &name, template::csv(&item.request.params)))
}
