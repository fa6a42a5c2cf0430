#!/usr/bin/env bash
# Fuzzes the API with schemathesis, driven by reportq's own OpenAPI document: `reportq serve`
# and one `reportq worker` against a LocalStack of its own, every operation, positive and
# negative data, bounded by --max-examples and a time budget. The job and batch routes get the
# ids of a real rendered job and batch (schemathesis.toml, written below), so they are fuzzed
# past their 404s; the worker then also renders whatever the fuzzer submits.
# Authentication is on (REPORTQ_AUTH=keys, as deployed): the fuzzer sends a key made with
# `reportq keys create` holding every scope; webhooks are on (callbacks are checked).
# Fails on any 5xx, on any response that does not match the document, and on any request the
# document refuses that the server takes (negative_data_rejection). The other direction (what
# the document takes, the server takes) is tests/it/schemas.rs: DiAGRAM's rules that JSON
# Schema cannot state (percentages summing to 100) make schemathesis's positive check refuse
# every DiAGRAM route, so there a generator applies them.
#
#   scripts/fuzz-api.sh [MAX_EXAMPLES] [schemathesis options...]   (default 25 per operation,
#   at most 5 minutes; CI uses the defaults)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${REPORTQ_BIN:-target/release/reportq}
N=${1:-25}
VENV=$HOME/.cache/reportq/schemathesis-venv
STATE=$(mktemp -d)
pid= wpid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  [ -n "$wpid" ] && kill "$wpid" 2>/dev/null || true
  scripts/localstack.sh stop "$STATE/ls" || true
  rm -rf "$STATE"
}
trap cleanup EXIT

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q 4.32.5; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "schemathesis==4.32.5"
fi

eval "export $(scripts/localstack.sh start "$STATE/ls")"
export AWS_REGION=${AWS_REGION:-us-east-1} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
while IFS= read -r line; do export "$line"; done < <(scripts/localstack.sh init "$STATE/ls")
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export REPORTQ_LISTEN=127.0.0.1:$port REPORTQ_DIAGRAM_MODEL=$PWD/tests/fixtures/diagram-like.bif
# Short waits: the fuzzer must not sit 20 s on each /api/report/pdf with no worker running.
export REPORTQ_PDF_WAIT_SECS=1
export REPORTQ_AUTH=keys REPORTQ_WEBHOOK_SECRETS=$("$BIN" webhook secret)
key=$("$BIN" keys create --name fuzz --scopes submit,read,score 2>/dev/null)
"$BIN" serve >"$STATE/serve.log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "http://$REPORTQ_LISTEN/healthz" >/dev/null && break; sleep 0.1; done
"$BIN" worker >"$STATE/worker.log" 2>&1 &
wpid=$!

api=http://$REPORTQ_LISTEN
field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
post() { curl -fsS -X POST -H 'content-type: application/json' -H "authorization: Bearer $key" --data-binary @- "$api$1"; }
job=$(post /v1/reports < examples/summary.json | field job_id)
batch=$( (printf '{"requests": ['; cat examples/summary.json; printf ']}') | post /v1/reports/batch | field batch_id)
for _ in $(seq 120); do
  status=$(curl -fsS -H "authorization: Bearer $key" "$api/v1/reports/$job" | field status)
  [ "$status" = queued ] || [ "$status" = running ] || break
  sleep 0.5
done
[ "$status" = succeeded ] || { echo "fuzz-api: the seed job ended $status; worker log:"; tail -20 "$STATE/worker.log"; exit 1; }
cat > "$STATE/schemathesis.toml" <<TOML
# negative_data_rejection: what the document refuses, the server refuses. A body over the
# route's size limit is refused for its size (413) before its fields are read.
[checks.negative_data_rejection]
expected-statuses = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]

[[operations]]
include-name = "GET /v1/reports/{id}"
parameters = { id = "$job" }

[[operations]]
include-name = "GET /v1/reports/{id}/pdf"
parameters = { id = "$job" }

[[operations]]
include-name = "GET /v1/batches/{id}"
parameters = { id = "$batch" }
TOML

# From the scratch folder: schemathesis keeps its cache in the working directory, and reads
# schemathesis.toml from there.
# The hooks module teaches schemathesis to send application/pdf bodies (the verify route).
(cd "$STATE" && PYTHONPATH="$OLDPWD/scripts" SCHEMATHESIS_HOOKS=schemathesis_hooks "$VENV/bin/schemathesis" run "http://$REPORTQ_LISTEN/openapi.json" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection \
  --max-examples "$N" --seed 20261125 --max-time 300 --phases examples,coverage,fuzzing --request-timeout 30 --workers 1 \
  --suppress-health-check all --no-shrink --header "Authorization: Bearer $key" "${@:2}") || { echo "fuzz-api: failures above; server log:"; tail -40 "$STATE/serve.log"; exit 1; }
