//! Signed, verifiable reports (#28) the way they are deployed: `reportq serve` and
//! `reportq worker` on LocalStack, the worker signing with a KMS key in LocalStack's KMS; the
//! certificate from `reportq signing certificate`; the PDF checked by `reportq verify`, by
//! `POST /v1/reports/verify` over HTTP, and by OpenSSL, which shares no code with reportq.

use crate::common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::aws::{LocalStack, process_env, resources};
use common::spawn;
use serde_json::{Value, json};

const EXE: &str = env!("CARGO_BIN_EXE_reportq");

fn run(args: &[&str], env: &[(String, String)]) -> std::process::Output {
    Command::new(EXE).args(args).envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str()))).stdin(Stdio::null()).output().unwrap()
}

/// The signature's CMS and the bytes it covers, as any PAdES reader finds them.
fn cms_parts(pdf: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let text = String::from_utf8_lossy(pdf);
    let at = text.rfind("/ByteRange").unwrap();
    let nums: Vec<usize> = text[at..].split(['[', ']']).nth(1).unwrap().split_whitespace().map(|n| n.parse().unwrap()).collect();
    let (a, b, c, d) = (nums[0], nums[1], nums[2], nums[3]);
    let hex = std::str::from_utf8(&pdf[a + b + 1..c - 1]).unwrap();
    let mut cms = hex::decode(hex).unwrap();
    while cms.last() == Some(&0) {
        cms.pop();
    }
    ([&pdf[a..a + b], &pdf[c..c + d]].concat(), cms)
}

