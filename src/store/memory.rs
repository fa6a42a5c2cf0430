//! The in-memory [`JobStore`]: the same rules as S3 (create-if-absent, replace-if-unchanged,
//! versions), one process, no network. The domain tests (submission, claims, leases, races)
//! run on it; `reportq` itself always uses S3.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use super::{JobStore, Objects, Presigned, Put, StoreError, Versioned, keys};
use crate::domain::job::{Batch, Job, Output, Status};

#[derive(Debug, Clone)]
struct Object {
    bytes: Vec<u8>,
    version: String,
    meta: Option<Output>,
}

/// Objects by key, as the bucket would hold them.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<String, Object>>,
    next: AtomicU64,
    /// While set, every call fails as an unreachable store would.
    down: AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every call fail (`true`) or work again, like an S3 outage.
    pub fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    /// Every key held, sorted (what a listing of the bucket would show).
    pub fn keys(&self) -> Vec<String> {
        self.objects.lock().unwrap().keys().cloned().collect()
    }

    fn check(&self, op: &'static str, key: &str) -> Result<(), StoreError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(StoreError { op, key: key.to_string(), message: "the in-memory store is down".into() });
        }
        Ok(())
    }

    fn version(&self) -> String {
        format!("\"v{}\"", self.next.fetch_add(1, Ordering::SeqCst))
    }

    /// Writes only if absent (`if_match: None`) or only over `if_match`.
    fn put_if(&self, key: &str, bytes: Vec<u8>, meta: Option<Output>, if_match: Option<&str>) -> Result<Put, StoreError> {
        self.check("PutObject", key)?;
        let mut objects = self.objects.lock().unwrap();
        let ok = match (objects.get(key), if_match) {
            (None, None) => true,
            (Some(o), Some(v)) => o.version == v,
            _ => false,
        };
        if !ok {
            return Ok(Put::Conflict);
        }
        let version = self.version();
        objects.insert(key.to_string(), Object { bytes, version: version.clone(), meta });
        Ok(Put::Written(version))
    }

    fn put(&self, key: &str, bytes: Vec<u8>, meta: Option<Output>) -> Result<(), StoreError> {
        self.check("PutObject", key)?;
        let version = self.version();
        self.objects.lock().unwrap().insert(key.to_string(), Object { bytes, version, meta });
        Ok(())
    }

    fn get(&self, key: &str) -> Result<Option<Object>, StoreError> {
        self.check("GetObject", key)?;
        Ok(self.objects.lock().unwrap().get(key).cloned())
    }

    fn get_json<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<Versioned<T>>, StoreError> {
        let Some(o) = self.get(key)? else { return Ok(None) };
        let value = serde_json::from_slice(&o.bytes).map_err(|e| StoreError {
            op: "GetObject",
            key: key.to_string(),
            message: format!("not a valid record: {e}"),
        })?;
        Ok(Some((value, o.version)))
    }

    fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
        serde_json::to_vec(value).expect("records serialise")
    }
}

#[async_trait::async_trait]
impl Objects for MemoryStore {
    async fn get_object(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        Ok(self.get(key)?.map(|o| (o.bytes, o.version)))
    }

    async fn put_object_if(&self, key: &str, bytes: Vec<u8>, if_match: Option<&str>) -> Result<Put, StoreError> {
        self.put_if(key, bytes, None, if_match)
    }

    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.check("ListObjectsV2", prefix)?;
        let objects = self.objects.lock().unwrap();
        Ok(objects.range(prefix.to_string()..).map(|(k, _)| k.clone()).take_while(|k| k.starts_with(prefix)).collect())
    }
}

