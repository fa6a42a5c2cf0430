//! TeX formats with a template's preamble already in them.
//!
//! Most of a render used to be LaTeX reading the same packages again (geometry, hyperref,
//! bookmark, xcolor, graphicx, longtable, booktabs and, for PDF/A reports, LaTeX's PDF
//! management): the same work for every request of a kind. `reportq setup` runs that part once
//! and dumps TeX's memory into a format file; a render that finds the format
//! for its preamble loads it and starts where the dump stopped.
//!
//! The split is in the document itself: `templates/base.tex` writes [`MARK`] where the
//! request-independent part ends (after the packages, before anything that names the
//! request's text, date or fonts: XeTeX cannot dump a format with an OpenType font loaded, so
//! no font is selected above the mark). The text above the mark is the *head*; its SHA-256
//! names the format, so a changed template, orientation, PDF standard or language has another
//! name and never loads a stale format, and the bundle digest and engine serial in the file
//! name (as for LaTeX's own format) cover a changed bundle or engine. A render whose head has
//! no format (a language setup did not build, or `REPORTQ_TEX_PRELOAD=0`) compiles the whole
//! document on LaTeX's own format: the same text, the same output, only slower.

use std::path::{Path, PathBuf};

/// The line where the preloadable part of a document ends (a TeX comment: without a format,
/// the whole document compiles as it is).
pub const MARK: &str = "% reportq: the format ends here\n";

/// LaTeX's own format (`xelatex.ini` from the bundle).
pub const LATEX: &str = "latex";

/// How one document is compiled: which format, which text, how many passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<'a> {
    /// A format name (`latex` or `rq-<16 hex>`).
    pub format: String,
    /// What TeX reads after loading the format: the whole document, or the part after the mark.
    pub text: &'a str,
    /// TeX passes before the PDF is written.
    pub passes: u8,
}

/// The document split at [`MARK`]: `(head, tail)`, the mark itself in neither.
pub fn split(tex: &str) -> Option<(&str, &str)> {
    let at = tex.find(MARK)?;
    // Only a mark at the start of a line: user text is escaped (`%` becomes `\%`), so it cannot
    // make one, but a template comment quoting it should not either.
    if at > 0 && tex.as_bytes()[at - 1] != b'\n' {
        return None;
    }
    Some((&tex[..at], &tex[at + MARK.len()..]))
}

/// The format holding `head`: named by the head and the recipe that builds it (the font
/// metrics the recipe copies come from the bundle, which the file name's digest covers).
pub fn name(head: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(source(head, "").as_bytes());
    format!("rq-{}", &hex::encode(digest)[..16])
}

/// A document whose log holds the default font's metrics as [`source`] wants them
/// (`rqmetrics:` then TeX assignments), compiled on LaTeX's own format.
pub const METRICS_PROBE: &str = r"\documentclass[10pt]{article}
\def\rqm#1{\string\fontdimen#1\string\rqtfm=\the\fontdimen#1\font\space}
\typeout{rqmetrics:\rqm2\rqm3}
\typeout{rqmetrics:\rqm4\rqm5}
\typeout{rqmetrics:\rqm6\rqm7}
\begin{document}x\end{document}
";

/// The metrics [`METRICS_PROBE`] printed, from its log.
pub fn metrics_from_log(log: &str) -> Option<String> {
    let lines: Vec<&str> = log.lines().filter_map(|l| l.strip_prefix("rqmetrics:")).collect();
    (lines.len() == 3).then(|| lines.concat())
}

/// Where the format named `name` lives: `<bundle>/format/<bundle digest>-<name>-<serial>.fmt`,
/// the file name Tectonic's own format cache uses.
pub fn path(bundle: &Path, name: &str) -> std::io::Result<PathBuf> {
    Ok(bundle.join("format").join(format!("{}-{name}-{}.fmt", digest(bundle)?, tectonic::FORMAT_SERIAL)))
}

/// The bundle's digest (`SHA256SUM`), which keys every format file.
fn digest(bundle: &Path) -> std::io::Result<String> {
    let digest = std::fs::read_to_string(bundle.join("SHA256SUM"))?;
    let digest = digest.trim();
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "SHA256SUM does not hold a SHA-256 digest"));
    }
    Ok(digest.to_string())
}

/// How many preamble formats for this bundle `reportq setup` left in `<bundle>/format`.
pub fn preamble_formats(bundle: &Path) -> usize {
    let Ok(digest) = digest(bundle) else { return 0 };
    let prefix = format!("{digest}-rq-");
    std::fs::read_dir(bundle.join("format"))
        .map(|d| d.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(&prefix)).count())
        .unwrap_or(0)
}

