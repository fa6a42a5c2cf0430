//! The layer that must hold alone: the TeX engines' only way to a file.
//!
//! Tectonic's `ProcessingSessionBuilder` always puts a file-system provider in its I/O stack,
//! and that provider opens absolute paths and `../` (Tectonic's own default), so a document
//! could `\openin /proc/self/environ`. Renders therefore drive the engines themselves
//! ([`run`]) through [`JobIo`], a stack with no file system in it:
//!
//! 1. the document (the primary input, from memory);
//! 2. what the engines wrote during this run (`.aux`, `.xdv`, the log: memory only);
//! 3. the job's own inputs (charts, `doc.xmpdata`), sent by the parent over the pipe;
//! 4. the bundle, by plain file name;
//! 5. the pre-built formats.
//!
//! Every name is checked first ([`plain_name`]): an absolute path, anything with a `/`, `.`
//! or `..` is "not found" for every way a document or xdvipdfmx names a file (`\input`,
//! `\openin`, `\font` paths and `[file]` names, `\includegraphics`, `\XeTeXpdffile`,
//! `\XeTeXpicfile`, `pdf:image`, `pdf:fstream`), and so are writes outside memory. Fonts found
//! through fontconfig would be opened by path too, and fail the same way; the parent also
//! points fontconfig at an empty configuration, so no system font is even looked up. No shell
//! escape, no bibtex or biber pass: exactly the TeX passes asked for, then xdvipdfmx.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;
use std::time::SystemTime;

use tectonic::io::{InputHandle, InputOrigin, IoProvider, MemoryIo, OpenResult, OutputHandle};
use tectonic::status::StatusBackend;
use tectonic_bridge_core::{CoreBridgeLauncher, DriverHooks, SecuritySettings, SecurityStance};

use super::{Reply, TexJob};

/// A name the engines may open: one plain file name, as the bundle and the job's inputs are
/// named. No path separator, no `.`/`..`, no NUL, nothing empty.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// The I/O stack of one confined run (see the module documentation).
pub struct JobIo {
    primary: Vec<u8>,
    mem: MemoryIo,
    inputs: HashMap<String, Vec<u8>>,
    bundle: tectonic_bundles::dir::DirBundle,
    formats: tectonic::io::format_cache::FormatCache,
    /// Names refused by [`plain_name`], in order (the log gets them: template authors see why).
    pub refused: Vec<String>,
}

impl JobIo {
    pub fn new(bundle: &Path, format_dir: &Path, inputs: HashMap<String, Vec<u8>>, document: Vec<u8>) -> tectonic::Result<JobIo> {
        use tectonic_bundles::Bundle;
        let mut dir = tectonic_bundles::dir::DirBundle::new(bundle);
        let digest = dir.get_digest()?;
        Ok(JobIo {
            primary: document,
            mem: MemoryIo::new(true),
            inputs,
            bundle: dir,
            formats: tectonic::io::format_cache::FormatCache::new(digest, format_dir.to_path_buf()),
            refused: Vec::new(),
        })
    }

    fn allowed(&mut self, name: &str) -> bool {
        let ok = plain_name(name);
        if !ok && self.refused.len() < 100 {
            self.refused.push(name.chars().take(200).collect());
        }
        ok
    }

    /// The files the engines wrote, by name.
    pub fn take_file(&self, name: &str) -> Option<Vec<u8>> {
        self.mem.files.borrow_mut().remove(name).map(|f| f.data)
    }
}

impl DriverHooks for JobIo {
    fn io(&mut self) -> &mut dyn IoProvider {
        self
    }
}

macro_rules! first_of {
    ($r:expr) => {
        match $r {
            OpenResult::NotAvailable => {}
            r => return r,
        }
    };
}

impl IoProvider for JobIo {
    fn output_open_name(&mut self, name: &str) -> OpenResult<OutputHandle> {
        if !self.allowed(name) {
            return OpenResult::NotAvailable;
        }
        self.mem.output_open_name(name)
    }

    fn output_open_stdout(&mut self) -> OpenResult<OutputHandle> {
        self.mem.output_open_stdout()
    }

    fn input_open_name(&mut self, name: &str, status: &mut dyn StatusBackend) -> OpenResult<InputHandle> {
        if !self.allowed(name) {
            return OpenResult::NotAvailable;
        }
        first_of!(self.mem.input_open_name(name, status));
        if let Some(data) = self.inputs.get(name) {
            return OpenResult::Ok(InputHandle::new(name, Cursor::new(data.clone()), InputOrigin::Filesystem));
        }
        first_of!(self.bundle.input_open_name(name, status));
        OpenResult::NotAvailable
    }

    fn input_open_primary(&mut self, _status: &mut dyn StatusBackend) -> OpenResult<InputHandle> {
        OpenResult::Ok(InputHandle::new("", Cursor::new(self.primary.clone()), InputOrigin::Other))
    }

