//! Raw hostile TeX through the confined child, as written: `reportq tex-run` hands a document
//! to the same child a render uses, without the template escaper that would stop it first.
//!
//! Every case runs twice: as on AWS Lambda (`prctl` refused, no Landlock: the I/O allow-list
//! alone, [`common::on_lambda`]) and with every kernel layer this machine gives. Each file
//! primitive a document or xdvipdfmx has is aimed at `/etc/passwd`, `/proc/self/environ`, the
//! parent's `/proc/<pid>/environ` (which holds a marker), a sibling job's folder and `../`;
//! none may leave a trace of its target in the PDF, the log or the reply. A socket, `\write18`
//! and `\openout` to an absolute path must not reach or write anything.
//!
//! Negative controls: with the allow-list switched off (`--host-io`, Tectonic's own file
//! system provider) and the kernel layers off, the same cases are caught leaking, so the
//! checks can fail; with the allow-list off and the kernel layers on, Landlock alone stops
//! them. The kernel layers' own refusals, and what happens without them, are checked by the
//! child's probe (`--probe --check`).

use crate::common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::on_lambda::as_on_lambda;

const EXE: &str = env!("CARGO_BIN_EXE_reportq");

/// The files a hostile document aims at, made by the test beside the child's working folder.
struct Fixture {
    /// The child's `TMPDIR`, and so its working folder and its renderer's temp folder.
    tmp: tempfile::TempDir,
    /// A sibling job's folder inside it.
    sibling: PathBuf,
    /// What the sibling's text files and the parent's environment hold.
    marker: String,
}

fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let sibling = tmp.path().join("reportq-sibling");
    std::fs::create_dir(&sibling).unwrap();
    let marker = format!("RQSECRET{}", uuid::Uuid::new_v4().simple()).to_uppercase();
    std::fs::write(sibling.join("secret.tex"), format!("{marker}\n")).unwrap();
    // An image, a PDF and a font a document could embed if it reached them.
    let mut png = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png, 8, 8);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        enc.write_header().unwrap().write_image_data(&[200u8; 8 * 8 * 3]).unwrap();
    }
    std::fs::write(sibling.join("chart.png"), png).unwrap();
    std::fs::write(sibling.join("page.pdf"), minimal_pdf()).unwrap();
    let bundle = common::render_config(Path::new(EXE)).bundle;
    std::fs::copy(bundle.join("lmroman10-regular.otf"), sibling.join("face.otf")).unwrap();
    Fixture { tmp, sibling, marker }
}

/// A one-page PDF with a correct cross-reference table.
fn minimal_pdf() -> Vec<u8> {
    let objs = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 100 100] /Contents 4 0 R /Resources << >> >>",
        "<< /Length 18 >>\nstream\n0 0 50 50 re f\n\nendstream",
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objs.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objs.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objs.len() + 1).as_bytes());
    out
}

/// A target: a path as the document names it, and what its content would show.
struct Target {
    name: &'static str,
    path: String,
    /// Text that appears if the target was read (`None`: binary, judged by other signs).
    text: Option<String>,
}

fn text_targets(f: &Fixture, parent_pid: u32) -> Vec<Target> {
    let tmp_name = f.tmp.path().file_name().unwrap().to_string_lossy().into_owned();
    vec![
        Target { name: "/etc/passwd", path: "/etc/passwd".into(), text: Some("root:x:0:0".into()) },
        // The child's own environment: FONTCONFIG_FILE is always in it.
        Target { name: "/proc/self/environ", path: "/proc/self/environ".into(), text: Some("FONTCONFIG".into()) },
        Target { name: "/proc/<parent>/environ", path: format!("/proc/{parent_pid}/environ"), text: Some(f.marker.clone()) },
        Target { name: "sibling job", path: f.sibling.join("secret.tex").display().to_string(), text: Some(f.marker.clone()) },
        Target { name: "../", path: format!("../{tmp_name}/reportq-sibling/secret.tex"), text: Some(f.marker.clone()) },
    ]
}

