//! The text a reader gets by following the structure tree, as a screen reader, reflow or a
//! search over tagged text does: each element's marked content, found by MCID on its page
//! (property lists by name resolved, `/Pg` inherited), decoded through the fonts' ToUnicode
//! maps. Word breaks must be real space characters there (ISO 32000-1, 14.8.2.5): XeTeX puts
//! glue between words, which such a reader does not see.

use crate::common::*;

use std::collections::HashMap;

use lopdf::{Document, Object, ObjectId};
use serde_json::Value;

/// The text of every marked content with an MCID, by page and MCID.
fn marked_contents(doc: &Document) -> HashMap<(ObjectId, i64), String> {
    let mut out: HashMap<(ObjectId, i64), String> = HashMap::new();
    for page in doc.get_pages().into_values() {
        let fonts = doc.get_page_fonts(page).unwrap();
        let encodings: HashMap<Vec<u8>, lopdf::Encoding> =
            fonts.iter().map(|(name, font)| (name.clone(), font.get_font_encoding(doc).unwrap())).collect();
        // The page's resources: inline, or referenced (by the page or a parent).
        let (inline, referenced) = doc.get_page_resources(page).unwrap();
        let properties: Vec<&lopdf::Dictionary> = inline
            .into_iter()
            .chain(referenced.iter().filter_map(|id| doc.get_dictionary(*id).ok()))
            .filter_map(|r| r.get_deref(b"Properties", doc).ok()?.as_dict().ok())
            .collect();
        let mcid_of = |operand: &Object| -> Option<i64> {
            let dict = match operand {
                Object::Dictionary(d) => d,
                // A named property list, in the page's /Properties.
                Object::Name(n) => properties.iter().find_map(|p| p.get_deref(n, doc).ok()?.as_dict().ok())?,
                _ => return None,
            };
            dict.get(b"MCID").ok()?.as_i64().ok()
        };
        let content = doc.get_and_decode_page_content(page).unwrap();
        let mut open: Vec<Option<i64>> = Vec::new();
        let mut font: Option<Vec<u8>> = None;
        for op in &content.operations {
            let strings: Vec<&[u8]> = match op.operator.as_str() {
                "BDC" => {
                    open.push(op.operands.get(1).and_then(mcid_of));
                    continue;
                }
                "BMC" => {
                    open.push(None);
                    continue;
                }
                "EMC" => {
                    open.pop();
                    continue;
                }
                "Tf" => {
                    font = op.operands.first().and_then(|n| n.as_name().ok()).map(<[u8]>::to_vec);
                    continue;
                }
                "Tj" | "'" | "\"" => op.operands.last().and_then(|s| s.as_str().ok()).into_iter().collect(),
                "TJ" => op.operands[0].as_array().unwrap().iter().filter_map(|s| s.as_str().ok()).collect(),
                _ => continue,
            };
            let Some(mcid) = open.iter().rev().find_map(|m| *m) else { continue };
            let encoding = &encodings[font.as_ref().expect("a font before text")];
            let text = out.entry((page, mcid)).or_default();
            for s in strings {
                text.push_str(&Document::decode_text(encoding, s).unwrap());
            }
        }
    }
    out
}

/// Each structure element's type (through the role map) and its text: its marked contents
/// and its children's, in order.
fn elements(pdf: &[u8]) -> Vec<(String, String)> {
    let doc = Document::load_mem(pdf).unwrap();
    let mcs = marked_contents(&doc);
    let root = doc.catalog().unwrap().get_deref(b"StructTreeRoot", &doc).unwrap().as_dict().unwrap();
    let rolemap = root.get_deref(b"RoleMap", &doc).ok().and_then(|r| r.as_dict().ok());
    let mut out = Vec::new();
    fn walk(
        doc: &Document,
        mcs: &HashMap<(ObjectId, i64), String>,
        rolemap: Option<&lopdf::Dictionary>,
        kid: &Object,
        page: Option<ObjectId>,
        out: &mut Vec<(String, String)>,
    ) -> String {
        match kid {
            Object::Integer(mcid) => mcs.get(&(page.expect("an MCID with a /Pg"), *mcid)).cloned().unwrap_or_default(),
            Object::Array(kids) => kids.iter().map(|k| walk(doc, mcs, rolemap, k, page, out)).collect(),
            Object::Reference(id) => walk(doc, mcs, rolemap, doc.get_object(*id).unwrap(), page, out),
            Object::Dictionary(d) => {
                let page = d.get(b"Pg").and_then(Object::as_reference).ok().or(page);
                if d.get(b"MCID").is_ok() {
                    // A marked-content reference.
                    return walk(doc, mcs, rolemap, d.get(b"MCID").unwrap(), page, out);
                }
                let Ok(s) = d.get(b"S").and_then(Object::as_name) else { return String::new() };
                let tag = rolemap.and_then(|m| m.get(s).ok()).and_then(|r| r.as_name().ok()).unwrap_or(s);
                let tag = String::from_utf8_lossy(tag).into_owned();
                let at = out.len();
                out.push((tag, String::new()));
                let text = d.get(b"K").map(|k| walk(doc, mcs, rolemap, k, page, out)).unwrap_or_default();
                out[at].1.clone_from(&text);
                text
            }
            _ => String::new(),
        }
    }
    walk(&doc, &mcs, rolemap, root.get(b"K").unwrap(), None, &mut out);
    out
}

fn texts<'a>(elements: &'a [(String, String)], tag: &str) -> Vec<&'a str> {
    elements.iter().filter(|(t, _)| t == tag).map(|(_, s)| s.as_str()).collect()
}

#[test]
fn tagged_text_has_a_space_at_every_word_break() {
    let h = harness();
    let req: Value = serde_json::from_slice(&example("summary.json")).unwrap();
    let tree = elements(&render_json(&h, &req));
    let sections = req["params"]["sections"].as_array().unwrap();
    // Headings: the number, a space, the heading as the request wrote it.
    let headings: Vec<String> = sections.iter().enumerate().map(|(i, s)| format!("{} {}", i + 1, s["heading"].as_str().unwrap())).collect();
    assert_eq!(texts(&tree, "H1"), headings);
    // Header cells, one per column, as written ("Size (GB)").
    let header: Vec<&str> = sections[1]["tables"][0]["header"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect();
    assert_eq!(texts(&tree, "TH"), header);
    // Paragraphs: a reader gets the words with their spaces, whatever the line breaks.
    let paragraphs = texts(&tree, "P");
    for p in sections[0]["paragraphs"].as_array().unwrap() {
        let p = p.as_str().unwrap();
        assert!(paragraphs.iter().any(|t| t.trim() == p), "no paragraph reads {p:?}; the paragraphs read:\n{paragraphs:#?}");
    }

    // The DiAGRAM report's own words (its headings, prose and header cells) too.
    let tree = elements(&render_json(&h, &serde_json::from_slice(&example("diagram.json")).unwrap()));
    assert_eq!(texts(&tree, "H1").first(), Some(&"1 About this report"));
    assert!(texts(&tree, "H2").contains(&"2.3 Baseline answers"), "{:?}", texts(&tree, "H2"));
    assert!(texts(&tree, "TH").contains(&"Base model response"), "{:?}", texts(&tree, "TH"));
    let p = texts(&tree, "P");
    assert!(
        p.iter().any(|t| t.starts_with("DiAGRAM estimates how likely an archive is to keep its digital collection usable, from the answers")),
        "{p:#?}"
    );
}
