#!/bin/sh
# mmdebstrap customize hook for the kube-proxy/kindnetd base: $1 is the root.
# iptables runs through iptables-wrapper, which picks the back end the node uses.
set -eu
root="$1"
chmod 0755 "$root/usr/sbin/iptables-wrapper"
for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
  ln -sf iptables-wrapper "$root/usr/sbin/$t"
done
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"* "$root/usr/share/doc/"* "$root/usr/share/man/"* \
       "$root/usr/share/locale/"* "$root/var/log/"*