#[async_trait::async_trait]
impl JobStore for MemoryStore {
    /// Every job: the memory store keeps no write times (the sweep reads each record).
    async fn jobs_written_before(&self, _epoch: i64) -> Result<Vec<Uuid>, StoreError> {
        self.check("ListObjectsV2", keys::JOBS)?;
        let (mut ids, chunks): (Vec<Uuid>, Vec<String>) = {
            let objects = self.objects.lock().unwrap();
            (objects.keys().filter_map(|k| keys::parse_job(k)).collect(), objects.keys().filter(|k| k.starts_with(keys::ITEMS)).cloned().collect())
        };
        let written: std::collections::HashSet<Uuid> = ids.iter().copied().collect();
        ids.extend(super::items::ids_in(self, &chunks).await?.into_iter().filter(|id| !written.contains(id)));
        Ok(ids)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.check("HeadBucket", "")
    }

    async fn create_job(&self, job: &Job) -> Result<bool, StoreError> {
        Ok(matches!(self.put_if(&keys::job(job.id), Self::json(job), None, None)?, Put::Written(_)))
    }

    async fn job(&self, id: Uuid) -> Result<Option<Versioned<Job>>, StoreError> {
        super::items::job(self, id).await
    }

    async fn create_items(&self, jobs: &[Job]) -> Result<usize, StoreError> {
        super::items::create(self, jobs).await
    }

    async fn replace_job(&self, job: &Job, version: &str) -> Result<Put, StoreError> {
        self.put_if(&keys::job(job.id), Self::json(job), None, super::items::if_match(version))
    }

    async fn create_batch(&self, batch: &Batch) -> Result<bool, StoreError> {
        Ok(matches!(self.put_if(&keys::batch(batch.id), Self::json(batch), None, None)?, Put::Written(_)))
    }

    async fn batch(&self, id: Uuid) -> Result<Option<Batch>, StoreError> {
        Ok(self.get_json(&keys::batch(id))?.map(|(b, _)| b))
    }

    async fn mark(&self, batch: Uuid, job: Uuid, status: Status) -> Result<(), StoreError> {
        self.put(&keys::marker(batch, job, status), Vec::new(), None)
    }

    async fn batch_statuses(&self, batch: Uuid) -> Result<HashMap<Uuid, Status>, StoreError> {
        let prefix = keys::marker_prefix(batch);
        self.check("ListObjectsV2", &prefix)?;
        let keys: Vec<String> =
            self.objects.lock().unwrap().range(prefix.clone()..).map(|(k, _)| k.clone()).take_while(|k| k.starts_with(&prefix)).collect();
        Ok(super::furthest(keys.iter().filter_map(|k| keys::parse_marker(&prefix, k))))
    }

    async fn item_statuses(&self, batch: Uuid, lines: std::ops::Range<u32>) -> Result<HashMap<Uuid, Status>, StoreError> {
        let prefix = keys::marker_prefix(batch);
        self.check("ListObjectsV2", &prefix)?;
        let start = format!("{prefix}{}", crate::domain::job::item_id(batch, lines.start));
        let keys: Vec<String> = self.objects.lock().unwrap().range(start..).map(|(k, _)| k.clone()).take_while(|k| k.starts_with(&prefix)).collect();
        let in_range = |(j, _): &(Uuid, Status)| crate::domain::job::item_of(*j).is_some_and(|(_, i)| lines.contains(&i));
        Ok(super::furthest(keys.iter().filter_map(|k| keys::parse_marker(&prefix, k)).filter(in_range)))
    }

    async fn report_info(&self, job: Uuid) -> Result<Option<Output>, StoreError> {
        Ok(self.get(&keys::report(job))?.and_then(|o| o.meta))
    }

    async fn create_report(&self, job: Uuid, pdf: Vec<u8>, sha256: &str) -> Result<Option<Output>, StoreError> {
        let meta = Output { key: keys::report(job), size: pdf.len() as u64, sha256: sha256.to_string() };
        Ok(match self.put_if(&meta.key.clone(), pdf, Some(meta.clone()), None)? {
            Put::Written(_) => Some(meta),
            Put::Conflict => None,
        })
    }

    async fn overwrite_report(&self, job: Uuid, pdf: Vec<u8>, sha256: &str) -> Result<Output, StoreError> {
        let meta = Output { key: keys::report(job), size: pdf.len() as u64, sha256: sha256.to_string() };
        self.put(&meta.key.clone(), pdf, Some(meta.clone()))?;
        Ok(meta)
    }

