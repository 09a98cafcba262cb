#!/bin/sh
# mmdebstrap customize hook for the NFS server image: $1 is the root, $2 the recipe.
set -eu
root="$1"; recipe="$2"
install -m 644 "$recipe/ganesha.conf" "$root/etc/ganesha/ganesha.conf"
install -m 755 "$recipe/start.sh" "$root/usr/local/sbin/nfs-server-start"
mkdir -p "$root/export"
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin
