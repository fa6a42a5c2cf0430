//! Writing the finished file ([`crate::tagging`], [`crate::xmp`]): TeX's objects copied byte for
//! byte, the rewritten pages, catalog and information dictionary, the structure in object
//! streams, and a cross-reference stream (PDF 1.5).
//!
//! Written here rather than through lopdf's saver, which holds every structure element as a
//! dictionary of its own and copies each into its object streams: a 250-model report's 200,000
//! elements passed the TeX child's 1 GiB address-space cap. Here an element is serialized once,
//! straight into an object stream of [`PER_STREAM`] that is compressed when full.
//!
//! No stream written here ends in a carriage return: before `endstream` a validator reads it as
//! part of the end of line and fails PDF/A's stream `/Length` rule. A compressed stream that
//! would (its last byte is its content's Adler-32, whatever the level) is put in ASCII85 as
//! well, whose data ends in `~>`. TeX's own streams end so by chance (one in 256: a font of the
//! hostile request did on 12-05) and get the same ASCII85 wrapping when copied.

use std::collections::{BTreeMap, HashSet};
use std::io::Write;

use lopdf::xref::XrefEntry;
use lopdf::{Dictionary, Document, Object};

/// Objects per object stream.
const PER_STREAM: usize = 200;

enum Entry {
    At(usize),
    In(u32, u16),
}

pub(crate) struct PdfOut {
    pub bytes: Vec<u8>,
    entries: BTreeMap<u32, Entry>,
    pending: Vec<(u32, Vec<u8>)>,
    next_id: u32,
}

impl PdfOut {
    /// A PDF 1.5 file whose new objects are numbered from `next_id`.
    pub fn new(next_id: u32, capacity: usize) -> Self {
        let mut bytes = Vec::with_capacity(capacity);
        bytes.extend_from_slice(b"%PDF-1.5\n%\xe2\xe3\xcf\xd3\n");
        PdfOut { bytes, entries: BTreeMap::new(), pending: Vec::new(), next_id }
    }

