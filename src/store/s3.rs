//! The S3 [`JobStore`]: job records, batch records and markers, Idempotency-Keys and finished
//! reports in one bucket. `If-None-Match: *` creates only what is not there yet,
//! `If-Match: <etag>` replaces only the version that was read.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::{JobStore, Objects, Presigned, Put, StoreError, Versioned, keys};
use crate::aws::describe;
use crate::domain::job::{Batch, Job, Output, Status};

/// An object's bytes and version.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Vec<u8>,
    pub etag: String,
}

#[derive(Clone, Debug)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn err<E: std::error::Error + 'static, R: std::fmt::Debug>(op: &'static str, key: &str, e: &SdkError<E, R>) -> StoreError {
        StoreError { op, key: key.to_string(), message: describe(e) }
    }

    /// Writes `bytes` at `key`: only if absent (`if_match: None`), or only over the version
    /// with that ETag.
    pub async fn put_if(
        &self,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        if_match: Option<&str>,
        metadata: &[(&str, &str)],
    ) -> Result<Put, StoreError> {
        let mut req = self.client.put_object().bucket(&self.bucket).key(key).content_type(content_type).body(ByteStream::from(bytes));
        req = match if_match {
            None => req.if_none_match("*"),
            Some(etag) => req.if_match(etag),
        };
        for (k, v) in metadata {
            req = req.metadata(*k, *v);
        }
        match req.send().await {
            Ok(out) => Ok(Put::Written(out.e_tag().unwrap_or_default().to_string())),
            // 412: the condition failed. 409 (ConditionalRequestConflict): another conditional
            // write to the key was in flight; either way someone else's version stands.
            Err(e) if matches!(status(&e), Some(412) | Some(409)) => Ok(Put::Conflict),
            // If-Match on a key that does not exist.
            Err(e) if if_match.is_some() && status(&e) == Some(404) => Ok(Put::Conflict),
            Err(e) => Err(Self::err("PutObject", key, &e)),
        }
    }

    /// Writes `bytes` at `key` whatever is there.
    pub async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str, metadata: &[(&str, &str)]) -> Result<String, StoreError> {
        let mut req = self.client.put_object().bucket(&self.bucket).key(key).content_type(content_type).body(ByteStream::from(bytes));
        for (k, v) in metadata {
            req = req.metadata(*k, *v);
        }
        let out = req.send().await.map_err(|e| Self::err("PutObject", key, &e))?;
        Ok(out.e_tag().unwrap_or_default().to_string())
    }

    pub async fn put_json_if<T: Serialize>(&self, key: &str, value: &T, if_match: Option<&str>) -> Result<Put, StoreError> {
        let bytes = serde_json::to_vec(value).expect("records serialise");
        self.put_if(key, bytes, "application/json", if_match, &[]).await
    }

    /// The object at `key`, or `None` if there is none.
    pub async fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_string();
                let bytes = out.body.collect().await.map_err(|e| StoreError { op: "GetObject", key: key.to_string(), message: e.to_string() })?;
                Ok(Some(Object { bytes: bytes.to_vec(), etag }))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) || status(&e) == Some(404) => Ok(None),
            Err(e) => Err(Self::err("GetObject", key, &e)),
        }
    }

    /// A JSON object and its ETag. An object that does not parse is reported as a store error:
    /// only reportq writes these keys.
    pub async fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<(T, String)>, StoreError> {
        let Some(obj) = self.get(key).await? else { return Ok(None) };
        let value = serde_json::from_slice(&obj.bytes).map_err(|e| StoreError {
            op: "GetObject",
            key: key.to_string(),
            message: format!("not a valid record: {e}"),
        })?;
        Ok(Some((value, obj.etag)))
    }

    /// The user metadata of the object at `key`, or `None` if there is none.
    pub async fn head(&self, key: &str) -> Result<Option<std::collections::HashMap<String, String>>, StoreError> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => Ok(Some(out.metadata().cloned().unwrap_or_default())),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(Self::err("HeadObject", key, &e)),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client.delete_object().bucket(&self.bucket).key(key).send().await.map_err(|e| Self::err("DeleteObject", key, &e))?;
        Ok(())
    }

    /// Every key under `prefix` (all pages).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.list_where(prefix, |_| true).await
    }

    /// The keys under `prefix` (all pages) of the objects `keep` accepts.
    async fn list_where(&self, prefix: &str, keep: impl Fn(&aws_sdk_s3::types::Object) -> bool) -> Result<Vec<String>, StoreError> {
        self.list_after(prefix, None, keep, |_| false).await
    }

    /// The same, from the first key after `start_after`, and no further page once a page
    /// holds a key `past` accepts.
    async fn list_after(
        &self,
        prefix: &str,
        start_after: Option<String>,
        keep: impl Fn(&aws_sdk_s3::types::Object) -> bool,
        past: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_start_after(if token.is_none() { start_after.clone() } else { None })
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| Self::err("ListObjectsV2", prefix, &e))?;
            keys.extend(out.contents().iter().filter(|o| keep(o)).filter_map(|o| o.key().map(str::to_string)));
            if out.contents().iter().filter_map(|o| o.key()).any(&past) {
                return Ok(keys);
            }
            match out.next_continuation_token() {
                Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(keys),
            }
        }
    }

    /// A URL that GETs `key` without credentials until `expiry` has passed, served as an
    /// attachment named `filename`.
    ///
    /// The URL is signed with the caller's credentials and dies with them: signed by a Lambda
    /// role's session it stops working when that session expires, whatever `expiry` says.
    pub async fn presign_get(&self, key: &str, expiry: Duration, filename: &str, content_type: &str) -> Result<Presigned, StoreError> {
        let cfg =
            PresigningConfig::expires_in(expiry).map_err(|e| StoreError { op: "presign GetObject", key: key.to_string(), message: e.to_string() })?;
        let start = SystemTime::now();
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(format!("attachment; filename=\"{filename}\""))
            .response_content_type(content_type)
            .presigned(cfg)
            .await
            .map_err(|e| Self::err("presign GetObject", key, &e))?;
        Ok(Presigned { url: req.uri().to_string(), expires_at: start + expiry })
    }
}

