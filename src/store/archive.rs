//! A batch's archive record ([`crate::domain::archive`]). The ZIP itself (multipart upload,
//! presigned download) is [`JobStore`](super::JobStore)'s.

use uuid::Uuid;

use super::{Objects, Put, StoreError, Versioned, keys, records};
use crate::domain::archive::{Archive, ArchiveResume};

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

    /// An unfinished build's state, if there is one.
    pub async fn resume(&self, batch: Uuid) -> Result<Option<ArchiveResume>, StoreError> {
        Ok(records::get::<Option<ArchiveResume>>(self.0, &keys::archive_resume(batch)).await?.and_then(|(r, _)| r))
    }

    /// Saves where a build is: the state and, under a new checkpoint (create-only keys, so a
    /// crash part-way leaves the previous one whole), the ZIP's central directory, the CSV and
    /// the bytes not yet uploaded.
    pub async fn save_resume(&self, batch: Uuid, st: &mut ArchiveResume, central: &[u8], csv: &[u8], tail: &[u8]) -> Result<(), StoreError> {
        st.checkpoint = Uuid::new_v4().to_string();
        for (name, bytes) in [("central", central), ("csv", csv), ("tail", tail)] {
            self.0.put_object_if(&keys::archive_checkpoint(batch, &st.checkpoint, name), bytes.to_vec(), None).await?;
        }
        self.write_state(batch, Some(st)).await
    }

    pub async fn blob(&self, batch: Uuid, checkpoint: &str, name: &str) -> Result<Vec<u8>, StoreError> {
        let key = keys::archive_checkpoint(batch, checkpoint, name);
        let missing = || StoreError { op: "GetObject", key: key.clone(), message: "an archive checkpoint's part is missing".into() };
        self.0.get_object(&key).await?.map(|(b, _)| b).ok_or_else(missing)
    }

    /// The build is over (done or dropped).
    pub async fn clear_resume(&self, batch: Uuid) -> Result<(), StoreError> {
        self.write_state(batch, None).await
    }

    async fn write_state(&self, batch: Uuid, st: Option<&ArchiveResume>) -> Result<(), StoreError> {
        let key = keys::archive_resume(batch);
        let state = st.cloned();
        records::update::<Option<ArchiveResume>, std::convert::Infallible>(self.0, &key, |_| Ok(state.clone()))
            .await?
            .map(|_| ())
            .map_err(|e| match e {})
    }
}
