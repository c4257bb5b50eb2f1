#!/usr/bin/env bash
# Installs Debian's redis-server when it is missing: the tests that share
# topics between nodes start their own instances of it (tests/common/redis.rs).
# Works unattended (CI=true, no terminal).
set -euo pipefail
command -v redis-server >/dev/null && exit 0
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
echo "test: installing redis-server (apt-get)"
export DEBIAN_FRONTEND=noninteractive
as_root apt-get update
as_root apt-get install -y redis-server
