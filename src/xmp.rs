//! The document's metadata, written by reportq instead of LaTeX: the information dictionary's
//! title, author, subject and keywords, and (PDF/A) the XMP packet.
//!
//! LaTeX's PDF management builds the XMP packet in TeX macros at the end of the document (about
//! 100 ms of CPU on the DiAGRAM example, a quarter of a render), and hyperref turns each metadata
//! string into a PDF string a token at a time (seconds for a 250-model report's title; TeX
//! specials in user text came out as `\textbackslash` and a lost `&`). The templates turn both
//! off (`xmp=false`, no `pdftitle`) and write [`META_FILE`]: the standards claimed
//! (`standard A-2b`, `standard A-2a UA-1`) and each value as UTF-16BE hex (`Title FEFF...`, one
//! `Keyword` line each), nothing TeX could read as a command. reportq then sets those entries
//! in TeX's information dictionary and writes the packet from that dictionary, so the two agree
//! as PDF/A requires (ISO 19005-2, 6.6.3):
//!
//! - Title → `dc:title`, Subject → `dc:description` (`x-default`), Author → `dc:creator` (one
//!   entry, the string as it is), Keywords (joined with ", ") → `pdf:Keywords`, each keyword →
//!   `dc:subject`; Creator → `xmp:CreatorTool`, Producer → `pdf:Producer`, CreationDate and
//!   ModDate (TeX's, the job's date) → `xmp:CreateDate` and `xmp:ModifyDate`; the catalog's
//!   `/Lang` → `dc:language`.
//! - `pdfaid:part`/`conformance`, and `pdfuaid:part` with its extension schema (not one of
//!   PDF/A-2's predefined schemas).
//!
//! The result is a function of TeX's bytes and the metadata file: same input, same bytes. The
//! packet is stored uncompressed, as the metadata stream of every reportq PDF/A file has been
//! (verify's tests change a byte of its `pdfaid:part`).

use std::collections::HashSet;
use std::fmt::Write as _;

use lopdf::{Dictionary, Document, Object};

use crate::pdfwrite::{PdfOut, serialize, startxref};

/// The file a document writes its metadata to (next to `doc.pdf`).
pub const META_FILE: &str = "doc.meta";

/// What [`META_FILE`] says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// The standards claimed: PDF/A documents only.
    pub claim: Option<Claim>,
    pub title: String,
    pub author: String,
    pub subject: String,
    pub keywords: Vec<String>,
}

impl Meta {
    pub fn parse(b: &[u8]) -> Result<Meta, String> {
        let s = std::str::from_utf8(b).map_err(|_| "the metadata file is not UTF-8".to_string())?;
        let mut m = Meta::default();
        for line in s.lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "standard" => m.claim = Some(Claim::parse(value)?),
                "Title" => m.title = clean(&hex_text(value)?),
                "Author" => m.author = clean(&hex_text(value)?),
                "Subject" => m.subject = clean(&hex_text(value)?),
                "Keyword" => m.keywords.push(clean(&hex_text(value)?)),
                _ => return Err(format!("the metadata file has a line {key:?}")),
            }
        }
        Ok(m)
    }

    /// TeX's information dictionary (`doc`'s, or a new one) with this title, author, subject
    /// and keywords; an empty value is left out.
    pub fn info(&self, doc: &Document) -> Result<Dictionary, String> {
        let mut info = match doc.trailer.get(b"Info") {
            Ok(o) => doc.dereference(o).and_then(|(_, o)| o.as_dict()).map_err(|e| format!("the information dictionary: {e}"))?.clone(),
            Err(_) => Dictionary::new(),
        };
        let keywords = self.keywords.join(", ");
        for (key, value) in [("Title", &self.title), ("Author", &self.author), ("Subject", &self.subject), ("Keywords", &keywords)] {
            info.remove(key.as_bytes());
            if !value.is_empty() {
                let mut b = vec![0xfe, 0xff];
                b.extend(value.encode_utf16().flat_map(u16::to_be_bytes));
                info.set(key, Object::String(b, lopdf::StringFormat::Hexadecimal));
            }
        }
        Ok(info)
    }
}

