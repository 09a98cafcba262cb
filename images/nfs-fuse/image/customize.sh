#!/bin/sh
# mmdebstrap customize hook for the NFS client image: $1 is the root.
set -eu
rm -rf "$1/var/lib/apt/lists/"* "$1/var/cache/apt/"*.bin
