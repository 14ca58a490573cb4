#!/bin/sh
# Installs every Debian package that building, testing and benchmarking vigil needs.
# Idempotent: installs only what is missing. As root it runs apt-get; otherwise it prints the
# apt-get line to run and exits 1 when something is missing.
set -eu

PACKAGES="
build-essential
cmake
pkg-config
curl
python3
libcurl4-openssl-dev
libyaml-dev
libjansson-dev
libcmocka-dev
prometheus
prometheus-node-exporter
prometheus-alertmanager
"

missing=""
for pkg in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    case "$status" in
        *" installed") ;;
        *) missing="$missing $pkg" ;;
    esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    echo "deps.sh: missing Debian packages:$missing" >&2
    echo "deps.sh: run: sudo apt-get install -y$missing" >&2
    exit 1
fi

echo "deps.sh: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Packages such as prometheus ship services; never start them from here.
apt-get install -y -qq --no-install-recommends $missing >/dev/null
