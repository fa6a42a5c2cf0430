//! The AWS credentials out of a TeX child's reach, without `prctl`.
//!
//! Where `prctl(PR_SET_DUMPABLE, 0)` is refused (AWS Lambda), any process of the same user can
//! read `/proc/<worker>/environ`, and Lambda hands a function its role's credentials there.
//! So the processes that start TeX children take the three variables out of their own
//! environment as the first thing they do, before any thread exists: the values move into
//! memory ([`taken`], which [`crate::aws`] gives the SDK as static credentials), the bytes of
//! the original environment block (what `/proc/<pid>/environ` shows) are overwritten with
//! zeros, and the variables are removed. Children are started with an empty environment.
//!
//! Reading them once loses nothing: nothing outside a running process can change its
//! environment, so the SDK's own environment provider could never have seen newer values.

use std::sync::OnceLock;

/// The variables taken.
pub const VARS: [&str; 3] = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"];

/// Credentials taken from the environment at start.
#[derive(Clone)]
pub struct Taken {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Taken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Taken").field("access_key_id", &self.access_key_id).finish_non_exhaustive()
    }
}

static TAKEN: OnceLock<Option<Taken>> = OnceLock::new();

/// What [`take_from_environment`] took, if it ran and found a key pair.
pub fn taken() -> Option<&'static Taken> {
    TAKEN.get().and_then(|t| t.as_ref())
}

unsafe extern "C" {
    static mut environ: *mut *mut libc::c_char;
}

/// Moves the credentials out of this process's environment (see the module documentation).
/// Returns how many variables were scrubbed.
///
/// # Safety
/// Must run before this process starts any thread: it writes the environment in place.
pub unsafe fn take_from_environment() -> usize {
    let mut found: [Option<String>; 3] = [None, None, None];
    let mut scrubbed = 0;
    // SAFETY: single-threaded (the caller's promise); `environ` is the C library's
    // NUL-terminated array of NUL-terminated strings.
    unsafe {
        let mut p = environ;
        while !p.is_null() && !(*p).is_null() {
            let entry = *p;
            let bytes = std::ffi::CStr::from_ptr(entry).to_bytes();
            for (i, var) in VARS.iter().enumerate() {
                let prefix = var.len();
                if bytes.len() > prefix && bytes.starts_with(var.as_bytes()) && bytes[prefix] == b'=' {
                    found[i] = Some(String::from_utf8_lossy(&bytes[prefix + 1..]).into_owned());
                    // Zero the value where it lies: /proc/<pid>/environ reads these bytes.
                    std::ptr::write_bytes(entry.add(prefix + 1), 0, bytes.len() - prefix - 1);
                    scrubbed += 1;
                }
            }
            p = p.add(1);
        }
        for var in VARS {
            std::env::remove_var(var);
        }
    }
    let [id, secret, token] = found;
    let taken = match (id, secret) {
        (Some(access_key_id), Some(secret_access_key)) => Some(Taken { access_key_id, secret_access_key, session_token: token }),
        _ => None,
    };
    let _ = TAKEN.set(taken);
    scrubbed
}
