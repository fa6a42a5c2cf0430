//! `reportq verify` and `POST /v1/reports/verify`: a report's signature ([`crate::signing`]),
//! what it carries ([`crate::provenance`]), and (the CLI's) a re-render compared byte for byte.

use crate::provenance::{REQUEST_FILE, Verification, check_contents, differences};

/// The checks that need nothing but the file (and the certificate to trust, if given): the
/// signature when there is one (first: it covers everything after it), then what it carries.
pub fn verify(pdf: &[u8], trusted_cert: Option<&str>) -> Verification {
    let mut v = Verification::new();
    match crate::signing::check(pdf, trusted_cert) {
        Some(s) => {
            v.certificate = s.certificate.clone();
            v.push("signature", s.ok, s.detail);
        }
        None if trusted_cert.is_some() => v.push("signature", false, "the PDF is not signed, and a certificate was given to check it against"),
        None => {}
    }
    check_contents(pdf, &mut v);
    v
}

/// Renders the embedded request again, with the recorded date and job, and compares what TeX
/// wrote with the file's first `rendered.bytes` bytes. A DiAGRAM report scored with a network
/// needs that network (`scorer`) to come out the same. When the bytes differ, the check names
/// the inputs that differ from the recorded ones.
pub fn rerender(v: &mut Verification, renderer: &crate::render::Renderer, scorer: Option<std::sync::Arc<crate::scoring::Scorer>>) {
    let (Some(prov), Some(request)) = (v.provenance.clone(), v.request.clone()) else {
        v.push("rerender", false, "nothing to render again: the embedded request or provenance is missing");
        return;
    };
    let value: serde_json::Value = match serde_json::from_slice(&request) {
        Ok(v) => v,
        Err(e) => return v.push("rerender", false, format!("{REQUEST_FILE} is not JSON: {e}")),
    };
    let req = match crate::request::ReportRequest::parse(&value, scorer.as_deref()) {
        Ok(r) => r,
        Err(e) => return v.push("rerender", false, format!("{REQUEST_FILE} is not a valid request here: {e}")),
    };
    let ctx = crate::template::RenderContext::new(crate::domain::Date::from_epoch(prov.job.created_epoch), req.pdf.standard)
        .with_scorer(scorer)
        .with_source(value, prov.job.id);
    let again = match renderer.render(&req, &ctx) {
        Ok(r) => r,
        Err(e) => return v.push("rerender", false, format!("rendering it again failed: {e}")),
    };
    let mut again_v = Verification::new();
    check_contents(&again.pdf, &mut again_v);
    let Some(now) = again_v.provenance else {
        return v.push("rerender", false, "the new render carries no provenance");
    };
    let diffs = differences(&prov, &now);
    if now.rendered == prov.rendered && diffs.is_empty() {
        v.push("rerender", true, format!("rendered again with the recorded inputs: TeX's {} bytes are identical", now.rendered.bytes));
        return;
    }
    if now.rendered == prov.rendered {
        // Identical bytes from other inputs prove less than they seem: say which.
        return v.push("rerender", false, format!("TeX's bytes came out identical, but from other inputs than recorded: {}", diffs.join("; ")));
    }
    let detail = if diffs.is_empty() {
        "rendered again with the recorded inputs, and TeX's bytes differ: the render is not deterministic (a bug; please report it)".to_string()
    } else {
        format!("rendered again, and TeX's bytes differ; these inputs differ from the recorded ones: {}", diffs.join("; "))
    };
    v.push("rerender", false, detail);
}
