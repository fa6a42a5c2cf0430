#!/usr/bin/env bash
# Runs LocalStack (S3, SQS, Secrets Manager and KMS) on the host, without Docker, as localstack-on-host.md describes.
#
#   scripts/localstack.sh start [STATE_DIR]   start on a free 127.0.0.1 port (or $LOCALSTACK_PORT),
#                                             wait until S3 and SQS run, print AWS_ENDPOINT_URL=...
#   scripts/localstack.sh init  [STATE_DIR]   create the bucket and queues (infra/localstack's init
#                                             script), print REPORTQ_* settings
#   scripts/localstack.sh stop  [STATE_DIR]   stop it
#
# STATE_DIR (default ~/.cache/reportq/localstack-run) holds the pid, the endpoint, the log and
# LocalStack's FILESYSTEM_ROOT. Installs LocalStack first if needed (scripts/install-localstack.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:-}
STATE=${2:-${REPORTQ_LOCALSTACK_STATE:-$HOME/.cache/reportq/localstack-run}}
VENV=${REPORTQ_LOCALSTACK_VENV:-$HOME/.cache/reportq/localstack-venv}
CACHE=$HOME/.cache/reportq/localstack-cache

running() { [ -f "$STATE/pid" ] && kill -0 "$(cat "$STATE/pid")" 2>/dev/null; }
healthy() {
  "$VENV/bin/python" - "$1" <<'PY' 2>/dev/null
import json, sys, urllib.request
h = json.load(urllib.request.urlopen(sys.argv[1] + "/_localstack/health", timeout=2))["services"]
sys.exit(0 if h.get("s3") == "running" and h.get("sqs") == "running" else 1)
PY
}

case "$cmd" in
start)
  scripts/install-localstack.sh "$VENV"
  if running; then echo "AWS_ENDPOINT_URL=$(cat "$STATE/endpoint")"; exit 0; fi
  rm -rf "$STATE"; mkdir -p "$STATE/root/var/lib/localstack/cache"
  # LocalStack builds a service catalogue on its first start (seconds); keep it between runs.
  cp "$CACHE"/service-catalog* "$STATE/root/var/lib/localstack/cache/" 2>/dev/null || true
  port=${LOCALSTACK_PORT:-$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
  endpoint="http://127.0.0.1:$port"
  # OVERRIDE_IN_DOCKER/DNS_ADDRESS: this host looks like a container to LocalStack, which
  # would then write outside its folder and take port 53. S3_SKIP_SIGNATURE_VALIDATION=0: check
  # presigned URLs as S3 does.
  env OVERRIDE_IN_DOCKER=0 DNS_ADDRESS=0 GATEWAY_LISTEN="127.0.0.1:$port" LOCALSTACK_HOST="127.0.0.1:$port" \
      SERVICES=s3,sqs,secretsmanager,kms EAGER_SERVICE_LOADING=1 S3_SKIP_SIGNATURE_VALIDATION=0 SQS_ENDPOINT_STRATEGY=path \
      DISABLE_EVENTS=1 SKIP_SSL_CERT_DOWNLOAD=1 FILESYSTEM_ROOT="$STATE/root" \
      nohup "$VENV/bin/python" -m localstack.runtime.main >"$STATE/localstack.log" 2>&1 </dev/null &
  echo $! >"$STATE/pid"
  echo "$endpoint" >"$STATE/endpoint"
  for _ in $(seq 600); do
    if healthy "$endpoint"; then
      mkdir -p "$CACHE"; cp -n "$STATE/root/var/lib/localstack/cache"/service-catalog* "$CACHE/" 2>/dev/null || true
      echo "AWS_ENDPOINT_URL=$endpoint"; exit 0
    fi
    running || break
    sleep 0.1
  done
  echo "localstack.sh: LocalStack did not start; log:" >&2; tail -30 "$STATE/localstack.log" >&2
  exit 1
  ;;
init)
  endpoint=$(cat "$STATE/endpoint")
  AWS_ENDPOINT_URL=$endpoint AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-test} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-test} \
    AWS_REGION=${AWS_REGION:-us-east-1} "$VENV/bin/python" infra/localstack/init/ready.d/reportq-init.py
  ;;
stop)
  if running; then
    pid=$(cat "$STATE/pid"); kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/pid"
  ;;
*)
  echo "usage: $0 start|init|stop [STATE_DIR]" >&2; exit 2 ;;
esac
