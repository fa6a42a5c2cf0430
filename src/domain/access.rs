//! Who may call the `/v1` routes: API keys (`Authorization: Bearer rq_...`) with scopes and
//! an optional daily quota, or the claims of a JWT that API Gateway's authorizer checked.
//! No I/O here: looking keys up and counting is [`crate::access`].
//!
//! A key is `rq_{id}_{secret}`: the id (12 hex digits) names the record, the secret (32 random
//! bytes, hex) is never stored. The record holds the SHA-256 of the whole key, which is all a
//! leaked bucket gives away: a key with 256 bits of randomness cannot be found from its hash.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// How callers authenticate (`REPORTQ_AUTH`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    #[default]
    Off,
    Keys,
    Jwt,
}

impl AuthMode {
    pub fn parse(s: &str) -> Option<AuthMode> {
        match s {
            "off" | "0" | "none" => Some(AuthMode::Off),
            "keys" | "key" | "api-keys" => Some(AuthMode::Keys),
            "jwt" => Some(AuthMode::Jwt),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Off => "off",
            AuthMode::Keys => "keys",
            AuthMode::Jwt => "jwt",
        }
    }
}

/// What a caller may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// Submit reports and batches, and the synchronous chart and CSV routes.
    Submit,
    /// Read the caller's own jobs and batches, and download their PDFs.
    Read,
    /// The scoring routes.
    Score,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Submit, Scope::Read, Scope::Score];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Submit => "submit",
            Scope::Read => "read",
            Scope::Score => "score",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// `submit,read` -> the scopes, or which word is not one.
    pub fn parse_list(s: &str) -> Result<Vec<Scope>, String> {
        let mut out: Vec<Scope> = Vec::new();
        for w in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            let scope = Scope::parse(w).ok_or_else(|| format!("{w:?} is not a scope (submit, read, score)"))?;
            if !out.contains(&scope) {
                out.push(scope);
            }
        }
        if out.is_empty() {
            return Err("give at least one scope (submit, read, score)".into());
        }
        out.sort();
        Ok(out)
    }
}

/// An API key's stored record (`apikeys/{id}.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// Reports (a batch counts each) this key may submit per UTC day; none: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota_per_day: Option<u64>,
    /// SHA-256 (hex) of the whole key: what a presented key is checked against.
    pub hash: String,
    pub created_at_epoch: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_at_epoch: Option<i64>,
    /// The key's own webhook signing secrets (`whsec_...`), newest first, at most two while a
    /// rotation is under way: its callers' receivers verify events with them, and no other
    /// caller's event is signed with them. Empty for keys made before secrets were per key:
    /// their events are signed with the deployment's `REPORTQ_WEBHOOK_SECRETS`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhook_secrets: Vec<String>,
}

impl ApiKey {
    /// A new signing secret first; the one before kept so that receivers can move over (events
    /// carry a signature by each), any older one dropped.
    pub fn rotate_webhook_secret(&mut self) -> String {
        let fresh = super::webhook::Secret::generate();
        self.webhook_secrets.insert(0, fresh.clone());
        self.webhook_secrets.truncate(2);
        fresh
    }
}

/// The prefix every key starts with (what secret scanners look for).
pub const KEY_PREFIX: &str = "rq_";

/// A new key: the text to give the caller once, and its record.
pub fn new_key(name: &str, scopes: Vec<Scope>, quota_per_day: Option<u64>, now: i64) -> (String, ApiKey) {
    let mut bytes = [0u8; 38];
    getrandom::fill(&mut bytes).expect("the OS has randomness");
    let id = hex::encode(&bytes[..6]);
    let token = format!("{KEY_PREFIX}{id}_{}", hex::encode(&bytes[6..]));
    let record = ApiKey {
        id,
        name: name.into(),
        scopes,
        quota_per_day,
        hash: hash(&token),
        created_at_epoch: now,
        revoked_at_epoch: None,
        webhook_secrets: vec![super::webhook::Secret::generate()],
    };
    (token, record)
}

/// SHA-256 (hex) of a key.
pub fn hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The record id a presented key names, if it has a key's shape.
pub fn key_id(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hexish = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hexish(id, 12) && hexish(secret, 64)).then_some(id)
}

/// Whether `token` is the key `record` was made for (constant time over the hashes).
pub fn matches(record: &ApiKey, token: &str) -> bool {
    let given = hash(token);
    given.len() == record.hash.len() && given.bytes().zip(record.hash.bytes()).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0
}

