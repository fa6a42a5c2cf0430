//! Turning user text into LaTeX that typesets literally (and TeX's log into what a person
//! needs of it).
//!
//! This is the first line of defence against injection: after escaping, user text contains no
//! character that TeX reads as a command, group, parameter, comment, math shift, alignment tab,
//! active character or superscript (`^^` escapes), so `\input{/etc/passwd}` is printed, not run.
//! The second line is the sandboxed child process in [`crate::sandbox`].

use std::fmt::Write;
use std::sync::OnceLock;

use ab_glyph::Font;

/// Which font prints a character the main font (DejaVu Sans) lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fallback {
    /// WenQuanYi Micro Hei: Chinese, Japanese, Korean.
    Cjk,
    /// Symbola: emoji and other symbols, in black and white.
    Symbol,
}

impl Fallback {
    fn command(self) -> &'static str {
        match self {
            Fallback::Cjk => r"{\rqcjk ",
            Fallback::Symbol => r"{\rqsym ",
        }
    }
}

fn fallback(c: char) -> Option<Fallback> {
    if c.is_ascii() {
        return None;
    }
    static MAIN: OnceLock<ab_glyph::FontRef<'static>> = OnceLock::new();
    let main = MAIN.get_or_init(|| ab_glyph::FontRef::try_from_slice(crate::chart::DEJAVU_SANS).expect("DejaVu Sans parses"));
    if main.glyph_id(c).0 != 0 {
        return None;
    }
    let cjk = matches!(c as u32,
        0x1100..=0x11FF | 0x2E80..=0x2FDF | 0x3000..=0x303F | 0x3040..=0x30FF | 0x3100..=0x31FF
        | 0x3200..=0x4DBF | 0x4E00..=0x9FFF | 0xA960..=0xA97F | 0xAC00..=0xD7FF | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFFEF | 0x20000..=0x2FA1F);
    Some(if cjk { Fallback::Cjk } else { Fallback::Symbol })
}

/// Escapes `s` so that XeTeX prints it literally.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    escape_into(&mut out, s);
    out
}

/// Like [`escape`], appending to `out` (the template engine's formatter writes straight into
/// its output buffer).
///
/// Characters the main font lacks (CJK, emoji) are wrapped, a run at a time, in a group that
/// selects a fallback font from the bundle, so they print instead of vanishing.
pub fn escape_into(out: &mut String, s: &str) {
    escape_with(out, s, Spaces::Glue)
}

/// How a word break in user text is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spaces {
    /// A space: TeX's interword glue, and nothing in the PDF's text (readers guess word
    /// breaks from glyph positions).
    Glue,
    /// `\rqsp `, once per run of white space: in a tagged document the same glue plus a
    /// zero-width space character (base.tex), so that text read through the structure tree has
    /// its word breaks (ISO 32000-1, 14.8.2.5, "Identifying word breaks").
    Character,
}

/// [`escape_into`] with word breaks written as `spaces` says.
pub fn escape_with(out: &mut String, s: &str, spaces: Spaces) {
    /// Characters in a row without a space before a break opportunity is added.
    const LONG_WORD: usize = 30;
    /// XeTeX reads its input a line at a time into a 200,000-byte buffer, and one escaped
    /// character can take 17 bytes (`\textasciitilde{}`): a long value is cut into source
    /// lines this long, each ending in `%` so that the line end adds no space.
    const LINE: usize = 1000;
    let mut run: Option<Fallback> = None;
    let mut word = 0;
    let mut line_start = out.rfind('\n').map_or(0, |i| i + 1);
    // Within a run of white space (and the control characters dropped inside it): TeX reads
    // such a run as one space, so it gets one \rqsp.
    let mut in_space = false;
    for c in s.chars() {
        // Never before white space: TeX drops the spaces that begin a line.
        if out.len() - line_start >= LINE && !c.is_whitespace() {
            out.push_str("%\n");
            line_start = out.len();
        }
        if c.is_whitespace() {
            word = 0;
        } else {
            word += 1;
            if word > LONG_WORD && run.is_none() {
                out.push_str(r"\rqbreak{}");
                word = 1;
            }
        }
        // A dropped character is never a fallback font's (no font has U+FFFE: a .notdef glyph).
        let fb = if c.is_whitespace() || is_dropped(c) { None } else { fallback(c) };
        if fb != run {
            if run.is_some() {
                out.push('}');
            }
            if let Some(f) = fb {
                out.push_str(f.command());
            }
            run = fb;
        }
        if fb.is_some() {
            out.push(c);
            in_space = false;
            continue;
        }
        let space = matches!(c, ' ' | '\n' | '\r' | '\t' | '\u{0b}' | '\u{0c}' | '\u{2028}' | '\u{2029}');
        if spaces == Spaces::Character && (space || in_space && is_dropped(c)) {
            if !in_space {
                out.push_str(r"\rqsp ");
                in_space = true;
            }
            continue;
        }
        in_space = false;
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
            c if is_dropped(c) => {}
            c => out.push(c),
        }
    }
    if run.is_some() {
        out.push('}');
    }
}

