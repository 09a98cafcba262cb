"""Stand-in VM disk images: the stand-in root file system plus Debian's kernel,
openssh-server and cloud-init, as qcow2 disks booted with the harness's kernel.

Built offline with mmdebstrap, cached under CACHE_DIR/vm/<key>/ by a hash of
images/standin/ and images/standin-vm/; one disk per flavour (minimal has
docker.service disabled, as the container recipe does).
"""
from __future__ import annotations

import json
import logging
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from harness.artifacts.build import mmdebstrap, read_packages, read_sources
from harness.artifacts.ovf import inspect_ova
from harness.core.cache import cached_build, file_digest, hash_tree, key
from harness.core.errors import HarnessError, InfrastructureError
from harness.core.paths import CACHE_DIR, RECIPES
from harness.model.machine import PHOTON_DEFAULT, VIRTIO, Machine, with_devices

log = logging.getLogger(__name__)

DISK_SIZE = "6G"


@dataclass(frozen=True)
class VmImage:
    """What a VM target boots: a disk and the machine it boots on; with a kernel, booted directly
    (the harness's own stand-in VM), else by the disk's own bootloader (a user's disk, an OVA)."""
    disk: Path       # qcow2, never written to: every boot gets an overlay
    kernel: Path | None = None
    initrd: Path | None = None
    cached: bool = True
    seconds: float = 0.0
    machine: Machine = VIRTIO

    def __str__(self) -> str:   # the report's `image` property
        return f"{self.disk} (kernel {self.kernel.name})" if self.kernel else str(self.disk)


def _run(argv: list[str], timeout: float, what: str) -> None:
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-8:])
        raise InfrastructureError(f"{what} failed (exit {r.returncode}):\n{tail}")


def standin_vm_dir() -> Path:
    """Where the stand-in VM image of the current recipes is (or will be) built."""
    return CACHE_DIR / "vm" / hash_tree([RECIPES / "standin", RECIPES / "standin-vm"])


def standin_vm_image(flavor: str) -> VmImage:
    standin, vm = RECIPES / "standin", RECIPES / "standin-vm"
    out = standin_vm_dir()
    disk = out / f"{flavor}.qcow2"

    def build():   # both flavours from one root file system
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            root = Path(tmp) / "root"
            packages = read_packages(standin) + read_packages(vm)
            log.info(f"building stand-in VM root file system ({len(packages)} packages) in {out}")
            mmdebstrap(root, packages, [f"--customize-hook=copy-in {standin / 'overlay'}/. /",
                                        f"--customize-hook={standin / 'customize.sh'} \"$1\"",
                                        f"--customize-hook={vm / 'customize.sh'} \"$1\""],
                       "the stand-in VM", fmt="directory", sources=read_sources(standin / "sources.list"))
            shutil.copy(sorted(root.glob("boot/vmlinuz-*"))[-1], out / "vmlinuz")
            shutil.copy(sorted(root.glob("boot/initrd.img-*"))[-1], out / "initrd.img")
            for fl in ("full", "minimal"):
                if fl == "minimal":
                    _run(["systemctl", f"--root={root}", "disable", "docker.service", "docker.socket"],
                         60, "systemctl disable docker (minimal)")
                raw = Path(tmp) / f"{fl}.raw"
                _run(["mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(root), str(raw), DISK_SIZE], 600,
                     "mkfs.ext4")
                _run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(out / f"{fl}.qcow2")], 600,
                     "qemu-img convert")
                raw.unlink()
    b = cached_build(f"vm-{out.name}", lambda: all((out / f"{fl}.qcow2").exists() for fl in ("full", "minimal")),
                     build)
    # Debian's kernel, which has virtio: the harness's own lenient stand-in VM, booted directly.
    return VmImage(disk, out / "vmlinuz", out / "initrd.img", b.cached, b.seconds,
                   replace(VIRTIO, why="the harness's direct-kernel stand-in VM (Debian's kernel has virtio)"))