/// A value as both the information dictionary and the XMP packet can hold it, the same: no
/// control characters but tab and line feed (XML 1.0 has no place for them, and a parser reads a
/// carriage return as a line feed), a carriage return as a line feed, no U+FFFE or U+FFFF
/// (not XML characters).
fn clean(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .filter_map(|c| match c {
            '\r' => Some('\n'),
            '\t' | '\n' => Some(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => None,
            c => Some(c),
        })
        .collect()
}

/// A text string's UTF-16BE hex (`FEFF...`, white space ignored) as text.
fn hex_text(s: &str) -> Result<String, String> {
    let digits: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let b = hex::decode(&digits).map_err(|_| format!("the metadata file has a value that is not hex: {digits:?}"))?;
    match b.as_slice() {
        [0xfe, 0xff, rest @ ..] if rest.len() % 2 == 0 => lopdf::decode_text_string(&Object::String(b, lopdf::StringFormat::Hexadecimal)).ok(),
        _ => None,
    }
    .ok_or_else(|| format!("the metadata file has a value that is not UTF-16BE: {digits:?}"))
}

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
    pub fn parse(s: &str) -> Result<Claim, String> {
        let (mut pdfa, mut ua) = (None, None);
        for w in s.split_whitespace() {
            let b = w.as_bytes();
            match b {
                [b'A' | b'a', b'-', p @ b'1'..=b'4', c] if b"abuABU".contains(c) => pdfa = Some((p - b'0', c.to_ascii_uppercase() as char)),
                [b'U', b'A', b'-', p @ b'1'..=b'2'] => ua = Some(p - b'0'),
                _ => return Err(format!("the metadata file claims {w:?}")),
            }
        }
        let (part, conformance) = pdfa.ok_or("the metadata file claims no PDF/A part")?;
        Ok(Claim { part, conformance, ua })
    }
}

