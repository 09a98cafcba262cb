#!/bin/sh
# Runs in the build container (image from images/nfs-fuse/image/): compiles the helpers
# from /src into /out. libnfs and libfuse3 are linked statically, so the binaries need only
# glibc (>= bookworm's 2.36) and run on any Debian bookworm based node, kind's included.
set -eu
cd /src
CFLAGS="-O2 -g0 -Wall -Wextra -Wno-unused-parameter"
gcc $CFLAGS $(pkg-config --cflags fuse3 libnfs) -o /out/nfs-fuse nfs-fuse.c \
    -Wl,-Bstatic -lfuse3 -lnfs -Wl,-Bdynamic -lpthread -ldl -lrt
gcc $CFLAGS $(pkg-config --cflags libnfs) -o /out/nfs-rm nfs-rm.c -Wl,-Bstatic -lnfs -Wl,-Bdynamic
install -m 755 mount.nfs /out/mount.nfs
strip /out/nfs-fuse /out/nfs-rm
