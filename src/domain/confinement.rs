//! The names of the TeX child's confinement layers, as settings (`REPORTQ_REQUIRE_SANDBOX`),
//! job timelines (`sandbox`) and the README spell them. What each does is
//! [`crate::sandbox`]'s.

/// The I/O allow-list: always on, needs nothing from the kernel.
pub const IO: &str = "io";
/// A seccomp-bpf filter: where `prctl(PR_SET_NO_NEW_PRIVS)` is allowed.
pub const SECCOMP: &str = "seccomp";
/// Landlock: Linux 5.13+, with no-new-privs.
pub const LANDLOCK: &str = "landlock";
