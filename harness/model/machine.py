"""The virtual machine a VM target boots on: firmware, disk controller, NIC, memory and CPUs, and the
QEMU devices that match them.

What a Photon image expects is not virtio: the OVA's kernel (linux-esx) has no virtio at all and no
IDE; it has AHCI, NVMe, PVSCSI, LSI Logic and vmxnet3 built in (vmware/photon 5.0-GA
SPECS/linux/config-esx_x86_64: `# CONFIG_VIRTIO_PCI is not set`, `CONFIG_SATA_AHCI=y`,
`CONFIG_BLK_DEV_NVME=y`, `CONFIG_VMWARE_PVSCSI=y`, `CONFIG_FUSION_SAS=y`, `CONFIG_VMXNET3=y`,
`# CONFIG_ATA_SFF is not set`; e1000/e1000e are modules). So an OVA boots on the machine its OVF
describes (harness/artifacts/ovf.py), a disk without a descriptor on AHCI + vmxnet3 (built into every Photon
5.0 kernel: config-esx_x86_64 and config_x86_64 both), and virtio only when asked for
(`--vm-devices virtio`) or for the harness's own direct-kernel stand-in VM (Debian's kernel).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from harness.core.errors import HarnessError

DISK_BUSES = ("ahci", "pvscsi", "lsisas", "nvme", "ide", "virtio")
NICS = ("vmxnet3", "e1000", "e1000e", "virtio")
FIRMWARES = ("bios", "efi")
# Debian's ovmf package: the EFI firmware (read-only code) and the template of its variable store.
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")


@dataclass(frozen=True)
class Machine:
    firmware: str = "bios"
    disk_bus: str = "ahci"
    cdrom_bus: str = "ahci"
    nic: str = "vmxnet3"
    memory_mb: int = 1024
    cpus: int = 2
    why: str = ""          # where this description came from, for the record

    def describe(self) -> str:
        return (f"{self.firmware.upper()} firmware, {self.disk_bus} disk, {self.cdrom_bus} CD-ROM, {self.nic} NIC, "
                f"{self.memory_mb} MiB, {self.cpus} CPU(s)" + (f" ({self.why})" if self.why else ""))

    def key(self) -> tuple:
        """What shapes the booted machine (a template restores only onto the same devices)."""
        return (self.firmware, self.disk_bus, self.cdrom_bus, self.nic, self.memory_mb, self.cpus)


# A disk given without a descriptor (qcow2, raw): the devices every Photon 5.0 kernel has built in.
PHOTON_DEFAULT = Machine(why="a disk without a descriptor: AHCI and vmxnet3 are built into every Photon 5.0 "
                             "kernel (SPECS/linux/config-esx_x86_64, config_x86_64)")
# Debian's kernel (the harness's own direct-kernel stand-in VM) and `--vm-devices virtio`.
VIRTIO = Machine(disk_bus="virtio", cdrom_bus="virtio", nic="virtio", why="virtio")


def with_devices(machine: Machine, devices: str) -> Machine:
    """`--vm-devices`: "virtio", or "DISK,NIC" (e.g. "nvme,e1000e"), over `machine`."""
    if devices == "virtio":
        return replace(VIRTIO, firmware=machine.firmware, memory_mb=machine.memory_mb, cpus=machine.cpus,
                       why="--vm-devices virtio")
    disk, _, nic = devices.partition(",")
    if disk not in DISK_BUSES or (nic and nic not in NICS):
        raise HarnessError(f"--vm-devices {devices!r}: give virtio, or DISK[,NIC] with DISK one of "
                           f"{', '.join(DISK_BUSES)} and NIC one of {', '.join(NICS)}")
    return replace(machine, disk_bus=disk, nic=nic or machine.nic, why=f"--vm-devices {devices}")


def firmware_available(machine: Machine) -> str:
    """"" when this machine's firmware is installed here, else why not."""
    if machine.firmware == "efi" and not (OVMF_CODE.exists() and OVMF_VARS.exists()):
        return f"EFI firmware needs Debian's ovmf ({OVMF_CODE}): photon-harness doctor --fix"
    return ""


def qemu_args(machine: Machine, disk: Path, cdrom: Path, netdev: str, efi_vars: Path | None = None) -> list[str]:
    """The QEMU machine, firmware, disk, CD-ROM and NIC arguments for `machine`."""
    argv = ["-machine", "q35" if machine.firmware == "efi" else "pc", "-m", str(machine.memory_mb),
            "-smp", str(machine.cpus)]
    if machine.firmware == "efi":
        if efi_vars is None:
            raise HarnessError("an EFI machine needs its own copy of the EFI variable store")
        argv += ["-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                 "-drive", f"if=pflash,format=raw,unit=1,file={efi_vars}"]
    argv += ["-drive", f"file={disk},if=none,id=disk0,format=qcow2",
             "-drive", f"file={cdrom},if=none,id=cd0,media=cdrom,readonly=on"]
    controllers = {machine.disk_bus, machine.cdrom_bus}
    if "ahci" in controllers:
        argv += ["-device", "ahci,id=sata0"]
    if machine.disk_bus in ("pvscsi", "lsisas"):
        argv += ["-device", f"{'pvscsi' if machine.disk_bus == 'pvscsi' else 'mptsas1068'},id=scsi0"]
    # bootindex 1 on virtio: QEMU's -kernel option ROM holds bootindex 0 (the stand-in's direct-kernel VM).
    argv += ["-device", {"ahci": "ide-hd,drive=disk0,bus=sata0.0",
                         "pvscsi": "scsi-hd,drive=disk0,bus=scsi0.0",
                         "lsisas": "scsi-hd,drive=disk0,bus=scsi0.0",
                         "nvme": "nvme,drive=disk0,serial=photon-harness0",
                         "ide": "ide-hd,drive=disk0,bus=ide.0",
                         "virtio": "virtio-blk-pci,drive=disk0,bootindex=1"}[machine.disk_bus]]
    argv += ["-device", {"ahci": "ide-cd,drive=cd0,bus=sata0.1",
                         "ide": "ide-cd,drive=cd0,bus=ide.1",
                         "virtio": "virtio-blk-pci,drive=cd0"}[machine.cdrom_bus]]
    argv += ["-device", {"vmxnet3": "vmxnet3", "e1000": "e1000", "e1000e": "e1000e",
                         "virtio": "virtio-net-pci"}[machine.nic] + f",netdev={netdev}"]
    return argv
