//! Provenance: what a report was made from, carried inside the PDF, and the checks that read it
//! back ([`crate::verify`]: `reportq verify`, `POST /v1/reports/verify`).
//!
//! `a-3a` and `a-3b` reports carry two PDF/A-3 associated files, on the document (the
//! catalog's `/AF`) and in its `/EmbeddedFiles` name tree:
//!
//! - `request.json` (`/AFRelationship /Source`): the request as the worker parsed it (the
//!   stored request, with whatever the API computed written in), so rendering it again needs
//!   nothing else;
//! - `provenance.json` (`/Supplement`): [`Provenance`]: reportq's version and commit, the
//!   template and the SHA-256 of its source, the TeX bundle's digest and the format used, the
//!   DiAGRAM network's SHA-256 when it scored the report, the job and its creation time, the
//!   render's confinement, the request's SHA-256, and the length and SHA-256 of what TeX wrote.
//!
//! Invariants:
//! - The files are appended as an incremental update (ISO 32000-1, 7.5.6): TeX's bytes are the
//!   file's first `rendered.bytes` bytes, unchanged, so a reader can check them against
//!   `rendered.sha256` and a re-render can be compared with them byte for byte, whatever the
//!   machine (its confinement, say) wrote into its own provenance.
//! - Everything appended is a function of the request, the job and the install: no clock, no
//!   randomness. The embedded files' dates are the job's.
//! - Reading untrusted PDFs is bounded: streams decode to at most [`MAX_DECODED`] bytes.

use lopdf::{Dictionary, Document, IncrementalDocument, Object, Stream, StringFormat};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `provenance.json`'s `schema`.
pub const SCHEMA: &str = "reportq-provenance/1";
pub const REQUEST_FILE: &str = "request.json";
pub const PROVENANCE_FILE: &str = "provenance.json";
/// The most any one stream of a PDF being read may decode to.
pub const MAX_DECODED: usize = 64 << 20;

