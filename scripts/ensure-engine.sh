#!/usr/bin/env bash
# Make a Docker engine reachable, starting one only when none answers.
#
#   scripts/ensure-engine.sh PIDFILE
#
# If `docker info` already works, nothing is started and PIDFILE is not written:
# an engine someone else runs is never ours to stop. Otherwise (root only) it
# installs Debian's docker.io, and debootstrap for the offline base image, when
# they are missing, starts `dockerd --storage-driver=overlay2` in the background,
# writes that PID to PIDFILE (its log goes beside it, *.log) and waits until the
# engine answers. scripts/stop-engine.sh PIDFILE stops it again, by that PID.
set -euo pipefail

pidfile=${1:?usage: scripts/ensure-engine.sh PIDFILE}
log=${pidfile%.pid}.log
readonly start_timeout_s=60

say() { echo "[engine] $*"; }

if docker info >/dev/null 2>&1; then
    say "a Docker engine is already running; using it, not starting one"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    say "no Docker engine is reachable, and starting one needs root" >&2
    exit 3
fi

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v docker >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null; then
        say "${missing[*]} missing and no apt-get to install them" >&2
        exit 3
    fi
    say "installing $(printf '%s\n' "${missing[@]}" | sort -u | xargs) from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Recommends (git, apparmor, needrestart...) are not needed to build and run images.
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    # On a machine with an init system the package starts its own engine: use that.
    if docker info >/dev/null 2>&1; then
        say "the docker.io package started an engine; using it, not starting one"
        exit 0
    fi
fi

mkdir -p "$(dirname "$pidfile")"
say "starting dockerd --storage-driver=overlay2 (log: $log)"
# stdin/stdout/stderr are detached so a caller capturing our output does not
# wait for dockerd to close them.
dockerd --storage-driver=overlay2 </dev/null >"$log" 2>&1 &
pid=$!
echo "$pid" >"$pidfile"

started=$SECONDS
while ! docker info >/dev/null 2>&1; do
    if ! kill -0 "$pid" 2>/dev/null; then
        say "dockerd exited during start-up; last lines of $log:" >&2
        tail -n 20 "$log" >&2
        rm -f "$pidfile"
        exit 1
    fi
    if ((SECONDS - started > start_timeout_s)); then
        say "dockerd not answering after ${start_timeout_s} s; stopping it" >&2
        "$(dirname "$0")/stop-engine.sh" "$pidfile"
        exit 1
    fi
    sleep 0.2
done
say "engine ready in $((SECONDS - started)) s, dockerd PID $pid"