/// Every way a document or xdvipdfmx can name a file, aimed at `t`.
fn primitives(t: &str) -> Vec<(&'static str, String)> {
    vec![
        // The primitive \input with every special character made ordinary: the file is typeset.
        (
            "\\input",
            format!(
                "\\begingroup\\catcode`\\^^@=10 \\catcode`\\^^M=10 \\catcode`\\{{=12 \\catcode`\\}}=12 \\catcode`\\$=12 \\catcode`\\&=12 \\catcode`\\#=12 \\catcode`\\_=12 \\catcode`\\%=12 \\catcode`\\~=12 \\catcode`\\^=12 \\makeatletter\\@@input {t} \\endgroup\\par"
            ),
        ),
        (
            "\\openin",
            format!(
                "\\newread\\rq \\openin\\rq={t} \\ifeof\\rq \\message{{RQ-MISSING}}\\else\\readline\\rq to\\rqline \\message{{RQ-READ[\\rqline]}}\\texttt{{\\detokenize\\expandafter{{\\rqline}}}}\\fi"
            ),
        ),
        ("\\font [file]", format!("\\font\\rqfont=\"[{t}]\" at 10pt \\message{{RQ-FONT\\string LOADED}}{{\\rqfont Font loaded}}")),
        ("\\font path", format!("\\font\\rqfont={t} \\message{{RQ-FONT\\string LOADED}}{{\\rqfont Font loaded}}")),
        ("\\includegraphics", format!("\\setbox0\\hbox{{\\includegraphics{{{t}}}}}\\ifdim\\wd0>0pt \\message{{RQ-IMAGE-\\string LOADED}}\\fi\\box0")),
        (
            "\\XeTeXpicfile",
            format!("\\setbox0\\hbox{{\\XeTeXpicfile \"{t}\" \\relax}}\\ifdim\\wd0>0pt \\message{{RQ-IMAGE-\\string LOADED}}\\fi\\box0"),
        ),
        (
            "\\XeTeXpdffile",
            format!("\\setbox0\\hbox{{\\XeTeXpdffile \"{t}\" \\relax}}\\ifdim\\wd0>0pt \\message{{RQ-IMAGE-\\string LOADED}}\\fi\\box0"),
        ),
        ("pdf:image", format!("\\special{{pdf:image @rqimg ({t})}}\\special{{pdf:uxobj @rqimg}}")),
        (
            "pdf:fstream",
            format!(
                "\\special{{pdf:fstream @rqs ({t})}}\\special{{pdf:ann width 20pt height 10pt << /Type /Annot /Subtype /FileAttachment /FS << /Type /Filespec /F (leak.txt) /EF << /F @rqs >> >> >>}}"
            ),
        ),
        ("pdf:ann /F", format!("\\special{{pdf:ann width 20pt height 10pt << /Type /Annot /Subtype /Link /A << /S /Launch /F ({t}) >> >>}}")),
    ]
}

