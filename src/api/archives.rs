//! `/v1/batches/{id}/archive`: one download for a whole batch, a ZIP of its PDFs and a
//! `manifest.csv`, built by the worker side ([`crate::archive`]); the API only records the
//! request, sends one message and answers with what the record says.

use std::time::Duration;

use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::body::{accepted, no_store, parse_id};
use super::{ApiError, Shared};
use crate::archive::ArchiveMessage;
use crate::domain::access::Caller;
use crate::domain::archive::{Archive, ArchiveState};
use crate::domain::job::{Batch, rfc3339};
use crate::domain::now_epoch;
use crate::store::{ArchiveRecords, Put};
use crate::wire::{ArchiveLinks, ArchiveView};

/// A request still building after this long is taken to be lost and is made again.
const STALE: i64 = 900;

async fn owned_batch(s: &Shared, caller: &Caller, id: Uuid) -> Result<Batch, ApiError> {
    let missing = || ApiError::NotFound(format!("no batch {id}"));
    let batch = s.submitter.store.batch(id).await?.ok_or_else(missing)?;
    if !caller.may_read(batch.owner.as_deref()) {
        return Err(missing());
    }
    Ok(batch)
}

async fn view(s: &Shared, id: Uuid, a: &Archive) -> Result<ArchiveView, ApiError> {
    let (url, expires_at) = match a.state {
        ArchiveState::Ready => {
            let p = s.submitter.store.archive_url(id, s.cfg.url_expiry, &format!("batch-{id}.zip")).await?;
            let secs = p.expires_at.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
            (Some(p.url), Some(rfc3339(secs)))
        }
        _ => (None, None),
    };
    Ok(ArchiveView {
        batch_id: id,
        state: a.state.as_str().into(),
        partial: a.partial,
        reports: a.reports,
        rows: a.rows,
        size: a.size,
        sha256: a.sha256.clone(),
        requested_at: rfc3339(a.requested_at),
        built_at: a.built_at.map(rfc3339),
        url,
        expires_at,
        error: a.error.clone(),
        links: ArchiveLinks { this: format!("/v1/batches/{id}/archive"), batch: format!("/v1/batches/{id}") },
    })
}

/// Asks for a build: `202` while it builds, or `200` with the archive when a complete one of
/// a finished batch is there already (building it again would give the same bytes).
pub async fn request(State(s): State<Shared>, Extension(caller): Extension<Caller>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_id(&id, "batch")?;
    owned_batch(&s, &caller, id).await?;
    let records = ArchiveRecords(s.submitter.store.as_ref());
    let location = format!("/v1/batches/{id}/archive");
    let now = now_epoch();
    let current = records.get(id).await?;
    match &current {
        Some((a, _)) if a.state == ArchiveState::Ready && !a.partial => return Ok(no_store(view(&s, id, a).await?)),
        // One build at a time: asking again while one runs changes nothing.
        Some((a, _)) if a.state == ArchiveState::Building && now - a.requested_at < STALE => {
            return Ok(accepted(location, view(&s, id, a).await?));
        }
        _ => {}
    }
    let asked = Archive::requested(now);
    match records.put(id, &asked, current.as_ref().map(|(_, v)| v.as_str())).await? {
        Put::Written(_) => {}
        // Someone asked at the same moment: theirs is the build.
        Put::Conflict => {
            let (a, _) = records.get(id).await?.ok_or_else(|| ApiError::NotFound(format!("no archive for batch {id}")))?;
            return Ok(accepted(location, view(&s, id, &a).await?));
        }
    }
    // The interactive lane: someone is waiting for this download, and it is seconds of I/O,
    // not a render to queue behind a whole batch's.
    let msg = ArchiveMessage { archive: id, requested_at: now };
    s.submitter.interactive.send_raw(&msg.body(), Duration::ZERO).await?;
    tracing::info!(batch_id = %id, "archive requested");
    Ok(accepted(location, view(&s, id, &asked).await?))
}

/// Where the archive stands; a fresh download URL once it is ready.
pub async fn get(State(s): State<Shared>, Extension(caller): Extension<Caller>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_id(&id, "batch")?;
    owned_batch(&s, &caller, id).await?;
    let records = ArchiveRecords(s.submitter.store.as_ref());
    let (a, _) = records.get(id).await?.ok_or_else(|| ApiError::NotFound(format!("no archive was asked for batch {id}: POST to this URL")))?;
    Ok(no_store(view(&s, id, &a).await?).into_response())
}
