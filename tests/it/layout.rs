//! Tagging changes no layout: the tagged (default) PDF has exactly the pages of the untagged
//! PDF/A-2b one, the same text on each page, for both examples and a 30-model DiAGRAM report.
//! A tagged table row that grows by a hair moves page breaks: a cell ending with `\par` once
//! made the example 10 pages instead of 8, two of them holding a single row.

use crate::common::*;
use serde_json::{Value, json};

fn example_json(name: &str) -> Value {
    serde_json::from_slice(&example(name)).unwrap()
}

/// 30 models: the example's two archives' three scenarios each, as ten archives.
fn thirty_models() -> Value {
    let mut req = example_json("diagram.json");
    let models = req["params"]["models"].as_array().unwrap().clone();
    assert_eq!(models.len(), 6, "the example has two archives of three scenarios");
    let many: Vec<Value> = (0..10)
        .flat_map(|k| {
            let group = &models[(k % 2) * 3..(k % 2) * 3 + 3];
            group.iter().map(move |m| {
                let mut m = m.clone();
                m["model_name"] = json!(format!("Archive {k}"));
                m
            })
        })
        .collect();
    req["params"]["models"] = Value::Array(many);
    req
}

#[test]
fn tagged_reports_have_the_pages_of_untagged_ones() {
    let h = harness();
    for (name, req) in [("diagram", example_json("diagram.json")), ("summary", example_json("summary.json")), ("30 models", thirty_models())] {
        let tagged = render_json(&h, &req);
        let mut plain_req = req.clone();
        plain_req["pdf"] = json!({"standard": "a-2b"});
        let plain = render_json(&h, &plain_req);
        let (pages, plain_pages) = (pdf_pages(&tagged), pdf_pages(&plain));
        assert_eq!(pages, plain_pages, "{name}: {pages} tagged pages, {plain_pages} untagged");
        for page in 1..=pages {
            let (t, p) = (pdf_page_text(&tagged, page), pdf_page_text(&plain, page));
            assert!(!p.is_empty(), "{name}: page {page} of the untagged PDF has no text");
            assert_eq!(t, p, "{name}: page {page} differs between the tagged and the untagged PDF");
        }
    }
}
