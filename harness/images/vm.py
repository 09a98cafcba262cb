"""Stand-in VM disk images: the stand-in root file system plus Debian's kernel,
openssh-server and cloud-init, as qcow2 disks booted with the harness's kernel.

Built offline with mmdebstrap, cached under CACHE_DIR/vm/<key>/ by a hash of
images/standin/ and images/standin-vm/; one disk per flavour (minimal has
docker.service disabled, as the container recipe does).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import HarnessError, InfrastructureError
from ..host import CACHE_DIR
from .build import RECIPES, build_lock, hash_tree

DISK_SIZE = "6G"


@dataclass(frozen=True)
class VmImage:
    disk: Path       # qcow2, never written to: every boot gets an overlay
    kernel: Path
    initrd: Path
    cached: bool = True
    seconds: float = 0.0

    def __str__(self) -> str:   # the report's `image` property
        return f"{self.disk} (kernel {self.kernel.name})"


def _packages(recipe: Path) -> list[str]:
    return [l.strip() for l in (recipe / "packages.txt").read_text().splitlines()
            if l.strip() and not l.startswith("#")]


def _run(argv: list[str], timeout: float, what: str) -> None:
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        tail = "\n".join((r.stderr or r.stdout).strip().splitlines()[-8:])
        raise InfrastructureError(f"{what} failed (exit {r.returncode}):\n{tail}")


def standin_vm_image(flavor: str, say=print) -> VmImage:
    standin, vm = RECIPES / "standin", RECIPES / "standin-vm"
    key = hash_tree([standin, vm])
    out = CACHE_DIR / "vm" / key
    disk = out / f"{flavor}.qcow2"
    start = time.monotonic()
    with build_lock(f"vm-{key}"):
        if disk.exists():
            return VmImage(disk, out / "vmlinuz", out / "initrd.img", True, time.monotonic() - start)
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            root = Path(tmp) / "root"
            packages = _packages(standin) + _packages(vm)
            sources = [l.strip() for l in (standin / "sources.list").read_text().splitlines() if l.strip()]
            say(f"building stand-in VM root file system ({len(packages)} packages) in {out}")
            _run(["mmdebstrap", "--mode=root", "--variant=minbase", "--format=directory",
                  "--include=" + ",".join(packages),
                  f"--customize-hook=copy-in {standin / 'overlay'}/. /",
                  f"--customize-hook={standin / 'customize.sh'} \"$1\"",
                  f"--customize-hook={vm / 'customize.sh'} \"$1\"",
                  "bookworm", str(root), *sources], 1800, "mmdebstrap (VM)")
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
        return VmImage(disk, out / "vmlinuz", out / "initrd.img", False, time.monotonic() - start)


def prepare_disk(path: str, say=print) -> Path:
    """A user's Photon disk as qcow2: qcow2 as is; raw (GCE disk.raw) and OVA (its vmdk) converted once."""
    src = Path(path)
    if not src.is_file():
        raise HarnessError(f"VM image {path!r} does not exist")
    fmt = subprocess.run(["qemu-img", "info", "--output=json", str(src)], capture_output=True, text=True)
    if src.suffix == ".ova":
        import tarfile
        with tarfile.open(src) as ova:
            vmdks = [m for m in ova.getmembers() if m.name.endswith(".vmdk")]
            if not vmdks:
                raise HarnessError(f"{path}: no .vmdk inside the OVA")
            key = hashlib.sha256(f"{src.resolve()}:{src.stat().st_mtime}".encode()).hexdigest()[:16]
            out = CACHE_DIR / "vm" / "converted" / f"{key}.qcow2"
            if out.exists():
                return out
            out.parent.mkdir(parents=True, exist_ok=True)
            say(f"unpacking {vmdks[0].name} from {src.name} and converting to qcow2")
            with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
                ova.extract(vmdks[0], tmp, filter="data")
                _run(["qemu-img", "convert", "-O", "qcow2", str(Path(tmp) / vmdks[0].name), str(out)], 1800,
                     "qemu-img convert (vmdk)")
            return out
    if fmt.returncode != 0:
        raise HarnessError(f"{path}: qemu-img cannot read it: {fmt.stderr.strip()}")
    kind = json.loads(fmt.stdout).get("format")
    if kind == "qcow2":
        return src
    if kind in ("raw", "vmdk", "vpc", "vhdx"):
        key = hashlib.sha256(f"{src.resolve()}:{src.stat().st_mtime}".encode()).hexdigest()[:16]
        out = CACHE_DIR / "vm" / "converted" / f"{key}.qcow2"
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            say(f"converting {src.name} ({kind}) to qcow2")
            _run(["qemu-img", "convert", "-f", kind, "-O", "qcow2", str(src), str(out)], 1800, "qemu-img convert")
        return out
    raise HarnessError(f"{path}: unsupported disk format {kind!r} (qcow2, raw, vmdk, ova)")