fn document(body: &str) -> String {
    format!("\\documentclass{{article}}\n\\usepackage{{graphicx}}\n\\begin{{document}}\nHostile case.\n{body}\n\\end{{document}}\n")
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Mode {
    /// The allow-list alone: `prctl` refused and no Landlock, as on Lambda.
    Lambda,
    /// Every layer this machine gives.
    Full,
    /// Negative control: the allow-list off, the kernel layers off.
    NothingOn,
    /// Negative control: the allow-list off, the kernel layers on.
    KernelOnly,
}

struct Run {
    ok: bool,
    pdf: Vec<u8>,
    log: String,
    stderr: String,
    sandbox: String,
}

/// `reportq tex-run -` on `doc(parent pid)`, the process's `TMPDIR` the fixture's folder.
fn tex_run(f: &Fixture, mode: Mode, doc: impl FnOnce(u32) -> String) -> Run {
    let out = f.tmp.path().join(format!("out-{}.pdf", uuid::Uuid::new_v4().simple()));
    let log = f.tmp.path().join(format!("log-{}.txt", uuid::Uuid::new_v4().simple()));
    let mut cmd = Command::new(EXE);
    cmd.args(["tex-run", "-", "-o"]).arg(&out).arg("--log").arg(&log);
    if matches!(mode, Mode::NothingOn | Mode::KernelOnly) {
        cmd.arg("--host-io");
    }
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("TMPDIR", f.tmp.path())
        .env("REPORTQ_TEX_BUNDLE", common::render_config(Path::new(EXE)).bundle)
        .env("REPORTQ_TEST_SECRET", &f.marker)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if matches!(mode, Mode::Lambda | Mode::NothingOn) {
        as_on_lambda(&mut cmd);
    }
    let mut child = cmd.spawn().unwrap();
    let text = doc(child.id());
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    let sandbox = stderr.lines().find_map(|l| l.strip_prefix("sandbox: ")).unwrap_or_default().to_string();
    let run = Run {
        ok: o.status.success(),
        pdf: std::fs::read(&out).unwrap_or_default(),
        log: std::fs::read_to_string(&log).unwrap_or_default(),
        stderr,
        sandbox,
    };
    let _ = (std::fs::remove_file(&out), std::fs::remove_file(&log));
    run
}

fn pdf_tool(tool: &str, args: &[&str], pdf: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.pdf");
    std::fs::write(&p, pdf).unwrap();
    let o = Command::new(tool).args(args).arg(&p).current_dir(dir.path()).output().unwrap();
    let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
    // pdfdetach -saveall writes the attachments beside: their text counts as the PDF's.
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "x.pdf" {
            s.push_str(&String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()));
        }
    }
    s
}

/// What shows that a run reached its target, if anything.
fn leak(run: &Run, target_text: Option<&str>) -> Option<String> {
    // TeX wraps its log at 79 characters: joined, a marker cut in two is found whole.
    let mut places = vec![("log", run.log.replace('\n', "")), ("reply", run.stderr.clone())];
    if !run.pdf.is_empty() {
        places.push(("PDF bytes", String::from_utf8_lossy(&run.pdf).into_owned()));
        places.push(("PDF text", common::pdf_text(&run.pdf)));
        places.push(("PDF attachments", pdf_tool("pdfdetach", &["-saveall"], &run.pdf)));
        let images = pdf_tool("pdfimages", &["-list"], &run.pdf);
        if images.lines().skip(2).any(|l| !l.trim().is_empty()) {
            return Some(format!("the PDF embeds an image:\n{images}"));
        }
    }
    for (place, s) in &places {
        if let Some(t) = target_text
            && s.contains(t)
        {
            return Some(format!("{t:?} in the {place}"));
        }
        for sign in ["RQ-FONTLOADED", "RQ-IMAGE-LOADED"] {
            if *place == "log" && s.contains(sign) {
                return Some(format!("{sign} in the log"));
            }
        }
    }
    None
}

