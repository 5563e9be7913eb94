#!/usr/bin/env bash
# Make Debian's Chromium and its WebDriver available to tests/test_webapp.py.
#
#   tests/browser/ensure-chromium.sh
#
# If /usr/bin/chromium and /usr/bin/chromedriver are there, nothing happens.
# Otherwise (root only) it installs Debian's chromium and chromium-driver, with
# a font so that screenshots show text. The tests never download a browser:
# without these packages they skip, and under CI they fail.
set -euo pipefail

say() { echo "[browser] $*"; }

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    say "chromium and chromedriver are installed"
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    say "chromium or chromedriver is missing, and installing them needs root" >&2
    exit 3
fi
if ! command -v apt-get >/dev/null; then
    say "chromium or chromedriver is missing and there is no apt-get to install them" >&2
    exit 3
fi
say "installing chromium, chromium-driver and fonts-dejavu-core from Debian packages"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
say "installed: $(/usr/bin/chromium --version 2>/dev/null || echo chromium)"
