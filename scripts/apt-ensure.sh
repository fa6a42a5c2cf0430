#!/usr/bin/env bash
# Installs whichever of the named Debian packages are missing; a no-op when all are there, so
# the set-up scripts that call it stay cheap to rerun.
#
#   scripts/apt-ensure.sh TAG PKG...      TAG names the caller in the log line
set -euo pipefail
tag=$1; shift
missing=()
for p in "$@"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "$tag: installing ${missing[*]}" >&2
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
