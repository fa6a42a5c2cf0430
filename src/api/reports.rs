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

/// The most hosts one request's callbacks may name: each is a DNS lookup at submit.
pub const MAX_CALLBACK_HOSTS: usize = 10;
/// How long a callback's host may take to resolve at submit (all hosts at once).
pub const CALLBACK_RESOLVE: Duration = Duration::from_secs(3);

/// A request's distinct callback URLs by host, each with where it sits in the request.
#[derive(Debug, Default)]
pub struct CallbackPlan {
    hosts: Vec<(String, Vec<(url::Url, String)>)>,
}

impl ApiState {
    /// Parses a request with this API's rules (its network, if any) into what is stored.
    /// The `callback` (taken out: the stored request is what is rendered) is checked for
    /// form only; [`ApiState::check_callbacks`] checks where it leads.
    pub fn item(&self, mut body: Value) -> Result<Item, crate::domain::ParamError> {
        let callback = match body.as_object_mut().and_then(|o| o.remove("callback")) {
            None => None,
            Some(v) => Some(Callback::parse(&v, "callback")?),
        };
        let request = ReportRequest::parse(&body, self.scorer.as_deref().ok())?;
        request.normalise(&mut body);
        Ok(Item { body, request, trace: None, callback })
    }

    /// The callbacks of a request, grouped by host, checked for what needs no network: webhooks
    /// on, URLs that parse, at most [`MAX_CALLBACK_HOSTS`] hosts. `named` pairs each callback
    /// with where it sits in the request (`callback`, `requests[3].callback`).
    pub fn plan_callbacks<'a>(&self, named: impl IntoIterator<Item = (&'a Callback, String)>) -> Result<CallbackPlan, ApiError> {
        let mut plan = CallbackPlan::default();
        for (cb, field) in named {
            if self.cfg.webhooks.queue_url.is_none() {
                return Err(ApiError::Invalid(ParamError::new(field, "webhooks are not enabled on this deployment; poll the job instead")));
            }
            let url = url::Url::parse(&cb.url).map_err(|e| ApiError::Invalid(ParamError::new(format!("{field}.url"), format!("not a URL: {e}"))))?;
            let host = url.host_str().unwrap_or_default().to_string();
            let known = plan.hosts.len();
            match plan.hosts.iter_mut().find(|(h, _)| *h == host) {
                Some((_, urls)) => {
                    if !urls.iter().any(|(u, _)| *u == url) {
                        urls.push((url, field));
                    }
                }
                None if known == MAX_CALLBACK_HOSTS => {
                    return Err(ApiError::Invalid(ParamError::new(
                        format!("{field}.url"),
                        format!("a request's callbacks may name at most {MAX_CALLBACK_HOSTS} hosts; this is one more"),
                    )));
                }
                None => plan.hosts.push((host, vec![(url, field)])),
            }
        }
        Ok(plan)
    }

    /// Refuses a callback whose host resolves to a loopback, private, link-local or metadata
    /// address (checked again at every delivery). Called after the quota is counted and the
    /// queue admitted the work, so that a refused caller gets no DNS work done; each host is
    /// resolved once, all of them at once, each within [`CALLBACK_RESOLVE`].
    pub async fn check_callbacks(&self, plan: &CallbackPlan) -> Result<(), ApiError> {
        let allow = &self.cfg.webhooks.allow;
        let checks = plan.hosts.iter().map(|(_, urls)| async move {
            let named = |field: &str, e: crate::webhook::ssrf::Refused| ApiError::Invalid(ParamError::new(format!("{field}.url"), e.reason));
            let (first, field) = &urls[0];
            let target = crate::webhook::ssrf::resolve(first.as_str(), allow, CALLBACK_RESOLVE).await.map_err(|e| named(field, e))?;
            for (url, field) in &urls[1..] {
                crate::webhook::ssrf::check_addrs(url, &target.addrs, allow).map_err(|e| named(field, e))?;
            }
            Ok::<(), ApiError>(())
        });
        // The first refusal in request order.
        futures::future::join_all(checks).await.into_iter().collect()
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
    let callbacks = s.plan_callbacks(item.callback.iter().map(|cb| (cb, "callback".to_string())))?;
    item.trace = Some(trace);
    s.admit(Lane::Interactive, 1).await?;
    let idem = key.as_deref().map(|k| (IdempotencyScope::Job, k));
    let (job, created) = s
        .charged(&caller, 1, idem, async {
            // After the quota: a caller who may not submit gets no DNS work done for it.
            s.check_callbacks(&callbacks).await?;
            let r = s.submitter.submit_as(item, &value, key.as_deref(), Lane::Interactive, &caller).await;
            r.map(|(j, c)| ((j, c), c)).map_err(ApiError::from)
        })
        .await?;
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