# -- a bootable stand-in disk, packed as an OVA: the path a user's Photon OVA takes -----------

OVA_FORMAT = 2          # bump when the disk layout below changes: the cached OVA is rebuilt
SECTOR = 512
PARTITION_START = 2048  # 1 MiB: GRUB's core image lives in the gap before it, as grub-install puts it
GRUB_DIR = Path("/usr/lib/grub/i386-pc")
# Built into GRUB's core image, so the disk needs no module directory: read the MBR partition and
# ext4, find the root by its label, show the menu on the serial console, load Linux.
GRUB_MODULES = ["biosdisk", "part_msdos", "ext2", "search", "search_label", "normal", "configfile",
                "linux", "echo", "test", "serial", "terminal"]


def mbr(boot_code: bytes, sectors: int) -> bytes:
    """Sector 0: GRUB's boot code, then one bootable Linux partition from PARTITION_START to the end."""
    entry = (b"\x80" + b"\xfe\xff\xff" + b"\x83" + b"\xfe\xff\xff"     # active; CHS unused (LBA only)
             + PARTITION_START.to_bytes(4, "little") + sectors.to_bytes(4, "little"))
    return boot_code[:440] + b"\0" * 6 + entry + b"\0" * 48 + b"\x55\xaa"


def standin_bootable_disk(image: VmImage, out: Path) -> None:
    """A raw disk with an MBR, GRUB in the gap and the stand-in's root file system as partition 1.

    Made from the flavour's qcow2 (a bare ext4 file system, whose /boot/grub/grub.cfg the recipe
    writes) with no loop device, no mount and no root: the file system is copied in at its offset,
    the partition table written by hand, GRUB's core image made by grub-mkimage.
    """
    if not (GRUB_DIR / "boot.img").exists():
        raise HarnessError(f"{GRUB_DIR} is missing: install Debian's grub-pc-bin (photon-harness doctor --fix)")
    fs = out.with_suffix(".fs.raw")
    core = out.with_suffix(".core.img")
    try:
        _run(["qemu-img", "convert", "-O", "raw", str(image.disk), str(fs)], 600, "qemu-img convert (raw)")
        _run(["grub-mkimage", "-O", "i386-pc", "-d", str(GRUB_DIR), "-o", str(core),
              "-p", "(hd0,msdos1)/boot/grub", *GRUB_MODULES], 120, "grub-mkimage")
        gap = (PARTITION_START - 1) * SECTOR
        if core.stat().st_size > gap:
            raise InfrastructureError(f"GRUB's core image ({core.stat().st_size} bytes) does not fit in {gap}")
        sectors = fs.stat().st_size // SECTOR
        with open(out, "wb") as f:
            f.write(mbr((GRUB_DIR / "boot.img").read_bytes(), sectors))
            f.write(core.read_bytes())
            f.truncate((PARTITION_START + sectors) * SECTOR)
        # conv=sparse: the file system's unused blocks stay holes (the 6 GiB disk holds ~1 GiB).
        _run(["dd", f"if={fs}", f"of={out}", "bs=1M", f"seek={PARTITION_START * SECTOR // 2**20}",
              "conv=sparse,notrunc", "status=none"], 600, "dd (file system into partition 1)")
    finally:
        fs.unlink(missing_ok=True)
        core.unlink(missing_ok=True)