#[async_trait::async_trait]
impl Objects for S3Store {
    async fn get_object(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        Ok(self.get(key).await?.map(|o| (o.bytes, o.etag)))
    }

    async fn put_object_if(&self, key: &str, bytes: Vec<u8>, if_match: Option<&str>) -> Result<Put, StoreError> {
        self.put_if(key, bytes, "application/json", if_match, &[]).await
    }

    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.list(prefix).await
    }
}

#[async_trait::async_trait]
impl JobStore for S3Store {
    async fn jobs_written_before(&self, epoch: i64) -> Result<Vec<Uuid>, StoreError> {
        let old = self.list_where(keys::JOBS, |o| o.last_modified().is_some_and(|t| t.secs() < epoch)).await?;
        let mut ids: Vec<Uuid> = old.iter().filter_map(|k| keys::parse_job(k)).collect();
        // Batch items never written on their own: their chunk's age is theirs.
        let chunks = self.list_where(keys::ITEMS, |o| o.last_modified().is_some_and(|t| t.secs() < epoch)).await?;
        let written: std::collections::HashSet<Uuid> = ids.iter().copied().collect();
        ids.extend(super::items::ids_in(self, &chunks).await?.into_iter().filter(|id| !written.contains(id)));
        Ok(ids)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.client.head_bucket().bucket(&self.bucket).send().await.map_err(|e| Self::err("HeadBucket", "", &e))?;
        Ok(())
    }

    async fn create_job(&self, job: &Job) -> Result<bool, StoreError> {
        Ok(matches!(self.put_json_if(&keys::job(job.id), job, None).await?, Put::Written(_)))
    }