/// How a JWT's claims become a caller (`REPORTQ_JWT_SCOPE_PREFIX`,
/// `REPORTQ_JWT_QUOTA_PER_DAY`; the template's `JwtScopePrefix`, `JwtQuotaPerDay`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtPolicy {
    /// The resource server's prefix: with `reportq`, only `reportq/submit` grants `submit`.
    /// None: only the bare names (`submit`, `read`, `score`).
    pub scope_prefix: Option<String>,
    /// Reports each subject may submit per UTC day (None: no limit).
    pub quota_per_day: Option<u64>,
}

impl JwtPolicy {
    /// The scope one granted scope string names, matched exactly: `billing/submit` grants
    /// nothing under the prefix `reportq`, nor does `reportq/submit` without a prefix.
    pub fn scope(&self, granted: &str) -> Option<Scope> {
        let name = match &self.scope_prefix {
            Some(p) => granted.strip_prefix(p.as_str())?.strip_prefix('/')?,
            None => granted,
        };
        Scope::parse(name)
    }

    /// The scopes a `scope` (space-separated, OAuth 2.0) or `scp` claim grants. No claim
    /// grants nothing: an ID token (whose `aud` is the client id the authorizer also accepts)
    /// carries no scope, and must not pass as an access token with every scope.
    pub fn scopes(&self, claim: Option<&str>) -> Vec<Scope> {
        // API Gateway passes an array claim (Okta's `scp`) as "[a b]".
        let mut v: Vec<Scope> = claim.into_iter().flat_map(|s| s.split([' ', ',', '[', ']'])).filter_map(|g| self.scope(g)).collect();
        v.sort();
        v.dedup();
        v
    }
}

/// Who is calling, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// What owns the jobs this caller makes (`key:{id}`, `jwt:{sub}`); `None` with
    /// authentication off (everything is everyone's, as before keys existed).
    pub owner: Option<String>,
    pub scopes: Vec<Scope>,
    /// The key's daily quota: (key id, reports per day).
    pub quota: Option<(String, u64)>,
}

impl Caller {
    /// Anyone, with authentication off.
    pub fn open() -> Caller {
        Caller { owner: None, scopes: Scope::ALL.to_vec(), quota: None }
    }

    pub fn of_key(key: &ApiKey) -> Caller {
        Caller { owner: Some(format!("key:{}", key.id)), scopes: key.scopes.clone(), quota: key.quota_per_day.map(|q| (key.id.clone(), q)) }
    }

    /// May this caller see a job or batch owned by `owner`? With authentication on, only its
    /// own: anything else reads as missing (404), so ids cannot be probed.
    pub fn may_read(&self, owner: Option<&str>) -> bool {
        match &self.owner {
            None => true,
            Some(me) => owner == Some(me.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_checked_by_hash_and_shaped() {
        let (token, rec) = new_key("ci", vec![Scope::Submit], Some(10), 1);
        let (other, _) = new_key("ci", vec![Scope::Submit], Some(10), 1);
        assert_ne!(token, other);
        assert!(token.starts_with("rq_") && token.len() == 3 + 12 + 1 + 64, "{token}");
        assert_eq!(key_id(&token), Some(rec.id.as_str()));
        assert!(matches(&rec, &token));
        assert!(!matches(&rec, &other));
        assert!(!rec.hash.contains(&token[16..]) && rec.hash.len() == 64);
        for bad in ["", "rq_", "rq_abc_def", "Bearer rq_x", &token[..token.len() - 1]] {
            assert_eq!(key_id(bad), None, "{bad}");
        }
    }

    #[test]
    fn scopes_parse_from_lists_and_claims() {
        assert_eq!(Scope::parse_list("read, submit,read").unwrap(), vec![Scope::Submit, Scope::Read]);
        assert!(Scope::parse_list("write").unwrap_err().contains("\"write\""));
        assert!(Scope::parse_list("").is_err());
        let url = JwtPolicy { scope_prefix: Some("https://reports.example.org".into()), quota_per_day: None };
        assert_eq!(url.scope("https://reports.example.org/score"), Some(Scope::Score));
        assert_eq!(url.scope("https://reports.example.org.evil/score"), None);
        assert_eq!(url.scope("openid"), None);
    }

    #[test]
    fn callers_read_only_their_own() {
        let (_, rec) = new_key("a", vec![Scope::Read], None, 1);
        let c = Caller::of_key(&rec);
        assert!(c.may_read(c.owner.as_deref()));
        assert!(!c.may_read(Some("key:000000000000")));
        assert!(!c.may_read(None));
        assert!(Caller::open().may_read(Some("key:x")));
    }
}
