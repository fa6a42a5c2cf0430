//! The XMP packet of a PDF/A (and PDF/UA) render, written by reportq instead of LaTeX.
//!
//! LaTeX's PDF management builds the packet in TeX macros at the end of the document: about
//! 100 ms of CPU on the DiAGRAM example (a quarter of a render, tagged or PDF/A-2b), more with
//! long titles. The templates turn it off (`xmp=false`) and write which standards the file
//! claims to [`STANDARD_FILE`] (`A-2b`, or `A-2a UA-1`); reportq then writes the packet from
//! what TeX wrote into the document information dictionary, so the two agree as PDF/A requires
//! (ISO 19005-2, 6.6.3):
//!
//! - Title → `dc:title`, Subject → `dc:description` (`x-default`), Author → `dc:creator` (one
//!   entry, the string as it is), Keywords → `pdf:Keywords` (and `dc:subject`, split at ", "),
//!   Creator → `xmp:CreatorTool`, Producer → `pdf:Producer`, CreationDate/ModDate →
//!   `xmp:CreateDate`/`xmp:ModifyDate`; the catalog's `/Lang` → `dc:language`.
//! - `pdfaid:part`/`conformance`, and `pdfuaid:part` with its extension schema (not one of
//!   PDF/A-2's predefined schemas).
//!
//! The packet is a function of TeX's bytes and the standards: same input, same bytes. It is
//! stored uncompressed, as the metadata stream of every reportq PDF/A file has been (verify's
//! tests change a byte of its `pdfaid:part`).

use std::fmt::Write as _;
use std::io::Write as _;

use lopdf::{Dictionary, Document, Object};

/// The file a PDF/A document writes its standards to (next to `doc.pdf`).
pub const STANDARD_FILE: &str = "doc.pdfstd";

/// The standards a document claims, as TeX wrote them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// PDF/A part (2 or 3) and conformance letter (`A`, `B`, `U`).
    pub part: u8,
    pub conformance: char,
    /// PDF/UA part, if claimed.
    pub ua: Option<u8>,
}

impl Claim {
    /// `A-2b`, `A-3a UA-1`, ... (the `pdfstandard` values of `\DocumentMetadata`).
    pub fn parse(s: &[u8]) -> Result<Claim, String> {
        let s = std::str::from_utf8(s).map_err(|_| "the standards file is not UTF-8".to_string())?;
        let (mut pdfa, mut ua) = (None, None);
        for w in s.split_whitespace() {
            let b = w.as_bytes();
            match b {
                [b'A' | b'a', b'-', p @ b'1'..=b'4', c] if b"abuABU".contains(c) => pdfa = Some((p - b'0', c.to_ascii_uppercase() as char)),
                [b'U', b'A', b'-', p @ b'1'..=b'2'] => ua = Some(p - b'0'),
                _ => return Err(format!("the standards file names {w:?}")),
            }
        }
        let (part, conformance) = pdfa.ok_or("the standards file names no PDF/A part")?;
        Ok(Claim { part, conformance, ua })
    }
}