def ovf(name: str, vmdk: Path, capacity: int) -> str:
    """An OVF 1.0 descriptor with Photon's devices (vmware/photon 5.0-GA support/image-builder/ova/vmx-template:
    the disk on PVSCSI, a vmxnet3 NIC, a CD-ROM on SATA); 2 CPUs and 1 GiB; BIOS firmware, as this disk
    boots by GRUB from its MBR (Photon's OVA says EFI: the strict stand-in's GPT layout is still to come)."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
  xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
  xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData"
  xmlns:vmw="http://www.vmware.com/schema/ovf">
  <References><File ovf:id="file1" ovf:href="{vmdk.name}" ovf:size="{vmdk.stat().st_size}"/></References>
  <DiskSection><Info>Virtual disks</Info>
    <Disk ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:capacity="{capacity}"
      ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection><Info>Networks</Info><Network ovf:name="nat"><Description>NAT</Description></Network></NetworkSection>
  <VirtualSystem ovf:id="{name}">
    <Info>photon-harness stand-in: Debian bookworm, NOT Photon OS</Info>
    <Name>{name}</Name>
    <OperatingSystemSection ovf:id="96"><Info>Guest OS</Info><Description>Debian 12 (64-bit)</Description></OperatingSystemSection>
    <VirtualHardwareSection><Info>Virtual hardware</Info>
      <System><vssd:ElementName>Virtual Hardware Family</vssd:ElementName><vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemType>vmx-15</vssd:VirtualSystemType></System>
      <Item><rasd:ElementName>2 virtual CPUs</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>2</rasd:VirtualQuantity></Item>
      <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:ElementName>1024 MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>1024</rasd:VirtualQuantity></Item>
      <Item><rasd:ElementName>SCSI controller 0</rasd:ElementName><rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceSubType>VirtualSCSI</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
      <Item><rasd:ElementName>SATA controller 0</rasd:ElementName><rasd:InstanceID>6</rasd:InstanceID>
        <rasd:ResourceSubType>vmware.sata.ahci</rasd:ResourceSubType><rasd:ResourceType>20</rasd:ResourceType></Item>
      <Item><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:ElementName>disk0</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
      <Item ovf:required="false"><rasd:AddressOnParent>0</rasd:AddressOnParent><rasd:AutomaticAllocation>false</rasd:AutomaticAllocation>
        <rasd:ElementName>cdrom0</rasd:ElementName><rasd:InstanceID>7</rasd:InstanceID>
        <rasd:Parent>6</rasd:Parent><rasd:ResourceType>15</rasd:ResourceType></Item>
      <Item><rasd:AutomaticAllocation>true</rasd:AutomaticAllocation><rasd:Connection>nat</rasd:Connection>
        <rasd:ElementName>ethernet0</rasd:ElementName><rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>VmxNet3</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
      <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="bios"/>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
"""


def standin_ova(flavor: str = "full") -> Path:
    """The stand-in as a bootable OVA (ovf, streamOptimized vmdk, SHA256 manifest), cached beside its qcow2."""
    image = standin_vm_image(flavor)
    out = image.disk.parent / f"{flavor}-bootable-v{OVA_FORMAT}.ova"

    def build():
        name = f"photon-harness-standin-{flavor}"
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            raw, vmdk = Path(tmp) / "disk.raw", Path(tmp) / f"{name}-disk1.vmdk"
            standin_bootable_disk(image, raw)
            _run(["qemu-img", "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized",
                  str(raw), str(vmdk)], 1800, "qemu-img convert (vmdk)")
            descriptor = Path(tmp) / f"{name}.ovf"
            descriptor.write_text(ovf(name, vmdk, raw.stat().st_size))
            manifest = Path(tmp) / f"{name}.mf"
            manifest.write_text("".join(f"SHA256({p.name})= {file_digest(p)}\n" for p in (descriptor, vmdk)))
            partial = out.with_suffix(".partial")
            with tarfile.open(partial, "w", format=tarfile.USTAR_FORMAT) as ova:   # the descriptor first
                for p in (descriptor, vmdk, manifest):
                    ova.add(p, arcname=p.name)
            partial.rename(out)
    b = cached_build(f"ova-{image.disk.parent.name}-{flavor}", out.exists, build)
    if not b.cached:
        log.info(f"built the bootable stand-in OVA {out} in {b.seconds:.0f}s")
    return out


CONVERTED = CACHE_DIR / "vm" / "converted"