    pub fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id - 1
    }

    /// Object `id` as TeX wrote it (`N 0 obj ... endobj`).
    pub fn verbatim(&mut self, id: u32, bytes: &[u8]) {
        self.entries.insert(id, Entry::At(self.bytes.len()));
        self.bytes.extend_from_slice(bytes);
        if !bytes.ends_with(b"\n") {
            self.bytes.push(b'\n');
        }
    }

    /// A dictionary (or any object but a stream) as object `id`.
    pub fn object(&mut self, id: u32, o: &Object) {
        self.entries.insert(id, Entry::At(self.bytes.len()));
        let _ = writeln!(self.bytes, "{id} 0 obj");
        serialize(o, &mut self.bytes);
        self.bytes.extend_from_slice(b"\nendobj\n");
    }

    /// A stream with `dict` (without `/Length` and `/Filter`) as object `id`.
    pub fn stream(&mut self, id: u32, dict: &str, content: &[u8]) {
        let (data, filter) = pack(content);
        self.entries.insert(id, Entry::At(self.bytes.len()));
        let _ = write!(self.bytes, "{id} 0 obj\n<<{dict}/Length {}{filter}>>\nstream\n", data.len());
        self.bytes.extend_from_slice(&data);
        self.bytes.extend_from_slice(b"\nendstream\nendobj\n");
    }

    /// A stream with `dict` (without `/Length`) as object `id`, uncompressed.
    pub fn stored(&mut self, id: u32, dict: &str, content: &[u8]) {
        self.entries.insert(id, Entry::At(self.bytes.len()));
        let _ = write!(self.bytes, "{id} 0 obj\n<<{dict}/Length {}>>\nstream\n", content.len());
        self.bytes.extend_from_slice(content);
        self.bytes.extend_from_slice(b"\nendstream\nendobj\n");
    }

    /// TeX's stream `id` again, its data ending in a carriage return (module docs): the same
    /// encoded bytes under one more filter, ASCII85 (whose data ends in `~>`).
    fn repacked(&mut self, id: u32, s: &lopdf::Stream) {
        let data = ascii85(&s.content);
        let mut dict = s.dict.clone();
        let a85 = Object::Name(b"ASCII85Decode".to_vec());
        let filtered = dict.has(b"Filter");
        match dict.get(b"Filter").cloned() {
            Ok(Object::Array(mut filters)) => {
                filters.insert(0, a85);
                dict.set("Filter", Object::Array(filters));
            }
            Ok(f) => dict.set("Filter", Object::Array(vec![a85, f])),
            Err(_) => dict.set("Filter", a85),
        }
        // Each filter's parameters at its place: none for ASCII85.
        match dict.get(b"DecodeParms").cloned() {
            Ok(Object::Array(mut parms)) if filtered => {
                parms.insert(0, Object::Null);
                dict.set("DecodeParms", Object::Array(parms));
            }
            Ok(p) if filtered => dict.set("DecodeParms", Object::Array(vec![Object::Null, p])),
            _ => {}
        }
        dict.set("Length", data.len() as i64);
        self.entries.insert(id, Entry::At(self.bytes.len()));
        let _ = writeln!(self.bytes, "{id} 0 obj");
        serialize(&Object::Dictionary(dict), &mut self.bytes);
        self.bytes.extend_from_slice(b"\nstream\n");
        self.bytes.extend_from_slice(&data);
        self.bytes.extend_from_slice(b"\nendstream\nendobj\n");
    }

    /// Every object of TeX's `pdf` (read as `doc`) but those in `replaced`, byte for byte, each
    /// up to the next or to the cross-reference table; a stream whose data ends in a carriage
    /// return is repacked (module docs).
    pub fn copy(&mut self, pdf: &[u8], doc: &Document, replaced: &HashSet<u32>) -> Result<(), String> {
        let xref_at = startxref(pdf).ok_or("TeX's PDF has no startxref")?;
        let mut at: Vec<(usize, u32)> = Vec::with_capacity(doc.reference_table.entries.len());
        for (&id, entry) in &doc.reference_table.entries {
            match entry {
                XrefEntry::Normal { offset, .. } => at.push((*offset as usize, id)),
                XrefEntry::Compressed { .. } => return Err("TeX's PDF has object streams (a PDF 1.4 document was expected)".into()),
                _ => {}
            }
        }
        at.sort_unstable();
        for (k, &(offset, id)) in at.iter().enumerate() {
            let end = at.get(k + 1).map_or(xref_at, |n| n.0);
            if replaced.contains(&id) || offset >= end || end > pdf.len() {
                continue;
            }
            match doc.objects.get(&(id, 0)) {
                Some(Object::Stream(s)) if s.content.last() == Some(&b'\r') => self.repacked(id, s),
                _ => self.verbatim(id, &pdf[offset..end]),
            }
        }
        Ok(())
    }

    /// Object `id` (serialized, not a stream) into an object stream.
    pub fn compressed(&mut self, id: u32, body: Vec<u8>) {
        self.pending.push((id, body));
        if self.pending.len() == PER_STREAM {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let sid = self.id();
        let pending = std::mem::take(&mut self.pending);
        let (mut head, mut body) = (String::new(), Vec::new());
        for (i, (id, b)) in pending.iter().enumerate() {
            head.push_str(&format!("{id} {} ", body.len()));
            body.extend_from_slice(b);
            body.push(b'\n');
            self.entries.insert(*id, Entry::In(sid, i as u16));
        }
        let first = head.len();
        let content = [head.as_bytes(), &body].concat();
        self.stream(sid, &format!("/Type/ObjStm/N {}/First {first}", pending.len()), &content);
    }

    /// The cross-reference stream (with `trailer`'s entries: `/Root`, `/Info`, `/ID`) and the end.
    pub fn finish(mut self, trailer: &Dictionary) -> Vec<u8> {
        self.flush();
        let xid = self.id();
        let at = self.bytes.len();
        self.entries.insert(xid, Entry::At(at));
        let mut data = Vec::with_capacity((xid as usize + 1) * 7);
        for id in 0..=xid {
            let (t, a, b): (u8, u32, u16) = match self.entries.get(&id) {
                Some(Entry::At(off)) => (1, *off as u32, 0),
                Some(Entry::In(sid, i)) => (2, *sid, *i),
                None => (0, 0, if id == 0 { 65535 } else { 0 }),
            };
            data.push(t);
            data.extend_from_slice(&a.to_be_bytes());
            data.extend_from_slice(&b.to_be_bytes());
        }
        let mut dict = format!("/Type/XRef/Size {}/W[1 4 2]", xid + 1);
        for key in [&b"Root"[..], b"Info", b"ID"] {
            if let Ok(v) = trailer.get(key) {
                let mut b = Vec::new();
                serialize(v, &mut b);
                dict.push_str(&format!("/{} {}", String::from_utf8_lossy(key), String::from_utf8_lossy(&b)));
            }
        }
        self.stream(xid, &dict, &data);
        let _ = write!(self.bytes, "startxref\n{at}\n%%EOF\n");
        self.bytes
    }
}

