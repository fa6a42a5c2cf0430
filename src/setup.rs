//! `reportq setup`: build the format files once, at build or deploy time, never per request:
//! LaTeX's own, and one per template preamble ([`crate::texformat`]).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::render::RenderError;
use crate::request::{PdfStandard, ReportRequest};
use crate::sandbox::{self, TexJob};
use crate::template::{self, Date, RenderContext};
use crate::texformat;

/// A document that loads what the templates load, so the first real render finds every
/// package file warm in the page cache and the format proven.
const PROBE: &str = r"\documentclass{article}\usepackage{fontspec}\begin{document}reportq\end{document}";

/// One format `setup` made.
#[derive(Debug)]
pub struct Built {
    pub name: String,
    /// What it is for (`latex`, or `diagram a-2a` ...).
    pub what: String,
    /// How long it took; `None` when it was already there.
    pub took: Option<Duration>,
}

/// The preambles setup builds formats for: every template's example request in every PDF
/// standard whose document has a format mark (the orientation comes from the template).
/// Requests in another language than the example's compile on LaTeX's own format.
pub fn heads() -> Result<Vec<(String, String)>, RenderError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for name in template::names() {
        let example = template::example(name).expect("every template has an example");
        let req = ReportRequest::parse(&example, None).map_err(|e| RenderError::Template(format!("the {name} example: {e}")))?;
        for standard in PdfStandard::ALL {
            let ctx = RenderContext::new(Date::from_epoch(0), standard);
            let prepared = template::prepare(&req.params, &ctx)?;
            // PDF/A-1b (through pdfx) has no preamble format (templates/base.tex says why).
            let Some((head, _)) = texformat::split(&prepared.tex) else { continue };
            match out.iter_mut().find(|(h, _)| h == head) {
                Some((_, what)) => what.push_str(&format!(", {name} {}", standard.as_str())),
                None => out.push((head.to_string(), format!("{name} {}", standard.as_str()))),
            }
        }
    }
    Ok(out)
}

/// Builds every missing format in `<bundle>/format/`.
pub fn build_formats(bundle: &Path) -> Result<Formats, RenderError> {
    let mut built = vec![build(bundle, texformat::LATEX, None, PROBE, 1, "LaTeX")?];
    let mut metrics = None;
    for (head, what) in heads()? {
        let name = texformat::name(&head);
        if texformat::path(bundle, &name).is_ok_and(|p| p.is_file()) {
            built.push(Built { name, what, took: None });
            continue;
        }
        if metrics.is_none() {
            metrics = Some(font_metrics(bundle)?);
        }
        let source = texformat::source(&head, metrics.as_deref().unwrap_or_default());
        // A tiny document after the preamble proves the format loads and compiles.
        let tail = "\\begin{document}reportq\\end{document}\n";
        // (Two passes for a tagpdf preamble, as its renders take.)
        let passes = if texformat::tagged(&head) { 2 } else { 1 };
        built.push(build(bundle, &name, Some(source), tail, passes, &what)?);
    }
    let removed = remove_stale(bundle, &built)?;
    Ok(Formats { built, removed })
}

/// What [`build_formats`] did.
#[derive(Debug)]
pub struct Formats {
    pub built: Vec<Built>,
    /// Preamble formats no current preamble names, removed (file names).
    pub removed: Vec<String>,
}

/// Removes preamble formats no current preamble names (each is ~32 MB): those of an older
/// template or bundle.
fn remove_stale(bundle: &Path, current: &[Built]) -> Result<Vec<String>, RenderError> {
    let keep: Vec<std::path::PathBuf> = current.iter().filter_map(|b| texformat::path(bundle, &b.name).ok()).collect();
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(bundle.join("format")) else { return Ok(removed) };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.contains("-rq-") && name.ends_with(".fmt") && !keep.contains(&path) {
            std::fs::remove_file(&path)?;
            removed.push(name);
        }
    }
    Ok(removed)
}

/// The default font's spacing parameters, as LaTeX's own format sets them
/// ([`texformat::METRICS_PROBE`]).
fn font_metrics(bundle: &Path) -> Result<String, RenderError> {
    let job_dir = tempfile::tempdir()?;
    let job = TexJob { format: texformat::LATEX.into(), passes: 1, epoch: 0, format_source: None, verbose: false, xdv_only: false };
    let reply = sandbox::run_tectonic(bundle, &bundle.join("format"), job_dir.path(), texformat::METRICS_PROBE.as_bytes(), &job);
    texformat::metrics_from_log(&reply.log).ok_or_else(|| RenderError::Tex {
        message: format!("measuring the default font: {}", if reply.error.is_empty() { "no metrics in the log" } else { &reply.error }),
        log_excerpt: crate::render::log_excerpt(&reply.log),
    })
}

fn build(bundle: &Path, name: &str, source: Option<String>, doc: &str, passes: u8, what: &str) -> Result<Built, RenderError> {
    let bad = |problem: String| RenderError::Bundle { path: bundle.to_path_buf(), problem };
    let fmt = texformat::path(bundle, name).map_err(|e| bad(format!("SHA256SUM: {e}")))?;
    let done = |took| Built { name: name.to_string(), what: what.to_string(), took };
    if fmt.is_file() {
        return Ok(done(None));
    }
    let format_dir = bundle.join("format");
    std::fs::create_dir_all(&format_dir).map_err(|e| bad(format!("cannot create {}: {e}", format_dir.display())))?;
    let job_dir = tempfile::tempdir()?;
    let t = Instant::now();
    let job = TexJob { format: name.to_string(), passes, epoch: 0, format_source: source, verbose: true, xdv_only: false };
    // Unconfined on purpose: this is the one run allowed to write (the format, into the bundle).
    let reply = sandbox::run_tectonic(bundle, &format_dir, job_dir.path(), doc.as_bytes(), &job);
    if !reply.error.is_empty() {
        return Err(RenderError::Tex {
            log_excerpt: crate::render::log_excerpt(&reply.log),
            message: format!("building the {what} format: {}", reply.error),
        });
    }
    if !fmt.is_file() {
        return Err(bad(format!("TeX ran but did not write {}", fmt.display())));
    }
    // Tectonic writes the format 0600; Lambda runs the function as another user than the one
    // that built the image, and it must be able to read it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fmt, std::fs::Permissions::from_mode(0o644))?;
    Ok(done(Some(t.elapsed())))
}
