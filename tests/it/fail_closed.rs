//! The sandbox never weakens silently. Landlock is taken away the way a kernel without it (or a
//! container's seccomp profile) would: a seccomp filter, installed in the process under test
//! before it starts, answers the three Landlock system calls with ENOSYS.
//!
//! Without Landlock a render is refused (the worker's job goes back to the queue, retried), and
//! with the operator's opt-in (`REPORTQ_REQUIRE_SANDBOX=0`) it renders, one job at a time, the
//! weaker sandbox named in the job's timeline. A TeX child gets no descriptor of its parent's
//! but its three pipes.

use crate::common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::app::{Opts, app};
use common::aws::{LocalStack, spawn_logged};
use serde_json::Value;

const EXE: &str = env!("CARGO_BIN_EXE_reportq");

/// x86_64's numbers of landlock_create_ruleset, landlock_add_rule, landlock_restrict_self.
const LANDLOCK_SYSCALLS: [u32; 3] = [444, 445, 446];

/// Makes the Landlock system calls fail with ENOSYS in the process `cmd` starts (and its
/// children: seccomp filters are inherited). Other architectures pass through unfiltered.
fn without_landlock(cmd: &mut Command) {
    const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
    // SAFETY: between fork and exec only prctl, with a filter that lives on this stack frame
    // until prctl has copied it into the kernel.
    unsafe {
        cmd.pre_exec(|| {
            let stmt = |code: u16, k: u32| libc::sock_filter { code, jt: 0, jf: 0, k };
            let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter { code: 0x15, jt, jf, k }; // BPF_JMP|BPF_JEQ|BPF_K
            let allow = stmt(0x06, 0x7fff_0000); // BPF_RET|BPF_K, SECCOMP_RET_ALLOW
            let enosys = stmt(0x06, 0x0005_0000 | libc::ENOSYS as u32); // SECCOMP_RET_ERRNO
            let prog = [
                stmt(0x20, 4), // BPF_LD|BPF_W|BPF_ABS: seccomp_data.arch
                jeq(AUDIT_ARCH_X86_64, 1, 0),
                allow,
                stmt(0x20, 0), // seccomp_data.nr
                jeq(LANDLOCK_SYSCALLS[0], 3, 0),
                jeq(LANDLOCK_SYSCALLS[1], 2, 0),
                jeq(LANDLOCK_SYSCALLS[2], 1, 0),
                allow,
                enosys,
            ];
            let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut libc::sock_filter };
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn render_cmd(out: &std::path::Path) -> Command {
    let mut cmd = Command::new(EXE);
    cmd.arg("render").arg(common::root().join("examples/summary.json")).arg("-o").arg(out).arg("--epoch").arg("0");
    cmd.env_remove("REPORTQ_REQUIRE_SANDBOX").stdin(Stdio::null());
    cmd
}

#[test]
fn without_landlock_a_render_is_refused_unless_the_operator_opts_in() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.pdf");
    // The control: with Landlock the render is confined and works.
    let ok = render_cmd(&out).output().unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    std::fs::remove_file(&out).unwrap();

    let mut refused = render_cmd(&out);
    without_landlock(&mut refused);
    let r = refused.output().unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success() && !out.exists(), "rendered without a sandbox: {err}");
    assert!(err.contains("refused to render without a sandbox") && err.contains("REPORTQ_REQUIRE_SANDBOX=0"), "{err}");

    let mut opted_in = render_cmd(&out);
    opted_in.env("REPORTQ_REQUIRE_SANDBOX", "0");
    without_landlock(&mut opted_in);
    let r = opted_in.output().unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success() && out.exists(), "{err}");
    assert!(err.contains("WARNING: landlock unavailable"), "the weaker mode is said out loud: {err}");
}

