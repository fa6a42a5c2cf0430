//! Access to the `/v1` routes ([`crate::domain::access`] has the rules): who the caller is,
//! whether the route's scope is theirs, and their daily quota, counted with conditional writes.
//!
//! `REPORTQ_AUTH` chooses how callers prove who they are:
//! - `off` (the default for `reportq serve`, `make dev` and the tests): no checks; every job is
//!   everyone's, as before keys existed;
//! - `keys`: `Authorization: Bearer rq_...`, looked up in the bucket (`apikeys/`);
//! - `jwt`: API Gateway's JWT authorizer has checked the token (issuer, audience, expiry); the
//!   function reads the claims it passes on (`sub` owns the jobs, `scope` grants the scopes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::Date;
use crate::domain::access::{self, ApiKey, Caller, JwtPolicy, Scope};
use crate::store::{ApiKeys, Objects, StoreError, Usage};

pub use crate::domain::access::AuthMode;

/// Why a call is not let through.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("this route needs an API key: send Authorization: Bearer rq_...")]
    Missing,
    #[error("the API key is not valid")]
    Invalid,
    #[error("this API key was revoked")]
    Revoked,
    #[error("this route needs a token from the API's JWT authorizer")]
    NoClaims,
    #[error("this key does not have the {} scope this route needs", .0.as_str())]
    Forbidden(Scope),
    #[error("this key's quota of {quota} reports a day is used up ({used} today, {adding} more asked for); it resets at midnight UTC")]
    QuotaExceeded { quota: u64, used: u64, adding: u64, retry_after: u64 },
    #[error("this request holds {adding} reports, more than this key's whole daily quota of {quota}: send it in parts")]
    OverQuota { quota: u64, adding: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How long a key's record is reused: a revoked key stops working within this.
pub const KEY_CACHE: Duration = Duration::from_secs(30);

/// Authentication and quotas over the bucket's records.
#[derive(Debug)]
pub struct Access {
    pub mode: AuthMode,
    /// How JWT claims become callers (scopes, quota).
    pub jwt: JwtPolicy,
    keys: ApiKeys,
    usage: Usage,
    cache: Mutex<HashMap<String, (Instant, ApiKey)>>,
}

/// What API Gateway's JWT authorizer passed on: the token's claims (as strings).
pub type Claims = HashMap<String, String>;

impl Access {
    pub fn new(mode: AuthMode, store: Arc<dyn Objects>) -> Access {
        Access { mode, jwt: JwtPolicy::default(), keys: ApiKeys::new(store.clone()), usage: Usage::new(store), cache: Mutex::new(HashMap::new()) }
    }

    /// Who is calling a route that needs `scope`.
    pub async fn authenticate(&self, authorization: Option<&str>, claims: Option<&Claims>, scope: Scope) -> Result<Caller, AccessError> {
        let caller = match self.mode {
            AuthMode::Off => return Ok(Caller::open()),
            AuthMode::Keys => {
                let token = authorization.and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer "))).map(str::trim);
                let token = token.ok_or(AccessError::Missing)?;
                Caller::of_key(&self.api_key(token).await?)
            }
            AuthMode::Jwt => caller_of_claims(claims.ok_or(AccessError::NoClaims)?, &self.jwt)?,
        };
        if !caller.scopes.contains(&scope) {
            return Err(AccessError::Forbidden(scope));
        }
        Ok(caller)
    }

    /// The live record of a presented key.
    async fn api_key(&self, token: &str) -> Result<ApiKey, AccessError> {
        let id = access::key_id(token).ok_or(AccessError::Invalid)?;
        let cached = self.cache.lock().unwrap_or_else(|e| e.into_inner()).get(id).filter(|(at, _)| at.elapsed() < KEY_CACHE).map(|(_, k)| k.clone());
        let record = match cached {
            Some(k) => k,
            None => {
                let k = self.keys.get(id).await?.ok_or(AccessError::Invalid)?;
                let mut cache = self.cache.lock().unwrap_or_else(|e| e.into_inner());
                if cache.len() > 10_000 {
                    cache.clear();
                }
                cache.insert(id.to_string(), (Instant::now(), k.clone()));
                k
            }
        };
        if !access::matches(&record, token) {
            return Err(AccessError::Invalid);
        }
        if record.revoked_at_epoch.is_some() {
            return Err(AccessError::Revoked);
        }
        Ok(record)
    }

    /// Counts `n` reports against the caller's quota for today, or refuses them all. Exact under
    /// any number of concurrent submits: each count is a conditional write over the one read.
    pub async fn charge(&self, caller: &Caller, n: u64, now: i64) -> Result<(), AccessError> {
        let Some((id, quota)) = &caller.quota else { return Ok(()) };
        // Waiting for tomorrow cannot help a request bigger than a whole day's quota.
        if n > *quota {
            return Err(AccessError::OverQuota { quota: *quota, adding: n });
        }
        let retry_after = (86_400 - now.rem_euclid(86_400)) as u64;
        match self.usage.add_within(id, Date::from_epoch(now), n, *quota).await? {
            Ok(_) => Ok(()),
            Err(used) => Err(AccessError::QuotaExceeded { quota: *quota, used, adding: n, retry_after }),
        }
    }

    /// Gives back `n` reports charged today that made no job (a replayed Idempotency-Key, a
    /// submit that failed).
    pub async fn refund(&self, caller: &Caller, n: u64, now: i64) {
        let Some((id, _)) = &caller.quota else { return };
        if let Err(e) = self.usage.subtract(id, Date::from_epoch(now), n).await {
            tracing::warn!(key_id = id.as_str(), n, error = %e, "quota refund not written");
        }
    }

    /// Reports counted against a key today.
    pub async fn used_today(&self, id: &str, now: i64) -> Result<u64, StoreError> {
        self.usage.count(id, Date::from_epoch(now)).await
    }

    /// `reportq keys create`: a new key; the text is returned once and never stored.
    pub async fn create_key(&self, name: &str, scopes: Vec<Scope>, quota: Option<u64>, now: i64) -> Result<(String, ApiKey), StoreError> {
        loop {
            let (token, record) = access::new_key(name, scopes.clone(), quota, now);
            // Create-only: an id collision (1 in 2^48) draws again rather than overwrite.
            if self.keys.create(&record).await? {
                return Ok((token, record));
            }
        }
    }

    /// Every key's record, oldest first.
    pub async fn list_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        self.keys.list().await
    }

    /// Revokes a key by id (`None` if there is no such key). Kept, not deleted: the record
    /// says when, and the id is never reused.
    pub async fn revoke_key(&self, id: &str, now: i64) -> Result<Option<ApiKey>, StoreError> {
        let revoked = self
            .keys
            .update(id, |mut k| {
                k.revoked_at_epoch.get_or_insert(now);
                k
            })
            .await?;
        self.cache.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        Ok(revoked)
    }

    /// `reportq keys rotate-webhook-secret`: the key's new signing secret (shown once), the
    /// previous one still signing beside it until the next rotation. `None`: no such key.
    pub async fn rotate_webhook_secret(&self, id: &str) -> Result<Option<(String, ApiKey)>, StoreError> {
        let mut fresh = String::new();
        let rotated = self
            .keys
            .update(id, |mut k| {
                fresh = k.rotate_webhook_secret();
                k
            })
            .await?;
        Ok(rotated.map(|k| (fresh, k)))
    }
}

