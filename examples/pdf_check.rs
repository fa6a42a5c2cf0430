//! Validates a PDF with page_validation's profiles and prints each failed rule: for checking
//! template changes by hand.
//!
//!     cargo run --release --example pdf_check -- FILE.pdf ua1 2a 2b 3a 3b

use page_validation::{ValidationOptions, ValidationProfile, validate_pdf_bytes};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: pdf_check FILE.pdf PROFILE...");
    let pdf = std::fs::read(&path).unwrap();
    for p in args {
        let profile = match p.as_str() {
            "ua1" => ValidationProfile::PdfUa1,
            "2a" => ValidationProfile::PdfA2a,
            "2b" => ValidationProfile::PdfA2b,
            "2u" => ValidationProfile::PdfA2u,
            "3a" => ValidationProfile::PdfA3a,
            "3b" => ValidationProfile::PdfA3b,
            other => panic!("unknown profile {other}"),
        };
        let report = validate_pdf_bytes(&pdf, &ValidationOptions::default().profile(profile)).expect("parses");
        println!("{p}: {} rules, {} failed", report.rules.total, report.failures.len());
        for f in &report.failures {
            println!("  {}: {}", f.rule_id, f.message);
        }
    }
}