/// Every primitive on every target, in `mode`: the leaks found, one line each.
fn sweep(f: &Fixture, mode: Mode) -> (Vec<String>, usize) {
    let mut leaks = Vec::new();
    let mut runs = 0;
    let binary = [
        ("sibling image", f.sibling.join("chart.png").display().to_string()),
        ("sibling PDF", f.sibling.join("page.pdf").display().to_string()),
        ("sibling font", f.sibling.join("face.otf").display().to_string()),
    ];
    for prim in 0..primitives("x").len() {
        for ti in 0..5 + binary.len() {
            let mut name = String::new();
            let mut text = None;
            let run = tex_run(f, mode, |ppid| {
                let (tname, path, ttext) = if ti < 5 {
                    let t = text_targets(f, ppid).swap_remove(ti);
                    (t.name.to_string(), t.path, t.text)
                } else {
                    let (n, p) = &binary[ti - 5];
                    (n.to_string(), p.clone(), None)
                };
                let (pname, body) = primitives(&path).swap_remove(prim);
                name = format!("{pname} on {tname}");
                text = ttext;
                document(&body)
            });
            runs += 1;
            if std::env::var("RQ_DEBUG_CASE").is_ok_and(|c| name.contains(&c)) {
                std::fs::write(format!("/tmp/rq-debug-{mode:?}.log"), format!("{}\n----\n{}", run.stderr, run.log)).unwrap();
            }
            if let Some(how) = leak(&run, text.as_deref()) {
                leaks.push(format!("{name}: {how}"));
            }
            if matches!(mode, Mode::Lambda | Mode::Full) {
                assert!(!run.sandbox.is_empty(), "{name}: no sandbox line: {}", run.stderr);
                assert!(run.ok || !run.stderr.contains("panicked"), "{name}: {}", run.stderr);
            }
        }
    }
    (leaks, runs)
}

#[test]
fn as_on_lambda_the_allow_list_alone_stops_every_file_primitive() {
    let f = fixture();
    let probe = tex_run(&f, Mode::Lambda, |_| document("Plain."));
    assert!(probe.ok, "{}", probe.stderr);
    assert_eq!(probe.sandbox, "io", "{}", probe.stderr);
    assert!(probe.stderr.contains("seccomp: not applied") && probe.stderr.contains("landlock: not applied"), "{}", probe.stderr);
    assert!(probe.stderr.contains("pdeathsig: refused"), "a refused prctl is recorded: {}", probe.stderr);
    let (leaks, runs) = sweep(&f, Mode::Lambda);
    assert!(runs >= 80, "{runs}");
    assert!(leaks.is_empty(), "{} of {runs} cases reached their target:\n{}", leaks.len(), leaks.join("\n"));
}

#[test]
fn with_every_layer_nothing_is_reached_either() {
    let f = fixture();
    let probe = tex_run(&f, Mode::Full, |_| document("Plain."));
    assert!(probe.ok, "{}", probe.stderr);
    assert!(probe.sandbox.starts_with("io+seccomp"), "this machine allows seccomp: {}", probe.stderr);
    let (leaks, runs) = sweep(&f, Mode::Full);
    assert!(leaks.is_empty(), "{} of {runs} cases reached their target:\n{}", leaks.len(), leaks.join("\n"));
}

/// The checks above can fail: with no layer at all, Tectonic's own file system provider reads
/// every kind of target (text, image, PDF, font), and the sweep says so.
#[test]
fn negative_control_without_the_allow_list_and_the_kernel_layers_the_same_cases_leak() {
    let f = fixture();
    let (leaks, runs) = sweep(&f, Mode::NothingOn);
    eprintln!("without any layer, {} of {runs} cases reached their target:\n{}", leaks.len(), leaks.join("\n"));
    let has = |s: &str| leaks.iter().any(|l| l.starts_with(s));
    for case in [
        "\\input on /etc/passwd",
        "\\input on /proc/<parent>/environ",
        "\\input on sibling job",
        "\\input on ../",
        "\\openin on /etc/passwd",
        "\\openin on /proc/self/environ",
        "\\openin on /proc/<parent>/environ",
        "\\openin on sibling job",
        "\\openin on ../",
        "\\font [file] on sibling font",
        "\\includegraphics on sibling image",
        "\\XeTeXpicfile on sibling image",
        "\\XeTeXpdffile on sibling PDF",
        "pdf:image on sibling image",
        "pdf:fstream on sibling job",
    ] {
        assert!(has(case), "{case} was not caught without any layer ({runs} runs); caught:\n{}", leaks.join("\n"));
    }
}

