//! The template engine: minijinja with LaTeX delimiters and LaTeX auto-escaping.

use std::sync::OnceLock;

use minijinja::value::Value;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};

/// Template sources, compiled in: a deployed binary needs no template files beside it.
const SOURCES: &[(&str, &str)] = &[
    ("base.tex", include_str!("../../templates/base.tex")),
    ("diagram/report.tex", include_str!("../../templates/diagram/report.tex")),
    ("summary/report.tex", include_str!("../../templates/summary/report.tex")),
];

/// The SHA-256 of a template's source with the shared frame's (`base.tex`): what a report's
/// provenance names.
pub fn source_sha256(template: &str) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for (name, text) in SOURCES.iter().filter(|(n, _)| *n == "base.tex" || n.strip_suffix("/report.tex") == Some(template)) {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(text.as_bytes());
        h.update([0]);
    }
    hex::encode(h.finalize())
}

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        let syntax = minijinja::syntax::SyntaxConfig::builder()
            .block_delimiters("<%", "%>")
            .variable_delimiters("<<", ">>")
            .comment_delimiters("<#", "#>")
            .build()
            .expect("valid delimiters");
        env.set_syntax(syntax);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        // A typo in a template is an error, not an empty string in a report.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| AutoEscape::Custom("latex"));
        env.set_formatter(latex_formatter);
        // Numbers formatted for a table; the output is digits, '.' and '-' only, so it is safe.
        env.add_filter("num", |x: f64, decimals: Option<usize>| Value::from_safe_string(crate::latex::number(x, decimals.unwrap_or(1))));
        // A heading's text for the PDF outline (`\section[<< h|outline >>]{<< h >>}`): hyperref
        // turns `\textbackslash` (and `~`, `^`) into a bookmark string at about 2.5 ms each, so
        // a heading of 300 backslashes took 0.75 s and 100 of them outlived the render timeout.
        // In the outline they become their fullwidth forms, which XeTeX passes through as they
        // are; the heading on the page keeps the real characters. Still escaped like any text.
        // Escaped here, spaces as spaces (an outline entry is not typeset: see `plain`).
        env.add_filter("outline", |s: String| {
            Value::from_safe_string(crate::latex::escape(&s.replace('\\', "\u{FF3C}").replace('~', "\u{FF5E}").replace('^', "\u{FF3E}")))
        });
        // The document's metadata for reportq to write into the PDF (src/xmp.rs): UTF-16BE hex
        // with its byte order mark, whole, a line break every 64 characters (TeX's line buffer;
        // the reader ignores white space). Hex digits only, so nothing in it means anything to TeX.
        env.add_filter("pdfhex", |s: String| Value::from_safe_string(utf16_hex(&s)));
        // A template's own prose (`<% filter words %>...<% endfilter %>`): in a tagged document
        // its word breaks become \rqsp, as user text's do (crate::latex::words).
        env.add_filter("words", |state: &minijinja::State<'_, '_>, s: String| {
            Value::from_safe_string(if tagged(state) { crate::latex::words(&s) } else { s })
        });
        // Text for a PDF text string (alternative text of a figure) as UTF-16BE hex with its byte
        // order mark: what goes into the structure tree (src/tagging.rs). Hex digits only, so nothing in
        // it means anything to TeX.
        // A line break every 64 characters: TeX reads a line into a 200,000-byte buffer, and a
        // PDF hex string ignores white space. At most MAX_ALT characters: a figure's
        // alternative text is for hearing, and the whole description is printed beneath it.
        env.add_filter("utf16hex", |s: String| {
            let mut text: String = s.chars().take(MAX_ALT).collect();
            if s.chars().count() > MAX_ALT {
                text.push('…');
            }
            Value::from_safe_string(utf16_hex(&text))
        });
        for (name, src) in SOURCES {
            env.add_template(name, src).expect("templates compile (checked by tests)");
        }
        env
    })
}

/// `s` as UTF-16BE hex with its byte order mark, a line break every 64 characters.
fn utf16_hex(s: &str) -> String {
    let mut out = String::with_capacity(4 + 4 * s.len() + s.len() / 16);
    out.push_str("FEFF");
    for (i, u) in s.encode_utf16().enumerate() {
        if i % 64 == 63 {
            out.push('\n');
        }
        out.push_str(&format!("{u:04X}"));
    }
    out
}

/// The most characters of a figure's alternative text (`utf16hex`).
pub const MAX_ALT: usize = 1_000;

fn latex_formatter(out: &mut minijinja::Output<'_>, state: &minijinja::State<'_, '_>, value: &Value) -> Result<(), minijinja::Error> {
    if value.is_safe() {
        return write!(out, "{value}").map_err(|_| minijinja::Error::from(minijinja::ErrorKind::WriteFailure));
    }
    let text = if value.is_none() || value.is_undefined() {
        String::new()
    } else if let Some(s) = value.as_str() {
        s.to_string()
    } else {
        value.to_string()
    };
    // A tagged document's word breaks are characters too (base.tex's \rqsp).
    let spaces = if tagged(state) { crate::latex::Spaces::Character } else { crate::latex::Spaces::Glue };
    let mut escaped = String::with_capacity(text.len());
    crate::latex::escape_with(&mut escaped, &text, spaces);
    out.write_str(&escaped).map_err(|_| minijinja::Error::from(minijinja::ErrorKind::WriteFailure))
}

/// Whether the document being rendered is tagged (`doc.tagged`).
fn tagged(state: &minijinja::State<'_, '_>) -> bool {
    state.lookup("doc").and_then(|d| d.get_attr("tagged").ok()).is_some_and(|t| t.is_true())
}

/// Renders template `name` with `ctx` to LaTeX source.
pub fn render_tex<S: serde::Serialize>(name: &str, ctx: S) -> Result<String, minijinja::Error> {
    env().get_template(name)?.render(ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for (name, _) in SOURCES {
            env().get_template(name).unwrap();
        }
    }

    #[test]
    fn values_are_escaped_by_the_engine() {
        let mut env = env().clone();
        env.add_template("t", r"\section{<< title >>} << n >> << n|num(2) >>").unwrap();
        let out = env.get_template("t").unwrap().render(minijinja::context! { title => r"\input{/etc/passwd} 100% & $x$", n => 2.5 }).unwrap();
        assert_eq!(out, r"\section{\textbackslash{}input\{/etc/passwd\} 100\% \& \$x\$} 2.5 2.50");
    }

    #[test]
    fn undefined_is_an_error() {
        let mut env = env().clone();
        env.add_template("t", "<< missing >>").unwrap();
        assert!(env.get_template("t").unwrap().render(()).is_err());
    }
}
