#!/usr/bin/env bash
# Downloads DiAGRAM's own Bayesian network (model.bif) for reportq's scoring routes.
#
#   scripts/fetch-diagram-model.sh [DEST]      (default ~/.cache/reportq/diagram-model.bif)
#
# The file is NOT part of reportq and is never committed: it is under the University of
# Warwick's non-commercial licence. This script fetches one pinned version and checks it.
set -euo pipefail
COMMIT=309af7c360eb544df75a4087962c1636b96f7d77
FILE=api/src/inst/extdata/model/model.bif
SHA256=90121e8bd667a640c1d3b8d3e27f8026cbe9ce492bbcb8cc2c538b0d4387fa3d
SIZE=5377
DEST=${1:-$HOME/.cache/reportq/diagram-model.bif}
URL="https://raw.githubusercontent.com/nationalarchives/DiAGRAM/$COMMIT/$FILE"

cat >&2 <<TXT
DiAGRAM's model.bif (nationalarchives/DiAGRAM at $COMMIT) is licensed by the University of
Warwick for NON-COMMERCIAL use only; read the LICENSE file of that repository before use.
reportq does not redistribute it: this copy is yours, under those terms.
TXT

mkdir -p "$(dirname "$DEST")"
tmp="$DEST.partial.$$"
trap 'rm -f "$tmp"' EXIT
if ! curl -fsSL --max-time 60 -o "$tmp" "$URL"; then
  echo "fetch-diagram-model: could not download $URL" >&2
  exit 1
fi
got_size=$(stat -c %s "$tmp")
got_sha=$(sha256sum "$tmp" | cut -d' ' -f1)
if [ "$got_size" != "$SIZE" ] || [ "$got_sha" != "$SHA256" ]; then
  echo "fetch-diagram-model: checksum mismatch (got $got_size bytes, sha256 $got_sha; want $SIZE, $SHA256)" >&2
  exit 1
fi
mv "$tmp" "$DEST"
echo "fetch-diagram-model: saved $DEST (sha256 verified)" >&2
echo "export REPORTQ_DIAGRAM_MODEL=$DEST"
