//! Where a render's time goes: each stage of `reportq render` timed on its own, for the
//! README's Performance section.
//!
//!     cargo run --release --example render_profile [-- RUNS]
//!
//! Stages are timed apart and differenced, each the median of RUNS (default 7) after one
//! warm-up, for the DiAGRAM example in three PDF flavours:
//! - template + charts: `template::prepare` (the LaTeX text and the chart PNGs);
//! - one chart: `template::chart_png` (plotters drawing + PNG encoding);
//! - child start: `reportq __tex-child --probe` (exec, Landlock, exit): the process cost of a
//!   confined render;
//! - TeX stages, in this process (unconfined, the same engine and bundle): format load (a
//!   document that ends at once), the preamble (the document's preamble and an empty body,
//!   minus the format load), typesetting (the whole document as XDV, minus the preamble),
//!   xdvipdfmx (PDF minus XDV); each on LaTeX's own format and on the preamble format;
//! - end to end: `Renderer::render` (all of the above in a confined child, plus the job folder
//!   and the pipes).

use std::path::Path;
use std::time::{Duration, Instant};

use reportq::config::RenderConfig;
use reportq::render::Renderer;
use reportq::request::{PdfStandard, ReportRequest};
use reportq::sandbox::{self, TexJob};
use reportq::template::{self, Date, RenderContext};
use reportq::texformat;

fn median(mut f: impl FnMut() -> Duration, runs: usize) -> Duration {
    f();
    let mut v: Vec<Duration> = (0..runs).map(|_| f()).collect();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1e3)
}

fn diff(a: Duration, b: Duration) -> String {
    let x = a.as_secs_f64() - b.as_secs_f64();
    format!("{:.0} ms", x * 1e3)
}

struct Tex<'a> {
    bundle: &'a Path,
    job_dir: &'a Path,
    epoch: u64,
}

