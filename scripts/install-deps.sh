#!/usr/bin/env bash
# Installs, with apt-get, exactly the Debian packages tether needs that are
# missing on this machine. Run as root (make run / make test call it).
# Usage: scripts/install-deps.sh [--bench]   (--bench adds wrk, php-fpm, php-redis)
set -euo pipefail

pkgs=(
  build-essential pkg-config
  libfcgi-dev libfcgi-bin          # FastCGI server library; cgi-fcgi for tests
  libhiredis-dev                   # Redis client
  libsodium-dev                    # session token crypto
  nlohmann-json3-dev               # configuration and JSON
  libgtest-dev                     # unit tests
  libkainjow-mustache-dev          # templates (mustache)
  libcurl4-openssl-dev             # outgoing HTTP: workflow steps
  libre2-dev                       # linear-time regular expressions (cache invalidation)
  clang libclang-rt-14-dev         # libFuzzer targets (make fuzz)
  nginx redis-server supervisor
  curl python3 procps iproute2     # integration tests: HTTP client, raw sockets, ps, ip netns
  chromium                         # integration test of the admin page (headless)
)
if [ "${1:-}" = "--bench" ]; then
  pkgs+=(wrk php-fpm php-redis)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: need root to install: ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# policy-rc.d stops Debian's postinst from starting system nginx/redis services:
# tether starts its own private instances.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1
fi
trap '[ $created_policy -eq 1 ] && rm -f "$policy"' EXIT
apt-get install -y -q --no-install-recommends "${missing[@]}"