/// `content` deflated, and its `/Filter`. A zlib stream ends in the Adler-32 of its content,
/// whatever the level, so one that ends in a carriage return (module docs) is put in ASCII85 too.
fn pack(content: &[u8]) -> (Vec<u8>, &'static str) {
    let mut z = flate2::write::ZlibEncoder::new(Vec::with_capacity(content.len() / 3 + 16), flate2::Compression::new(6));
    match z.write_all(content).and_then(|()| z.finish()) {
        Ok(packed) if packed.last() != Some(&b'\r') => (packed, "/Filter/FlateDecode"),
        Ok(packed) => (ascii85(&packed), "/Filter[/ASCII85Decode/FlateDecode]"),
        // Deflating into memory does not fail; stored as it is if it did.
        Err(_) => (content.to_vec(), ""),
    }
}

/// `data` in ASCII85 (ISO 32000-1, 7.4.3), with its end marker `~>`.
pub(crate) fn ascii85(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() / 4 * 5 + 8);
    for chunk in data.chunks(4) {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        let mut v = u32::from_be_bytes(word);
        if chunk.len() == 4 && v == 0 {
            out.push(b'z');
            continue;
        }
        let mut c = [0u8; 5];
        for d in c.iter_mut().rev() {
            *d = (v % 85) as u8 + b'!';
            v /= 85;
        }
        out.extend_from_slice(&c[..chunk.len() + 1]);
    }
    out.extend_from_slice(b"~>");
    out
}

/// A PDF object (not a stream: pages and the catalog hold none) in PDF syntax; strings as hex.
pub(crate) fn serialize(o: &Object, out: &mut Vec<u8>) {
    match o {
        Object::Null => out.extend_from_slice(b"null"),
        Object::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Object::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Object::Real(r) => {
            let _ = write!(out, "{r}");
        }
        Object::Name(n) => name(n, out),
        Object::String(s, _) => {
            out.push(b'<');
            out.extend_from_slice(hex::encode_upper(s).as_bytes());
            out.push(b'>');
        }
        Object::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                serialize(x, out);
            }
            out.push(b']');
        }
        Object::Dictionary(d) => dictionary(d, out),
        Object::Stream(s) => dictionary(&s.dict, out),
        Object::Reference((id, generation)) => {
            let _ = write!(out, "{id} {generation} R");
        }
    }
}

fn dictionary(d: &Dictionary, out: &mut Vec<u8>) {
    out.extend_from_slice(b"<<");
    for (k, v) in d {
        name(k, out);
        out.push(b' ');
        serialize(v, out);
    }
    out.extend_from_slice(b">>");
}

/// A name, with white space, delimiters, `#` and bytes outside 33-126 as `#xx`.
pub(crate) fn name(n: &[u8], out: &mut Vec<u8>) {
    out.push(b'/');
    for &b in n {
        if b"()<>[]{}/%#".contains(&b) || !(33..=126).contains(&b) {
            let _ = write!(out, "#{b:02X}");
        } else {
            out.push(b);
        }
    }
}

/// The offset the last `startxref` names.
pub(crate) fn startxref(pdf: &[u8]) -> Option<usize> {
    pdf.windows(9)
        .rposition(|w| w == b"startxref")
        .and_then(|at| std::str::from_utf8(&pdf[at + 9..]).ok()?.split_whitespace().next()?.parse::<usize>().ok())
        .filter(|&at| at <= pdf.len())
}
