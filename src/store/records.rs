//! Typed reads and writes over [`Objects`](super::Objects), and the one read-modify-write
//! loop. Private to the store: the typed stores ([`super::typed`]) are what others use.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Objects, Put, StoreError, Versioned};

pub async fn get<T: DeserializeOwned>(s: &dyn Objects, key: &str) -> Result<Option<Versioned<T>>, StoreError> {
    let Some((bytes, version)) = s.get_object(key).await? else { return Ok(None) };
    let value = serde_json::from_slice(&bytes).map_err(|e| StoreError {
        op: "GetObject",
        key: key.to_string(),
        message: format!("not a valid record: {e}"),
    })?;
    Ok(Some((value, version)))
}

pub async fn put<T: Serialize>(s: &dyn Objects, key: &str, value: &T, if_match: Option<&str>) -> Result<Put, StoreError> {
    s.put_object_if(key, serde_json::to_vec(value).expect("records serialise"), if_match).await
}

/// Applies `change` to the record at `key` (`None` if there is none) and writes the result
/// conditionally, again on a lost race, until it is written or `change` declines (`Err`).
/// What several writers at once cannot miscount: each write is over the version read.
pub async fn update<T, E>(s: &dyn Objects, key: &str, mut change: impl FnMut(Option<T>) -> Result<T, E>) -> Result<Result<T, E>, StoreError>
where
    T: Serialize + DeserializeOwned + Clone,
{
    for round in 0u32.. {
        let current = get::<T>(s, key).await?;
        let version = current.as_ref().map(|(_, v)| v.clone());
        let next = match change(current.map(|(t, _)| t)) {
            Ok(t) => t,
            Err(e) => return Ok(Err(e)),
        };
        if let Put::Written(_) = put(s, key, &next, version.as_deref()).await? {
            return Ok(Ok(next));
        }
        if round >= 200 {
            return Err(StoreError { op: "PutObject", key: key.into(), message: "gave up after 200 conflicting writes".into() });
        }
        // Lost a race: spread the retries so that 50 writers do not collide in lockstep.
        let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % (5 + 5 * u64::from(round.min(8)));
        tokio::time::sleep(std::time::Duration::from_millis(jitter)).await;
    }
    unreachable!("the loop returns")
}
