//! Settings from the environment, read in one place, with defaults that work on a laptop.

use std::path::PathBuf;
use std::time::Duration;

/// Where a deployed image keeps the bundle (the Dockerfile puts it there).
pub const IMAGE_BUNDLE: &str = "/opt/reportq/tex-bundle";

/// Rendering settings.
#[derive(Debug, Clone)]
pub struct RenderConfig {
    /// The flat TeX bundle folder, with the pre-built format in `format/`
    /// (`REPORTQ_TEX_BUNDLE`; default `/opt/reportq/tex-bundle` if present, else
    /// `~/.cache/reportq/tex-bundle`, where `scripts/tex-bundle.sh` puts it).
    pub bundle: PathBuf,
    /// Wall-clock limit of one TeX run (`REPORTQ_RENDER_TIMEOUT_SECS`, default 60).
    pub timeout: Duration,
    /// Address-space cap of the TeX child process in MiB (`REPORTQ_RENDER_MEMORY_MB`, default 1024).
    pub memory_mb: u64,
    /// TeX child processes at once per process (`REPORTQ_RENDER_CONCURRENCY`, default: cores).
    pub concurrency: usize,
    /// The executable that runs the TeX child (`REPORTQ_TEX_CHILD`; default: this executable,
    /// which every reportq binary is).
    pub child_exe: Option<PathBuf>,
    /// Parent of the per-render job folders: `$TMPDIR` or `/tmp`, the one writable place on Lambda.
    pub tmp_dir: PathBuf,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|_| format!("{name}={v:?} is not a valid value")),
    }
}

impl RenderConfig {
    pub fn from_env() -> Result<Self, String> {
        let bundle = match var("REPORTQ_TEX_BUNDLE") {
            Some(p) => PathBuf::from(p),
            None => default_bundle(),
        };
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        let timeout = parse("REPORTQ_RENDER_TIMEOUT_SECS", 60.0f64)?;
        if !(timeout > 0.0 && timeout < 86_400.0) {
            return Err("REPORTQ_RENDER_TIMEOUT_SECS must be between 0 and 86400".into());
        }
        Ok(Self {
            bundle,
            timeout: Duration::from_secs_f64(timeout),
            memory_mb: parse("REPORTQ_RENDER_MEMORY_MB", 1024)?,
            concurrency: parse("REPORTQ_RENDER_CONCURRENCY", cores)?.max(1),
            child_exe: var("REPORTQ_TEX_CHILD").map(PathBuf::from),
            tmp_dir: std::env::temp_dir(),
        })
    }
}

pub fn default_bundle() -> PathBuf {
    if std::path::Path::new(IMAGE_BUNDLE).is_dir() {
        return PathBuf::from(IMAGE_BUNDLE);
    }
    let home = var("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/tmp"));
    home.join(".cache/reportq/tex-bundle")
}
