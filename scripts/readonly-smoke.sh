#!/usr/bin/env bash
# Renders a report the way the worker image runs on Lambda, without a Docker engine: as a
# non-root user, with every mount read-only except a fresh, empty /tmp (what
# `docker run --read-only --mount type=bind,target=/tmp` and Lambda both give), and the bundle
# prepared as the Dockerfile prepares it (format built, then `chmod -R a+rX,go-w`).
#
#   scripts/readonly-smoke.sh [REPORTQ_BINARY]      (default target/release/reportq)
#
# Needs root for a private mount namespace (unshare -m); elsewhere it skips with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-target/release/reportq}")
SRC=${REPORTQ_TEX_BUNDLE:-$HOME/.cache/reportq/tex-bundle}
# Under target/ (ignored by git and by the Docker context), never /opt: the binary prefers
# /opt/reportq/tex-bundle when it exists, so a directory there would change every local run.
IMG=$PWD/target/image-bundle

if [ "$(id -u)" -ne 0 ] || ! unshare -m true 2>/dev/null; then
  echo "readonly-smoke: SKIP: needs root and unshare -m (private mount namespace)" >&2
  exit 0
fi
ls "$SRC"/format/*.fmt >/dev/null 2>&1 || { echo "readonly-smoke: no format in $SRC (run make setup)" >&2; exit 1; }
mkdir -p "$PWD/target"
# The run sees only the checkout (bind-mounted below): a binary built elsewhere
# (CARGO_TARGET_DIR outside the clone) is copied in.
case "$BIN" in "$PWD"/*) ;; *) mkdir -p "$PWD/target/smoke"; cp "$BIN" "$PWD/target/smoke/reportq"; BIN=$PWD/target/smoke/reportq ;; esac

# (Copied again when the bundle or its set of formats changed: setup builds one per preamble.)
if [ "$(cat "$IMG/SHA256SUM" 2>/dev/null)" != "$(cat "$SRC/SHA256SUM")" ] || [ "$(ls "$IMG/format" 2>/dev/null)" != "$(ls "$SRC/format")" ]; then
  rm -rf "$IMG"; cp -a "$SRC" "$IMG.tmp"; mv "$IMG.tmp" "$IMG"
fi
chmod -R a+rX,go-w "$IMG"
chmod a+rx "$PWD" "$PWD/target"

mkdir -p /mnt
out=$(unshare -m --propagation private bash -s "$PWD" "${BIN#"$PWD"/}" <<'INNER'
set -euo pipefail
REPO=$1
# The checkout may itself live under /tmp (CI clones there), which the fresh /tmp below would
# hide: reach it through a bind mount at /mnt instead (this namespace only).
mount --bind "$REPO" /mnt
BIN=/mnt/$2 IMG=/mnt/target/image-bundle REQ=/mnt/examples/diagram.json
# Every mount read-only (this namespace only), then a fresh /tmp: the only writable place.
findmnt -rno TARGET | grep -Ev '^/(proc|sys|dev)(/|$)' | while read -r m; do
  mount -o remount,bind,ro "$m" 2>/dev/null || true
done
mount -t tmpfs -o mode=1777,size=512m tmpfs /tmp
if touch /readonly-probe 2>/dev/null || touch "$IMG/format/probe" 2>/dev/null; then
  echo "readonly-smoke: the filesystem is still writable" >&2; exit 1
fi
run() {
  setpriv --reuid=65534 --regid=65534 --clear-groups \
    env -i PATH=/usr/bin:/bin HOME=/nonexistent TMPDIR=/tmp REPORTQ_TEX_BUNDLE="$IMG" \
    "$BIN" render "$REQ" -o /tmp/out.pdf --epoch 1700000000
}
start=$(date +%s%N)
run
ms=$(( ($(date +%s%N) - start) / 1000000 ))
head -c 5 /tmp/out.pdf | grep -q '%PDF-' || { echo "readonly-smoke: no PDF" >&2; exit 1; }
rm /tmp/out.pdf
# (The renderer's one file there, kept for the process's life: its children's empty font
# configuration, so no system font is looked up.)
left=$(find /tmp -mindepth 1 ! -name 'reportq-fonts-*.conf' | head -5)
[ -z "$left" ] || { echo "readonly-smoke: left behind in /tmp: $left" >&2; exit 1; }
# A TeX child must not read its parent's environment (on Lambda: the AWS credentials), even
# where Landlock is missing: the parent is non-dumpable. A wrapper run as the TeX child, before
# the child confines itself, tries what Tectonic would do for \input{/proc/<ppid>/environ}.
cat > /tmp/probe-child <<PROBE
#!/bin/sh
if tr '\\0' '\\n' < /proc/\$PPID/environ 2>/dev/null | grep -q '^RQ_SECRET='; then : > /tmp/leaked; fi
exec $BIN "\$@"
PROBE
chmod 755 /tmp/probe-child
setpriv --reuid=65534 --regid=65534 --clear-groups \
  env -i PATH=/usr/bin:/bin HOME=/nonexistent TMPDIR=/tmp REPORTQ_TEX_BUNDLE="$IMG" \
  REPORTQ_TEX_CHILD=/tmp/probe-child RQ_SECRET=s3cr3t \
  "$BIN" render "$REQ" -o /tmp/out.pdf --epoch 1700000000
head -c 5 /tmp/out.pdf | grep -q '%PDF-' || { echo "readonly-smoke: no PDF through the probe child" >&2; exit 1; }
if [ -e /tmp/leaked ]; then echo "readonly-smoke: a TeX child read its parent's environment" >&2; exit 1; fi
echo "$ms"
INNER
)
echo "readonly-smoke: ok: rendered examples/diagram.json as uid 65534 on a read-only filesystem with only /tmp writable, nothing left in /tmp (${out} ms)" >&2
