//! Webhooks, the way the Standard Webhooks specification describes them: what a caller asks
//! for (`"callback": {"url": ...}`), what is sent (an event signed with HMAC-SHA256 over
//! `{id}.{timestamp}.{body}`), how a receiver checks it, and what is kept of each delivery.
//! No I/O here: sending is [`crate::webhook`], the address rules are [`crate::webhook::ssrf`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::ParamError;

/// Networks a callback may reach even though they are not public.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList(pub Vec<ipnet::IpNet>);

impl AllowList {
    /// `127.0.0.1/32, 10.1.0.0/16` (a bare address is a /32 or /128).
    pub fn parse(s: &str) -> Result<AllowList, String> {
        let mut nets = Vec::new();
        for w in s.split([',', ' ']).map(str::trim).filter(|w| !w.is_empty()) {
            let net = match w.parse::<ipnet::IpNet>() {
                Ok(n) => n,
                Err(_) => ipnet::IpNet::from(w.parse::<std::net::IpAddr>().map_err(|_| format!("{w:?} is neither a CIDR nor an address"))?),
            };
            nets.push(net);
        }
        Ok(AllowList(nets))
    }

    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(&ip))
    }
}

/// The longest callback URL taken (what most HTTP servers accept in a request line).
pub const MAX_URL: usize = 2048;

/// Where to POST a job's (or a batch's) final event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Callback {
    pub url: String,
}

impl Callback {
    /// Parses `{"url": "https://..."}` at `field`. Only the URL's form is checked here; whether
    /// its host may be called is decided against its resolved addresses ([`crate::webhook::ssrf`]).
    pub fn parse(value: &serde_json::Value, field: &str) -> Result<Callback, ParamError> {
        let cb: Callback = serde_path_to_error::deserialize(value).map_err(|e| super::json_error(field, e))?;
        let at = |m: String| ParamError::new(format!("{field}.url"), m);
        if cb.url.len() > MAX_URL {
            return Err(at(format!("is {} characters long; at most {MAX_URL}", cb.url.len())));
        }
        let url = url::Url::parse(&cb.url).map_err(|e| at(format!("is not a URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(at(format!("must be an https URL, not {}:", url.scheme())));
        }
        if url.host().is_none() {
            return Err(at("has no host".into()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(at("must not carry a user name or password".into()));
        }
        Ok(cb)
    }
}

/// The event types reportq sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "report.succeeded")]
    ReportSucceeded,
    #[serde(rename = "report.failed")]
    ReportFailed,
    #[serde(rename = "batch.completed")]
    BatchCompleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::ReportSucceeded => "report.succeeded",
            EventType::ReportFailed => "report.failed",
            EventType::BatchCompleted => "batch.completed",
        }
    }
}

/// What an event is about: one job, or one batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "id")]
pub enum Subject {
    Report(Uuid),
    Batch(Uuid),
}

impl Subject {
    /// The `webhook-id` of this subject's one final event: the same on every attempt and every
    /// duplicate, so a receiver can drop repeats. A job and a batch never share an id.
    pub fn webhook_id(self) -> String {
        match self {
            Subject::Report(id) | Subject::Batch(id) => format!("msg_{}", id.simple()),
        }
    }
}

/// The body of a delivery-queue message: which event, which attempt, and not before when
/// (SQS delays a message at most 15 minutes; a longer wait is a chain of delays).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMessage {
    pub subject: Subject,
    /// 1 for the first try.
    pub attempt: u32,
    /// Milliseconds since 1970.
    pub not_before_ms: i64,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Queued, or waiting for its next attempt.
    Pending,
    /// A 2xx answer was received.
    Delivered,
    /// Every attempt failed, or the URL may not be called.
    Failed,
}

/// One attempt at a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    pub attempt: u32,
    /// Milliseconds since 1970, when the request was sent.
    pub at_ms: i64,
    /// The receiver's HTTP status, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// Why there was no 2xx: a timeout, a refused address, a connection error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The record of one event's delivery (`webhooks/{webhook_id}.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub webhook_id: String,
    pub subject: Subject,
    pub event: EventType,
    pub url: String,
    pub state: DeliveryState,
    #[serde(default)]
    pub attempts: Vec<Attempt>,
}

