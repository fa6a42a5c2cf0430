//! Turning user text into LaTeX that typesets literally.
//!
//! This is the first line of defence against injection: after escaping, user text contains no
//! character that TeX reads as a command, group, parameter, comment, math shift, alignment tab,
//! active character or superscript (`^^` escapes), so `\input{/etc/passwd}` is printed, not run.
//! The second line is the sandboxed child process in [`crate::sandbox`].

use std::fmt::Write;

/// Escapes `s` so that XeTeX prints it literally.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    escape_into(&mut out, s);
    out
}

/// Like [`escape`], appending to `out` (the template engine's formatter writes straight into
/// its output buffer).
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '\\' => out.push_str(r"\textbackslash{}"),
            '{' => out.push_str(r"\{"),
            '}' => out.push_str(r"\}"),
            '$' => out.push_str(r"\$"),
            '&' => out.push_str(r"\&"),
            '%' => out.push_str(r"\%"),
            '#' => out.push_str(r"\#"),
            '_' => out.push_str(r"\_"),
            '~' => out.push_str(r"\textasciitilde{}"),
            '^' => out.push_str(r"\textasciicircum{}"),
            // Brackets would be read as an optional argument when the text follows a command
            // such as \item or \\ in a template.
            '[' => out.push_str("{[}"),
            ']' => out.push_str("{]}"),
            // Hyphens would form en/em-dash ligatures ("--"); quotes would form curly quotes.
            '-' => out.push_str("-{}"),
            '`' => out.push_str(r"\textasciigrave{}"),
            '\'' => out.push_str(r"\textquotesingle{}"),
            '"' => out.push_str(r"\textquotedbl{}"),
            '<' => out.push_str(r"\textless{}"),
            '>' => out.push_str(r"\textgreater{}"),
            '|' => out.push_str(r"\textbar{}"),
            // A blank line would end a paragraph (or break a table cell); control characters
            // have no glyph and U+FFFE/FFFF are not characters. Whitespace becomes one space.
            '\n' | '\r' | '\t' | '\u{0b}' | '\u{0c}' | '\u{2028}' | '\u{2029}' => out.push(' '),
            c if c.is_control() || c == '\u{feff}' || c == '\u{fffe}' || c == '\u{ffff}' => {}
            // Private-use and unassigned-looking code points pass through: the font decides.
            c => out.push(c),
        }
    }
}

/// Formats a number for a report: no exponent, at most `decimals` places, trailing zeros kept
/// so columns line up.
pub fn number(x: f64, decimals: usize) -> String {
    let mut s = String::new();
    let _ = write!(s, "{x:.decimals$}");
    if s == "-0" || s.starts_with("-0.") && s[1..].chars().all(|c| c == '0' || c == '.') {
        s.remove(0);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specials_become_commands_or_escapes() {
        assert_eq!(escape(r"a&b%c$d#e_f{g}h"), r"a\&b\%c\$d\#e\_f\{g\}h");
        assert_eq!(escape(r"\input{x}"), r"\textbackslash{}input\{x\}");
        assert_eq!(escape("~^"), r"\textasciitilde{}\textasciicircum{}");
        assert_eq!(escape("[opt]"), "{[}opt{]}");
    }

    #[test]
    fn no_tex_special_survives() {
        let nasty = "\\def\\x{\\x}\\x ^^5c %comment\n\n$x$ #1 & ~ _ { }";
        let out = escape(nasty);
        // Every backslash left is one we wrote, followed by a known command or escape.
        for (i, _) in out.match_indices('\\') {
            let rest = &out[i + 1..];
            assert!(
                ["textbackslash{}", "{", "}", "$", "&", "%", "#", "_", "textasciitilde{}", "textasciicircum{}"]
                    .iter()
                    .any(|ok| rest.starts_with(ok)),
                "unexpected command at {rest:?}"
            );
        }
        assert!(!out.contains('\n'));
        assert!(!out.contains("^^"));
    }

    #[test]
    fn control_characters_dropped_whitespace_folded() {
        assert_eq!(escape("a\u{0}b\u{7}c\td"), "abc d");
    }

    #[test]
    fn numbers() {
        assert_eq!(number(12.345, 1), "12.3");
        assert_eq!(number(-0.01, 1), "0.0");
        assert_eq!(number(100.0, 0), "100");
    }
}
