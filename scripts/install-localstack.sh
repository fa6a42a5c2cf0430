#!/usr/bin/env bash
# Installs LocalStack (S3 + SQS emulator) on the host, without Docker, into a venv:
#
#   scripts/install-localstack.sh [VENV_DIR]
#
# VENV_DIR defaults to $REPORTQ_LOCALSTACK_VENV, else ~/.cache/reportq/localstack-venv; tests
# and scripts/localstack.sh look there. Idempotent: a stamp keyed on this script skips the
# install when it is already done (well under a second).
#
# Why these pins: the `localstack` package on PyPI is only the Docker CLI; the runtime is
# `localstack-core`. 4.13.1 is the newest that runs on Python 3.11, and an unpinned resolve
# picks dependency versions that break it (cbor2 6, pyOpenSSL 26), so resolution is frozen at
# a date known to work. Without `moto-ext` the S3/SQS providers do not import.
set -euo pipefail

VENV=${1:-${REPORTQ_LOCALSTACK_VENV:-$HOME/.cache/reportq/localstack-venv}}
LOCALSTACK_VERSION=4.13.1
RESOLVED_BEFORE=2026-02-03T00:00:00Z

stamp_key=$(sha256sum "$0" | cut -c1-16)
if [ -f "$VENV/.stamp" ] && [ "$(cat "$VENV/.stamp")" = "$stamp_key" ] && [ -x "$VENV/bin/python" ]; then
  exit 0
fi

# Debian's 3.11 first: LocalStack needs a Python with venv and the stdlib's sqlite3/ssl.
PY=${REPORTQ_PYTHON:-}
if [ -z "$PY" ]; then
  for c in /usr/bin/python3.11 python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      PY=$c; break
    fi
  done
fi
if [ -z "$PY" ]; then
  if command -v apt-get >/dev/null && [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3.11 python3.11-venv >/dev/null
    PY=/usr/bin/python3.11
  else
    echo "install-localstack: needs Python 3.11 with venv (apt-get install python3.11-venv)" >&2
    exit 1
  fi
fi

start=$(date +%s)
echo "install-localstack: installing localstack-core $LOCALSTACK_VERSION into $VENV" >&2
tmp="$VENV.tmp.$$"
rm -rf "$tmp"
"$PY" -m venv "$tmp"
# --uploaded-prior-to needs pip >= 26.1.
"$tmp/bin/python" -m pip install -q --disable-pip-version-check --upgrade "pip>=26.1"
"$tmp/bin/python" -m pip install -q --disable-pip-version-check \
  --uploaded-prior-to "$RESOLVED_BEFORE" \
  "localstack-core[base-runtime]==$LOCALSTACK_VERSION" moto-ext
"$tmp/bin/python" -c 'import localstack.runtime.main, moto.core' 
# A venv records its own path in its scripts: build it at the final path's name.
rm -rf "$VENV"
mv "$tmp" "$VENV"
# Scripts in bin/ hold the temp path in their shebang; we only ever run `bin/python -m`.
echo "$stamp_key" > "$VENV/.stamp"
echo "install-localstack: done in $(( $(date +%s) - start )) s" >&2