/// The packet for `doc` (TeX's PDF, read) claiming `claim`.
pub fn packet(doc: &Document, claim: Claim) -> Result<Vec<u8>, String> {
    let info = match doc.trailer.get(b"Info") {
        Ok(o) => doc
            .dereference(o)
            .map_err(|e| format!("the information dictionary: {e}"))?
            .1
            .as_dict()
            .map_err(|e| format!("the information dictionary: {e}"))?
            .clone(),
        Err(_) => Dictionary::new(),
    };
    let text = |k: &[u8]| -> Result<Option<String>, String> {
        match info.get(k) {
            Ok(Object::String(b, _)) => Ok(Some(text_string(b))),
            Ok(_) => Err(format!("the information dictionary's /{} is not a string", String::from_utf8_lossy(k))),
            Err(_) => Ok(None),
        }
    };
    let lang = doc.catalog().ok().and_then(|c| c.get(b"Lang").ok()).and_then(|o| o.as_str().ok()).map(|b| text_string(b));

    let mut x = String::with_capacity(4096);
    x.push_str("<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n");
    x.push_str("  <rdf:Description rdf:about=\"\"\n    xmlns:pdf=\"http://ns.adobe.com/pdf/1.3/\"\n    xmlns:dc=\"http://purl.org/dc/elements/1.1/\"\n    xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n    xmlns:pdfaid=\"http://www.aiim.org/pdfa/ns/id/\"");
    if claim.ua.is_some() {
        x.push_str("\n    xmlns:pdfuaid=\"http://www.aiim.org/pdfua/ns/id/\"\n    xmlns:pdfaExtension=\"http://www.aiim.org/pdfa/ns/extension/\"\n    xmlns:pdfaSchema=\"http://www.aiim.org/pdfa/ns/schema#\"\n    xmlns:pdfaProperty=\"http://www.aiim.org/pdfa/ns/property#\"");
    }
    x.push_str(">\n");
    if let Some(ua) = claim.ua {
        // pdfuaid is not among PDF/A-2's predefined schemas: a PDF/A file declares it.
        x.push_str(concat!(
            "   <pdfaExtension:schemas>\n    <rdf:Bag>\n     <rdf:li rdf:parseType=\"Resource\">\n",
            "      <pdfaSchema:schema>PDF/UA Universal Accessibility Schema</pdfaSchema:schema>\n",
            "      <pdfaSchema:prefix>pdfuaid</pdfaSchema:prefix>\n",
            "      <pdfaSchema:namespaceURI>http://www.aiim.org/pdfua/ns/id/</pdfaSchema:namespaceURI>\n",
            "      <pdfaSchema:property>\n       <rdf:Seq>\n        <rdf:li rdf:parseType=\"Resource\">\n",
            "         <pdfaProperty:name>part</pdfaProperty:name>\n",
            "         <pdfaProperty:valueType>Integer</pdfaProperty:valueType>\n",
            "         <pdfaProperty:category>internal</pdfaProperty:category>\n",
            "         <pdfaProperty:description>Part of ISO 14289 standard</pdfaProperty:description>\n",
            "        </rdf:li>\n       </rdf:Seq>\n      </pdfaSchema:property>\n     </rdf:li>\n    </rdf:Bag>\n   </pdfaExtension:schemas>\n",
        ));
        let _ = writeln!(x, "   <pdfuaid:part>{ua}</pdfuaid:part>");
    }
    let _ = writeln!(x, "   <pdfaid:part>{}</pdfaid:part>\n   <pdfaid:conformance>{}</pdfaid:conformance>", claim.part, claim.conformance);
    let alt = |x: &mut String, tag: &str, v: &str| {
        let _ = writeln!(x, "   <{tag}>\n    <rdf:Alt>\n     <rdf:li xml:lang=\"x-default\">{}</rdf:li>\n    </rdf:Alt>\n   </{tag}>", esc(v));
    };
    let bag = |x: &mut String, tag: &str, items: &[&str]| {
        let _ = writeln!(x, "   <{tag}>\n    <rdf:Bag>");
        for i in items {
            let _ = writeln!(x, "     <rdf:li>{}</rdf:li>", esc(i));
        }
        let _ = writeln!(x, "    </rdf:Bag>\n   </{tag}>");
    };
    if let Some(t) = text(b"Title")? {
        alt(&mut x, "dc:title", &t);
    }
    if let Some(a) = text(b"Author")? {
        let _ = writeln!(x, "   <dc:creator>\n    <rdf:Seq>\n     <rdf:li>{}</rdf:li>\n    </rdf:Seq>\n   </dc:creator>", esc(&a));
    }
    if let Some(s) = text(b"Subject")? {
        alt(&mut x, "dc:description", &s);
    }
    if let Some(k) = text(b"Keywords")? {
        let items: Vec<&str> = k.split(", ").filter(|s| !s.is_empty()).collect();
        if !items.is_empty() {
            bag(&mut x, "dc:subject", &items);
        }
        let _ = writeln!(x, "   <pdf:Keywords>{}</pdf:Keywords>", esc(&k));
    }
    if let Some(l) = &lang {
        bag(&mut x, "dc:language", &[l]);
    }
    x.push_str("   <dc:format>application/pdf</dc:format>\n");
    if let Some(p) = text(b"Producer")? {
        let _ = writeln!(x, "   <pdf:Producer>{}</pdf:Producer>", esc(&p));
    }
    if let Some(c) = text(b"Creator")? {
        let _ = writeln!(x, "   <xmp:CreatorTool>{}</xmp:CreatorTool>", esc(&c));
    }
    let created = text(b"CreationDate")?.map(|d| xmp_date(&d)).transpose()?;
    let modified = text(b"ModDate")?.map(|d| xmp_date(&d)).transpose()?;
    if let Some(d) = &created {
        let _ = writeln!(x, "   <xmp:CreateDate>{d}</xmp:CreateDate>");
    }
    if let Some(d) = &modified {
        let _ = writeln!(x, "   <xmp:ModifyDate>{d}</xmp:ModifyDate>");
    }
    if let Some(d) = modified.as_ref().or(created.as_ref()) {
        let _ = writeln!(x, "   <xmp:MetadataDate>{d}</xmp:MetadataDate>");
    }
    x.push_str("  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n");
    // Room to edit the packet in place, as XMP writers leave.
    for _ in 0..10 {
        x.push_str(&" ".repeat(20));
        x.push('\n');
    }
    x.push_str("<?xpacket end=\"w\"?>");
    Ok(x.into_bytes())
}

