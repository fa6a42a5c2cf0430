//! Tagged PDF in one TeX pass: TeX marks the content, reportq builds the structure.
//!
//! tagpdf needs two TeX passes (a marked content's number on its page is known only after the
//! page breaks are) and builds the structure tree in TeX macros: a tagged render cost three
//! untagged ones. reportq generates every heading, paragraph, cell and figure itself, so a
//! tagged template (templates/base.tex) only says, cheaply and in one pass:
//!
//! - which structure elements there are, in reading order: one line per element in
//!   [`RECORD_FILE`] as it begins (`B <type>[ <extra>]`; the n-th `B` line is element n) and
//!   one as it ends (`E`); the extra is `col` on a header cell (its scope) and the alternative
//!   text as UTF-16BE hex on a figure;
//! - where each element's content is: `/RQ /Nn BDC` ... `EMC` around it on the page, and
//!   `/Artifact BMC` ... `EMC` around decorations (rules, repeated headers, the footer).
//!
//! [`finish`] then reads each page's content once: it numbers the marked contents per page
//! (MCIDs), writes them with their element's type, and builds the structure tree, the parent
//! tree, `/StructParents` and the catalog's `/MarkInfo`. Invariants:
//!
//! - Marked content is never nested in the output, and opened only before something that paints
//!   (a path, text, an image): a mark TeX left open at a page's end (a paragraph broken across
//!   pages) is closed there and reopened, as a new MCID of the same element, before the next
//!   page's first painting; an artifact inside an element's content (the footer after a broken
//!   paragraph) closes the element's marked content and the element's reopens after it.
//! - Painting outside every mark TeX made is an artifact: nothing is left neither tagged nor
//!   artifact. (Every text a template writes is inside a paragraph, heading, cell or figure.)
//! - The result is a function of TeX's bytes and the record: same input, same bytes.

use std::collections::HashSet;
use std::io::Write;

use lopdf::{Dictionary, Document, Object, ObjectId};

use crate::pdfwrite::{self as write, PdfOut};

/// The file a tagged document writes its structure to (next to `doc.pdf`).
pub const RECORD_FILE: &str = "doc.tags";

/// The structure types a template may use: all standard (ISO 32000-1, 14.8.4), no role map.
const TYPES: &[&str] = &["H1", "H2", "P", "Table", "TR", "TH", "TD", "Figure"];

#[derive(Debug, Default)]
struct Elem {
    kind: String,
    extra: String,
    /// Index of the parent element; 0 is the document.
    parent: usize,
    kids: Vec<usize>,
    /// (page index, MCID) of each marked content, in page order.
    mcs: Vec<(usize, u32)>,
}

/// Reads the record TeX wrote: element 0 is the document, 1.. the `B` lines.
fn parse_record(record: &[u8]) -> Result<Vec<Elem>, String> {
    let text = std::str::from_utf8(record).map_err(|_| "the tag record is not UTF-8".to_string())?;
    let mut elems = vec![Elem { kind: "Document".into(), ..Default::default() }];
    let mut open = vec![0usize];
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        let mut words = line.splitn(3, ' ');
        match words.next() {
            Some("B") => {
                let kind = words.next().unwrap_or_default();
                // (TeX writes a long alternative text's line breaks as spaces.)
                let extra: String = words.next().unwrap_or_default().split_whitespace().collect();
                if !TYPES.contains(&kind) {
                    return Err(format!("tag record line {}: unknown structure type {kind:?}", n + 1));
                }
                if !extra.bytes().all(|b| b.is_ascii_alphanumeric()) {
                    return Err(format!("tag record line {}: bad extra {extra:?}", n + 1));
                }
                let parent = *open.last().unwrap_or(&0);
                let id = elems.len();
                elems.push(Elem { kind: kind.into(), extra, parent, ..Default::default() });
                elems[parent].kids.push(id);
                open.push(id);
            }
            Some("E") if open.len() > 1 => {
                open.pop();
            }
            Some("") | None => {}
            _ => return Err(format!("tag record line {}: {line:?}", n + 1)),
        }
    }
    Ok(elems)
}

/// One operator in a content stream: its operands start at `start`, its name is
/// `name.0..name.1`, and it ends at `end`.
struct Op {
    start: usize,
    name: (usize, usize),
    end: usize,
}

