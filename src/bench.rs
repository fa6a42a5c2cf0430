//! `reportq bench`: render timings that back the README's figures.
//!
//! For each template's example request it measures the first render in a new process (cold),
//! warm renders in one process (p50/p95, end to end: params -> charts -> TeX child -> PDF
//! bytes), tagged (the default) against PDF/A-2b and plain output, peak RSS, and Debian's `xelatex` compiling the very
//! same generated `.tex` with the same single pass.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::render::Renderer;
use crate::request::{PdfStandard, ReportRequest};
use crate::template::{self, Date, RenderContext};

pub struct Options {
    pub renders: usize,
    pub cold_runs: usize,
    pub xelatex_runs: usize,
    pub examples: Vec<PathBuf>,
}

fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

/// Peak RSS in MiB of this process and, separately, of the largest child waited for so far.
fn peak_rss_mib() -> (f64, f64) {
    let get = |who| {
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        unsafe { libc::getrusage(who, &mut u) };
        u.ru_maxrss as f64 / 1024.0
    };
    (get(libc::RUSAGE_SELF), get(libc::RUSAGE_CHILDREN))
}

/// Step `i` (0-based) of `n` of a phase: a live counter on a terminal; in a log (CI, a pipe),
/// one line when the phase starts instead of a line of escape codes.
fn progress(label: &str, i: usize, n: usize) {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K{label} {}/{n}", i + 1);
    } else if i == 0 {
        eprintln!("{label} (x{n})");
    }
}

fn progress_done() {
    use std::io::IsTerminal;
    if std::io::stderr().is_terminal() {
        eprint!("\r\x1b[2K");
    }
}

/// `renderer` renders as configured; `whole` is the same with preamble formats off
/// (`REPORTQ_TEX_PRELOAD=0`): every document compiled whole on LaTeX's own format.
pub fn run(renderer: &Renderer, whole: &Renderer, opts: &Options) -> Result<(), Box<dyn std::error::Error>> {
    let exe = std::env::current_exe()?;
    let date = Date::from_epoch(1_790_000_000);
    println!("reportq bench: {} warm renders, {} cold processes, {} xelatex runs per template", opts.renders, opts.cold_runs, opts.xelatex_runs);
    println!(
        "machine: {} cores; TeX passes: 1, tagged or not (tectonic and xelatex alike); preamble formats: {}\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        if renderer.config().preload { "on" } else { "off (REPORTQ_TEX_PRELOAD=0)" }
    );
    let mut rows = Vec::new();
    for path in &opts.examples {
        let bytes = std::fs::read(path)?;
        let req = ReportRequest::from_slice(&bytes)?;
        let name = req.template_name();

        // Cold: a new process, pre-built format, one render.
        let mut cold = Vec::new();
        let scratch = tempfile::tempdir()?;
        let out_pdf = scratch.path().join("cold.pdf");
        for i in 0..opts.cold_runs {
            progress(&format!("{name}: cold process"), i, opts.cold_runs);
            let t = Instant::now();
            let out = Command::new(&exe)
                .args(["render", &path.to_string_lossy(), "-o", &out_pdf.to_string_lossy(), "--epoch", "1790000000"])
                .env("REPORTQ_TEX_BUNDLE", &renderer.config().bundle)
                .output()?;
            cold.push(t.elapsed());
            if !out.status.success() {
                return Err(format!("cold render failed: {}", String::from_utf8_lossy(&out.stderr)).into());
            }
        }
        cold.sort();

        let mut results = Vec::new();
        for standard in [PdfStandard::A2a, PdfStandard::A2b, PdfStandard::None] {
            let ctx = RenderContext::new(date, standard);
            let mut times = Vec::new();
            let mut size = 0;
            for i in 0..opts.renders {
                progress(&format!("{name}: warm render ({standard:?})"), i, opts.renders);
                let t = Instant::now();
                size = renderer.render(&req, &ctx)?.pdf.len();
                times.push(t.elapsed());
            }
            times.sort();
            results.push((standard, times, size));
        }

        // TeX alone, tectonic vs xelatex, on the same generated documents and charts: the
        // default tagged document and the untagged PDF/A-2b one (one pass each; tectonic's
        // figure includes building the tagged PDF's structure tree, xelatex's does not). Tectonic's figure is a whole confined render of the prepared document
        // (child, job folder and pipes included), on the preamble's format and, for
        // comparison, on LaTeX's own.
        let mut tex_only = Vec::new();
        for standard in [PdfStandard::A2a, PdfStandard::A2b] {
            let ctx = RenderContext::new(date, standard);
            let prepared = template::prepare(&req.params, &ctx)?;
            let mut times = [Vec::new(), Vec::new()];
            for (k, r) in [renderer, whole].into_iter().enumerate() {
                for i in 0..opts.xelatex_runs {
                    progress(
                        &format!("{name}: tectonic TeX-only ({standard:?}{})", if k == 0 { "" } else { ", LaTeX's format" }),
                        i,
                        opts.xelatex_runs,
                    );
                    let t = Instant::now();
                    r.render_prepared(&prepared, &ctx)?;
                    times[k].push(t.elapsed());
                }
                times[k].sort();
            }
            let [fast, slow] = times;
            tex_only.push((standard, prepared, ctx, fast, slow));
        }
        rows.push((name, cold, results, tex_only));
    }
    // Read before xelatex runs, so the child figure is reportq's own (cold CLI or TeX child).
    let (self_rss, child_rss) = peak_rss_mib();
    let mut xelatex = Vec::new();
    for (name, _, _, tex_only) in &rows {
        for (_, prepared, ctx, ..) in tex_only {
            xelatex.push(xelatex_times(prepared, ctx, opts.xelatex_runs, name)?);
        }
    }
    let (_, xelatex_rss) = peak_rss_mib();
    progress_done();
    eprintln!();

    println!(
        "| template | cold (new process) p50 / max | warm p50 (tagged) | warm p95 | PDF bytes | PDF/A-2b p50 | PDF/A-2b bytes | plain p50 | plain bytes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for (name, cold, results, ..) in &rows {
        let (_, a, a_size) = &results[0];
        let (_, b, b_size) = &results[1];
        let (_, n, n_size) = &results[2];
        println!(
            "| {name} | {} / {} | {} | {} | {a_size} | {} | {b_size} | {} | {n_size} |",
            ms(pct(cold, 0.5)),
            ms(*cold.last().unwrap_or(&Duration::ZERO)),
            ms(pct(a, 0.5)),
            ms(pct(a, 0.95)),
            ms(pct(b, 0.5)),
            ms(pct(n, 0.5)),
        );
    }
    if opts.xelatex_runs == 0 {
        println!("\nTeX only, tectonic vs xelatex: not run (--xelatex 0)");
    } else {
        println!("\n| template | document (passes) | TeX only: tectonic p50 | on LaTeX's own format | xelatex p50 | xelatex / tectonic |");
        println!("|---|---|---|---|---|---|");
    }
    let mut xe = xelatex.iter();
    for (name, _, _, tex_only) in rows.iter().filter(|_| opts.xelatex_runs > 0) {
        for (standard, _, _, fast, slow) in tex_only {
            let doc = if standard.tagged() { "tagged PDF/A-2a (1)" } else { "PDF/A-2b (1)" };
            let (f, s) = (pct(fast, 0.5), pct(slow, 0.5));
            match xe.next().and_then(Option::as_ref) {
                Some(x) => {
                    let x = pct(x, 0.5);
                    println!("| {name} | {doc} | {} | {} | {} | {:.2}x |", ms(f), ms(s), ms(x), x.as_secs_f64() / f.as_secs_f64())
                }
                None => println!("| {name} | {doc} | {} | {} | (xelatex not installed) | |", ms(f), ms(s)),
            }
        }
    }
    println!(
        "\npeak RSS: bench process (parent of the renders) {self_rss:.0} MiB; largest reportq child \
         (a cold CLI render or a TeX child) {child_rss:.0} MiB; xelatex {xelatex_rss:.0} MiB or less"
    );
    println!("(tagged PDF/A-2a + PDF/UA-1 is the default; PDF/A-2b is \"pdf\": {{\"standard\": \"a-2b\"}}, plain is \"none\")");
    Ok(())
}

