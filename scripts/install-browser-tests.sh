#!/usr/bin/env bash
# Installs what the browser tests (tests/browser) need: Debian's Chromium and its matching
# chromedriver (never a downloaded browser build), and a venv with selenium, pytest and
# jsonschema and prometheus-client (its text-format parser reads /metrics), pinned (selenium 4.51: 4.52 needs a certifi newer than the registry mirror has). Idempotent: a stamp keyed on this script skips the venv when it is done.
#
#   scripts/install-browser-tests.sh [VENV_DIR]     default ~/.cache/reportq/browser-venv
set -euo pipefail
VENV=${1:-${REPORTQ_BROWSER_VENV:-$HOME/.cache/reportq/browser-venv}}
"$(dirname "$0")/apt-ensure.sh" install-browser-tests chromium chromium-driver

stamp_key=$(sha256sum "$0" | cut -c1-16)
if [ -f "$VENV/.stamp" ] && [ "$(cat "$VENV/.stamp")" = "$stamp_key" ] && [ -x "$VENV/bin/pytest" ]; then
  exit 0
fi
rm -rf "$VENV"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --disable-pip-version-check "selenium==4.51.0" "pytest==9.2.0" "jsonschema==4.26.0" "prometheus-client==0.26.0"
echo "$stamp_key" > "$VENV/.stamp"