/// The INI-mode input that builds the format for `head` (Tectonic reads it as
/// `tectonic-format-<name>.tex`): LaTeX's own format source, whose last act (`\dump`) is put
/// off until the head has been read. Two things a plain dump would lose or refuse:
///
/// - XeTeX cannot dump a format with an OpenType font loaded, and the class selects the
///   default font while it loads (`\normalsize`: Latin Modern, an OpenType font in LaTeX's TU
///   encoding). While the head loads, the current encoding is OT1, whose Latin Modern is a TFM
///   font; its spacing parameters are set to the OpenType font's (`metrics`, measured by
///   `reportq setup` with [`METRICS_PROBE`]: the x-heights differ by 0.005 pt, and booktabs
///   sets its rule spacing in `ex`), so every length the packages set comes out the same.
///   Every run that loads the format switches back to TU first thing (`\everyjob`).
/// - Packages put nodes on the main vertical list while they load (hyperref and xcolor write
///   `\special`s for the PDF version, font embedding and the starting colour; a `\write`), and
///   a format keeps no page. An output routine of our own moves the current page into a box
///   register, which the format keeps; `\everyjob` puts the nodes back where they were, with
///   `\prevdepth` as it was.
pub fn source(head: &str, metrics: &str) -> String {
    let (o, c) = ("{", "}");
    format!(
        "% reportq: LaTeX with a template's preamble (src/texformat.rs)\n\
         \\let\\rqdump\\dump \\let\\dump\\relax\n\
         \\input xelatex.ini\n\
         \\let\\dump\\rqdump\n\
         \\fontencoding{o}OT1{c}\n\
         % The font the class selects (OT1/lmr/m/n/10), loaded first so that it has the OpenType font's metrics.\n\
         \\font\\rqtfm=rm-lmr10\\relax {metrics}\n\
         {head}\
         \\makeatletter\n\
         \\edef\\rq@prevdepth{o}\\the\\prevdepth{c}\n\
         \\newbox\\rq@mvl \\newtoks\\rq@output \\rq@output=\\output\n\
         \\output{o}\\global\\setbox\\rq@mvl\\box255 {c}\n\
         \\hbox{o}{c}\\penalty-10000\n\
         \\output=\\rq@output \\deadcycles=0\n\
         % Box 255 held the page's nodes, then the top skip and the empty box that forced it out.\n\
         \\setbox\\rq@mvl\\vbox{o}\\unvbox\\rq@mvl \\setbox0\\lastbox \\unskip{c}\n\
         \\everyjob\\expandafter{o}\\the\\everyjob\\fontencoding{o}TU{c}\\selectfont\\unvbox\\rq@mvl\\prevdepth=\\rq@prevdepth\\relax{c}\n\
         \\makeatother\n\
         \\dump\n"
    )
}

/// Whether a document is tagged with tagpdf (activated at its start): such a document takes two
/// passes, as tagpdf numbers each marked content and finds its page from the first pass's
/// records (the aux file, kept in memory between passes). reportq's own templates tag in one
/// pass ([`crate::tagging`]); a raw document through `reportq tex-run` may still use tagpdf.
/// Templates are otherwise written for one pass (no cross-references; bookmarks via `bookmark`).
pub fn tagged(tex: &str) -> bool {
    const MARK: &str = "\\tagpdfsetup{activate-all}";
    let start = &tex.as_bytes()[..tex.len().min(4096)];
    start.windows(MARK.len()).any(|w| w == MARK.as_bytes())
}

/// How to compile `tex`: on its preamble's format when `preload` is on and that format was
/// built, else on LaTeX's own.
pub fn plan<'a>(bundle: &Path, tex: &'a str, preload: bool) -> Plan<'a> {
    let passes = if tagged(tex) { 2 } else { 1 };
    if preload && let Some((head, tail)) = split(tex) {
        let name = name(head);
        if path(bundle, &name).is_ok_and(|p| p.is_file()) {
            return Plan { format: name, text: tail, passes };
        }
    }
    Plan { format: LATEX.into(), text: tex, passes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_at_a_line_start_only() {
        let doc = format!("\\documentclass{{article}}\n{MARK}\\begin{{document}}x\\end{{document}}\n");
        let (head, tail) = split(&doc).unwrap();
        assert_eq!(head, "\\documentclass{article}\n");
        assert_eq!(tail, "\\begin{document}x\\end{document}\n");
        assert_eq!(split(&format!("x{MARK}")), None);
        assert_eq!(split("no mark"), None);
    }

    #[test]
    fn the_name_follows_the_head() {
        assert_eq!(name("a"), name("a"));
        assert_ne!(name("a"), name("a "));
        assert!(name("a").starts_with("rq-") && name("a").len() == 19);
    }

    #[test]
    fn a_document_without_its_format_compiles_whole() {
        let bundle = tempfile::tempdir().unwrap();
        std::fs::write(bundle.path().join("SHA256SUM"), "ab".repeat(32)).unwrap();
        let doc = format!(
            "\\DocumentMetadata{{}}\n\\tagpdfsetup{{activate-all}}\n\\documentclass{{article}}\n{MARK}\\begin{{document}}x\\end{{document}}\n"
        );
        let p = plan(bundle.path(), &doc, true);
        assert_eq!((p.format.as_str(), p.text, p.passes), (LATEX, doc.as_str(), 2));
        let (head, tail) = split(&doc).unwrap();
        let fmt = path(bundle.path(), &name(head)).unwrap();
        std::fs::create_dir_all(fmt.parent().unwrap()).unwrap();
        std::fs::write(path(bundle.path(), LATEX).unwrap(), b"").unwrap();
        assert_eq!(preamble_formats(bundle.path()), 0);
        std::fs::write(&fmt, b"").unwrap();
        assert_eq!(preamble_formats(bundle.path()), 1);
        let p = plan(bundle.path(), &doc, true);
        assert_eq!((p.format, p.text, p.passes), (name(head), tail, 2));
        assert_eq!(plan(bundle.path(), &doc, false).format, LATEX);
    }
}
