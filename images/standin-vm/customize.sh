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
# The root file system by its label (mkfs.ext4 -L root): the whole virtio disk when booted with the
# harness's kernel, the first partition of the bootable disk (standin_bootable_disk in harness/images/vm.py).
echo "LABEL=root / ext4 defaults 0 1" > "$root/etc/fstab"
# GRUB's menu for the bootable disk (an OVA, as Photon ships): its own bootloader, its kernel, on the
# serial console; cgroup v2 as the direct-kernel stand-in VM gets it from the harness.
kernel=$(cd "$root/boot" && ls vmlinuz-* | sort | tail -n 1)
mkdir -p "$root/boot/grub"
cat > "$root/boot/grub/grub.cfg" <<GRUB
serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
menuentry "photon-harness stand-in (Debian bookworm, not Photon OS)" {
  search --no-floppy --label root --set=root
  linux /boot/$kernel root=LABEL=root rw console=ttyS0 systemd.unified_cgroup_hierarchy=1
  initrd /boot/initrd.img-${kernel#vmlinuz-}
}
GRUB
# cloud-init: only the NoCloud seed, never a network metadata service.
mkdir -p "$root/etc/cloud/cloud.cfg.d"
echo "datasource_list: [ NoCloud, None ]" > "$root/etc/cloud/cloud.cfg.d/90-photon-harness.cfg"
# The OVA's sshd: Photon's installer, given a `public_key` key (config_ova.json has "public_key": ""),
# appends it to root's authorized_keys and turns `PermitRootLogin no` into `PermitRootLogin yes`
# (vmware/photon-os-installer v2.3 photon_installer/modules/m_updatesshconfig.py; vmware/photon 5.0-GA
# support/image-builder/ova/config_ova.json). The VM is reached as root with the seed's key, as that allows
# (the empty line the installer writes to root's authorized_keys is left out: the systemd-credential path,
# for images without cloud-init, needs that file absent).
sed -i 's/^PermitRootLogin no$/PermitRootLogin yes/' "$root/etc/ssh/sshd_config"
grep -qx 'PermitRootLogin yes' "$root/etc/ssh/sshd_config"
