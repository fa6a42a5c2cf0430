//! Runs Tectonic (unconfined, the bundle's format) on a .tex file and writes the PDF beside
//! it: for trying LaTeX packages against the bundle while developing templates.
//!
//!     cargo run --release --example tex_probe -- FILE.tex

fn main() {
    let path = std::env::args().nth(1).expect("usage: tex_probe FILE.tex");
    let tex = std::fs::read(&path).expect("readable .tex");
    let cfg = reportq::config::RenderConfig::from_env().expect("settings");
    let job = tempfile::tempdir().unwrap();
    let dir = std::path::Path::new(&path).parent().unwrap();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.extension().is_some_and(|e| e == "png" || e == "xmpdata") {
            std::fs::copy(&p, job.path().join(p.file_name().unwrap())).unwrap();
        }
    }
    let t = std::time::Instant::now();
    let text = String::from_utf8(tex).expect("UTF-8");
    let plan = reportq::texformat::plan(&cfg.bundle, &text, cfg.preload);
    eprintln!("format {}, {} pass(es)", plan.format, plan.passes);
    let tex_job =
        reportq::sandbox::TexJob { format: plan.format.clone(), passes: plan.passes, epoch: 1_795_000_000, format_source: None, verbose: false };
    let reply = reportq::sandbox::run_tectonic(&cfg.bundle, &cfg.bundle.join("format"), job.path(), plan.text.as_bytes(), &tex_job);
    eprintln!("{:.0?}; error: {:?}", t.elapsed(), reply.error);
    std::fs::write(std::path::Path::new(&path).with_extension("log"), &reply.log).unwrap();
    if !reply.pdf.is_empty() {
        std::fs::write(std::path::Path::new(&path).with_extension("pdf"), &reply.pdf).unwrap();
    }
}
