#!/bin/sh
# Entry point of the NFS server container: rpcbind, then ganesha in the foreground,
# logging to stdout (docker logs) so a failed start can be explained.
set -eu
mkdir -p /run/rpcbind /run/ganesha /var/lib/nfs/ganesha
rpcbind -w
# ganesha's admin interface (and its log) wants a system bus
mkdir -p /run/dbus
dbus-daemon --system --fork
exec ganesha.nfsd -F -L /dev/stdout -f /etc/ganesha/ganesha.conf -p /run/ganesha/ganesha.pid
