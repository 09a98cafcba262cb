#!/bin/sh
# mmdebstrap customize hook for the stand-in VM: $1 is the root.
set -eu
root="$1"
# The user-mode network's DHCP, without ifupdown.
mkdir -p "$root/etc/systemd/network"
cat > "$root/etc/systemd/network/20-wired.network" <<'NET'
[Match]
Name=en* eth*
[Network]
DHCP=yes
NET
ln -sf /lib/systemd/system/systemd-networkd.service "$root/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
# The root file system is the whole virtio disk (direct kernel boot, no partitions).
echo "/dev/vda / ext4 defaults 0 1" > "$root/etc/fstab"
# cloud-init: only the NoCloud seed, never a network metadata service.
mkdir -p "$root/etc/cloud/cloud.cfg.d"
echo "datasource_list: [ NoCloud, None ]" > "$root/etc/cloud/cloud.cfg.d/90-photon-harness.cfg"