fn regular(c: u8) -> bool {
    !matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | 0 | b'(' | b')' | b'<' | b'>' | b'[' | b']' | b'{' | b'}' | b'/' | b'%')
}

/// Splits a content stream into operators (ISO 32000-1, 7.8.2), skipping what operands hold:
/// strings (nested parentheses, escapes), hex strings, names, arrays, dictionaries, comments and
/// inline image data.
fn lex(b: &[u8]) -> Result<Vec<Op>, String> {
    let mut ops = Vec::new();
    let mut i = 0;
    let mut operands: Option<usize> = None;
    while i < b.len() {
        let c = b[i];
        if matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c' | 0) {
            i += 1;
            continue;
        }
        if c == b'%' {
            while i < b.len() && b[i] != b'\n' && b[i] != b'\r' {
                i += 1;
            }
            continue;
        }
        let tok = i;
        match c {
            b'(' => {
                let mut depth = 0usize;
                while i < b.len() {
                    match b[i] {
                        b'\\' => i += 1,
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                if i >= b.len() {
                    return Err("unterminated string in a content stream".into());
                }
                i += 1;
            }
            b'<' | b'>' if b.get(i + 1) == Some(&c) => i += 2,
            b'<' => {
                i += b[i..].iter().position(|&x| x == b'>').ok_or("unterminated hex string in a content stream")? + 1;
            }
            b'[' | b']' | b'{' | b'}' => i += 1,
            b'/' => {
                i += 1;
                while i < b.len() && regular(b[i]) {
                    i += 1;
                }
            }
            _ => {
                while i < b.len() && regular(b[i]) {
                    i += 1;
                }
                if i == tok {
                    return Err(format!("unexpected byte {c:#x} in a content stream"));
                }
                let word = &b[tok..i];
                let operand = matches!(word[0], b'0'..=b'9' | b'+' | b'-' | b'.') || matches!(word, b"true" | b"false" | b"null");
                if !operand {
                    let name = (tok, i);
                    if word == b"ID" {
                        // Inline image data runs to `EI` between white space.
                        i += 1;
                        let end = b[i..]
                            .windows(4)
                            .position(|w| w[0].is_ascii_whitespace() && &w[1..3] == b"EI" && (w[3].is_ascii_whitespace()))
                            .ok_or("unterminated inline image")?;
                        i += end + 1;
                    }
                    ops.push(Op { start: operands.take().unwrap_or(tok), name, end: i });
                    continue;
                }
            }
        }
        operands.get_or_insert(tok);
    }
    Ok(ops)
}

/// What a point of the content belongs to.
#[derive(Debug, Clone, PartialEq)]
enum Mark {
    /// Element `n`'s content.
    Elem(usize),
    /// An artifact, as TeX opened it (its operator's bytes).
    Artifact(Vec<u8>),
    /// Painting TeX did not mark.
    Unmarked,
}

/// Rewrites pages one after another, carrying what TeX left open across page breaks.
struct Marker<'a> {
    elems: &'a mut [Elem],
    want: Vec<Mark>,
}

