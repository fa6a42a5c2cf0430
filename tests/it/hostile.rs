//! Hostile input in every string field of every template: each case renders literally or is
//! refused with an error naming the field; nothing is read, written or run.

use crate::common;

use common::*;
use reportq::ReportRequest;
use serde_json::{Value, json};

/// The marker file that a successful shell escape or \openout would create.
fn marker() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("reportq-hostile-{}", std::process::id()))
}

fn corpus() -> Vec<String> {
    let m = marker();
    let m = m.display();
    let mut v: Vec<String> = [
        r"\input{/etc/passwd}",
        r"\include{/etc/passwd}",
        r"\InputIfFileExists{/etc/passwd}{}{}",
        r"\usepackage{verbatim}\verbatiminput{/etc/passwd}",
        r"\csname input\endcsname{/etc/hostname}",
        r"\expandafter\input\csname relax\endcsname /etc/passwd",
        r"^^5cinput{/etc/passwd}",
        r"^^5c^^5c input ^^7b/etc/passwd^^7d",
        r"\catcode`\^^5c=0 \catcode`\%=12",
        r"\def\x{\x}\x",
        r"\def\y#1{#1#1}\y{\y{\y{\y{x}}}}",
        r"\newread\r \openin\r=/etc/passwd \read\r to\l \l",
        r"\special{pdf:literal /etc/passwd}",
        r"\special{dvipdfmx:config z 0}",
        r"\documentclass{article}\begin{document}",
        r"\end{document}",
        r"\makeatletter\@@end",
        r"$\left( x^2 \right.$ $$ \[ \]",
        r"{{{{ unbalanced",
        r"}}}} unbalanced",
        r"100% sure % comment at the end %",
        r"tab&separated&cells\\ and \\[2pt] breaks",
        r"~~~ ^^^ ___ ### $$$",
        r"\verb|x| \begin{verbatim} \end{verbatim}",
        r"\hyperlink{x}{y} \url{file:///etc/passwd} \href{run:/bin/sh}{click}",
        "control \u{0000}\u{0001}\u{0007}\u{001b}[31m chars\u{007f}",
        "line\nbreaks\r\n\u{2028}and\u{2029}paragraphs\n\n\nhere",
        "RTL: \u{202e}gnp.exe עברית العربية \u{202c}end",
        "zero\u{200b}width\u{200d}joiner \u{feff}bom",
        "emoji 😀🦀👩\u{200d}👩\u{200d}👧 CJK 漢字 한국어 カタカナ",
        "combining e\u{0301} a\u{0308} and \u{0041}\u{030a}",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    v.push(format!(r"\immediate\write18{{touch {m}}}"));
    v.push(format!(r"\immediate\openout5={m} \immediate\write5{{x}} \immediate\closeout5"));
    v.push("x".repeat(10_000));
    v
}

/// What a reader should find in the PDF for a case: its printable characters, white space
/// removed (TeX breaks lines where it likes; control characters are dropped by design).
fn visible(s: &str) -> String {
    s.chars()
        .filter(|c| {
            !c.is_whitespace()
                && !c.is_control()
                && !matches!(c, '\u{200b}' | '\u{200d}' | '\u{feff}' | '\u{202e}' | '\u{202c}' | '\u{2028}' | '\u{2029}')
        })
        .collect()
}

fn check_pdf(text: &str, case: &str) {
    // Arabic comes back from the PDF as contextual presentation forms, combining marks come
    // back composed: compare compatibility-normalised text on both sides.
    use unicode_normalization::UnicodeNormalization;
    let text: String = squash(text).nfkc().collect();
    let expected: String = visible(case).nfkc().collect();
    if case.contains(['\u{05d0}', '\u{0627}']) {
        // Right-to-left runs may come back reordered: check the characters, not the order.
        for c in expected.chars().filter(|c| c.is_alphabetic()) {
            assert!(text.contains(c), "{c:?} of {case:?} missing");
        }
    } else if case.len() >= 10_000 {
        assert!(text.contains(&"x".repeat(1000)), "the long field is missing");
    } else {
        assert!(text.contains(&expected), "{case:?} not printed literally");
    }
}

#[test]
fn summary_every_string_field() {
    let h = harness();
    let cases = corpus();
    let sections: Vec<Value> = cases
        .iter()
        .map(|c| {
            let short: String = c.chars().take(300).collect();
            let cell: String = c.chars().take(1000).collect();
            json!({"heading": short, "paragraphs": [c],
                   "tables": [{"caption": short, "header": [cell, "b"], "rows": [[cell, cell]]}],
                   "charts": [{"title": short, "kind": "bar", "categories": [short], "series": [{"name": short, "values": [1]}]}]})
        })
        .collect();
    let req = json!({"template": "summary", "params": {"title": "Hostile corpus", "author": cases[0], "sections": sections}});
    let pdf = render_json(&h, &req);
    let text = pdf_text(&pdf);
    assert!(!text.contains("root:x:0:0"), "/etc/passwd leaked");
    for c in &cases {
        check_pdf(&text, c);
    }
    assert!(!marker().exists(), "a shell command or \\openout wrote {}", marker().display());
    assert!(h.leftovers().is_empty());
}

#[test]
fn diagram_every_string_field() {
    let h = harness();
    let base: Value = serde_json::from_slice(&example("diagram.json")).unwrap();
    let template_model = base["params"]["models"][0].clone();
    let mut models = Vec::new();
    let mut refused = 0;
    for (i, c) in corpus().iter().enumerate() {
        let mut m = template_model.clone();
        m["model_name"] = json!(format!("{i} {c}"));
        m["scenario"] = json!(format!("Base Model"));
        m["notes"] = json!(c);
        // Each field alone first: a case over a field's limit is refused, naming that field.
        let one = json!({"template": "diagram", "params": {"models": [m.clone()], "organisation": c}});
        match ReportRequest::from_value(one) {
            Ok(_) => models.push(m),
            Err(e) => {
                refused += 1;
                assert!(
                    ["params.models[0].model_name", "params.organisation"].contains(&e.field.as_str()),
                    "case {i} refused for {}: {}",
                    e.field,
                    e.message
                );
                assert!(e.message.contains("at most"), "{}", e.message);
            }
        }
    }
    assert_eq!(refused, 1, "only the 10,000-character case exceeds a diagram field's limit");
    let req = json!({"template": "diagram", "params": {"models": models, "organisation": "Hostile & Co"}});
    let pdf = render_json(&h, &req);
    let text = pdf_text(&pdf);
    assert!(!text.contains("root:x:0:0"));
    for c in corpus().iter().filter(|c| c.len() < 10_000) {
        check_pdf(&text, c);
    }
    assert!(!marker().exists());
    assert!(h.leftovers().is_empty());
}

#[test]
fn malformed_json_is_refused_with_a_location() {
    // A lone surrogate escape is not a Unicode scalar value: refused, not mangled.
    let err = ReportRequest::from_slice(br#"{"template": "summary", "params": {"title": "a\ud800b", "sections": []}}"#).unwrap_err();
    assert_eq!(err.field, "params.title");
    assert!(err.message.contains("escape") || err.message.contains("surrogate"), "{}", err.message);

    // 10,000 levels of nesting: stopped by the parser's depth limit, no stack overflow.
    let deep = format!(r#"{{"template": "summary", "params": {{"title": {}1{}}}}}"#, "[".repeat(10_000), "]".repeat(10_000));
    let err = ReportRequest::from_slice(deep.as_bytes()).unwrap_err();
    assert!(err.message.contains("recursion limit"), "{}", err.message);

    let err = ReportRequest::from_slice(br#"{"template": "summary", "params": {}} trailing"#).unwrap_err();
    assert!(err.message.contains("trailing"), "{}", err.message);
}

#[test]
fn limits_each_have_an_error() {
    let big = |n: usize| "y".repeat(n);
    let cases = [
        (json!({"title": big(301), "sections": [{"heading": "h"}]}), "params.title"),
        (json!({"title": "t", "sections": []}), "params.sections"),
        (json!({"title": "t", "sections": vec![json!({"heading": "h"}); 101]}), "params.sections"),
        (json!({"title": "t", "sections": [{"heading": "h", "paragraphs": [big(20_001)]}]}), "params.sections[0].paragraphs[0]"),
        (
            json!({"title": "t", "sections": [{"heading": "h", "tables": [{"header": vec!["c"; 13], "rows": []}]}]}),
            "params.sections[0].tables[0].header",
        ),
        (
            json!({"title": "t", "sections": [{"heading": "h", "tables": [{"header": ["a"], "rows": [["1", "2"]]}]}]}),
            "params.sections[0].tables[0].rows[0]",
        ),
        (
            json!({"title": "t", "sections": [{"heading": "h", "charts": [{"title": "c", "kind": "pie", "categories": ["a"], "series": []}]}]}),
            "params.sections[0].charts[0].kind",
        ),
        (
            json!({"title": "t", "sections": [{"heading": "h", "charts": [{"title": "c", "kind": "bar", "categories": ["a"], "series": [{"name": "s", "values": [1e300]}]}]}]}),
            "params.sections[0].charts[0].series[0].values[0]",
        ),
        (json!({"title": "t", "language": "en GB; rm", "sections": [{"heading": "h"}]}), "params.language"),
    ];
    for (params, field) in cases {
        let err = ReportRequest::from_value(json!({"template": "summary", "params": params})).unwrap_err();
        assert_eq!(err.field, field, "{}", err.message);
    }
    let mut d: Value = serde_json::from_slice(&example("diagram.json")).unwrap();
    let m = d["params"]["models"][0].clone();
    d["params"]["models"] = json!(vec![m; reportq::domain::diagram::MAX_MODELS + 1]);
    assert_eq!(ReportRequest::from_value(d).unwrap_err().field, "params.models");
}

/// Found by a security read: the PDF's subject is every heading joined, and 100 headings of 300
/// backslashes (a 62 KB request) overflowed TeX's line buffer in the metadata file. It renders.
#[test]
fn a_very_long_subject_still_renders() {
    let h = harness();
    let sections: Vec<Value> = (0..100).map(|_| json!({"heading": "\\".repeat(300)})).collect();
    let pdf = render_json(&h, &json!({"template": "summary", "params": {"title": "Long subject", "sections": sections}}));
    assert!(squash(&pdf_text(&pdf)).contains("Longsubject"));
}
