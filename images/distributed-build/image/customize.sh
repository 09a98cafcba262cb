#!/bin/sh
# mmdebstrap customize hook for the distributed-build rehearsal image: $1 is the root.
set -eu
rm -rf "$1/var/lib/apt/lists/"* "$1/var/cache/apt/"*.bin "$1/usr/share/doc/"* "$1/usr/share/man/"*
