//! The records of a manifest's fan-out ([`crate::domain::manifest`]): its cursor and its
//! invalid lines. The manifest file itself (presigned upload, size, ranged reads) is
//! [`JobStore`](super::JobStore)'s, since only S3 has ranges and presigned PUTs.

use uuid::Uuid;

use super::{Objects, Put, StoreError, Versioned, keys, records};
use std::collections::HashMap;

use crate::domain::manifest::{Cursor, LineError, Settled};

#[derive(Debug, Clone)]
pub struct FanoutRecords<'a>(pub &'a dyn Objects);

impl FanoutRecords<'_> {
    pub async fn cursor(&self, batch: Uuid) -> Result<Option<Versioned<Cursor>>, StoreError> {
        records::get(self.0, &keys::fanout(batch)).await
    }

    /// Writes the cursor over `version` (create-only for `None`).
    pub async fn put_cursor(&self, batch: Uuid, cursor: &Cursor, version: Option<&str>) -> Result<Put, StoreError> {
        records::put(self.0, &keys::fanout(batch), cursor, version).await
    }

    pub async fn settled(&self, batch: Uuid) -> Result<Option<Versioned<Settled>>, StoreError> {
        records::get(self.0, &keys::settled(batch)).await
    }

    /// Writes the settled chunks over `version` (create-only for `None`).
    pub async fn put_settled(&self, batch: Uuid, settled: &Settled, version: Option<&str>) -> Result<Put, StoreError> {
        records::put(self.0, &keys::settled(batch), settled, version).await
    }

    /// One chunk's invalid lines (JSONL). Create-only: a chunk fanned out again keeps its first.
    pub async fn put_errors_part(&self, batch: Uuid, chunk: u32, jsonl: Vec<u8>) -> Result<(), StoreError> {
        self.0.put_object_if(&keys::errors_part(batch, chunk), jsonl, None).await.map(|_| ())
    }

    /// Every invalid line read so far, by its (1-based) number.
    pub async fn line_errors(&self, batch: Uuid) -> Result<HashMap<u32, LineError>, StoreError> {
        let mut out = HashMap::new();
        for key in self.0.list_keys(&keys::errors_parts(batch)).await? {
            let Some((bytes, _)) = self.0.get_object(&key).await? else { continue };
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                let e: LineError = serde_json::from_slice(line).map_err(|e| StoreError {
                    op: "GetObject",
                    key: key.clone(),
                    message: format!("not an error line: {e}"),
                })?;
                out.insert(e.line, e);
            }
        }
        Ok(out)
    }

    /// Joins the parts, in line order, into `errors.jsonl` (kept if already there). Holds at
    /// most the batch's error lines in memory (~200 bytes a line).
    pub async fn join_errors(&self, batch: Uuid) -> Result<(), StoreError> {
        let mut parts = self.0.list_keys(&keys::errors_parts(batch)).await?;
        parts.sort();
        let mut all = Vec::new();
        for key in parts {
            if let Some((bytes, _)) = self.0.get_object(&key).await? {
                all.extend_from_slice(&bytes);
            }
        }
        self.0.put_object_if(&keys::errors(batch), all, None).await.map(|_| ())
    }
}
