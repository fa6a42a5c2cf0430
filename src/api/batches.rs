//! `/v1/reports/batch` and `/v1/batches/{id}`: many reports in one call, and their progress.

use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::body::{accepted, idempotency_key, no_store, parse_id, read_json};
use super::{ApiError, Shared};
use crate::config::MAX_BATCH;
use crate::domain::ParamError;
use crate::domain::access::Caller;
use crate::domain::job::{Status, rfc3339};
use crate::domain::manifest::{CHUNK_LINES, Cursor, Manifest};
use crate::domain::trace::Trace;
use crate::domain::webhook::{Callback, Subject};
use crate::submit::NewBatch;
use crate::wire::{BatchJob, BatchSubmitted, BatchView, ItemError, JobLinks, ManifestView, WebhookView};

pub async fn submit_batch(
    State(s): State<Shared>,
    Extension(trace): Extension<Trace>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let value = read_json(&headers, body, s.cfg.max_batch_bytes).await?;
    // What an Idempotency-Key is bound to, taken now: the requests are then moved out of the
    // body, not copied (a large batch would otherwise be held twice).
    let fingerprint = crate::submit::fingerprint(&value);
    let shape = || ApiError::Invalid(ParamError::new("requests", "send {\"requests\": [request, ...], \"callback\"?: {\"url\": ...}}"));
    let (items, callback): (Vec<Value>, Option<Value>) = match value {
        Value::Array(a) => (a, None),
        Value::Object(mut o) => {
            let callback = o.remove("callback");
            match (o.remove("requests"), o.is_empty()) {
                (Some(Value::Array(a)), true) => (a, callback),
                _ => return Err(shape()),
            }
        }
        _ => return Err(shape()),
    };
    let callback = callback.map(|v| Callback::parse(&v, "callback")).transpose().map_err(ApiError::Invalid)?;
    if items.is_empty() || items.len() > MAX_BATCH {
        return Err(ApiError::Invalid(ParamError::new("requests", format!("holds {} requests; a batch takes 1 to {MAX_BATCH}", items.len()))));
    }
    // Everything is validated before anything is stored or sent.
    let mut ok = Vec::with_capacity(items.len());
    let mut bad = Vec::new();
    for (index, item) in items.into_iter().enumerate() {
        match s.item(item) {
            Ok(i) => ok.push(crate::submit::Item { trace: Some(trace), ..i }),
            Err(e) => bad.push(ItemError { index, field: e.field, message: e.message }),
        }
    }
    if !bad.is_empty() {
        return Err(ApiError::InvalidBatch(bad));
    }
    // Each host is resolved once, however many requests name it, and only once the quota and
    // the queue have let the batch in.
    let named = callback.iter().map(|cb| (cb, "callback".to_string()));
    let named = named.chain(ok.iter().enumerate().filter_map(|(i, item)| item.callback.as_ref().map(|cb| (cb, format!("requests[{i}].callback")))));
    let callbacks = s.plan_callbacks(named)?;
    let n = ok.len() as u64;
    s.admit(crate::queue::Lane::Bulk, n).await?;
    let idem = key.as_deref().map(|k| (crate::store::IdempotencyScope::Batch, k));
    let new = NewBatch { fingerprint, key: key.as_deref(), caller: &caller, callback };
    let batch = s
        .charged(&caller, n, idem, async {
            s.check_callbacks(&callbacks).await?;
            let r = s.submitter.submit_batch_as(ok, new).await;
            r.map(|(b, c)| ((b, c), c)).map_err(ApiError::from)
        })
        .await?
        .0;
    s.sent(crate::queue::Lane::Bulk, n);
    Ok(accepted(format!("/v1/batches/{}", batch.id), BatchSubmitted::of(&batch)))
}

#[derive(Deserialize)]
pub struct Page {
    cursor: Option<String>,
    limit: Option<usize>,
}