/// The most attempts a record keeps (the schedule has fewer; duplicates could add some).
pub const MAX_ATTEMPTS_KEPT: usize = 20;

impl Delivery {
    pub fn new(subject: Subject, event: EventType, url: &str) -> Delivery {
        Delivery { webhook_id: subject.webhook_id(), subject, event, url: url.into(), state: DeliveryState::Pending, attempts: Vec::new() }
    }

    /// The record with `attempt` added and the state it leads to.
    pub fn with_attempt(mut self, attempt: Attempt, state: DeliveryState) -> Delivery {
        if self.attempts.len() >= MAX_ATTEMPTS_KEPT {
            self.attempts.remove(0);
        }
        self.attempts.push(attempt);
        self.state = state;
        self
    }
}

/// A signing secret: `whsec_` and the base64 of the key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

impl Secret {
    pub const PREFIX: &str = "whsec_";

    /// Parses `whsec_<base64>` (the prefix may be left off, as the spec's libraries allow).
    pub fn parse(s: &str) -> Result<Secret, String> {
        let b64 = s.trim().strip_prefix(Self::PREFIX).unwrap_or(s.trim());
        let bytes = B64.decode(b64).map_err(|e| format!("a webhook secret is whsec_ and base64: {e}"))?;
        if bytes.len() < 24 || bytes.len() > 64 {
            return Err(format!("a webhook secret's key is 24 to 64 bytes; this one is {}", bytes.len()));
        }
        Ok(Secret(bytes))
    }

    /// A new random 32-byte secret, in its `whsec_` form.
    pub fn generate() -> String {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the OS has randomness");
        format!("{}{}", Self::PREFIX, B64.encode(key))
    }

    /// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        format!("v1,{}", B64.encode(self.mac(id, timestamp, body)))
    }

    fn mac(&self, id: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
        self.hmac(id, timestamp, body).finalize().into_bytes().to_vec()
    }

    /// The HMAC of `{id}.{timestamp}.{body}`, not yet finalised.
    fn hmac(&self, id: &str, timestamp: i64, body: &[u8]) -> hmac::Hmac<sha2_next::Sha256> {
        let mut mac = hmac::Hmac::<sha2_next::Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        mac
    }
}

/// The `webhook-signature` header: one `v1,` signature per active secret, space-separated, so
/// a receiver can move to a new secret while the old one still verifies.
pub fn signature_header(secrets: &[Secret], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets.iter().map(|s| s.sign(id, timestamp, body)).collect::<Vec<_>>().join(" ")
}

/// How far a `webhook-timestamp` may be from the receiver's clock (the spec's example: 5 minutes).
pub const TOLERANCE_SECS: i64 = 300;

/// Why a signature does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no v1 signature in the header matches")]
    NoMatch,
    #[error("the timestamp is {0} s away from now, more than the tolerance")]
    Stale(i64),
}

/// Checks a delivery as a receiver would: some `v1,` signature in `header` is the HMAC of
/// `{id}.{timestamp}.{body}` under `secret`, and, with `now`, the
/// timestamp is within `tolerance` seconds of it.
pub fn verify(secret: &Secret, id: &str, timestamp: i64, header: &str, body: &[u8], now: Option<i64>, tolerance: i64) -> Result<(), VerifyError> {
    if let Some(now) = now
        && (now - timestamp).abs() > tolerance
    {
        return Err(VerifyError::Stale(now - timestamp));
    }
    // Mac::verify_slice compares in constant time: how long a wrong guess takes says nothing
    // about the right one.
    let ok = header
        .split_whitespace()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(|b| B64.decode(b).ok())
        .any(|given| secret.hmac(id, timestamp, body).verify_slice(&given).is_ok());
    if ok { Ok(()) } else { Err(VerifyError::NoMatch) }
}