impl Marker<'_> {
    /// Page `page`'s content with its marked content numbered and flattened, and the element
    /// of each MCID.
    fn page(&mut self, page: usize, b: &[u8]) -> Result<(Vec<u8>, Vec<usize>), String> {
        let mut out = Vec::with_capacity(b.len() + b.len() / 8);
        let mut owners: Vec<usize> = Vec::new();
        // The marked content open in the output, and where it was opened: inside a text
        // object or not, and at which q/Q depth. It is closed before the ET or Q that would
        // end that text object or graphics state, so marks nest with both.
        let mut have: Option<(Mark, bool, i32)> = None;
        let (mut in_text, mut depth) = (false, 0i32);
        let mut copied = 0;
        for op in lex(b)? {
            let name = &b[op.name.0..op.name.1];
            let closes = match name {
                b"ET" => have.as_ref().is_some_and(|h| h.1),
                b"Q" => have.as_ref().is_some_and(|h| h.2 >= depth),
                _ => false,
            };
            if closes {
                out.extend_from_slice(&b[copied..op.start]);
                out.extend_from_slice(b"\nEMC\n");
                copied = op.start;
                have = None;
            }
            match name {
                b"BDC" | b"BMC" => {
                    out.extend_from_slice(&b[copied..op.start]);
                    copied = op.end;
                    self.want.push(self.opened(&b[op.start..op.name.0], &b[op.start..op.end])?);
                }
                b"EMC" => {
                    out.extend_from_slice(&b[copied..op.start]);
                    copied = op.end;
                    self.want.pop();
                }
                b"q" => depth += 1,
                b"Q" => depth -= 1,
                b"ET" => in_text = false,
                // Before what paints, and before a text object (TeX's marks end text objects, so
                // a text object belongs to one mark): the mark TeX wants here.
                // (Painting TeX did not mark is an artifact from its first painting operator.)
                b"BT" if self.want.is_empty() => in_text = true,
                b"BT" | b"m" | b"re" | b"Tj" | b"TJ" | b"'" | b"\"" | b"Do" | b"sh" | b"BI" => {
                    let want = self.want.last().cloned().unwrap_or(Mark::Unmarked);
                    if have.as_ref().map(|h| &h.0) != Some(&want) {
                        out.extend_from_slice(&b[copied..op.start]);
                        copied = op.start;
                        if have.is_some() {
                            out.extend_from_slice(b"\nEMC\n");
                        }
                        match &want {
                            Mark::Elem(n) => {
                                let mcid = owners.len() as u32;
                                owners.push(*n);
                                self.elems[*n].mcs.push((page, mcid));
                                out.extend_from_slice(format!("\n/{} <</MCID {mcid}>> BDC\n", self.elems[*n].kind).as_bytes());
                            }
                            Mark::Artifact(op) => {
                                out.push(b'\n');
                                out.extend_from_slice(op);
                                out.push(b'\n');
                            }
                            Mark::Unmarked => out.extend_from_slice(b"\n/Artifact BMC\n"),
                        }
                        have = Some((want, in_text, depth));
                    }
                    if name == b"BT" {
                        in_text = true;
                    }
                }
                _ => {}
            }
        }
        out.extend_from_slice(&b[copied..]);
        if have.is_some() {
            out.extend_from_slice(b"\nEMC\n");
        }
        Ok((out, owners))
    }

    /// The mark a `BDC`/`BMC` opens, from its operands.
    fn opened(&self, operands: &[u8], op: &[u8]) -> Result<Mark, String> {
        let text = String::from_utf8_lossy(operands);
        let mut words = text.split(|c: char| c.is_whitespace() || c == '<' || c == '>').filter(|w| !w.is_empty());
        match words.next() {
            Some("/RQ") => {
                let n = words.next().and_then(|w| w.strip_prefix("/N")).and_then(|n| n.parse::<usize>().ok());
                match n {
                    Some(n) if n > 0 && n < self.elems.len() => Ok(Mark::Elem(n)),
                    _ => Err(format!("a mark names no element of the record: {text}")),
                }
            }
            // Anything else TeX marks (artifacts) is kept as it was written.
            _ => Ok(Mark::Artifact(op.to_vec())),
        }
    }
}

