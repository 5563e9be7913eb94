#!/usr/bin/env bash
# Build the offline base image: Debian bookworm's own Python 3.11, from Debian packages.
#
#   deploy/container/build-base-image.sh [IMAGE]        (default: credit-risk-base:bookworm)
#
# For machines that reach the Debian mirror and PyPI but no container registry
# (CI is one): no base image can be pulled, so one is bootstrapped with
# debootstrap and imported. It carries what BentoML's generated Dockerfile needs
# from its base: Python of the build host's major.minor (3.11), bash, useradd and
# groupadd (passwd), pip to install uv, apt-get; and it trusts the certificate
# authorities this host trusts beyond the defaults, so pip and uv get through a
# TLS-intercepting proxy inside `docker build`. Use it with
#   bentoml containerize credit_risk_classifier:latest --opt build-arg=BASE_IMAGE=IMAGE
# The build is skipped when IMAGE exists and was built from the same inputs
# (this script and those certificates). Needs root, debootstrap and an engine.
# DEBIAN_MIRROR overrides debootstrap's default mirror.
set -euo pipefail

image=${1:-credit-risk-base:bookworm}
readonly suite=bookworm
readonly packages=python3,python3-venv,python3-pip,ca-certificates,passwd
readonly extra_cas=/usr/local/share/ca-certificates
readonly inputs_label=credit-risk.base.inputs

say() { echo "[base] $*"; }

inputs=$(
    {
        cat "$0"
        find "$extra_cas" -type f -name '*.crt' -print0 2>/dev/null | sort -z | xargs -0r cat
    } | sha256sum | cut -c1-16
)
current=$(docker image inspect -f "{{ index .Config.Labels \"$inputs_label\" }}" "$image" 2>/dev/null || true)
if [ "$current" = "$inputs" ]; then
    say "$image is up to date; not rebuilding"
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v debootstrap >/dev/null; then
    say "building $image needs root and debootstrap (see scripts/ensure-engine.sh)" >&2
    exit 3
fi

started=$SECONDS
rootfs=$(mktemp -d /var/tmp/credit-risk-base.XXXXXX)
trap 'rm -rf "$rootfs" "$rootfs.log"' EXIT
say "debootstrap --variant=minbase $suite (+ $packages)"
# shellcheck disable=SC2086  # DEBIAN_MIRROR is one optional word
if ! debootstrap --variant=minbase --include="$packages" "$suite" "$rootfs" \
    ${DEBIAN_MIRROR:-} >"$rootfs.log" 2>&1; then
    tail -n 30 "$rootfs.log" >&2
    exit 1
fi

if compgen -G "$extra_cas/*" >/dev/null; then
    say "trusting the host's extra certificate authorities: $(cd "$extra_cas" && echo *)"
    cp -r "$extra_cas/." "$rootfs/usr/local/share/ca-certificates/"
    chroot "$rootfs" update-ca-certificates >"$rootfs.log" 2>&1 || { cat "$rootfs.log" >&2; exit 1; }
fi

# What a slim image leaves out: package caches and lists, and documentation,
# manuals and translations, now and (dpkg path-exclude) for later installs.
cat >"$rootfs/etc/dpkg/dpkg.cfg.d/01-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CFG
rm -rf "$rootfs"/var/cache/apt/* "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/usr/share/{doc,man,info,locale}/* "$rootfs"/var/log/*.log

say "importing $(du -sh "$rootfs" | cut -f1) as $image"
old_id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
# PIP_BREAK_SYSTEM_PACKAGES: Debian marks its Python externally managed, and
# BentoML's Dockerfile pip-installs uv into it. SSL_CERT_FILE: uv otherwise
# trusts only its built-in roots, not the authorities added above.
tar --numeric-owner -C "$rootfs" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV PIP_BREAK_SYSTEM_PACKAGES=1' \
    --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change "LABEL $inputs_label=$inputs" \
    --change 'CMD ["bash"]' \
    - "$image" >/dev/null
if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$image")" ]; then
    docker image rm "$old_id" >/dev/null 2>&1 || true
fi
size=$(docker image inspect -f '{{.Size}}' "$image")
say "built $image ($((size / 1000000)) MB) in $((SECONDS - started)) s"