/// A delivery's schedule: the delay before attempt `n + 1` after attempt `n` failed, or `None`
/// when `n` was the last.
pub fn next_delay(backoff: &[std::time::Duration], attempt: u32) -> Option<std::time::Duration> {
    backoff.get(attempt as usize - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_urls_are_checked_for_form() {
        let ok = Callback::parse(&serde_json::json!({"url": "https://example.org/hook"}), "callback").unwrap();
        assert_eq!(ok.url, "https://example.org/hook");
        for (v, needle) in [
            (serde_json::json!({"url": "ftp://example.org/"}), "https URL"),
            (serde_json::json!({"url": "not a url"}), "not a URL"),
            (serde_json::json!({"url": "https://u:p@example.org/"}), "user name"),
            (serde_json::json!({"url": format!("https://e.org/{}", "a".repeat(MAX_URL))}), "at most"),
            (serde_json::json!({"uri": "https://example.org/"}), "unknown field"),
        ] {
            let e = Callback::parse(&v, "callback").unwrap_err();
            assert!(e.field.starts_with("callback"), "{e}");
            assert!(e.message.contains(needle), "{v}: {e}");
        }
    }

    #[test]
    fn secrets_sign_and_verify_and_rotate() {
        let a = Secret::parse(&Secret::generate()).unwrap();
        let b = Secret::parse(&Secret::generate()).unwrap();
        let header = signature_header(&[a.clone(), b.clone()], "msg_1", 1_700_000_000, b"{}");
        assert_eq!(header.split(' ').count(), 2);
        assert_eq!(verify(&a, "msg_1", 1_700_000_000, &header, b"{}", None, TOLERANCE_SECS), Ok(()));
        assert_eq!(verify(&b, "msg_1", 1_700_000_000, &header, b"{}", None, TOLERANCE_SECS), Ok(()));
        assert_eq!(verify(&a, "msg_1", 1_700_000_000, &header, b"{ }", None, TOLERANCE_SECS), Err(VerifyError::NoMatch));
        assert_eq!(verify(&a, "msg_2", 1_700_000_000, &header, b"{}", None, TOLERANCE_SECS), Err(VerifyError::NoMatch));
        assert!(matches!(verify(&a, "msg_1", 1_700_000_000, &header, b"{}", Some(1_700_000_301), 300), Err(VerifyError::Stale(301))));
        assert!(Secret::parse("whsec_c2hvcnQ=").unwrap_err().contains("24 to 64"));
        assert!(Secret::parse("whsec_!!!").is_err());
    }

    /// The Standard Webhooks specification's published vectors (its Python, JavaScript and Go
    /// libraries' tests, and its Rust library's `test_sign`).
    #[test]
    fn the_specifications_test_vectors() {
        // With and without the whsec_ prefix, as the libraries' tests take it.
        for secret in ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] {
            let s = Secret::parse(secret).unwrap();
            let body = br#"{"test": 2432232314}"#;
            let sig = s.sign("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body);
            assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
            // Among decoys and another version, the right one is found.
            let header = format!(
                "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {sig} v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
            );
            assert_eq!(verify(&s, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, &header, body, None, TOLERANCE_SECS), Ok(()));
            // One character off, malformed, or empty: no match.
            for bad in ["v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=", "v1,", "v1,dawfeoifkpqwoekfpqoekf", ""] {
                assert_eq!(
                    verify(&s, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, bad, body, None, TOLERANCE_SECS),
                    Err(VerifyError::NoMatch),
                    "{bad}"
                );
            }
        }
        let s = Secret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(s.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body), "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
        let bad = "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU=";
        assert_eq!(verify(&s, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, bad, body, None, TOLERANCE_SECS), Err(VerifyError::NoMatch));
    }

    #[test]
    fn webhook_ids_are_stable_and_distinct() {
        let id = Uuid::new_v4();
        assert_eq!(Subject::Report(id).webhook_id(), Subject::Report(id).webhook_id());
        assert!(Subject::Report(id).webhook_id().starts_with("msg_"));
        assert_ne!(Subject::Report(id).webhook_id(), Subject::Report(Uuid::new_v4()).webhook_id());
    }
}