fn openssl_verifies(pdf: &[u8], cert: &std::path::Path) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let (content, cms) = cms_parts(pdf);
    std::fs::write(dir.path().join("content"), content).unwrap();
    std::fs::write(dir.path().join("sig.der"), cms).unwrap();
    let out = Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
        .arg(dir.path().join("sig.der"))
        .arg("-content")
        .arg(dir.path().join("content"))
        .arg("-CAfile")
        .arg(cert)
        .args(["-out", "/dev/null"])
        .output()
        .expect("openssl");
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_worker_signs_with_kms_and_openssl_reportq_and_the_api_verify_it() {
    let ls = LocalStack::start();
    let res = resources(&ls.endpoint, 30, 3);
    let sdk = common::aws::sdk_config(&ls.endpoint).await;
    let kms = aws_sdk_kms::Client::new(&sdk);
    let key = kms
        .create_key()
        .key_spec(aws_sdk_kms::types::KeySpec::Rsa2048)
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .arn()
        .unwrap()
        .to_string();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let env = process_env(
        &res,
        port,
        &[
            ("REPORTQ_METRICS_LISTEN", "off".into()),
            ("REPORTQ_SIGNING_KEY", format!("kms:{key}")),
            ("REPORTQ_SIGNING_NAME", "CN=Ravenscar Borough Archive reports,O=Ravenscar Borough Archive".into()),
        ],
    );

    // The certificate an archive publishes: made from the key alone, the same each time.
    let dir = tempfile::tempdir().unwrap();
    let cert = run(&["signing", "certificate"], &env);
    assert!(cert.status.success(), "{}", String::from_utf8_lossy(&cert.stderr));
    assert_eq!(cert.stdout, run(&["signing", "certificate"], &env).stdout, "the certificate is not deterministic");
    let cert_path = dir.path().join("cert.pem");
    std::fs::write(&cert_path, &cert.stdout).unwrap();

    let _api = spawn(&["serve"], &env);
    let _worker = spawn(&["worker"], &env);
    let http = reqwest::Client::new();
    let end = Instant::now() + Duration::from_secs(20);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(Instant::now() < end, "reportq serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut request: Value = serde_json::from_slice(&common::example("summary.json")).unwrap();
    request["pdf"] = json!({ "standard": "a-3a" });
    let r = http.post(format!("{base}/v1/reports")).json(&request).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["job_id"].as_str().unwrap().to_string();
    let end = Instant::now() + Duration::from_secs(90);
    let job = loop {
        let j: Value = http.get(format!("{base}/v1/reports/{id}")).send().await.unwrap().json().await.unwrap();
        if j["status"] == "succeeded" || j["status"] == "failed" {
            break j;
        }
        assert!(Instant::now() < end, "job not done: {j}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(job["status"], "succeeded", "{job}");
    let pdf = reqwest::get(job["result"]["url"].as_str().unwrap()).await.unwrap().bytes().await.unwrap().to_vec();

    // Signed, it is still PDF/A-3a and PDF/UA-1.
    for profile in [page_validation::ValidationProfile::PdfA3a, page_validation::ValidationProfile::PdfUa1] {
        let report = page_validation::validate_pdf_bytes(&pdf, &page_validation::ValidationOptions::default().profile(profile)).unwrap();
        assert!(report.failures.is_empty(), "{profile:?}: {:?}", report.failures.iter().map(|f| &f.message).collect::<Vec<_>>());
    }

    // OpenSSL, independently: the CMS verifies over the byte range with the published cert.
    let (ok, err) = openssl_verifies(&pdf, &cert_path);
    assert!(ok, "openssl cms -verify refused it: {err}");

    // reportq verify: every check, the re-render included; the provenance names the job.
    let pdf_path = dir.path().join("report.pdf");
    std::fs::write(&pdf_path, &pdf).unwrap();
    let out = run(&["verify", pdf_path.to_str().unwrap(), "--cert", cert_path.to_str().unwrap(), "--rerender", "--json"], &env);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "{v:#}");
    let checks: Vec<&str> = v["checks"].as_array().unwrap().iter().map(|c| c["check"].as_str().unwrap()).collect();
    assert_eq!(checks, ["signature", "embedded", "request", "fixity", "rerender"]);
    assert_eq!(v["provenance"]["job"]["id"], id.as_str());
    assert!(v["checks"][0]["detail"].as_str().unwrap().contains("Ravenscar Borough Archive reports"), "{v}");

    // The API's route, over HTTP: the same checks but the re-render.
    let r = http.post(format!("{base}/v1/reports/verify")).header("content-type", "application/pdf").body(pdf.clone()).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let api: Value = r.json().await.unwrap();
    assert_eq!(api["ok"], true, "{api}");
    assert_eq!(api["checks"][0]["check"], "signature");

    // One changed byte anywhere, in what TeX wrote, in the embedded files or after the
    // signature: the signature check fails (OpenSSL agrees), and says why.
    let n = pdf.len();
    for at in [100, n / 3, n / 2, n - 300, n - 3] {
        let mut changed = pdf.clone();
        changed[at] ^= if changed[at].is_ascii_digit() { 0x01 } else { 0x20 };
        let v = reportq::verify::verify(&changed, Some(&String::from_utf8(cert.stdout.clone()).unwrap()));
        let sig = v.checks.iter().find(|c| c.check == "signature");
        assert!(!v.ok, "byte {at} changed and it verified: {:#?}", v.checks);
        if let Some(sig) = sig {
            assert!(!sig.ok && !sig.detail.is_empty(), "byte {at}: {sig:?}");
        }
    }
    // Bytes appended after signing (an incremental update of someone else's) are refused too.
    let mut appended = pdf.clone();
    appended.extend_from_slice(b"\n% appended\n");
    let v = reportq::verify::verify(&appended, None);
    let sig = v.checks.iter().find(|c| c.check == "signature").unwrap();
    assert!(!sig.ok && sig.detail.contains("added"), "{sig:?}");
    // Another key's certificate: refused by name.
    let other = tempfile::NamedTempFile::new().unwrap();
    let st = Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(other.path())
        .output()
        .unwrap();
    assert!(st.status.success());
    let mut other_env = env.clone();
    other_env.retain(|(k, _)| k != "REPORTQ_SIGNING_KEY");
    other_env.push(("REPORTQ_SIGNING_KEY".into(), other.path().display().to_string()));
    let other_cert = String::from_utf8(run(&["signing", "certificate"], &other_env).stdout).unwrap();
    let v = reportq::verify::verify(&pdf, Some(&other_cert));
    assert!(!v.ok && v.checks[0].detail.contains("not by the certificate given"), "{:#?}", v.checks);
}

/// A retried job signs to the same bytes: everything outside the signature value is a function
/// of the file and the job's date, and RSA PKCS#1 v1.5 signatures are deterministic.
#[tokio::test]
async fn signing_the_same_file_twice_gives_the_same_bytes() {
    let key = tempfile::NamedTempFile::new().unwrap();
    let st =
        Command::new("openssl").args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"]).arg(key.path()).output().unwrap();
    assert!(st.status.success());
    let signer = reportq::signing::Signer::new(std::sync::Arc::new(reportq::signing::PemKey::read(key.path()).unwrap()), "CN=test").await.unwrap();
    let h = common::harness();
    let mut req: Value = serde_json::from_slice(&common::example("summary.json")).unwrap();
    req["pdf"] = json!({ "standard": "a-3b" });
    let pdf = common::render_json(&h, &req);
    let a = signer.sign_pdf(pdf.clone(), 1_790_000_000).await.unwrap();
    let b = signer.sign_pdf(pdf.clone(), 1_790_000_000).await.unwrap();
    assert_eq!(a, b);
    assert!(a.starts_with(&pdf), "the signature is an update after the file");
    let v = reportq::verify::verify(&a, Some(&signer.certificate_pem()));
    assert!(v.ok, "{:#?}", v.checks);
    // PDF/A-3b still holds with the signature field.
    let report =
        page_validation::validate_pdf_bytes(&a, &page_validation::ValidationOptions::default().profile(page_validation::ValidationProfile::PdfA3b))
            .unwrap();
    assert!(report.failures.is_empty(), "{:?}", report.failures.iter().map(|f| &f.message).collect::<Vec<_>>());
}
