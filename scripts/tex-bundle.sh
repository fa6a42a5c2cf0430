#!/usr/bin/env bash
# Builds reportq's offline TeX bundle from Debian's TeX Live packages, then pre-generates the
# format files (LaTeX's and one per template preamble: `reportq setup`) so that no render ever
# downloads anything or pays ~3 s for a format.
#
#   scripts/tex-bundle.sh [BUNDLE_DIR]
#
# BUNDLE_DIR defaults to $REPORTQ_TEX_BUNDLE, else ~/.cache/reportq/tex-bundle (the same
# default the binary uses). Tectonic's DirBundle resolves every file by its bare name, so the
# bundle is one flat folder; the format lives in BUNDLE_DIR/format. Set REPORTQ_BIN to the
# reportq binary to generate the format (the Makefile and Dockerfile do); without it only the
# files are assembled. Idempotent: a stamp keyed on this script and the TeX Live version skips
# work that is already done.
set -euo pipefail

BUNDLE=${1:-${REPORTQ_TEX_BUNDLE:-$HOME/.cache/reportq/tex-bundle}}
PKGS=(texlive-latex-base texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended
      texlive-xetex lmodern fonts-lmodern fonts-dejavu-core fonts-dejavu-extra
      fonts-wqy-microhei fonts-symbola)

"$(dirname "$0")/apt-ensure.sh" tex-bundle "${PKGS[@]}"

stamp_key=$( (cat "$0"; dpkg-query -W -f='${Version}\n' "${PKGS[@]}") | sha256sum | cut -c1-16)
if [ -f "$BUNDLE/.stamp" ] && [ "$(cat "$BUNDLE/.stamp")" = "$stamp_key" ]; then
  echo "tex-bundle: $BUNDLE is up to date" >&2
else
  start=$(date +%s)
  tmp="$BUNDLE.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp"
  TL=/usr/share/texlive/texmf-dist
  LOCAL=/usr/share/texmf
  # First source wins on a name clash (a flat bundle has one file per name): TeX Live's own
  # tree first, then Debian's additions.
  sources=(
    "$TL/tex/xelatex" "$TL/tex/xetex" "$TL/tex/latex" "$TL/tex/plain" "$TL/tex/generic"
    "$LOCAL/tex/latex" /var/lib/texmf/fonts/map
  )
  for d in map enc opentype truetype tfm vf type1 misc cmap; do
    sources+=("$TL/fonts/$d" "$LOCAL/fonts/$d")
  done
  # DejaVu is the main font; WenQuanYi Micro Hei (CJK, Hangul) and Symbola (emoji, symbols) cover the rest.
  sources+=(/usr/share/fonts/truetype/dejavu /usr/share/fonts/truetype/wqy /usr/share/fonts/truetype/ancient-scripts)
  for src in "${sources[@]}"; do
    [ -d "$src" ] || continue
    # cp -n keeps the first file of a name; -L follows Debian's symlinks into /etc and /usr.
    find -L "$src" -type f \
      ! -name '*.lua' ! -name '*.mf' ! -name '*.pl' ! -name '*.afm' ! -name '*.pk' \
      ! -name '*.ps' ! -name '*.pdf' ! -name '*.log' ! -name '*.fmt' ! -name 'ls-R' \
      ! -path '*/doc/*' -print0 | xargs -0 -r cp -n -L -t "$tmp" 2>/dev/null || true
  done
  # What Tectonic reads to build the format when a session's format is named "latex".
  echo '\input xelatex.ini' > "$tmp/tectonic-format-latex.tex"
  # SHA256SUM keys the cached format: recompute it from the contents every time they change.
  (cd "$tmp" && find . -maxdepth 1 -type f ! -name SHA256SUM -printf '%f\n' | LC_ALL=C sort \
     | xargs sha256sum | sha256sum | cut -c1-64) > "$tmp/SHA256SUM"
  echo "$stamp_key" > "$tmp/.stamp"
  rm -rf "$BUNDLE"; mv "$tmp" "$BUNDLE"
  echo "tex-bundle: $(find "$BUNDLE" -maxdepth 1 -type f | wc -l) files, $(du -sh "$BUNDLE" | cut -f1) in $BUNDLE ($(( $(date +%s) - start )) s)" >&2
fi

if [ -n "${REPORTQ_BIN:-}" ]; then
  REPORTQ_TEX_BUNDLE="$BUNDLE" "$REPORTQ_BIN" setup
else
  echo "tex-bundle: REPORTQ_BIN not set: format not generated (run 'reportq setup')" >&2
fi
