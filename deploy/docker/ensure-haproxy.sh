#!/usr/bin/env bash
# Make HAProxy available: Debian's package, installed (as root) when it is missing.
#
#   deploy/docker/ensure-haproxy.sh
#
# tests/test_replicas.py runs it first; CI machines start without HAProxy.
set -euo pipefail

say() { echo "[haproxy] $*"; }

if command -v haproxy >/dev/null; then
    say "$(haproxy -v | head -n 1)"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    say "haproxy is missing, and installing it needs root and apt-get" >&2
    exit 3
fi
say "installing haproxy from Debian packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends haproxy >/dev/null
say "$(haproxy -v | head -n 1)"