impl Tex<'_> {
    fn time(&self, format: &str, text: &str, passes: u8, xdv_only: bool, runs: usize) -> Duration {
        let job = TexJob { format: format.into(), passes, epoch: self.epoch, format_source: None, verbose: false, xdv_only };
        median(
            || {
                let t = Instant::now();
                let reply = sandbox::run_tectonic(self.bundle, &self.bundle.join("format"), self.job_dir, text.as_bytes(), &job);
                let took = t.elapsed();
                assert!(reply.error.is_empty() || text.contains("@@end"), "{format}: {}\n{}", reply.error, reportq::render::log_excerpt(&reply.log));
                took
            },
            runs,
        )
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Renders run this executable as their TeX child.
    sandbox::maybe_run_child();
    let runs: usize = std::env::args().nth(1).map(|s| s.parse().expect("RUNS is a number")).unwrap_or(7);
    let cfg = RenderConfig::from_env()?;
    let renderer = Renderer::new(cfg.clone())?;
    let req = ReportRequest::from_slice(include_bytes!("diagram.json"))?;
    let date = Date::from_epoch(1_790_000_000);
    let exe = std::env::current_exe()?;
    let child_start = median(
        || {
            let t = Instant::now();
            let out = std::process::Command::new(&exe).args([sandbox::CHILD_ARG, sandbox::PROBE_ARG]).env_clear().output().unwrap();
            assert!(out.status.success());
            t.elapsed()
        },
        runs,
    );
    let chart = median(
        || {
            let t = Instant::now();
            std::hint::black_box(template::chart_png(&req.params).unwrap());
            t.elapsed()
        },
        runs,
    );
    println!(
        "render profile: the DiAGRAM example (examples/diagram.json), median of {runs} runs, {} cores\n",
        std::thread::available_parallelism()?.get()
    );
    println!("| stage | tagged PDF/A-2a | PDF/A-2b | plain PDF |");
    println!("|---|---|---|---|");
    let mut rows: Vec<(String, Vec<String>)> = Vec::new();
    let mut add = |stage: &str, v: String| match rows.iter_mut().find(|(s, _)| s == stage) {
        Some((_, vs)) => vs.push(v),
        None => rows.push((stage.to_string(), vec![v])),
    };
    for standard in [PdfStandard::A2a, PdfStandard::A2b, PdfStandard::None] {
        let ctx = RenderContext::new(date, standard);
        let prepare = median(
            || {
                let t = Instant::now();
                std::hint::black_box(template::prepare(&req.params, &ctx).unwrap());
                t.elapsed()
            },
            runs,
        );
        let p = template::prepare(&req.params, &ctx)?;
        let job_dir = tempfile::tempdir()?;
        for (name, bytes) in &p.assets {
            std::fs::write(job_dir.path().join(name), bytes)?;
        }
        std::fs::write(job_dir.path().join("doc.xmpdata"), template::xmpdata(&p.meta, &ctx))?;
        let tex = Tex { bundle: &cfg.bundle, job_dir: job_dir.path(), epoch: date.epoch as u64 };
        // One pass for every flavour (tagged ones too since 12-04: src/tagging).
        let passes = 1;
        let (head, tail) = texformat::split(&p.tex).ok_or("no format mark")?;
        let body_at = tail.find("\\begin{document}").ok_or("no \\begin{document}")?;
        let empty_body = "\\begin{document}\\null\\end{document}\n";
        // Format load: the engine starts, loads the format and stops at the first line.
        let load_latex = tex.time(texformat::LATEX, "\\csname @@end\\endcsname\n", 1, true, runs);
        let preamble_latex = tex.time(texformat::LATEX, &format!("{head}{}{empty_body}", &tail[..body_at]), passes, true, runs);
        let xdv_latex = tex.time(texformat::LATEX, &p.tex, passes, true, runs);
        let pdf_latex = tex.time(texformat::LATEX, &p.tex, passes, false, runs);
        let name = texformat::name(head);
        let preloaded = texformat::path(&cfg.bundle, &name)?.is_file();
        let (load_rq, preamble_rq, xdv_rq, pdf_rq) = if preloaded {
            (
                tex.time(&name, "\\csname @@end\\endcsname\n", 1, true, runs),
                tex.time(&name, &format!("{}{empty_body}", &tail[..body_at]), passes, true, runs),
                tex.time(&name, tail, passes, true, runs),
                tex.time(&name, tail, passes, false, runs),
            )
        } else {
            eprintln!("no preamble format for {standard:?}: run `reportq setup`");
            (Duration::ZERO, Duration::ZERO, Duration::ZERO, Duration::ZERO)
        };
        let end_to_end = median(
            || {
                let t = Instant::now();
                renderer.render(&req, &ctx).unwrap();
                t.elapsed()
            },
            runs,
        );
        add("template + charts (`template::prepare`)", ms(prepare));
        add("of which one chart (plotters + PNG)", ms(chart));
        add("child process start (exec + Landlock + exit)", ms(child_start));
        add("TeX, LaTeX's format: format load", ms(load_latex));
        add("TeX, LaTeX's format: preamble", diff(preamble_latex, load_latex));
        add("TeX, LaTeX's format: typesetting", diff(xdv_latex, preamble_latex));
        add("TeX, LaTeX's format: xdvipdfmx (tagged: and the structure tree)", diff(pdf_latex, xdv_latex));
        add("**TeX, LaTeX's format: total**", ms(pdf_latex));
        add("TeX, preamble format: format load", ms(load_rq));
        add("TeX, preamble format: rest of the preamble", diff(preamble_rq, load_rq));
        add("TeX, preamble format: typesetting", diff(xdv_rq, preamble_rq));
        add("TeX, preamble format: xdvipdfmx (tagged: and the structure tree)", diff(pdf_rq, xdv_rq));
        add("**TeX, preamble format: total**", ms(pdf_rq));
        add("**end to end (`Renderer::render`, confined child)**", ms(end_to_end));
        add("end to end minus template and TeX (job folder, child, pipes)", diff(end_to_end, prepare + if preloaded { pdf_rq } else { pdf_latex }));
    }
    for (stage, vs) in rows {
        println!("| {stage} | {} |", vs.join(" | "));
    }
    Ok(())
}
