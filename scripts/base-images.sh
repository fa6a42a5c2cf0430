#!/usr/bin/env bash
# Local stand-ins for the Dockerfile's two bases, for a machine with podman but no registry
# (`make image` passes them as --build-arg; a real build uses the digests in the Dockerfile):
#
#   localhost/reportq-base/debian:12-slim             Debian 12 from Debian's archive
#                                                     (mmdebstrap --variant=minbase bookworm,
#                                                     docs and man pages left out as -slim does)
#   localhost/reportq-base/rust:1.95.0-slim-bookworm  that + gcc, libc6-dev, ca-certificates and
#                                                     this machine's Rust 1.95.0 (rustc, cargo,
#                                                     rust-std; no docs), laid out as the official
#                                                     rust:1.95.0-slim-bookworm image is
#                                                     (RUSTUP_HOME=/usr/local/rustup,
#                                                     CARGO_HOME=/usr/local/cargo)
#
#   scripts/base-images.sh          build whichever is missing or whose recipe changed
#
# Cached: each image carries a label with a hash of its recipe (this script, the toolchain's
# version, the image below it); a rerun with the same recipe takes a second.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/podman-env.sh
. scripts/podman-env.sh

DEBIAN_IMAGE=${REPORTQ_DEBIAN_BASE_IMAGE:-localhost/reportq-base/debian:12-slim}
RUST_IMAGE=${REPORTQ_RUST_BASE_IMAGE:-localhost/reportq-base/rust:1.95.0-slim-bookworm}
RUST_VERSION=1.95.0
TOOLCHAIN=$RUST_VERSION-x86_64-unknown-linux-gnu
MIRROR=${REPORTQ_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${REPORTQ_DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

say() { echo "base-images: $*" >&2; }
label() { podman image inspect --format '{{ index .Labels "reportq.recipe" }}' "$1" 2>/dev/null || true; }
# Each image's recipe is its own section of this script (so editing one rebuilds only it).
section() { sed -n "/^# ---- $1/,/^# ---- $2/p" "$0" | sha256sum | cut -c1-64; }

# ---- Debian 12 ---------------------------------------------------------------------------
deb_recipe=$(echo "debian $(section Debian Rust) $MIRROR" | sha256sum | cut -c1-16)
if [ "$(label "$DEBIAN_IMAGE")" = "$deb_recipe" ]; then
  say "$DEBIAN_IMAGE is up to date ($deb_recipe)"
else
  say "building $DEBIAN_IMAGE with mmdebstrap (recipe $deb_recipe)"
  start=$(date +%s)
  tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
  # What Debian's official -slim images leave out (debuerreotype's slimification): docs, man
  # pages, locales. The same dpkg settings stay in the image, as there.
  excl=()
  for p in doc man info groff lintian linda locale; do excl+=("--dpkgopt=path-exclude=/usr/share/$p/*"); done
  excl+=("--dpkgopt=path-include=/usr/share/doc/*/copyright")
  # As debuerreotype makes them: merged /usr without the usrmerge package (which would pull in
  # perl), and apt told to keep no caches (its docker-clean).
  mmdebstrap --quiet --variant=minbase --format=tar "${excl[@]}" \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --aptopt='Acquire::Languages "none"' --aptopt='Acquire::GzipIndexes "true"' \
    --customize-hook='printf "%s\n" "DPkg::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };" "Dir::Cache::pkgcache \"\";" "Dir::Cache::srcpkgcache \"\";" > "$1"/etc/apt/apt.conf.d/docker-clean' \
    --customize-hook='rm -f "$1"/etc/hostname "$1"/etc/resolv.conf' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin "$1"/var/log/*.log' \
    bookworm "$tmp/rootfs.tar" \
    "deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main" "deb $SECURITY bookworm-security main"
  podman import --quiet \
    --change 'CMD ["bash"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "LABEL reportq.recipe=$deb_recipe" \
    --message "mmdebstrap --variant=minbase bookworm" \
    "$tmp/rootfs.tar" "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$tmp"; trap - EXIT
  say "$DEBIAN_IMAGE built in $(( $(date +%s) - start )) s"
fi

# ---- Rust 1.95.0 on it (and this machine's trust store) ---------------------------------------------------------------------
RUSTUP_HOME_HOST=${RUSTUP_HOME:-$HOME/.rustup}
CARGO_HOME_HOST=${CARGO_HOME:-$HOME/.cargo}
src=$(readlink -f "$RUSTUP_HOME_HOST/toolchains/$TOOLCHAIN" 2>/dev/null || true)
# Else the active toolchain (e.g. `stable`) when it is that version.
if [ ! -x "$src/bin/rustc" ] && command -v rustc >/dev/null \
   && [ "$(rustc -V | cut -d' ' -f2)" = "$RUST_VERSION" ]; then
  src=$(rustc --print sysroot)
fi
if [ -z "$src" ] || [ ! -x "$src/bin/rustc" ]; then
  say "no Rust $RUST_VERSION toolchain at $RUSTUP_HOME_HOST/toolchains/$TOOLCHAIN (rustup toolchain install $RUST_VERSION --profile minimal)"
  exit 1
fi
rustc_v=$("$src/bin/rustc" -vV | sha256sum | cut -c1-16)
deb_id=$(podman image inspect --format '{{.Id}}' "$DEBIAN_IMAGE")
rust_recipe=$(echo "rust $(section Rust END) $rustc_v $deb_id $(sha256sum < "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}")" | sha256sum | cut -c1-16)
if [ "$(label "$RUST_IMAGE")" = "$rust_recipe" ]; then
  say "$RUST_IMAGE is up to date ($rust_recipe)"
  exit 0
fi
say "building $RUST_IMAGE from $src (recipe $rust_recipe)"
start=$(date +%s)
ctx=$(mktemp -d); trap 'rm -rf "$ctx"' EXIT
# Only what the official image's minimal profile holds: rustc, cargo, rust-std (and rustdoc,
# rust-gdb... which come with rustc); not the 800 MB of HTML docs nor clippy/rustfmt.
mkdir -p "$ctx/toolchain" "$ctx/cargo-bin"
(cd "$src" && tar --exclude=./share/doc --exclude=./bin/cargo-clippy --exclude=./bin/clippy-driver \
   --exclude=./bin/cargo-fmt --exclude=./bin/rustfmt -cf - .) | tar -xf - -C "$ctx/toolchain"
cp "$(readlink -f "$CARGO_HOME_HOST/bin/rustup")" "$ctx/cargo-bin/rustup"
for t in cargo rustc rustdoc rust-gdb rust-gdbgui rust-lldb; do ln -s rustup "$ctx/cargo-bin/$t"; done
# The official image's `chmod -R a+w` on both homes, done here: in a RUN it would copy the whole
# toolchain into a second layer.
chmod -R a+w "$ctx/toolchain" "$ctx/cargo-bin"
# This machine's trust store (here: an intercepting proxy's CA in front of crates.io): cargo in
# the image fetches crates through the same network. Only this stand-in carries it; the
# images `make image` builds get Debian's ca-certificates.
cp "${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}" "$ctx/host-ca-bundle.crt"
cat > "$ctx/settings.toml" <<EOF
version = "12"
default_toolchain = "$TOOLCHAIN"
profile = "minimal"
auto_self_update = "disable"
EOF
cat > "$ctx/Containerfile" <<EOF
FROM $DEBIAN_IMAGE
ENV RUSTUP_HOME=/usr/local/rustup CARGO_HOME=/usr/local/cargo \
    PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    RUST_VERSION=$RUST_VERSION
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY host-ca-bundle.crt /usr/local/share/ca-certificates/host-ca-bundle.crt
RUN update-ca-certificates >/dev/null
COPY toolchain /usr/local/rustup/toolchains/$TOOLCHAIN
COPY settings.toml /usr/local/rustup/settings.toml
COPY cargo-bin /usr/local/cargo/bin
RUN cargo --version && rustc --version
LABEL reportq.recipe=$rust_recipe
EOF
podman build --quiet --network host -t "$RUST_IMAGE" -f "$ctx/Containerfile" "$ctx" >/dev/null
rm -rf "$ctx"; trap - EXIT
say "$RUST_IMAGE built in $(( $(date +%s) - start )) s"
# ---- END