/// What a report was made from (`provenance.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    pub schema: String,
    pub reportq: Software,
    pub template: TemplateSource,
    pub tex: TexInstall,
    /// The DiAGRAM network's file, when one scored this report (its improvements section).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub diagram_network_sha256: Option<String>,
    pub job: JobInfo,
    pub pdf_standard: String,
    /// The SHA-256 of `request.json` as embedded.
    pub request_sha256: String,
    /// What TeX wrote: the first `bytes` bytes of the file.
    pub rendered: Fixity,
    /// The layers that confined the TeX child (`io+seccomp+landlock`, or `io` on Lambda).
    pub confinement: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Software {
    pub version: String,
    pub commit: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSource {
    pub name: String,
    /// Of the template's source and the shared frame (`templates/base.tex`).
    pub sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TexInstall {
    /// The TeX bundle's `SHA256SUM`.
    pub bundle_sha256: String,
    /// The format the child loaded (`rq-…`, or `latex`).
    pub format: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobInfo {
    /// The job, when the report was rendered for one (`reportq render` has none).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<uuid::Uuid>,
    /// The job's creation time, RFC 3339: the report's date.
    pub created: String,
    pub created_epoch: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fixity {
    pub bytes: u64,
    pub sha256: String,
}

/// Hex SHA-256.
pub fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// What a render knows that its provenance records, beside the request.
#[derive(Debug, Clone)]
pub struct Made<'a> {
    pub template: &'a str,
    pub standard: crate::domain::PdfStandard,
    pub bundle_sha256: &'a str,
    pub tex_format: &'a str,
    pub confinement: &'a str,
    pub network_sha256: Option<&'a str>,
    pub job_id: Option<uuid::Uuid>,
    pub epoch: i64,
}

/// TeX's `pdf` with `request` and its provenance record embedded ([`attach`]).
pub fn embed(pdf: Vec<u8>, request: &serde_json::Value, m: &Made) -> Result<Vec<u8>, String> {
    let request = serde_json::to_vec_pretty(request).map_err(|e| e.to_string())?;
    let record = Provenance {
        schema: SCHEMA.into(),
        reportq: Software { version: env!("CARGO_PKG_VERSION").into(), commit: env!("REPORTQ_GIT_COMMIT").into() },
        template: TemplateSource { name: m.template.into(), sha256: crate::template::source_sha256(m.template) },
        tex: TexInstall { bundle_sha256: m.bundle_sha256.into(), format: m.tex_format.into() },
        diagram_network_sha256: m.network_sha256.map(str::to_owned),
        job: JobInfo { id: m.job_id, created: crate::domain::job::rfc3339(m.epoch), created_epoch: m.epoch },
        pdf_standard: m.standard.as_str().into(),
        request_sha256: sha256(&request),
        rendered: Fixity { bytes: pdf.len() as u64, sha256: sha256(&pdf) },
        confinement: m.confinement.into(),
    };
    let record = serde_json::to_vec_pretty(&record).map_err(|e| e.to_string())?;
    attach(pdf, &request, &record, m.epoch)
}

/// One embedded file.
struct Attachment<'a> {
    name: &'a str,
    relationship: &'a str,
    description: &'a str,
    bytes: &'a [u8],
}

/// Appends `request.json` and `provenance.json` to TeX's PDF as associated files, in an
/// incremental update. `epoch` dates them (the job's creation time).
pub fn attach(pdf: Vec<u8>, request: &[u8], provenance: &[u8], epoch: i64) -> Result<Vec<u8>, String> {
    let files = [
        Attachment { name: REQUEST_FILE, relationship: "Source", description: "The report request reportq rendered this PDF from", bytes: request },
        Attachment {
            name: PROVENANCE_FILE,
            relationship: "Supplement",
            description: "How this PDF was made: reportq, template, TeX bundle, job, and the SHA-256 of what TeX wrote",
            bytes: provenance,
        },
    ];
    let doc = Document::load_mem(&pdf).map_err(|e| format!("reading TeX's PDF: {e}"))?;
    let root = doc.trailer.get(b"Root").and_then(Object::as_reference).map_err(|e| format!("TeX's PDF has no catalog: {e}"))?;
    let mut inc = IncrementalDocument::create_from(pdf, doc);
    let date = crate::template::pdf_date(epoch);
    let mut specs = Vec::new();
    for f in &files {
        let mut params = Dictionary::new();
        params.set("ModDate", Object::String(date.clone().into_bytes(), StringFormat::Literal));
        params.set("Size", Object::Integer(f.bytes.len() as i64));
        let mut dict = Dictionary::new();
        dict.set("Type", Object::Name(b"EmbeddedFile".to_vec()));
        dict.set("Subtype", Object::Name(b"application/json".to_vec()));
        dict.set("Params", Object::Dictionary(params));
        let stream = inc.new_document.add_object(Object::Stream(Stream::new(dict, f.bytes.to_vec())));
        let mut ef = Dictionary::new();
        ef.set("F", Object::Reference(stream));
        ef.set("UF", Object::Reference(stream));
        let mut spec = Dictionary::new();
        spec.set("Type", Object::Name(b"Filespec".to_vec()));
        spec.set("F", Object::String(f.name.as_bytes().to_vec(), StringFormat::Literal));
        spec.set("UF", Object::String(f.name.as_bytes().to_vec(), StringFormat::Literal));
        spec.set("Desc", Object::String(f.description.as_bytes().to_vec(), StringFormat::Literal));
        spec.set("AFRelationship", Object::Name(f.relationship.as_bytes().to_vec()));
        spec.set("EF", Object::Dictionary(ef));
        specs.push((f.name, inc.new_document.add_object(Object::Dictionary(spec))));
    }
    // The name tree's keys in order (PDF's rule for name trees).
    specs.sort_by(|a, b| a.0.cmp(b.0));
    let prev = inc.get_prev_documents();
    let catalog = prev.get_dictionary(root).map_err(|e| format!("TeX's catalog: {e}"))?.clone();
    let mut names = match catalog.get(b"Names") {
        Ok(o) => prev.dereference(o).map_err(|e| e.to_string())?.1.as_dict().map_err(|e| format!("the catalog's /Names: {e}"))?.clone(),
        Err(_) => Dictionary::new(),
    };
    if names.has(b"EmbeddedFiles") {
        return Err("TeX's PDF already has embedded files".into());
    }
    let mut tree = Dictionary::new();
    tree.set(
        "Names",
        Object::Array(
            specs.iter().flat_map(|(n, id)| [Object::String(n.as_bytes().to_vec(), StringFormat::Literal), Object::Reference(*id)]).collect(),
        ),
    );
    names.set("EmbeddedFiles", Object::Dictionary(tree));
    let mut af = match catalog.get(b"AF") {
        Ok(o) => prev.dereference(o).map_err(|e| e.to_string())?.1.as_array().map_err(|e| format!("the catalog's /AF: {e}"))?.clone(),
        Err(_) => Vec::new(),
    };
    af.extend(specs.iter().map(|(_, id)| Object::Reference(*id)));
    let mut catalog = catalog;
    catalog.set("Names", Object::Dictionary(names));
    catalog.set("AF", Object::Array(af));
    // The XMP names the files too (Dublin Core's relation: no extension schema needed).
    if let Ok(meta) = catalog.get(b"Metadata").and_then(Object::as_reference) {
        let stream = prev.get_object(meta).and_then(Object::as_stream).map_err(|e| format!("TeX's XMP: {e}"))?;
        let xmp = if stream.dict.has(b"Filter") { stream.decompressed_content().map_err(|e| e.to_string())? } else { stream.content.clone() };
        let xmp = String::from_utf8(xmp).map_err(|_| "TeX's XMP is not UTF-8".to_string())?;
        if let (Some(at), false) = (xmp.rfind("</rdf:RDF>"), xmp.contains("<dc:relation")) {
            let items: String = files
                .iter()
                .map(|f| format!("     <rdf:li>{}: {} (embedded file, SHA-256 {})</rdf:li>\n", f.name, f.description, sha256(f.bytes)))
                .collect();
            let xmp = format!(
                "{}<rdf:Description rdf:about=\"\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n   <dc:relation>\n    <rdf:Bag>\n{items}    </rdf:Bag>\n   </dc:relation>\n  </rdf:Description>\n  {}",
                &xmp[..at],
                &xmp[at..]
            );
            let mut dict = Dictionary::new();
            dict.set("Type", Object::Name(b"Metadata".to_vec()));
            dict.set("Subtype", Object::Name(b"XML".to_vec()));
            catalog.set("Metadata", Object::Reference(inc.new_document.add_object(Object::Stream(Stream::new(dict, xmp.into_bytes())))));
        }
    }
    inc.new_document.set_object(root, Object::Dictionary(catalog));
    let mut out = Vec::new();
    inc.save_to(&mut out).map_err(|e| format!("writing the update: {e}"))?;
    Ok(out)
}

/// The embedded files of a PDF, by name (`/EmbeddedFiles`, a flat name tree or one level of
/// kids), each as decoded.
pub fn embedded(pdf: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let opts = lopdf::LoadOptions { max_decompressed_size: Some(MAX_DECODED), ..Default::default() };
    let doc = Document::load_mem_with_options(pdf, opts).map_err(|e| format!("not a PDF reportq can read: {e}"))?;
    let deref = |o: &Object| doc.dereference(o).map(|(_, o)| o.clone()).map_err(|e| e.to_string());
    let catalog = doc.catalog().map_err(|e| format!("no catalog: {e}"))?;
    let Ok(names) = catalog.get(b"Names") else { return Ok(Vec::new()) };
    let names = deref(names)?;
    let Ok(tree) = names.as_dict().and_then(|d| d.get(b"EmbeddedFiles")) else { return Ok(Vec::new()) };
    let tree = deref(tree)?;
    let mut leaves = vec![tree];
    if let Ok(kids) = leaves[0].as_dict().and_then(|d| d.get(b"Kids")).and_then(Object::as_array) {
        leaves = kids.iter().map(&deref).collect::<Result<_, _>>()?;
    }
    let mut out = Vec::new();
    for leaf in leaves {
        let Ok(pairs) = leaf.as_dict().and_then(|d| d.get(b"Names")).and_then(Object::as_array) else { continue };
        for pair in pairs.chunks(2) {
            let [name, spec] = pair else { continue };
            let name = String::from_utf8_lossy(name.as_str().map_err(|e| e.to_string())?).into_owned();
            let spec = deref(spec)?;
            let ef = spec.as_dict().and_then(|d| d.get(b"EF")).map_err(|e| format!("{name}: no /EF: {e}"))?;
            let ef = deref(ef)?;
            let file = ef.as_dict().and_then(|d| d.get(b"UF").or_else(|_| d.get(b"F"))).map_err(|e| format!("{name}: {e}"))?;
            let stream = deref(file)?;
            let stream = stream.as_stream().map_err(|e| format!("{name}: {e}"))?;
            let bytes = if stream.dict.has(b"Filter") {
                stream.decompressed_content_with_limit(MAX_DECODED).map_err(|e| format!("{name}: {e}"))?
            } else {
                stream.content.clone()
            };
            out.push((name, bytes));
        }
    }
    Ok(out)
}

/// One check `verify` made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// `embedded`, `request`, `fixity`, `signature`, `rerender`, ...
    pub check: String,
    pub ok: bool,
    pub detail: String,
}

/// What `verify` found: each check, and what the PDF carries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Verification {
    /// Every check held.
    pub ok: bool,
    pub checks: Vec<Check>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
    /// `request.json` as embedded.
    #[serde(skip)]
    pub request: Option<Vec<u8>>,
    /// The signer's certificate (PEM), when the PDF is signed.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub certificate: Option<String>,
}