/// Landlock holds alone where the platform has it: the allow-list off, nothing is reached.
#[test]
fn negative_control_without_the_allow_list_landlock_alone_stops_the_reads() {
    let f = fixture();
    let probe = tex_run(&f, Mode::KernelOnly, |_| document("Plain."));
    if !probe.sandbox.contains("landlock") {
        eprintln!("SKIP: no Landlock on this kernel ({})", probe.stderr);
        return;
    }
    assert!(!probe.sandbox.split('+').any(|l| l == "io"), "--host-io turns the allow-list off: {}", probe.sandbox);
    let (leaks, runs) = sweep(&f, Mode::KernelOnly);
    assert!(leaks.is_empty(), "{} of {runs} cases reached their target with Landlock alone:\n{}", leaks.len(), leaks.join("\n"));
}

/// A socket, `\write18` and `\openout` to an absolute path or `../`: nothing connects, nothing
/// is written, in either mode.
#[test]
fn no_socket_no_shell_no_write_outside_memory() {
    let f = fixture();
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let port = tcp.local_addr().unwrap().port();
    let unix_path = f.sibling.join("sock");
    let unix = std::os::unix::net::UnixListener::bind(&unix_path).unwrap();
    unix.set_nonblocking(true).unwrap();
    let touched = f.sibling.join("touched");
    let written = f.sibling.join("written.tex");
    let tmp_name = f.tmp.path().file_name().unwrap().to_string_lossy().into_owned();
    let bodies = [
        format!("\\immediate\\write18{{touch {}}}", touched.display()),
        format!("\\immediate\\write18{{bash -c 'echo > /dev/tcp/127.0.0.1/{port}'}}"),
        format!("\\input{{|\"touch {}\"}}", touched.display()),
        format!("\\newread\\rq \\openin\\rq={} \\ifeof\\rq\\else\\readline\\rq to\\x\\fi", unix_path.display()),
        format!("\\newread\\rq \\openin\\rq=/dev/tcp/127.0.0.1/{port} \\ifeof\\rq\\else\\readline\\rq to\\x\\fi"),
        format!("\\immediate\\openout5={} \\immediate\\write5{{x}}\\immediate\\closeout5", written.display()),
        format!("\\immediate\\openout5=../{tmp_name}/reportq-sibling/written.tex \\immediate\\write5{{x}}\\immediate\\closeout5"),
        "\\immediate\\openout5=/tmp/reportq-hostile-written.tex \\immediate\\write5{x}\\immediate\\closeout5".to_string(),
    ];
    for mode in [Mode::Lambda, Mode::Full] {
        for body in &bodies {
            let run = tex_run(&f, mode, |_| document(body));
            assert!(!run.sandbox.is_empty(), "{}", run.stderr);
            assert!(!touched.exists() && !written.exists(), "{mode:?} {body}: a file was written");
            assert!(!Path::new("/tmp/reportq-hostile-written.tex").exists(), "{mode:?} {body}: /tmp written");
            assert!(tcp.accept().is_err() && unix.accept().is_err(), "{mode:?} {body}: a socket was reached");
        }
    }
}

/// What each kernel layer refuses once the child is confined, and, as their negative
/// control, that the same attempts succeed where Lambda has taken the layers away.
#[test]
fn the_kernel_layers_refuse_what_they_should_and_without_them_it_works() {
    let probe = |lambda: bool| {
        let mut cmd = Command::new(EXE);
        cmd.args(["__tex-child", "--probe", "--check"]).env_clear();
        if lambda {
            as_on_lambda(&mut cmd);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success());
        String::from_utf8(o.stdout).unwrap()
    };
    let full = probe(false);
    let lines: Vec<&str> = full.lines().collect();
    assert!(lines[0].starts_with("io+seccomp"), "{full}");
    for refused in ["socket=EPERM", "write=EPERM", "fork=EPERM", "signal-parent=EPERM"] {
        assert!(lines[2].contains(refused), "seccomp: {refused} expected: {full}");
    }
    if lines[0].contains("landlock") {
        assert!(lines[2].contains("read-outside=EACCES"), "landlock: {full}");
    }
    let lambda = probe(true);
    let lines: Vec<&str> = lambda.lines().collect();
    assert_eq!(lines[0], "io", "{lambda}");
    assert!(lines[1].contains("prctl(PR_SET_NO_NEW_PRIVS)") && lines[1].contains("landlock: not applied"), "each refusal recorded: {lambda}");
    for allowed in ["socket=ok", "read-outside=ok", "write=ok", "fork=ok", "signal-parent=ok"] {
        assert!(lines[2].contains(allowed), "without the kernel layers {allowed}: {lambda}");
    }
}

