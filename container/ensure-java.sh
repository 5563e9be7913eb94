#!/usr/bin/env bash
# Make Java 17 available for Spark (score.py --spark and its test), installing it when missing.
#
#   container/ensure-java.sh
#
# Only the Spark path needs Java: nothing else calls this. If `java -version`
# already reports 17 or later, nothing is installed. Otherwise (root only) it
# installs Debian's openjdk-17-jre-headless, as CI on a fresh machine needs.
set -euo pipefail

say() { echo "[java] $*"; }

version() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }

if command -v java >/dev/null && [ "$(version)" -ge 17 ] 2>/dev/null; then
    say "java $(version) is installed; nothing to do"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    say "Spark needs Java 17: apt-get install openjdk-17-jre-headless (as root)" >&2
    exit 3
fi
if ! command -v apt-get >/dev/null; then
    say "Java 17 is missing and there is no apt-get to install it" >&2
    exit 3
fi
say "installing openjdk-17-jre-headless from Debian packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
say "java $(version) installed"
