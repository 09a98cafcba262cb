"""An OVA read, not assumed: its descriptor's machine (firmware, disk controller, NIC, memory, CPUs) and
its integrity (a tar holding an OVF, the disk the OVF names, the manifest's digests), checked before
anything boots.

Photon's OVA is made by ovftool from `support/image-builder/ova/vmx-template` (vmware/photon 5.0-GA:
`virtualHW.version = "15"`, `firmware = "efi"`, `scsi0.virtualDev = "pvscsi"`, `ethernet0.virtualDev =
"vmxnet3"`, a SATA CD-ROM), so its OVF carries those as RASD items and the vmw:Config `firmware` key.
Each is mapped to the QEMU device that matches (model/machine.py); one QEMU lacks is refused.
"""
from __future__ import annotations

import hashlib
import json
import re
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.paths import CACHE_DIR
from harness.model.machine import Machine

NS = {"ovf": "http://schemas.dmtf.org/ovf/envelope/1",
      "rasd": "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData",
      "vmw": "http://www.vmware.com/schema/ovf"}
# RASD ResourceType values (DMTF CIM_ResourceAllocationSettingData)
CPU, MEMORY, IDE, SCSI, NIC, CD, DISK, SATA = "3", "4", "5", "6", "10", "15", "17", "20"
CONTROLLERS = {   # ResourceSubType of a disk controller -> the QEMU bus, or why QEMU cannot be it
    "virtualscsi": "pvscsi", "lsilogicsas": "lsisas", "vmware.sata.ahci": "ahci", "ahci": "ahci",
    "vmware.nvme.controller": "nvme", "nvme": "nvme", "piix4": "ide", "ide": "ide",
    "lsilogic": "QEMU emulates no LSI Logic 53C1030 (Linux mptspi); its lsi53c895a is another controller",
    "buslogic": "QEMU emulates no BusLogic controller",
}
NICS = {"vmxnet3": "vmxnet3", "e1000": "e1000", "e1000e": "e1000e",
        "pcnet32": "a PCnet32 NIC (QEMU's pcnet is not vlance/flexible)", "vmxnet2": "QEMU has no vmxnet2",
        "vmxnet": "QEMU has no vmxnet"}
CHECKED = CACHE_DIR / "vm" / "checked"   # OVAs whose manifest matched, by path, size and time


@dataclass(frozen=True)
class Ova:
    path: Path
    descriptor: str     # the OVF member's name
    disk: str           # the disk member the OVF names (the first disk)
    machine: Machine


def _text(item, tag: str) -> str:
    el = item.find(f"rasd:{tag}", NS)
    return (el.text or "").strip() if el is not None else ""


def read_machine(ovf_text: str, where: str) -> Machine:
    """The machine an OVF describes; one HarnessError line when it is not XML or QEMU cannot be it."""
    try:
        root = ET.fromstring(ovf_text)
    except ET.ParseError as e:
        raise HarnessError(f"{where}: the OVF descriptor is not XML ({e})") from None
    hardware = root.find(".//ovf:VirtualHardwareSection", NS)
    if hardware is None:
        raise HarnessError(f"{where}: the OVF has no VirtualHardwareSection")
    items = hardware.findall("ovf:Item", NS)
    by_id = {_text(i, "InstanceID"): i for i in items}
    machine, seen = Machine(why=f"from {where}"), []
    for item in items:
        kind = _text(item, "ResourceType")
        if kind == CPU and _text(item, "VirtualQuantity"):
            machine = replace(machine, cpus=int(_text(item, "VirtualQuantity")))
        elif kind == MEMORY and _text(item, "VirtualQuantity"):
            machine = replace(machine, memory_mb=_megabytes(int(_text(item, "VirtualQuantity")),
                                                            _text(item, "AllocationUnits")))
        elif kind == NIC and not any(s.startswith("nic") for s in seen):
            sub = _text(item, "ResourceSubType").lower()
            nic = NICS.get(sub, f"an unknown NIC type {sub!r}")
            if nic not in ("vmxnet3", "e1000", "e1000e"):
                raise HarnessError(f"{where}: its NIC cannot be reproduced: {nic}")
            machine, seen = replace(machine, nic=nic), seen + [f"nic {nic}"]
        elif kind in (DISK, CD):
            bus = _bus(by_id.get(_text(item, "Parent")), where)
            if kind == DISK and not any(s.startswith("disk") for s in seen):
                machine, seen = replace(machine, disk_bus=bus), seen + [f"disk {bus}"]
            elif kind == CD and bus in ("ahci", "ide"):
                machine = replace(machine, cdrom_bus=bus)
    if not any(s.startswith("disk") for s in seen):
        raise HarnessError(f"{where}: the OVF attaches no disk to a controller")
    firmware = _firmware(hardware)
    if machine.disk_bus == "ide" and firmware == "efi":
        machine = replace(machine, cdrom_bus="ide")
    return replace(machine, firmware=firmware)


