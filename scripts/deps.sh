#!/bin/sh
# Install the Debian packages ponder needs, if any is missing.
# Used by `make demo` and `make test`; goes through sudo when not root.
set -e
PKGS="build-essential pkg-config libpcre2-dev libutf8proc-dev libjansson-dev libcurl4-openssl-dev libmicrohttpd-dev libgmp-dev libyaml-dev chromium"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "ponder: installing missing Debian packages:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq $missing