    async fn job(&self, id: Uuid) -> Result<Option<Versioned<Job>>, StoreError> {
        super::items::job(self, id).await
    }

    async fn create_items(&self, jobs: &[Job]) -> Result<usize, StoreError> {
        super::items::create(self, jobs).await
    }

    async fn replace_job(&self, job: &Job, version: &str) -> Result<Put, StoreError> {
        self.put_json_if(&keys::job(job.id), job, super::items::if_match(version)).await
    }

    async fn create_batch(&self, batch: &Batch) -> Result<bool, StoreError> {
        Ok(matches!(self.put_json_if(&keys::batch(batch.id), batch, None).await?, Put::Written(_)))
    }

    async fn batch(&self, id: Uuid) -> Result<Option<Batch>, StoreError> {
        Ok(self.get_json(&keys::batch(id)).await?.map(|(b, _)| b))
    }

    async fn mark(&self, batch: Uuid, job: Uuid, status: Status) -> Result<(), StoreError> {
        self.put(&keys::marker(batch, job, status), Vec::new(), "application/octet-stream", &[]).await.map(|_| ())
    }

    async fn batch_statuses(&self, batch: Uuid) -> Result<HashMap<Uuid, Status>, StoreError> {
        let prefix = keys::marker_prefix(batch);
        let listed = self.list(&prefix).await?;
        Ok(super::furthest(listed.iter().filter_map(|k| keys::parse_marker(&prefix, k))))
    }

    async fn item_statuses(&self, batch: Uuid, lines: std::ops::Range<u32>) -> Result<HashMap<Uuid, Status>, StoreError> {
        let prefix = keys::marker_prefix(batch);
        let start = format!("{prefix}{}", crate::domain::job::item_id(batch, lines.start));
        let index = |k: &str| keys::parse_marker(&prefix, k).and_then(|(j, _)| crate::domain::job::item_of(j)).map(|(_, i)| i);
        // Pages until a key past the range: the rest of the batch is not read.
        let listed = self
            .list_after(&prefix, Some(start), |o| o.key().and_then(index).is_none_or(|i| i < lines.end), |k| index(k).is_some_and(|i| i >= lines.end))
            .await?;
        Ok(super::furthest(listed.iter().filter_map(|k| keys::parse_marker(&prefix, k))))
    }

    async fn report_info(&self, job: Uuid) -> Result<Option<Output>, StoreError> {
        let key = keys::report(job);
        Ok(self.head(&key).await?.and_then(|meta| {
            let sha = meta.get("sha256").filter(|s| s.len() == 64)?.clone();
            let size = meta.get("size")?.parse().ok()?;
            Some(Output { key, size, sha256: sha })
        }))
    }

    async fn create_report(&self, job: Uuid, pdf: Vec<u8>, sha256: &str) -> Result<Option<Output>, StoreError> {
        let out = Output { key: keys::report(job), size: pdf.len() as u64, sha256: sha256.to_string() };
        let size = out.size.to_string();
        Ok(match self.put_if(&out.key, pdf, "application/pdf", None, &[("sha256", sha256), ("size", &size)]).await? {
            Put::Written(_) => Some(out),
            Put::Conflict => None,
        })
    }

    async fn overwrite_report(&self, job: Uuid, pdf: Vec<u8>, sha256: &str) -> Result<Output, StoreError> {
        let out = Output { key: keys::report(job), size: pdf.len() as u64, sha256: sha256.to_string() };
        let size = out.size.to_string();
        self.put(&out.key, pdf, "application/pdf", &[("sha256", sha256), ("size", &size)]).await?;
        Ok(out)
    }

