#!/bin/sh
# mmdebstrap customize hook for the stand-in root file system: $1 is the root.
set -eu
root="$1"
# Photon installs the rootless scripts in /usr/bin; Debian keeps them in contrib.
for f in dockerd-rootless.sh dockerd-rootless-setuptool.sh; do
  ln -sf "/usr/share/docker.io/contrib/$f" "$root/usr/bin/$f"
done
# Photon ships no /etc/subuid or /etc/subgid (vmware/photon SPECS/shadow/shadow.spec installs
# none); shadow's useradd allocates subordinate IDs only when /etc/subuid exists. Debian's
# passwd creates both empty, which makes `useradd -m` allocate a range: remove them.
rm -f "$root/etc/subuid" "$root/etc/subgid" "$root/etc/subuid-" "$root/etc/subgid-"
# A container gets its machine id from systemd at boot.
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
# Units that cannot work inside a container and would only add noise.
for u in systemd-remount-fs.service getty@tty1.service console-getty.service systemd-firstboot.service; do
  ln -sf /dev/null "$root/etc/systemd/system/$u"
done
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin
# sshd as Photon's openssh package ships it: root may not log in, PAM on (vmware/photon 5.0-GA
# SPECS/openssh/0001-sshd_config-Avoid-duplicate-entry.patch sets `PermitRootLogin no`, `UsePAM yes`).
# Debian's file has them commented out or set otherwise; an active line is written in their place.
sed -i -e 's/^#\?PermitRootLogin .*/PermitRootLogin no/' -e 's/^#\?UsePAM .*/UsePAM yes/' "$root/etc/ssh/sshd_config"
grep -qx 'PermitRootLogin no' "$root/etc/ssh/sshd_config" && grep -qx 'UsePAM yes' "$root/etc/ssh/sshd_config"
