#!/usr/bin/env bash
# Run a command with a Docker engine reachable, and stop the engine afterwards if
# this script started it, whatever the command's outcome.
#
#   scripts/with-engine.sh COMMAND [ARGS...]
#
# e.g. scripts/with-engine.sh deploy/container/build-base-image.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=$(mktemp -d "${TMPDIR:-/tmp}/credit-risk-engine.XXXXXX")
pidfile=$state/dockerd.pid

# Stops only a dockerd whose PID ensure-engine.sh wrote, i.e. one it started.
cleanup() {
    "$here/stop-engine.sh" "$pidfile" || true
    rm -rf "$state"
}
trap cleanup EXIT
"$here/ensure-engine.sh" "$pidfile"
"$@"