    async fn report(&self, job: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get(&keys::report(job)).await?.map(|o| o.bytes))
    }

    async fn manifest_upload_url(&self, batch: Uuid, expiry: Duration) -> Result<Presigned, StoreError> {
        let key = keys::manifest(batch);
        let cfg =
            PresigningConfig::expires_in(expiry).map_err(|e| StoreError { op: "presign PutObject", key: key.clone(), message: e.to_string() })?;
        let start = SystemTime::now();
        let req =
            self.client.put_object().bucket(&self.bucket).key(&key).presigned(cfg).await.map_err(|e| Self::err("presign PutObject", &key, &e))?;
        Ok(Presigned { url: req.uri().to_string(), expires_at: start + expiry })
    }

    async fn manifest_size(&self, batch: Uuid) -> Result<Option<u64>, StoreError> {
        let key = keys::manifest(batch);
        match self.client.head_object().bucket(&self.bucket).key(&key).send().await {
            Ok(out) => Ok(Some(out.content_length().unwrap_or_default().max(0) as u64)),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(Self::err("HeadObject", &key, &e)),
        }
    }

    async fn manifest_range(&self, batch: Uuid, from: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        let key = keys::manifest(batch);
        let range = format!("bytes={from}-{}", from + len.max(1) - 1);
        let out = self.client.get_object().bucket(&self.bucket).key(&key).range(range).send().await.map_err(|e| Self::err("GetObject", &key, &e))?;
        let bytes = out.body.collect().await.map_err(|e| StoreError { op: "GetObject", key: key.clone(), message: e.to_string() })?;
        Ok(bytes.to_vec())
    }

    async fn put_manifest(&self, batch: Uuid, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.put(&keys::manifest(batch), bytes, "application/x-ndjson", &[]).await.map(|_| ())
    }

    async fn errors_url(&self, batch: Uuid, expiry: Duration) -> Result<Presigned, StoreError> {
        self.presign_get(&keys::errors(batch), expiry, "errors.jsonl", "application/x-ndjson").await
    }

    async fn begin_archive(&self, batch: Uuid) -> Result<String, StoreError> {
        let key = keys::archive(batch);
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&key)
            .content_type("application/zip")
            .send()
            .await
            .map_err(|e| Self::err("CreateMultipartUpload", &key, &e))?;
        out.upload_id().map(str::to_string).ok_or_else(|| StoreError { op: "CreateMultipartUpload", key, message: "no upload id".into() })
    }

    async fn archive_part(&self, batch: Uuid, upload: &str, number: i32, bytes: Vec<u8>) -> Result<String, StoreError> {
        let key = keys::archive(batch);
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&key)
            .upload_id(upload)
            .part_number(number)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| Self::err("UploadPart", &key, &e))?;
        out.e_tag().map(str::to_string).ok_or_else(|| StoreError { op: "UploadPart", key, message: "no ETag".into() })
    }

    async fn finish_archive(&self, batch: Uuid, upload: &str, parts: Vec<(i32, String)>) -> Result<(), StoreError> {
        use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
        let key = keys::archive(batch);
        let parts = parts.into_iter().map(|(n, etag)| CompletedPart::builder().part_number(n).e_tag(etag).build()).collect();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&key)
            .upload_id(upload)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| Self::err("CompleteMultipartUpload", &key, &e))?;
        Ok(())
    }

    async fn abort_archive(&self, batch: Uuid, upload: &str) -> Result<(), StoreError> {
        let key = keys::archive(batch);
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&key)
            .upload_id(upload)
            .send()
            .await
            .map_err(|e| Self::err("AbortMultipartUpload", &key, &e))?;
        Ok(())
    }

    async fn archive_url(&self, batch: Uuid, expiry: Duration, filename: &str) -> Result<Presigned, StoreError> {
        self.presign_get(&keys::archive(batch), expiry, filename, "application/zip").await
    }

    async fn report_url(&self, job: Uuid, expiry: Duration, filename: &str) -> Result<Presigned, StoreError> {
        self.presign_get(&keys::report(job), expiry, filename, "application/pdf").await
    }
}
