//! `reportq render`, `score` and `setup`: local work on one request, no AWS.

use std::path::PathBuf;
use std::time::Instant;

use reportq::config::RenderConfig;
use reportq::template::{self, Date, RenderContext};
use reportq::{Renderer, ReportRequest};

use super::*;

pub(crate) fn score(input: PathBuf, model: Option<PathBuf>, improvements: bool) -> Res {
    let scorer = load_scorer(model)?.ok_or(reportq::scoring::NetworkError::NotConfigured)?;
    let bytes = read_input(&input).map_err(|e| format!("reading {}: {e}", input.display()))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", input.display()))?;
    // A refusal names the field, as the API's does (`[2].response.Checksum: ...`).
    let one = |m: &serde_json::Value, at: String| -> Result<serde_json::Value, Box<dyn std::error::Error>> {
        let named = |e: reportq::scoring::ScoreError| e.at(&at);
        Ok(if improvements {
            serde_json::to_value(scorer.improvements_value(m).map_err(named)?)?
        } else {
            serde_json::to_value(scorer.score_value(m).map_err(named)?)?
        })
    };
    let out = match &value {
        serde_json::Value::Array(models) => {
            serde_json::Value::Array(models.iter().enumerate().map(|(i, m)| one(m, format!("[{i}]"))).collect::<Result<_, _>>()?)
        }
        m => one(m, String::new())?,
    };
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

pub(crate) fn render(request: PathBuf, output: PathBuf, format: Format, epoch: Option<i64>, model: Option<PathBuf>) -> Res {
    let bytes = read_input(&request).map_err(|e| format!("reading {}: {e}", request.display()))?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| format!("{}: not JSON: {e}", request.display()))?;
    let scorer = load_scorer(model)?;
    let req = ReportRequest::parse(&value, scorer.as_deref()).map_err(|e| format!("{}: {e}", request.display()))?;
    let t = Instant::now();
    let out = match format {
        Format::Csv => template::csv(&req.params).into_bytes(),
        Format::Png => template::chart_png(&req.params)?,
        Format::Tex => {
            let ctx = RenderContext::new(epoch.map(Date::from_epoch).unwrap_or_else(Date::now), req.pdf.standard);
            template::prepare(&req.params, &ctx)?.tex.into_bytes()
        }
        Format::Pdf => {
            let renderer = Renderer::new(RenderConfig::from_env()?)?;
            let date = epoch.map(Date::from_epoch).unwrap_or_else(Date::now);
            let ctx = RenderContext::new(date, req.pdf.standard).with_scorer(scorer).with_source(normalised(&req, &value), None);
            let pdf = renderer.render(&req, &ctx)?.pdf;
            // Signed as the worker signs, when REPORTQ_SIGNING_KEY names a key.
            let signing = reportq::config::SigningSettings::read(&reportq::config::Env::process())?;
            match signing.key {
                None => pdf,
                Some(_) => super::runtime()?.block_on(async {
                    let signer = reportq::signing::signer(None, &signing).await?.expect("a key is set");
                    signer.sign_pdf(pdf, date.epoch).await
                })?,
            }
        }
    };
    write_output(&output, &out)?;
    if output.as_os_str() != "-" {
        eprintln!("wrote {} ({} bytes, {} template) in {:.2?}", output.display(), out.len(), req.template_name(), t.elapsed());
    }
    Ok(())
}

pub(crate) fn verify(pdf: PathBuf, rerender: bool, model: Option<PathBuf>, cert: Option<PathBuf>, json: bool) -> Res {
    let bytes = read_input(&pdf).map_err(|e| format!("reading {}: {e}", pdf.display()))?;
    let cert = cert.map(|c| std::fs::read_to_string(&c).map_err(|e| format!("reading {}: {e}", c.display()))).transpose()?;
    let mut v = reportq::verify::verify(&bytes, cert.as_deref());
    if rerender && v.ok {
        let renderer = Renderer::new(RenderConfig::from_env()?)?;
        reportq::verify::rerender(&mut v, &renderer, load_scorer(model)?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for c in &v.checks {
            println!("{:<4} {:<9} {}", if c.ok { "ok" } else { "FAIL" }, c.check, c.detail);
        }
        if let Some(p) = &v.provenance {
            let job = p.job.id.map(|id| id.to_string()).unwrap_or_else(|| "none".into());
            println!(
                "     made by reportq {} ({}), template {}, job {job} of {}, {}",
                p.reportq.version, p.reportq.commit, p.template.name, p.job.created, p.pdf_standard
            );
        }
    }
    if !v.ok {
        return Err(format!("{}: not verified", pdf.display()).into());
    }
    Ok(())
}

/// The request as the worker would hold it (scores the network computed written in), so that
/// an `a-3` report's embedded request renders again without the network.
fn normalised(req: &ReportRequest, value: &serde_json::Value) -> serde_json::Value {
    let mut v = value.clone();
    req.normalise(&mut v);
    v
}

pub(crate) fn setup() -> Res {
    let cfg = RenderConfig::from_env()?;
    eprintln!("TeX bundle: {}", cfg.bundle.display());
    let formats = reportq::setup::build_formats(&cfg.bundle)?;
    for f in &formats.built {
        match f.took {
            Some(took) => eprintln!("built the {} format ({}) in {took:.2?}", f.name, f.what),
            None => eprintln!("the {} format ({}) is already built", f.name, f.what),
        }
    }
    for name in &formats.removed {
        eprintln!("removed {name}: no template preamble uses it any more");
    }
    // One confined render proves the whole path (bundle, format, child, sandbox) works here.
    let renderer = Renderer::new(cfg)?;
    let req = ReportRequest::from_slice(include_bytes!("../../examples/summary.json"))?;
    let t = Instant::now();
    let r = renderer.render(&req, &RenderContext::new(Date::now(), req.pdf.standard))?;
    eprintln!("check render: {} bytes in {:.2?}; sandbox: {}", r.pdf.len(), t.elapsed(), r.sandbox);
    Ok(())
}