/// A template's prose (LaTeX source, not user text) with each word break written as
/// `\rqsp `, as [`Spaces::Character`] writes user text's. A run of white space stays as it is
/// where it is no word break or where a `\rqsp` box would change the layout: after a control
/// word (TeX skips it), when it holds a blank line (a paragraph ends), before `\par`, and at the
/// start or end of the text.
pub fn words(tex: &str) -> String {
    let mut out = String::with_capacity(tex.len() + tex.len() / 8);
    let mut pos = 0;
    while let Some(start) = tex[pos..].find([' ', '\n']).map(|k| pos + k) {
        let end = tex[start..].find(|c: char| c != ' ' && c != '\n').map_or(tex.len(), |k| start + k);
        out.push_str(&tex[pos..start]);
        let run = &tex[start..end];
        let before = &tex[..start];
        let word = before.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '@');
        // `\\` followed by letters is a line break and a word, not a control word.
        let after_control_word = word.len() < before.len() && word.ends_with('\\') && !word.ends_with("\\\\");
        let keep = start == 0 || end == tex.len() || run.matches('\n').count() > 1 || after_control_word || tex[end..].starts_with("\\par");
        out.push_str(if keep { run } else { r"\rqsp " });
        pos = end;
    }
    out.push_str(&tex[pos..]);
    out
}

/// Characters with no glyph, left out of the output.
fn is_dropped(c: char) -> bool {
    c.is_control() || c == '\u{feff}' || c == '\u{fffe}' || c == '\u{ffff}'
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

/// The part of a TeX log a person needs: each error line (`! ...`) with the lines after it
/// that show where it happened.
pub fn log_excerpt(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with('!') {
            out.extend(lines[i..(i + 6).min(lines.len())].iter().copied());
            out.push("...");
        }
        if out.len() > 40 {
            break;
        }
    }
    if out.is_empty() {
        // No TeX error line: the end of the log says what TeX was doing.
        out = lines[lines.len().saturating_sub(12)..].to_vec();
    }
    out.join("\n")
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
                ["textbackslash{}", "{", "}", "$", "&", "%", "#", "_", "textasciitilde{}", "textasciicircum{}"].iter().any(|ok| rest.starts_with(ok)),
                "unexpected command at {rest:?}"
            );
        }
        assert!(!out.contains('\n'));
        assert!(!out.contains("^^"));
    }

    #[test]
    fn word_breaks_become_one_space_command_per_run_in_tagged_text() {
        let tagged = |s: &str| {
            let mut out = String::new();
            escape_with(&mut out, s, Spaces::Character);
            out
        };
        assert_eq!(tagged("a b"), r"a\rqsp b");
        // A run of white space is one break, as TeX reads it; control characters in it too.
        assert_eq!(tagged("a \t\n\u{7} b"), r"a\rqsp b");
        // A no-break space is a character, not a break.
        assert_eq!(tagged("a\u{a0}b"), "a\u{a0}b");
        assert_eq!(tagged("漢 字"), r"{\rqcjk 漢}\rqsp {\rqcjk 字}");
        assert_eq!(tagged(r"\x y"), r"\textbackslash{}x\rqsp y");
        // Untagged text keeps its spaces.
        assert_eq!(escape("a  b"), "a  b");
    }

    #[test]
    fn template_prose_gets_a_space_command_at_each_word_break() {
        assert_eq!(words("a higher\nscore"), r"a\rqsp higher\rqsp score");
        // After a control word the space ends the word; a blank line ends a paragraph; the
        // ends of the text and a space before \par are left as they are.
        assert_eq!(words(r"\bfseries Topic and \emph{x} y"), r"\bfseries Topic\rqsp and\rqsp \emph{x}\rqsp y");
        assert_eq!(words("a.\n\nB c \\par\n"), "a.\n\nB\\rqsp c \\par\n");
        assert_eq!(words(" Zoë é "), r" Zoë\rqsp é ");
        // The escaper's own \rqsp is a control word: the space after it stays.
        assert_eq!(words(r"x\rqsp y z"), r"x\rqsp y\rqsp z");
    }

    #[test]
    fn characters_the_main_font_lacks_get_a_fallback_font() {
        assert_eq!(escape("Zoë Ω Ж"), "Zoë Ω Ж");
        assert_eq!(escape("a漢字b"), r"a{\rqcjk 漢字}b");
        // DejaVu has the emoticons block but not the crab.
        assert_eq!(escape("😀🦀漢 x"), r"😀{\rqsym 🦀}{\rqcjk 漢} x");
    }

    #[test]
    fn very_long_words_get_break_opportunities() {
        let out = escape(&"x".repeat(100));
        assert_eq!(out.matches(r"\rqbreak{}").count(), 3);
        assert_eq!(out.replace(r"\rqbreak{}", ""), "x".repeat(100));
        assert_eq!(escape("a normal sentence"), "a normal sentence");
    }

    #[test]
    fn long_values_are_cut_into_lines_that_add_no_space() {
        for s in ["~".repeat(20_000), "a b ".repeat(10_000), "\\".repeat(20_000), "漢字 ".repeat(5_000)] {
            let e = escape(&s);
            let lines: Vec<&str> = e.split('\n').collect();
            assert!(lines.len() > 10, "not cut: {} bytes in one line", e.len());
            for (i, l) in lines.iter().enumerate() {
                assert!(l.len() <= 1100, "line {i} is {} bytes", l.len());
                if i + 1 < lines.len() {
                    assert!(l.ends_with('%') && !l.ends_with("\\%"), "line {i} does not end in a comment: {:?}", &l[l.len() - 20..]);
                }
                if i > 0 {
                    assert!(!l.starts_with(char::is_whitespace), "line {i} begins with a space TeX would drop");
                }
            }
        }
    }

    #[test]
    fn control_characters_dropped_whitespace_folded() {
        assert_eq!(escape("a\u{0}b\u{7}c\td"), "abc d");
        // Non-characters and the byte order mark too, not set in a fallback font.
        assert_eq!(escape("a\u{FFFE}b\u{FEFF}c\u{FFFF}"), "abc");
    }

    #[test]
    fn numbers() {
        assert_eq!(number(12.345, 1), "12.3");
        assert_eq!(number(-0.01, 1), "0.0");
        assert_eq!(number(100.0, 0), "100");
    }
}
