#!/usr/bin/env bash
# Installs the Debian packages reportq needs to build and test (the TeX packages come with
# scripts/tex-bundle.sh). Only what is missing is installed; a no-op on a ready machine.
set -euo pipefail
PKGS=(pkg-config libfontconfig1-dev libharfbuzz-dev libicu-dev libgraphite2-dev libfreetype-dev
      libpng-dev zlib1g-dev poppler-utils
      # PDFBox Preflight: the second PDF/A-1b opinion in the tests.
      libpdfbox2-java libactivation-java libjaxb-api-java)
command -v java >/dev/null || PKGS+=(default-jre-headless)
"$(dirname "$0")/apt-ensure.sh" install-deps "${PKGS[@]}"