def _converted(src: Path) -> Path:
    """Where a user's disk is kept as qcow2: keyed by the file (path and modification time).

    A `.source` file beside it names that file, so `cache prune` can tell when it is gone or changed.
    """
    out = CONVERTED / f"{key(str(src.resolve()), src.stat().st_mtime)}.qcow2"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".source").write_text(json.dumps({"path": str(src.resolve()), "mtime": src.stat().st_mtime}))
    return out


def converted_source_gone(disk: Path) -> str:
    """Why a converted disk is superseded ("" if its source is still the file it was made from)."""
    try:
        src = json.loads(disk.with_suffix(".source").read_text())
    except (OSError, ValueError):
        return "made before sources were recorded"
    path = Path(src["path"])
    if not path.exists():
        return f"its source {path} is gone"
    if path.stat().st_mtime != src["mtime"]:
        return f"its source {path} changed since"
    return ""


def check_vm_image(path: str) -> None:
    """Before anything boots: the file is a disk the harness can boot, else one HarnessError line
    naming it and what is wrong (an OVA's tar, descriptor, disk and manifest; a disk's own checks)."""
    src = Path(path)
    if not src.is_file():
        raise HarnessError(f"VM image {path!r} does not exist")
    if src.suffix == ".ova":
        inspect_ova(src)
        return
    info = subprocess.run(["qemu-img", "info", "--output=json", str(src)], capture_output=True, text=True)
    if info.returncode != 0:
        raise HarnessError(f"{path}: qemu-img cannot read it as a disk: {_last_line(info.stderr)}")
    kind = json.loads(info.stdout).get("format")
    if kind not in ("qcow2", "raw", "vmdk", "vpc", "vhdx"):
        raise HarnessError(f"{path}: unsupported disk format {kind!r} (qcow2, raw, vmdk, vhd, vhdx, ova)")
    if kind == "qcow2":   # a truncated or damaged qcow2 is found by its own check, not by a boot that hangs
        check = subprocess.run(["qemu-img", "check", "-q", str(src)], capture_output=True, text=True)
        if check.returncode not in (0, 3):   # 3: leaked clusters only, harmless
            raise HarnessError(f"{path}: the qcow2 is damaged (qemu-img check exit {check.returncode}): "
                               f"{_last_line(check.stderr or check.stdout)}")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "no detail"


def prepare_disk(path: str, devices: str = "") -> VmImage:
    """A user's Photon disk as qcow2, and the machine it boots on: an OVA's vmdk converted once, booted
    on the machine its OVF describes; raw (GCE disk.raw), vmdk, vhd converted once; qcow2 as it is; a disk
    without a descriptor on the devices every Photon kernel has built in (model/machine.py)."""
    check_vm_image(path)
    src = Path(path)
    if src.suffix == ".ova":
        ova = inspect_ova(src)
        out = _converted(src)

        def unpack():
            log.info(f"unpacking {ova.disk} from {src.name} and converting to qcow2")
            with tarfile.open(src) as tar, tempfile.TemporaryDirectory(dir=out.parent) as tmp:
                tar.extract(ova.disk, tmp, filter="data")
                _run(["qemu-img", "convert", "-O", "qcow2", str(Path(tmp) / ova.disk), str(out)], 1800,
                     "qemu-img convert (vmdk)")
        cached_build(f"converted-{out.stem}", out.exists, unpack)
        return VmImage(out, machine=with_devices(ova.machine, devices) if devices else ova.machine)
    machine = with_devices(PHOTON_DEFAULT, devices) if devices else PHOTON_DEFAULT
    kind = json.loads(subprocess.run(["qemu-img", "info", "--output=json", str(src)], capture_output=True,
                                     text=True).stdout).get("format")
    if kind == "qcow2":
        return VmImage(src, machine=machine)
    out = _converted(src)

    def convert():
        log.info(f"converting {src.name} ({kind}) to qcow2")
        _run(["qemu-img", "convert", "-f", kind, "-O", "qcow2", str(src), str(out)], 1800, "qemu-img convert")
    cached_build(f"converted-{out.stem}", out.exists, convert)
    return VmImage(out, machine=machine)
