#!/usr/bin/env bash
# Stop the dockerd that scripts/ensure-engine.sh started, by the PID it recorded.
#
#   scripts/stop-engine.sh PIDFILE
#
# No PIDFILE means ensure-engine.sh found an engine already running, which is not
# ours to stop. The PID is only signalled while it still names a dockerd, so a
# recycled PID is never hit.
set -euo pipefail

pidfile=${1:?usage: scripts/stop-engine.sh PIDFILE}
readonly stop_timeout_s=60

say() { echo "[engine] $*"; }

# Running, and still a dockerd: a zombie waiting for its reaper counts as gone.
is_our_dockerd() {
    [ "$(cat "/proc/$1/comm" 2>/dev/null)" = dockerd ] &&
        [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

if [ ! -f "$pidfile" ]; then
    say "no engine was started for this run; nothing to stop"
    exit 0
fi
pid=$(cat "$pidfile")
if ! is_our_dockerd "$pid"; then
    say "dockerd PID $pid already gone"
    rm -f "$pidfile"
    exit 0
fi

# SIGTERM lets dockerd stop its containers and its containerd before exiting.
kill -TERM "$pid"
started=$SECONDS
while is_our_dockerd "$pid"; do
    if ((SECONDS - started > stop_timeout_s)); then
        say "dockerd PID $pid still running after ${stop_timeout_s} s; killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        break
    fi
    sleep 0.2
done
rm -f "$pidfile"
say "stopped dockerd PID $pid"