/// Times Debian's xelatex on the same files. `None` when xelatex is not installed.
fn xelatex_times(p: &template::Prepared, ctx: &RenderContext, runs: usize, name: &str) -> Result<Option<Vec<Duration>>, Box<dyn std::error::Error>> {
    if Command::new("xelatex").arg("--version").output().is_err() {
        return Ok(None);
    }
    let passes = 1;
    let mut times = Vec::new();
    for i in 0..runs {
        progress(&format!("{name}: xelatex ({:?}, {passes} pass(es))", ctx.pdf), i, runs);
        // A fresh folder each time: the first pass starts without an aux file, as tectonic's does.
        let dir = tempfile::tempdir()?;
        write_job(dir.path(), p, ctx)?;
        let t = Instant::now();
        for _ in 0..passes {
            let out = Command::new("xelatex")
                .args(["-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape", "doc.tex"])
                .current_dir(dir.path())
                // The same creation date as the tectonic render.
                .env("SOURCE_DATE_EPOCH", ctx.date.epoch.to_string())
                .env("FORCE_SOURCE_DATE", "1")
                .output()?;
            if !out.status.success() {
                return Err(format!(
                    "xelatex failed on the generated document: {}",
                    String::from_utf8_lossy(&out.stdout).lines().rev().take(10).collect::<Vec<_>>().join("\n")
                )
                .into());
            }
        }
        times.push(t.elapsed());
    }
    times.sort();
    Ok(Some(times))
}

fn write_job(dir: &Path, p: &template::Prepared, ctx: &RenderContext) -> std::io::Result<()> {
    std::fs::write(dir.join("doc.tex"), &p.tex)?;
    std::fs::write(dir.join("doc.xmpdata"), template::xmpdata(&p.meta, ctx))?;
    for (name, bytes) in &p.assets {
        std::fs::write(dir.join(name), bytes)?;
    }
    Ok(())
}
