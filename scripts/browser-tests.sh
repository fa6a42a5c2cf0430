#!/usr/bin/env bash
# The browser tests (tests/browser): headless Debian Chromium driven by selenium, against
# LocalStack, two `reportq serve`, a `reportq worker` and a static page server, each on its own
# loopback origin. Installs what it needs first (scripts/install-browser-tests.sh).
# Screenshots of failed tests: target/browser-artifacts/.
#
#   scripts/browser-tests.sh [pytest options...]
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${REPORTQ_BROWSER_VENV:-$HOME/.cache/reportq/browser-venv}
scripts/install-browser-tests.sh "$VENV"
export REPORTQ_BIN=${REPORTQ_BIN:-$PWD/target/release/reportq}
rm -rf target/browser-artifacts
exec "$VENV/bin/pytest" -q -p no:cacheprovider tests/browser "$@"
