//! `reportq setup`: build the format file once, at build or deploy time, never per request.

use std::path::Path;
use std::time::Instant;

use crate::render::RenderError;
use crate::sandbox;

/// A document that loads what the templates load, so the first real render finds every
/// package file warm in the page cache and the format proven.
const PROBE: &str = r"\documentclass{article}\usepackage{fontspec}\begin{document}reportq\end{document}";

/// Builds `<bundle>/format/<digest>-latex-<serial>.fmt` if it is missing. Returns how long it took.
pub fn build_format(bundle: &Path) -> Result<Option<std::time::Duration>, RenderError> {
    let bad = |problem: String| RenderError::Bundle { path: bundle.to_path_buf(), problem };
    let fmt = sandbox::format_file(bundle).map_err(|e| bad(format!("SHA256SUM: {e}")))?;
    if fmt.is_file() {
        return Ok(None);
    }
    let format_dir = bundle.join("format");
    std::fs::create_dir_all(&format_dir).map_err(|e| bad(format!("cannot create {}: {e}", format_dir.display())))?;
    let job = tempfile::tempdir()?;
    let t = Instant::now();
    // Unconfined on purpose: this is the one run allowed to write (the format, into the bundle).
    let reply = sandbox::run_tectonic(bundle, &format_dir, job.path(), PROBE.as_bytes(), 0, true);
    if !reply.error.is_empty() {
        return Err(RenderError::Tex { log_excerpt: crate::render::log_excerpt(&reply.log), message: reply.error });
    }
    if !fmt.is_file() {
        return Err(bad(format!("TeX ran but did not write {}", fmt.display())));
    }
    // Tectonic writes the format 0600; Lambda runs the function as another user than the one
    // that built the image, and it must be able to read it.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fmt, std::fs::Permissions::from_mode(0o644))?;
    Ok(Some(t.elapsed()))
}
