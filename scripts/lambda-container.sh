#!/usr/bin/env bash
# Runs a Lambda image (`make image`) the way AWS Lambda runs it, in the foreground, as the
# function process of a Runtime API (tests/it/image.rs hands this script to
# tests/it/common/lambda_rt.rs in place of a binary):
#
#   scripts/lambda-container.sh IMAGE [PODMAN_RUN_OPTION...] [-- COMMAND [ARG...]]
#
# (A COMMAND replaces the image's CMD: e.g. `--entrypoint reportq ... -- render ...`.)
#
# What Lambda gives a function, as podman can give it: a read-only root with only /tmp
# writable (512 MB), an unprivileged user, no capabilities, the memory the function is
# configured with (AWS_LAMBDA_FUNCTION_MEMORY_SIZE), and a seccomp filter that refuses prctl
# (EPERM) and has no Landlock (ENOSYS): infra/podman/lambda-seccomp.json. No-new-privileges is
# not set (Lambda does not set it). The host's network (--network host): the Runtime API and
# LocalStack are on 127.0.0.1.
#
# The environment: every AWS_* and REPORTQ_* variable of this script's own environment
# (AWS_LAMBDA_RUNTIME_API among them), plus the few Lambda always sets.
#
# Stopping: SIGTERM/SIGINT reach the function through podman's signal proxy and --init; a
# SIGKILL of this process (what the tests' Drop sends) cannot be forwarded, so a watcher in its
# own session removes the container (podman rm -f) as soon as this process is gone. The
# container's name: $LAMBDA_CONTAINER_NAME, else reportq-fn-<pid>.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/podman-env.sh
. scripts/podman-env.sh
[ $# -ge 1 ] || { echo "usage: $0 IMAGE [PODMAN_RUN_OPTION...] [-- COMMAND [ARG...]]" >&2; exit 2; }
image=$1; shift
opts=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
[ $# -eq 0 ] || shift
name=${LAMBDA_CONTAINER_NAME:-reportq-fn-$$}

envs=()
while IFS= read -r v; do
  case $v in AWS_*|REPORTQ_*) envs+=(-e "$v") ;; esac
done < <(compgen -e)
mem=()
[ -z "${AWS_LAMBDA_FUNCTION_MEMORY_SIZE:-}" ] || mem=(--memory "${AWS_LAMBDA_FUNCTION_MEMORY_SIZE}m" --memory-swap "${AWS_LAMBDA_FUNCTION_MEMORY_SIZE}m")

# A leftover of the same name (a watcher that had no time): gone first.
podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
me=$$
setsid bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 0.2; done; podman rm -f -t 0 "$2" >/dev/null 2>&1 || true' \
  watcher "$me" "$name" </dev/null >/dev/null 2>&1 &

# exec: the pid the watcher waits for becomes podman's, whose death ends the container.
exec podman run --rm --name "$name" --init --sig-proxy=true \
  --network host \
  --read-only --tmpfs /tmp:rw,size=512m,mode=1777 \
  --user 65534:65534 --cap-drop all \
  --security-opt seccomp="$PWD/infra/podman/lambda-seccomp.json" \
  "${mem[@]}" \
  -e TZ=:UTC -e LANG=en_US.UTF-8 -e LAMBDA_TASK_ROOT=/var/task -e LAMBDA_RUNTIME_DIR=/var/runtime \
  "${envs[@]}" \
  "${opts[@]}" "$image" "$@"