/// Lambda refuses `prctl(PR_SET_DUMPABLE)`, so a child can read its parent's environment: the
/// credentials are not there to read. With no layer at all, a document reads the parent's
/// environ (a variable of the test's shows it did) and finds no AWS credentials in it.
#[test]
fn the_parents_environment_holds_no_credentials_even_when_it_can_be_read() {
    let f = fixture();
    let secret = format!("AWSSECRET{}", uuid::Uuid::new_v4().simple());
    let mut cmd = Command::new(EXE);
    let out = f.tmp.path().join("env.pdf");
    let log = f.tmp.path().join("env.log");
    cmd.args(["tex-run", "-", "--host-io", "-o"])
        .arg(&out)
        .arg("--log")
        .arg(&log)
        .env_clear()
        .env("TMPDIR", f.tmp.path())
        .env("REPORTQ_TEX_BUNDLE", common::render_config(Path::new(EXE)).bundle)
        .env("REPORTQ_TEST_SECRET", &f.marker)
        .env("AWS_ACCESS_KEY_ID", "AKIAREPORTQTEST")
        .env("AWS_SECRET_ACCESS_KEY", &secret)
        .env("AWS_SESSION_TOKEN", format!("TOKEN{secret}"))
        .stdin(Stdio::piped())
        .stderr(Stdio::piped());
    as_on_lambda(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let doc = document(&primitives(&format!("/proc/{}/environ", child.id())).swap_remove(1).1);
    child.stdin.take().unwrap().write_all(doc.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(log.contains(&f.marker), "the control: the parent's environment was read ({})", String::from_utf8_lossy(&o.stderr));
    assert!(!log.contains(&secret) && !log.contains("AKIAREPORTQTEST"), "the credentials were in the parent's environment");
}

/// The allow-list driver changes what the engines can open and nothing else: a report's
/// document gives the same bytes through it as through Tectonic's own driver (`--host-io`),
/// tagged (a preamble format, the structure built from the record TeX writes) and plain.
#[test]
fn the_allow_list_driver_gives_the_bytes_tectonics_own_driver_gives() {
    let f = fixture();
    for standard in ["a-2a", "none"] {
        let req = serde_json::json!({
            "template": "summary",
            "params": {"title": "Same bytes", "author": "Tests", "sections": [{"heading": "One", "paragraphs": ["Words & more words."],
                "tables": [{"caption": "T", "header": ["a", "b"], "rows": [["1", "2"]]}]}]},
            "pdf": {"standard": standard}
        });
        let req_path = f.tmp.path().join("req.json");
        std::fs::write(&req_path, req.to_string()).unwrap();
        let tex_path = f.tmp.path().join("doc.tex");
        let o = Command::new(EXE).arg("render").arg(&req_path).args(["-f", "tex", "--epoch", "1790000000", "-o"]).arg(&tex_path).output().unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let tex = std::fs::read_to_string(&tex_path).unwrap();
        let ours = tex_run(&f, Mode::Full, |_| tex.clone());
        let tectonics = tex_run(&f, Mode::KernelOnly, |_| tex.clone());
        assert!(ours.ok && tectonics.ok, "{}\n{}", ours.stderr, tectonics.stderr);
        assert!(ours.pdf.starts_with(b"%PDF-"));
        assert!(ours.pdf == tectonics.pdf, "{standard}: {} vs {} bytes", ours.pdf.len(), tectonics.pdf.len());
    }
}
