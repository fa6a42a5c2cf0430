//! The object store: job records, finished reports and batch markers in one S3 bucket.
//!
//! S3 is the only state reportq keeps, so every write that decides something is conditional:
//! `If-None-Match: *` creates only what is not there yet, `If-Match: <etag>` replaces only the
//! version that was read. A lost race is an answer ([`Put::Conflict`]), not an error.

use std::time::{Duration, SystemTime};

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// S3 could not be reached or answered with an error: worth another try.
#[derive(Debug, Clone, thiserror::Error)]
#[error("S3 {op} of {key} failed: {message}")]
pub struct StoreError {
    pub op: &'static str,
    pub key: String,
    pub message: String,
}

/// How a conditional write went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    /// Written; the new version's ETag.
    Written(String),
    /// The condition did not hold: the object exists (`If-None-Match`) or changed (`If-Match`).
    Conflict,
}

/// An object's bytes and version.
#[derive(Debug, Clone)]
pub struct Object {
    pub bytes: Vec<u8>,
    pub etag: String,
}

/// A presigned GET URL and when it stops working.
#[derive(Debug, Clone, Serialize)]
pub struct Presigned {
    pub url: String,
    pub expires_at: SystemTime,
}

#[derive(Clone, Debug)]
pub struct Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

fn describe<E: std::error::Error + 'static, R: std::fmt::Debug>(e: &SdkError<E, R>) -> String {
    // The SDK's Display says only "service error"; the source chain has the code and message.
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

fn status<E>(e: &SdkError<E, HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

impl Store {
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
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes));
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
                let bytes = out.body.collect().await.map_err(|e| StoreError {
                    op: "GetObject",
                    key: key.to_string(),
                    message: e.to_string(),
                })?;
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
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| Self::err("ListObjectsV2", prefix, &e))?;
            keys.extend(out.contents().iter().filter_map(|o| o.key().map(str::to_string)));
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
        let cfg = PresigningConfig::expires_in(expiry).map_err(|e| StoreError {
            op: "presign GetObject",
            key: key.to_string(),
            message: e.to_string(),
        })?;
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