pub async fn get_batch(
    State(s): State<Shared>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(page): Query<Page>,
) -> Result<Response, ApiError> {
    let id = parse_id(&id, "batch")?;
    // The query is checked before anything is read.
    let start: usize = match page.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse().map_err(|_| ApiError::Invalid(ParamError::new("cursor", "not a cursor this API gave out")))?,
    };
    // Out of range is refused, not clamped: a caller asking for 0 or 5,000 has a bug to hear about.
    let limit = match page.limit.unwrap_or(100) {
        n @ 1..=1000 => n,
        n => return Err(ApiError::Invalid(ParamError::new("limit", format!("is {n}; a page holds 1 to 1000 jobs")))),
    };
    let store = &s.submitter.store;
    let missing = || ApiError::NotFound(format!("no batch {id}"));
    let batch = store.batch(id).await?.ok_or_else(missing)?;
    if !caller.may_read(batch.owner.as_deref()) {
        return Err(missing());
    }
    let webhook = match batch.callback {
        Some(_) => s.deliveries.get(&Subject::Batch(id).webhook_id()).await?.map(WebhookView::of),
        None => None,
    };
    // One listing of the markers, not one read per job.
    let progress = crate::batch::progress(store.as_ref(), &batch).await?;
    let status_of = |j: &Uuid| progress.moved.get(j).copied().unwrap_or(Status::Queued);
    // The page's jobs, and where the next page starts (none after the last).
    let (ids, next) = match &batch.manifest {
        None => {
            let end = (start + limit).min(batch.job_ids.len());
            (batch.job_ids.get(start.min(end)..end).unwrap_or_default().to_vec(), (end < batch.job_ids.len()).then_some(end))
        }
        // A manifest's page is by line: its item chunks, read in line order.
        Some(_) => {
            let read = progress.cursor.as_ref().map_or(0, |c| c.next_line as usize);
            let end = (start + limit).min(read);
            let chunk = |line: usize| (line / CHUNK_LINES as usize) as u32;
            let ids =
                if start < end { crate::store::items::batch_items(store.as_ref(), id, chunk(start)..chunk(end - 1) + 1).await? } else { Vec::new() };
            let in_page = |j: &Uuid| crate::domain::job::item_of(*j).is_some_and(|(_, line)| (start..end).contains(&(line as usize)));
            // Lines still to be read: the next page starts where this one ended.
            let more = end < read || progress.cursor.as_ref().is_none_or(|c| !c.done);
            (ids.into_iter().filter(in_page).collect(), more.then_some(end.max(start)))
        }
    };
    let manifest = match &batch.manifest {
        None => None,
        Some(m) => Some(manifest_view(&s, id, m, progress.cursor.as_ref()).await?),
    };
    // A manifest page's own markers: its jobs may be in chunks the progress did not list.
    let page_statuses = match (
        &batch.manifest,
        ids.first().and_then(|j| crate::domain::job::item_of(*j)),
        ids.last().and_then(|j| crate::domain::job::item_of(*j)),
    ) {
        (Some(_), Some((_, first)), Some((_, last))) => Some(store.item_statuses(id, first..last + 1).await?),
        _ => None,
    };
    let status_of = |j: &Uuid| match &page_statuses {
        Some(m) => m.get(j).copied().unwrap_or(Status::Queued),
        None => status_of(j),
    };
    let jobs = ids.iter().map(|j| BatchJob { job_id: *j, status: status_of(j), links: JobLinks::new(*j) }).collect();
    Ok(no_store(BatchView {
        batch_id: id,
        created_at: rfc3339(batch.created_at_epoch),
        total: progress.total,
        done: progress.done,
        counts: progress.counts,
        jobs,
        next_cursor: next.map(|n| n.to_string()),
        webhook,
        manifest,
    }))
}

async fn manifest_view(s: &Shared, id: Uuid, m: &Manifest, cursor: Option<&Cursor>) -> Result<ManifestView, ApiError> {
    let state = match cursor {
        None => "awaiting_upload",
        Some(c) if c.done => "done",
        Some(_) => "fanning_out",
    };
    let errors_url = match cursor {
        Some(c) if c.done && c.invalid > 0 => Some(s.submitter.store.errors_url(id, s.cfg.url_expiry).await?.url),
        _ => None,
    };
    let c = cursor.cloned().unwrap_or_default();
    Ok(ManifestView { lines: m.lines, state: state.into(), lines_read: c.next_line, validated: c.valid, invalid: c.invalid, errors_url })
}
