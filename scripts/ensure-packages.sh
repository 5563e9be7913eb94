#!/usr/bin/env bash
# Make a tool that some tests need available, installing Debian's packages for it when missing.
#
#   scripts/ensure-packages.sh NAME CHECK PACKAGE...
#
# CHECK is a shell command that succeeds when the tool is there; then nothing is
# installed. Otherwise (root only) PACKAGE... are installed with apt-get, without
# recommends, and CHECK must succeed afterwards. CI machines start without these
# tools; a developer without root gets exit code 3 and the packages to install.
# The callers:
#   make browser      chromium, chromium-driver, fonts-dejavu-core (tests/e2e/test_webapp.py)
#   make spark-java   openjdk-17-jre-headless (the Spark test of score.py)
#   make haproxy      haproxy (tests/deploy/test_replicas.py)
#   make prometheus   prometheus (tests/deploy/test_monitoring_rules.py, tests/e2e/test_prometheus.py)
set -euo pipefail

name=${1:?usage: scripts/ensure-packages.sh NAME CHECK PACKAGE...}
check=${2:?usage: scripts/ensure-packages.sh NAME CHECK PACKAGE...}
shift 2
(($#)) || { echo "usage: scripts/ensure-packages.sh NAME CHECK PACKAGE..." >&2; exit 2; }

say() { echo "[$name] $*"; }

if bash -c "$check" >/dev/null 2>&1; then
    say "already installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
    say "missing; installing it needs root and apt-get: apt-get install $*" >&2
    exit 3
fi
say "installing $* from Debian packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
if ! bash -c "$check" >/dev/null 2>&1; then
    say "installed $*, but the check still fails: $check" >&2
    exit 1
fi
say "installed"
