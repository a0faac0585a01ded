#!/usr/bin/env bash
# make deb: a Debian package (dpkg-deb) of what `make install` installs, with
# PREFIX=/usr. postinst creates the system user `tether`, a key in
# /etc/tether/keys (0600, owned by tether) when there is none, and
# /run/tether (tmpfiles.d). The supervisor program stays disabled until the
# operator links it into /etc/supervisor/conf.d/ (README "Deploy on a server").
# Usage: scripts/make-deb.sh STAGE_DIR OUT_DIR VERSION   (run by the Makefile;
# DEB_COMPRESS=none|gzip|xz, default xz)
set -euo pipefail
stage=$1 out=$2 version=$3
arch=$(dpkg --print-architecture)
# Generated on the target, never shipped: each machine gets its own key.
rm -f "$stage/etc/tether/keys"
# Runtime dependencies: the package of each library tetherd and tetherctl link directly.
deps=$(for b in "$stage/usr/bin/tetherd" "$stage/usr/bin/tetherctl"; do
         objdump -p "$b" | awk '/NEEDED/ {print $2}'
       done | sort -u | while read -r so; do
         path=$(ldconfig -p | awk -v so="$so" '$1 == so {print $NF; exit}')
         [ -n "$path" ] && dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1
       done | sort -u | paste -sd, | sed 's/,/, /g')
mkdir -p "$stage/DEBIAN"
cat > "$stage/DEBIAN/control" <<CONTROL
Package: tether
Version: $version
Architecture: $arch
Maintainer: tether <root@localhost>
Depends: $deps, adduser
Recommends: nginx, supervisor, redis-server
Suggests: pkg-config, nlohmann-json3-dev, libfcgi-dev, libhiredis-dev, libsodium-dev, libcurl4-openssl-dev, libre2-dev
Section: web
Priority: optional
Description: application server for stateful web sessions
 tether keeps each user's session as a C++ object in memory on one worker,
 behind nginx (FastCGI) and supervisord, with a Redis registry. This package
 holds tetherd (the demo), tetherctl, the headers, libtether.a and tether.pc,
 the nginx snippets, the supervisor program (disabled) and a tmpfiles.d entry.
CONTROL
( cd "$stage" && find etc -type f | sed 's|^|/|' ) > "$stage/DEBIAN/conffiles"
cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if [ "$1" = configure ]; then
  getent passwd tether >/dev/null || adduser --system --group --no-create-home --home /nonexistent tether
  [ -e /etc/tether/keys ] || tetherctl keygen /etc/tether/keys >/dev/null
  chown tether:tether /etc/tether/keys
  if command -v systemd-tmpfiles >/dev/null; then
    systemd-tmpfiles --create /usr/lib/tmpfiles.d/tether.conf || true
  else
    install -d -o tether -g www-data -m 2750 /run/tether 2>/dev/null || install -d -o tether -m 2750 /run/tether
  fi
fi
POSTINST
chmod 0755 "$stage/DEBIAN/postinst"
mkdir -p "$out"
dpkg-deb -Z"${DEB_COMPRESS:-xz}" --build --root-owner-group "$stage" "$out/tether_${version}_${arch}.deb" >/dev/null
echo "$out/tether_${version}_${arch}.deb"