/// Tagged PDF from what TeX wrote and the record it kept (module docs), with the metadata TeX
/// wrote ([`crate::xmp`]) when it wrote it.
pub fn finish(pdf: &[u8], record: &[u8], meta: Option<&[u8]>) -> Result<Vec<u8>, String> {
    let meta = meta.map(crate::xmp::Meta::parse).transpose()?;
    let mut elems = parse_record(record)?;
    let doc = Document::load_mem(pdf).map_err(|e| format!("reading TeX's PDF: {e}"))?;
    let pages: Vec<ObjectId> = doc.get_pages().into_values().collect();
    let catalog = doc.trailer.get(b"Root").and_then(Object::as_reference).map_err(|e| format!("the catalog: {e}"))?;
    let mut replaced: HashSet<u32> = pages.iter().map(|p| p.0).collect();
    replaced.insert(catalog.0);
    for &p in &pages {
        replaced.extend(doc.get_page_contents(p).iter().map(|c| c.0));
    }
    let info_id = crate::xmp::info_id(&doc);
    if meta.is_some() {
        replaced.insert(info_id);
    }
    let mut out = PdfOut::new(info_id.max(doc.max_id) + 1, pdf.len() + pdf.len() / 4);
    out.copy(pdf, &doc, &replaced)?;
    // Each page: its content with the marks numbered, its structure parents and tab order.
    let mut parent_tree: Vec<Vec<usize>> = Vec::with_capacity(pages.len());
    let mut marker = Marker { elems: &mut elems, want: Vec::new() };
    for (i, &page) in pages.iter().enumerate() {
        let (content, owners) = marker.page(i, &doc.get_page_content(page))?;
        parent_tree.push(owners);
        let id = out.id();
        out.stream(id, "", &content);
        let mut dict = doc.get_dictionary(page).map_err(|e| format!("page {}: {e}", i + 1))?.clone();
        dict.set("Contents", Object::Reference((id, 0)));
        dict.set("StructParents", i as i64);
        dict.set("Tabs", Object::Name(b"S".to_vec()));
        out.object(page.0, &Object::Dictionary(dict));
    }
    // Paragraphs that painted nothing (a paragraph of glue) are left out of the tree.
    let keep: Vec<bool> = elems.iter().map(|e| !(e.kind == "P" && e.mcs.is_empty() && e.kids.is_empty())).collect();
    let root = out.id();
    let ids: Vec<u32> = keep.iter().map(|&k| if k { out.id() } else { 0 }).collect();
    let mut cat = doc.get_dictionary(catalog).map_err(|e| format!("the catalog: {e}"))?.clone();
    cat.set("StructTreeRoot", Object::Reference((root, 0)));
    cat.set("MarkInfo", Dictionary::from_iter([("Marked", Object::Boolean(true))]));
    let mut trailer = doc.trailer.clone();
    if let Some(m) = &meta {
        crate::xmp::write(&doc, m, info_id, &mut out, &mut cat, &mut trailer)?;
    }
    out.object(catalog.0, &Object::Dictionary(cat));
    for (n, e) in elems.iter().enumerate().filter(|(n, _)| keep[*n]) {
        let mut b = Vec::with_capacity(96);
        b.extend_from_slice(b"<</Type/StructElem/S");
        write::name(e.kind.as_bytes(), &mut b);
        let _ = write!(b, "/P {} 0 R", if n == 0 { root } else { ids[e.parent] });
        let first_page = e.mcs.first().map(|&(p, _)| p);
        if let Some(p) = first_page {
            let _ = write!(b, "/Pg {} 0 R", pages[p].0);
        }
        b.extend_from_slice(b"/K[");
        for &c in e.kids.iter().filter(|&&c| keep[c]) {
            let _ = write!(b, "{} 0 R ", ids[c]);
        }
        for &(p, mcid) in &e.mcs {
            if Some(p) == first_page {
                let _ = write!(b, "{mcid} ");
            } else {
                let _ = write!(b, "<</Type/MCR/Pg {} 0 R/MCID {mcid}>>", pages[p].0);
            }
        }
        b.push(b']');
        match e.kind.as_str() {
            "TH" if e.extra == "col" => b.extend_from_slice(b"/A<</O/Table/Scope/Column>>"),
            "Figure" => {
                hex::decode(&e.extra).map_err(|_| "a figure's alternative text is not hex".to_string())?;
                let _ = write!(b, "/Alt<{}>", e.extra);
            }
            _ => {}
        }
        b.extend_from_slice(b">>");
        out.compressed(ids[n], b);
    }
    let mut tree = Vec::with_capacity(16 * elems.len() + 64);
    let _ = write!(tree, "<</Type/StructTreeRoot/K {} 0 R/ParentTreeNextKey {}/ParentTree<</Nums[", ids[0], pages.len());
    for (i, owners) in parent_tree.iter().enumerate() {
        let _ = write!(tree, "{i}[");
        for &n in owners {
            let _ = write!(tree, "{} 0 R ", ids[n]);
        }
        tree.extend_from_slice(b"]");
    }
    tree.extend_from_slice(b"]>>>>");
    out.compressed(root, tree);
    Ok(out.finish(&trailer))
}

#[cfg(test)]
mod tests;
