#!/usr/bin/env bash
# Installs what `make image` and `make image-test` need to build and run the Lambda images
# without a Docker engine: Debian's podman (buildah 1.28 inside), runc (crun refuses hybrid
# cgroup hosts), catatonit (`podman run --init`) and mmdebstrap (the local Debian 12 base,
# scripts/base-images.sh). Only what is missing is installed; a no-op on a ready machine.
# Nothing in /etc is changed: the Makefile and scripts point podman at infra/podman/ through
# CONTAINERS_CONF and CONTAINERS_STORAGE_CONF (scripts/podman-env.sh).
set -euo pipefail
"$(dirname "$0")/apt-ensure.sh" install-podman podman runc catatonit mmdebstrap ca-certificates
