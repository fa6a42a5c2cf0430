# Sourced by the image scripts (and the Makefile's image targets export the same): podman with
# this repository's settings, not /etc's.
_rq_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CONTAINERS_CONF=${CONTAINERS_CONF:-$_rq_root/infra/podman/containers.conf}
export CONTAINERS_STORAGE_CONF=${CONTAINERS_STORAGE_CONF:-$_rq_root/infra/podman/storage.conf}
unset _rq_root
