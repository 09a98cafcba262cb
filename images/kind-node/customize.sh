#!/bin/sh
# mmdebstrap customize hook for the offline kind node: $1 is the root. kind's base files
# (images/base/files of the kind module) were copied in before this runs; this applies
# what kind's images/base/Dockerfile does after its COPY lines, adapted to Debian's packages.
set -eu
root="$1"
chmod 0755 "$root/kind/bin" "$root"/kind/bin/* "$root"/usr/local/bin/*
# Debian installs containerd in /usr/bin (kind builds its own into /usr/local/bin).
sed -i 's#/usr/local/bin/containerd#/usr/bin/containerd#' "$root/etc/systemd/system/containerd.service"
# No fuse-overlayfs snapshotter here: drop its proxy plugin and unit.
sed -i '/^\[proxy_plugins\]/,/^  address = /d' "$root/etc/containerd/config.toml"
rm -f "$root/etc/systemd/system/containerd-fuse-overlayfs.service"
# CNI plugins: Debian keeps them in /usr/lib/cni, kubelet/containerd look in /opt/cni/bin.
mkdir -p "$root/opt/cni/bin"
for p in "$root"/usr/lib/cni/*; do ln -sf "/usr/lib/cni/$(basename "$p")" "$root/opt/cni/bin/"; done
# systemd as kind's base image sets it up.
find "$root/lib/systemd/system/sysinit.target.wants/" -name systemd-tmpfiles-setup.service -delete
rm -f "$root"/lib/systemd/system/multi-user.target.wants/* \
      "$root"/etc/systemd/system/*.wants/* \
      "$root"/lib/systemd/system/local-fs.target.wants/* \
      "$root"/lib/systemd/system/sockets.target.wants/*udev* \
      "$root"/lib/systemd/system/sockets.target.wants/*initctl* \
      "$root"/lib/systemd/system/basic.target.wants/*
echo "ReadKMsg=no" >> "$root/etc/systemd/journald.conf"
chroot "$root" systemctl enable kubelet.service containerd.service undo-mount-hacks.service
chroot "$root" systemctl mask systemd-binfmt.service
mkdir -p "$root/etc/kubernetes/manifests"
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
rm -rf "$root/var/lib/apt/lists/"* "$root/var/cache/apt/"*.bin
