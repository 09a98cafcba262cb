"""VM templates: boot a recipe once, save the running machine, restore it for every target.

A template is keyed by everything that shapes the booted machine: QEMU's version, the disk,
kernel and initrd (path, size, time), the kernel arguments, memory, CPUs and accelerator. It is
built by a cold boot that waits for systemd to be running or degraded, then QMP `stop` and a
migration to a file (the machine's whole state, about 0.5 GiB for a 1 GiB guest). Migration to a
file, not an internal snapshot: internal snapshots need the disk itself to be written, and
restoring one needs a qcow2 that holds it; a state file plus a frozen overlay keeps the template
read-only and lets any number of targets start from it, each on its own copy-on-write overlay.

What every restored target shares with the template: its SSH key and host keys, machine-id,
hostname and boot journal. Its clock is set from the host after the restore.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.core.cache import cached_build, key
from harness.core.errors import InfrastructureError
from harness.core.paths import CACHE_DIR

TEMPLATES = CACHE_DIR / "vm" / "templates"
FORMAT = "1"   # bump when what a template holds changes


class TemplateBootFailed(InfrastructureError):
    """The cold boot that was to become the template failed: the recipe does not boot."""


@dataclass(frozen=True)
class VmTemplate:
    dir: Path

    @property
    def disk(self) -> Path:     # the booted disk, frozen: only ever a backing file
        return self.dir / "disk.qcow2"

    @property
    def state(self) -> Path:    # the migration stream of the stopped machine
        return self.dir / "state"

    @property
    def key_file(self) -> Path:
        return self.dir / "id"

    @property
    def seed(self) -> Path:
        return self.dir / "seed.iso"

    def meta(self) -> dict:
        return json.loads((self.dir / "meta.json").read_text())

    def complete(self) -> bool:
        return all(p.exists() for p in (self.disk, self.state, self.key_file, self.seed, self.dir / "meta.json"))


@lru_cache(maxsize=1)
def qemu_version() -> str:
    try:
        r = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise InfrastructureError(f"qemu-system-x86_64 --version: {e}") from None
    return r.stdout.splitlines()[0] if r.stdout else "unknown"


def file_id(path: Path | None) -> str:
    if path is None:
        return "-"
    st = Path(path).stat()
    return f"{Path(path).resolve()}:{st.st_size}:{st.st_mtime_ns}"


def template_key(vm) -> str:
    return key(FORMAT, qemu_version(), file_id(vm.disk), file_id(vm.kernel), file_id(vm.initrd), vm.kernel_args,
               *vm.machine.key(), vm.accel, vm.spec.flavor)


def template_for(vm, make_source) -> tuple[VmTemplate, bool]:
    """The template for `vm`'s recipe, built (once, across processes) by cold-booting `make_source()`.

    Returns the template and whether it was built just now.
    """
    t = VmTemplate(TEMPLATES / template_key(vm))

    def build():
        partial = t.dir.with_name(t.dir.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        source = make_source()
        try:
            try:
                source.boot()
            except InfrastructureError as e:
                raise TemplateBootFailed(str(e)) from None
            saved = source.save_to(partial)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        finally:
            source.close()
        (partial / "meta.json").write_text(json.dumps(
            {"built-by": vm.session_id, "boot-seconds": round(source.boot_seconds or 0, 1),
             "save-seconds": round(saved, 1), "disk": str(vm.disk), "kernel": str(vm.kernel or ""),
             "kernel-args": vm.kernel_args, "accel": vm.accel, "qemu": qemu_version()}, indent=1) + "\n")
        shutil.rmtree(t.dir, ignore_errors=True)   # an incomplete one a killed build left
        partial.rename(t.dir)

    built = cached_build(f"vm-template-{t.dir.name}", t.complete, build)
    return t, not built.cached