/// `pdf` (TeX's, untagged) with the packet for the claim in `standards`: an incremental update
/// that adds the metadata stream and the catalog that names it. TeX's bytes stay as they are.
pub fn append(pdf: &[u8], standards: &[u8]) -> Result<Vec<u8>, String> {
    let claim = Claim::parse(standards)?;
    let doc = Document::load_mem(pdf).map_err(|e| format!("reading TeX's PDF: {e}"))?;
    let xmp = packet(&doc, claim)?;
    let root = doc.trailer.get(b"Root").and_then(Object::as_reference).map_err(|e| format!("the catalog: {e}"))?;
    let prev = startxref(pdf).ok_or("TeX's PDF has no startxref")?;
    let mut catalog = doc.get_dictionary(root).map_err(|e| format!("the catalog: {e}"))?.clone();
    let meta = doc.max_id + 1;
    catalog.set("Metadata", Object::Reference((meta, 0)));

    let mut out = Vec::with_capacity(pdf.len() + xmp.len() + 1024);
    out.extend_from_slice(pdf);
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let cat_at = out.len();
    let _ = writeln!(out, "{} 0 obj", root.0);
    crate::tagging::serialize(&Object::Dictionary(catalog), &mut out);
    out.extend_from_slice(b"\nendobj\n");
    let meta_at = out.len();
    let _ = write!(out, "{meta} 0 obj\n<</Type/Metadata/Subtype/XML/Length {}>>\nstream\n", xmp.len());
    out.extend_from_slice(&xmp);
    out.extend_from_slice(b"\nendstream\nendobj\n");
    let xref_at = out.len();
    let mut entries = [(root.0, cat_at), (meta, meta_at)];
    entries.sort_unstable();
    out.extend_from_slice(b"xref\n");
    for (id, at) in entries {
        let _ = write!(out, "{id} 1\n{at:010} 00000 n \n");
    }
    let mut trailer = Dictionary::new();
    trailer.set("Size", i64::from(meta) + 1);
    trailer.set("Root", Object::Reference(root));
    for key in [&b"Info"[..], b"ID"] {
        if let Ok(v) = doc.trailer.get(key) {
            trailer.set(key, v.clone());
        }
    }
    trailer.set("Prev", prev as i64);
    out.extend_from_slice(b"trailer\n");
    crate::tagging::serialize(&Object::Dictionary(trailer), &mut out);
    let _ = write!(out, "\nstartxref\n{xref_at}\n%%EOF\n");
    Ok(out)
}

/// The offset the last `startxref` names.
pub(crate) fn startxref(pdf: &[u8]) -> Option<usize> {
    pdf.windows(9)
        .rposition(|w| w == b"startxref")
        .and_then(|at| std::str::from_utf8(&pdf[at + 9..]).ok()?.split_whitespace().next()?.parse::<usize>().ok())
        .filter(|&at| at <= pdf.len())
}

/// A PDF text string: UTF-16BE after its byte order mark, else PDFDocEncoding (read as Latin-1,
/// which it is for everything TeX writes literally).
fn text_string(b: &[u8]) -> String {
    match b {
        [0xfe, 0xff, rest @ ..] => {
            let units: Vec<u16> = rest.chunks_exact(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            String::from_utf16_lossy(&units)
        }
        _ => b.iter().map(|&c| c as char).collect(),
    }
}

/// `D:YYYYMMDDHHmmSS` with `Z` or `+HH'mm'` as an XMP date (ISO 8601).
fn xmp_date(d: &str) -> Result<String, String> {
    let bad = || format!("a PDF date reportq cannot read: {d:?}");
    let s = d.strip_prefix("D:").unwrap_or(d);
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() != 14 {
        return Err(bad());
    }
    let rest = &s[14..];
    let zone = match rest {
        "" | "Z" | "Z00'00'" | "Z00'00" => "Z".to_string(),
        _ => {
            let sign = &rest[..1];
            let hm: String = rest[1..].chars().filter(char::is_ascii_digit).collect();
            if !(sign == "+" || sign == "-") || hm.len() != 4 {
                return Err(bad());
            }
            format!("{sign}{}:{}", &hm[..2], &hm[2..])
        }
    };
    Ok(format!("{}-{}-{}T{}:{}:{}{zone}", &digits[..4], &digits[4..6], &digits[6..8], &digits[8..10], &digits[10..12], &digits[12..14]))
}

/// Text as XML character data.
fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            // XML 1.0 has no place for the other control characters.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push(' '),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_parse_and_refuse() {
        assert_eq!(Claim::parse(b"A-2b\n").unwrap(), Claim { part: 2, conformance: 'B', ua: None });
        assert_eq!(Claim::parse(b"A-3a UA-1").unwrap(), Claim { part: 3, conformance: 'A', ua: Some(1) });
        for bad in [&b""[..], b"UA-1", b"A-2x", b"PDF/A-2b", b"A-2b junk"] {
            assert!(Claim::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn dates_and_strings_convert() {
        assert_eq!(xmp_date("D:20231114221320Z").unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(xmp_date("D:20231114221320+01'00'").unwrap(), "2023-11-14T22:13:20+01:00");
        assert!(xmp_date("D:2023").is_err());
        assert_eq!(text_string(&[0xfe, 0xff, 0, b'A', 0x04, 0x14]), "AД");
        assert_eq!(text_string(b"caf\xe9"), "café");
        assert_eq!(esc("a<b & \"c\"\u{1}"), "a&lt;b &amp; \"c\" ");
    }
}
