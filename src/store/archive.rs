//! A batch's archive record ([`crate::domain::archive`]). The ZIP itself (multipart upload,
//! presigned download) is [`JobStore`](super::JobStore)'s.

use uuid::Uuid;

use super::{Objects, Put, StoreError, Versioned, keys, records};
use crate::domain::archive::Archive;

#[derive(Debug, Clone)]
pub struct ArchiveRecords<'a>(pub &'a dyn Objects);

impl ArchiveRecords<'_> {
    pub async fn get(&self, batch: Uuid) -> Result<Option<Versioned<Archive>>, StoreError> {
        records::get(self.0, &keys::archive_record(batch)).await
    }

    /// Writes the record over `version` (create-only for `None`).
    pub async fn put(&self, batch: Uuid, archive: &Archive, version: Option<&str>) -> Result<Put, StoreError> {
        records::put(self.0, &keys::archive_record(batch), archive, version).await
    }
}