impl Verification {
    pub fn new() -> Verification {
        Verification { ok: false, checks: Vec::new(), provenance: None, request: None, certificate: None }
    }

    /// Adds a check; `ok` is whether every check so far held.
    pub fn push(&mut self, check: &str, ok: bool, detail: impl Into<String>) {
        self.checks.push(Check { check: check.into(), ok, detail: detail.into() });
        self.ok = self.checks.iter().all(|c| c.ok);
    }
}

/// The checks of what a report carries: the embedded files are there and parse, the request
/// is the one the provenance names and a valid request, and TeX's bytes are unchanged.
pub fn check_contents(pdf: &[u8], v: &mut Verification) {
    let files = match embedded(pdf) {
        Ok(f) => f,
        Err(e) => return v.push("embedded", false, e),
    };
    let get = |n: &str| files.iter().find(|(name, _)| name == n).map(|(_, b)| b.clone());
    let (Some(request), Some(prov)) = (get(REQUEST_FILE), get(PROVENANCE_FILE)) else {
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        v.push(
            "embedded",
            false,
            format!("{REQUEST_FILE} and {PROVENANCE_FILE} are not both embedded (found: {names:?}); render with \"pdf\": {{\"standard\": \"a-3a\"}}"),
        );
        return;
    };
    let prov: Provenance = match serde_json::from_slice(&prov) {
        Ok(p) => p,
        Err(e) => return v.push("embedded", false, format!("{PROVENANCE_FILE} is not a reportq provenance record: {e}")),
    };
    if prov.schema != SCHEMA {
        return v.push("embedded", false, format!("{PROVENANCE_FILE} is {:?}; this reportq reads {SCHEMA}", prov.schema));
    }
    v.push("embedded", true, format!("{REQUEST_FILE} ({} bytes) and {PROVENANCE_FILE}", request.len()));
    let request_sha = sha256(&request);
    if request_sha != prov.request_sha256 {
        v.push(
            "request",
            false,
            format!("{REQUEST_FILE} has SHA-256 {request_sha}; the provenance names {}: the request was swapped", prov.request_sha256),
        );
    } else {
        match serde_json::from_slice(&request)
            .map_err(|e| e.to_string())
            .and_then(|value| crate::request::ReportRequest::from_value(value).map_err(|e| e.to_string()))
        {
            Ok(req) if req.pdf.standard.as_str() == prov.pdf_standard => {
                v.push("request", true, format!("a valid {} request, SHA-256 as the provenance names", req.template_name()))
            }
            Ok(req) => {
                v.push("request", false, format!("the request asks for {}; the provenance says {}", req.pdf.standard.as_str(), prov.pdf_standard))
            }
            Err(e) => v.push("request", false, format!("{REQUEST_FILE} is not a valid request: {e}")),
        }
    }
    let n = prov.rendered.bytes as usize;
    if n == 0 || n >= pdf.len() {
        v.push("fixity", false, format!("the provenance says TeX wrote {n} bytes; the file has {}", pdf.len()));
    } else {
        let got = sha256(&pdf[..n]);
        let ok = got == prov.rendered.sha256;
        v.push(
            "fixity",
            ok,
            if ok {
                format!("TeX's {n} bytes have the SHA-256 the provenance names")
            } else {
                format!("TeX's {n} bytes have SHA-256 {got}; the provenance names {}: the report was changed", prov.rendered.sha256)
            },
        );
    }
    v.provenance = Some(prov);
    v.request = Some(request);
}

