//! Raw hostile TeX through the worker image's own confined child, run the way Lambda runs the
//! image (scripts/lambda-container.sh: read-only root, uid 65534, no capabilities, `prctl`
//! refused, no Landlock): `reportq tex-run` in the very image. The child says it is confined
//! by the I/O allow-list alone (`sandbox: io`), and the document reads nothing: not
//! `/etc/passwd`, not its own environment, not any process's environment (which holds a
//! marker). The negative control, the same document with the allow-list off (`--host-io`) in
//! the same container, reads them all. Skipped unless `REPORTQ_IMAGE_TEST=1` (`make
//! image-test`, and so `make test`, set it after building the images).

use crate::common;

use std::io::Write;
use std::process::{Command, Stdio};

fn hostile(targets: &[String]) -> String {
    let probes: String = targets.iter().map(|t| format!("\\probe{{{t}}}\n")).collect();
    format!(
        "\\documentclass{{article}}\n\\begin{{document}}\nHostile.\n\\newread\\rq\n\
         \\def\\probe#1{{\\openin\\rq=#1 \\ifeof\\rq\\message{{RQ-MISSING[#1]}}\\else\\readline\\rq to\\rqline\\message{{RQ-READ[\\rqline]}}\\texttt{{\\detokenize\\expandafter{{\\rqline}}}}\\fi\\closein\\rq}}\n\
         {probes}\\end{{document}}\n"
    )
}

struct Run {
    ok: bool,
    pdf: Vec<u8>,
    stderr: String,
}

fn tex_run_in_image(image: &str, doc: &str, marker: &str, host_io: bool) -> Run {
    let mut cmd = Command::new(common::root().join("scripts/lambda-container.sh"));
    for (k, _) in std::env::vars() {
        if k.starts_with("AWS_") || k.starts_with("REPORTQ_") {
            cmd.env_remove(k);
        }
    }
    cmd.args([image, "-i", "--entrypoint", "reportq", "--"]).args(["tex-run", "-", "-o", "-", "--log", "/dev/stderr"]);
    if host_io {
        cmd.arg("--host-io");
    }
    cmd.env("REPORTQ_TEST_SECRET", marker)
        .env("LAMBDA_CONTAINER_NAME", format!("reportq-it-hostile-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(doc.as_bytes()).unwrap();
    let o = child.wait_with_output().unwrap();
    Run { ok: o.status.success(), pdf: o.stdout, stderr: String::from_utf8_lossy(&o.stderr).replace('\n', "") }
}

#[test]
fn hostile_raw_tex_in_the_worker_image_as_on_lambda_reads_nothing() {
    if std::env::var("REPORTQ_IMAGE_TEST").as_deref() != Ok("1") {
        eprintln!("image: SKIP: REPORTQ_IMAGE_TEST is not 1 (make image-test builds the images and runs these)");
        return;
    }
    let image = std::env::var("REPORTQ_IMAGE_WORKER").unwrap_or_else(|_| "localhost/reportq-worker:dev".into());
    let marker = format!("RQIMAGESECRET{}", uuid::Uuid::new_v4().simple()).to_uppercase();
    let mut targets = vec!["/etc/passwd".to_string(), "/proc/self/environ".to_string(), "../../../etc/passwd".to_string()];
    // Every process in the container's own pid namespace: the init, the CLI, its TeX child.
    targets.extend((1..=8).map(|pid| format!("/proc/{pid}/environ")));
    let doc = hostile(&targets);

    let confined = tex_run_in_image(&image, &doc, &marker, false);
    assert!(confined.ok, "{}", confined.stderr);
    assert!(confined.pdf.starts_with(b"%PDF-"), "{}", confined.stderr);
    assert!(confined.stderr.contains("sandbox: iosandbox-notes:"), "the allow-list alone, as on Lambda: {}", confined.stderr);
    assert!(confined.stderr.contains("prctl(PR_SET_NO_NEW_PRIVS)") && confined.stderr.contains("landlock: not applied"), "{}", confined.stderr);
    let text = common::pdf_text(&confined.pdf);
    for place in [&text, &confined.stderr] {
        assert!(!place.contains("root:x:0:0") && !place.contains(&marker) && !place.contains("RQ-READ["), "read through the allow-list: {place}");
    }
    assert_eq!(confined.stderr.matches("RQ-MISSING[").count(), targets.len(), "every target not found: {}", confined.stderr);

    // The negative control: the same container, the allow-list off.
    let open = tex_run_in_image(&image, &doc, &marker, true);
    assert!(open.ok, "{}", open.stderr);
    assert!(open.stderr.contains("root:x:0:0") && open.stderr.contains(&marker), "without the allow-list the document reads them: {}", open.stderr);
}