/// (start, end) of each render in a job's timeline, in ms.
fn render_spans(job: &Value) -> Vec<(i64, i64)> {
    job["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "rendered")
        .map(|e| {
            let end = chrono::DateTime::parse_from_rfc3339(e["at"].as_str().unwrap()).unwrap().timestamp_millis();
            (end - e["ms"].as_i64().unwrap(), end)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_without_landlock_retries_and_with_the_opt_in_renders_one_at_a_time() {
    let ls = LocalStack::start();
    let app = app(&ls.endpoint, Opts { visibility_secs: 2, max_receive: 50, ..Opts::new(EXE) }).await;
    let logs = tempfile::tempdir().unwrap();
    let worker = |require: &str, log: &str| {
        let mut cmd = Command::new(EXE);
        cmd.arg("worker").envs([
            ("AWS_ENDPOINT_URL", app.res.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("REPORTQ_BUCKET", app.res.bucket.as_str()),
            ("REPORTQ_QUEUE_URL", app.res.queue_url.as_str()),
            ("REPORTQ_POLL_WAIT_SECS", "1"),
            ("REPORTQ_WORKER_CONCURRENCY", "3"),
            ("REPORTQ_METRICS_LISTEN", "off"),
            ("REPORTQ_LOG_FORMAT", "json"),
            ("REPORTQ_REQUIRE_SANDBOX", require),
        ]);
        without_landlock(&mut cmd);
        spawn_logged(cmd, &logs.path().join(log))
    };
    let request: Value = serde_json::from_slice(&common::example("summary.json")).unwrap();
    let submit = || async {
        let v: Value = app.post_json("/v1/reports", &request).await.json().await.unwrap();
        v["job_id"].as_str().unwrap().to_string()
    };
    let job = |id: String| {
        let app = &app;
        async move { app.get(&format!("/v1/reports/{id}")).await.json::<Value>().await.unwrap() }
    };

    // Required (the default): the job is refused, put back, and tried again; never rendered.
    let mut w = worker("1", "refusing.log");
    let id = submit().await;
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        let j = job(id.clone()).await;
        let refusals = j["timeline"].as_array().unwrap().iter().filter(|e| e["code"] == "sandbox_unavailable").count();
        if refusals >= 2 {
            assert_eq!(j["status"], "queued", "{j}");
            assert!(render_spans(&j).is_empty());
            break;
        }
        assert!(Instant::now() < until, "the job was not refused twice: {j}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let _ = w.kill();
    let _ = w.wait();
    let log = std::fs::read_to_string(logs.path().join("refusing.log")).unwrap();
    assert!(log.contains("render refused: no sandbox"), "a clear log line: {log}");

    // Opted in: the waiting job and three more render, one at a time, each saying how.
    let mut w = worker("0", "opted-in.log");
    let mut ids = vec![id];
    for _ in 0..3 {
        ids.push(submit().await);
    }
    let mut spans = Vec::new();
    for id in &ids {
        let until = Instant::now() + Duration::from_secs(120);
        let j = loop {
            let j = job(id.clone()).await;
            if j["status"] == "succeeded" {
                break j;
            }
            assert!(Instant::now() < until && j["status"] != "failed", "{j}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let rendered = j["timeline"].as_array().unwrap().iter().find(|e| e["event"] == "rendered").unwrap().clone();
        assert!(rendered["sandbox"].as_str().unwrap().starts_with("WARNING"), "{rendered}");
        spans.extend(render_spans(&j));
    }
    spans.sort();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0 + 5, "two unconfined renders overlapped: {spans:?}");
    }
    let _ = w.kill();
    let _ = w.wait();
}

#[test]
fn a_tex_child_gets_none_of_its_parents_descriptors() {
    // A descriptor without close-on-exec in the parent, as a library might leave one.
    let marker = tempfile::NamedTempFile::new().unwrap();
    let path = std::ffi::CString::new(marker.path().to_str().unwrap()).unwrap();
    // SAFETY: open(2) with a valid C string; the descriptor is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY) };
    assert!(fd > 2);
    let h = common::harness_with(|c| c.timeout = Duration::from_secs(4));
    let renderer = std::sync::Arc::new(h.renderer);
    let r = renderer.clone();
    let looping = std::thread::spawn(move || r.render_prepared(&crate::render::prepared(r"\def\x{\x}\x"), &crate::render::plain_ctx()));
    // Find the child (ours, running the TeX child) and list what it holds open.
    let me = std::process::id().to_string();
    let until = Instant::now() + Duration::from_secs(10);
    let child = loop {
        let found = std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()).find(|e| {
            let dir = e.path();
            let cmd = std::fs::read(dir.join("cmdline")).unwrap_or_default();
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
            let ppid = stat.rsplit(')').next().and_then(|s| s.split_whitespace().nth(1)).unwrap_or("");
            String::from_utf8_lossy(&cmd).contains(reportq::sandbox::CHILD_ARG) && ppid == me
        });
        if let Some(e) = found {
            break e.path();
        }
        assert!(Instant::now() < until, "no TeX child found");
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(300)); // past exec
    let fds: Vec<(i32, String)> = std::fs::read_dir(child.join("fd"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| {
            (e.file_name().to_string_lossy().parse().unwrap_or(-1), std::fs::read_link(e.path()).map(|p| p.display().to_string()).unwrap_or_default())
        })
        .collect();
    let _ = looping.join();
    // SAFETY: our own descriptor from above.
    unsafe { libc::close(fd) };
    assert!(!fds.iter().any(|(_, target)| target == &marker.path().display().to_string()), "the parent's file reached the child: {fds:?}");
    for (n, target) in &fds {
        if *n <= 2 {
            assert!(target.starts_with("pipe:"), "fd {n} is {target}, not a pipe");
        } else {
            // What the child opened itself: the bundle and format (read-only files), never a
            // socket or another process's pipe.
            assert!(!target.starts_with("socket:") && !target.starts_with("pipe:"), "fd {n} is {target}: {fds:?}");
        }
    }
}