    async fn report(&self, job: Uuid) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.get(&keys::report(job))?.map(|o| o.bytes))
    }

    async fn manifest_upload_url(&self, batch: Uuid, expiry: Duration) -> Result<Presigned, StoreError> {
        Ok(Presigned { url: format!("memory:///{}", keys::manifest(batch)), expires_at: SystemTime::now() + expiry })
    }

    async fn manifest_size(&self, batch: Uuid) -> Result<Option<u64>, StoreError> {
        Ok(self.get(&keys::manifest(batch))?.map(|o| o.bytes.len() as u64))
    }

    async fn manifest_range(&self, batch: Uuid, from: u64, len: u64) -> Result<Vec<u8>, StoreError> {
        let o = self.get(&keys::manifest(batch))?.unwrap_or_else(|| Object { bytes: Vec::new(), version: String::new(), meta: None });
        let start = (from as usize).min(o.bytes.len());
        let end = (from.saturating_add(len) as usize).min(o.bytes.len());
        Ok(o.bytes[start..end].to_vec())
    }

    async fn put_manifest(&self, batch: Uuid, bytes: Vec<u8>) -> Result<(), StoreError> {
        self.put(&keys::manifest(batch), bytes, None)
    }

    async fn errors_url(&self, batch: Uuid, expiry: Duration) -> Result<Presigned, StoreError> {
        Ok(Presigned { url: format!("memory:///{}", keys::errors(batch)), expires_at: SystemTime::now() + expiry })
    }

    async fn begin_archive(&self, batch: Uuid) -> Result<String, StoreError> {
        self.check("CreateMultipartUpload", &keys::archive(batch))?;
        Ok(Uuid::new_v4().to_string())
    }

    async fn archive_part(&self, batch: Uuid, upload: &str, number: i32, bytes: Vec<u8>) -> Result<String, StoreError> {
        // Parts wait under their own keys, as S3 keeps them out of the bucket's listing.
        let key = format!("{}#{upload}/{number:05}", keys::archive(batch));
        self.put(&key, bytes, None)?;
        Ok(self.get(&key)?.map(|o| o.version).unwrap_or_default())
    }

    async fn finish_archive(&self, batch: Uuid, upload: &str, parts: Vec<(i32, String)>) -> Result<(), StoreError> {
        let key = keys::archive(batch);
        self.check("CompleteMultipartUpload", &key)?;
        let mut whole = Vec::new();
        {
            let mut objects = self.objects.lock().unwrap();
            for (n, etag) in parts {
                let part = objects.remove(&format!("{key}#{upload}/{n:05}"));
                match part {
                    Some(o) if o.version == etag => whole.extend_from_slice(&o.bytes),
                    _ => return Err(StoreError { op: "CompleteMultipartUpload", key, message: format!("no part {n} with ETag {etag}") }),
                }
            }
        }
        self.put(&key, whole, None)
    }

    async fn abort_archive(&self, batch: Uuid, upload: &str) -> Result<(), StoreError> {
        let prefix = format!("{}#{upload}/", keys::archive(batch));
        self.objects.lock().unwrap().retain(|k, _| !k.starts_with(&prefix));
        Ok(())
    }

    async fn archive_url(&self, batch: Uuid, expiry: Duration, filename: &str) -> Result<Presigned, StoreError> {
        Ok(Presigned { url: format!("memory:///{}?filename={filename}", keys::archive(batch)), expires_at: SystemTime::now() + expiry })
    }

    async fn report_url(&self, job: Uuid, expiry: Duration, filename: &str) -> Result<Presigned, StoreError> {
        self.check("presign GetObject", &keys::report(job))?;
        let expires_at = SystemTime::now() + expiry;
        Ok(Presigned { url: format!("memory:///{}?filename={filename}", keys::report(job)), expires_at })
    }
}