/// The packet for `doc` (TeX's PDF, read) with information dictionary `info` ([`Meta::info`]),
/// claiming `claim`, its `dc:subject` the `keywords`.
pub fn packet(doc: &Document, info: &Dictionary, claim: Claim, keywords: &[String]) -> Result<Vec<u8>, String> {
    let text = |k: &[u8]| -> Result<Option<String>, String> {
        match info.get(k) {
            Ok(o @ Object::String(..)) => {
                lopdf::decode_text_string(o).map(Some).map_err(|e| format!("the information dictionary's /{}: {e}", String::from_utf8_lossy(k)))
            }
            Ok(_) => Err(format!("the information dictionary's /{} is not a string", String::from_utf8_lossy(k))),
            Err(_) => Ok(None),
        }
    };
    let lang = doc.catalog().ok().and_then(|c| c.get(b"Lang").ok()).and_then(|o| lopdf::decode_text_string(o).ok());

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
    let items: Vec<&str> = keywords.iter().map(String::as_str).filter(|k| !k.is_empty()).collect();
    if !items.is_empty() {
        bag(&mut x, "dc:subject", &items);
    }
    if let Some(k) = text(b"Keywords")? {
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

/// `pdf` (TeX's, untagged) with the metadata of `meta` ([`META_FILE`]'s bytes). PDF/A: TeX's
/// objects copied ([`PdfOut::copy`]), the information dictionary, the XMP packet and the catalog
/// that names it. A plain PDF: its information dictionary in an incremental update.
pub fn finish(pdf: &[u8], meta: &[u8]) -> Result<Vec<u8>, String> {
    let meta = Meta::parse(meta)?;
    let doc = Document::load_mem(pdf).map_err(|e| format!("reading TeX's PDF: {e}"))?;
    let root = doc.trailer.get(b"Root").and_then(Object::as_reference).map_err(|e| format!("the catalog: {e}"))?;
    let info_id = info_id(&doc);
    if meta.claim.is_none() {
        return update_info(pdf, &doc, info_id, &meta.info(&doc)?);
    }
    let mut out = PdfOut::new(info_id.max(doc.max_id) + 1, pdf.len() + 16 * 1024);
    out.copy(pdf, &doc, &HashSet::from([root.0, info_id]))?;
    let mut catalog = doc.get_dictionary(root).map_err(|e| format!("the catalog: {e}"))?.clone();
    let mut trailer = doc.trailer.clone();
    write(&doc, &meta, info_id, &mut out, &mut catalog, &mut trailer)?;
    out.object(root.0, &Object::Dictionary(catalog));
    Ok(out.finish(&trailer))
}

/// A plain PDF (TeX's PDF 1.5, with object streams, which [`PdfOut::copy`] does not take apart)
/// with `info` as object `info_id`: an incremental update, its cross-reference stream stored.
fn update_info(pdf: &[u8], doc: &Document, info_id: u32, info: &Dictionary) -> Result<Vec<u8>, String> {
    use std::io::Write as _;
    let prev = startxref(pdf).ok_or("TeX's PDF has no startxref")?;
    let xref_id = info_id.max(doc.max_id) + 1;
    let mut out = Vec::with_capacity(pdf.len() + 1024);
    out.extend_from_slice(pdf);
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    let info_at = out.len();
    let _ = writeln!(out, "{info_id} 0 obj");
    serialize(&Object::Dictionary(info.clone()), &mut out);
    out.extend_from_slice(b"\nendobj\n");
    let xref_at = out.len();
    let mut entries = [(info_id, info_at), (xref_id, xref_at)];
    entries.sort_unstable();
    let mut data = Vec::with_capacity(14);
    for (_, at) in entries {
        data.push(1u8);
        data.extend_from_slice(&u32::try_from(at).map_err(|_| "TeX's PDF is over 4 GB")?.to_be_bytes());
        data.extend_from_slice(&[0, 0]);
    }
    let mut dict = Dictionary::new();
    dict.set("Type", Object::Name(b"XRef".to_vec()));
    dict.set("Size", i64::from(xref_id) + 1);
    dict.set("Index", Object::Array(entries.iter().flat_map(|(id, _)| [Object::Integer(i64::from(*id)), Object::Integer(1)]).collect()));
    dict.set("W", Object::Array(vec![1.into(), 4.into(), 2.into()]));
    for key in [&b"Root"[..], b"ID"] {
        if let Ok(v) = doc.trailer.get(key) {
            dict.set(key, v.clone());
        }
    }
    dict.set("Info", Object::Reference((info_id, 0)));
    dict.set("Prev", prev as i64);
    dict.set("Length", data.len() as i64);
    let _ = writeln!(out, "{xref_id} 0 obj");
    serialize(&Object::Dictionary(dict), &mut out);
    out.extend_from_slice(b"\nstream\n");
    out.extend_from_slice(&data);
    let _ = write!(out, "\nendstream\nendobj\nstartxref\n{xref_at}\n%%EOF\n");
    Ok(out)
}

/// The number of the information dictionary: TeX's, or the first after TeX's objects.
pub(crate) fn info_id(doc: &Document) -> u32 {
    doc.trailer.get(b"Info").and_then(Object::as_reference).map_or(doc.max_id + 1, |id| id.0)
}

/// Writes the information dictionary as object `info_id` and, for PDF/A, the XMP packet, named
/// in `catalog`; `trailer` names the dictionary.
pub(crate) fn write(
    doc: &Document,
    meta: &Meta,
    info_id: u32,
    out: &mut PdfOut,
    catalog: &mut Dictionary,
    trailer: &mut Dictionary,
) -> Result<(), String> {
    let info = meta.info(doc)?;
    if let Some(claim) = meta.claim {
        let xmp = packet(doc, &info, claim, &meta.keywords)?;
        let id = out.id();
        out.stored(id, "/Type/Metadata/Subtype/XML", &xmp);
        catalog.set("Metadata", Object::Reference((id, 0)));
    }
    out.object(info_id, &Object::Dictionary(info));
    trailer.set("Info", Object::Reference((info_id, 0)));
    Ok(())
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
            let sign = rest.chars().next().filter(|c| matches!(c, '+' | '-')).ok_or_else(bad)?;
            let hm: String = rest[1..].chars().filter(char::is_ascii_digit).collect();
            if hm.len() != 4 {
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
            // XML 1.0 has no place for the other control characters ([`clean`] took them out
            // of the request's text; TeX's own strings have none).
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
        assert_eq!(Claim::parse("A-2b\n").unwrap(), Claim { part: 2, conformance: 'B', ua: None });
        assert_eq!(Claim::parse("A-3a UA-1").unwrap(), Claim { part: 3, conformance: 'A', ua: Some(1) });
        for bad in ["", "UA-1", "A-2x", "PDF/A-2b", "A-2b junk"] {
            assert!(Claim::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_metadata_file_parses_and_refuses() {
        let m = Meta::parse(b"standard A-2a UA-1\nTitle FEFF0041 00260042\nAuthor FEFF\nSubject FEFFD83DDE00\nKeyword FEFF0078\nKeyword FEFF0079\n")
            .unwrap();
        assert_eq!(m.claim, Some(Claim { part: 2, conformance: 'A', ua: Some(1) }));
        assert_eq!((m.title.as_str(), m.author.as_str(), m.subject.as_str()), ("A&B", "", "😀"));
        assert_eq!(m.keywords, ["x", "y"]);
        // Control characters, CR and non-characters, as XML and the dictionary can both hold them.
        let m = Meta::parse(b"Title FEFF 0061 0007 000D 000A 0062 000D 0063 FFFE 0009 0064").unwrap();
        assert_eq!(m.title, "a\nb\nc\td");
        assert_eq!(Meta::parse(b"Title FEFF0041\n").unwrap().claim, None);
        for bad in [&b"Title 0041"[..], b"Title FEFF004", b"Title \\input", b"Date FEFF", b"standard B-2"] {
            assert!(Meta::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn dates_and_strings_convert() {
        assert_eq!(xmp_date("D:20231114221320Z").unwrap(), "2023-11-14T22:13:20Z");
        assert_eq!(xmp_date("D:20231114221320+01'00'").unwrap(), "2023-11-14T22:13:20+01:00");
        assert!(xmp_date("D:2023").is_err());
        assert_eq!(esc("a<b & \"c\"\u{1}"), "a&lt;b &amp; \"c\" ");
    }
}
