//! Shared helpers: a renderer on the real bundle whose TeX child is the real `reportq`
//! binary, with its own temp folder so a test can prove nothing is left behind.
#![allow(dead_code)]

pub mod app;
pub mod aws;
pub mod lambda_rt;
pub mod on_lambda;
pub mod soak;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use reportq::config::RenderConfig;
use reportq::template::{Date, RenderContext};
use reportq::{Renderer, ReportRequest};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn example(name: &str) -> Vec<u8> {
    std::fs::read(root().join("examples").join(name)).unwrap()
}

pub struct Harness {
    pub renderer: Renderer,
    pub tmp: tempfile::TempDir,
}

pub fn harness() -> Harness {
    harness_with(|_| {})
}

pub use app::render_config;

pub fn harness_with(f: impl FnOnce(&mut RenderConfig)) -> Harness {
    let tmp = tempfile::tempdir().unwrap();
    let mut cfg = render_config(Path::new(env!("CARGO_BIN_EXE_reportq")));
    cfg.tmp_dir = tmp.path().to_path_buf();
    f(&mut cfg);
    let renderer = Renderer::new(cfg).unwrap_or_else(|e| panic!("{e}\n(build the bundle first: make setup)"));
    Harness { renderer, tmp }
}

impl Harness {
    /// Entries left in the renderer's temp folder (but the empty font configuration the
    /// renderer writes there once for its children).
    pub fn leftovers(&self) -> Vec<String> {
        std::fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !(n.starts_with("reportq-fonts-") && n.ends_with(".conf")))
            .collect()
    }
}

/// A fixed date, so outputs are comparable.
pub fn ctx(req: &ReportRequest) -> RenderContext {
    RenderContext::new(Date::from_epoch(1_790_000_000), req.pdf.standard)
}

pub fn render_json(h: &Harness, json: &serde_json::Value) -> Vec<u8> {
    let req = ReportRequest::from_value(json.clone()).unwrap();
    // The request as given is what an a-3 report embeds.
    h.renderer.render(&req, &ctx(&req).with_source(json.clone(), None)).unwrap_or_else(|e| panic!("{e}")).pdf
}

fn poppler(tool: &str, args: &[&str], pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("in.pdf");
    std::fs::write(&path, pdf).unwrap();
    let out = Command::new(tool)
        .args(args)
        .arg(&path)
        .args(if tool == "pdftotext" { vec!["-"] } else { vec![] })
        .output()
        .unwrap_or_else(|e| panic!("{tool} (poppler-utils) is needed: {e}"));
    assert!(out.status.success(), "{tool} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The PDF's text, read back by poppler.
pub fn pdf_text(pdf: &[u8]) -> String {
    poppler("pdftotext", &["-enc", "UTF-8"], pdf)
}

/// One page's text as poppler lays it out (`pdftotext -layout -f N -l N`), white space runs
/// squeezed to one space: what a reader sees on that page, independent of how the words are
/// split into runs or marked content.
pub fn pdf_page_text(pdf: &[u8], page: usize) -> String {
    let n = page.to_string();
    poppler("pdftotext", &["-layout", "-enc", "UTF-8", "-f", &n, "-l", &n], pdf).split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text with all white space removed: TeX breaks lines where it likes.
pub fn squash(s: &str) -> String {
    s.split_whitespace().collect()
}

pub fn pdf_pages(pdf: &[u8]) -> usize {
    let info = poppler("pdfinfo", &[], pdf);
    info.lines().find_map(|l| l.strip_prefix("Pages:")).unwrap().trim().parse().unwrap()
}

pub fn pdf_images(pdf: &[u8]) -> usize {
    // `pdfimages -list` prints two header lines, then one line per image.
    poppler("pdfimages", &["-list"], pdf).lines().skip(2).filter(|l| !l.trim().is_empty()).count()
}

pub fn wait_for(path: &Path, d: Duration) -> bool {
    let end = std::time::Instant::now() + d;
    while std::time::Instant::now() < end {
        if path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    path.exists()
}

/// A child `reportq` process, killed when dropped (and when the test process dies).
pub struct Proc(std::process::Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `reportq ARGS` with `env`, in the background.
pub fn spawn(args: &[&str], env: &[(String, String)]) -> Proc {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_reportq"));
    cmd.args(args).envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).stdin(std::process::Stdio::null());
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
    Proc(cmd.spawn().unwrap())
}

/// A ZIP's files by name, read by another implementation (Python's `zipfile`, every CRC
/// checked): what a user's unzip would see.
pub fn read_zip(zip: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("archive.zip");
    std::fs::write(&path, zip).unwrap();
    let out_dir = dir.path().join("out");
    let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nbad = z.testzip()\nassert bad is None, bad\nz.extractall(sys.argv[2])\nprint('\\n'.join(z.namelist()))";
    let out = std::process::Command::new("python3").arg("-c").arg(script).arg(&path).arg(&out_dir).output().expect("python3 runs");
    assert!(out.status.success(), "zipfile refused the archive: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(|name| (name.to_string(), std::fs::read(out_dir.join(name)).unwrap()))
        .collect()
}
