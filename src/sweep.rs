//! The sweep: jobs whose message can no longer arrive are marked `failed` (`expired`), never
//! left `queued` for ever. A message lives as long as the queue's retention (4 days in the
//! template); after that a job still `queued` (its message expired unread, or was never sent
//! because the API died between writing the record and sending it) or still `running` under a
//! dead lease has nothing left that would finish it.
//!
//! Run hourly by a schedule on the worker function (the template), and by `reportq sweep`.

use serde::Serialize;

use crate::domain::job::{FailureCode, JobError, Status};
use crate::store::{JobStore, Put, StoreError};

/// What one sweep did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Records old enough to look at.
    pub checked: usize,
    /// Jobs marked `failed` (`expired`).
    pub expired: usize,
}

/// Marks every unfinished job created more than `expiry_secs` before `now` as expired.
pub async fn sweep(store: &dyn JobStore, now: i64, expiry_secs: i64, notifier: Option<&crate::webhook::Notifier>) -> Result<SweepReport, StoreError> {
    let cutoff = now - expiry_secs;
    let mut report = SweepReport::default();
    for id in store.jobs_written_before(cutoff).await? {
        let Some((job, version)) = store.job(id).await? else { continue };
        if job.created_at_epoch >= cutoff {
            continue;
        }
        report.checked += 1;
        let stuck = match job.status {
            Status::Queued => true,
            Status::Running => job.lease_until_epoch.is_none_or(|t| t < now),
            Status::Succeeded | Status::Failed => false,
        };
        if !stuck {
            continue;
        }
        let failed =
            job.failed(now, JobError::pipeline(FailureCode::Expired, "the job was not rendered before its queue message expired; submit it again"));
        // A conditional write: a worker that finishes the job meanwhile wins.
        if let Put::Written(_) = store.replace_job(&failed, &version).await? {
            if let Some(batch) = failed.batch_id {
                let _ = store.mark(batch, failed.id, Status::Failed).await;
            }
            tracing::warn!(job_id = %id, created_at = job.created_at_epoch, was = job.status.as_str(), "job expired");
            if let Some(n) = notifier
                && (failed.callback.is_some() || failed.notify_batch)
                && let Err(e) = n.job_finished(&failed).await
            {
                // The next sweep does not see this job again (it is final): say so loudly.
                tracing::error!(job_id = %id, error = %e, "the expired job's webhook was not queued");
            }
            crate::metrics::count("JobsFailed", &[("Template", failed.template.as_str()), ("Code", FailureCode::Expired.as_str())], 1.0);
            report.expired += 1;
        }
    }
    tracing::info!(checked = report.checked, expired = report.expired, "sweep done");
    Ok(report)
}
