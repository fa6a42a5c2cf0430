//! Runs Tectonic (unconfined) on a .tex file, or on the document a request .json makes, and
//! writes the PDF and log beside the input: for trying LaTeX against the bundle while
//! developing templates.
//!
//!     cargo run --release --example tex_probe -- FILE.tex|REQUEST.json
//!
//! A .tex file's charts must sit beside it (a request's are written beside the request). `PASSES=n` overrides the number of TeX passes;
//! `REPORTQ_TEX_PRELOAD=0` compiles on LaTeX's own format; `VERBOSE=1` shows the engines' messages.
//! `EPOCH=seconds` sets the document date (default 1,795,000,000).

use reportq::request::ReportRequest;
use reportq::template::{self, Date, RenderContext};

fn main() {
    let path = std::path::PathBuf::from(std::env::args().nth(1).expect("usage: tex_probe FILE.tex|REQUEST.json"));
    let cfg = reportq::config::RenderConfig::from_env().expect("settings");
    let job = tempfile::tempdir().unwrap();
    let epoch: i64 = std::env::var("EPOCH").ok().and_then(|e| e.parse().ok()).unwrap_or(1_795_000_000);
    let text = if path.extension().is_some_and(|e| e == "json") {
        let req = ReportRequest::from_slice(&std::fs::read(&path).expect("readable request")).expect("a valid request");
        let ctx = RenderContext::new(Date::from_epoch(epoch), req.pdf.standard);
        let p = template::prepare(&req.params, &ctx).expect("a document");
        // Also beside the request, for compiling an edited .tex with the same charts.
        for (name, bytes) in &p.assets {
            std::fs::write(job.path().join(name), bytes).unwrap();
            std::fs::write(path.with_file_name(name), bytes).unwrap();
        }
        std::fs::write(job.path().join("doc.xmpdata"), template::xmpdata(&p.meta, &ctx)).unwrap();
        p.tex
    } else {
        let dir = path.parent().unwrap();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|e| e == "png" || e == "xmpdata") {
                std::fs::copy(&p, job.path().join(p.file_name().unwrap())).unwrap();
            }
        }
        String::from_utf8(std::fs::read(&path).expect("readable .tex")).expect("UTF-8")
    };
    let plan = reportq::texformat::plan(&cfg.bundle, &text, cfg.preload);
    let passes = std::env::var("PASSES").ok().and_then(|p| p.parse().ok()).unwrap_or(plan.passes);
    eprintln!("format {}, {passes} pass(es)", plan.format);
    let tex_job = reportq::sandbox::TexJob {
        format: plan.format.clone(),
        passes,
        epoch: epoch as u64,
        format_source: None,
        verbose: std::env::var_os("VERBOSE").is_some(),
        xdv_only: false,
    };
    let t = std::time::Instant::now();
    let reply = reportq::sandbox::run_tectonic(&cfg.bundle, &cfg.bundle.join("format"), job.path(), plan.text.as_bytes(), &tex_job);
    eprintln!("{} ms; error: {:?}", t.elapsed().as_millis(), reply.error);
    std::fs::write(path.with_extension("log"), &reply.log).unwrap();
    if !reply.pdf.is_empty() {
        std::fs::write(path.with_extension("pdf"), &reply.pdf).unwrap();
    }
}