/// A caller from JWT claims: `sub` (with the issuer, so two issuers' subjects never meet) owns
/// the jobs; `scope` (space-separated, OAuth 2.0) or `scp` grants scopes, matched exactly by
/// `policy`; no scope claim grants none. The subject's daily quota is `policy`'s, counted
/// like a key's under an id made from the owner.
pub fn caller_of_claims(claims: &Claims, policy: &JwtPolicy) -> Result<Caller, AccessError> {
    let sub = claims.get("sub").filter(|s| !s.is_empty()).ok_or(AccessError::NoClaims)?;
    let iss = claims.get("iss").map(String::as_str).unwrap_or("");
    let scopes = policy.scopes(claims.get("scope").or_else(|| claims.get("scp")).map(String::as_str));
    let owner = format!("jwt:{iss}|{sub}");
    let quota = policy.quota_per_day.map(|q| (jwt_quota_id(&owner), q));
    Ok(Caller { owner: Some(owner), scopes, quota })
}

/// A JWT subject's quota counter id: the owner's text may hold anything (`/`, `|`), the id
/// names a key in the bucket.
fn jwt_quota_id(owner: &str) -> String {
    use sha2::{Digest, Sha256};
    format!("jwt-{}", &hex::encode(Sha256::digest(owner.as_bytes()))[..32])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemoryStore;

    fn access(mode: AuthMode) -> (Access, Arc<MemoryStore>) {
        let store = Arc::new(MemoryStore::new());
        (Access::new(mode, store.clone()), store)
    }

    #[tokio::test]
    async fn keys_authenticate_scope_and_revoke() {
        let (a, store) = access(AuthMode::Keys);
        let (token, rec) = a.create_key("ci", vec![Scope::Submit, Scope::Read], Some(5), 100).await.unwrap();
        let bearer = format!("Bearer {token}");
        let c = a.authenticate(Some(&bearer), None, Scope::Submit).await.unwrap();
        assert_eq!(c.owner.as_deref(), Some(format!("key:{}", rec.id).as_str()));
        assert!(matches!(a.authenticate(Some(&bearer), None, Scope::Score).await, Err(AccessError::Forbidden(Scope::Score))));
        assert!(matches!(a.authenticate(None, None, Scope::Read).await, Err(AccessError::Missing)));
        let wrong = format!("Bearer {}0", &token[..token.len() - 1]);
        let wrong = if wrong == bearer { format!("Bearer {}1", &token[..token.len() - 1]) } else { wrong };
        assert!(matches!(a.authenticate(Some(&wrong), None, Scope::Read).await, Err(AccessError::Invalid)));
        // What is stored is the hash, never the key.
        for k in store.keys() {
            let (bytes, _) = store.get_object(&k).await.unwrap().unwrap();
            assert!(!String::from_utf8_lossy(&bytes).contains(&token[3..]), "{k} holds the key");
        }
        a.revoke_key(&rec.id, 200).await.unwrap().unwrap();
        assert!(matches!(a.authenticate(Some(&bearer), None, Scope::Read).await, Err(AccessError::Revoked)));
        assert_eq!(a.list_keys().await.unwrap()[0].revoked_at_epoch, Some(200));
        assert!(a.revoke_key("000000000000", 200).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn quotas_count_per_day_and_refund() {
        let (a, _) = access(AuthMode::Keys);
        let (_, rec) = a.create_key("q", vec![Scope::Submit], Some(3), 0).await.unwrap();
        let c = Caller::of_key(&rec);
        let day = 1_795_000_000;
        a.charge(&c, 2, day).await.unwrap();
        let e = a.charge(&c, 2, day).await.unwrap_err();
        assert!(matches!(e, AccessError::QuotaExceeded { quota: 3, used: 2, adding: 2, .. }), "{e}");
        a.refund(&c, 1, day).await;
        a.charge(&c, 2, day).await.unwrap();
        assert_eq!(a.used_today(&rec.id, day).await.unwrap(), 3);
        // The next day starts from zero.
        a.charge(&c, 3, day + 86_400).await.unwrap();
    }

    fn claims(pairs: &[(&str, &str)]) -> Claims {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn jwt_claims_make_callers() {
        let prefixed = JwtPolicy { scope_prefix: Some("reportq".into()), quota_per_day: None };
        let c = caller_of_claims(&claims(&[("sub", "u1"), ("iss", "https://id.example.org"), ("scope", "openid reportq/read")]), &prefixed).unwrap();
        assert_eq!(c.scopes, vec![Scope::Read]);
        assert_eq!(c.owner.as_deref(), Some("jwt:https://id.example.org|u1"));
        assert_eq!(c.quota, None);
        assert!(matches!(caller_of_claims(&Claims::new(), &prefixed), Err(AccessError::NoClaims)));
    }

    /// Found in review: no scope claim gave every scope (so an ID token passed as an access
    /// token), and any resource-server prefix granted a scope (`billing/submit`).
    #[test]
    fn jwt_scopes_are_matched_exactly_and_none_is_none() {
        let prefixed = JwtPolicy { scope_prefix: Some("reportq".into()), quota_per_day: None };
        let bare = JwtPolicy::default();
        let scopes = |policy: &JwtPolicy, scope: Option<&str>| {
            let mut c = vec![("sub", "u1"), ("iss", "i")];
            c.extend(scope.map(|s| ("scope", s)));
            caller_of_claims(&claims(&c), policy).unwrap().scopes
        };
        assert_eq!(scopes(&prefixed, None), vec![], "an ID token has no scope claim");
        assert_eq!(scopes(&bare, None), vec![]);
        assert_eq!(scopes(&prefixed, Some("billing/submit reportq:read https://x/score")), vec![]);
        assert_eq!(scopes(&prefixed, Some("reportq/submit reportq/score submit")), vec![Scope::Submit, Scope::Score]);
        assert_eq!(scopes(&bare, Some("reportq/submit read")), vec![Scope::Read]);
        // Okta's array claim as API Gateway passes it.
        let c = caller_of_claims(&claims(&[("sub", "u"), ("scp", "[reportq/read reportq/submit]")]), &prefixed).unwrap();
        assert_eq!(c.scopes, vec![Scope::Submit, Scope::Read]);
    }

    /// JWT subjects get the policy's daily quota, counted per subject like a key's.
    #[tokio::test]
    async fn jwt_subjects_have_a_daily_quota_each() {
        let store = Arc::new(MemoryStore::new());
        let mut a = Access::new(AuthMode::Jwt, store);
        a.jwt = JwtPolicy { scope_prefix: None, quota_per_day: Some(2) };
        let alice = claims(&[("sub", "alice"), ("iss", "i"), ("scope", "submit")]);
        let bob = claims(&[("sub", "bob"), ("iss", "i"), ("scope", "submit")]);
        let day = 1_795_000_000;
        let ca = a.authenticate(None, Some(&alice), Scope::Submit).await.unwrap();
        let cb = a.authenticate(None, Some(&bob), Scope::Submit).await.unwrap();
        a.charge(&ca, 2, day).await.unwrap();
        assert!(matches!(a.charge(&ca, 1, day).await, Err(AccessError::QuotaExceeded { quota: 2, used: 2, .. })));
        a.charge(&cb, 2, day).await.unwrap();
        assert!(matches!(a.authenticate(None, Some(&alice), Scope::Read).await, Err(AccessError::Forbidden(Scope::Read))));
    }
}
