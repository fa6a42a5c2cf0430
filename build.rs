//! Build metadata for `/healthz`: the git commit, from `REPORTQ_GIT_COMMIT` (the Dockerfile's
//! build argument) or the checkout, else `unknown`.
fn main() {
    println!("cargo:rerun-if-env-changed=REPORTQ_GIT_COMMIT");
    let from_git = || {
        let out = std::process::Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit =
        std::env::var("REPORTQ_GIT_COMMIT").ok().filter(|c| !c.is_empty() && c != "unknown").or_else(from_git).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=REPORTQ_GIT_COMMIT={commit}");
    // A new commit changes .git/HEAD (a detached checkout) or the branch's ref.
    if let Ok(head) = std::fs::read_to_string(".git/HEAD") {
        println!("cargo:rerun-if-changed=.git/HEAD");
        if let Some(r) = head.strip_prefix("ref: ") {
            println!("cargo:rerun-if-changed=.git/{}", r.trim());
        }
    }
}