    fn input_open_format(&mut self, name: &str, status: &mut dyn StatusBackend) -> OpenResult<InputHandle> {
        if !self.allowed(name) {
            return OpenResult::NotAvailable;
        }
        self.formats.input_open_format(name, status)
    }
}

/// Runs `job.passes` XeTeX passes on `document` (named `doc.tex`) and then xdvipdfmx, every
/// file through [`JobIo`]. The same engine settings as Tectonic's own driver gives a render
/// (halt on error, no shell escape, the job's date as the engines' clock), so the bytes are
/// the same as before the allow-list.
pub fn run(
    bundle: &Path,
    format_dir: &Path,
    inputs: HashMap<String, Vec<u8>>,
    document: Vec<u8>,
    job: &TexJob,
    status: &mut dyn StatusBackend,
) -> Reply {
    let mut io = match JobIo::new(bundle, format_dir, inputs, document) {
        Ok(io) => io,
        Err(e) => return Reply { error: format!("starting TeX: {e:#}"), ..Default::default() },
    };
    let date = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(job.epoch);
    let security = SecuritySettings::new(SecurityStance::DisableInsecures);
    let mut error = String::new();
    for _ in 0..job.passes.max(1) {
        let mut launcher = CoreBridgeLauncher::new_with_security(&mut io, status, security.clone());
        let r = tectonic::TexEngine::default().halt_on_error_mode(true).initex_mode(false).shell_escape(false).build_date(date).process(
            &mut launcher,
            &job.format,
            "doc.tex",
        );
        // In halt-on-error mode every TeX error is an `Err`; warnings are not failures.
        if let Err(e) = r {
            error = format!("the XeTeX engine had an unrecoverable error: {e:#}");
            break;
        }
    }
    if error.is_empty() && !job.xdv_only {
        if io.mem.files.borrow().contains_key("doc.xdv") {
            let mut launcher = CoreBridgeLauncher::new_with_security(&mut io, status, security.clone());
            let mut engine = tectonic::XdvipdfmxEngine::default();
            engine.build_date(date);
            if let Err(e) = engine.process(&mut launcher, "doc.xdv", "doc.pdf") {
                error = format!("the xdvipdfmx engine had an unrecoverable error: {e:#}");
            }
        } else {
            error = "TeX produced no output (an empty document?)".into();
        }
    }
    let mut log = io.take_file("doc.log").map(|d| String::from_utf8_lossy(&d).into_owned()).unwrap_or_default();
    if !io.refused.is_empty() {
        log.push_str("\nreportq: names refused by the I/O allow-list (not plain file names):\n");
        for n in &io.refused {
            log.push_str(&format!("  {}\n", n.escape_debug()));
        }
    }
    if !error.is_empty() {
        return Reply { error, log, ..Default::default() };
    }
    let out = if job.xdv_only { "doc.xdv" } else { "doc.pdf" };
    match io.take_file(out) {
        Some(pdf) if job.xdv_only => Reply { pdf, log, ..Default::default() },
        Some(pdf) => finish_pdf(pdf, io.take_file(crate::tagging::RECORD_FILE), io.take_file(crate::xmp::META_FILE), log),
        None => Reply { error: "TeX produced no PDF".into(), log, ..Default::default() },
    }
}

/// A tagged document's PDF gets its structure from the record TeX kept ([`crate::tagging`]), and
/// its metadata from the file TeX wrote ([`crate::xmp`]); a PDF with neither (pdfx's) is TeX's as
/// it is.
pub fn finish_pdf(pdf: Vec<u8>, record: Option<Vec<u8>>, meta: Option<Vec<u8>>, log: String) -> Reply {
    let done = match (record, meta) {
        (None, None) => return Reply { pdf, log, ..Default::default() },
        (Some(record), meta) => crate::tagging::finish(&pdf, &record, meta.as_deref()).map_err(|e| format!("tagging the PDF: {e}")),
        (None, Some(meta)) => crate::xmp::finish(&pdf, &meta).map_err(|e| format!("writing the PDF's metadata: {e}")),
    };
    match done {
        Ok(pdf) => Reply { pdf, log, ..Default::default() },
        Err(error) => Reply { error, log, ..Default::default() },
    }
}

#[cfg(test)]
mod tests {
    use super::plain_name;

    #[test]
    fn only_plain_names_pass() {
        for ok in ["doc.tex", "lmroman10-regular.otf", "chart-1.png", "latex.fmt", ".aux", "a..b"] {
            assert!(plain_name(ok), "{ok}");
        }
        for bad in ["", ".", "..", "/etc/passwd", "../x", "a/b", "./doc.tex", "/proc/self/environ", "a\\b", "x\0y"] {
            assert!(!plain_name(bad), "{bad}");
        }
    }
}