def _bus(controller, where: str) -> str:
    if controller is None:
        raise HarnessError(f"{where}: a disk or CD-ROM names a controller the OVF does not have")
    kind, sub = _text(controller, "ResourceType"), _text(controller, "ResourceSubType").lower()
    if kind == IDE:
        return "ide"
    bus = CONTROLLERS.get(sub, f"an unknown disk controller {sub or '(no ResourceSubType)'!r}")
    if kind in (SCSI, SATA) and bus in ("pvscsi", "lsisas", "ahci", "nvme"):
        return bus
    raise HarnessError(f"{where}: its disk controller cannot be reproduced: {bus}")


def _megabytes(quantity: int, units: str) -> int:
    m = re.fullmatch(r"byte\s*\*\s*2\^(\d+)", units.strip())
    return quantity * 2 ** int(m.group(1)) // 2 ** 20 if m else quantity


def _firmware(hardware) -> str:
    for tag in ("vmw:Config", "vmw:ExtraConfig"):
        for el in hardware.iter(f"{{{NS['vmw']}}}{tag.split(':')[1]}"):
            if el.get(f"{{{NS['vmw']}}}key") == "firmware":
                return "efi" if el.get(f"{{{NS['vmw']}}}value", "").lower() == "efi" else "bios"
    return "bios"


def inspect_ova(path: Path) -> Ova:
    """Read and check an OVA before anything boots: one HarnessError line naming the file and what is wrong."""
    where = path.name
    try:
        with tarfile.open(path) as tar:
            members = {m.name: m for m in tar.getmembers()}
            descriptors = [n for n in members if n.endswith(".ovf")]
            if not descriptors:
                raise HarnessError(f"{path}: no OVF descriptor (*.ovf) inside the OVA")
            ovf_text = tar.extractfile(members[descriptors[0]]).read().decode(errors="replace")
            machine = read_machine(ovf_text, f"{path.name}:{descriptors[0]}")
            disk = _disk_member(ovf_text, members, path)
            manifest = next((n for n in members if n.endswith(".mf")), None)
            if manifest is not None:
                _check_manifest(tar, members, manifest, path)
    except (tarfile.TarError, EOFError, OSError) as e:
        why = str(e).splitlines()[0].rstrip(":") or e.__class__.__name__
        raise HarnessError(f"{path}: not a readable OVA (a tar archive): {why}") from None
    return Ova(path, descriptors[0], disk, replace(machine, why=f"from the OVF of {where}"))


def _disk_member(ovf_text: str, members: dict, path: Path) -> str:
    hrefs = re.findall(r'href="([^"]+)"', ovf_text)
    disks = [h for h in hrefs if h.lower().endswith((".vmdk", ".img", ".raw", ".qcow2"))]
    if not disks:
        raise HarnessError(f"{path}: the OVF references no disk file")
    if disks[0] not in members:
        raise HarnessError(f"{path}: the OVF names the disk {disks[0]}, which is not in the OVA")
    return disks[0]


def _check_manifest(tar, members: dict, manifest: str, path: Path) -> None:
    """Every digest the manifest lists matches its member (hashed once per file: the result is cached)."""
    st = path.stat()
    stamp = CHECKED / (hashlib.sha256(f"{path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()).hexdigest()[:24]
                       + ".json")
    if stamp.exists():
        return
    lines = tar.extractfile(members[manifest]).read().decode(errors="replace").splitlines()
    for line in lines:
        m = re.fullmatch(r"(SHA1|SHA256|SHA512)\((.+)\)\s*=\s*([0-9a-fA-F]+)\s*", line)
        if not m:
            continue
        algorithm, name, want = m.group(1).lower(), m.group(2), m.group(3).lower()
        if name not in members:
            raise HarnessError(f"{path}: the manifest lists {name}, which is not in the OVA")
        digest = hashlib.new(algorithm)
        f = tar.extractfile(members[name])
        for chunk in iter(lambda: f.read(2**20), b""):
            digest.update(chunk)
        if digest.hexdigest() != want:
            raise HarnessError(f"{path}: {name} does not match the manifest's {algorithm.upper()} "
                               f"(corrupt or changed since it was made)")
    CHECKED.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"path": str(path.resolve()), "checked": manifest}) + "\n")
