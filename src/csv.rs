//! A minimal RFC 4180 writer: fields with a comma, quote, CR or LF are quoted, quotes doubled,
//! lines end in CRLF.
//!
//! Every field is also made safe to open in a spreadsheet (OWASP's CSV injection advice): a
//! field that starts with `=`, `+`, `-`, `@`, a tab or a carriage return and is not a number
//! gets a leading `'`, so that a model named `=HYPERLINK("http://evil","click")` reads as text
//! in Excel, LibreOffice and Google Sheets instead of becoming a live formula. Numbers (`-5`,
//! `+3.2`, `1e-3`) stay numbers. This is done here, once, so that no CSV output can forget it.

#[derive(Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn row<I, S>(&mut self, fields: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for (i, f) in fields.into_iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            let f = neutralise(f.as_ref());
            let f = f.as_ref();
            if f.contains([',', '"', '\r', '\n']) {
                self.out.push('"');
                self.out.push_str(&f.replace('"', "\"\""));
                self.out.push('"');
            } else {
                self.out.push_str(f);
            }
        }
        self.out.push_str("\r\n");
    }

    pub fn finish(self) -> String {
        self.out
    }
}

/// The field as a spreadsheet should read it: text that a spreadsheet would take for a formula
/// gets a leading `'`.
fn neutralise(f: &str) -> std::borrow::Cow<'_, str> {
    let risky = f.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let number = f.trim().parse::<f64>().is_ok_and(f64::is_finite);
    if risky && !number { format!("'{f}").into() } else { f.into() }
}

#[cfg(test)]
mod tests {
    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        let mut w = super::Writer::new();
        w.row(["=HYPERLINK(\"http://evil\",\"click\")", "+cmd", "-2+3", "@SUM(A1)", "\t=1", "\r=1", "-5", "+3.2", "1e-3", "a=b", ""]);
        assert_eq!(w.finish(), "\"'=HYPERLINK(\"\"http://evil\"\",\"\"click\"\")\",'+cmd,'-2+3,'@SUM(A1),'\t=1,\"'\r=1\",-5,+3.2,1e-3,a=b,\r\n");
    }

    #[test]
    fn quoting() {
        let mut w = super::Writer::new();
        w.row(["a", "b,c", "say \"hi\"", "two\nlines", ""]);
        assert_eq!(w.finish(), "a,\"b,c\",\"say \"\"hi\"\"\",\"two\nlines\",\r\n");
    }
}
