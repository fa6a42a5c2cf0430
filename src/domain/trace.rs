//! Trace context: one trace id from the API's request through the queue to the worker, so that
//! X-Ray (or any OpenTelemetry collector) shows submit -> render -> upload as one trace and one
//! Logs Insights query by `trace_id` finds both functions' lines.
//!
//! The id is W3C's 32 hex digits; on the queue it travels as SQS's `AWSTraceHeader` system
//! attribute (X-Ray's `Root=1-XXXXXXXX-YYYYYYYYYYYYYYYYYYYYYYYY;Parent=...;Sampled=1`, the same
//! 128 bits), which the Lambda event source hands to the worker and X-Ray links.
//!
//! The caller's sampling decision travels with the ids (W3C's `sampled` flag, X-Ray's
//! `Sampled=`): a trace the caller chose not to record is not recorded further down either. A
//! trace reportq starts itself is sampled, as every trace was before the flag was carried.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Trace {
    /// 128 bits; the first 32 are a Unix time, as X-Ray requires.
    pub trace_id: u128,
    /// The span (X-Ray: segment) that sent the message.
    pub span_id: u64,
    /// Whether the trace is recorded (records and messages from before the flag read as yes).
    #[serde(default = "sampled_by_default")]
    pub sampled: bool,
}

fn sampled_by_default() -> bool {
    true
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the OS has randomness");
    u64::from_le_bytes(b)
}

impl Trace {
    /// A new trace, its id starting with the time (valid for X-Ray and W3C alike).
    pub fn new() -> Trace {
        let secs = super::now_epoch() as u128 & 0xffff_ffff;
        let rest = ((random_u64() as u128) << 32 | random_u64() as u128 >> 32) & ((1u128 << 96) - 1);
        Trace { trace_id: secs << 96 | rest, span_id: random_u64() | 1, sampled: true }
    }

    /// This trace, continued by a new span.
    pub fn child(self) -> Trace {
        Trace { span_id: random_u64() | 1, ..self }
    }

    /// `traceparent: 00-{32 hex}-{16 hex}-{2 hex}` (W3C Trace Context).
    pub fn from_traceparent(v: &str) -> Option<Trace> {
        let mut parts = v.trim().split('-');
        let (version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version.len() != 2 || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
            return None;
        }
        let trace_id = u128::from_str_radix(trace, 16).ok()?;
        let span_id = u64::from_str_radix(span, 16).ok()?;
        let flags = u8::from_str_radix(flags, 16).ok()?;
        (trace_id != 0 && span_id != 0).then_some(Trace { trace_id, span_id, sampled: flags & 1 == 1 })
    }

    /// X-Ray's header (`X-Amzn-Trace-Id`, `AWSTraceHeader`, `_X_AMZN_TRACE_ID`):
    /// `Root=1-{8 hex}-{24 hex};Parent={16 hex};Sampled=1`. `Sampled=?` (the decision left
    /// to the receiver) or none reads as sampled: reportq has no sampler of its own.
    pub fn from_xray(v: &str) -> Option<Trace> {
        let mut root = None;
        let mut parent = None;
        let mut sampled = true;
        for part in v.split(';') {
            let (k, val) = part.trim().split_once('=')?;
            match k {
                "Root" => {
                    let mut r = val.split('-');
                    let (one, time, rest) = (r.next()?, r.next()?, r.next()?);
                    if one != "1" || time.len() != 8 || rest.len() != 24 {
                        return None;
                    }
                    root = Some(u128::from_str_radix(&format!("{time}{rest}"), 16).ok()?);
                }
                "Parent" => parent = u64::from_str_radix(val, 16).ok(),
                "Sampled" => sampled = val != "0",
                _ => {}
            }
        }
        Some(Trace { trace_id: root?, span_id: parent.unwrap_or_else(random_u64), sampled })
    }

    pub fn trace_id_hex(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    pub fn traceparent(&self) -> String {
        format!("00-{:032x}-{:016x}-{:02x}", self.trace_id, self.span_id, u8::from(self.sampled))
    }

    pub fn xray(&self) -> String {
        let hex = self.trace_id_hex();
        format!("Root=1-{}-{};Parent={:016x};Sampled={}", &hex[..8], &hex[8..], self.span_id, u8::from(self.sampled))
    }
}

impl Default for Trace {
    fn default() -> Self {
        Trace::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_header_forms_carry_the_same_ids() {
        let t = Trace::new();
        assert_eq!(Trace::from_traceparent(&t.traceparent()), Some(t));
        assert_eq!(Trace::from_xray(&t.xray()), Some(t));
        let x = Trace::from_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1").unwrap();
        assert_eq!(x.trace_id_hex(), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(x.traceparent(), "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01");
        assert_eq!(Trace::from_traceparent("00-00000000000000000000000000000000-53995c3f42cd8ad8-01"), None);
        assert_eq!(Trace::from_traceparent("garbage"), None);
        // The caller's decision not to sample is carried through both forms and to children.
        let off = Trace::from_traceparent("00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-00").unwrap();
        assert!(!off.sampled && !off.child().sampled);
        assert!(off.xray().ends_with(";Sampled=0"), "{}", off.xray());
        assert_eq!(Trace::from_xray(&off.xray()), Some(off));
        assert!(!Trace::from_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0").unwrap().sampled);
        assert!(Trace::from_xray("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?").unwrap().sampled);
        assert!(t.sampled && t.traceparent().ends_with("-01"));
        // A record written before the flag existed reads as sampled.
        let old: Trace = serde_json::from_str(r#"{"trace_id":1,"span_id":2}"#).unwrap();
        assert!(old.sampled);
        // A new id starts with the time, as X-Ray wants.
        let secs = i64::from_str_radix(&t.trace_id_hex()[..8], 16).unwrap();
        assert!((secs - crate::domain::now_epoch()).abs() <= 2);
    }
}
