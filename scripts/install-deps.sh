#!/usr/bin/env bash
# Installs the Debian packages reportq needs to build and test (the TeX packages come with
# scripts/tex-bundle.sh). Only what is missing is installed; a no-op on a ready machine.
set -euo pipefail
PKGS=(pkg-config libfontconfig1-dev libharfbuzz-dev libicu-dev libgraphite2-dev libfreetype-dev
      libpng-dev zlib1g-dev poppler-utils
      # PDFBox Preflight: the second PDF/A-1b opinion in the tests.
      libpdfbox2-java libactivation-java libjaxb-api-java)
command -v java >/dev/null || PKGS+=(default-jre-headless)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
