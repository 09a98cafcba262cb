"""An OVA read, not assumed: its OVF's machine, and a corrupt OVA or disk refused in one line.
(The real boot on these devices: tests/integration/test_user_targets.py and the test command's VM half.)"""
import hashlib
import subprocess
import tarfile

import pytest

from harness.artifacts import ovf as ovf_mod
from harness.artifacts.vm import check_vm_image, ovf
from harness.core.errors import HarnessError
from harness.model.machine import PHOTON_DEFAULT, VIRTIO, Machine, qemu_args, with_devices

# The hardware Photon 5.0's vmx-template describes, as ovftool writes it (PVSCSI disk, vmxnet3, SATA CD, EFI,
# 2048 MB, no numvcpus: 1 CPU).
PHOTON_LIKE = """<?xml version="1.0"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"
 xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData"
 xmlns:vmw="http://www.vmware.com/schema/ovf">
 <References><File ovf:id="file1" ovf:href="photon-disk1.vmdk"/></References>
 <VirtualSystem ovf:id="photon"><VirtualHardwareSection>
  <Item><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>1</rasd:VirtualQuantity></Item>
  <Item><rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits><rasd:InstanceID>2</rasd:InstanceID>
   <rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>2048</rasd:VirtualQuantity></Item>
  <Item><rasd:InstanceID>3</rasd:InstanceID><rasd:ResourceSubType>{scsi}</rasd:ResourceSubType><rasd:ResourceType>6</rasd:ResourceType></Item>
  <Item><rasd:InstanceID>4</rasd:InstanceID><rasd:ResourceSubType>vmware.sata.ahci</rasd:ResourceSubType><rasd:ResourceType>20</rasd:ResourceType></Item>
  <Item><rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource><rasd:InstanceID>5</rasd:InstanceID><rasd:Parent>3</rasd:Parent><rasd:ResourceType>17</rasd:ResourceType></Item>
  <Item><rasd:InstanceID>6</rasd:InstanceID><rasd:Parent>4</rasd:Parent><rasd:ResourceType>15</rasd:ResourceType></Item>
  <Item><rasd:InstanceID>7</rasd:InstanceID><rasd:ResourceSubType>{nic}</rasd:ResourceSubType><rasd:ResourceType>10</rasd:ResourceType></Item>
  <vmw:Config ovf:required="false" vmw:key="firmware" vmw:value="efi"/>
 </VirtualHardwareSection></VirtualSystem></Envelope>"""


def photon_like(scsi="VirtualSCSI", nic="VmxNet3") -> str:
    return PHOTON_LIKE.replace("{scsi}", scsi).replace("{nic}", nic)


def test_photons_ovf_gives_photons_machine():
    m = ovf_mod.read_machine(photon_like(), "photon.ovf")
    assert (m.firmware, m.disk_bus, m.cdrom_bus, m.nic, m.memory_mb, m.cpus) == ("efi", "pvscsi", "ahci", "vmxnet3",
                                                                                 2048, 1)


@pytest.mark.parametrize("scsi, nic, says", [
    ("lsilogic", "VmxNet3", "its disk controller cannot be reproduced: QEMU emulates no LSI Logic 53C1030"),
    ("VirtualSCSI", "PCNet32", "its NIC cannot be reproduced: a PCnet32 NIC"),
    ("buslogic", "E1000", "QEMU emulates no BusLogic controller"),
])
def test_an_ovf_qemu_cannot_be_is_one_line(scsi, nic, says):
    with pytest.raises(HarnessError, match=says):
        ovf_mod.read_machine(photon_like(scsi, nic), "x.ovf")


def test_qemu_devices_match_the_machine(tmp_path):
    argv = " ".join(qemu_args(ovf_mod.read_machine(photon_like(), "p.ovf"), tmp_path / "d.qcow2",
                              tmp_path / "seed.iso", "n0", tmp_path / "vars.fd"))
    assert "-machine q35" in argv and "if=pflash" in argv and f"file={tmp_path / 'vars.fd'}" in argv
    assert "-device pvscsi,id=scsi0 -device scsi-hd,drive=disk0,bus=scsi0.0" in argv
    assert "-device ahci,id=sata0" in argv and "ide-cd,drive=cd0,bus=sata0.1" in argv
    assert "-device vmxnet3,netdev=n0" in argv and "virtio" not in argv
    default = " ".join(qemu_args(PHOTON_DEFAULT, tmp_path / "d", tmp_path / "s", "n0"))
    assert "ide-hd,drive=disk0,bus=sata0.0" in default and "vmxnet3" in default and "pflash" not in default
    assert "virtio-blk-pci,drive=disk0" in " ".join(qemu_args(VIRTIO, tmp_path / "d", tmp_path / "s", "n0"))