/// Which of two provenance records' inputs differ (what a re-render's bytes depend on).
pub fn differences(recorded: &Provenance, now: &Provenance) -> Vec<String> {
    let mut d = Vec::new();
    let mut cmp = |what: &str, a: &str, b: &str| {
        if a != b {
            d.push(format!("{what}: recorded {a}, here {b}"));
        }
    };
    cmp("reportq version", &recorded.reportq.version, &now.reportq.version);
    cmp("reportq commit", &recorded.reportq.commit, &now.reportq.commit);
    cmp("template source", &recorded.template.sha256, &now.template.sha256);
    cmp("TeX bundle", &recorded.tex.bundle_sha256, &now.tex.bundle_sha256);
    cmp("TeX format", &recorded.tex.format, &now.tex.format);
    cmp("DiAGRAM network", recorded.diagram_network_sha256.as_deref().unwrap_or("none"), now.diagram_network_sha256.as_deref().unwrap_or("none"));
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_input() {
        let p = Provenance {
            schema: SCHEMA.into(),
            reportq: Software { version: "1".into(), commit: "a".into() },
            template: TemplateSource { name: "summary".into(), sha256: "t".into() },
            tex: TexInstall { bundle_sha256: "b".into(), format: "rq-1".into() },
            diagram_network_sha256: None,
            job: JobInfo { id: None, created: "x".into(), created_epoch: 0 },
            pdf_standard: "a-3a".into(),
            request_sha256: "r".into(),
            rendered: Fixity { bytes: 1, sha256: "s".into() },
            confinement: "io".into(),
        };
        assert!(differences(&p, &p.clone()).is_empty());
        let mut q = p.clone();
        q.tex.bundle_sha256 = "c".into();
        q.diagram_network_sha256 = Some("n".into());
        q.confinement = "io+seccomp".into();
        assert_eq!(differences(&p, &q), ["TeX bundle: recorded b, here c", "DiAGRAM network: recorded none, here n"]);
    }
}