def test_vm_devices_override():
    assert with_devices(PHOTON_DEFAULT, "virtio").disk_bus == "virtio"
    m = with_devices(Machine(firmware="efi"), "nvme,e1000e")
    assert (m.firmware, m.disk_bus, m.nic) == ("efi", "nvme", "e1000e")
    with pytest.raises(HarnessError, match="--vm-devices 'scsi'"):
        with_devices(PHOTON_DEFAULT, "scsi")


def make_ova(tmp_path, *, descriptor=True, disk=True, manifest="good", name="t.ova"):
    vmdk = tmp_path / "t-disk1.vmdk"
    subprocess.run(["qemu-img", "create", "-q", "-f", "vmdk", str(vmdk), "16M"], check=True)
    desc = tmp_path / "t.ovf"
    desc.write_text(ovf("t", vmdk, 16 * 2**20))
    mf = tmp_path / "t.mf"
    digest = hashlib.sha256(vmdk.read_bytes()).hexdigest()
    if manifest == "bad":
        digest = "0" * 64
    mf.write_text(f"SHA256({desc.name})= {hashlib.sha256(desc.read_bytes()).hexdigest()}\n"
                  f"SHA256({vmdk.name})= {digest}\n")
    out = tmp_path / name
    with tarfile.open(out, "w") as tar:
        for p, keep in ((desc, descriptor), (vmdk, disk), (mf, manifest is not None)):
            if keep:
                tar.add(p, arcname=p.name)
    return out


def test_the_standin_ova_descriptor_reads_as_photons_devices_on_bios(tmp_path, monkeypatch):
    monkeypatch.setattr(ovf_mod, "CHECKED", tmp_path / "checked")
    ova = ovf_mod.inspect_ova(make_ova(tmp_path))
    assert (ova.machine.firmware, ova.machine.disk_bus, ova.machine.cdrom_bus, ova.machine.nic) == (
        "bios", "pvscsi", "ahci", "vmxnet3")
    assert ova.disk == "t-disk1.vmdk"


@pytest.mark.parametrize("kind, says", [
    ("not-a-tar", "not a readable OVA (a tar archive)"),
    ("no-ovf", "no OVF descriptor (*.ovf) inside the OVA"),
    ("no-disk", "the OVF names the disk t-disk1.vmdk, which is not in the OVA"),
    ("bad-manifest", "t-disk1.vmdk does not match the manifest's SHA256"),
    ("truncated", "not a readable OVA"),
])
def test_a_bad_ova_is_one_line_naming_the_file(tmp_path, monkeypatch, kind, says):
    monkeypatch.setattr(ovf_mod, "CHECKED", tmp_path / "checked")
    if kind == "not-a-tar":
        path = tmp_path / "x.ova"
        path.write_bytes(b"this is no tar archive\n" * 100)
    elif kind == "truncated":
        good = make_ova(tmp_path)
        path = tmp_path / "cut.ova"
        path.write_bytes(good.read_bytes()[:3000])
    else:
        path = make_ova(tmp_path, descriptor=kind != "no-ovf", disk=kind != "no-disk",
                        manifest="bad" if kind == "bad-manifest" else "good")
    with pytest.raises(HarnessError) as e:
        check_vm_image(str(path))
    assert says in str(e.value) and str(path) in str(e.value) and "\n" not in str(e.value), str(e.value)


def test_a_truncated_qcow2_is_one_line(tmp_path):
    disk = tmp_path / "d.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    subprocess.run(["qemu-io", "-c", "write -P 7 0 8M", str(disk)], check=True, capture_output=True)
    cut = tmp_path / "cut.qcow2"
    cut.write_bytes(disk.read_bytes()[: disk.stat().st_size // 2])
    with pytest.raises(HarnessError, match="cut.qcow2: "):
        check_vm_image(str(cut))
    check_vm_image(str(disk))   # the whole one is fine
